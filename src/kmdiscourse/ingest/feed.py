"""RSS, Atom and RDF feeds (and Blogger Atom exports): one document per entry, via feedparser."""
from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator

from ..dates import parse_date
from ..errors import FormatError
from .base import RawRecord, SkipFile, SourceFile
from .decode import decode_bytes
from .htmltext import html_to_text
from .xmlutil import check_entities, decode_xml, utf8_xml

_BLOGGER_KIND = "schemas.google.com/blogger/2008/kind#"
_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")
_FULL_DAY = re.compile(r"\d{4}")
_ROOT = re.compile(r"<([A-Za-z_][\w:.-]*)[\s>/]")


def parse_feed(src: SourceFile):
    """feedparser's result for the file, decoded by us (so undeclared KOI8-R needs no chardet)."""
    import feedparser

    text = decode_xml(src)
    check_entities(text, src)
    try:
        return feedparser.parse(io.BytesIO(utf8_xml(text)), sanitize_html=True, resolve_relative_uris=False)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        # feedparser's handlers assume well-formed attributes (e.g. int(None) for a bad <width>)
        raise FormatError(f"{src.path}: feedparser could not read this feed "
                          f"({exc.__class__.__name__}: {exc}); expected RSS, Atom or RDF") from exc


def _entry_text(entry) -> tuple[str, str]:
    """The entry's fullest text (content over summary) as paragraph text, and where it came from."""
    candidates = []
    for part in entry.get("content") or []:
        candidates.append(("content", part.get("value") or "", part.get("type") or "text/html"))
    detail = entry.get("summary_detail") or {}
    if entry.get("summary"):
        candidates.append(("summary", entry.get("summary") or "", detail.get("type") or "text/html"))
    best, where = "", ""
    for name, value, ctype in candidates:
        text = html_to_text(value) if any(t in ctype for t in _HTML_TYPES) else _plain(value)
        if len(text) > len(best) * 1.05 or (name == "content" and len(text) >= len(best) and text):
            best, where = text, name
    return best, where


def _plain(value: str) -> str:
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", value)]
    return "\n\n".join(p for p in paras if p)


def _raw_date(entry) -> tuple[str | None, object]:
    for key in ("published", "updated", "created"):
        if entry.get(key):
            return str(entry[key]), entry.get(f"{key}_parsed")
    return None, None


def _kinds(entry) -> list[str]:
    return [t.get("term", "").split("#", 1)[1] for t in entry.get("tags") or []
            if _BLOGGER_KIND in (t.get("term") or "") or _BLOGGER_KIND in (t.get("scheme") or "")
            and "#" in (t.get("term") or "")]


def read_feed(src: SourceFile) -> Iterator[RawRecord]:
    """One document per feed entry: full text (``content:encoded``/``content`` over the summary),
    title, link, author, the raw date string (parsed later, Russian month names included), the
    entry's guid as id. An ill-formed feed keeps what feedparser recovered, with a warning.
    Blogger exports keep only posts.
    """
    parsed = parse_feed(src)
    entries = list(parsed.entries)
    error = parsed.get("bozo_exception") if parsed.get("bozo") else None
    where = ""
    if error is not None:
        line = getattr(error, "getLineNumber", lambda: None)()
        where = f":{line}" if line else ""
    if not entries:
        if error is not None:
            raise FormatError(f"{src.path}{where}: not a readable feed ({error.__class__.__name__}: "
                              f"{str(error)[:200]}); no entries recovered")
        raise SkipFile("no_text", "feed has no entries")
    if error is not None:
        src.warn(f"{src.path}{where}: ill-formed feed ({error.__class__.__name__}: {str(error)[:200]}); "
                 f"kept the {len(entries)} entries feedparser recovered")
    feed_lang = (parsed.feed.get("language") or "") or None
    blogger = any(_kinds(e) for e in entries)
    skipped: Counter = Counter()
    for n, entry in enumerate(entries):
        key = f"#entry{n}"
        if blogger:
            kinds = _kinds(entry)
            kind = kinds[0] if kinds else "unknown"
            if kind != "post":
                skipped[kind] += 1
                continue
        btype = str(entry.get("blogger_type") or "").lower()
        bstatus = str(entry.get("blogger_status") or "").lower()
        if btype and btype != "post" or bstatus and bstatus != "live":
            skipped[f"{btype or 'post'}:{bstatus or 'live'}"] += 1
            continue
        text, _ = _entry_text(entry)
        if not text.strip():
            src.records_skipped += 1
            src.warn(f"{src.path}{key}: entry has no text (title only); skipped")
            continue
        raw_date, date_parsed = _raw_date(entry)
        date = raw_date
        if raw_date and parse_date(raw_date) is None and date_parsed and \
                len(re.findall(r"\d+", raw_date)) >= 3 and _FULL_DAY.search(raw_date):
            import datetime as dt

            date = dt.date(date_parsed.tm_year, date_parsed.tm_mon, date_parsed.tm_mday)
        title = entry.get("title")
        tdetail = entry.get("title_detail") or {}
        if title and any(t in (tdetail.get("type") or "") for t in _HTML_TYPES) and "<" in title:
            title = html_to_text(title).replace("\n", " ")
        lang = None
        for part in entry.get("content") or []:
            lang = lang or part.get("language")
        lang = lang or (entry.get("summary_detail") or {}).get("language") or feed_lang
        extra = {}
        tags = [t.get("term") for t in entry.get("tags") or [] if t.get("term") and _BLOGGER_KIND not in t["term"]]
        if tags:
            extra["tags"] = tags
        if raw_date and not isinstance(date, str):
            extra["date_feed"] = raw_date
        yield RawRecord(
            text=text, key=key, id=entry.get("id") or None, title=title or None,
            author=entry.get("author") or None, date=date, url=entry.get("link") or None,
            lang=lang, date_source="feed" if date else None, extra=extra,
        )
    if skipped:
        src.detail = "skipped entries: " + ", ".join(f"{n} {k}" for k, n in skipped.most_common())


def read_xml(src: SourceFile) -> Iterator[RawRecord]:
    """XML not recognised by its first bytes (UTF-16/32 files, odd roots): sniffed again after
    decoding and handed to the feed, WordPress or LiveJournal reader; else read as a feed if
    feedparser finds entries with text, else skipped as ``unsupported_format`` naming the root."""
    from .registry import sniff_xml

    text = decode_bytes(src.raw).text
    kind = sniff_xml(text[:8192].encode("utf-8", "replace"))
    if kind in ("wxr", "livejournal"):
        from .livejournal import read_livejournal
        from .wxr import read_wxr

        yield from (read_wxr if kind == "wxr" else read_livejournal)(src)
        return
    if kind == "html":
        from .html import read_html

        yield from read_html(src)
        return
    body = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", text[:20000], flags=re.S)
    m = _ROOT.search(body)
    root = m.group(1) if m else "?"
    try:
        records = list(read_feed(src))
    except SkipFile as exc:
        if exc.reason == "unsafe_xml" or kind == "feed":
            raise
        records = []
    except FormatError:
        if kind == "feed":
            raise
        records = []
    if not records and kind != "feed":
        src.warnings.clear()
        src.records_skipped = 0
        raise SkipFile("unsupported_format", f"XML with root <{root}> is not a feed, WordPress or "
                                             f"LiveJournal export")
    if kind != "feed":
        src.warn(f"{src.path}: XML root <{root}> is not a feed root; read with feedparser")
    yield from records
