"""The corpus summary: the same figures whether the tables are in memory or read from a store."""
from __future__ import annotations

from pathlib import Path

from kmdiscourse.ingest import ingest_path, open_corpus
from kmdiscourse.ingest.core import Corpus
from kmdiscourse.summary import format_summary, summarize_corpus

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "sample"


def test_summary_from_store_equals_summary_in_memory(tmp_path):
    ingest_path(SAMPLE, tmp_path / "s.kmd")
    stored = open_corpus(tmp_path / "s.kmd")
    in_memory = Corpus(stored.documents.copy(), stored.passages.copy(), stored.manifest)
    a = summarize_corpus(open_corpus(tmp_path / "s.kmd"))  # columns and token counts read in batches
    b = summarize_corpus(in_memory)
    assert format_summary(a) == format_summary(b)
    # the totals are the real counts of the stored tables
    assert a["passages"] == len(stored.passages) and a["documents"] == len(stored.documents)
    assert a["tokens"] == sum(len(t.split()) for t in stored.passages["text"]) > 0
    assert a["by_group"]["passages"].sum() == a["passages"]
