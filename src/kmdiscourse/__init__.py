"""kmdiscourse: how organisations talk about knowledge management, in English and Russian."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import KmdError  # noqa: E402
from .records import GENRES, LABELS, LANGS, Document, Passage  # noqa: E402


def __getattr__(name):  # lazy: importing the package stays cheap for the CLI
    if name in ("ingest_path", "open_corpus", "Corpus"):
        from . import ingest

        return getattr(ingest, name)
    if name in ("classify", "PassageClassifier", "load_model"):
        import importlib

        mod = importlib.import_module(".classify", __name__)  # callable: kmdiscourse.classify(INPUT)
        return mod if name == "classify" else getattr(mod, name)
    if name == "label_shares":
        from .trends import label_shares

        return label_shares
    raise AttributeError(f"module 'kmdiscourse' has no attribute {name!r}")


__all__ = ["__version__", "KmdError", "LABELS", "LANGS", "GENRES", "Document", "Passage",
           "ingest_path", "open_corpus", "Corpus", "classify", "PassageClassifier", "load_model",
           "label_shares"]
