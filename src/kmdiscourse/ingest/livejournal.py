"""LiveJournal / Dreamwidth XML exports (``<livejournal><entry>...``): one document per entry."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from ..errors import FormatError
from .base import RawRecord, SkipFile, SourceFile
from .htmltext import html_to_text
from .xmlutil import check_entities, decode_xml, local, utf8_xml, xml_parser

_RAW_ENTRY = re.compile(rb"<entry[\s>]")


def _event_html(event: str, preformatted: bool) -> str:
    """LiveJournal renders newlines in a post as line breaks unless it is marked preformatted."""
    if preformatted:
        return event
    event = event.replace("\r\n", "\n").replace("\r", "\n")
    return event.replace("\n", "<br>\n")


def read_livejournal(src: SourceFile) -> Iterator[RawRecord]:
    """Each ``<entry>`` (``itemid``, ``eventtime``, ``subject``, ``event`` HTML) is a blog post.

    ``eventtime`` is the author's local time with no zone; its day is the date. Private entries
    are skipped and counted; LJ tags such as ``<lj user="name">`` and ``<lj-cut>`` are unwrapped.
    """
    from lxml import etree

    text = decode_xml(src)
    check_entities(text, src)
    data = utf8_xml(text)
    raw_entries = len(_RAW_ENTRY.findall(data))
    try:
        root = etree.fromstring(data, parser=xml_parser())
    except etree.XMLSyntaxError as exc:
        root = etree.fromstring(data, parser=xml_parser(recover=True))
        found = 0 if root is None else sum(1 for el in root.iter() if local(el.tag) == "entry")
        if not found:
            raise FormatError(f"{src.path}:{exc.lineno}: LiveJournal export is not well-formed XML "
                              f"({exc.msg}); 0 of {raw_entries} entries recovered") from exc
        src.warn(f"{src.path}:{exc.lineno}: LiveJournal export is not well-formed XML ({exc.msg}); "
                 f"recovered {found} of {raw_entries} entries")
        src.records_skipped += max(0, raw_entries - found)
    entries = [el for el in root.iter() if local(el.tag) == "entry"]
    if not entries:
        raise SkipFile("no_text", "LiveJournal export has no entries")
    skipped: Counter = Counter()
    for n, entry in enumerate(entries):
        f = {local(ch.tag): (ch.text or "") for ch in entry if local(ch.tag)}
        security = f.get("security", "").strip() or "public"
        if security == "private":
            skipped["private"] += 1
            continue
        itemid = f.get("itemid", "").strip() or f.get("jitemid", "").strip() or str(n)
        key = f"#entry{itemid}"
        pre = f.get("opt_preformatted", "").strip() in ("1", "true")
        body = html_to_text(_event_html(f.get("event", ""), pre))
        if not body.strip():
            src.records_skipped += 1
            src.warn(f"{src.path}{key}: entry has no text; skipped")
            continue
        extra = {k: f[k].strip() for k in ("current_mood", "current_music", "taglist") if f.get(k, "").strip()}
        extra["security"] = security
        extra["lj_itemid"] = itemid
        subject = html_to_text(f.get("subject", "")).replace("\n", " ") or None
        yield RawRecord(
            text=body, key=key, title=subject, author=f.get("poster", "").strip() or None,
            date=f.get("eventtime", "").strip() or f.get("logtime", "").strip() or None,
            url=f.get("url", "").strip() or None, source_type="blog", date_source="livejournal",
            extra=extra,
        )
    if skipped:
        src.detail = "skipped entries: " + ", ".join(f"{n} {k}" for k, n in skipped.items())
