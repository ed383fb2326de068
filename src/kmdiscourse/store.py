"""The corpus store: documents and passages as Parquet, a JSON manifest; atomic writes; exports."""
from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputError, KmdError

DOCUMENTS = "documents.parquet"
PASSAGES = "passages.parquet"
MANIFEST = "manifest.json"

DOCUMENT_COLUMNS = [
    "doc_id", "source", "title", "author", "date", "url", "genre", "lang", "source_type",
    "encoding", "encoding_source", "parent_id", "date_raw", "date_source", "date_suspect",
    "n_passages", "text", "extra",
]
PASSAGE_COLUMNS = [
    "doc_id", "passage_id", "position", "text", "lang", "date", "genre", "source_type",
    "source", "title", "url", "boilerplate",
]


def is_store(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder holding a kmdiscourse store."""
    p = Path(path)
    if p.is_dir() and (p / _COMMIT).is_file():
        _recover(p)
    return p.is_dir() and (p / MANIFEST).is_file() and (p / DOCUMENTS).is_file()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask_mode() -> int:
    """The mode a plainly created file would get (mkstemp makes 0600 files)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _atomic(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)``, fsync the result and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, _umask_mode())
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a torn one."""
    _atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a DataFrame as Parquet through a temporary file, fsync and rename."""
    _atomic(path, lambda tmp: df.to_parquet(tmp, index=False))


_STAGED = ".new."  # prefix of the staged copy of each part
_COMMIT = ".kmdiscourse-commit"  # present while the staged set is being moved into place


def write_store(store: str | os.PathLike, documents: pd.DataFrame, passages: pd.DataFrame,
                manifest: dict[str, Any]) -> None:
    """Write the three parts of a store so that readers see the old set or the new set, never a mix.

    Each part is first written (fsynced) beside its final name; then a commit marker is
    written, and the parts are renamed into place. A run killed before the marker leaves the
    old store as it was; one killed after it is rolled forward by the next reader or writer.
    """
    write_store_parts(store, lambda tmp: documents.to_parquet(tmp, index=False),
                      lambda tmp: passages.to_parquet(tmp, index=False), manifest)


def write_store_parts(store: str | os.PathLike, write_documents, write_passages, manifest) -> None:
    """:func:`write_store` for parts written by functions given the temporary path (so that
    they can be streamed), with the same staging and commit. ``manifest`` is a dict or such a
    function."""
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    _recover(store, discard_uncommitted=True)
    _atomic(store / (_STAGED + DOCUMENTS), write_documents)
    _atomic(store / (_STAGED + PASSAGES), write_passages)
    if callable(manifest):
        _atomic(store / (_STAGED + MANIFEST), manifest)
    else:
        atomic_write_text(store / (_STAGED + MANIFEST),
                          json.dumps(manifest, ensure_ascii=False, indent=1, default=str))
    atomic_write_text(store / _COMMIT, "documents passages manifest\n")  # the commit point
    _recover(store)


def _recover(store: Path, *, discard_uncommitted: bool = False) -> None:
    """Finish a committed write (move staged parts into place); the writer also drops an
    uncommitted one. Readers only roll forward, so a write in progress is never disturbed."""
    try:
        if (store / _COMMIT).is_file():
            for name in (DOCUMENTS, PASSAGES, MANIFEST):
                try:
                    os.replace(store / (_STAGED + name), store / name)
                except FileNotFoundError:  # moved already (by another reader, or before a kill)
                    pass
            _fsync_dir(store)
            (store / _COMMIT).unlink(missing_ok=True)
            _fsync_dir(store)
        elif discard_uncommitted:
            for name in (DOCUMENTS, PASSAGES, MANIFEST):
                (store / (_STAGED + name)).unlink(missing_ok=True)
    except OSError:  # a read-only store: read what is there
        pass


def read_manifest(store: str | os.PathLike) -> dict[str, Any]:
    _recover(Path(store))
    path = Path(store) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no manifest; expected a store made by 'kmdiscourse ingest'") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KmdError(f"{path}: the manifest is not valid JSON ({exc}); re-run 'kmdiscourse ingest'") from exc


def _read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    _recover(path.parent)
    try:
        return pd.read_parquet(path, columns=columns)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: missing; expected a store made by 'kmdiscourse ingest'") from exc
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise KmdError(f"{path}: cannot be read as Parquet ({exc.__class__.__name__}: {exc})") from exc


