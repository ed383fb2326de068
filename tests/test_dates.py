import datetime as dt

import pytest

from kmdiscourse.dates import is_suspect, parse_date


@pytest.mark.parametrize(
    "value,lang,expected",
    [
        ("19 декабря 2005", "ru", dt.date(2005, 12, 19)),
        ("19 дек. 2005", "ru", dt.date(2005, 12, 19)),
        ("Пн, 19 дек 2005 12:53", "ru", dt.date(2005, 12, 19)),
        ("30 Июля 2015", "ru", dt.date(2015, 7, 30)),
        ("Mon, 19 Dec 2005 12:53:00 +0300", "en", dt.date(2005, 12, 19)),
        ("Dec 19, 2005", "en", dt.date(2005, 12, 19)),
        ("2005-12-19T23:10:00+03:00", None, dt.date(2005, 12, 19)),
        ("2009-03-14 10:22:00", None, dt.date(2009, 3, 14)),
        ("12.01.2005", "ru", dt.date(2005, 1, 12)),  # day first
        ("12/01/2005", "en", dt.date(2005, 12, 1)),  # US order in an English source
    ],
)
def test_parse_date_known_forms(value, lang, expected):
    assert parse_date(value, lang=lang) == expected


@pytest.mark.parametrize("value", ["декабрь 2005", "12 мая", "вчера", "3 дня назад", "0000-00-00 00:00:00",
                                   "", None, "not a date", "2005-13-45"])
def test_parse_date_never_invents(value):
    assert parse_date(value, lang="ru") is None


@pytest.mark.parametrize("date,suspect", [(dt.date(2099, 1, 1), True), (dt.date(1985, 1, 1), True),
                                          (dt.date(2005, 1, 1), False), (None, False)])
def test_is_suspect(date, suspect):
    assert is_suspect(date, today=dt.date(2026, 1, 1)) is suspect
