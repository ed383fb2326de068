"""Walk the input, read each file with its reader, and build documents, passages and a manifest."""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import errno
import hashlib
import io
import logging
import os
import re
import stat as stat_mod
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..dates import is_suspect, parse_date
from ..errors import InputError, KmdError
from ..language import detect_language
from ..passages import split_document
from ..records import ALL_LANGS, GENRES, SOURCE_TYPES, Document
from .. import store as store_mod
from .base import RawRecord, SkipFile, SourceFile
from .registry import READERS, detect_format
from .spool import Spool

log = logging.getLogger("kmdiscourse")

MAX_FILE_BYTES = 200 * 1024 * 1024
SIDECAR = "metadata.csv"
BOILERPLATE_MIN_DOCS = 3
_WS = re.compile(r"\s+")


class Corpus:
    """Documents and passages as DataFrames, the manifest, and the store they live in (if any).

    A part left as None is read from ``store`` when first used (or from ``tables``, a
    temporary store removed with the Corpus), so that ingesting into a store need not hold
    the corpus in memory.
    """

    def __init__(self, documents: pd.DataFrame | None, passages: pd.DataFrame | None,
                 manifest: dict[str, Any] | None, store: Path | None = None, root: Path | None = None,
                 *, tables: Path | None = None):
        self._documents = documents
        self._passages = passages
        self._manifest = manifest
        self.store = store
        self.root = root
        self._tables = tables if tables is not None else store
        if tables is not None:
            import shutil
            import weakref

            weakref.finalize(self, shutil.rmtree, str(tables), True)

    @property
    def documents(self) -> pd.DataFrame:
        if self._documents is None:
            self._documents = store_mod.read_documents(self._tables)
        return self._documents

    @documents.setter
    def documents(self, value: pd.DataFrame) -> None:
        self._documents = value

    @property
    def passages(self) -> pd.DataFrame:
        if self._passages is None:
            self._passages = store_mod.read_passages(self._tables)
        return self._passages

    @passages.setter
    def passages(self, value: pd.DataFrame) -> None:
        self._passages = value

    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            self._manifest = store_mod.read_manifest(self._tables)
        return self._manifest

    @manifest.setter
    def manifest(self, value: dict[str, Any]) -> None:
        self._manifest = value

    @property
    def files(self) -> list[dict[str, Any]]:
        return self.manifest.get("files", [])

    def __repr__(self) -> str:
        s = self.manifest.get("summary", {})
        return (f"Corpus(documents={s.get('documents', '?')}, passages={s.get('passages', '?')}, "
                f"store={str(self.store) if self.store else None!r})")


@dataclass
class FileResult:
    entry: dict[str, Any]
    documents: list[Document] = field(default_factory=list)
    members: list[FileResult] = field(default_factory=list)  # an archive's members, each with its entry
    #: per document, computed where the file was read (in a worker): (dedup key, [(passage text,
    #: passage lang)], fragments dropped); None for results reused from a store
    splits: list[tuple[str, list[tuple[str, str]], int]] | None = None


# --- walking ---------------------------------------------------------------------------------

def iter_input_files(root: Path, *, exclude: Path | None = None) -> Iterator[tuple[str, Path | None, str | None]]:
    """Yield ``(relative path, absolute path or None, skip reason or None)`` for every file.

    Hidden files and folders and ``exclude`` (the store) are passed over silently. Symbolic
    links are never followed out of the corpus: a link to a file inside it is read, a link
    pointing outside it or a linked folder is reported, so loops cannot happen.
    """
    root = root.resolve()
    if root.is_file():
        yield root.name, root, None
        return
    excl = exclude.resolve() if exclude else None
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            p = here / d
            if d.startswith(".") or (excl and p.resolve() == excl) or (p / store_mod.MANIFEST).is_file():
                continue
            if p.is_symlink():
                yield _rel(p, root), None, "symlink_dir"
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = here / name
            rel = _rel(p, root)
            if here == root and name == SIDECAR:
                continue
            if p.is_symlink():
                try:
                    target = p.resolve(strict=True)
                except RuntimeError:  # "Symlink loop" (Python 3.11)
                    yield rel, None, "symlink_loop"
                    continue
                except OSError as exc:
                    yield rel, None, "symlink_loop" if exc.errno == errno.ELOOP else "broken_symlink"
                    continue
                if root not in target.parents:
                    yield rel, None, "outside_corpus"
                    continue
            yield rel, p, None


