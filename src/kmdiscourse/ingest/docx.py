"""Word documents (.docx): body paragraphs and table cells in reading order; legacy .doc refused."""
from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

from .base import RawRecord, SkipFile, SourceFile

_CORE_RT = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"


def _block_texts(container) -> Iterator[str]:
    """Paragraph texts and table rows of a body or cell, in document order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for block in container.iter_inner_content():
        if isinstance(block, Paragraph):
            yield block.text
        elif isinstance(block, Table):
            yield from _table_texts(block)


def _table_texts(table) -> Iterator[str]:
    """One paragraph per row: its distinct cells joined by " | " (merged cells repeat)."""
    for row in table.rows:
        cells, seen = [], set()
        try:
            row_cells = row.cells
        except Exception:  # malformed grid spans
            continue
        for cell in row_cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            parts = [t.strip() for t in _block_texts(cell) if t.strip()]
            if parts:
                cells.append(" ".join(parts))
        if cells:
            yield " | ".join(cells)


def _check_package(raw: bytes) -> None:
    """Refuse a .docx whose parts would expand past the archive limits (a zip bomb in disguise)."""
    from .archive import MAX_RATIO, MAX_TOTAL_BYTES, RATIO_MIN_BYTES

    try:
        infos = zipfile.ZipFile(io.BytesIO(raw)).infolist()
    except Exception as exc:  # BadZipFile and friends
        raise SkipFile("parse_error", f"not a Word document (damaged zip: {str(exc)[:120]})") from None
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise SkipFile("archive_limit", f"parts expand to {total} bytes > {MAX_TOTAL_BYTES}")
    for i in infos:
        if i.file_size > RATIO_MIN_BYTES and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise SkipFile("archive_limit", f"part {i.filename} compressed {i.file_size // max(i.compress_size, 1)}x "
                                            f"(zip bomb?)")


def _has_core_properties(doc) -> bool:
    """python-docx invents a core-properties part (title "Word Document") when there is none."""
    try:
        return any(rel.reltype == _CORE_RT for rel in doc.part.package.rels.values())
    except Exception:
        return False


def read_ole(src: SourceFile) -> Iterator[RawRecord]:
    """Legacy Word/Excel files (OLE compound documents) are not read."""
    raise SkipFile("unsupported_format",
                   "legacy Microsoft Office file (.doc/.xls, OLE format): save it as .docx or PDF")
    yield  # pragma: no cover - makes this a generator like every reader


def read_docx(src: SourceFile) -> Iterator[RawRecord]:
    """A .docx file is one document: body paragraphs and table rows, in order.

    Title, author and created date come from the core properties only when the file has
    them; headers, footers, footnotes and comments are left out.
    """
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    if src.raw.startswith(b"\xd0\xcf\x11\xe0"):
        yield from read_ole(src)
        return
    if not src.raw.startswith(b"PK"):
        raise SkipFile("parse_error", "not a DOCX file (no zip container); legacy .doc or mislabelled file")
    _check_package(src.raw)
    try:
        doc = docx.Document(io.BytesIO(src.raw))
        paras = [t.strip() for t in _block_texts(doc) if t and t.strip()]
    except PackageNotFoundError as exc:
        raise SkipFile("parse_error", f"not a Word document ({str(exc)[:160]})") from None
    except Exception as exc:  # damaged packages raise zlib, zipfile, lxml, KeyError, ValueError...
        raise SkipFile("parse_error", f"damaged Word document ({exc.__class__.__name__}: {str(exc)[:160]})") from None
    src.encoding, src.encoding_source = "utf-8", "declared"
    if not paras:
        raise SkipFile("no_text", "the document body has no text")
    title = author = created = None
    extra: dict = {}
    if _has_core_properties(doc):
        try:
            cp = doc.core_properties
            title = (cp.title or "").strip() or None
            author = (cp.author or "").strip() or None
            created = cp.created
            if cp.language:
                extra["docx_language"] = cp.language
        except Exception:  # bad dates or XML in docProps/core.xml
            extra["docx_core_properties"] = "unreadable"
    else:
        extra["docx_core_properties"] = "absent"
    if created is not None:
        # when the file was made, which may be long after the text was written: kept, not used
        extra["docx_created"] = created.isoformat()
    yield RawRecord(text="\n\n".join(paras), title=title, author=author, extra=extra)
