"""Nothing lost, nothing crashes: odd files, links, names, sizes, kills, and the real fixtures."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, shared_or_skip
from kmdiscourse.errors import InputError
from kmdiscourse.ingest import ingest_path
from kmdiscourse.ingest.core import iter_input_files
from kmdiscourse.store import read_documents, read_manifest, read_passages

EN = "Teams that write down what they learned after each project make fewer repeated mistakes."
RU = "Команды, которые записывают уроки после каждого проекта, реже повторяют одни и те же ошибки."
STATUSES = {"ingested", "skipped", "failed"}


def _entries(corpus) -> dict[str, dict]:
    return {f["path"]: f for f in corpus.files}


def _check_totals(manifest: dict, n_found: int | None = None) -> None:
    files, s = manifest["files"], manifest["summary"]
    assert s["files"] == len(files) == s["ingested"] + s["skipped"] + s["failed"]
    if n_found is not None:
        assert s["files"] == n_found
    assert len({f["path"] for f in files}) == len(files)
    for f in files:
        assert f["status"] in STATUSES
        assert (f["reason"] is None) == (f["status"] == "ingested"), f
    assert sum(s["reasons"].values()) == s["skipped"] + s["failed"]


def test_too_large_refused_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "huge.txt"
    with open(big, "wb") as fh:  # a sparse 600 MB file: costs no disk
        fh.truncate(600 * 1024 * 1024)
    (tmp_path / "ok.txt").write_text(EN)
    real = Path.read_bytes

    def guarded(self):
        assert self.name != "huge.txt", "the oversized file was read"
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", guarded)
    e = _entries(ingest_path(tmp_path))
    assert e["huge.txt"]["reason"] == "too_large" and e["huge.txt"]["sha256"] is None
    assert e["ok.txt"]["status"] == "ingested"


def test_symlinks_outside_broken_and_loops(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRET outside the corpus folder, never to be read.")
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text(EN)
    os.symlink(outside / "secret.txt", root / "out.txt")
    os.symlink(root / "missing.txt", root / "broken.txt")
    os.symlink(root / "loop2.txt", root / "loop1.txt")
    os.symlink(root / "loop1.txt", root / "loop2.txt")
    os.symlink(root / "self.txt", root / "self.txt") if False else os.symlink("self.txt", root / "self.txt")
    os.symlink(root, root / "sub" / "up")  # a folder link back up: a walk loop if followed
    os.symlink(outside, root / "outdir")
    os.symlink(root / "a.txt", root / "inside.txt")  # inside the corpus: read
    corpus = ingest_path(root)
    e = _entries(corpus)
    assert e["out.txt"]["reason"] == "outside_corpus"
    assert e["broken.txt"]["reason"] == "broken_symlink"
    assert e["loop1.txt"]["reason"] == e["loop2.txt"]["reason"] == e["self.txt"]["reason"] == "symlink_loop"
    assert e["sub/up"]["reason"] == e["outdir"]["reason"] == "symlink_dir"
    assert e["inside.txt"]["status"] in ("ingested", "skipped")  # same text as a.txt: a duplicate
    assert "SECRET" not in " ".join(corpus.documents.text)
    _check_totals(corpus.manifest, n_found=len(list(iter_input_files(root))))


def test_unreadable_and_vanishing_files_are_io_errors(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text(EN)
    (tmp_path / "locked.txt").write_text(RU)
    (tmp_path / "gone.txt").write_text(RU + " Ещё одна фраза.")
    real = Path.read_bytes

    def read_bytes(self):  # tests run as root, where chmod 000 does not stop reads
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(self))
        if self.name == "gone.txt":
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    corpus = ingest_path(tmp_path)
    e = _entries(corpus)
    assert e["locked.txt"]["reason"] == "io_error" and "Permission denied" in e["locked.txt"]["detail"]
    assert e["gone.txt"]["reason"] == "io_error"
    assert e["a.txt"]["status"] == "ingested"
    _check_totals(corpus.manifest, 3)


def test_fifo_and_directory_named_like_file_do_not_block(tmp_path):
    (tmp_path / "a.txt").write_text(EN)
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would block forever
    (tmp_path / "folder.txt").mkdir()
    (tmp_path / "folder.txt" / "inner.md").write_text(RU)
    corpus = ingest_path(tmp_path)
    e = _entries(corpus)
    assert e["pipe.txt"]["reason"] == "not_a_file"
    assert e["folder.txt/inner.md"]["status"] == "ingested"


def test_odd_file_names(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "name with  spaces.txt").write_text(EN)
    nfd = unicodedata.normalize("NFD", "Ёлка и й.txt")
    (root / nfd).write_text(RU)
    raw_name = os.fsencode(root) + b"/caf\xe9 latin1.txt"  # not valid UTF-8
    with open(raw_name, "wb") as fh:
        fh.write(b"A third file whose name is in Latin-1 bytes, read all the same.")
    (root / "-leading-dash.md").write_text("Leading dashes and #hash in names are plain names too.")
    store = tmp_path / "store"
    corpus = ingest_path(root, store)
    e = _entries(corpus)
    assert e["name with  spaces.txt"]["status"] == "ingested"
    assert e[nfd]["status"] == "ingested"  # the name on disk is kept as it is
    assert e["caf\\xe9 latin1.txt"]["status"] == "ingested"
    manifest = read_manifest(store)  # valid UTF-8 JSON despite the byte name
    assert len(manifest["files"]) == 4
    assert len(read_documents(store)) == 4
    again = ingest_path(root, store)  # names match across runs: everything reused
    assert again.manifest["summary"]["reused_files"] == 4


def test_totals_add_up_on_a_bad_corpus(tmp_path):
    (tmp_path / "good.txt").write_text(EN)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "spaces.md").write_text("   \n\n  ")
    (tmp_path / "nul.txt").write_bytes(b"\x00\x01\x02binary\x00" * 100)
    (tmp_path / "pdf.txt").write_bytes(b"%PDF-1.4 not really")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    (tmp_path / "x.pages").write_bytes(b"whatever")
    (tmp_path / "trunc.mbox").write_bytes(b"From x\nFrom: a\nSubject: s\n\n")
    (tmp_path / "fake.docx").write_bytes(b"PK\x03\x04junk")
    (tmp_path / "fake.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> endobj trailer <<>>")
    (tmp_path / "doc.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
    corpus = ingest_path(tmp_path)
    _check_totals(corpus.manifest, 12)
    e = _entries(corpus)
    assert e["empty.txt"]["reason"] == "empty" and e["nul.txt"]["reason"] == "binary"
    assert e["bad.csv"]["status"] == "failed" and "text" in e["bad.csv"]["detail"]
    assert e["x.pages"]["reason"] == "unsupported_format"


def test_nothing_readable_is_an_error_naming_reasons(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "x.pages").write_bytes(b"whatever")
    with pytest.raises(InputError, match="1 empty.*1 unsupported_format|1 unsupported_format.*1 empty"):
        ingest_path(tmp_path)


# --- SIGKILL during ingest -------------------------------------------------------------------

def _write_corpus(root: Path, start: int, n: int, rnd: random.Random) -> None:
    words = ("knowledge sharing community practice lessons learned coordinator expert network "
             "знания сообщество практика опыт уроки координатор эксперт сеть").split()
    for i in range(start, start + n):
        text = " ".join(rnd.choice(words) for _ in range(40)) + f" document {i}."
        if i % 5 == 0:
            (root / f"f{i:04d}.jsonl").write_text(json.dumps({"id": f"j{i}", "text": text}, ensure_ascii=False) + "\n")
        else:
            (root / f"f{i:04d}.txt").write_text(text + "\n\n" + text[::-1] + "\n")


def _check_store(store: Path) -> int:
    manifest = read_manifest(store)
    docs = read_documents(store)
    passages = read_passages(store)
    assert set(passages.doc_id) <= set(docs.doc_id)
    assert manifest["summary"]["documents"] == len(docs)
    assert manifest["summary"]["passages"] == len(passages)
    _check_totals(manifest)
    return len(docs)


@pytest.mark.slow
def test_sigkill_during_ingest_leaves_previous_store_readable(tmp_path):
    rnd = random.Random(7)
    root, store = tmp_path / "corpus", tmp_path / "store"
    root.mkdir()
    _write_corpus(root, 0, 500, rnd)
    exe = [sys.executable, "-m", "kmdiscourse", "--quiet", "ingest", str(root), "-o", str(store)]
    t0 = time.monotonic()
    subprocess.run(exe, check=True, capture_output=True, timeout=300, cwd=ROOT)
    full = time.monotonic() - t0
    n_before = _check_store(store)
    assert n_before == 500
    added = 500
    for attempt in range(4):
        _write_corpus(root, added, 20, rnd)  # each run has new work, so a torn store would show
        added += 20
        proc = subprocess.Popen(exe, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        time.sleep(rnd.uniform(0.5, max(1.0, full)))  # start-up, reading, or writing the store
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        n = _check_store(store)  # the old store or the new one, never a mix
        assert n in (n_before, added), (attempt, n, n_before, added)
        n_before = n
    # and once exactly while the store is being written: kill when the first temporary file shows
    _write_corpus(root, added, 20, rnd)
    added += 20
    proc = subprocess.Popen(exe, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline and not list(store.glob(".*.tmp")):
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert _check_store(store) in (n_before, added)
    subprocess.run(exe, check=True, capture_output=True, timeout=300, cwd=ROOT)
    assert _check_store(store) == added


# --- every real fixture ------------------------------------------------------------------------

@pytest.mark.slow
def test_all_fixtures_accounted_for(tmp_path, monkeypatch):
    root = shared_or_skip("fixtures")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(root).parts))
    opened: list[str] = []
    real_open = open

    def spy_open(file, *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)):
            opened.append(os.fsdecode(os.path.abspath(os.fspath(file))))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy_open)
    corpus = ingest_path(root, tmp_path / "store")
    monkeypatch.undo()
    manifest = corpus.manifest
    _check_totals(manifest)
    paths = [f["path"] for f in manifest["files"]]
    top = [p for p in paths if "!" not in p]
    assert sorted(top) == sorted(str(p.relative_to(root)) for p in files)  # each file exactly once
    for f in manifest["files"]:
        if "!" in f["path"]:
            assert f["path"].split("!", 1)[0] in top and f.get("archive") == f["path"].split("!", 1)[0]
        if f["status"] != "ingested":
            assert f["reason"], f
    members = [p for p in paths if "!" in p]
    assert any(p.startswith("chaoss-grimoirelab-perceval/groupsio/messages.zip!") for p in members)
    evil = [f for f in manifest["files"] if "evil.txt" in f["path"]]
    assert len(evil) == 4 and {f["reason"] for f in evil} == {"unsafe_member"}
    store_dir = str((tmp_path / "store").resolve())
    site = [sys.prefix, sys.base_prefix, str(ROOT / "src")]
    outside = [p for p in opened if not p.startswith(str(root.resolve())) and not p.startswith(store_dir)
               and not any(p.startswith(s) for s in site) and not p.startswith("/tmp/pytest")]
    # libraries may read their own configuration (tzlocal reads /etc/timezone); no input may
    # lead outside: no zip-slip target, no link target, nothing else under /work/shared
    assert not [p for p in opened if "evil" in Path(p).name], opened
    assert not [p for p in outside if p.startswith(("/etc/passwd", "/etc/hostname", "/proc"))], outside
    assert not [p for p in outside if p.startswith(str(root.parent.resolve()))], outside


@pytest.mark.parametrize("kill_after", ["staged", "commit", "first_rename"])
def test_store_killed_at_each_write_step_is_old_or_new(small_corpus, tmp_path, kill_after):
    """SIGKILL at each step of write_store: readers see the old set or the whole new set."""
    store = tmp_path / "s"
    ingest_path(small_corpus, store)
    n_old = len(read_documents(store))
    (small_corpus / "more.txt").write_text(EN + " " + RU)
    code = (
        "import os, kmdiscourse.store as s\n"
        f"step = {kill_after!r}\n"
        "orig_atomic, orig_replace = s._atomic, os.replace\n"
        "def atomic(path, write):\n"  # every staged part and the marker are written through it
        "    orig_atomic(path, write)\n"
        "    if step == 'staged' and str(path).endswith('.new.manifest.json') or \\\n"
        "            step == 'commit' and str(path).endswith('commit'):\n"
        "        os.kill(os.getpid(), 9)\n"
        "def replace(a, b):\n"
        "    orig_replace(a, b)\n"
        "    if step == 'first_rename' and os.path.basename(b) == 'documents.parquet':\n"
        "        os.kill(os.getpid(), 9)\n"
        "s._atomic = atomic\n"
        "s.os.replace = replace\n"
        "from kmdiscourse.ingest import ingest_path\n"
        f"ingest_path({str(small_corpus)!r}, {str(store)!r})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT)
    assert proc.returncode == -9, proc.stderr.decode()[-500:]
    n = _check_store(store)
    assert n == (n_old if kill_after == "staged" else n_old + 1)