def read_documents(store: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    return _read_parquet(Path(store) / DOCUMENTS, columns)


def read_passages(store: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    return _read_parquet(Path(store) / PASSAGES, columns)



def passage_count(store: str | os.PathLike) -> int:
    """The number of passages in ``store`` (from the Parquet footer; nothing else is read)."""
    import pyarrow.parquet as pq

    path = Path(store) / PASSAGES
    _recover(path.parent)
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: missing; expected a store made by 'kmdiscourse ingest'") from exc
    except Exception as exc:
        raise KmdError(f"{path}: cannot be read as Parquet ({exc.__class__.__name__}: {exc})") from exc


def iter_passages(store: str | os.PathLike, columns: list[str] | None = None, *,
                  batch_size: int = 20_000) -> Iterator[pd.DataFrame]:
    """The passages of ``store`` in order, as DataFrames of at most ``batch_size`` rows (the
    same columns and dtypes as :func:`read_passages`), so that a pass over the corpus holds one
    batch at a time. An empty table gives one empty DataFrame."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(store) / PASSAGES
    _recover(path.parent)
    try:
        pf = pq.ParquetFile(path)
        batches = pf.iter_batches(batch_size=max(1, int(batch_size)), columns=columns)
        schema = pf.schema_arrow
        any_rows = False
        for batch in batches:
            any_rows = True
            yield pa.Table.from_batches([batch]).to_pandas()
        if not any_rows:
            if columns is not None:
                schema = pa.schema([schema.field(c) for c in columns])
            yield schema.empty_table().to_pandas()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: missing; expected a store made by 'kmdiscourse ingest'") from exc
    except (KmdError, GeneratorExit):
        raise
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise KmdError(f"{path}: cannot be read as Parquet ({exc.__class__.__name__}: {exc})") from exc

# --- exports ---------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SAFE_SIGNED = re.compile(r"[+-]\d+(?:[.,]\d+)?|(?:[+-][^\W\d][\w-]*)(?: [+-][^\W\d][\w-]*)*")


def neutralise_formula(value: Any) -> Any:
    """Prefix a cell that a spreadsheet would run as a formula with ``'`` (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        if _SAFE_SIGNED.fullmatch(value):  # "-3.5", "+value -steps": numbers and evidence terms
            return value
        return "'" + value
    return value


def neutralise_column(s: pd.Series) -> pd.Series:
    """``s`` with :func:`neutralise_formula` applied to its text cells (object or string dtype;
    other columns are returned as they are). Only the cells that start like a formula are
    touched, so a column without any costs one vectorised check."""
    if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
        return s
    try:
        risky = s.str[:1].isin(_FORMULA_START).to_numpy(dtype=bool, na_value=False)
    except AttributeError:  # an object column without text (numbers, dates)
        return s
    if not risky.any():
        return s
    out = s.copy()
    out[risky] = s[risky].map(neutralise_formula)
    return out


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text column through :func:`neutralise_column` (``df`` itself when no
    cell needs it)."""
    cols = {name: neutralise_column(df[name]) for name in df.columns}
    changed = {name: col for name, col in cols.items() if col is not df[name]}
    return df.assign(**changed) if changed else df


def export_table(df: pd.DataFrame, out: str | os.PathLike, *, stdout=None) -> None:
    """Write ``df`` as CSV, JSONL or Parquet by the extension of ``out``; ``-`` means CSV to stdout.

    CSV is UTF-8 with a header, formula-like cells neutralised, for Excel and R alike.
    """
    out_s = str(out)
    if out_s == "-":
        import sys

        neutralise_frame(df).to_csv(stdout or sys.stdout, index=False)
        return
    suffix = Path(out_s).suffix.lower()
    if suffix == ".parquet":
        atomic_write_parquet(df, out_s)
    elif suffix in (".jsonl", ".ndjson"):
        atomic_write_text(out_s, df.to_json(orient="records", lines=True, force_ascii=False, date_format="iso"))
    elif suffix in (".csv", ".tsv", ""):
        atomic_write_text(out_s, neutralise_frame(df).to_csv(index=False, sep="\t" if suffix == ".tsv" else ","))
    else:
        raise KmdError(f"{out_s}: unknown output format {suffix!r}; expected .csv, .tsv, .jsonl or .parquet")


def records_frame(records: Iterable[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(list(records), columns=columns)
    return df