def _rel(p: Path, root: Path) -> str:
    rel = os.fsdecode(p.relative_to(root)).replace(os.sep, "/")
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:  # a name that is not UTF-8: bytes shown as \xNN, file still read
        rel = os.fsencode(rel).decode("utf-8", "backslashreplace")
    return rel


# --- reading one file ------------------------------------------------------------------------

def _entry(rel: str, **kw) -> dict[str, Any]:
    base = {"path": rel, "sha256": None, "size": None, "format": None, "status": "skipped",
            "reason": None, "detail": None, "encoding": None, "encoding_source": None,
            "replacements": 0, "documents": 0, "duplicates": 0, "records_skipped": 0,
            "dates_suspect": 0, "warnings": []}
    base.update(kw)
    return base


def read_file(rel: str, path: Path, defaults: dict[str, Any], *, text_column: str = "text",
              max_bytes: int = MAX_FILE_BYTES, raw: bytes | None = None) -> FileResult:
    """Read one file into documents; never raises for bad content (the entry says what happened)."""
    try:
        st = None if raw is not None else path.stat()
        size = len(raw) if raw is not None else st.st_size
    except OSError as exc:
        return FileResult(_entry(rel, status="skipped", reason="io_error", detail=str(exc)))
    if st is not None and not stat_mod.S_ISREG(st.st_mode):  # FIFO, socket, device: reading could block
        return FileResult(_entry(rel, reason="not_a_file", detail="special file (FIFO, socket or device)"))
    if size > max_bytes:
        return FileResult(_entry(rel, size=size, reason="too_large",
                                 detail=f"{size} bytes > limit {max_bytes}"))
    if raw is None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            return FileResult(_entry(rel, size=size, reason="io_error", detail=f"{exc.strerror or exc}"))
    sha = hashlib.sha256(raw).hexdigest()
    entry = _entry(rel, sha256=sha, size=size)
    if not raw.strip():
        entry.update(reason="empty", detail="0 bytes" if not raw else "whitespace only")
        return FileResult(entry)
    fmt = detect_format(rel, raw[:8192])
    entry["format"] = fmt
    if fmt in (None, "zip", "gzip"):
        from .archive import archive_kind, read_archive

        kind = archive_kind(rel, raw[:8192])
        if kind:
            return read_archive(rel, raw, kind, entry, defaults, text_column=text_column, max_bytes=max_bytes)
    reader = READERS.get(fmt or "")
    if reader is None:
        if fmt in ("image", "ole", "zip", "gzip"):
            entry.update(reason="binary" if fmt in ("image",) else "unsupported_format",
                         detail=f"{fmt} content")
        else:
            ext = Path(rel).suffix or "(none)"
            entry.update(reason="unsupported_format", detail=f"extension {ext}")
        return FileResult(entry)
    if fmt in ("text", "markdown", "csv", "tsv", "jsonl", "json") and raw[:4000].count(b"\x00") > 0 \
            and not raw.startswith((b"\xff\xfe", b"\xfe\xff")) and _nul_binary(raw):
        entry.update(reason="binary", detail="NUL bytes in a text file")
        return FileResult(entry)
    src = SourceFile(path=rel, raw=raw, defaults=defaults)
    kwargs = {"text_column": text_column} if fmt in ("csv", "tsv", "jsonl", "json") else {}
    try:
        records = list(reader(src, **kwargs))
    except SkipFile as exc:
        entry.update(reason=exc.reason, detail=exc.detail or None)
        _copy_src(entry, src)
        return FileResult(entry)
    except KmdError as exc:
        entry.update(status="failed", reason="parse_error", detail=str(exc))
        _copy_src(entry, src)
        return FileResult(entry)
    except Exception as exc:  # a library choking on hostile input must not stop the run
        entry.update(status="failed", reason="parse_error", detail=f"{exc.__class__.__name__}: {exc}"[:500])
        _copy_src(entry, src)
        return FileResult(entry)
    _copy_src(entry, src)
    docs = []
    for rec in records:
        doc = make_document(rec, src, defaults)
        if doc is not None:
            docs.append(doc)
    entry["documents"] = len(docs)
    entry["dates_suspect"] = sum(d.date_suspect for d in docs)
    if docs:
        entry.update(status="ingested", reason=None)
    else:
        entry.update(reason=entry["reason"] or "no_text", detail=entry["detail"] or f"{fmt} reader found no text")
    return FileResult(entry, docs)


