"""Mailing-list archives (mbox): one forum document per message, quotes and signatures removed."""
from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Iterator
from email.message import EmailMessage

from .base import RawRecord, SkipFile, SourceFile
from .decode import decode_bytes

# An mbox message starts at a line beginning with "From " (what ``mailbox.mbox`` splits on).
# ``mailbox.mbox`` needs a file on disk; archive members are read in memory, so the split is
# done here on the bytes, the same way, and each message is parsed with ``email``.
_FROM_LINE = re.compile(rb"^From ", re.M)
_QUOTE = re.compile(r"^[ \t]*>")
_ESCAPED_FROM = re.compile(r"^>(>*From )", re.M)  # mboxrd/mboxo quoting of body "From " lines
_ATTRIBUTION = re.compile(
    r"(wrote|writes|said|пишет|писал|писала|написал|написала)\s*(\(а\))?\s*:\s*$", re.I)
_SIG = re.compile(r"^--[ \t]?$")
_MSGID = re.compile(r"<([^<>\s]+)>")
_BLOCK_TAGS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
               "pre", "table", "ul", "ol")


def split_mbox(raw: bytes) -> list[bytes]:
    """The messages of an mbox file, each without its ``From `` separator line."""
    starts = [m.start() for m in _FROM_LINE.finditer(raw)]
    if not starts:
        return [raw] if raw.strip() else []  # a single message saved without a From_ line
    out = []
    if raw[: starts[0]].strip():
        out.append(raw[: starts[0]])  # headers before the first separator: a message too
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(raw)
        chunk = raw[start:end]
        nl = chunk.find(b"\n")
        out.append(chunk[nl + 1:] if nl >= 0 else b"")
    return out


def _msgid(value) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    m = _MSGID.search(s)
    s = m.group(1) if m else s
    return s or None


_COMMENT_NAME = re.compile(r"\(([^()]+)\)\s*$")


def _unescape_8bit(s: str) -> str:
    """Header text with raw 8-bit bytes (kept by ``email`` as surrogates) decoded properly."""
    if any("\udc80" <= c <= "\udcff" for c in s):
        return decode_bytes(s.encode("utf-8", "surrogateescape")).text
    return s


def _decode_words(s: str) -> str:
    """RFC 2047 encoded words, each decoded leniently (a declared charset can be wrong)."""
    parts = []
    for chunk, charset in email.header.decode_header(s):
        parts.append(decode_bytes(chunk, declared=charset).text if isinstance(chunk, bytes) else chunk)
    return "".join(parts)


def _author(msg: EmailMessage) -> str | None:
    """The sender's display name only; the address stays out of the data.

    Pipermail archives write ``jgb at example.com (Jesus M. Gonzalez-Barahona)``: the name
    is the comment.
    """
    raw = next((v for k, v in msg.raw_items() if k.lower() == "from"), None)
    if raw is None:
        return None
    header = re.sub(r"\s+", " ", _unescape_8bit(str(raw))).strip()
    name = None
    try:
        for a in getattr(msg.get("From"), "addresses", ()) or ():
            if a.display_name:
                name = a.display_name
                break
    except Exception:  # a malformed header raises on access with policy=default
        pass
    if not name:
        m = _COMMENT_NAME.search(header)
        if m:
            name = _decode_words(m.group(1))
    if not name:
        name, _addr = email.utils.parseaddr(header)
    if not name or "@" in name or " at " in name:
        return None
    return _unescape_8bit(name).strip().strip('"').strip() or None


def _part_text(part) -> tuple[str, str | None, str | None]:
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = part.get_payload()
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogateescape")
        else:
            return "", None, None
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    if charset in ("us-ascii", "ascii"):
        charset = None  # the default when none is given; 8-bit bytes prove it wrong anyway
    dec = decode_bytes(payload, declared=charset)
    text = dec.text
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return text, dec.encoding, dec.encoding_source


def html_to_text(html: str) -> str:
    """Plain text of an HTML mail part, one paragraph per block element."""
    import lxml.html

    try:
        root = lxml.html.fromstring(html)
    except Exception:  # lxml refuses empty or odd documents
        return re.sub(r"<[^>]+>", " ", html)
    for bad in root.xpath("//script|//style|//head"):
        bad.drop_tree()
    for el in root.iter(*_BLOCK_TAGS):
        el.tail = "\n\n" + (el.tail or "")
    return root.text_content()


