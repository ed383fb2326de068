import pytest
from click.testing import CliRunner

from kmdiscourse.cli import cli, main


def run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_cli_ingest_then_info(small_corpus, tmp_path):
    store = tmp_path / "s.kmd"
    res = CliRunner().invoke(cli, ["ingest", str(small_corpus), "-o", str(store)])
    assert res.exit_code == 0, res.output
    assert (store / "passages.parquet").exists()
    res = CliRunner().invoke(cli, ["info", str(store)])
    assert res.exit_code == 0
    assert "documents 4" in res.stdout
    assert "ru" in res.stdout and "business" in res.stdout


def test_cli_missing_input_is_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["info", str(tmp_path / "missing")])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and "missing" in err[0]


def test_cli_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ingest"])
    assert exc.value.code == 2


@pytest.mark.parametrize("command", ["ingest", "info"])
def test_cli_help_has_example(command):
    res = run([command, "--help"])
    assert res.exit_code == 0 and "Example: kmdiscourse " + command in res.output


def test_export_table_neutralises_formulas_in_every_text_dtype(tmp_path):
    """pandas 3 reads text as the "str" dtype, not object: its cells are neutralised too."""
    import pandas as pd

    from kmdiscourse.store import export_table

    df = pd.DataFrame({
        "text": pd.Series(["=HYPERLINK(\"x\")", "plain", None], dtype="str"),
        "title": pd.Series(["@cmd", "-3.5", "+value -steps"], dtype="string"),
        "obj": pd.Series([1, "=1+1", None], dtype=object),
        "n": [1, 2, 3],
    })
    out = tmp_path / "t.csv"
    export_table(df, out)
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert back["text"].tolist() == ["'=HYPERLINK(\"x\")", "plain", ""]
    assert back["title"].tolist() == ["'@cmd", "-3.5", "+value -steps"]
    assert back["obj"].tolist() == ["1", "'=1+1", ""]
    assert df["text"].iloc[0].startswith("=")  # the caller's table is not changed
