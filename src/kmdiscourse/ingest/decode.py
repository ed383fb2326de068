"""Turn raw bytes into text, recording which encoding was used and how it was chosen."""
from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DECL = re.compile(
    rb"""(?:<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']"""
    rb"""|<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+))""",
    re.IGNORECASE,
)
#: Encodings the detector may choose from: what English and Russian files really use.
CANDIDATES = ("utf_8", "cp1251", "koi8_r", "cp866", "mac_cyrillic", "iso8859_5", "cp1252", "latin_1")


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    encoding_source: str  # bom | declared | utf8 | detected | fallback
    replacements: int = 0


def _norm(name: str) -> str | None:
    try:
        return codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None


def declared_encoding(raw: bytes) -> str | None:
    """The charset an XML prolog or HTML ``<meta>`` declares in the first 4 KB, if any."""
    m = _DECL.search(raw[:4096])
    if not m:
        return None
    name = (m.group(1) or m.group(2)).decode("ascii", "replace")
    return _norm(name)


def _plausibility(text: str) -> float:
    """Share of characters that ordinary Russian or English text is made of.

    Wrong Cyrillic decodings turn letters into box drawing, currency signs, Latin accents or
    the wrong case pattern; the right one is almost all Russian/Latin letters and punctuation.
    """
    if not text:
        return 0.0
    good = 0
    for c in text:
        if c.isascii() or "\u0410" <= c <= "\u044f" or c in "ёЁ«»—–…№“”„’":
            good += 1
    # a capital in the middle of a lower-case word is a sign of the wrong code page
    odd = len(_MIXED_CASE.findall(text))
    # a Cyrillic letter glued to a Latin one ("schУЖn", "ьber") is a Latin page read as Cyrillic
    odd += len(_MIXED_SCRIPT.findall(text))
    # an accented Latin letter inside a Latin word ("für", "café") is Western text read right;
    # Russian read as cp1252 gives words made only of accented letters ("Ïðèâåò"), not this
    good += len(_LATIN_ACCENT.findall(text))
    return (good - 2 * odd) / len(text)


_MIXED_CASE = re.compile(r"[а-яё][А-ЯЁ][а-яё]")
_MIXED_SCRIPT = re.compile(r"[A-Za-z][А-яЁё]|[А-яЁё][A-Za-z]")
_LATIN_ACCENT = re.compile(r"[A-Za-z][À-ÖØ-öø-ÿ]|[À-ÖØ-öø-ÿ][A-Za-z]")


def detect_encoding(raw: bytes) -> str:
    """Pick an 8-bit encoding for bytes that are not UTF-8.

    Cross-checks charset-normalizer's guess against a plain score of how Russian/English the
    decoded letters look, since detectors guess wrong on short or Latin text.
    """
    best, best_score = "cp1252", -1.0
    guesses: list[str] = []
    try:
        from charset_normalizer import from_bytes

        match = from_bytes(raw[:200_000], cp_isolation=list(CANDIDATES)).best()
        if match is not None:
            guesses.append(match.encoding)
    except Exception:  # detector failure is not fatal: score every candidate instead
        pass
    for enc in [*guesses, *CANDIDATES[1:]]:
        try:
            text = raw[:200_000].decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
        score = _plausibility(text)
        if score > best_score + 1e-9:
            best, best_score = enc, score
    return _norm(best) or best


def decode_bytes(raw: bytes, declared: str | None = None) -> Decoded:
    """Decode ``raw`` by BOM, then declaration, then strict UTF-8, then detection.

    ``declared`` is a charset from outside the bytes (a MIME header, a sidecar); a declaration
    that fails to decode strictly is not trusted.
    """
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            text = raw.decode(enc, errors="replace")
            return Decoded(_finish(text), enc.replace("-sig", ""), "bom", text.count("\ufffd"))
    # NUL bytes without a BOM: UTF-16/32 that would pass a strict UTF-8 decode as garbage.
    if raw[:4000].count(b"\x00") > len(raw[:4000]) // 8:
        for enc in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
            try:
                text = raw.decode(enc)
            except UnicodeDecodeError:
                continue
            if sum(c.isprintable() or c.isspace() for c in text[:2000]) > 0.95 * len(text[:2000]):
                return Decoded(_finish(text), enc, "detected")
    for enc in (declared, declared_encoding(raw)):
        if enc:
            try:
                text = raw.decode(enc)
            except (UnicodeDecodeError, LookupError):
                continue
            # A declared 8-bit charset on text with no Cyrillic letters may still be right;
            # one that turns Cyrillic bytes into Latin accents is a lie when UTF-8 works.
            if enc not in ("utf-8",) and _looks_like_utf8(raw):
                break
            return Decoded(_finish(_koi8_punct(text, enc)), enc, "declared")
    try:
        return Decoded(_finish(raw.decode("utf-8")), "utf-8", "utf8")
    except UnicodeDecodeError:
        pass
    lossy = _mostly_utf8(raw)
    if lossy is not None:  # UTF-8 with a few stray bytes: replace those, not every letter
        return Decoded(_finish(lossy), "utf-8", "utf8", lossy.count("\ufffd"))
    enc = detect_encoding(raw)
    text = _koi8_punct(raw.decode(enc, errors="replace"), enc)
    return Decoded(_finish(text), enc, "detected", text.count("\ufffd"))


# KOI8-R files made by converters that mapped only the letters keep windows-1251 punctuation
# (« » № — – … NBSP) in 0x80-0xBF, where KOI8-R has box drawing: "╚Вопросы╩", "╧18", "═≈".
_KOI8_HIGH = bytes(b for b in range(0x80, 0xC0) if b not in (0xA3, 0xB3))
_KOI8_TO_1251 = {ord(k): c for k, c in zip(_KOI8_HIGH.decode("koi8_r"), _KOI8_HIGH.decode("cp1251", "replace"))
                 if c != "\ufffd"}
_PSEUDO = re.compile(r"[\u2500-\u25ff\u2219\u221a\u2248\u2264\u2265\u2320\u2321\u00b2\u00b7\u00f7]")
_PSEUDO_RUN = re.compile(r"[\u2500-\u25ff]{3}")


def _koi8_punct(text: str, enc: str) -> str:
    """Undo windows-1251 punctuation inside KOI8-R text, unless the file draws boxes (runs of them)."""
    if _norm(enc) != "koi8-r" or not _PSEUDO.search(text) or _PSEUDO_RUN.search(text):
        return text
    return text.translate(_KOI8_TO_1251)


def _mostly_utf8(raw: bytes) -> str | None:
    """The UTF-8 text of ``raw`` when all but a few of its non-ASCII bytes are valid UTF-8."""
    text = raw.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for c in text if ord(c) > 0x7F and c != "\ufffd")
    return text if good >= 20 and bad * 20 <= good else None


def _looks_like_utf8(raw: bytes) -> bool:
    if not any(b > 0x7F for b in raw[:100_000]):
        return False
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _finish(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return unicodedata.normalize("NFC", text)
