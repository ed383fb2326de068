"""Property-based tests (hypothesis): splitter, dates, decoding and table readers never lose text."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmdiscourse.dates import parse_date
from kmdiscourse.ingest.base import SourceFile
from kmdiscourse.ingest.decode import decode_bytes
from kmdiscourse.ingest.tables import read_csv, read_jsonl
from kmdiscourse.passages import MAX_WORDS, split_paragraphs

# derandomize: the same examples on every run, so `make test` is reproducible; `make fuzz` explores
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
_WS = re.compile(r"\s+")

words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
cyr_words = st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ", min_size=1,
                    max_size=10)
separators = st.sampled_from([" ", "  ", "\n", "\n\n", "\n \n", ". ", "! ", "? ", "… ", "\t", "\u00a0", ".\n\n"])


@st.composite
def documents(draw):
    parts = draw(st.lists(st.tuples(st.one_of(words, cyr_words), separators), max_size=400))
    return "".join(w + s for w, s in parts)


def _squash(text: str) -> str:
    return "".join(text.split())


@SETTINGS
@given(st.one_of(st.text(), documents()))
def test_passages_cover_text_in_order(text):
    text = unicodedata.normalize("NFC", text)
    passages = list(split_paragraphs(text))
    assert all(p.strip() for p in passages)  # none empty
    assert all(len(p.split()) <= MAX_WORDS for p in passages)
    # joining the passages gives back the text, modulo whitespace: nothing lost, nothing reordered
    assert _squash("".join(passages)) == _squash(text)


@SETTINGS
@given(st.integers(1, 600).flatmap(lambda n: st.lists(st.sampled_from(["word", "слово", "x."]), min_size=n,
                                                      max_size=n)))
def test_passages_long_paragraph_bounded(ws):
    passages = list(split_paragraphs(" ".join(ws)))
    assert all(1 <= len(p.split()) <= MAX_WORDS for p in passages)
    assert sum(len(p.split()) for p in passages) == len(ws)


@SETTINGS
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")), st.integers(), st.none(),
                 st.floats(allow_nan=True)))
def test_parse_date_never_raises(value):
    result = parse_date(value)
    assert result is None or isinstance(result, dt.date)


@SETTINGS
@given(st.dates(min_value=dt.date(1000, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_parse_date_roundtrips_iso(day):
    assert parse_date(day.isoformat()) == day
    got = parse_date(day.strftime("%d.%m.%Y"), lang="ru")
    assert got == day


@SETTINGS
@given(st.text())
def test_parse_date_result_roundtrips(value):
    got = parse_date(value)
    if got is not None:
        assert parse_date(got.isoformat()) == got


@SETTINGS
@given(st.text(alphabet=st.characters(blacklist_characters="0123456789", blacklist_categories=("Nd", "No", "Nl",
                                                                                               "Cs"))))
def test_parse_date_needs_a_year(value):
    assert parse_date(value) is None  # no digits, no year, no date (and no "today")


@SETTINGS
@given(st.binary(max_size=3000))
def test_decode_bytes_any_bytes(raw):
    dec = decode_bytes(raw)
    assert isinstance(dec.text, str) and dec.encoding and dec.encoding_source


ru_words = st.sampled_from(
    "знание сообщество практика опыт обмен команда проект урок эксперт ёлка съезд объём".split())
ru_sentence = st.lists(ru_words, min_size=3, max_size=15).map(lambda ws: " ".join(ws).capitalize() + ".")
ru_text = st.lists(ru_sentence, min_size=3, max_size=8).map(" ".join)


@SETTINGS
@given(ru_text, st.sampled_from(["utf-8", "cp1251", "koi8-r"]))
def test_decode_bytes_cyrillic_roundtrip(text, encoding):
    """Russian sentences (capital first letter, lower-case rest) come back in any of the encodings.

    At least three sentences: with one capital letter or none the 8-bit code pages are
    ambiguous (see the two known-limit cases below)."""
    dec = decode_bytes(text.encode(encoding))
    assert dec.text == text, (encoding, dec.encoding)


@pytest.mark.xfail(strict=True, reason="found by hypothesis: all-lower-case KOI8-R with no capital letter "
                                       "reads as all-caps windows-1251, which the "
                                       "letter-shape score in decode.py finds as plausible")
def test_decode_bytes_koi8_all_lowercase_known_limit():
    text = "знание сообщество практика опыт"
    assert decode_bytes(text.encode("koi8-r")).text == text


@pytest.mark.xfail(strict=True, reason="found by hypothesis: one capital in short cp1251 text; "
                                       "charset-normalizer's guess mac-cyrillic ('З' -> '«') ties with "
                                       "cp1251 on the letter-shape score and wins (decode.py)")
def test_decode_bytes_cp1251_single_capital_known_limit():
    text = "Знание знание знание знание сообщество."
    assert decode_bytes(text.encode("cp1251")).text == text


cell = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)
records = st.lists(st.fixed_dictionaries({"id": st.text(alphabet="abc123", max_size=6), "text": cell,
                                          "title": cell, "note": cell}), min_size=1, max_size=15)


def _norm(text: str) -> str:
    """What the readers promise: the text as written, NFC-normalised, with \\n line ends."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def _expected(rows):
    return [_norm(r["text"]) for r in rows if r["text"].strip()]


@SETTINGS
@given(records)
def test_jsonl_reader_keeps_every_text(rows):
    raw = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode("utf-8")
    src = SourceFile(path="r.jsonl", raw=raw)
    try:
        got = [r.text for r in read_jsonl(src)]
    except Exception as exc:  # only a whole-file skip of an all-blank file is allowed
        assert not _expected(rows), exc
        return
    assert [_norm(t) for t in got] == _expected(rows)
    assert len(got) + src.records_skipped == len(rows)


@SETTINGS
@given(records, st.sampled_from([",", ";"]))
def test_csv_reader_keeps_every_text(rows, delimiter):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["id", "text", "title", "note"], delimiter=delimiter)
    w.writeheader()
    w.writerows(rows)
    src = SourceFile(path="r.csv", raw=buf.getvalue().encode("utf-8"))
    got = [r.text for r in read_csv(src)]
    assert [_norm(t) for t in got] == _expected(rows)
    assert len(got) + src.records_skipped == len(rows)
