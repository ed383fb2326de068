"""Saved HTML pages: main text via trafilatura (no navigation, no comments) and page metadata."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import lru_cache

from ..errors import MissingDependencyError
from .base import RawRecord, SkipFile, SourceFile
from .decode import decode_bytes
from .htmltext import html_to_text
from .text import find_text_date
from .xmlutil import check_plausible

_MONTHS = {
    1: "jan|янв", 2: "feb|фев", 3: "mar|мар", 4: "apr|апр", 5: "may|ма[йя]", 6: "jun|июн",
    7: "jul|июл", 8: "aug|авг", 9: "sep|сен", 10: "oct|окт", 11: "nov|ноя", 12: "dec|дек",
}
_AUTHOR_PREFIX = re.compile(r"^(view all posts by|posted by|written by|by|автор|текст)\s*:?\s+", re.I)
_NOT_AUTHOR = re.compile(r"(фото|photo|foto|image|getty|shutterstock|http)", re.I)
_HTML_LANG = re.compile(r"""<html\b[^>]*?\blang\s*=\s*["']?\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)?""", re.I)
_META_LANG = re.compile(
    r"""<meta\b[^>]*?http-equiv\s*=\s*["']?content-language["']?[^>]*?content\s*=\s*["']?\s*([A-Za-z]{2,3})""",
    re.I)
#: Fewer words than this is navigation or a caption, not a text (the passage splitter's minimum).
MIN_WORDS = 5
_HAS_HTML_ROOT = re.compile(r"<(html|body)[\s>]", re.I)


