"""Safe XML for the web readers: refuse entity declarations, decode once, parse without network."""
from __future__ import annotations

import re

from .base import SkipFile, SourceFile
from .decode import decode_bytes

_DOCTYPE = re.compile(r"<!DOCTYPE\b", re.I)
_ENTITY = re.compile(r"<!ENTITY\b", re.I)
_EXTERNAL_ENTITY = re.compile(r"<!ENTITY\s+%?\s*[\w.:-]+\s+(SYSTEM|PUBLIC)\b", re.I)
_ANY_XML_DECL = re.compile(r"""<\?xml\b[^>]*?\?>""", re.I)
_ENC_ATTR = re.compile(r"""(\bencoding\s*=\s*)(["'])[^"']*\2""", re.I)


def check_entities(text: str, src: SourceFile) -> None:
    """Refuse a document whose DOCTYPE declares entities (billion laughs, external entities).

    Legitimate feeds and WordPress exports never declare entities of their own; a DOCTYPE
    that only names an external DTD (old RSS 0.91) is harmless because nothing loads it.
    """
    head = text[:20000]
    m = _DOCTYPE.search(head)
    if not m:
        return
    if _ENTITY.search(text, m.start(), m.start() + 200_000):
        kind = "external entities" if _EXTERNAL_ENTITY.search(text, m.start(), m.start() + 200_000) \
            else "entity declarations"
        raise SkipFile("unsafe_xml", f"DOCTYPE with {kind} (entity expansion and external "
                                     f"entities are refused)")


def decode_xml(src: SourceFile) -> str:
    """Decode the file's bytes (BOM, declaration, UTF-8, detection) and record how on ``src``."""
    dec = decode_bytes(src.raw)
    src.encoding, src.encoding_source, src.replacements = dec.encoding, dec.encoding_source, dec.replacements
    if dec.replacements:
        src.warn(f"{src.path}: {dec.replacements} undecodable byte(s) replaced with U+FFFD "
                 f"({dec.encoding}, {dec.encoding_source})")
    check_plausible(dec.text, dec.encoding, dec.encoding_source)
    return dec.text.lstrip("\ufeff")


#: Below this share of ordinary letters, a detected 8-bit decoding is a guess that failed.
MIN_PLAUSIBILITY = 0.9


def check_plausible(text: str, encoding: str, source: str) -> None:
    """Refuse a *detected* decoding that does not look like Russian or Western text.

    The detector only chooses among the code pages Russian and English files use; Big5,
    Shift_JIS or TIS-620 bytes come out as box drawing and stray Cyrillic, which must not
    become passages.
    """
    if source != "detected":
        return
    from .decode import _plausibility

    visible = re.sub(r"<[^>]*>", " ", text[:200_000])
    upper, lower = len(re.findall(r"[А-ЯЁ]", visible)), len(re.findall(r"[а-яё]", visible))
    all_caps = upper >= 20 and upper > 9 * lower  # Hebrew or Greek bytes read as KOI8-R
    if _plausibility(visible) < MIN_PLAUSIBILITY or _BOXES.search(visible) or all_caps:
        raise SkipFile("unknown_encoding", f"not UTF-8 and no declared charset; the best guess ({encoding}) "
                                           f"gives implausible text")


_BOXES = re.compile(r"[\u2500-\u257f]\w|\w[\u2500-\u257f]")


def utf8_xml(text: str) -> bytes:
    """The decoded document as UTF-8 bytes whose XML declaration (if any) says UTF-8.

    Parsers given these bytes cannot second-guess our decoding with a declaration that lies;
    with no declaration, XML parsers assume UTF-8 anyway.
    """
    text = text.lstrip()
    m = _ANY_XML_DECL.search(text, 0, 4000)
    if m:
        decl = _ENC_ATTR.sub(r"\1\2utf-8\2", m.group(0))
        text = text[: m.start()] + decl + text[m.end():]
    return text.encode("utf-8", errors="replace")


def xml_parser(*, recover: bool = False):
    """An lxml parser that never expands entities, never loads a DTD or touches the network."""
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           recover=recover, remove_comments=False, strip_cdata=True)


def local(tag) -> str:
    """The local name of an lxml tag (``{ns}name`` -> ``name``); '' for comments and PIs."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def namespace(tag) -> str:
    if not isinstance(tag, str) or not tag.startswith("{"):
        return ""
    return tag[1:].split("}", 1)[0]
