"""Turn passages into analysis-ready lemmas, per language: tokens, lemmas, stop words, phrases.

Two routes give the same output format (lists of lowercased lemmas):

* the default route needs no trained model. A regular-expression tokenizer finds words
  (hyphenated compounds, abbreviations with inner dots and English clitics stay together),
  and every distinct word form is analysed once and cached: English through spaCy's lookup
  table (spacy-lookups-data, the table ``spacy.blank("en")`` + ``lookup`` lemmatizer uses),
  Russian through pymorphy3 (the analyser behind spaCy's ``pymorphy3`` lemmatizer). A word is
  analysed by the language its script belongs to, so a Latin term in a Russian passage gets
  English lemmas and stop words, and the per-form cache makes the cost per token a dict
  look-up;
* a spaCy pipeline (``en_core_web_sm``, ``ru_core_news_sm`` when installed, or one named with
  ``model=``) gives POS-aware lemmas; the same filters and hyphen handling apply.

All per-language differences live in :data:`LANG_SETTINGS`.
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from .errors import InputError, KmdError, MissingDependencyError
from .passages import ABBREVIATIONS
from .phrases import DEFAULT_MIN_COUNT, DEFAULT_PHRASE_THRESHOLD, DELIMITER

#: Bump when the analysis changes, so cached lemmas in stores are recomputed.
PIPELINE_VERSION = "1"
LEMMAS = "lemmas.parquet"
#: Distinct word forms kept in each cache before it is emptied (bounds memory on huge corpora).
CACHE_SIZE = 400_000


def _fold(s: str) -> str:
    return s.replace("ё", "е").replace("Ё", "Е")


def _spacy_stop_words(lang: str) -> frozenset[str]:
    """spaCy's stop words for ``lang``, read from spaCy's ``lang/<lang>/stop_words.py`` (a
    self-contained data file) without importing spaCy itself, which takes seconds; through the
    import when the file cannot be found."""
    from importlib.util import find_spec

    try:
        spec = find_spec("spacy")  # finds the package without running it
        path = Path(next(iter(spec.submodule_search_locations))) / "lang" / lang / "stop_words.py"
        namespace: dict[str, Any] = {}
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # noqa: S102
        return frozenset(namespace["STOP_WORDS"])
    except Exception:  # an unusual install: import it
        import importlib

        return frozenset(importlib.import_module(f"spacy.lang.{lang}.stop_words").STOP_WORDS)


@dataclass(frozen=True)
class LangSettings:
    """How one language is processed; one row of :data:`LANG_SETTINGS`."""

    lang: str
    spacy_lang: str
    #: spaCy lemmatizer mode the default route reproduces: "lookup" or "pymorphy3".
    lemmatizer_mode: str
    #: Trained spaCy pipeline used (POS-aware lemmas) when it is installed.
    full_model: str
    #: Letters of the script; a word is analysed by the language of its script.
    letters: str
    stop_words: frozenset[str]
    #: Blog and web boilerplate, abbreviations and clitics on top of spaCy's list.
    extra_stop_words: frozenset[str]
    #: spaCy stop words that are content words in KM texts ("данные" is data).
    keep_words: frozenset[str] = frozenset()
    #: Lemmas the lookup gets wrong for this domain (form -> lemma).
    lemma_overrides: Mapping[str, str] = field(default_factory=dict)
    #: Stop words allowed inside a multi-word term ("community_of_practice").
    connector_words: frozenset[str] = frozenset()
    #: Upper-case forms that are not the stop word they spell ("IT", "US").
    acronyms: frozenset[str] = frozenset()

    @cached_property
    def stops(self) -> frozenset[str]:
        """Every stop word, lowercased and with ё folded."""
        return frozenset(_fold(w.lower()) for w in (self.stop_words | self.extra_stop_words) - self.keep_words)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "lang": self.lang, "mode": self.lemmatizer_mode, "stops": sorted(self.stops),
            "overrides": sorted(self.lemma_overrides.items()), "connectors": sorted(self.connector_words),
            "acronyms": sorted(self.acronyms),
        }


_ABBREV_EN = frozenset(a for a in ABBREVIATIONS if a.isascii())
_ABBREV_RU = frozenset(a for a in ABBREVIATIONS if not a.isascii()) | frozenset(
    "т.д т.п т.ч др пр проч напр т.о".split())

LANG_SETTINGS: dict[str, LangSettings] = {
    "en": LangSettings(
        lang="en",
        spacy_lang="en",
        lemmatizer_mode="lookup",
        full_model="en_core_web_sm",
        letters="A-Za-z",
        stop_words=_spacy_stop_words("en"),
        extra_stop_words=frozenset(
            """
            read click comment comments reply subscribe unsubscribe login log tweet retweet via
            posted admin permalink tag tags http https www com html rss cookie cookies newsletter
            etc am pm de la le 's n't 're 'll 've 'd 'm
            """.split()) | _ABBREV_EN,
        lemma_overrides={
            "data": "data", "media": "media", "criteria": "criterion", "best": "best",
            "better": "better", "worse": "worse", "worst": "worst", "does": "do", "news": "news",
            "lives": "life", "means": "means", "goods": "goods", "staff": "staff", "people": "people",
            "ca": "can", "wo": "will", "sha": "shall",
            # errors of the lookup table
            "matter": "matter", "number": "number", "feed": "feed", "broker": "broker",
            "developed": "develop", "ai": "ai", "agenda": "agenda", "phases": "phase",
            "ceiling": "ceiling", "evening": "evening",
        },
        connector_words=frozenset("a an the of for in on to with without at by from and or".split()),
        acronyms=frozenset({"IT", "US"}),
    ),
    "ru": LangSettings(
        lang="ru",
        spacy_lang="ru",
        lemmatizer_mode="pymorphy3",
        full_model="ru_core_news_sm",
        letters="А-Яа-яЁё",
        stop_words=_spacy_stop_words("ru"),
        extra_stop_words=frozenset(
            """
            читать далее подробнее комментарий комментарии ответить подписаться войти
            опубликовать опубликовано метка метки репост лайк это этот весь свой который мочь
            из-за из-под по-прежнему по-видимому по-моему то-есть
            """.split()) | _ABBREV_RU,
        keep_words=frozenset({"данные", "данных"}),
        lemma_overrides={
            "данные": "данные", "данных": "данные", "данным": "данные", "данными": "данные",
            # pymorphy3's first guess is a rarer word
            "нашли": "найти", "нашла": "найти", "нашел": "найти", "нашёл": "найти", "пошли": "пойти",
            "вики": "вики", "вика": "вики",
        },
    ),
}

#: Russian particles that make a pronoun indefinite ("какой-то"); such words are stop words.
_RU_PARTICLES = ("-то", "-либо", "-нибудь", "-таки")

# --- the tokenizer --------------------------------------------------------------------------------

# A word: letters/digits, joined by hyphens, apostrophes, inner dots ("т.е", "asp.net", "2.5"),
# "@" (e-mail) and "&" ("R&D"). URLs are cut out first, only in texts that have one.
_TOKEN = re.compile(r"[^\W_]+(?:[-‐‑'’.@&][^\W_]+)*")
_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)[^\s<>\"'«»()\[\]]*[^\s<>\"'«»()\[\].,;:!?]", re.I)
_LETTER = re.compile(r"[^\W\d_]")
_CYR = re.compile(r"[А-Яа-яЁё]")
_LAT = re.compile(r"[A-Za-z]")
_NUMBERISH = re.compile(r"\d[\d.,]*(?:[-‐‑]?[a-zа-яё]{1,3})?")  # 1990s, 10th, 2010-х, 5-й, 2.5
_DOMAIN = re.compile(r".+\.(?:com|org|net|ru|рф|su|io|info|edu|gov|uk|de|biz|me|co|ua|by|kz)", re.I)
_ACRONYM_PLURAL = re.compile(r"[A-Z][A-Za-z]*[A-Z]s")  # CoPs, KPIs, FAQs
_NOT_PLURAL = ("ss", "us", "sis", "ics", "ous", "ys")
_EN_CLITICS = {"s": None, "re": "be", "m": "be", "ll": "will", "ve": "have", "d": "would"}

# Latin and Cyrillic letters that look the same: a word mixing them is usually a typo or OCR.
_LAT2CYR = str.maketrans("aceopxyACEHKMOPTXB", "асеорхуАСЕНКМОРТХВ")
_CYR2LAT = str.maketrans("асеорхуАСЕНКМОРТХВ", "aceopxyACEHKMOPTXB")
_LAT_LOOKALIKE = set("aceopxyACEHKMOPTXB")
_CYR_LOOKALIKE = set("асеорхуАСЕНКМОРТХВ")

# Kinds of token.
WORD, STOP, CONNECTOR, NUMBER, URL, CLITIC = 0, 1, 2, 3, 4, 5


#: :data:`_TOKEN` for a text without "_", where ``\w`` and ``[^\W_]`` match the same characters;
#: about 1.5 times faster.
_TOKEN_NO_UNDERSCORE = re.compile(r"\w+(?:[-‐‑'’.@&]\w+)*")


def _findall(text: str, _find=_TOKEN.findall, _fast=_TOKEN_NO_UNDERSCORE.findall, _sub=_URL.sub) -> list[str]:
    if "://" in text or "www." in text:
        text = _sub(" ", text)
    return _find(text) if "_" in text else _fast(text)


def tokenize(text: str) -> list[str]:
    """The word tokens of ``text`` (the default route's tokenizer): punctuation and URLs are
    dropped, hyphenated compounds, inner dots and English clitics stay in the token.

    >>> tokenize("Knowledge-sharing at ACME's R&D, e.g. wikis: https://x.org/a.")
    ['Knowledge-sharing', 'at', "ACME's", 'R&D', 'e.g', 'wikis']
    """
    return _findall(text)


# --- per-language word analysers (run once per distinct form) --------------------------------------

@lru_cache(maxsize=1)
def _en_table() -> dict[str, str]:
    """spaCy's English lemma lookup table (spacy-lookups-data), as a plain dict."""
    import gzip

    try:
        import spacy_lookups_data
    except ImportError as exc:
        raise MissingDependencyError(
            "English lemmas need the spaCy lookup tables: pip install spacy-lookups-data") from exc
    path = Path(spacy_lookups_data.__file__).parent / "data" / "en_lemma_lookup.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=1)
def _morph():
    try:
        import pymorphy3
    except ImportError as exc:
        raise MissingDependencyError("Russian lemmas need pymorphy3: pip install pymorphy3 pymorphy3-dicts-ru") from exc
    return pymorphy3.MorphAnalyzer()


def _en_lemma(word: str) -> str:
    """Lemma of one English word form (no clitics)."""
    s = LANG_SETTINGS["en"]
    low = word.lower()
    if low in s.lemma_overrides:
        return s.lemma_overrides[low]
    if _ACRONYM_PLURAL.fullmatch(word):
        return low[:-1]
    if "-" in low:  # keep the compound; only a plural last part is reduced
        head, _, last = low.rpartition("-")
        if last.endswith("s") and len(last) > 3:
            last = s.lemma_overrides.get(last) or _en_table().get(last, last)
        return f"{head}-{last}"
    table = _en_table()
    lemma = table.get(low)
    if lemma is not None:
        # the lookup table turns some number words into digits ("nineteenth" -> "19"): keep the word
        return low if lemma.isdigit() else lemma
    if word[0].islower() and len(low) > 4 and low.endswith("s") and not low.endswith(_NOT_PLURAL):
        return low[:-3] + "y" if low.endswith("ies") else low[:-1]  # wikis, chatbots: not in the table
    return low


def _ru_lemma(word: str) -> str:
    s = LANG_SETTINGS["ru"]
    low = word.lower()
    if low in s.lemma_overrides:
        return s.lemma_overrides[low]
    return _fold(_morph().parse(low)[0].normal_form)


_LEMMATIZERS = {"en": _en_lemma, "ru": _ru_lemma}


def _script(word: str) -> str | None:
    """``en`` for Latin, ``ru`` for Cyrillic, by majority; look-alike letters are folded first."""
    n_cyr = len(_CYR.findall(word))
    n_lat = len(_LAT.findall(word))
    if n_cyr and n_lat:
        return "ru" if n_cyr >= n_lat else "en"
    return "ru" if n_cyr else "en" if n_lat else None


def _fold_lookalikes(word: str) -> str:
    """"знaние" with a Latin "a" -> "знание"; "Kn0wledge" stays. Only whole-script words fold."""
    lat = {c for c in word if "A" <= c <= "z"}
    cyr = {c for c in word if "А" <= c <= "я" or c in "Ёё"}
    if not lat or not cyr:
        return word
    if any(h in word for h in "-‐‑"):  # "wiki-портал": each part keeps its script
        return word
    if len(cyr) >= len(lat) and lat <= _LAT_LOOKALIKE:
        return word.translate(_LAT2CYR)
    if len(lat) > len(cyr) and cyr <= _CYR_LOOKALIKE:
        return word.translate(_CYR2LAT)
    return word


def analyse_form(form: str) -> tuple[tuple[str, int, int, int], ...]:
    """Analyse one token: a tuple of (lemma, kind, start, end) sub-tokens (a clitic splits off).

    ``kind`` is WORD, STOP, CONNECTOR, NUMBER or URL; offsets are relative to the token.
    """
    n = len(form)
    low = form.lower()
    if "://" in form or low.startswith("www."):
        return ((low, URL, 0, n),)
    if "@" in form:
        return ((low, URL, 0, n),)
    if not _LETTER.search(form) or _NUMBERISH.fullmatch(form):
        return ((low, NUMBER, 0, n),)
    if "." in form and _DOMAIN.fullmatch(form):
        return ((low, URL, 0, n),)
    word = _fold_lookalikes(form.replace("‐", "-").replace("‑", "-"))
    lang = _script(word)
    if lang is None:  # Greek, CJK...: keep the form
        return ((_fold(low), WORD, 0, n),)
    settings = LANG_SETTINGS[lang]
    out = []
    clitic = None
    if lang == "en" and ("'" in word or "’" in word):
        w = word.replace("’", "'")
        lw = w.lower()
        if lw.endswith("n't") and len(lw) > 3:
            base, clitic = w[:-3], ("not", len(w) - 3)
        else:
            head, _, tail = w.rpartition("'")
            if tail.lower() in _EN_CLITICS and head:
                base, clitic = head, (_EN_CLITICS[tail.lower()], len(head))
            else:
                base = w
        word = base
    elif lang == "ru":
        word = word.replace("’", "'")
    lemma = _LEMMATIZERS[lang](word)
    lemma = _fold(lemma.lower())
    folded = _fold(word.lower())
    if word in settings.acronyms:
        kind = WORD
    elif folded in settings.connector_words or lemma in settings.connector_words:
        kind = CONNECTOR
    elif folded in settings.stops or lemma in settings.stops or len(lemma) < 2:
        kind = STOP
    elif lang == "ru" and "-" in lemma and (
        lemma.endswith(_RU_PARTICLES) and lemma.rsplit("-", 1)[0] in settings.stops
        or lemma.startswith("кое-")
    ):
        kind = STOP
    else:
        kind = WORD
    end = clitic[1] if clitic else n
    out.append((lemma, kind, 0, end))
    if clitic:
        out.append((clitic[0], STOP, clitic[1], n) if clitic[0] else ("'s", CLITIC, clitic[1], n))
    return tuple(out)


class _FormCache(dict):
    """form -> analysis for one output mode; a miss runs :func:`analyse_form` once."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def __missing__(self, form: str):
        parts = analyse_form(form)
        if self.mode == "filter":
            value = next((p[0] for p in parts if p[1] == WORD), "")
        elif self.mode == "phrase":
            value = next((p[0] for p in parts if p[1] in (WORD, CONNECTOR)), "")
        elif self.mode == "words":  # stop words kept; numbers and URLs not
            value = tuple(p[0] for p in parts if p[1] <= CONNECTOR)
        else:  # "all": everything with offsets
            value = parts
        self[form] = value
        return value

    def check_size(self) -> None:
        if len(self) > CACHE_SIZE:
            self.clear()


_CACHES = {m: _FormCache(m) for m in ("filter", "phrase", "words", "all")}


def _fast_lemmas(texts: Iterable[str], mode: str) -> Iterator[list[str]]:
    cache = _CACHES[mode]
    get = cache.__getitem__
    findall = _findall
    if mode == "words":
        for text in texts:
            out: list[str] = []
            for parts in map(get, findall(text)):
                out.extend(parts)
            yield out
            cache.check_size()
        return
    for i, text in enumerate(texts):
        yield list(filter(None, map(get, findall(text))))
        if not i & 255:
            cache.check_size()


# --- the spaCy route ----------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def load_pipeline(name: str):
    """Load a spaCy pipeline by package name or path, once (parser and NER are not needed).

    Raises
    ------
    KmdError
        When ``name`` is neither an installed package nor a pipeline folder.
    """
    import spacy

    try:
        return spacy.load(name, exclude=["parser", "ner", "senter"])
    except OSError as exc:
        raise KmdError(
            f"spaCy pipeline {name!r} is neither an installed package nor a pipeline folder; "
            f"install it (python -m spacy download {name}) or give its path, e.g. --spacy-model en=path/to/model"
        ) from exc


@lru_cache(maxsize=8)
def _is_installed(name: str) -> bool:
    """Whether a pipeline package is installed (as ``spacy.util.is_package``, without importing spaCy)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution(name)
        return True
    except (PackageNotFoundError, ValueError):
        return False


def resolve_model(lang: str, model: Any = None) -> Any:
    """The spaCy pipeline to use for ``lang``, or None for the default (no-model) route.

    ``model`` may be None (the language's full pipeline when installed, else the default
    route), ``"default"``/``"blank"`` (always the default route), a package name or path, a
    loaded ``Language``, or a mapping ``{lang: any of these}``.
    """
    if isinstance(model, Mapping):
        model = model.get(lang)
    if model is None:
        full = LANG_SETTINGS[lang].full_model if lang in LANG_SETTINGS else None
        return full if full and _is_installed(full) else None
    if isinstance(model, str) and model in ("default", "blank", ""):
        return None
    return model


def _pipeline(model: Any):
    return load_pipeline(str(model)) if isinstance(model, (str, os.PathLike)) else model


def _doc_tokens(doc, lang: str) -> Iterator[tuple[str, int, int, int]]:
    """(lemma, kind, start, end) for a spaCy Doc's tokens; "a-b" split by spaCy is joined again."""
    settings = LANG_SETTINGS[lang]
    toks = [t for t in doc if not t.is_space]
    i, n = 0, len(toks)
    while i < n:
        tok = toks[i]
        j = i
        # join word - word - word with no spaces in between
        while (j + 2 < n and toks[j + 1].text in ("-", "‐", "‑") and not toks[j].whitespace_
               and not toks[j + 1].whitespace_ and toks[j].is_alpha and toks[j + 2].is_alpha):
            j += 2
        start, end = tok.idx, toks[j].idx + len(toks[j].text)
        if j > i:
            text = doc.text[start:end]
            last = toks[j]
            if lang == "en" and not (last.lower_.endswith("s") and len(last.text) > 3):
                lemma = _fold(text.lower())  # as the default route: only a plural last part is reduced
            else:
                lemma = _fold(text[: last.idx - start].lower() + (last.lemma_ or last.text).lower())
            kind = STOP if lemma in settings.stops else WORD
            yield (lemma, kind, start, end)
            i = j + 1
            continue
        i += 1
        if tok.is_punct or (not _LETTER.search(tok.text) and not tok.like_num):
            continue
        if tok.like_url or tok.like_email:
            yield (tok.lower_, URL, start, end)
            continue
        if tok.like_num or not _LETTER.search(tok.text):
            yield (tok.lower_, NUMBER, start, end)
            continue
        lemma = _fold((tok.lemma_ or tok.text).lower())
        if lemma.endswith(".") and len(lemma) > 1:  # "т.е.", "e.g." are single spaCy tokens
            lemma = lemma.rstrip(".")
        low = _fold(tok.lower_).rstrip(".") or _fold(tok.lower_)
        if tok.text in settings.acronyms:
            kind = WORD
        elif low in settings.connector_words or lemma in settings.connector_words:
            kind = CONNECTOR
        elif tok.is_stop or low in settings.stops or lemma in settings.stops or len(lemma) < 2:
            kind = STOP
        else:
            kind = WORD
        yield (lemma, kind, start, end)


_MODE_KINDS = {"filter": (WORD,), "phrase": (WORD, CONNECTOR), "words": (WORD, STOP, CONNECTOR)}


def _spacy_lemmas(texts: Iterable[str], lang: str, model: Any, mode: str, batch_size: int = 256) -> Iterator[list[str]]:
    nlp = _pipeline(model)
    kinds = _MODE_KINDS[mode]
    for doc in nlp.pipe(texts, batch_size=batch_size):
        yield [t[0] for t in _doc_tokens(doc, lang) if t[1] in kinds]


# --- public functions -----------------------------------------------------------------------------

def _check_lang(lang: str) -> None:
    if lang not in LANG_SETTINGS:
        raise KmdError(f"language {lang!r} has no pipeline; expected one of {', '.join(LANG_SETTINGS)}")


def lemmatize(texts: Iterable[str], lang: str, *, keep_stopwords: bool = False, model: Any = None) -> Iterator[list[str]]:
    """Yield the filtered, lowercased lemmas of each text, streaming.

    Stop words (spaCy's plus web boilerplate), numbers, URLs, e-mail addresses and
    punctuation are removed; ``ё`` is folded to ``е``; hyphenated compounds stay whole.

    Parameters
    ----------
    texts : iterable of str
    lang : {"en", "ru"}
        The passages' language: picks the spaCy pipeline when one is used; on the default
        route each word is analysed by the language of its script.
    keep_stopwords : bool
        Keep stop words (numbers, URLs and punctuation are still removed).
    model : str, Language, mapping or None
        See :func:`resolve_model`.

    Examples
    --------
    >>> next(lemmatize(["Communities of practice share knowledge."], "en"))
    ['community', 'practice', 'share', 'knowledge']
    """
    _check_lang(lang)
    mode = "words" if keep_stopwords else "filter"
    nlp = resolve_model(lang, model)
    if nlp is None:
        return _fast_lemmas(texts, mode)
    return _spacy_lemmas(texts, lang, nlp, mode)


def tokenize_lemmas(text: str, lang: str) -> list[str]:
    """The filtered lemmas of one text (see :func:`lemmatize`).

    >>> tokenize_lemmas("Сообществами практиков управляют координаторы.", "ru")
    ['сообщество', 'практик', 'управлять', 'координатор']
    """
    return next(lemmatize([text], lang))


def lemma_sequence(text: str, lang: str, *, model: Any = None) -> list[tuple[str, int, int]]:
    """Every token's lemma with its character offsets in ``text``: stop words, numbers and
    URLs kept, punctuation dropped. For concept matching and keyword-in-context.

    >>> lemma_sequence("Sharing the wikis", "en")
    [('share', 0, 7), ('the', 8, 11), ('wiki', 12, 17)]
    """
    _check_lang(lang)
    nlp = resolve_model(lang, model)
    if nlp is not None:
        doc = _pipeline(nlp)(text)
        return [(lem, s, e) for lem, _k, s, e in _doc_tokens(doc, lang)]
    cache = _CACHES["all"]
    out = []
    urls = list(_URL.finditer(text)) if ("://" in text or "www." in text) else []
    for m in urls:
        out.append((m.group().lower(), m.start(), m.end()))
    for m in _TOKEN.finditer(_URL.sub(lambda u: " " * len(u.group()), text) if urls else text):
        base = m.start()
        for lem, _kind, s, e in cache[m.group()]:
            out.append((lem, base + s, base + e))
    cache.check_size()
    if urls:
        out.sort(key=lambda t: t[1])
    return out


# --- passages, in parallel, cached in the store ---------------------------------------------------

def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("spacy", "spacy-lookups-data", "pymorphy3", "pymorphy3-dicts-ru"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "-"
    return out


def _model_id(model: Any) -> str:
    if model is None:
        return "default"
    nlp = _pipeline(model) if isinstance(model, (str, os.PathLike)) else model
    meta = getattr(nlp, "meta", {}) or {}
    return f"{meta.get('lang')}_{meta.get('name')}-{meta.get('version')}:{','.join(nlp.pipe_names)}"


def pipeline_fingerprint(lang: str, model: Any = None) -> str:
    """A hash of everything that decides the lemmas of a ``lang`` passage (cache key part)."""
    payload = {
        "version": PIPELINE_VERSION, "lang": lang, "model": _model_id(resolve_model(lang, model)),
        "settings": [s.fingerprint() for s in LANG_SETTINGS.values()], "packages": _versions(),
    }
    return hashlib.sha1(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _lemmatize_chunk(args) -> list[list[str]]:
    """Worker: phrase-mode lemmas of (texts, langs) in order; languages without a pipeline get []."""
    texts, langs, model = args
    out: list[list[str] | None] = [None] * len(texts)
    for lang in LANG_SETTINGS:
        idx = [i for i, lg in enumerate(langs) if lg == lang]
        if not idx:
            continue
        nlp = resolve_model(lang, model)
        sub = (texts[i] for i in idx)
        gen = _fast_lemmas(sub, "phrase") if nlp is None else _spacy_lemmas(sub, lang, nlp, "phrase")
        for i, lem in zip(idx, gen):
            out[i] = lem
    return [x if x is not None else [] for x in out]


def _warm_up() -> None:
    _en_table()
    _morph()


def _count_vocab(lists: Iterable[list[str]], connectors: frozenset[str]) -> tuple[dict[str, int], int]:
    """Word and candidate-term counts of lemma lists, as gensim's ``Phrases`` collects them
    (a connector word never starts or ends a candidate), and the number of words. Counts of
    parts add up to the counts of the whole, so workers can count their own passages."""
    vocab: dict[str, int] = {}
    get = vocab.get
    total = 0
    for sentence in lists:
        start, between = None, []
        for word in sentence:
            if word not in connectors:
                vocab[word] = get(word, 0) + 1
                if start is not None:
                    joined = DELIMITER.join([start, *between, word]) if between else start + DELIMITER + word
                    vocab[joined] = get(joined, 0) + 1
                start, between = word, []
            elif start is not None:
                between.append(word)
        total += len(sentence)
    return vocab, total


def _lemma_part(part, shared=None) -> tuple[list[list[str]] | None, dict[str, tuple[dict[str, int], int]]]:
    """Worker: phrase-mode lemmas of a part (unless given, i.e. reused from the store) and, when
    terms are learned, the per-language counts of :func:`_count_vocab`. A part is (texts, langs,
    base, model, count), or a range of the passages to compute, ``shared`` being (texts, langs,
    model, count) of all of them: forked local workers inherit the texts, only the range is sent."""
    if isinstance(part, range):
        all_texts, all_langs, model, count = shared
        texts, langs, base = all_texts[part.start:part.stop], all_langs[part.start:part.stop], None
    else:
        texts, langs, base, model, count = part
    computed = base is None
    if computed:
        base = _lemmatize_chunk((texts, langs, model))
    counts = {}
    if count:
        for lang, settings in LANG_SETTINGS.items():
            lists = [b for b, lg in zip(base, langs) if lg == lang]
            if lists:
                counts[lang] = _count_vocab(lists, settings.connector_words)
    return (base if computed else None), counts


def _npmi_terms(vocab: dict[str, int], total: int, threshold: float, min_count: int) -> frozenset[str]:
    """The candidates of :func:`_count_vocab` counts that become terms: exactly those gensim's
    ``Phrases(scoring="npmi")`` (what :func:`~kmdiscourse.phrases.learn_phrases` uses) keeps,
    i.e. seen at least ``min_count`` times with NPMI above ``threshold`` (gensim's vocabulary
    pruning at 40M entries aside). Computed here because importing gensim takes seconds."""
    from math import log

    cwc = float(total)
    get = vocab.get
    terms = set()
    for token, n in vocab.items():
        if n < min_count or DELIMITER not in token:
            continue
        parts = token.split(DELIMITER)
        na, nb = get(parts[0], 0), get(parts[-1], 0)
        if na <= 0 or nb <= 0:
            continue
        pa, pb, pab = na / cwc, nb / cwc, n / cwc
        try:
            score = log(pab / (pa * pb)) / -log(pab)
        except ValueError:
            continue
        if score > threshold:
            terms.add(token)
    return frozenset(terms)


def _join_terms(lists: Iterable[list[str]], terms: frozenset[str], connectors: frozenset[str]) -> list[list[str]]:
    """Each lemma list with ``terms`` joined, as gensim's ``FrozenPhrases[...]`` joins them (a
    term is a word, connector words, a word), then connector words left outside terms dropped
    (:func:`~kmdiscourse.phrases.apply_phrases` with ``drop=connectors``)."""
    if not terms:
        return [[t for t in lst if t not in connectors] for lst in lists]
    out_all = []
    for sentence in lists:
        out: list[str] = []
        start, between = None, []
        for word in sentence:
            if word in connectors:
                if start:
                    between.append(word)
                continue  # outside a term: dropped
            if start:
                phrase = DELIMITER.join([start, *between, word]) if between else start + DELIMITER + word
                if phrase in terms:
                    out.append(phrase)
                    start, between = None, []
                    continue
                out.append(start)
            start, between = word, []
        if start:
            out.append(start)
        out_all.append(out)
    return out_all


def _phrase_part(part, shared):
    """Worker: the final lemmas of a part: terms joined (``shared``: {lang: terms}), connector
    words outside terms dropped; [] for languages without a pipeline. With ``arrow`` true, the
    part's ``lemmas`` and ``base`` columns as an Arrow record batch (built here, in parallel, for
    the store), else the lemma lists. When the inherited base lemmas are an Arrow column (the
    parent has it), they are read from it and only the ``lemmas`` column is returned."""
    with_base = True
    if isinstance(part, range):  # forked local workers inherit the lemmas: only a range is sent
        shared, base, all_langs, arrow = shared
        langs = all_langs[part.start:part.stop]
        if isinstance(base, list):
            lists = base[part.start:part.stop]
        else:  # an Arrow column, which the parent has: only the joined lemmas are sent back
            lists, with_base = _shared_lists(base.slice(part.start, len(part))), False
    else:
        lists, langs = part
        shared, arrow = shared
    out: list[list[str]] = [[] for _ in lists]
    for lang, settings in LANG_SETTINGS.items():
        idx = [i for i, lg in enumerate(langs) if lg == lang]
        if idx:
            done = _join_terms([lists[i] for i in idx], shared.get(lang, frozenset()), settings.connector_words)
            for i, lem in zip(idx, done):
                out[i] = lem
    if not arrow:
        return out
    import pyarrow as pa

    words = pa.list_(pa.string())
    if not with_base:
        return pa.record_batch([pa.array(out, words)], names=["lemmas"])
    return pa.record_batch([pa.array(out, words), pa.array(lists, words)], names=["lemmas", "base"])


def _map_frozen(eng, func, parts, **kwargs) -> Iterator[Any]:
    """``eng.map(func, parts, **kwargs)`` with the objects that exist when it starts frozen
    (:func:`gc.freeze`): the garbage collector of forked workers then does not walk the parent's
    millions of texts and lemma lists again (nor copy their memory pages by touching them), and
    the parent's own collections while results arrive skip them too. They are unfrozen after."""
    gc.freeze()
    try:
        yield from eng.map(func, parts, **kwargs)
    finally:
        gc.unfreeze()


def _tapered_parts(n: int, workers: int, chunk: int | None) -> list[range]:
    """Consecutive ranges over ``n`` passages: of :func:`_part_size`, but with several workers and
    no ``chunk`` the parts get smaller towards the end (down to an eighth), so that the workers
    finish at about the same time instead of one of them running a last big part alone."""
    size = _part_size(n, workers, chunk)
    if chunk or workers < 2:
        return [range(a, min(a + size, n)) for a in range(0, n, size)]
    parts, a, smallest = [], 0, max(250, size // 8)
    while a < n:
        b = min(n, a + max(smallest, min(size, -(-(n - a) // (2 * workers)))))
        parts.append(range(a, b))
        a = b
    return parts


def _part_size(n: int, workers: int, chunk: int | None) -> int:
    if chunk:
        return chunk
    # a few parts per worker (balance, progress) but not tiny ones (per-part counts are merged)
    return max(500, min(10_000, -(-n // (max(1, workers) * 4))))


def _bar(progress: bool, total: int, desc: str):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="passage", desc=desc, file=None)


def _read_cached(store: Path) -> dict[str, tuple[str, list[str], list[str], str]]:
    """passage_id -> (key, base, lemmas, phrase_key) from STORE/lemmas.parquet, if any."""
    path = store / LEMMAS
    if not path.is_file():
        return {}
    import pyarrow.parquet as pq

    try:
        t = pq.read_table(path, columns=["passage_id", "key", "base", "lemmas", "phrase_key"])
    except Exception:  # damaged or an older layout: recompute
        return {}
    cols = [t.column(c).to_pylist() for c in ("passage_id", "key", "phrase_key")]
    base, lemmas = _shared_lists(t.column("base")), _shared_lists(t.column("lemmas"))
    return {pid: (k, b, lem, pk) for pid, k, pk, b, lem in zip(*cols, base, lemmas)}


def _shared_lists(column) -> list[list[str]]:
    """A list<string> column as Python lists whose equal strings are one object: a corpus has
    millions of tokens but few distinct lemmas, so this holds ~8 bytes per token, not ~60."""
    import pyarrow as pa
    import numpy as np
    import pyarrow.compute as pc

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return []
    offsets = arr.offsets.to_numpy(zero_copy_only=False) - arr.offsets[0].as_py()
    values = pc.dictionary_encode(arr.values.slice(arr.offsets[0].as_py(), int(offsets[-1])))
    words = np.asarray(values.dictionary.to_pylist() + [""], dtype=object)
    idx = values.indices.fill_null(len(words) - 1).to_numpy(zero_copy_only=False)
    flat = words[idx]
    return [flat[a:b].tolist() for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


#: Rows per row group of STORE/lemmas.parquet (fixed, so the file is the same for any --jobs).
CACHE_ROW_GROUP = 16_384


def _cache_schema():
    import pyarrow as pa

    words = pa.list_(pa.string())
    return pa.schema([("passage_id", pa.string()), ("key", pa.string()), ("lemmas", words), ("base", words),
                      ("phrase_key", pa.dictionary(pa.int32(), pa.string()))])


def _write_cache(store: Path, ids, keys: list[str], phrase_key: str, batches: Iterable,
                 cached: dict[str, tuple[str, list[str], list[str], str]], base=None) -> list:
    """Write STORE/lemmas.parquet: the passages ``ids`` (their lemmas and base lemmas in the Arrow
    ``batches`` of :func:`_phrase_part`, in order) and the ``cached`` rows of other passages,
    in the order of ``{**cached, **dict.fromkeys(ids)}``, the last of repeated ids winning.
    Returns the batches as a list.

    ``ids`` may be an Arrow string array of distinct ids. With ``base`` (an Arrow column of every
    passage's base lemmas; only without ``cached`` rows), the batches hold only the ``lemmas`` column.

    When there are no such rows (a first run), the row groups are written as the batches
    arrive, i.e. while the workers still join terms, instead of all at the end."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .store import _atomic

    schema = _cache_schema()
    words = schema.field("lemmas").type

    def rows(a: int, lemmas, base, n: int):
        key = pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array([phrase_key], pa.string()))
        pid = ids.slice(a, n) if isinstance(ids, pa.Array) else pa.array(ids[a:a + n], pa.string())
        return pa.table([pid, pa.array(keys[a:a + n], pa.string()), lemmas, base, key], schema=schema)

    repeated = not isinstance(ids, pa.Array) and len(set(ids)) < len(ids)
    if cached or repeated:  # rows in dict order: old passages first, then new ones
        batches = list(batches)
        new = pa.Table.from_batches(batches, pa.schema([("lemmas", words), ("base", words)]))
        table = rows(0, new.column("lemmas"), new.column("base"), len(ids)).cast(
            schema.set(4, pa.field("phrase_key", pa.string())))
        last = {pid: i for i, pid in enumerate(ids)}
        old = [pid for pid in cached if pid not in last]
        table = pa.concat_tables([table, pa.table({
            "passage_id": pa.array(old, pa.string()),
            "key": pa.array([cached[p][0] for p in old], pa.string()),
            "lemmas": pa.array([cached[p][2] for p in old], words),
            "base": pa.array([cached[p][1] for p in old], words),
            "phrase_key": pa.array([cached[p][3] for p in old], pa.string()),
        })])
        pos = dict.fromkeys(cached, 0) | dict.fromkeys(ids, 0)
        index = {pid: len(ids) + j for j, pid in enumerate(old)} | last
        table = table.take(pa.array([index[pid] for pid in pos], pa.int64())).combine_chunks()
        table = table.set_column(4, "phrase_key", table.column("phrase_key").dictionary_encode())
        _atomic(store / LEMMAS, lambda tmp: pq.write_table(table, tmp, row_group_size=CACHE_ROW_GROUP))
        return batches

    got: list = []
    columns = ("lemmas",) if base is not None else ("lemmas", "base")

    def write(tmp) -> None:
        with pq.ParquetWriter(tmp, schema) as out:
            pending: list = []  # batches not written yet; they start at row `done`
            done = n_pending = 0

            def flush(n: int) -> None:
                nonlocal pending, done, n_pending
                t = pa.Table.from_batches(pending, pa.schema([(c, words) for c in columns]))
                b = t.column("base").slice(0, n) if base is None else base.slice(done, n)
                # one chunk per column: how the parts were cut must not show in the file
                out.write_table(rows(done, t.column("lemmas").slice(0, n), b, n).combine_chunks(),
                                row_group_size=CACHE_ROW_GROUP)
                rest = t.slice(n)
                pending = rest.to_batches() if rest.num_rows else []
                done, n_pending = done + n, n_pending - n

            for b in batches:
                got.append(b)
                pending.append(b)
                n_pending += b.num_rows
                if n_pending >= CACHE_ROW_GROUP:
                    flush(n_pending - n_pending % CACHE_ROW_GROUP)
            if n_pending or not done:
                flush(n_pending)

    _atomic(store / LEMMAS, write)
    return got


def _key(fps: dict[str, str], lang: str, text: str) -> str:
    """A passage's cache key: a hash of its language's pipeline fingerprint and its text; "" for
    a language without a pipeline."""
    return hashlib.sha1(f"{fps[lang]}\0{text}".encode()).hexdigest()[:20] if lang in fps else ""


def _phrase_key(threshold: float | None, min_count: int, keys: list[str]) -> str:
    """A hash of the term settings and of every passage's key: terms are learned from all of them."""
    return hashlib.sha1(json.dumps([threshold, min_count]).encode() + "\0".join(keys).encode()).hexdigest()[:20]


def _string_array(column):
    """A pandas column of strings as an Arrow string array, without a copy when pandas already
    keeps it in Arrow; missing values are null. Other values are converted with ``str``."""
    import pyarrow as pa

    try:
        arr = pa.array(column, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        arr = None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pa.array(column.fillna("").astype(str).tolist(), pa.large_string())
    return arr


def _count_distinct(arr) -> int:
    import pyarrow.compute as pc

    return pc.count_distinct(arr, mode="all").as_py()


def _fresh_lemma_part(part: range, shared) -> tuple[Any, dict[str, tuple[dict[str, int], int]], list[str]]:
    """Worker of :func:`_preprocess_fresh`: for the passages ``part`` (a range of all of them), their
    texts taken from the inherited Arrow column, cache keys, phrase-mode lemmas (as an Arrow
    list column when ``arrow``: a few buffers to send back instead of millions of strings) and
    word counts. Passages in languages without a pipeline get [] and the key ""."""
    texts_arr, all_langs, fps, model, count, arrow = shared
    texts = [t if t is not None else "" for t in texts_arr.slice(part.start, len(part)).to_pylist()]
    langs = all_langs[part.start:part.stop]
    keys = [_key(fps, lg, t) for lg, t in zip(langs, texts)]
    base, counts = _lemma_part((texts, langs, None, model, count))
    if arrow:
        import pyarrow as pa

        base = pa.array(base, pa.list_(pa.string()))
    return base, counts, keys


def _merge_counts(vocab: dict[str, dict[str, int]], totals: dict[str, int], counts) -> None:
    """Add a part's per-language counts of :func:`_count_vocab` to ``vocab`` and ``totals``."""
    for lang, (v, t) in counts.items():
        totals[lang] += t
        acc = vocab[lang]
        if not acc:
            vocab[lang] = v
            continue
        get = acc.get
        for w, c in v.items():
            acc[w] = get(w, 0) + c


def _learn_terms(vocab, totals, threshold: float | None, min_count: int) -> dict[str, frozenset[str]]:
    return {lang: (_npmi_terms(vocab[lang], totals[lang], threshold, min_count)
                   if threshold is not None and totals[lang] else frozenset()) for lang in LANG_SETTINGS}


def _preprocess_fresh(ids, texts, langs: list[str], fps: dict[str, str], store: Path, eng, *, progress: bool,
                      phrase_threshold: float | None, min_count: int, model: Any, chunk: int | None,
                      return_lemmas: bool):
    """A first run of :func:`preprocess_passages` into ``store`` with local workers: every passage
    is computed. The parent only reads the columns and writes lemmas.parquet; the forked workers
    take their passages' texts from the Arrow column (``texts``), hash the keys, lemmatise and
    count (first map), then join the terms learned from the summed counts (second map). With
    several workers the first map sends the lemmas back as Arrow columns, which the parent
    writes as they are (the ``base`` column) and the second map's workers read again; with
    one, Python lists, as nothing is sent. The file is the same in both cases.

    Returns (lemmas or None, passages computed, terms, lemma count)."""
    import pyarrow as pa

    n = len(ids)
    parts = _tapered_parts(n, eng.workers, chunk)
    arrow = eng.workers > 1 and len(parts) > 1  # results travel between processes
    count = phrase_threshold is not None
    n_computed = sum(1 for lg in langs if lg in fps)
    vocab: dict[str, dict[str, int]] = {lang: {} for lang in LANG_SETTINGS}
    totals = dict.fromkeys(LANG_SETTINGS, 0)
    keys: list[str] = []
    base: list = []  # Arrow chunks or lemma lists, in passage order
    bar = _bar(progress and bool(n_computed), n_computed, "lemmas")
    shared: Any = (texts, langs, fps, model, count, arrow)
    for lemmas, counts, part_keys in _map_frozen(eng, _fresh_lemma_part, parts, shared=shared, before_fork=_warm_up):
        if arrow:
            base.append(lemmas)
        else:
            base.extend(lemmas)
        keys.extend(part_keys)
        _merge_counts(vocab, totals, counts)
        if bar:
            bar.update(sum(1 for k in part_keys if k))
    if bar:
        bar.close()
    phrases = _learn_terms(vocab, totals, phrase_threshold, min_count)
    del vocab
    base_col = pa.chunked_array(base, pa.list_(pa.string())) if arrow else None
    shared = (phrases, base_col if arrow else base, langs, True)
    bar = _bar(progress, n, "terms")

    def joined():
        for res in _map_frozen(eng, _phrase_part, parts, shared=shared):
            if bar:
                bar.update(res.num_rows)
            yield res

    results = _write_cache(store, ids, keys, _phrase_key(phrase_threshold, min_count, keys), joined(), {},
                           base=base_col)
    if bar:
        bar.close()
    n_lemmas = sum(len(b.column(0).flatten()) for b in results)
    final = _shared_lists(pa.chunked_array([b.column(0) for b in results], pa.list_(pa.string()))) \
        if return_lemmas else None
    return final, n_computed, sum(len(t) for t in phrases.values()), n_lemmas


def preprocess_passages(
    passages,
    *,
    store: str | os.PathLike | None = None,
    jobs: int = 1,
    progress: bool = False,
    phrase_threshold: float | None = DEFAULT_PHRASE_THRESHOLD,
    min_count: int = DEFAULT_MIN_COUNT,
    model: Any = None,
    stats: dict | None = None,
    engine: Any = None,
    chunk: int | None = None,
    return_lemmas: bool = True,
):
    """Lemmas of every passage, with multi-word terms joined, cached in the store.

    Parameters
    ----------
    passages : pandas.DataFrame
        Columns ``passage_id``, ``text``, ``lang``. Passages whose lang is not en/ru get [].
    store : path, optional
        A store folder: lemmas are read from and written to ``STORE/lemmas.parquet``
        (passage_id, key, lemmas, base), keyed by a hash of the pipeline settings and the
        text, so unchanged passages are not processed again.
    jobs : int
        Processes for lemmatisation.
    progress : bool
        A progress bar on stderr.
    phrase_threshold : float or None
        NPMI threshold of :func:`~kmdiscourse.phrases.learn_phrases`; None (or >= 1) learns
        no terms.
    min_count : int
        Minimum frequency of a term.
    model : str, mapping or None
        See :func:`resolve_model`, e.g. ``{"en": "en_core_web_sm"}``.
    stats : dict, optional
        Filled with ``computed``, ``reused``, ``tokens`` and ``phrases`` counts.
    engine : engine, optional
        From :func:`kmdiscourse.engine.open_engine` (e.g. Dask workers): runs lemmatisation,
        word counts and term joining there instead of in ``jobs`` local processes. Only the
        term model is learned here, from the summed counts, so the output is the same for any
        engine and number of workers.
    chunk : int, optional
        Passages per part (default: a few parts per worker, 500 to 10,000 passages).
    return_lemmas : bool
        False returns None: only the store (and ``stats``) is written, which saves the time
        of building millions of Python strings.

    Returns
    -------
    pandas.Series
        list[str] per passage, indexed like ``passages``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"passage_id": ["a:0"], "text": ["Communities of practice."], "lang": ["en"]})
    >>> preprocess_passages(df, phrase_threshold=None).tolist()
    [['community', 'practice']]
    """
    import pandas as pd

    for col in ("passage_id", "text", "lang"):
        if col not in passages.columns:
            raise KmdError(f"passages table has no {col!r} column; expected passage_id, text, lang")
    langs = [lg if isinstance(lg, str) else "" for lg in passages["lang"].tolist()]
    final = _preprocess(_string_array(passages["passage_id"].astype(str)), _string_array(passages["text"]), langs,
                        store=store, jobs=jobs, progress=progress, phrase_threshold=phrase_threshold,
                        min_count=min_count, model=model, stats=stats, engine=engine, chunk=chunk,
                        return_lemmas=return_lemmas)
    if not return_lemmas:
        return None
    return pd.Series(final, index=passages.index, name="lemmas", dtype=object)


def is_store_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a store folder (as :func:`kmdiscourse.store.is_store`, which needs pandas)."""
    p = Path(path)
    return p.is_dir() and (p / "manifest.json").is_file() and (
        (p / "documents.parquet").is_file() or (p / ".kmdiscourse-commit").is_file())


def preprocess_store(store: str | os.PathLike, **kwargs) -> None:
    """:func:`preprocess_passages` on the passages of ``store``, writing ``STORE/lemmas.parquet``.

    Only the ``passage_id``, ``text`` and ``lang`` columns are read, with pyarrow: no DataFrame
    is built and the ingest modules are not imported, which shortens the serial start-up of
    the command. Takes the keyword arguments of :func:`preprocess_passages` but ``return_lemmas``.

    Raises
    ------
    KmdError
        When STORE/passages.parquet is missing or cannot be read, or lacks one of the columns.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(store)
    if (path / ".kmdiscourse-commit").is_file():  # a write was interrupted: let the store finish it
        from .store import _recover

        _recover(path)
    file = path / "passages.parquet"
    try:
        table = pq.read_table(file, columns=["passage_id", "text", "lang"])
    except FileNotFoundError as exc:
        raise InputError(f"{file}: missing; expected a store made by 'kmdiscourse ingest'") from exc
    except Exception as exc:  # pyarrow raises several types for a damaged file or a missing column
        raise KmdError(f"{file}: cannot be read as a passages table with passage_id, text and lang "
                       f"({exc.__class__.__name__}: {exc})") from exc
    ids = table.column("passage_id").combine_chunks()
    if ids.null_count or not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        ids = pa.array([str(x) for x in ids.to_pylist()], pa.string())  # as pandas' astype(str)
    langs = [lg if isinstance(lg, str) else "" for lg in table.column("lang").to_pylist()]
    _preprocess(ids, table.column("text").combine_chunks(), langs, store=path, return_lemmas=False, **kwargs)


def _preprocess(ids, texts, langs: list[str], *, store, jobs: int = 1, progress: bool = False,
                phrase_threshold: float | None = DEFAULT_PHRASE_THRESHOLD, min_count: int = DEFAULT_MIN_COUNT,
                model: Any = None, stats: dict | None = None, engine: Any = None, chunk: int | None = None,
                return_lemmas: bool = True) -> list[list[str]] | None:
    """:func:`preprocess_passages` on the columns: ``ids`` and ``texts`` Arrow string arrays
    (a null text is ""), ``langs`` a list ("" for none). Returns the lemma lists or None."""
    from .engine import LocalEngine

    ids = ids.cast("string")
    fps = {lang: pipeline_fingerprint(lang, model) for lang in LANG_SETTINGS}
    use_phrases = phrase_threshold is not None and phrase_threshold < 1
    store_path = Path(store) if store is not None else None
    cached = _read_cached(store_path) if store_path is not None else {}
    if (store_path is not None and not cached and (engine is None or isinstance(engine, LocalEngine))
            and os.name != "nt" and len(ids) == _count_distinct(ids)):
        # a first run into a store with forked local workers: they do nearly everything, see _preprocess_fresh
        final, n_computed, n_phrases, n_lemmas = _preprocess_fresh(
            ids, texts, langs, fps, store_path, engine if engine is not None else LocalEngine(jobs),
            progress=progress, phrase_threshold=phrase_threshold if use_phrases else None, min_count=min_count,
            model=dict(model) if isinstance(model, Mapping) else model, chunk=chunk, return_lemmas=return_lemmas)
        if stats is not None:
            stats.update(computed=n_computed, reused=0, phrases=n_phrases, lemmas=n_lemmas)
        return final
    ids = ids.to_pylist()
    texts = [t if t is not None else "" for t in texts.to_pylist()]
    keys = [_key(fps, lg, t) for lg, t in zip(langs, texts)]
    phrase_key = _phrase_key(phrase_threshold if use_phrases else None, min_count, keys)
    base: list[list[str] | None] = [None] * len(ids)
    final: list[list[str]] | None = [None] * len(ids)  # type: ignore[list-item]
    todo = []
    n_reused = 0
    for i, (pid, key) in enumerate(zip(ids, keys)):
        hit = cached.get(pid)
        if hit is not None and hit[0] == key and key:
            n_reused += 1
            base[i] = hit[1]
            if hit[3] == phrase_key:
                final[i] = hit[2]
        elif not key:  # not en/ru: no lemmas, nothing to join
            base[i] = []
            final[i] = []
        else:
            todo.append(i)
    need_final = any(f is None for f in final)
    n_phrases = 0
    n_lemmas = None
    if todo or need_final:
        eng = engine if engine is not None else LocalEngine(jobs)
        if isinstance(model, Mapping):
            model = dict(model)
        size = _part_size(len(ids), eng.workers, chunk)
        count = need_final and use_phrases
        # lemmas of new passages (and word counts for terms) in parts, on the engine's workers
        forked = isinstance(eng, LocalEngine) and os.name != "nt"  # forked workers see the parent's lists
        todo_texts, todo_langs = [texts[i] for i in todo], [langs[i] for i in todo]
        if forked:  # only a range of ``todo`` is sent
            parts: list[Any] = [range(a, min(a + size, len(todo))) for a in range(0, len(todo), size)]
            shared_a: Any = (todo_texts, todo_langs, model, count)
        else:
            parts = [(todo_texts[a:a + size], todo_langs[a:a + size], None, model, count)
                     for a in range(0, len(todo), size)]
            shared_a = None
        if count:  # reused lemmas are counted too
            have = [i for i in range(len(ids)) if base[i] and langs[i] in LANG_SETTINGS]
            parts += [(None, [langs[i] for i in have[a:a + size]], [base[i] for i in have[a:a + size]], None, True)
                      for a in range(0, len(have), size)]
        vocab: dict[str, dict[str, int]] = {lang: {} for lang in LANG_SETTINGS}
        totals = dict.fromkeys(LANG_SETTINGS, 0)
        bar = _bar(progress and bool(todo), len(todo), "lemmas")
        pos = 0
        for res, counts in _map_frozen(eng, _lemma_part, parts, shared=shared_a, before_fork=_warm_up):
            if res is not None:
                for i, lem in zip(todo[pos:pos + len(res)], res):
                    base[i] = lem
                pos += len(res)
                if bar:
                    bar.update(len(res))
            _merge_counts(vocab, totals, counts)
        if bar:
            bar.close()
        if need_final:
            phrases = _learn_terms(vocab, totals, phrase_threshold if count else None, min_count)
            n_phrases = sum(len(t) for t in phrases.values())
            del vocab
            arrow = store_path is not None
            shared: Any = (phrases, arrow)
            if forked:  # forked workers see the lemmas
                parts = [range(a, min(a + size, len(ids))) for a in range(0, len(ids), size)]
                shared = (phrases, base, langs, arrow)
            else:
                parts = [(base[a:a + size], langs[a:a + size]) for a in range(0, len(ids), size)]
            bar = _bar(progress, len(ids), "terms")

            def joined():
                for res in _map_frozen(eng, _phrase_part, parts, shared=shared):
                    if bar:
                        bar.update(len(res))
                    yield res

            if arrow:  # written as the parts arrive
                results = _write_cache(store_path, ids, keys, phrase_key, joined(), cached)
            else:
                results = list(joined())
            if bar:
                bar.close()
            if arrow:
                n_lemmas = sum(len(b.column(0).flatten()) for b in results)
                if return_lemmas:  # as lists whose equal strings are one object
                    import pyarrow as pa

                    final = _shared_lists(pa.chunked_array([b.column(0) for b in results]))
            else:
                final = [lem for res in results for lem in res]
    if n_lemmas is None:
        n_lemmas = sum(len(f) for f in final)
    if stats is not None:
        stats.update(computed=len(todo), reused=n_reused, phrases=n_phrases, lemmas=n_lemmas)
    return final if return_lemmas else None


def parse_model_options(values: Iterable[str]) -> dict[str, str]:
    """``["en=en_core_web_sm", "ru=path/to/model"]`` -> a {lang: name} mapping.

    Raises
    ------
    KmdError
        For a value without ``=`` or with a language that has no pipeline.
    """
    out = {}
    for v in values:
        lang, sep, name = v.partition("=")
        lang = lang.strip()
        if not sep or not name.strip():
            raise KmdError(f"--spacy-model {v!r}: expected LANG=NAME, e.g. en=en_core_web_sm")
        if lang not in LANG_SETTINGS:
            raise KmdError(f"--spacy-model {v!r}: language {lang!r} is not one of {', '.join(LANG_SETTINGS)}")
        out[lang] = name.strip()
    return out
