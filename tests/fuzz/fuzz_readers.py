"""Fuzz every ingest reader with mutated real inputs (``make fuzz``; not part of ``make test``).

Allowed outcomes for an input: records, ``SkipFile``, ``KmdError``. Anything else escaping a
reader, the archive code, ``make_document`` or the passage splitter is a crash; so is any
exception at all from ``read_file`` (which must turn every problem into a manifest entry).
Crashes are counted by kind, the first input of each kind is saved as ``crash-*`` in the
working folder, and fuzzing goes on; hangs (60 s) and memory blow-ups (4 GB) stop libFuzzer.

Uses atheris (coverage-guided, libFuzzer) when it is installed, else a hypothesis-driven
mutation loop. Seeds: ``corpora/sample`` plus small handwritten inputs of every format.

    FUZZ_SECONDS=600 python tests/fuzz/fuzz_readers.py          # default 600 s
    python tests/fuzz/fuzz_readers.py --engine hypothesis
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STATS = {"inputs": 0, "records": 0, "skips": 0, "kmd_errors": 0, "archives": 0, "crashes": 0}

# the file name each input is read under: its first byte picks one
NAMES = ["f.txt", "f.md", "f.jsonl", "f.json", "f.csv", "f.tsv", "f.mbox", "f.pdf", "f.docx", "f.zip",
         "f.tar", "f.tar.gz", "f.html.gz", "f.html", "f.xml", "f.rss", "f.atom", "f.doc", "f.eml", "f"]


def _imports(with_language: bool = False):
    global READERS, SkipFile, SourceFile, KmdError, detect_format, make_document, read_file
    global split_document, archive_kind, read_archive
    import kmdiscourse.ingest.core as core

    if not with_language:  # language ID is not a reader and costs half the time: stub it
        core.detect_language = lambda text, *a, **k: "en"
    from kmdiscourse.errors import KmdError
    from kmdiscourse.ingest.archive import archive_kind, read_archive
    from kmdiscourse.ingest.base import SkipFile, SourceFile
    from kmdiscourse.ingest.core import make_document, read_file
    from kmdiscourse.ingest.registry import READERS, detect_format
    from kmdiscourse.passages import split_document


CRASHES: dict[str, int] = {}  # signature -> count


def _record_crash(stage: str, fmt, data: bytes, exc: BaseException) -> None:
    """Count a crash by where it happened, save the first input of each kind, and go on."""
    import hashlib
    import traceback

    STATS["crashes"] += 1
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "kmdiscourse" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    sig = f"{stage}:{fmt}:{exc.__class__.__name__}@{where}"
    CRASHES[sig] = CRASHES.get(sig, 0) + 1
    if CRASHES[sig] == 1:
        name = f"crash-{stage}-{fmt}-{hashlib.sha1(data).hexdigest()[:12]}"
        Path(name).write_bytes(data)
        print(f"\nCRASH {sig}: {exc.__class__.__name__}: {str(exc)[:200]} (input saved as {name})",
              file=sys.stderr)
        traceback.print_exception(exc, limit=-6, file=sys.stderr)


def one_input(data: bytes) -> None:
    """Run one fuzz input through the reader its name and bytes select, then through read_file."""
    if not data:
        return
    STATS["inputs"] += 1
    name = NAMES[data[0] % len(NAMES)]
    raw = data[1:]
    fmt = detect_format(name, raw[:8192])
    reader = READERS.get(fmt or "")
    if reader is not None:
        src = SourceFile(path=name, raw=raw, defaults={})
        kwargs = {"text_column": "text"} if fmt in ("csv", "tsv", "jsonl", "json") else {}
        recs = []
        try:
            recs = list(reader(src, **kwargs))
        except SkipFile:
            STATS["skips"] += 1
        except KmdError:
            STATS["kmd_errors"] += 1
        except Exception as exc:  # noqa: BLE001 - anything else is what we are looking for
            _record_crash("reader", fmt, data, exc)
        try:
            for rec in recs:
                doc = make_document(rec, src, {})
                if doc is not None:
                    STATS["records"] += 1
                    for _ in split_document(doc):
                        pass
        except Exception as exc:  # noqa: BLE001
            _record_crash("document", fmt, data, exc)
    kind = archive_kind(name, raw[:8192])
    if kind:
        STATS["archives"] += 1
        try:
            read_archive(name, raw, kind, {"path": name, "sha256": None, "size": len(raw), "status": "skipped",
                                           "reason": None, "detail": None}, {}, max_bytes=4 * 1024 * 1024,
                         max_total_bytes=16 * 1024 * 1024)
        except Exception as exc:  # noqa: BLE001
            _record_crash("archive", kind, data, exc)
    try:
        res = read_file(name, None, {}, raw=raw, max_bytes=4 * 1024 * 1024)
        assert res.entry["status"] in ("ingested", "skipped", "failed"), res.entry
    except Exception as exc:  # noqa: BLE001 - read_file must never raise
        _record_crash("read_file", fmt, data, exc)


def stats() -> dict:
    return {**STATS, "unique_crashes": len(CRASHES), "crash_kinds": CRASHES}


# --- seeds ------------------------------------------------------------------------------------------

def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for n, d in members.items():
            info = tarfile.TarInfo(n)
            info.size = len(d)
            tf.addfile(info, io.BytesIO(d))
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
    return buf.getvalue()


def seeds() -> list[bytes]:
    """Seed inputs: the sample corpus and small handwritten inputs, each behind its name byte."""
    sys.path.insert(0, str(ROOT / "tests"))
    out: list[tuple[str, bytes]] = []
    sample = ROOT / "corpora" / "sample"
    for p in sorted(sample.rglob("*")):
        if p.is_file() and p.stat().st_size < 200_000:
            out.append((p.name, p.read_bytes()))
    from test_ingest_formats import EN, MBOX, RU, make_docx, make_pdf

    out += [
        ("f.mbox", MBOX),
        ("f.pdf", make_pdf([[EN[:60], EN[60:]], ["2"]], {"Title": "Microsoft Word - x.doc"})),
        ("f.docx", make_docx([EN, RU], table=[["a", "b"], ["c", "d"]], title="T")),
        ("f.zip", _zip({"a.txt": EN.encode(), "../evil.txt": b"x", "b.mbox": MBOX, "n.zip": _zip({"x": b"y"})})),
        ("f.tar", _tar({"a.txt": RU.encode("cp1251"), "b.md": b"---\ntitle: x\n---\nbody text"})),
        ("f.tar.gz", _tar({"a.csv": b"text,date\nhello world,2005-12-19\n"}, "w:gz")),
        ("f.html.gz", __import__("gzip").compress(f"<html><body><p>{EN}</p></body></html>".encode())),
        ("f.csv", "text;date\nЗнание;19 декабря 2005\n\"multi\nline\";x\n".encode("cp1251")),
        ("f.jsonl", b'{"text": "a b c", "date": 1234}\n{bad\n[1,2]\n'),
        ("f.json", b'{"posts": [{"text": "x y z"}, 5, {"title": "no text"}]}'),
        ("f.txt", "\ufeffЗнание — сила.\r\n\r\nВторой абзац.".encode("utf-8")),
        ("f.txt", "Знание сила".encode("utf-16-le")),
    ]
    fixtures = ROOT.parent / "shared" / "fixtures"
    if fixtures.is_dir():  # real files when present: the small ones
        for p in sorted(fixtures.rglob("*")):
            if p.is_file() and p.stat().st_size < 24_000:
                out.append((p.name, p.read_bytes()))
    result = []
    for name, raw in out:
        lower = name.lower()
        idx = next((i for i, n in enumerate(NAMES) if n != "f" and lower.endswith(n[1:])), len(NAMES) - 1)
        result.append(bytes([idx]) + raw)
    return result


# --- engines --------------------------------------------------------------------------------------

def run_atheris(seconds: int, seed_inputs: list[bytes], extra_args: list[str]) -> int:
    import atheris

    corpus = Path(tempfile.mkdtemp(prefix="kmd-fuzz-"))
    for i, s in enumerate(seed_inputs):
        (corpus / f"seed{i:04d}").write_bytes(s)
    stats_file = Path(os.environ.get("FUZZ_STATS", corpus / "stats.json"))

    def test_one(data: bytes) -> None:
        one_input(data)
        if STATS["inputs"] % 100 == 0:
            stats_file.write_text(json.dumps(stats()))

    args = [sys.argv[0], str(corpus), f"-max_total_time={seconds}", "-timeout=60", "-rss_limit_mb=4096",
            "-max_len=300000", "-print_final_stats=1", *extra_args]
    print(f"fuzz: atheris, {len(seed_inputs)} seeds in {corpus}, {seconds} s; stats in {stats_file}",
          file=sys.stderr)
    atheris.Setup(args, test_one)
    atheris.Fuzz()
    return 0


def mutate(rnd: random.Random, data: bytes, others: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        op = rnd.randrange(7)
        if op == 0 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op == 1 and len(b) > 2:
            del b[rnd.randrange(1, len(b)):]  # truncate
        elif op == 2:
            pos = rnd.randrange(1, len(b) + 1) if len(b) > 1 else 1
            b[pos:pos] = rnd.choice([b"\x00", b"\xff\xfe", b"<", b"]]>", b"&#0;", b"\r", b"\n\n", b"From x\n",
                                     b"../", b"\\", "й".encode("koi8-r"), b"%%EOF", b"PK\x03\x04"])
        elif op == 3 and len(b) > 4:
            i, j = sorted(rnd.sample(range(1, len(b)), 2))
            b[i:j] = b[i:j] * rnd.randint(2, 50)  # repeat a chunk
        elif op == 4 and others:
            o = rnd.choice(others)
            i = rnd.randrange(1, len(b)) if len(b) > 1 else 1
            b[i:] = o[rnd.randrange(1, max(2, len(o))):]  # splice with another seed
        elif op == 5 and len(b) > 4:
            i, j = sorted(rnd.sample(range(1, len(b)), 2))
            del b[i:j]
        elif op == 6 and b:
            b[0] = rnd.randrange(256)  # read under another name
    return bytes(b)


def run_hypothesis(seconds: int, seed_inputs: list[bytes]) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    deadline = time.monotonic() + seconds

    @settings(max_examples=2000, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(seed_inputs), st.randoms(use_true_random=True), st.binary(max_size=64))
    def check(seed, rnd, noise):
        if time.monotonic() > deadline:
            return
        data = mutate(rnd, seed, seed_inputs)
        one_input(data[:1] + noise + data[1:] if rnd.random() < 0.1 else data)

    while time.monotonic() < deadline:
        check()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "600")))
    ap.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto")
    ap.add_argument("--with-language", action="store_true", help="run real language detection too (slower)")
    args, rest = ap.parse_known_args()
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    if engine == "atheris":
        import atheris

        with atheris.instrument_imports(include=["kmdiscourse"]):  # before anything imports it
            _imports(args.with_language)
    else:
        _imports(args.with_language)
    seed_inputs = seeds()
    t0 = time.monotonic()
    try:
        if engine == "atheris":
            return run_atheris(args.seconds, seed_inputs, rest)
        return run_hypothesis(args.seconds, seed_inputs)
    finally:
        if engine == "hypothesis":
            print(f"fuzz: hypothesis, {time.monotonic() - t0:.0f} s, {json.dumps(stats())}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