def _nul_binary(raw: bytes) -> bool:
    head = raw[:4000]
    # UTF-16 without BOM has NULs in every other byte: text, not binary
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return not (max(even, odd) > len(head) // 4 and min(even, odd) < len(head) // 50)


def _copy_src(entry: dict, src: SourceFile) -> None:
    entry["encoding"] = src.encoding
    entry["encoding_source"] = src.encoding_source
    entry["replacements"] = src.replacements
    entry["records_skipped"] = src.records_skipped
    entry["warnings"] = src.warnings[:20]
    entry["warnings_total"] = len(src.warnings)
    if getattr(src, "detail", None) and not entry.get("detail"):
        entry["detail"] = src.detail


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    s = unicodedata.normalize("NFC", _WS.sub(" ", str(value))).strip()
    return s or None


def stable_id(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def make_document(rec: RawRecord, src: SourceFile, defaults: dict[str, Any]) -> Document | None:
    """Finish a raw record: NFC text, language, date, id, and metadata by precedence.

    Precedence: the sidecar (``defaults["override"]``) over what the file says over the
    command-line defaults.
    """
    text = unicodedata.normalize("NFC", rec.text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        src.records_skipped += 1
        return None
    override = defaults.get("override") or {}
    detected = detect_language(text)
    declared = (rec.lang or "").lower()[:2] or None
    lang = override.get("lang") or (detected if detected != "other" or not defaults.get("lang") or len(text.split()) > 30
                                    else defaults["lang"])
    genre = override.get("genre") or rec.genre or defaults.get("genre")
    stype = override.get("source_type") or rec.source_type or defaults.get("source_type")
    if rec.parent_id and rec.source_type:  # a reply (WordPress comment) keeps its own type
        stype = rec.source_type
    if genre not in GENRES:
        genre = None
    if stype not in SOURCE_TYPES:
        stype = None
    if lang not in ALL_LANGS:
        lang = detected
    raw_date = override.get("date") or rec.date
    date = parse_date(raw_date, lang=lang)
    date_raw = None if raw_date is None else str(raw_date)
    if raw_date is not None and date is None:
        src.warn(f"{src.path}{rec.key}: date {str(raw_date)[:60]!r} names no full day; date left empty")
    source = src.path + (rec.key or "")
    doc_id = _clean(override.get("id") if override.get("id") and not rec.key else None) or _clean(rec.id) \
        or stable_id(src.path, rec.key or "", rec.url or "")
    extra = dict(rec.extra)
    if declared:
        extra["lang_declared"] = declared
    return Document(
        doc_id=doc_id, source=source, text=text, title=_clean(rec.title), author=_clean(rec.author),
        date=date, url=_clean(rec.url), genre=genre, lang=lang, source_type=stype,
        encoding=src.encoding, encoding_source=src.encoding_source, parent_id=_clean(rec.parent_id),
        date_raw=date_raw, date_source=rec.date_source if date else None,
        date_suspect=is_suspect(date), extra=extra,
    )


# --- the sidecar ---------------------------------------------------------------------------------

def read_sidecar(path: Path) -> dict[str, dict[str, str]]:
    """``metadata.csv``: column ``path`` (relative to the corpus root) plus metadata fields."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the metadata file ({exc}); expected UTF-8 CSV") from exc
    reader = csv.DictReader(io.StringIO(text))
    if "path" not in (reader.fieldnames or []):
        raise InputError(f"{path}: no 'path' column (found: {', '.join(reader.fieldnames or [])}); "
                         f"expected path plus metadata columns such as genre, lang, source_type")
    out: dict[str, dict[str, str]] = {}
    for row in reader:
        p = (row.pop("path") or "").strip().replace("\\", "/").lstrip("./")
        if p:
            out[p] = {k: v.strip() for k, v in row.items() if k and v and v.strip()}
    return out


# --- the run ---------------------------------------------------------------------------------------

def _read_job(args):
    rel, path, defaults, text_column, max_bytes = args
    return with_splits(read_file(rel, path, defaults, text_column=text_column, max_bytes=max_bytes))


def _read_jobs(batch):
    """A partition of files (the unit the dask engine ships to a worker)."""
    return [_read_job(args) for args in batch]


def split_for_assembly(doc: Document, known: dict | None = None) -> tuple[str, list[tuple[str, str]], int]:
    """What :func:`_assemble` needs of ``doc`` besides the document: its duplicate key and its
    passages (text, language), which do not depend on the id it ends up with.

    ``known`` maps (doc_id, position) to (text, lang) of a previous run's passages: a passage
    with the same text keeps its language instead of being detected again.
    """
    stats: dict[str, int] = {}
    parts = []
    for p in split_document(doc, stats=stats):
        hit = known.get((doc.doc_id, p.position)) if known else None
        if hit is not None and hit[0] == p.text:
            parts.append((p.text, hit[1]))
        else:
            parts.append((p.text, detect_language(p.text) if len(p.text.split()) >= 8 else doc.lang))
    return _norm_key(doc.text), parts, stats.get("fragments_dropped", 0)


def with_splits(res: FileResult) -> FileResult:
    """``res`` with passages split and their languages detected, here rather than in the
    (single-process) assembly, so that ``--jobs`` and the dask engine share that work."""
    res.splits = [split_for_assembly(doc) for doc in res.documents]
    for member in res.members:
        with_splits(member)
    return res


def ingest_path(
    input: str | os.PathLike,
    store: str | os.PathLike | None = None,
    *,
    genre: str | None = None,
    source_type: str | None = None,
    lang: str | None = None,
    metadata: str | os.PathLike | None = None,
    text_column: str = "text",
    max_bytes: int = MAX_FILE_BYTES,
    jobs: int = 1,
    progress: bool = False,
    engine: str = "local",
    scheduler: str | None = None,
) -> Corpus:
    """Ingest a folder (walked recursively) or one file; write ``store`` when given.

    ``engine="dask"`` reads the files on a Dask cluster (``scheduler``, or a LocalCluster of
    ``jobs`` workers; see :mod:`kmdiscourse.engine`): the same store as the local engine. An
    engine already opened with :func:`kmdiscourse.engine.open_engine` may be passed instead.

    Re-running with the same store reads only new or changed files. Raises
    :class:`InputError` when ``input`` is missing or yields no readable document.

    Examples
    --------
    >>> corpus = ingest_path("corpora/sample", "sample.kmd")   # doctest: +SKIP
    >>> corpus.passages[["passage_id", "lang", "text"]].head()  # doctest: +SKIP
    """
    root = Path(input)
    if not root.exists():
        raise InputError(f"{root}: no such file or folder")
    if isinstance(engine, str) and (engine != "local" or scheduler):
        from ..engine import check_engine

        check_engine(engine, scheduler)
    root_dir = root if root.is_dir() else root.parent
    store_path = Path(store) if store else None
    sidecar_path = Path(metadata) if metadata else (root_dir / SIDECAR if root.is_dir() else None)
    sidecar = read_sidecar(sidecar_path) if sidecar_path and sidecar_path.is_file() else {}
    if metadata and not Path(metadata).is_file():
        raise InputError(f"{metadata}: metadata file not found")
    base_defaults = {"genre": genre, "source_type": source_type, "lang": lang}
    settings = {**base_defaults, "text_column": text_column, "version": __version__,
                "sidecar": hashlib.sha256(repr(sorted(sidecar.items())).encode()).hexdigest()[:16]}

    walk = list(iter_input_files(root, exclude=store_path))
    unchanged = _unchanged_store(store_path, settings, walk)
    if unchanged is not None:  # nothing to read, nothing to write: the store stands as it is
        unchanged.setdefault("summary", {})["reused_files"] = sum(1 for _, _, skip in walk if not skip)
        return Corpus(None, None, unchanged, store_path, root)
    previous = _previous(store_path, settings)
    jobs_args = []
    order: list[str] = []
    for rel, path, skip in walk:
        order.append(rel)
        if skip:
            continue
        defaults = {**base_defaults, "override": sidecar.get(rel, {})}
        jobs_args.append((rel, path, defaults, text_column, max_bytes))

    reused = 0
    todo = []
    kept_results: dict[str, FileResult] = {}
    for args in jobs_args:
        rel, path = args[0], args[1]
        prev = previous.get(rel)
        if prev is not None:
            try:
                stat = path.stat()
            except OSError:
                stat = None
            if stat is not None and prev["entry"].get("size") == stat.st_size and \
                    prev["entry"].get("sha256") == _sha256_file_or_none(path):
                kept_results[rel] = prev["result"]
                reused += 1
                continue
        todo.append(args)
    previous.clear()

    def stream() -> Iterator[tuple[str, FileResult]]:
        """Each file's result in walk order (an archive's members right after it), as the
        readers finish them: nothing waits for the whole corpus."""
        fresh = _map(todo, jobs, progress, engine=engine, scheduler=scheduler)
        walked = set(order)
        members: set[str] = set()
        for rel, _path, skip in walk:
            if skip:
                res = FileResult(_entry(rel, reason=skip))
            elif rel in kept_results:
                res = kept_results.pop(rel)
            else:
                res = next(fresh)
                if res.entry["path"] != rel:  # results come back in submission order
                    raise KmdError(f"{rel}: internal error, got the result of {res.entry['path']}")
            yield rel, res
            for member in res.members:
                mrel = member.entry["path"]
                if mrel not in walked and mrel not in members:
                    members.add(mrel)
                    yield mrel, member
        fresh.close()  # every result taken: let the pool go now

    return _assemble(root, store_path, stream(), settings, reused)


def _unchanged_store(store_path: Path | None, settings: dict, walk: list) -> dict[str, Any] | None:
    """The store's manifest when the input is exactly what it was built from (same settings,
    same files in the same order, same sizes and SHA-256), else None.

    Archives are always re-read, and a file that could not be hashed last time is retried.
    """
    if store_path is None or not store_mod.is_store(store_path):
        return None
    try:
        manifest = store_mod.read_manifest(store_path)
    except KmdError:
        return None
    entries = manifest.get("files") or []
    if manifest.get("settings") != settings or [rel for rel, _, _ in walk] != [e.get("path") for e in entries]:
        return None
    for (rel, path, skip), entry in zip(walk, entries):
        if entry.get("members") or "!" in rel:
            return None
        if skip:
            if entry.get("reason") != skip:
                return None
            continue
        try:
            size = path.stat().st_size
        except OSError:
            return None
        if entry.get("size") != size:
            return None
        if entry.get("sha256") is None:
            if entry.get("reason") == "too_large":
                continue
            return None
        if _sha256_file_or_none(path) != entry["sha256"]:
            return None
    return manifest


def _sha256_file_or_none(path: Path) -> str | None:
    try:
        if not stat_mod.S_ISREG(path.stat().st_mode):
            return None
        return _sha256_file(path)
    except OSError:
        return None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _map(todo, jobs: int, progress: bool, *, engine: str = "local", scheduler: str | None = None
         ) -> Iterator[FileResult]:
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="ingest", unit="file", leave=False)
    try:
        if (engine == "dask" or not isinstance(engine, str)) and todo:
            from contextlib import nullcontext

            from ..engine import open_engine, partition

            # an engine object (already open) is used as it is; "dask" opens one for this run
            opened = nullcontext(engine) if not isinstance(engine, str) else \
                open_engine("dask", jobs=max(2, jobs), scheduler=scheduler)
            with opened as eng:
                # partitions of consecutive files, a few per worker, so results stream back in order
                for batch in eng.map(_read_jobs, partition(todo, eng.workers * 8, max_size=256)):
                    for res in batch:
                        if bar:
                            bar.update()
                        yield res
        elif jobs > 1 and len(todo) > 1:
            import multiprocessing as mp

            from ..language import warm_up

            warm_up()  # forked workers inherit the model instead of each loading it
            with mp.get_context("spawn" if os.name == "nt" else "fork").Pool(jobs) as pool:
                for res in pool.imap(_read_job, todo, chunksize=max(1, min(64, len(todo) // (jobs * 8) or 1))):
                    if bar:
                        bar.update()
                    yield res
        else:
            for args in todo:
                res = _read_job(args)
                if bar:
                    bar.update()
                yield res
    finally:
        if bar:
            bar.close()


def _previous(store_path: Path | None, settings: dict) -> dict[str, dict]:
    """Per-file results of the previous run in ``store_path``, when its settings match."""
    if store_path is None or not store_mod.is_store(store_path):
        return {}
    try:
        manifest = store_mod.read_manifest(store_path)
        if manifest.get("settings") != settings:
            return {}
        docs = store_mod.read_documents(store_path)
    except KmdError as exc:
        log.warning("Warning: %s; the store will be rebuilt", exc)
        return {}
    by_file: dict[str, list[Document]] = {}
    for row in docs.to_dict("records"):
        row["extra"] = _json_load(row.get("extra"))
        by_file.setdefault(row.get("file") or row["source"].split("#", 1)[0], []).append(
            Document.from_dict(row, where=f"{store_path}/{store_mod.DOCUMENTS}"))
    try:
        prev_passages = store_mod.read_passages(store_path, columns=["doc_id", "position", "text", "lang"])
        known = {(d, int(p)): (t, lg) for d, p, t, lg in zip(prev_passages["doc_id"], prev_passages["position"],
                                                            prev_passages["text"], prev_passages["lang"])}
    except (KmdError, KeyError, ValueError, TypeError):
        known = {}
    out = {}
    for entry in manifest.get("files", []):
        if entry.get("sha256") and entry.get("status") in ("ingested", "skipped") and \
                entry.get("reason") not in ("duplicate",) and not entry.get("members") and \
                str(entry.get("format")) not in ("zip", "tar", "gzip", "bzip2", "xz") and \
                not str(entry.get("format")).startswith("tar+"):
            docs_here = by_file.get(entry["path"], []) if entry["status"] == "ingested" else []
            fresh = {k: v for k, v in entry.items() if k != "duplicates"}
            fresh["duplicates"] = 0
            res = FileResult(dict(fresh), list(docs_here))
            res.splits = [split_for_assembly(d, known) for d in res.documents]
            out[entry["path"]] = {"entry": fresh, "result": res}
    return out


def _json_load(value):
    import json

    if isinstance(value, dict):
        return value
    if not value:
        return {}
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return {}


def _norm_key(text: str) -> str:
    # " ".join(split()) is _WS.sub(" ", ...).strip(): both use str.isspace, join is faster
    return hashlib.sha1(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


#: rows per Parquet row group while streaming the tables to the store
CHUNK_PASSAGES = 20_000
CHUNK_DOCUMENTS = 5_000


def _arrow_types(columns: list[str]) -> dict:
    import pyarrow as pa

    special = {"date": pa.date32(), "position": pa.int64(), "n_passages": pa.int64(),
               "date_suspect": pa.bool_(), "boilerplate": pa.bool_()}
    return {c: special.get(c, pa.large_string()) for c in columns}


def _boilerplate_flags(keys, docs):
    """Per passage: does its lower-cased text (``keys``, a hash) occur in at least
    :data:`BOILERPLATE_MIN_DOCS` distinct documents (``docs``, ordinals)?"""
    import numpy as np

    keys = np.frombuffer(keys, dtype=np.int64) if len(keys) else np.zeros(0, dtype=np.int64)
    docs = np.frombuffer(docs, dtype=np.int64) if len(docs) else np.zeros(0, dtype=np.int64)
    n = len(keys)
    if not n:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((docs, keys))
    k, d = keys[order], docs[order]
    new_key = np.ones(n, dtype=bool)
    new_key[1:] = k[1:] != k[:-1]
    new_pair = new_key.copy()
    new_pair[1:] |= d[1:] != d[:-1]
    group = np.cumsum(new_key) - 1
    n_docs = np.bincount(group[new_pair], minlength=int(group[-1]) + 1)
    flags = np.empty(n, dtype=bool)
    flags[order] = n_docs[group] >= BOILERPLATE_MIN_DOCS
    return flags


def _assemble(root: Path, store_path: Path | None, stream: Iterator[tuple[str, FileResult]],
              settings: dict, reused: int) -> Corpus:
    """Drop duplicate documents, make ids unique, number the passages and stream both tables
    to the store in row groups, keeping only hashes (for duplicates and boilerplate) in memory.

    Without a store the tables go through a temporary one and are returned in memory.
    """
    import json
    import shutil
    import tempfile
    from array import array

    made_dir = store_path is not None and not store_path.exists()
    if store_path is not None:
        store_path.mkdir(parents=True, exist_ok=True)
        target = store_path
    else:
        target = Path(tempfile.mkdtemp(prefix="kmdiscourse-ingest-"))
    doc_columns = store_mod.DOCUMENT_COLUMNS + ["file"]
    doc_spool = Spool(target, store_mod.DOCUMENTS, _arrow_types(doc_columns), chunk_rows=CHUNK_DOCUMENTS)
    pas_spool = Spool(target, store_mod.PASSAGES, _arrow_types(store_mod.PASSAGE_COLUMNS[:-1]),
                      chunk_rows=CHUNK_PASSAGES)
    seen_text: set[int] = set()  # 64 bits of each kept document's normalised-text SHA-1
    first_ord: dict[str, int] = {}  # doc id -> ordinal of the first document stored under it
    repeats: Counter = Counter()  # doc id -> further documents that arrived with it
    bp_keys, bp_docs = array("q"), array("q")  # per passage: hash of its lower-cased text, doc ordinal
    stats: dict[str, int] = {"fragments_dropped": 0, "dates_suspect": 0}
    files = _EntrySpool(target)  # the manifest's file entries, on disk until the manifest is written
    try:
        for rel, res in stream:
            entry = dict(res.entry)
            entry["duplicates"] = 0
            kept = 0
            splits = res.splits if res.splits is not None and len(res.splits) == len(res.documents) else None
            for i, doc in enumerate(res.documents):
                split = splits[i] if splits is not None else split_for_assembly(doc)
                key = int(split[0][:16], 16)
                if key in seen_text:
                    entry["duplicates"] += 1
                    continue
                seen_text.add(key)
                uses = (doc.doc_id in first_ord) + repeats[doc.doc_id]
                if uses:
                    new_id = f"{doc.doc_id}-{uses + 1}"
                    entry.setdefault("warnings", []).append(
                        f"{doc.source}: id {doc.doc_id!r} already used; stored as {new_id!r}")
                    repeats[doc.doc_id] += 1
                    doc = dataclasses.replace(doc, doc_id=new_id)
                if doc.doc_id in first_ord:
                    repeats[doc.doc_id] += 1
                else:
                    first_ord[doc.doc_id] = len(first_ord)
                ordinal = first_ord[doc.doc_id]
                kept += 1
                stats["fragments_dropped"] += split[2]
                n = 0
                for text, plang in split[1]:
                    pas_spool.append({
                        "passage_id": f"{doc.doc_id}:{n}", "doc_id": doc.doc_id, "position": n, "text": text,
                        "lang": plang, "date": doc.date, "genre": doc.genre, "source_type": doc.source_type,
                        "source": doc.source, "title": doc.title, "url": doc.url,
                    })
                    bp_keys.append(hash(text.lower()))
                    bp_docs.append(ordinal)
                    n += 1
                row = {c: getattr(doc, c, None) for c in store_mod.DOCUMENT_COLUMNS}
                row["n_passages"] = n
                row["extra"] = json.dumps(doc.extra, ensure_ascii=False, default=str)
                row["file"] = rel
                doc_spool.append(row)
                stats["dates_suspect"] += bool(doc.date_suspect)
            if entry["status"] == "ingested" and kept == 0 and res.documents:
                entry.update(status="skipped", reason="duplicate", detail="every document already seen")
            entry["documents"] = kept
            files.append(entry)
        del seen_text, first_ord, repeats
        files._fh.flush()

        flags = _boilerplate_flags(bp_keys, bp_docs)
        del bp_keys, bp_docs
        manifest = {
            "kmdiscourse": settings["version"],
            "input": str(root.resolve()),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "settings": settings,
            "summary": {
                "files": files.count,
                "ingested": files.status["ingested"],
                "skipped": files.status["skipped"],
                "failed": files.status["failed"],
                "reasons": dict(files.reasons),
                "documents": doc_spool.rows,
                "passages": pas_spool.rows,
                "duplicates": files.duplicates,
                "fragments_dropped": stats["fragments_dropped"],
                "records_skipped": files.records_skipped,
                "dates_suspect": stats["dates_suspect"],
                "boilerplate_passages": int(flags.sum()),
                "reused_files": reused,
            },
        }
        if not doc_spool.rows:
            raise InputError(no_document_message(root, list(files.entries())))

        import pyarrow as pa

        def write_passages(tmp: str) -> None:
            if pas_spool.rows:
                pas_spool.write_final(tmp, {"boilerplate": (pa.bool_(), flags)})
            else:  # no passage at all: the empty table DataFrame.to_parquet writes
                pas_spool.discard()
                empty = pd.DataFrame(columns=store_mod.PASSAGE_COLUMNS[:-1])
                empty["boilerplate"] = pd.Series(dtype=bool)
                empty.to_parquet(tmp, index=False)

        store_mod.write_store_parts(target, doc_spool.write_final, write_passages,
                                    lambda tmp: files.write_manifest(tmp, manifest))
        files.discard()
        if store_path is not None:
            return Corpus(None, None, None, store_path, root)
        return Corpus(None, None, None, None, root, tables=target)  # read when used, removed with it
    except BaseException:
        doc_spool.discard()
        pas_spool.discard()
        files.discard()
        if made_dir:
            shutil.rmtree(store_path, ignore_errors=True)
        if store_path is None:
            shutil.rmtree(target, ignore_errors=True)
        raise


class _EntrySpool:
    """The manifest's per-file entries, one JSON line each in a hidden file beside the store,
    with the counts the summary needs; the manifest is then written around them."""

    def __init__(self, folder: Path):
        import tempfile

        fd, path = tempfile.mkstemp(dir=folder, prefix=f".{store_mod.MANIFEST}.", suffix=".spool")
        self.path = Path(path)
        self._fh = os.fdopen(fd, "w", encoding="utf-8")
        self.count = self.duplicates = self.records_skipped = 0
        self.status: Counter = Counter()
        self.reasons: Counter = Counter()

    def append(self, entry: dict[str, Any]) -> None:
        import json

        self._fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        self.count += 1
        self.status[entry["status"]] += 1
        if entry["status"] != "ingested":
            self.reasons[entry["reason"]] += 1
        self.duplicates += entry["duplicates"]
        self.records_skipped += entry.get("records_skipped", 0)

    def entries(self) -> Iterator[dict[str, Any]]:
        import json

        self._fh.flush()
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)

    def write_manifest(self, tmp: str, manifest: dict[str, Any]) -> None:
        """``manifest`` with ``"files"``: the entries, one per line (the same JSON as one dump)."""
        import json

        self._fh.flush()
        head = json.dumps(manifest, ensure_ascii=False, indent=1, default=str)
        with open(tmp, "w", encoding="utf-8") as out, open(self.path, encoding="utf-8") as fh:
            out.write(head[:-2].rstrip() + ',\n "files": [\n')
            first = True
            for line in fh:
                out.write(("" if first else ",\n") + line.rstrip("\n"))
                first = False
            out.write("\n ]\n}")

    def discard(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass
        self.path.unlink(missing_ok=True)


def no_document_message(root: Path, files: list[dict]) -> str:
    if not files:
        return f"{root}: no files found; expected text, HTML, feeds, exports, tables, mbox, PDF or DOCX"
    reasons = Counter(f["reason"] or f["status"] for f in files)
    parts = ", ".join(f"{n} {r}" for r, n in reasons.most_common())
    return f"{root}: no readable document in {len(files)} file(s) ({parts})"


def open_corpus(input: str | os.PathLike, store: str | os.PathLike | None = None, **kwargs) -> Corpus:
    """The corpus behind ``input``: an existing store is read; a folder or file is ingested
    (into ``store`` when given, so that the next command reuses it)."""
    path = Path(input)
    if store_mod.is_store(path):
        manifest = store_mod.read_manifest(path)
        return Corpus(None, None, manifest, path, Path(manifest.get("input", path)))
    return ingest_path(path, store, **kwargs)