def strip_quotes_and_signature(text: str) -> tuple[str, int, int]:
    """Drop quoted reply lines (``> ...``, with their "X wrote:" line) and the signature.

    Returns the text and the numbers of quoted and signature lines dropped.
    """
    text = _ESCAPED_FROM.sub(r"\1", text)
    lines = text.split("\n")
    sig_at = next((i for i, line in enumerate(lines) if _SIG.match(line)), None)
    sig_lines = 0
    if sig_at is not None:
        sig_lines = len(lines) - sig_at
        lines = lines[:sig_at]
    kept: list[str] = []
    quoted = 0
    for i, line in enumerate(lines):
        if _QUOTE.match(line):
            quoted += 1
            continue
        if _ATTRIBUTION.search(line) and _next_is_quote(lines, i):
            quoted += 1
            continue
        kept.append(line)
    return "\n".join(kept).strip(), quoted, sig_lines


def _next_is_quote(lines: list[str], i: int) -> bool:
    for line in lines[i + 1:]:
        if line.strip():
            return bool(_QUOTE.match(line))
    return False


def _header(msg: EmailMessage, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:
        value = msg.get_all(name, failobj=[None])[0] if hasattr(msg, "get_all") else None
    if value is None:
        return None
    s = re.sub(r"\s+", " ", _unescape_8bit(str(value))).strip()
    return s or None


def _parse(n: int, raw: bytes, src: SourceFile, encodings: set) -> tuple[RawRecord, str | None, str | None] | None:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if not msg.keys():
        src.warn(f"{src.path}#msg{n}: message {n} has no headers; skipped")
        src.records_skipped += 1
        return None
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is None and not msg.is_multipart() and msg.get_content_maintype() == "text":
        body = msg
    text, enc, how = _part_text(body) if body is not None else ("", None, None)
    if enc:
        encodings.add((enc, how))
    text, quoted, sig = strip_quotes_and_signature(text.replace("\r\n", "\n").replace("\r", "\n"))
    if not text:
        src.warn(f"{src.path}#msg{n}: message {n} has no text of its own"
                 f"{' after removing quotes/signature' if quoted or sig else ''}; skipped")
        src.records_skipped += 1
        return None
    mid = _msgid(_header(msg, "Message-ID"))
    reply_to = _msgid(_header(msg, "In-Reply-To"))
    extra = {"quoted_lines_dropped": quoted, "signature_lines_dropped": sig}
    if mid:
        extra["message_id"] = mid
    list_id = _header(msg, "List-Id")
    if list_id:
        extra["list_id"] = list_id
    if body is not None and body.get_content_type() == "text/html":
        extra["body_type"] = "html"
    date = _header(msg, "Date")
    rec = RawRecord(
        text=text, key=f"#msg{n}", title=_header(msg, "Subject"), author=_author(msg), date=date,
        source_type="forum", date_source="mail_header" if date else None, extra=extra,
    )
    return rec, mid, reply_to


def read_mbox(src: SourceFile) -> Iterator[RawRecord]:
    """One ``forum`` record per message: Subject, sender's name, Date; replies linked by ``parent_id``.

    A message that cannot be parsed or has no text of its own is skipped with a warning that
    names its number (``#msg3``); the rest of the file is read.
    """
    messages = split_mbox(src.raw)
    if not messages:
        raise SkipFile("empty", "no messages")
    parsed: list[tuple[RawRecord, str | None, str | None]] = []
    encodings: set[tuple[str, str]] = set()
    for n, raw in enumerate(messages, 1):
        try:
            item = _parse(n, raw, src, encodings)
        except Exception as exc:  # email's parser and header registry raise many types
            src.warn(f"{src.path}#msg{n}: message {n} cannot be parsed "
                      f"({exc.__class__.__name__}: {str(exc)[:120]}); skipped")
            src.records_skipped += 1
            continue
        if item is not None:
            parsed.append(item)
    seen = {mid for _, mid, _ in parsed if mid}
    used: set[str] = set()
    for rec, mid, reply_to in parsed:
        if mid and mid not in used:
            rec.id = mid
            used.add(mid)
        else:  # no or a repeated Message-ID: a hash of the message itself, stable across runs
            h = hashlib.sha1(f"{rec.author}\x1f{rec.date}\x1f{rec.title}\x1f{rec.text}".encode(
                "utf-8", "surrogatepass")).hexdigest()[:16]
            rec.id = f"msg-{h}" if f"msg-{h}" not in used else f"msg-{h}-{rec.key[4:]}"
            used.add(rec.id)
            if mid:
                rec.extra["message_id_repeated"] = True
        if reply_to and reply_to in seen and reply_to != mid:
            rec.parent_id = reply_to
        elif reply_to:
            rec.extra["in_reply_to"] = reply_to
    if encodings:
        names = sorted({e for e, _ in encodings})
        hows = sorted({h for _, h in encodings})
        src.encoding = names[0] if len(names) == 1 else "mixed:" + ",".join(names)
        src.encoding_source = hows[0] if len(hows) == 1 else "mixed:" + ",".join(hows)
    if not parsed:
        raise SkipFile("no_text", f"{len(messages)} message(s), none with text of its own")
    for rec, _, _ in parsed:
        yield rec
