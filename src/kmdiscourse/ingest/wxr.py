"""WordPress exports (WXR 1.0-1.2): one document per published post or page, comments as forum posts."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from ..errors import FormatError
from .base import RawRecord, SkipFile, SourceFile
from .htmltext import html_to_text
from .xmlutil import check_entities, decode_xml, local, namespace, utf8_xml, xml_parser

#: Post types that are writing; everything else (attachment, nav_menu_item, wp_*) is skipped.
POST_TYPES = ("post", "page")
_RAW_ITEM = re.compile(rb"<item[\s>]")
_ZERO_DATE = re.compile(r"^0000-00-00")


def _is_wp(tag) -> bool:
    ns = namespace(tag)
    return "wordpress.org/export/" in ns and "/excerpt/" not in ns


def _fields(item) -> dict:
    """The item's direct children by role: ``wp:*`` by local name, content, excerpt, creator."""
    out: dict = {"categories": [], "tags": [], "comments": []}
    for child in item:
        tag, ns = local(child.tag), namespace(child.tag)
        if not tag:
            continue
        if tag == "comment" and _is_wp(child.tag):
            out["comments"].append(child)
        elif tag == "category" and not ns:
            (out["tags"] if child.get("domain") == "post_tag" else out["categories"]).append(
                (child.text or "").strip())
        elif _is_wp(child.tag):
            out.setdefault(f"wp:{tag}", (child.text or "").strip())
        elif tag == "encoded" and "purl.org/rss/1.0/modules/content" in ns:
            out.setdefault("content", child.text or "")
        elif tag == "encoded" and "/excerpt/" in ns:
            out.setdefault("excerpt", child.text or "")
        elif tag == "creator":
            out.setdefault("creator", (child.text or "").strip())
        elif not ns:
            out.setdefault(tag, (child.text or "").strip())
    return out


def _wp_date(gmt: str | None, local_date: str | None) -> str | None:
    for value in (gmt, local_date):
        if value and not _ZERO_DATE.match(value):
            return value
    return None


def parse_wxr(src: SourceFile):
    """The parsed tree, the XML error (if recovery was needed) and how many raw ``<item>``s the bytes hold."""
    from lxml import etree

    text = decode_xml(src)
    check_entities(text, src)
    data = utf8_xml(text)
    raw_items = len(_RAW_ITEM.findall(data))
    try:
        return etree.fromstring(data, parser=xml_parser()), None, raw_items
    except etree.XMLSyntaxError as exc:
        error = exc
    root = None
    try:
        root = etree.fromstring(data, parser=xml_parser(recover=True))
    except etree.XMLSyntaxError:
        pass
    return root, error, raw_items


def read_wxr(src: SourceFile) -> Iterator[RawRecord]:
    """Published posts and pages as documents; their approved comments as ``forum`` documents.

    Drafts, private, future and password-protected posts, attachments, menu items and other
    ``wp_*`` items are skipped and counted in the manifest detail. Dates come from
    ``wp:post_date_gmt`` (drafts' ``0000-00-00`` falls back to ``wp:post_date``). Content HTML,
    with WordPress's blank-line paragraphs, Gutenberg comments and shortcodes, becomes
    paragraph text. A malformed export is recovered where lxml can; items lost on the way are
    counted from the raw bytes and reported, and an export with none left fails.
    """
    from .core import stable_id

    root, error, raw_items = parse_wxr(src)
    items = [] if root is None else [el for el in root.iter() if local(el.tag) == "item"]
    if error is not None:
        line = getattr(error, "lineno", None)
        msg = f"{error.msg if hasattr(error, 'msg') else error}"
        if not items:
            raise FormatError(f"{src.path}:{line}: WordPress export is not well-formed XML ({msg}); "
                              f"0 of {raw_items} items recovered")
        lost = raw_items - len(items)
        src.warn(f"{src.path}:{line}: WordPress export is not well-formed XML ({msg}); "
                 f"recovered {len(items)} of {raw_items} items" + (f", {lost} lost" if lost > 0 else ""))
        if lost > 0:
            src.records_skipped += lost
    if not items:
        raise SkipFile("no_text", "WordPress export has no items (site settings, authors or terms only)")
    skipped: Counter = Counter()
    comments_skipped: Counter = Counter()
    n_comments = 0
    for item in items:
        f = _fields(item)
        ptype = f.get("wp:post_type") or "post"
        status = f.get("wp:status") or "publish"
        post_id = f.get("wp:post_id") or str(len(skipped) + n_comments)
        if ptype not in POST_TYPES:
            skipped[ptype] += 1
            continue
        if status != "publish":
            skipped[f"{ptype}:{status}"] += 1
            continue
        if f.get("wp:post_password"):
            skipped[f"{ptype}:password"] += 1
            continue
        key = f"#post{post_id}"
        text = html_to_text(f.get("content") or "", wordpress=True)
        if not text.strip():
            src.records_skipped += 1
            src.warn(f"{src.path}{key}: published {ptype} {f.get('title', '')[:60]!r} has no text; skipped")
            continue
        url = f.get("link") or None
        doc_id = stable_id(src.path, key, url or "")
        extra = {"post_type": ptype, "wp_post_id": post_id}
        if f["categories"]:
            extra["categories"] = [c for c in f["categories"] if c]
        if f["tags"]:
            extra["tags"] = [t for t in f["tags"] if t]
        if f.get("guid"):
            extra["guid"] = f["guid"]
        yield RawRecord(
            text=text, key=key, id=doc_id, title=f.get("title") or None, author=f.get("creator") or None,
            date=_wp_date(f.get("wp:post_date_gmt"), f.get("wp:post_date")), url=url,
            source_type="blog" if ptype == "post" else None, date_source="wxr", extra=extra,
        )
        for comment in f["comments"]:
            c = {local(ch.tag): (ch.text or "") for ch in comment if local(ch.tag)}
            approved = c.get("comment_approved", "").strip()
            ctype = c.get("comment_type", "").strip() or "comment"
            if approved != "1":
                comments_skipped["spam" if approved == "spam" else "unapproved"] += 1
                continue
            if ctype in ("pingback", "trackback"):
                comments_skipped[ctype] += 1
                continue
            cid = c.get("comment_id", "").strip() or str(n_comments)
            ctext = html_to_text(c.get("comment_content", ""), wordpress=True)
            if not ctext.strip():
                comments_skipped["empty"] += 1
                continue
            n_comments += 1
            yield RawRecord(
                text=ctext, key=f"#comment{cid}", author=c.get("comment_author", "").strip() or None,
                date=_wp_date(c.get("comment_date_gmt", "").strip(), c.get("comment_date", "").strip()),
                url=f"{url}#comment-{cid}" if url else None, source_type="forum", parent_id=doc_id,
                title=f"Re: {f['title']}" if f.get("title") else None, date_source="wxr",
                extra={"wp_comment_id": cid, "comment_parent": c.get("comment_parent", "").strip() or None},
            )
    notes = []
    if skipped:
        notes.append(f"{sum(skipped.values())} items skipped (" +
                     ", ".join(f"{n} {k}" for k, n in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))) + ")")
    if comments_skipped:
        notes.append(f"{sum(comments_skipped.values())} comments skipped (" +
                     ", ".join(f"{n} {k}" for k, n in comments_skipped.most_common()) + ")")
    if notes:
        src.detail = "; ".join(notes)
