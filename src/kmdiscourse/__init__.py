"""kmdiscourse: how organisations talk about knowledge management, in English and Russian."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import KmdError  # noqa: E402
from .records import GENRES, LABELS, LANGS, Document, Passage  # noqa: E402


def __getattr__(name):  # lazy: importing the package stays cheap for the CLI
    if name in ("ingest_path", "open_corpus", "Corpus"):
        from . import ingest

        return getattr(ingest, name)
    raise AttributeError(f"module 'kmdiscourse' has no attribute {name!r}")


__all__ = ["__version__", "KmdError", "LABELS", "LANGS", "GENRES", "Document", "Passage",
           "ingest_path", "open_corpus", "Corpus"]
