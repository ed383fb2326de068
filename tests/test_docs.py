"""Every command has help with an example and a section in the README (the user's manual)."""
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmdiscourse.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.commands)


def test_docs_every_command_is_listed():
    assert {"ingest", "info", "preprocess", "classify", "train", "evaluate", "annotate", "agreement",
            "topics", "concepts", "kwic", "keyness", "report"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_docs_command_help_has_example(command):
    res = CliRunner().invoke(cli, [command, "--help"])
    assert res.exit_code == 0
    assert "Example: kmdiscourse " in res.output or "Examples:" in res.output


@pytest.mark.parametrize("command", COMMANDS)
def test_docs_command_in_readme(command):
    assert f"kmdiscourse {command} " in README


def test_docs_readme_quick_start_first():
    first_section = README.split("\n## ", 2)[1]
    assert first_section.startswith("Quick start") and "make demo" in first_section and "make test" in first_section
