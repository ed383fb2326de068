import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.corpus import generate_passages, write_corpus_folder  # noqa: E402


def test_generate_passages_seeded_and_bilingual():
    a = generate_passages(200, seed=3)
    assert a == generate_passages(200, seed=3) and a != generate_passages(200, seed=4)
    assert {p["lang"] for p in a} == {"en", "ru"}
    assert all(set(p) == {"text", "lang", "genre", "date", "source_type"} for p in a)
    assert 40 < sum(len(p["text"].split()) for p in a) / len(a) < 150


@pytest.mark.parametrize("n_docs", [12])
def test_write_corpus_folder_is_ingestible(tmp_path, n_docs):
    from kmdiscourse.ingest import ingest_path

    root = write_corpus_folder(tmp_path / "gen", n_docs, seed=1)
    suffixes = {p.suffix for p in root.rglob("*") if p.is_file()}
    assert {".md", ".txt", ".jsonl", ".csv"} <= suffixes
    corpus = ingest_path(root)
    assert len(corpus.documents) == n_docs
    assert set(corpus.passages["lang"]) <= {"en", "ru"}
