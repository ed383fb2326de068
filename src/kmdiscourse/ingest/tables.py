"""Tables of records: JSON Lines, JSON arrays, CSV and TSV; one document per record."""
from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator

from ..errors import FormatError
from .base import RawRecord, SkipFile, SourceFile
from .decode import decode_bytes

KNOWN = ("id", "title", "date", "author", "url", "genre", "lang", "source_type", "parent_id")
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long posts exceed the 131072 default


def _scalar(value):
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    s = str(value).strip()
    return s or None


def record_from_mapping(row: dict, src: SourceFile, where: str, text_column: str = "text") -> RawRecord | None:
    """A RawRecord from one row, or None (with a warning naming ``where``) when it has no text."""
    text = row.get(text_column)
    if not isinstance(text, str) or not text.strip():
        src.warn(f"{where}: no {text_column!r} text; record skipped")
        src.records_skipped += 1
        return None
    meta = {k: _scalar(row.get(k)) for k in KNOWN}
    extra = {k: v for k, v in row.items() if k not in KNOWN and k != text_column and v not in (None, "")}
    extra = {k: (v if isinstance(v, (str, int, float, bool)) else json.dumps(v, ensure_ascii=False))
             for k, v in extra.items()}
    return RawRecord(text=text, extra=extra, date_source="record" if meta["date"] else None, **meta)


def _decode(src: SourceFile) -> str:
    dec = decode_bytes(src.raw)
    src.encoding, src.encoding_source, src.replacements = dec.encoding, dec.encoding_source, dec.replacements
    if not dec.text.strip():
        raise SkipFile("empty", "no records")
    return dec.text


def read_jsonl(src: SourceFile, text_column: str = "text") -> Iterator[RawRecord]:
    """One JSON object per line; a malformed line is skipped with a warning naming the line."""
    for lineno, line in enumerate(_decode(src).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{src.path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            src.warn(f"{where}: not valid JSON ({exc.msg}); line skipped")
            src.records_skipped += 1
            continue
        if not isinstance(row, dict):
            src.warn(f"{where}: expected a JSON object, got {type(row).__name__}; line skipped")
            src.records_skipped += 1
            continue
        rec = record_from_mapping(row, src, where, text_column)
        if rec is not None:
            rec.key = f"#line{lineno}"
            yield rec


def read_json(src: SourceFile, text_column: str = "text") -> Iterator[RawRecord]:
    """A JSON array of objects (or an object with one list of objects, e.g. ``{"posts": [...]}``)."""
    text = _decode(src)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if "\n{" in text or text.lstrip().startswith("{") and text.count("\n") > 0:
            yield from read_jsonl(src, text_column)  # JSON Lines saved as .json
            return
        raise FormatError(f"{src.path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list):
        raise FormatError(f"{src.path}: expected a JSON array of objects, got {type(data).__name__}")
    for i, row in enumerate(data):
        where = f"{src.path}#{i}"
        if not isinstance(row, dict):
            src.warn(f"{where}: expected an object; record skipped")
            src.records_skipped += 1
            continue
        rec = record_from_mapping(row, src, where, text_column)
        if rec is not None:
            rec.key = f"#record{i}"
            yield rec


def read_csv(src: SourceFile, text_column: str = "text", delimiter: str | None = None) -> Iterator[RawRecord]:
    """CSV/TSV with a header; the delimiter is sniffed (``,`` ``;`` tab) unless given."""
    text = _decode(src)
    if delimiter is None:
        head = text[:20_000]
        if src.path.lower().endswith(".tsv"):
            delimiter = "\t"
        else:
            try:
                delimiter = csv.Sniffer().sniff(head.split("\n", 1)[0], delimiters=",;\t").delimiter
            except csv.Error:
                delimiter = ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    fields = [f.strip().lstrip("\ufeff") for f in (reader.fieldnames or [])]
    if text_column not in fields:
        raise FormatError(
            f"{src.path}: no {text_column!r} column (found: {', '.join(fields) or 'none'}); "
            f"name the text column with --text-column"
        )
    reader.fieldnames = fields
    try:
        for row in reader:
            where = f"{src.path}:{reader.line_num}"
            if None in row:  # more cells than header fields
                src.warn(f"{where}: {len(row[None])} cells more than the header; extra cells ignored")
                row.pop(None)
            rec = record_from_mapping(row, src, where, text_column)
            if rec is not None:
                rec.key = f"#line{reader.line_num}"
                yield rec
    except csv.Error as exc:
        src.warn(f"{src.path}:{reader.line_num}: CSV error ({exc}); rest of file skipped")
        src.records_skipped += 1
