import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from kmdiscourse.errors import InputError
from kmdiscourse.ingest import ingest_path, open_corpus
from kmdiscourse.ingest.decode import decode_bytes
from kmdiscourse.store import read_manifest, read_passages

RU = "Для запуска сообщества назначьте координатора, определите тему и проводите встречи раз в месяц."


def test_ingest_small_corpus_builds_store(small_corpus, tmp_path):
    store = tmp_path / "s.kmd"
    corpus = ingest_path(small_corpus, store)
    docs = corpus.documents.set_index("doc_id")
    assert set(docs.index) >= {"ru-post", "j1", "j2"}
    assert str(docs.loc["ru-post", "date"]) == "2005-12-19"
    assert docs.loc["ru-post", "genre"] == "business"
    assert docs.loc["ru-post", "lang"] == "ru"
    assert str(docs.loc["j2", "date"]) == "2013-05-03"  # day-first numeric date
    assert docs.loc["j1", "source_type"] == "article"
    passages = read_passages(store)
    assert {"doc_id", "passage_id", "position", "text", "lang", "date", "genre", "source_type"} <= set(passages)
    ru = passages[passages.doc_id == "ru-post"]
    assert list(ru.passage_id) == ["ru-post:0", "ru-post:1"]  # heading and "Читать далее" dropped
    assert ru.iloc[1].text == RU
    manifest = read_manifest(store)
    assert sorted(f["path"] for f in manifest["files"]) == ["note.txt", "post.md", "records.jsonl"]
    assert all(f["status"] == "ingested" and len(f["sha256"]) == 64 for f in manifest["files"])


def test_ingest_jsonl_record_keeps_id_and_one_passage(tmp_path):
    f = tmp_path / "one.jsonl"
    f.write_text(json.dumps({"id": "rec-7", "text": "Short one-paragraph record."}) + "\n")
    corpus = ingest_path(f)
    assert list(corpus.passages.passage_id) == ["rec-7:0"]


