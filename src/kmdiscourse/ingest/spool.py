"""Stream a table to Parquet in row groups, so that ingest holds one chunk of rows, not the corpus.

Rows are appended column by column and written as a row group every ``chunk_rows`` rows to a
hidden spool file beside the store. :meth:`Spool.write_final` then gives the file the store
keeps: the spool itself when nothing changes, or a copy (row group by row group) that adds
columns known only at the end (the boilerplate flag) and types a column that never held a
value as ``null``, as ``DataFrame.to_parquet`` does, so that readers see the same table.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .. import store as store_mod


class Spool:
    """Rows of a fixed schema (``types``: column -> Arrow type) streamed to ``folder``."""

    def __init__(self, folder: Path, name: str, types: dict[str, pa.DataType], *, chunk_rows: int = 10_000):
        self.columns = list(types)
        self.schema = pa.schema(list(types.items()))
        self.chunk_rows = chunk_rows
        fd, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".spool")
        os.close(fd)
        os.chmod(path, store_mod._umask_mode())
        self.path = Path(path)
        self.rows = 0
        self._buf: dict[str, list] = {c: [] for c in self.columns}
        self._pending = 0
        self._valued: set[str] = set()  # columns that held a value at least once
        self._writer: pq.ParquetWriter | None = None

    def append(self, row: dict) -> None:
        for c in self.columns:
            self._buf[c].append(row.get(c))
        self._pending += 1
        self.rows += 1
        if self._pending >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.Table.from_pydict(self._buf, schema=self.schema)
        for c in self.columns:
            if c not in self._valued and table.column(c).null_count < table.num_rows:
                self._valued.add(c)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        self._writer.write_table(table)
        self._buf = {c: [] for c in self.columns}
        self._pending = 0

    def close(self) -> None:
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def discard(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
        except Exception:  # closing a half-written file on the way out of an error
            pass
        self._writer = None
        self.path.unlink(missing_ok=True)

    def final_schema(self, extra: dict[str, pa.DataType] | None = None) -> pa.Schema:
        fields = [pa.field(f.name, f.type if f.name in self._valued else pa.null()) for f in self.schema]
        fields += [pa.field(name, t) for name, t in (extra or {}).items()]
        return pa.schema(fields)

    def write_final(self, tmp: str, extra: dict | None = None) -> None:
        """Write the store's file to ``tmp``: ``extra`` maps added column names to (Arrow type,
        array of one value per row, in row order)."""
        self.close()
        extra = extra or {}
        schema = self.final_schema({k: t for k, (t, _) in extra.items()})
        if not extra and schema == self.schema and self.rows:
            os.replace(self.path, tmp)  # nothing to change: the spool is the file
            return
        with pq.ParquetWriter(tmp, schema) as writer:
            if self.rows:
                src = pq.ParquetFile(self.path)
                start = 0
                for i in range(src.num_row_groups):
                    table = src.read_row_group(i)
                    n = table.num_rows
                    arrays = [table.column(f.name) if f.type == table.schema.field(f.name).type
                              else pa.nulls(n) for f in schema if f.name not in extra]
                    arrays += [pa.array(values[start:start + n], type=t) for t, values in extra.values()]
                    writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                    start += n
        self.path.unlink(missing_ok=True)