@lru_cache(maxsize=1)
def _trafilatura():
    try:
        import trafilatura
    except ImportError as exc:  # lxml >= 5.2 moved lxml.html.clean out: justext then fails to import
        hint = "lxml_html_clean" if "clean" in str(exc) else "trafilatura"
        raise MissingDependencyError(
            f"reading HTML needs trafilatura and lxml_html_clean ({exc}); "
            f"install them with: pip install trafilatura lxml_html_clean (missing: {hint})") from exc
    for name in ("trafilatura", "htmldate", "trafilatura.core", "trafilatura.utils"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # it logs every page it rejects
    _restrict_htmldate()
    return trafilatura


@lru_cache(maxsize=1)
def _date_parser():
    from dateparser import DateDataParser

    return DateDataParser(languages=["en", "ru"], settings={
        "NORMALIZE": True, "PARSERS": ["custom-formats", "absolute-time"], "PREFER_DATES_FROM": "past",
        "PREFER_LOCALE_DATE_ORDER": True, "RETURN_AS_TIMEZONE_AWARE": False, "STRICT_PARSING": True,
        "REQUIRE_PARTS": ["day", "month", "year"],
    })


def _restrict_htmldate() -> None:
    """Give htmldate's text search a dateparser that knows English and Russian and needs a full day.

    htmldate's own parser tries all ~400 dateparser locales on every candidate string (seconds
    per page) and turns "2005" into 2005-01-01. htmldate has no option for this, so its
    factory function is replaced.
    """
    try:
        import htmldate.extractors as ex
    except ImportError:
        return
    if hasattr(ex, "get_external_parser"):
        ex.get_external_parser = _date_parser
        if hasattr(ex.try_date_expr, "cache_clear"):
            ex.try_date_expr.cache_clear()


def declared_lang(text: str) -> str | None:
    """The page's declared language (``<html lang>``, ``Content-Language``): a hint only."""
    head = text[:20000]
    m = _HTML_LANG.search(head) or _META_LANG.search(head)
    return m.group(1).lower() if m else None


def extract_page(text: str):
    """trafilatura's result for ``text`` (favouring precision, without comments), or None."""
    import datetime as dt

    traf = _trafilatura()
    params = {"original_date": True, "extensive_search": True, "max_date": dt.date.today().isoformat()}
    return traf.bare_extraction(text, with_metadata=True, include_comments=False, favor_precision=True,
                                include_tables=True, include_images=False, include_links=False,
                                date_extraction_params=params)


def read_html(src: SourceFile) -> Iterator[RawRecord]:
    """A saved web page is one document: trafilatura's main text and the page's metadata.

    The bytes are decoded here (BOM, declared charset, strict UTF-8, detection) so that pages
    in windows-1251 or KOI8-R with no or a wrong declaration come out right; trafilatura gets
    text. A bare fragment that trafilatura rejects is wrapped in ``<html><body><div>`` and
    retried. The date comes from the page (metadata, then htmldate's search), never the file.
    """
    dec = decode_bytes(src.raw)
    src.encoding, src.encoding_source, src.replacements = dec.encoding, dec.encoding_source, dec.replacements
    if dec.replacements:
        src.warn(f"{src.path}: {dec.replacements} undecodable byte(s) replaced with U+FFFD "
                 f"({dec.encoding}, {dec.encoding_source})")
    check_plausible(dec.text, dec.encoding, dec.encoding_source)
    text = dec.text.lstrip("\ufeff")
    if not text.strip():
        raise SkipFile("empty", "no text")
    doc = extract_page(text)
    wrapped = False
    if (doc is None or not (doc.text or "").strip()) and not _HAS_HTML_ROOT.search(text[:5000]):
        doc = extract_page(f"<html><body><div>{text}</div></body></html>")
        wrapped = True
    if doc is None or doc.body is None:
        raise SkipFile("no_text", "trafilatura found no main text")
    body = html_to_text(doc.body)
    words = len(body.split())
    if words < MIN_WORDS:
        raise SkipFile("no_text", "trafilatura found no main text" + (f" (only {words} words)" if words else ""))
    if wrapped:
        src.warn(f"{src.path}: bare HTML fragment (no <html>/<body>); wrapped and extracted")
    extra = {}
    for key in ("sitename", "hostname", "description"):
        value = getattr(doc, key, None)
        if value:
            extra[key] = value
    for key in ("categories", "tags"):
        value = getattr(doc, key, None)
        if value:
            extra[key] = list(value)
    date, date_source = doc.date or None, "html"
    if date and not day_on_page(date, text):
        src.warn(f"{src.path}: htmldate gave {date}, but the page names no such day "
                 f"(a year or month alone); date left to the text")
        date = None
    if not date:
        date, date_source = find_text_date(body), "text"
    yield RawRecord(
        text=body,
        title=doc.title or None,
        author=clean_author(doc.author),
        date=date,
        url=doc.url or None,
        lang=declared_lang(text),
        date_source=date_source if date else None,
        extra=extra,
    )


def day_on_page(date: str, page: str) -> bool:
    """False when htmldate's ``YYYY-MM-01`` has no first-of-month on the page.

    htmldate fills in day 1 (and January) when it finds only a year or a month, and reads
    "19 декабря 2005" as 2005-01-01; a first of the month is kept only when the page says it.
    """
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", date)
    if not m or m.group(3) != "01":
        return True
    y, mo = m.group(1), int(m.group(2))
    month = _MONTHS[mo]
    patterns = (
        rf"{y}[-/.]0?{mo}[-/.]0?1(?!\d)", rf"(?<!\d)0?1[-/.]0?{mo}[-/.]{y}", rf"(?<!\d)0?{mo}/0?1/{y}",
        rf"(?<!\d)0?1(?:st|er)?\.?\s+(?:{month})\w*\.?,?\s+{y}", rf"(?:{month})\w*\.?\s+0?1(?:st)?,?\s+{y}",
    )
    return any(re.search(p, page, re.I) for p in patterns)


def clean_author(author: str | None) -> str | None:
    """trafilatura's author with "View all posts by" removed; photo credits and URLs dropped."""
    if not author:
        return None
    author = _AUTHOR_PREFIX.sub("", author.strip())
    if not author or _NOT_AUTHOR.search(author):
        return None
    return author
