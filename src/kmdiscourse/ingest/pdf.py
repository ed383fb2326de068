"""PDF articles: the text layer (pypdf, pdfminer.six as fallback) rebuilt into paragraphs."""
from __future__ import annotations

import io
import logging
import re
import statistics
from collections import Counter
from collections.abc import Iterator

from .base import RawRecord, SkipFile, SourceFile

# Both libraries log every recoverable oddity of a damaged file; the manifest says what matters.
logging.getLogger("pypdf").setLevel(logging.ERROR)
logging.getLogger("pdfminer").setLevel(logging.ERROR)

MIN_LETTERS = 3  # fewer letters than this in the whole file: no text layer
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi",
                            "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st", "\u00ad": ""})
_PAGE_NUMBER = re.compile(
    r"^\s*(?:[-–—]\s*)?(?:(?:page|p\.|стр\.?|страница|с\.)\s*)?(?:\d{1,4}|[ivxlcdm]{1,7})"
    r"(?:\s*(?:/|of|из)\s*\d{1,4})?(?:\s*[-–—])?\s*$", re.I)
_JUNK_TITLE = re.compile(
    r"^(?:microsoft (?:word|powerpoint|excel) - |untitled|document\d*$|slide \d+$|\s*$)"
    r"|\.(?:docx?|pdf|rtf|odt|tex|dvi|txt|indd|pptx?|xlsx?|html?|ps|qxd|pages)\s*$"
    r"|^[a-z]:\\|^/|\\", re.I)
_SENT_END = re.compile(r"[.!?…:;»\"”)]$")


class _Encrypted(Exception):
    pass


def _letters(pages: list[str]) -> int:
    return sum(sum(c.isalpha() for c in p) for p in pages)


def _pypdf_pages(raw: bytes) -> tuple[list[str], dict]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    reader = PdfReader(io.BytesIO(raw))
    if reader.is_encrypted:
        try:
            ok = reader.decrypt("")  # an owner password only: readable without asking
        except Exception as exc:
            raise _Encrypted(str(exc)) from exc
        if not ok:
            raise _Encrypted("a password is needed to open it")
    meta: dict = {}
    try:
        info = reader.metadata or {}
        for key in ("/Title", "/Author", "/CreationDate", "/Subject", "/Producer", "/Creator"):
            value = info.get(key)
            if value is not None:
                meta[key.lstrip("/")] = str(value)
    except Exception:  # damaged info dictionaries are common and harmless
        pass
    pages = []
    try:
        for page in reader.pages:
            pages.append(page.extract_text() or "")
    except FileNotDecryptedError as exc:
        raise _Encrypted(str(exc)) from exc
    return pages, meta


def _pdfminer_pages(raw: bytes) -> tuple[list[str], dict]:
    try:
        from pdfminer.high_level import extract_text
        from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    except ImportError as exc:  # the fallback is optional
        raise RuntimeError("pdfminer.six is not installed") from exc
    try:
        text = extract_text(io.BytesIO(raw))
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        raise _Encrypted(f"{exc.__class__.__name__}") from exc
    return text.split("\f"), {}


def _clean_pages(pages: list[str]) -> list[list[str]]:
    """Lines per page, without running page numbers and headers/footers repeated across pages."""
    out = [[ln.translate(_LIGATURES).rstrip() for ln in p.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
           for p in pages]
    # a line at the top or bottom of three or more pages (digits ignored) is a running header
    edges: Counter = Counter()
    for lines in out:
        nonblank = [ln.strip() for ln in lines if ln.strip()]
        for ln in set(nonblank[:2] + nonblank[-2:]):
            edges[re.sub(r"\d+", "#", ln)] += 1
    running = {k for k, n in edges.items() if n >= 3 and n >= len(out) // 2 and len(k) < 120}
    cleaned = []
    for lines in out:
        nonblank_idx = [i for i, ln in enumerate(lines) if ln.strip()]
        edge_idx = set(nonblank_idx[:2] + nonblank_idx[-2:])
        keep = []
        for i, ln in enumerate(lines):
            if i in edge_idx and (_PAGE_NUMBER.match(ln) or re.sub(r"\d+", "#", ln.strip()) in running):
                continue
            keep.append(ln)
        cleaned.append(keep)
    return cleaned


def rebuild_paragraphs(pages: list[str]) -> str:
    """Join a PDF's lines into paragraphs separated by blank lines.

    Hyphenated line breaks are joined ("know-" + "ledge" -> "knowledge"); a paragraph ends at
    a blank line, or at a short line that ends a sentence.
    """
    page_lines = _clean_pages(pages)
    lengths = [len(ln.strip()) for lines in page_lines for ln in lines if ln.strip()]
    typical = statistics.median(lengths) if lengths else 0
    paras: list[str] = []
    cur = ""
    for lines in page_lines:
        for ln in lines:
            s = ln.strip()
            if not s:
                if cur:
                    paras.append(cur)
                    cur = ""
                continue
            if cur.endswith("-") and len(cur) > 1 and cur[-2].isalpha() and s[:1].islower():
                cur = cur[:-1] + s
            else:
                cur = f"{cur} {s}" if cur else s
            if _SENT_END.search(s) and len(s) < 0.8 * typical:
                paras.append(cur)
                cur = ""
    if cur:
        paras.append(cur)
    return "\n\n".join(p for p in paras if p.strip())


def good_title(title: str | None) -> str | None:
    """The metadata title, unless it is a file name or a converter's label."""
    if not title:
        return None
    t = title.strip()
    if len(t) < 3 or _JUNK_TITLE.search(t):
        return None
    return t


def read_pdf(src: SourceFile) -> Iterator[RawRecord]:
    """A PDF is one document: its text layer, with metadata title and author when they are real.

    The metadata ``CreationDate`` is when the file was made, not when the text was published,
    so it is kept in ``extra`` and never used as the date.
    """
    errors = []
    pages: list[str] = []
    meta: dict = {}
    engine = None
    for name, fn in (("pypdf", _pypdf_pages), ("pdfminer", _pdfminer_pages)):
        try:
            got, got_meta = fn(src.raw)
        except _Encrypted as exc:
            raise SkipFile("encrypted", f"password-protected PDF ({exc})") from None
        except RecursionError:
            errors.append(f"{name}: RecursionError")
            continue
        except Exception as exc:  # damaged PDFs raise anything from either library
            errors.append(f"{name}: {exc.__class__.__name__}: {str(exc)[:120]}")
            continue
        meta = meta or got_meta
        if _letters(got) >= MIN_LETTERS:
            pages, engine = got, name
            break
        errors.append(f"{name}: no text")
    if not pages:
        if all(e.endswith("no text") for e in errors):
            raise SkipFile("no_text", "no text layer (scanned?)")
        raise SkipFile("parse_error", "; ".join(errors))
    text = rebuild_paragraphs(pages)
    if _letters([text]) < MIN_LETTERS:
        raise SkipFile("no_text", "no text layer (scanned?)")
    src.encoding, src.encoding_source = "pdf", "embedded"
    extra = {"pdf_engine": engine, "pages": len(pages)}
    if errors:
        extra["pdf_fallback_reason"] = errors[0]
    if meta.get("CreationDate"):
        extra["pdf_creation_date"] = meta["CreationDate"]
    raw_title = meta.get("Title")
    title = good_title(raw_title)
    if raw_title and not title:
        extra["pdf_title_ignored"] = raw_title
    author = (meta.get("Author") or "").strip() or None
    yield RawRecord(text=text, title=title, author=author, extra=extra)
