"""Parse publication dates from metadata strings in English and Russian, never inventing one."""
from __future__ import annotations

import datetime as dt
import email.utils
import re
import time
from functools import lru_cache

MIN_PLAUSIBLE = dt.date(1990, 1, 1)

_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?\s*$")
_NUMERIC = re.compile(r"^\s*(\d{1,2})[./](\d{1,2})[./](\d{4})\b")
_YMD_SLASH = re.compile(r"^\s*(\d{4})[./](\d{1,2})[./](\d{1,2})\b")
_ZERO = re.compile(r"^\s*0000-00-00")
_HAS_DAY = re.compile(r"\b\d{1,2}\b")
_HAS_YEAR = re.compile(r"\b(19|20)\d{2}\b")
_RELATIVE = re.compile(r"(вчера|сегодня|назад|ago|yesterday|today|tomorrow|завтра)", re.I)


def is_suspect(date: dt.date | None, today: dt.date | None = None) -> bool:
    """True for dates after today or before 1990: kept, but flagged in the manifest."""
    if date is None:
        return False
    today = today or dt.date.today()
    return date > today or date < MIN_PLAUSIBLE


@lru_cache(maxsize=1)
def _dateparser():
    import dateparser

    return dateparser


def parse_date(value: object, *, lang: str | None = None) -> dt.date | None:
    """Return the day a date string names, or None when it names no full day.

    Handles ISO 8601, RFC 822 (feeds, mail), numeric day-first forms (``12.03.2004``; month
    first only for ``MM/DD/YYYY`` in English sources) and English and Russian month names
    (``19 декабря 2005``, ``19 дек. 2005``, ``Dec 19, 2005``). Partial dates (``декабрь 2005``),
    relative ones (``вчера``) and WordPress drafts (``0000-00-00``) give None.

    >>> parse_date("19 декабря 2005")
    datetime.date(2005, 12, 19)
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, time.struct_time):
        return dt.date(value.tm_year, value.tm_mon, value.tm_mday)
    s = str(value).strip()
    if not s or _ZERO.match(s) or _RELATIVE.search(s):
        return None
    m = _ISO.match(s)
    if m:
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    m = _YMD_SLASH.match(s)
    if m:
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    m = _NUMERIC.match(s)
    if m:
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        day, month = a, b
        if "/" in s[: m.end()] and lang == "en" and b <= 31 and a <= 12:
            month, day = a, b  # US style in an English source
        try:
            return dt.date(year, month, day)
        except ValueError:
            try:
                return dt.date(year, day, month)
            except ValueError:
                return None
    if re.match(r"^\s*[A-Za-z]{3},", s) or re.search(r"\d{2}:\d{2}(:\d{2})?\s*([+-]\d{4}|[A-Z]{2,4})\s*$", s):
        try:
            parsed = email.utils.parsedate_to_datetime(s)
            if parsed is not None:
                return parsed.date()
        except (TypeError, ValueError, IndexError):
            pass
    if not (_HAS_DAY.search(re.sub(r"\b(19|20)\d{2}\b", "", s)) and _HAS_YEAR.search(s)):
        return None  # no day or no year: a partial date is not a day
    dp = _dateparser()
    settings = {
        "DATE_ORDER": "MDY" if lang == "en" and "/" in s else "DMY",
        "PREFER_DAY_OF_MONTH": "first",
        "STRICT_PARSING": True,
        "REQUIRE_PARTS": ["day", "month", "year"],
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    try:
        parsed = dp.parse(s, languages=["ru", "en"], settings=settings)
    except Exception:  # dateparser raises assorted errors on odd input
        return None
    return parsed.date() if parsed else None
