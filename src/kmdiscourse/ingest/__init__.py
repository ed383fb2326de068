"""Ingest a folder or file into documents and passages, with a manifest entry for every file.

The entry point is :func:`ingest_path`; :func:`open_corpus` is what every other command uses
to get passages from a folder, a file or an existing store.
"""
from __future__ import annotations

from .core import Corpus, ingest_path, open_corpus
from .registry import READERS, detect_format

__all__ = ["Corpus", "ingest_path", "open_corpus", "READERS", "detect_format"]