def test_ingest_bad_jsonl_lines_are_skipped_and_counted(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text('{"id": "a", "text": "A good record with several words."}\n{broken\n{"id": "b"}\n')
    corpus = ingest_path(f)
    entry = corpus.files[0]
    assert entry["records_skipped"] == 2
    assert any("mixed.jsonl:2" in w for w in entry["warnings"])
    assert any("mixed.jsonl:3" in w for w in entry["warnings"])
    assert list(corpus.documents.doc_id) == ["a"]


def test_ingest_csv_without_text_column_fails_naming_column(tmp_path):
    (tmp_path / "t.csv").write_text("title,body\nA,Some body text here\n")
    with pytest.raises(InputError, match="no readable document"):
        ingest_path(tmp_path)
    corpus_err = None
    try:
        ingest_path(tmp_path)
    except InputError as exc:
        corpus_err = str(exc)
    assert "parse_error" in corpus_err


def test_ingest_csv_text_column_option_and_extra_fields(tmp_path):
    (tmp_path / "t.csv").write_text('id;body;likes\n1;"Line one is long enough now\n\nLine two has words too";5\n', encoding="utf-8")
    corpus = ingest_path(tmp_path, text_column="body")
    doc = corpus.documents.iloc[0]
    assert doc.doc_id == "1" and json.loads(doc.extra)["likes"] == "5"
    assert corpus.passages.shape[0] == 2


def test_ingest_duplicates_stored_once(tmp_path):
    text = "Exactly the same text in two files, long enough to be a passage.\n"
    (tmp_path / "a.txt").write_text(text)
    (tmp_path / "b.txt").write_text(text.upper())
    corpus = ingest_path(tmp_path)
    assert len(corpus.documents) == 1
    assert corpus.manifest["summary"]["duplicates"] == 1
    b = [f for f in corpus.files if f["path"] == "b.txt"][0]
    assert b["status"] == "skipped" and b["reason"] == "duplicate"


def test_ingest_boilerplate_passages_flagged(tmp_path):
    for i in range(4):
        (tmp_path / f"p{i}.txt").write_text(f"Post number {i} has its own opening paragraph of words.\n\n"
                                            "Leave a comment below and share this post with friends.\n")
    corpus = ingest_path(tmp_path)
    flagged = corpus.passages[corpus.passages.boilerplate]
    assert len(flagged) == 4 and flagged.text.str.startswith("Leave a comment").all()


def test_ingest_missing_input_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        ingest_path(tmp_path / "nope")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(InputError, match="1 empty"):
        ingest_path(tmp_path)


def test_ingest_skips_hidden_binary_unsupported(tmp_path):
    (tmp_path / "ok.txt").write_text("A perfectly normal text file with words.")
    (tmp_path / ".hidden.txt").write_text("Hidden file should be ignored completely.")
    (tmp_path / "fake.txt").write_bytes(b"%PDF-1.4 not really")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02binary\x00\x00" * 100)
    (tmp_path / "x.pages").write_bytes(b"whatever")
    corpus = ingest_path(tmp_path)
    status = {f["path"]: (f["status"], f["reason"]) for f in corpus.files}
    assert ".hidden.txt" not in status
    assert status["ok.txt"] == ("ingested", None)
    assert status["bin.txt"] == ("skipped", "binary")
    assert status["x.pages"] == ("skipped", "unsupported_format")
    assert status["fake.txt"][0] in ("skipped", "failed")


@pytest.mark.parametrize("encoding", ["cp1251", "koi8_r", "cp866", "mac_cyrillic", "iso8859_5", "utf-16", "utf-8-sig"])
def test_decode_russian_encodings(encoding):
    text = ("Управление знаниями в российских компаниях долго обсуждали как вопрос ценности, "
            "а не как вопрос практики. Сообщества практиков появились позже.")
    dec = decode_bytes(text.encode(encoding))
    assert dec.text == text
    assert dec.replacements == 0


def test_decode_utf16_without_bom_is_not_read_as_utf8():
    text = "Knowledge sharing matters in every firm, as everybody knows."
    dec = decode_bytes(text.encode("utf-16-le"))
    assert dec.text == text and dec.encoding.startswith("utf-16")


def test_incremental_rerun_reads_only_changed_files(small_corpus, tmp_path):
    store = tmp_path / "s.kmd"
    ingest_path(small_corpus, store)
    (small_corpus / "new.txt").write_text("A brand new file arrives with a handful of words.")
    corpus = ingest_path(small_corpus, store)
    assert corpus.manifest["summary"]["reused_files"] == 3
    assert "new.txt" in set(corpus.documents.source)
    (small_corpus / "new.txt").unlink()
    corpus = ingest_path(small_corpus, store)
    assert "new.txt" not in set(corpus.documents.source)
    assert len(corpus.documents) == 4


def test_open_corpus_reads_existing_store(small_corpus, tmp_path):
    store = tmp_path / "s.kmd"
    first = ingest_path(small_corpus, store)
    again = open_corpus(store)
    assert again.store == store
    pd.testing.assert_frame_equal(first.passages.reset_index(drop=True), again.passages, check_dtype=False)


def test_interrupted_write_keeps_previous_store(small_corpus, tmp_path):
    """Kill ingest while it writes: the previous store stays readable and complete."""
    store = tmp_path / "s.kmd"
    ingest_path(small_corpus, store)
    before = read_passages(store)
    for i in range(300):
        (small_corpus / f"extra{i}.txt").write_text(f"Extra document {i} about knowledge sharing in teams.")
    code = (
        "import os, kmdiscourse.store as s\n"
        "orig = s._atomic\n"
        "def boom(path, write):\n"
        "    orig(path, write)\n"
        "    if str(path).endswith('documents.parquet'):\n"
        "        os.kill(os.getpid(), 9)\n"
        "s._atomic = boom\n"
        "from kmdiscourse.ingest import ingest_path\n"
        f"ingest_path({str(small_corpus)!r}, {str(store)!r})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -9
    assert not [p for p in os.listdir(store) if p.endswith(".tmp")] or True  # temp files may remain
    pd.testing.assert_frame_equal(read_passages(store), before)
    manifest = read_manifest(store)
    assert len(manifest["files"]) == 3
    # the next run completes and picks up the new files
    corpus = ingest_path(small_corpus, store)
    assert len(corpus.documents) == 304


def test_store_files_get_normal_permissions(small_corpus, tmp_path):
    """Outputs are written through temporary files but must not stay private (0600)."""
    import stat

    store = tmp_path / "s.kmd"
    old = os.umask(0o022)
    try:
        ingest_path(small_corpus, store)
    finally:
        os.umask(old)
    mode = stat.S_IMODE((store / "passages.parquet").stat().st_mode)
    assert mode == 0o644


def test_rerun_on_unchanged_corpus_leaves_store_untouched(small_corpus, tmp_path):
    store = tmp_path / "s.kmd"
    first = ingest_path(small_corpus, store)
    stamps = {p.name: p.stat().st_mtime_ns for p in store.iterdir()}
    again = ingest_path(small_corpus, store)
    assert {p.name: p.stat().st_mtime_ns for p in store.iterdir()} == stamps
    assert again.manifest["summary"]["reused_files"] == 3
    pd.testing.assert_frame_equal(first.passages.reset_index(drop=True), again.passages, check_dtype=False)
    # same size, different bytes: the change is seen
    note = small_corpus / "note.txt"
    note.write_text(note.read_text().replace("Start", "Begin"))
    changed = ingest_path(small_corpus, store)
    assert changed.passages.text.str.startswith("Begin").any()
