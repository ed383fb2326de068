"""Plain text and Markdown files (with optional YAML front matter)."""
from __future__ import annotations

import re
from collections.abc import Iterator

import yaml

from ..records import GENRES, SOURCE_TYPES
from .base import RawRecord, SkipFile, SourceFile
from .decode import decode_bytes

_FRONT = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_MD_NOISE = [
    (re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.M), r"\1"),  # headings -> text
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images -> alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links -> link text
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"^\s{0,3}>\s?", re.M), ""),
    (re.compile(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+", re.M), ""),
]
#: libyaml's parser when PyYAML was built with it (same constructors, several times faster)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_META_KEYS = ("title", "date", "author", "url", "genre", "lang", "source_type", "id")


def _front_matter(text: str, src: SourceFile) -> tuple[dict, str]:
    m = _FRONT.match(text)
    if not m:
        return {}, text
    try:
        meta = yaml.load(m.group(1), Loader=_YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        src.warn(f"{src.path}:1: front matter is not valid YAML ({exc.__class__.__name__}); read as text")
        return {}, text
    if not isinstance(meta, dict):
        src.warn(f"{src.path}:1: front matter is not a mapping; ignored")
        return {}, text[m.end():]
    return meta, text[m.end():]


def _record(meta: dict, body: str, src: SourceFile) -> RawRecord:
    def get(key):
        value = meta.get(key)
        return None if value is None else str(value) if not hasattr(value, "isoformat") else value

    genre = get("genre")
    stype = get("source_type")
    extra = {k: (str(v) if not isinstance(v, (str, int, float, bool)) else v)
             for k, v in meta.items() if k not in _META_KEYS}
    if genre is not None and genre not in GENRES:
        src.warn(f"{src.path}:1: genre {genre!r} is not one of {', '.join(GENRES)}; ignored")
        genre = None
    if stype is not None and stype not in SOURCE_TYPES:
        src.warn(f"{src.path}:1: source_type {stype!r} is not one of {', '.join(SOURCE_TYPES)}; ignored")
        stype = None
    return RawRecord(
        text=body, id=get("id"), title=get("title"), author=get("author"), date=meta.get("date"),
        url=get("url"), genre=genre, lang=get("lang"), source_type=stype,
        date_source="front_matter" if meta.get("date") else None, extra=extra,
    )


#: A labelled date line: "Опубликовано: 12.03.2004", "Posted on March 3, 2009", "Дата: 19 декабря 2005".
_DATE_LINE = re.compile(
    r"^\W{0,3}(?:опубликовано|дата публикации|дата|размещено|posted on|posted|published on|published|"
    r"date|written on)\s*(?:[:\-–—]\s*|\s)(?P<value>.{6,40}?)\s*[.;]?$",
    re.I,
)
DATE_LINE_WINDOW = 5


def find_text_date(text: str) -> str | None:
    """An explicit, labelled publication date on one of the first or last few lines, or None.

    Conservative: the line must start with a label (``Опубликовано:``, ``Posted on``, ``Дата:``)
    and the rest of the line must be a full date (day, month and year); dates in running text
    are ignored.
    """
    from ..dates import parse_date

    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    window = lines[:DATE_LINE_WINDOW] + lines[-DATE_LINE_WINDOW:] if len(lines) > 2 * DATE_LINE_WINDOW else lines
    for line in window:
        m = _DATE_LINE.match(line)
        if m and parse_date(m.group("value")) is not None:
            return m.group("value")
    return None


def read_text(src: SourceFile) -> Iterator[RawRecord]:
    """A ``.txt`` file is one document; a YAML front matter block, if present, is metadata.

    Without a front matter date, a labelled date line near the top or bottom
    (:func:`find_text_date`) gives the date, with ``date_source`` ``text``.
    """
    dec = decode_bytes(src.raw)
    src.encoding, src.encoding_source, src.replacements = dec.encoding, dec.encoding_source, dec.replacements
    meta, body = _front_matter(dec.text, src)
    if not body.strip():
        raise SkipFile("empty", "no text")
    rec = _record(meta, body, src)
    if rec.date is None:
        found = find_text_date(body)
        if found:
            rec.date, rec.date_source = found, "text"
    yield rec


def strip_markdown(text: str) -> str:
    """Markdown to running text: headings, emphasis, links and list markers removed."""
    text = re.sub(r"^```.*?^```\s*$", "", text, flags=re.S | re.M)  # code blocks
    for pattern, repl in _MD_NOISE:
        text = pattern.sub(repl, text)
    return text


def read_markdown(src: SourceFile) -> Iterator[RawRecord]:
    """A ``.md`` file is one document: front matter is metadata, Markdown syntax is removed."""
    for rec in read_text(src):
        rec.text = strip_markdown(rec.text)
        if not rec.text.strip():
            raise SkipFile("empty", "no text after the front matter")
        yield rec
