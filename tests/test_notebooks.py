"""The notebooks run top to bottom on the sample corpus (nbclient), and are stored without outputs."""
from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_quickstart", "02_why_vs_how", "03_topics_and_concepts"]
NEEDS_MODEL = {"01_quickstart", "02_why_vs_how"}


def _default_model_or_skip():
    from kmdiscourse.classify import load_model
    from kmdiscourse.errors import ModelError

    try:
        load_model()
    except ModelError as exc:  # the default model is built by 'make model' (classifier issue)
        pytest.skip(f"no default classifier model yet: {exc}")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stripped_and_has_parameters(name):
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", []) and "CORPUS" in code[0].source
    # only the public API: no private names of kmdiscourse
    assert "kmdiscourse._" not in "".join(c.source for c in code)
    assert not any("import _" in c.source for c in code)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name):
    if name in NEEDS_MODEL:
        _default_model_or_skip()
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    figures = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "image/png" in o.get("data", {})]
    assert figures, "the notebook drew no figure"
