"""Ingest streams its tables to the store in row groups and keeps only hashes in memory: the
tables must be the ones a single DataFrame.to_parquet gave, whatever the chunk size."""
from __future__ import annotations

import json
import os
import random

import numpy as np
import pandas as pd
import pytest

from kmdiscourse import language
from kmdiscourse.errors import InputError
from kmdiscourse.ingest import core, ingest_path
from kmdiscourse.store import read_documents, read_passages

SHARED = "Подпишитесь на рассылку, чтобы получать новые статьи о работе со знаниями."
EN = ("Our engineers write down what they learned after each project, so the next team "
      "starts from the notes instead of from nothing.")
RU = "Наставник передаёт новичку опыт: как искать решения в базе знаний и кого спросить о старых системах."


def _corpus(folder, n=12):
    rng = random.Random(4)
    folder.mkdir()
    rows = []
    for i in range(n):
        body = [EN if i % 2 else RU, f"{'Item' if i % 2 else 'Пункт'} {i}: " + " ".join(
            rng.choice(EN.split()) for _ in range(12))]
        if i % 3 == 0:
            body.append(SHARED)  # boilerplate: the same paragraph in 4 of the documents
        if i % 4 == 0:
            (folder / f"doc{i}.md").write_text(
                f"---\ntitle: Doc {i}\ndate: 2015-0{1 + i % 9}-1{i % 9}\n---\n\n" + "\n\n".join(body), encoding="utf-8")
        else:
            rows.append({"id": f"r{i}", "text": "\n\n".join(body), "author": "A. Writer" if i == 5 else None})
    rows.append(dict(rows[0]))  # a duplicate document
    rows.append({**rows[1], "text": rows[1]["text"] + " Extra words here."})  # same id, other text
    (folder / "rows.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                       encoding="utf-8")
    return folder




@pytest.mark.parametrize("chunks", [(1, 1), (2, 3)])
def test_row_groups_give_the_same_tables(tmp_path, monkeypatch, chunks):
    folder = _corpus(tmp_path / "c")
    big = ingest_path(folder, tmp_path / "big.kmd")
    monkeypatch.setattr(core, "CHUNK_DOCUMENTS", chunks[0])
    monkeypatch.setattr(core, "CHUNK_PASSAGES", chunks[1])
    small = ingest_path(folder, tmp_path / "small.kmd")
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "small.kmd" / "passages.parquet").num_row_groups > 1
    pd.testing.assert_frame_equal(read_documents(tmp_path / "big.kmd"), read_documents(tmp_path / "small.kmd"))
    pd.testing.assert_frame_equal(read_passages(tmp_path / "big.kmd"), read_passages(tmp_path / "small.kmd"))
    assert big.manifest["summary"] == small.manifest["summary"]
    assert not [p for p in os.listdir(tmp_path / "small.kmd") if p.startswith(".")]  # no spool left


def test_streamed_tables_match_dataframe_to_parquet(tmp_path, monkeypatch):
    """Column types as pandas would have written them: a column that never holds a value is
    null-typed (read back as None, not NaN); dates, ints and flags keep their types."""
    monkeypatch.setattr(core, "CHUNK_PASSAGES", 2)
    folder = _corpus(tmp_path / "c")
    corpus = ingest_path(folder, tmp_path / "s.kmd")
    docs, pas = corpus.documents, corpus.passages
    for df, name in ((docs, "d.parquet"), (pas, "p.parquet")):
        df.to_parquet(tmp_path / name, index=False)
        again = pd.read_parquet(tmp_path / name)
        pd.testing.assert_frame_equal(df, again)
    assert docs["parent_id"].isna().all() and docs["parent_id"].dtype == object
    assert docs["author"].notna().sum() == 1
    assert pas["position"].dtype == np.int64 and pas["boilerplate"].dtype == bool
    assert len(docs) == 13 and docs["doc_id"].is_unique  # the duplicate dropped, the repeated id renamed
    assert corpus.manifest["summary"]["duplicates"] == 1


def test_boilerplate_counts_distinct_documents(tmp_path):
    folder = _corpus(tmp_path / "c")
    pas = ingest_path(folder, tmp_path / "s.kmd").passages
    expected = pas.groupby(pas["text"].str.lower())["doc_id"].transform("nunique") >= core.BOILERPLATE_MIN_DOCS
    assert pas["boilerplate"].tolist() == expected.tolist()
    assert set(pas.loc[pas.boilerplate, "text"]) == {SHARED, EN, RU}  # each in >= 3 documents
    assert not pas.loc[pas.text.str.match(r"(Item|Пункт) \d+:"), "boilerplate"].any()  # per-document lines


def test_boilerplate_flags_against_pandas():
    rng = np.random.default_rng(0)
    keys = rng.integers(-5, 5, 400).astype(np.int64)
    docs = np.sort(rng.integers(0, 60, 400)).astype(np.int64)
    flags = core._boilerplate_flags(keys.tobytes(), docs.tobytes())
    df = pd.DataFrame({"k": keys, "d": docs})
    expected = df.groupby("k")["d"].transform("nunique") >= core.BOILERPLATE_MIN_DOCS
    assert flags.tolist() == expected.tolist()
    assert core._boilerplate_flags(b"", b"").tolist() == []


def test_no_document_leaves_no_store_and_no_spool(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "blank.txt").write_text("   \n")
    with pytest.raises(InputError):
        ingest_path(folder, tmp_path / "s.kmd")
    assert not (tmp_path / "s.kmd").exists()


def test_ingest_without_store_returns_tables(tmp_path):
    folder = _corpus(tmp_path / "c")
    stored = ingest_path(folder, tmp_path / "s.kmd")
    bare = ingest_path(folder)
    pd.testing.assert_frame_equal(bare.passages, stored.passages)
    pd.testing.assert_frame_equal(bare.documents, stored.documents)
    assert bare.store is None


def test_script_counts_equal_regex_counts():
    rng = random.Random(5)
    pool = [chr(c) for c in range(0x20, 0x800)] + list("абвЁёіїєґўђјљњћџ abc XYZ") + ["😀", "中", "\ud800"]
    for _ in range(3000):
        s = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        expected = (len(language._CYR.findall(s)), len(language._LAT.findall(s)), len(language._NOT_RU.findall(s)))
        assert language.script_counts(s) == expected, repr(s)


def test_first_seen_counts_equal_unique():
    rng = np.random.default_rng(1)
    for n in (1, 2, 50, 700):
        feats = rng.integers(0, 300, n).astype(np.intp)
        uniq, first, counts = np.unique(feats, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        got_u, got_c = language._first_seen_counts(feats, 300)
        assert got_u.tolist() == uniq[order].tolist()
        assert got_c.tolist() == counts[order].tolist()
