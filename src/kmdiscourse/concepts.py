"""Concepts: lemma sequences -> concept mentions and trends; keyword in context; keyness.

A bilingual lexicon (``data/concepts.yaml``, extensible) names concepts with English and
Russian forms. Forms and passages go through the same lemmatiser
(:func:`kmdiscourse.preprocess.lemma_sequence`), so matching is robust to inflection, case,
``ё``/``е``, hyphenation and line breaks, and happens on whole tokens ("явных знаний" is not
found inside "неявных знаний").
"""
from __future__ import annotations

import datetime as dt
import gc
import math
import os
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from itertools import accumulate, compress, islice
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError, KmdError, RecordError
from .records import LABELS

LemmaSeq = list[tuple[str, int, int]]
Lemmatizer = Callable[[str, str], LemmaSeq]

GENRE_ALL = "all"
_SENTENCE_END = re.compile(r"[.!?;…]|\n\s*\n")
_LINE_BREAK_HYPHEN = re.compile(r"^[-‐‑\u00ad¬]\s*\n\s*$|^\u00ad$")
_WS = re.compile(r"\s+")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


# --- the lexicon -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Concept:
    """One concept: an id, its forms per language, abbreviations and matching options."""

    id: str
    forms: dict[str, tuple[str, ...]]
    abbrev: tuple[str, ...] = ()
    any_order: bool = False
    gap: int = 0
    label: str = ""


@dataclass
class Lexicon:
    """Concepts by id, in file order."""

    concepts: dict[str, Concept] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Concept]:
        return iter(self.concepts.values())

    def __len__(self) -> int:
        return len(self.concepts)

    @property
    def ids(self) -> list[str]:
        return list(self.concepts)

    def merged(self, other: "Lexicon") -> "Lexicon":
        """This lexicon with ``other``'s concepts added (same id: forms are added, options
        of ``other`` win)."""
        out = dict(self.concepts)
        for c in other:
            old = out.get(c.id)
            if old is None:
                out[c.id] = c
                continue
            forms = {lg: tuple(dict.fromkeys(old.forms.get(lg, ()) + c.forms.get(lg, ())))
                     for lg in set(old.forms) | set(c.forms)}
            out[c.id] = Concept(c.id, forms, tuple(dict.fromkeys(old.abbrev + c.abbrev)),
                                c.any_order or old.any_order, max(c.gap, old.gap), c.label or old.label)
        return Lexicon(out)


def _as_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


def _concept_from_dict(entry: Any, where: str) -> Concept:
    if not isinstance(entry, dict):
        raise RecordError(f"{where}: expected a mapping with id, en, ru (and abbrev), got {entry!r}")
    cid = entry.get("id")
    if not isinstance(cid, str) or not _ID.match(cid):
        raise RecordError(f"{where}: id {cid!r} must be snake_case (letters, digits, _), e.g. knowledge_sharing")
    unknown = set(entry) - {"id", "label", "en", "ru", "abbrev", "any_order", "gap"}
    if unknown:
        raise RecordError(f"{where} ({cid}): unknown keys {sorted(unknown)}; expected id, label, en, ru, abbrev, "
                          "any_order, gap")
    forms = {lg: _as_list(entry.get(lg), f"{where} ({cid}).{lg}") for lg in ("en", "ru")}
    abbrev = _as_list(entry.get("abbrev"), f"{where} ({cid}).abbrev")
    if not any(forms.values()) and not abbrev:
        raise RecordError(f"{where} ({cid}): no forms; give en, ru or abbrev")
    gap = entry.get("gap", 0)
    if not isinstance(gap, int) or isinstance(gap, bool) or not 0 <= gap <= 5:
        raise RecordError(f"{where} ({cid}): gap {gap!r} must be an integer from 0 to 5")
    return Concept(cid, forms, abbrev, bool(entry.get("any_order", False)), gap, str(entry.get("label") or ""))


def parse_lexicon(text: str, where: str = "lexicon") -> Lexicon:
    """A :class:`Lexicon` from YAML text (see ``data/concepts.yaml`` for the format)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise RecordError(f"{where}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    entries = data.get("concepts") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise RecordError(f"{where}: expected a 'concepts:' list of entries with id, en, ru")
    out: dict[str, Concept] = {}
    for i, entry in enumerate(entries, 1):
        c = _concept_from_dict(entry, f"{where} entry {i}")
        if c.id in out:
            raise RecordError(f"{where} entry {i}: concept id {c.id!r} appears twice")
        out[c.id] = c
    return Lexicon(out)


def _lexicon_from_csv(path: Path) -> Lexicon:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"id", "lang", "form"} - set(df.columns)
    if missing:
        raise RecordError(f"{path}: missing columns {sorted(missing)}; expected id, lang, form "
                          "(lang en, ru or abbrev)")
    entries: dict[str, dict] = {}
    for i, row in enumerate(df.itertuples(index=False), 2):
        lang = row.lang.strip()
        if lang not in ("en", "ru", "abbrev"):
            raise RecordError(f"{path} line {i}: lang {lang!r} is not one of en, ru, abbrev")
        e = entries.setdefault(row.id.strip(), {"id": row.id.strip()})
        e.setdefault(lang, []).append(row.form)
    return Lexicon({cid: _concept_from_dict(e, f"{path} ({cid})") for cid, e in entries.items()})


def default_lexicon_text() -> str:
    return resources.files("kmdiscourse").joinpath("data/concepts.yaml").read_text(encoding="utf-8")


def load_lexicon(path: str | os.PathLike | None = None, *, extend: bool = True) -> Lexicon:
    """The shipped lexicon, extended with (or, with ``extend=False``, replaced by) ``path``
    (YAML, or CSV with id, lang, form)."""
    base = parse_lexicon(default_lexicon_text(), "kmdiscourse/data/concepts.yaml")
    if path is None:
        return base
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: lexicon file not found; expected a YAML or CSV file")
    user = _lexicon_from_csv(p) if p.suffix.lower() in (".csv", ".tsv") else parse_lexicon(
        p.read_text(encoding="utf-8"), str(p))
    return base.merged(user) if extend else user


# --- tokens for matching -------------------------------------------------------------------------------

def _default_lemmatizer(text: str, lang: str) -> LemmaSeq:
    from .preprocess import lemma_sequence

    return lemma_sequence(text, lang if lang in ("en", "ru") else "en")


@lru_cache(maxsize=1)
def _en_known() -> frozenset[str]:
    from .preprocess import _en_table

    t = _en_table()
    return frozenset(str(v) for v in t.values())


def _is_known(word: str) -> bool:
    w = word.lower()
    if re.search("[а-яё]", w):
        from .preprocess import _morph

        return bool(_morph().word_is_known(w))
    try:
        from .preprocess import _en_table

        return w in _en_known() or _en_table().get(w) is not None
    except Exception:  # no lookup tables: assume a real word
        return True


@dataclass
class Token:
    lemma: str
    start: int
    end: int


def match_tokens(text: str, lang: str, lemmatizer: Lemmatizer | None = None) -> list[Token]:
    """Tokens for matching: lemmas with offsets; hyphenated compounds split into their
    parts, words broken across lines with a hyphen joined again; ``ё`` folded."""
    lem = lemmatizer or _default_lemmatizer
    seq = lem(text, lang)
    out: list[Token] = []
    # a line-break hyphen gap holds a newline or a soft hyphen: most texts need no check
    breaks = "\n" in text or "\u00ad" in text
    n = len(seq)
    i = 0
    while i < n:
        lemma, s, e = seq[i]
        if breaks and i + 1 < n and _LINE_BREAK_HYPHEN.match(text[e:seq[i + 1][1]]):
            s2, e2 = seq[i + 1][1], seq[i + 1][2]
            a, b = text[s:e], text[s2:e2]
            joined = a + b
            if _is_known(joined) or not (_is_known(a) and _is_known(b)):
                sub = _first_lemma(joined, lang, lem)
                out.append(Token(sub if sub is not None else joined.lower(), s, e2))
                i += 2
                continue
        out.extend(Token(lm, s + a, s + b) for lm, a, b in _expand(lemma, text[s:e], lang, lem))
        i += 1
    return out


def _expand(lemma: str, surface: str, lang: str, lem: Lemmatizer) -> tuple[tuple[str, int, int], ...]:
    """Match tokens of one lemmatiser token (offsets relative to it): the normalised lemma,
    and for a hyphenated compound the compound itself followed by its parts."""
    if "-" in surface or "‐" in surface or "‑" in surface:
        parts = list(_COMPOUND_PART.finditer(surface))
        if len(parts) > 1:
            out = [(_norm(lemma), 0, len(surface))]  # the compound itself ...
            for m in parts:  # ... and its parts, at the same place
                sub = _first_lemma(m.group(), lang, lem)
                out.append((sub if sub is not None else m.group().lower(), m.start(), m.end()))
            return tuple(out)
    return ((_norm(lemma), 0, len(surface)),)


_COMPOUND_PART = re.compile(r"[^-‐‑]+")
#: (word, lang) -> normalised lemma of the word alone, for the default lemmatiser (compound parts
#: recur across passages, and lemmatising them again was a third of the scan).
_FIRST_LEMMA: dict[tuple[str, str], str | None] = {}


def _first_lemma(word: str, lang: str, lem: Lemmatizer) -> str | None:
    """The normalised lemma of the first token of ``word`` on its own; None when it has none."""
    cached = lem is _default_lemmatizer
    if cached:
        hit = _FIRST_LEMMA.get((word, lang), _FIRST_LEMMA)
        if hit is not _FIRST_LEMMA:
            return hit  # type: ignore[return-value]
    sub = lem(word, lang)
    value = _norm(sub[0][0]) if sub else None
    if cached:
        if len(_FIRST_LEMMA) > 200_000:
            _FIRST_LEMMA.clear()
        _FIRST_LEMMA[(word, lang)] = value
    return value


def _norm(lemma: str) -> str:
    return lemma.lower().replace("ё", "е")


# --- the matcher -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pattern:
    concept: str
    lemmas: tuple[str, ...]
    any_order: bool
    gap: int


@dataclass
class Mention:
    concept: str
    start: int
    end: int
    text: str


class ConceptMatcher:
    """Finds lexicon concepts in texts, on lemma sequences.

    Parameters
    ----------
    lexicon : Lexicon
    lemmatizer : callable, optional
        ``(text, lang) -> [(lemma, start, end), ...]``; defaults to
        :func:`kmdiscourse.preprocess.lemma_sequence`.

    With the default lemmatiser (no spaCy model), each distinct word form is lemmatised and
    split into match tokens once, and a text is then scanned form by form; the result is the
    same as :func:`match_tokens` followed by :meth:`find_tokens`.

    Examples
    --------
    >>> m = ConceptMatcher(load_lexicon())
    >>> [x.concept for x in m.find("Мы не делились неявными знаниями.", "ru")]  # doctest: +SKIP
    ['knowledge_sharing', 'tacit_knowledge']
    """

    def __init__(self, lexicon: Lexicon, lemmatizer: Lemmatizer | None = None):
        self.lexicon = lexicon
        self.lemmatizer = lemmatizer or _default_lemmatizer
        self._pats: list[Pattern] | None = None
        self._index: dict[str, list[int]] = {}
        self._abbrev: dict[str, list[str]] = defaultdict(list)
        for c in lexicon:
            for a in c.abbrev:
                self._abbrev[a].append(c.id)
        self._forms: dict[tuple[str, bool], _FormTable] = {}
        self._fast: dict[str, bool] = {}

    def patterns(self, lang: str | None = None) -> list[Pattern]:
        """Lexicon forms as lemma tuples. Forms of both languages are used for every passage,
        so an English term inside a Russian passage still counts."""
        if self._pats is None:
            pats = []
            seen = set()
            for c in self.lexicon:
                for form_lang in ("en", "ru"):
                    for form in c.forms.get(form_lang, ()):
                        lemmas = _compound_free(form, form_lang, self.lemmatizer)
                        key = (c.id, lemmas)
                        if lemmas and key not in seen:
                            seen.add(key)
                            pats.append(Pattern(c.id, lemmas, c.any_order and len(lemmas) > 1, c.gap))
            index: dict[str, list[int]] = defaultdict(list)
            for k, p in enumerate(pats):
                for lm in set(p.lemmas):
                    index[lm].append(k)  # pattern numbers: cheaper to gather than patterns
            self._index = dict(index)
            self._lemma_sets = [frozenset(p.lemmas) for p in pats]
            anchored: dict[str, list[int]] = defaultdict(list)
            for k, p in enumerate(pats):
                anchored[p.lemmas[0]].append(k)  # each pattern under one of its lemmas: tried once
            self._anchored = dict(anchored)
            self._pats = pats
        return self._pats

    def find(self, text: str, lang: str) -> list[Mention]:
        """Mentions in ``text``: per concept, non-overlapping, in text order."""
        return self.scan(text, lang)[1]

    def scan(self, text: str, lang: str) -> tuple[int, list[Mention]]:
        """``(words, mentions)``: the number of words of ``text`` (distinct token starts, the
        trends' denominator) and its mentions, as :meth:`find` gives them."""
        fast = self._fast.get(lang)
        if fast is None:
            fast = self._fast[lang] = self._default_route(lang)
        if not fast or "\n" in text or "\u00ad" in text:  # words broken across lines: token by token
            return self._scan_tokens(text, lang, match_tokens(text, lang, self.lemmatizer))
        return self._scan_forms(text, lang)

    def find_tokens(self, text: str, lang: str, tokens: list[Token]) -> list[Mention]:
        """Mentions in ``text`` given its :func:`match_tokens`."""
        return self._scan_tokens(text, lang, tokens)[1]

    def _default_route(self, lang: str) -> bool:
        """Whether ``lang`` texts are lemmatised form by form (the default route of
        :func:`~kmdiscourse.preprocess.lemma_sequence`, no spaCy model), so forms can be cached."""
        if self.lemmatizer is not _default_lemmatizer or lang not in ("en", "ru"):
            return False
        from .preprocess import resolve_model

        return resolve_model(lang) is None

    def _scan_tokens(self, text: str, lang: str, tokens: list[Token]) -> tuple[int, list[Mention]]:
        self.patterns()
        index, abbrev = self._index, self._abbrev
        rel: list[_Rel] = []
        abbr: list[tuple[int, int, str]] = []
        w = 0
        prev = None
        for t in tokens:
            if prev is not None and _new_word(prev.start, prev.end, t.start, t.end):
                w += 1
            prev = t
            if t.lemma in index:
                rel.append((t.lemma, t.start, t.end, w))
            if abbrev:
                for cid in abbrev.get(text[t.start:t.end], ()):
                    abbr.append((t.start, t.end, cid))
        return len({t.start for t in tokens}), self._match(text, rel, abbr)

    def _table(self, lang: str, url: bool) -> "_FormTable":
        table = self._forms.get((lang, url))
        if table is None:
            self.patterns()
            table = self._forms[(lang, url)] = _FormTable(self, lang, url)
        return table

    def _scan_forms(self, text: str, lang: str) -> tuple[int, list[Mention]]:
        """The scan of :meth:`_scan_tokens` on the tokens of :func:`match_tokens`, form by form
        with cached forms; the cut into forms is that of ``lemma_sequence``'s default route."""
        token_re, url_re = _regexes()
        table = self._table(lang, False)
        urls = list(url_re.finditer(text)) if ("://" in text or "www." in text) else None
        if urls:  # URLs are forms of their own, and the words around them are found without them
            forms = list(token_re.finditer(url_re.sub(lambda u: " " * len(u.group()), text)))
            infos = list(map(table.__getitem__, map(_group, forms)))
            url_table = self._table(lang, True)
            starts = list(map(_start, forms))
            for m in reversed(urls):  # into the words, by position
                k = bisect_right(starts, m.start())
                forms.insert(k, m)
                infos.insert(k, url_table[m.group()])
        else:
            forms = list(token_re.finditer(text))
            infos = list(map(table.__getitem__, map(_group, forms)))
        table.check_size()
        n_words = sum(map(_COUNT, infos))
        hits = list(compress(range(len(infos)), map(_HIT, infos)))
        if not hits:
            return n_words, []
        bases = list(accumulate(map(_WIDTH, infos), initial=0))
        rel: list[_Rel] = []
        abbr: list[tuple[int, int, str]] = []
        for k in hits:
            _, _, toks, ab, _ = infos[k]
            start, base = forms[k].start(), bases[k]
            for lm, s, e, w in toks:
                rel.append((lm, start + s, start + e, base + w))
            for s, e, cid in ab:
                abbr.append((start + s, start + e, cid))
        return n_words, self._match(text, rel, abbr)

    def _match(self, text: str, rel: list[_Rel], abbr: list[tuple[int, int, str]]) -> list[Mention]:
        """Mentions from the tokens whose lemma is in some pattern (``rel``) and abbreviation hits."""
        pats, anchored, sets = self._pats, self._anchored, self._lemma_sets
        positions: dict[str, list[int]] = defaultdict(list)
        for k, r in enumerate(rel):
            positions[r[0]].append(k)
        present = positions.keys()
        spans = list(abbr)  # (start, end, concept)
        for lm, where in positions.items():
            for k in anchored.get(lm, ()):
                p = pats[k]
                if len(p.lemmas) == 1:
                    spans.extend((rel[i][1], rel[i][2], p.concept) for i in where)
                elif present >= sets[k]:
                    for i, j in _pattern_spans(p, rel, positions, text):
                        spans.append((rel[i][1], rel[j][2], p.concept))
        return _dedupe(spans, text)


#: A match token that some pattern uses: (lemma, start, end, word number in the text).
_Rel = tuple[str, int, int, int]


def _new_word(s0: int, e0: int, s1: int, e1: int) -> bool:
    """Whether a token (s1, e1) after a token (s0, e0) starts a new word (a compound's parts
    after the compound do not, except the parts after its first)."""
    return (s1 >= e0 or s1 > s0) and not (s0 <= s1 and e1 <= e0)


_group, _start = re.Match.group, re.Match.start


@lru_cache(maxsize=1)
def _regexes() -> tuple[re.Pattern, re.Pattern]:
    """The word and URL patterns of ``lemma_sequence``'s default route."""
    from .preprocess import _TOKEN, _URL

    return _TOKEN, _URL


_WIDTH, _COUNT, _HIT = itemgetter(0), itemgetter(1), itemgetter(4)


class _FormTable(dict):
    """form -> (words, token starts, pattern tokens, abbreviation hits, any of these) for one
    matcher and language; a miss lemmatises the form once. Offsets and word numbers are relative
    to the form."""

    SIZE = 500_000

    def __init__(self, matcher: ConceptMatcher, lang: str, url: bool):
        super().__init__()
        self.matcher, self.lang, self.url = matcher, lang, url

    def __missing__(self, form: str):
        m, lang = self.matcher, self.lang
        # a URL is one lemmatiser token, lowercased (as lemma_sequence gives it in a text)
        seq = [(form.lower(), 0, len(form))] if self.url else m.lemmatizer(form, lang)
        toks = [(lm, s + a, s + b) for lemma, s, e in seq
                for lm, a, b in _expand(lemma, form[s:e], lang, m.lemmatizer)]
        rel, ab = [], []
        w = 0
        for k, (lm, s, e) in enumerate(toks):
            if k and _new_word(toks[k - 1][1], toks[k - 1][2], s, e):
                w += 1
            if lm in m._index:
                rel.append((lm, s, e, w))
            for cid in m._abbrev.get(form[s:e], ()):
                ab.append((s, e, cid))
        value = (w + 1 if toks else 0, len({s for _, s, _ in toks}), tuple(rel), tuple(ab), bool(rel or ab))
        self[form] = value
        return value

    def check_size(self) -> None:
        if len(self) > self.SIZE:
            self.clear()


def _compound_free(form: str, lang: str, lemmatizer: Lemmatizer) -> tuple[str, ...]:
    """The lemmas of a lexicon form, with a hyphenated compound given by its parts only;
    a form that is one compound ("know-how") stays whole, so "we know how" does not match."""
    toks = match_tokens(form, lang, lemmatizer)
    if toks and toks[0].start == 0 and toks[0].end == len(form.strip()) and len(toks) > 1 \
            and all(t.start >= toks[0].start and t.end <= toks[0].end for t in toks[1:]):
        return (toks[0].lemma,)
    out = []
    for k, t in enumerate(toks):
        # a compound token is followed by its parts at the same place: keep the parts
        if k + 1 < len(toks) and toks[k + 1].start == t.start and toks[k + 1].end < t.end:
            continue
        out.append(t.lemma)
    return tuple(out)


def _crosses_sentence(rel: list[_Rel], idx: list[int], text: str) -> bool:
    lo, hi = min(idx), max(idx)
    return bool(_SENTENCE_END.search(text, rel[lo][2], rel[hi][1])) if hi > lo else False


def _pattern_spans(p: Pattern, rel: list[_Rel], positions: dict[str, list[int]],
                   text: str) -> Iterator[tuple[int, int]]:
    """Spans (first, last) of ``rel`` indices where pattern ``p`` matches. ``rel`` holds the
    tokens whose lemma some pattern uses, with their word numbers, so the words between two
    of them are counted without walking the tokens in between."""
    n = len(p.lemmas)
    # tokens sharing a start (a compound and its first part) count as one position
    if n == 1:
        for i in positions[p.lemmas[0]]:
            yield i, i
        return
    window = n + p.gap
    if not p.any_order:
        for i in positions[p.lemmas[0]]:
            idx = [i]
            ok = True
            for lm in p.lemmas[1:]:
                prev = idx[-1]
                end = rel[prev][2]
                where = positions[lm]
                nxt = next((j for j in islice(where, bisect_right(where, prev), None) if rel[j][1] >= end), None)
                if nxt is None or rel[nxt][3] - rel[i][3] > window - 1:
                    ok = False
                    break
                idx.append(nxt)
            if ok and not _crosses_sentence(rel, idx, text):
                yield idx[0], idx[-1]
        return
    need = _counts(p.lemmas)
    for lm0 in need:
        for i in positions[lm0]:
            # the window starts at a pattern word and holds every pattern word
            got: dict[str, int] = {}
            idx = []
            j = i
            while j < len(rel) and rel[j][3] - rel[i][3] < window:
                lm, s, e, _ = rel[j]
                c = got.get(lm, 0)
                if c < need.get(lm, 0) and not any(s < rel[k][2] and rel[k][1] < e for k in idx):
                    got[lm] = c + 1
                    idx.append(j)
                j += 1
            if got == need and min(idx) == i and not _crosses_sentence(rel, idx, text):
                yield min(idx), max(idx)


@lru_cache(maxsize=1024)
def _counts(lemmas: tuple[str, ...]) -> dict[str, int]:
    return dict(Counter(lemmas))


def _dedupe(spans: list[tuple[int, int, str]], text: str) -> list[Mention]:
    """Per concept, keep the longest of overlapping spans (earliest first)."""
    out = []
    by_concept: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for s, e, c in spans:
        by_concept[c].append((s, e))
    for c, lst in by_concept.items():
        lst.sort(key=lambda x: (x[0], -(x[1] - x[0])))
        kept: list[tuple[int, int]] = []
        for s, e in lst:
            if kept and s < kept[-1][1]:
                if e - s > kept[-1][1] - kept[-1][0]:
                    kept[-1] = (s, e)
                continue
            kept.append((s, e))
        out.extend(Mention(c, s, e, _WS.sub(" ", text[s:e])) for s, e in kept)
    out.sort(key=lambda m: (m.start, m.concept))
    return out


# --- concepts over a corpus ---------------------------------------------------------------------------

MENTION_COLUMNS = ["doc_id", "passage_id", "concept", "lang", "matched_text"]

#: matchers by lexicon, kept across the chunks of a scan (and by each worker process), so
#: every word form is lemmatised once per process rather than once per chunk.
_MATCHERS: dict[tuple, ConceptMatcher] = {}


def _lexicon_key(lexicon: Lexicon) -> tuple:
    return tuple((c.id, tuple(sorted(c.forms.items())), c.abbrev, c.any_order, c.gap) for c in lexicon)


def _default_matcher(lexicon: Lexicon) -> ConceptMatcher:
    key = _lexicon_key(lexicon)
    m = _MATCHERS.get(key)
    if m is None:
        if len(_MATCHERS) >= 4:
            _MATCHERS.clear()
        m = _MATCHERS[key] = ConceptMatcher(lexicon)
    return m


def _scan_chunk(args) -> tuple[list[tuple[int, str, str]], list[int]]:
    """Worker: (row, concept, matched_text) for each mention, and tokens per passage."""
    texts, langs, lexicon, offset = args
    return _scan(texts, langs, _default_matcher(lexicon), offset)


def _scan_range(part: tuple[int, int], shared) -> tuple[list[tuple[int, str, str]], list[int]]:
    """Worker: :func:`_scan_chunk` of passages ``start:stop`` of the shared (texts, langs, lexicon)."""
    (start, stop), (texts, langs, lexicon) = part, shared
    return _scan(texts[start:stop], langs[start:stop], _default_matcher(lexicon), start)


def _scan(texts: Sequence[str], langs: Sequence[str], matcher: ConceptMatcher,
          offset: int = 0) -> tuple[list[tuple[int, str, str]], list[int]]:
    mentions, ntok = [], []
    # the scan makes no reference cycles, only many small objects that the cyclic garbage
    # collector would walk again and again (about a tenth of the scan time)
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        for i, (text, lang) in enumerate(zip(texts, langs)):
            if lang not in ("en", "ru") or not text:
                ntok.append(0)
                continue
            n, found = matcher.scan(text, lang)
            ntok.append(n)
            mentions.extend((offset + i, m.concept, m.text) for m in found)
    finally:
        if gc_was_on:
            gc.enable()
    return mentions, ntok


def find_concepts(passages: pd.DataFrame, lexicon: Lexicon | None = None, *, jobs: int = 1,
                  progress: bool = False, lemmatizer: Lemmatizer | None = None,
                  chunk: int = 2000, engine=None) -> tuple[pd.DataFrame, np.ndarray]:
    """Concept mentions in every passage, and each passage's token count.

    ``engine`` (from :func:`kmdiscourse.engine.open_engine`, e.g. Dask workers) runs the same
    chunks there instead of in ``jobs`` local processes; the result is the same.

    Returns
    -------
    (mentions, tokens)
        ``mentions`` has ``doc_id``, ``passage_id``, ``concept``, ``lang``, ``matched_text``
        and ``row`` (the passage's position in ``passages``); ``tokens`` is an array of word
        counts per passage (the denominators of the trends).
    """
    lexicon = lexicon or load_lexicon()
    texts = passages["text"].fillna("").astype(str).tolist()
    langs = [x if isinstance(x, str) else "" for x in passages["lang"].tolist()]
    mentions: list[tuple[int, str, str]] = []
    tokens: list[int] = []
    if lemmatizer is not None:  # a custom lemmatiser runs here, in this process
        mentions, tokens = _scan(texts, langs, ConceptMatcher(lexicon, lemmatizer))
    else:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), unit="passage", desc="concepts")
        if engine is None:
            from .engine import LocalEngine

            engine = LocalEngine(jobs)
        from .preprocess import _warm_up

        if getattr(engine, "name", None) == "local":  # forked workers inherit the texts: send only ranges
            results = engine.map(_scan_range, [(i, min(i + chunk, len(texts))) for i in range(0, len(texts), chunk)],
                                 shared=(texts, langs, lexicon), before_fork=_warm_up)
        else:
            chunks = [(texts[i:i + chunk], langs[i:i + chunk], lexicon, i) for i in range(0, len(texts), chunk)]
            results = engine.map(_scan_chunk, chunks, before_fork=_warm_up)
        for m, n in results:
            mentions.extend(m)
            tokens.extend(n)
            if bar:
                bar.update(len(n))
        if bar:
            bar.close()
    rows = [r for r, _, _ in mentions]
    df = pd.DataFrame({
        "doc_id": passages["doc_id"].astype(str).to_numpy()[rows] if rows else [],
        "passage_id": passages["passage_id"].astype(str).to_numpy()[rows] if rows else [],
        "concept": [c for _, c, _ in mentions],
        "lang": np.array(langs, dtype=object)[rows] if rows else [],
        "matched_text": [t for _, _, t in mentions],
        "row": rows,
    })
    return df, np.array(tokens, dtype=np.int64)


def _periods(passages: pd.DataFrame, by: str) -> pd.Series:
    """:func:`kmdiscourse.topics.period_of` of each passage's date. Plain dates (a store's) are
    formatted here, the same way, which spares importing topics (and scikit-learn): a second
    or two of every run."""
    if "date" not in passages:
        return pd.Series([None] * len(passages), index=passages.index)
    fmt = {"year": "{0:04d}", "quarter": "{0:04d}-Q{1}", "month": "{0:04d}-{2:02d}"}.get(by)

    def one(d):
        if fmt is not None and type(d) is dt.date:
            return fmt.format(d.year, (d.month - 1) // 3 + 1, d.month)
        if d is None:
            return None
        from .topics import period_of

        return period_of(d, by)

    return passages["date"].map(one)


def concept_trends(passages: pd.DataFrame, mentions: pd.DataFrame, tokens: np.ndarray, lexicon: Lexicon, *,
                   by: str = "year") -> pd.DataFrame:
    """``concept``, ``period``, ``genre`` (each genre and ``all``), ``lang``, ``mentions``,
    ``docs``, ``tokens``, ``per_10k_tokens``; every concept gets a row (zero or not) for every
    cell with text; passages without a date are left out."""
    cols = ["concept", "period", "genre", "lang", "mentions", "docs", "tokens", "per_10k_tokens"]
    per = _periods(passages, by).to_numpy(dtype=object)
    base = pd.DataFrame({"period": per, "genre": passages["genre"].fillna("unknown").astype(str).to_numpy()
                         if "genre" in passages else "unknown",
                         "lang": passages["lang"].astype(object).to_numpy(), "tokens": tokens})
    base = base[base["period"].notna() & base["lang"].isin(["en", "ru"])]
    if base.empty:
        return pd.DataFrame(columns=cols)
    both = pd.concat([base, base.assign(genre=GENRE_ALL)], ignore_index=True)
    cells = both.groupby(["period", "genre", "lang"], as_index=False)["tokens"].sum()
    cells = cells[cells["tokens"] > 0]
    m = mentions.copy()
    m["period"] = per[m["row"].to_numpy()] if len(m) else []
    m["genre"] = (passages["genre"].fillna("unknown").astype(str).to_numpy()[m["row"].to_numpy()]
                  if len(m) and "genre" in passages else "unknown")
    m = m[m["period"].notna()] if len(m) else m
    mm = pd.concat([m, m.assign(genre=GENRE_ALL)], ignore_index=True)
    if len(mm):
        agg = mm.groupby(["concept", "period", "genre", "lang"], as_index=False).agg(
            mentions=("row", "size"), docs=("doc_id", "nunique"))
    else:
        agg = pd.DataFrame(columns=["concept", "period", "genre", "lang", "mentions", "docs"])
    grid = pd.DataFrame({"concept": lexicon.ids}).merge(cells, how="cross")
    out = grid.merge(agg, on=["concept", "period", "genre", "lang"], how="left")
    out[["mentions", "docs"]] = out[["mentions", "docs"]].fillna(0).astype(int)
    out["per_10k_tokens"] = out["mentions"] / out["tokens"] * 10_000
    order = {c: i for i, c in enumerate(lexicon.ids)}
    out = out.sort_values(["concept", "lang", "genre", "period"], key=lambda s: s.map(order) if s.name == "concept"
                          else s, ignore_index=True)
    return out[cols]


def concept_label_shares(passages: pd.DataFrame, mentions: pd.DataFrame, labels: pd.Series | None, *,
                         by: str = "year") -> pd.DataFrame:
    """For each concept, period and language: passages mentioning it (``passages``), of them
    labelled (``labelled``), and the shares of ``why``, ``how`` and ``other`` among the labelled."""
    cols = ["concept", "period", "lang", "passages", "labelled", *LABELS]
    if mentions.empty:
        return pd.DataFrame(columns=cols)
    per = _periods(passages, by).to_numpy(dtype=object)
    m = mentions.drop_duplicates(["row", "concept"]).copy()
    m["period"] = per[m["row"].to_numpy()]
    m["period"] = m["period"].fillna("undated")
    lab = labels.to_numpy(dtype=object) if labels is not None else np.full(len(passages), None, dtype=object)
    m["label"] = lab[m["row"].to_numpy()]
    keys = ["concept", "period", "lang"]
    for x in LABELS:
        m[x] = (m["label"] == x).astype(np.int64)
    g = m.groupby(keys, sort=True)
    out = g[list(LABELS)].sum()
    out.insert(0, "passages", g.size().astype(np.int64))
    n = out[list(LABELS)].sum(axis=1).to_numpy()
    out.insert(1, "labelled", n)
    with np.errstate(divide="ignore", invalid="ignore"):
        for x in LABELS:
            out[x] = np.where(n > 0, out[x].to_numpy() / n, np.nan)
    return out.reset_index()[cols]


def read_labels(path: str | os.PathLike) -> pd.DataFrame:
    """``passage_id`` and ``label`` from a classified file (CSV, TSV, JSONL or Parquet)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: labels file not found; expected the output of 'kmdiscourse classify'")
    suf = p.suffix.lower()
    if suf == ".parquet":
        df = pd.read_parquet(p)
    elif suf in (".jsonl", ".ndjson"):
        df = pd.read_json(p, lines=True, dtype=False)
    else:  # only the two columns: a classified file also holds the texts
        sep = "\t" if suf == ".tsv" else ","
        df = pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, usecols=lambda c: c in ("passage_id", "label"))
        if len(df.columns) < 2:
            df = pd.read_csv(p, sep=sep, nrows=0)
    if not {"passage_id", "label"} <= set(df.columns):
        raise RecordError(f"{p}: expected columns passage_id and label (the output of 'kmdiscourse classify'), "
                          f"got {', '.join(map(str, df.columns))}")
    return df[["passage_id", "label"]]


def passage_labels(corpus, *, labels: str | os.PathLike | pd.DataFrame | None = None,
                   notes: list[str] | None = None, jobs: int = 1, engine=None) -> pd.Series | None:
    """why/how/other per passage of ``corpus``: from ``labels`` (a classified file), from a
    ``label`` column of the corpus, or from the default classifier when it is available."""
    notes = notes if notes is not None else []
    passages = corpus.passages
    if labels is not None:
        df = labels if isinstance(labels, pd.DataFrame) else read_labels(labels)
        mp = dict(zip(df["passage_id"].astype(str), df["label"]))
        s = passages["passage_id"].astype(str).map(mp)
        notes.append(f"labels from {'a table' if isinstance(labels, pd.DataFrame) else labels}: "
                     f"{int(s.notna().sum())} of {len(s)} passages")
        return s
    if "label" in passages.columns and passages["label"].notna().any():
        notes.append(f"labels from the input: {int(passages['label'].notna().sum())} of {len(passages)} passages")
        return passages["label"]
    try:
        from .classify import classify_passages

        out = classify_passages(passages, jobs=jobs, engine=engine)
        mp = dict(zip(out["passage_id"].astype(str), out["label"]))
        notes.append("labels from the default classifier")
        return passages["passage_id"].astype(str).map(mp)
    except (ImportError, AttributeError, KmdError, FileNotFoundError) as exc:
        notes.append(f"no labels: the default classifier is not available ({exc.__class__.__name__}: {exc}); "
                     "concept_labels.csv has counts only. Give --labels FILE from 'kmdiscourse classify'")
    return None


CLASSIFIED_COLUMNS = {"doc_id", "passage_id", "text", "lang", "label"}


def open_classified(input: str | os.PathLike):
    """A corpus from a classified file (the CSV/JSONL/Parquet output of ``kmdiscourse
    classify``, with doc_id, passage_id, text, lang and label), or None when ``input`` is not one."""
    from .ingest import Corpus
    from .records import parse_iso_date

    p = Path(input)
    suf = p.suffix.lower()
    if not p.is_file() or suf not in (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet"):
        return None
    try:
        if suf == ".parquet":
            import pyarrow.parquet as pq

            cols = set(pq.read_schema(p).names)
        elif suf in (".jsonl", ".ndjson"):
            cols = set(pd.read_json(p, lines=True, nrows=1, dtype=False).columns)
        else:
            cols = set(pd.read_csv(p, sep="\t" if suf == ".tsv" else ",", nrows=0).columns)
    except Exception:
        return None
    if not CLASSIFIED_COLUMNS <= cols:
        return None
    if suf == ".parquet":
        df = pd.read_parquet(p)
    elif suf in (".jsonl", ".ndjson"):
        df = pd.read_json(p, lines=True, dtype=False)
    else:
        df = pd.read_csv(p, sep="\t" if suf == ".tsv" else ",", dtype=str, keep_default_na=False)
    df = df.replace({"": None})
    if "date" in df:
        df["date"] = [parse_iso_date(d, f"{p} line {i + 2}") for i, d in enumerate(df["date"])]
    for col in ("genre", "position"):
        if col not in df:
            df[col] = None
    df["label"] = df["label"].where(df["label"].isin(LABELS), None)
    return Corpus(pd.DataFrame(), df, {"input": str(p), "classified": True})


@dataclass
class ConceptResult:
    mentions: pd.DataFrame
    trends: pd.DataFrame
    labels: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def run_concepts(input: str | os.PathLike, outdir: str | os.PathLike, *, lexicon: str | os.PathLike | None = None,
                 by: str = "year", labels: str | os.PathLike | None = None, jobs: int = 1, progress: bool = False,
                 store: str | os.PathLike | None = None, engine: str = "local", scheduler: str | None = None,
                 **corpus_kw) -> ConceptResult:
    """Read INPUT, find the lexicon's concepts and write ``concept_mentions.csv``,
    ``concept_trends.csv`` and ``concept_labels.csv`` into ``outdir``.

    With ``engine="dask"`` ingest, the concept scan (and the default classifier, when it labels
    the passages) run on a Dask cluster (``scheduler``, or a local cluster of ``jobs`` workers);
    the outputs are the same as the local engine's.

    Examples
    --------
    >>> run_concepts("corpora/sample", "out/concepts", by="year")  # doctest: +SKIP
    """
    from contextlib import nullcontext

    from .engine import open_engine
    from .ingest import open_corpus

    local = engine == "local" and not scheduler
    with (nullcontext(None) if local else open_engine(engine, jobs=jobs, scheduler=scheduler)) as eng:
        corpus = open_classified(input) or open_corpus(input, store=store, jobs=jobs, progress=progress,
                                                       engine=eng if eng is not None else "local", **corpus_kw)
        lex = load_lexicon(lexicon)
        passages = corpus.passages.reset_index(drop=True)
        mentions, tokens = find_concepts(passages, lex, jobs=jobs, progress=progress, engine=eng)
        notes: list[str] = []
        lab = passage_labels(corpus, labels=labels, notes=notes, jobs=jobs, engine=eng)
    return _write_concepts(passages, mentions, tokens, lex, lab, notes, outdir, by=by)


def _write_concepts(passages, mentions, tokens, lex, lab, notes, outdir, *, by: str) -> ConceptResult:
    from .store import export_table

    if lab is not None:
        lab = pd.Series(lab.to_numpy(), index=passages.index)
    out_m = mentions[MENTION_COLUMNS].copy()
    if lab is not None:
        out_m["label"] = lab.to_numpy(dtype=object)[mentions["row"].to_numpy()] if len(mentions) else []
    res = ConceptResult(out_m, concept_trends(passages, mentions, tokens, lex, by=by),
                        concept_label_shares(passages, mentions, lab, by=by), notes)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    export_table(res.mentions, out / "concept_mentions.csv")
    export_table(res.trends, out / "concept_trends.csv")
    export_table(res.labels, out / "concept_labels.csv")
    return res


# --- keyword in context --------------------------------------------------------------------------------

KWIC_COLUMNS = ["doc_id", "passage_id", "date", "lang", "left", "match", "right"]


def kwic(passages: pd.DataFrame, term: str | None = None, *, concept: str | None = None,
         lexicon: Lexicon | None = None, width: int = 40, lang: str | None = None,
         lemmatizer: Lemmatizer | None = None) -> pd.DataFrame:
    """Concordance lines for ``term`` (matched on lemmas, so any inflection counts) or for a
    lexicon ``concept``: ``doc_id``, ``passage_id``, ``date``, ``lang``, ``left``, ``match``,
    ``right`` (``width`` characters of context each side, whitespace collapsed).

    Examples
    --------
    >>> kwic(corpus.passages, "community of practice", width=30)  # doctest: +SKIP
    """
    if (term is None) == (concept is None):
        raise KmdError("give either a TERM or --concept ID")
    lex = lexicon or load_lexicon()
    if concept is not None:
        if concept not in lex.concepts:
            raise KmdError(f"concept {concept!r} is not in the lexicon; known ids: {', '.join(lex.ids)}")
        lex = Lexicon({concept: lex.concepts[concept]})
    else:
        if not term.strip():
            raise KmdError("TERM is empty")
        lex = Lexicon({"term": Concept("term", {"en": (term,), "ru": (term,)})})
    matcher = ConceptMatcher(lex, lemmatizer)
    rows = []
    for r in passages.itertuples(index=False):
        lg = getattr(r, "lang", None)
        if lg not in ("en", "ru") or (lang and lg != lang):
            continue
        text = str(r.text or "")
        for m in matcher.find(text, lg):
            left = _WS.sub(" ", text[max(0, m.start - width * 2):m.start]).rstrip()[-width:]
            right = _WS.sub(" ", text[m.end:m.end + width * 2]).lstrip()[:width]
            rows.append((r.doc_id, r.passage_id, getattr(r, "date", None), lg, left, m.text, right))
    return pd.DataFrame(rows, columns=KWIC_COLUMNS)


def format_kwic(df: pd.DataFrame, width: int = 40) -> str:
    """Aligned concordance lines for a terminal."""
    lines = []
    for r in df.itertuples(index=False):
        date = str(r.date) if r.date is not None and r.date == r.date else "-"
        lines.append(f"{r.doc_id}\t{date}\t{r.left:>{width}} [{r.match}] {r.right}")
    return "\n".join(lines)


# --- keyness ------------------------------------------------------------------------------------------

KEYNESS_COLUMNS = ["term", "count_a", "count_b", "per_10k_a", "per_10k_b", "g2", "p_value", "log_ratio", "key_in"]


def keyness_table(counts_a: Counter, counts_b: Counter, *, min_count: int = 5) -> pd.DataFrame:
    """Log-likelihood G2 (Rayson and Garside 2000) and log ratio (Hardie 2014: log2 of the
    ratio of relative frequencies, a zero count taken as 0.5) of each term, A against B.
    ``key_in`` says which group uses the term more; rows sorted by G2, largest first."""
    from scipy.stats import chi2

    na, nb = sum(counts_a.values()), sum(counts_b.values())
    if na == 0 or nb == 0:
        raise KmdError(f"keyness needs text in both groups (tokens: a={na}, b={nb})")
    terms = [t for t in set(counts_a) | set(counts_b) if counts_a.get(t, 0) + counts_b.get(t, 0) >= min_count]
    a = np.array([counts_a.get(t, 0) for t in terms], dtype=np.float64)
    b = np.array([counts_b.get(t, 0) for t in terms], dtype=np.float64)
    e1 = na * (a + b) / (na + nb)
    e2 = nb * (a + b) / (na + nb)
    with np.errstate(divide="ignore", invalid="ignore"):
        g2 = 2 * (np.where(a > 0, a * np.log(a / e1), 0.0) + np.where(b > 0, b * np.log(b / e2), 0.0))
    lr = np.log2((np.where(a > 0, a, 0.5) / na) / (np.where(b > 0, b, 0.5) / nb))
    df = pd.DataFrame({"term": terms, "count_a": a.astype(int), "count_b": b.astype(int),
                       "per_10k_a": a / na * 1e4, "per_10k_b": b / nb * 1e4, "g2": g2,
                       "p_value": chi2.sf(g2, 1), "log_ratio": lr,
                       "key_in": np.where(a / na >= b / nb, "a", "b")})
    return df.sort_values(["g2", "term"], ascending=[False, True], ignore_index=True)[KEYNESS_COLUMNS]


def group_values(passages: pd.DataFrame, by: str, period_by: str = "year") -> pd.Series:
    if by == "genre":
        return passages["genre"].astype(object)
    if by == "lang":
        return passages["lang"].astype(object)
    if by == "period":
        return _periods(passages, period_by)
    raise KmdError(f"--by {by!r} is not one of genre, lang, period")


def keyness(passages: pd.DataFrame, lemmas: Sequence[list[str]], *, by: str = "genre", a: str | None = None,
            b: str | None = None, min_count: int = 5) -> tuple[pd.DataFrame, str, str]:
    """Key terms of group ``a`` against group ``b`` (default: ``b`` = every other passage).

    Defaults for ``a``: academic (genre), en (lang), the latest period (period).
    Returns (table, a, b)."""
    groups = group_values(passages, by).to_numpy(dtype=object)
    present = sorted({g for g in groups if isinstance(g, str)})
    if len(present) < 2 and b is None:
        raise KmdError(f"keyness by {by} needs two groups; the input has {present or 'none'}")
    if a is None:
        a = {"genre": "academic", "lang": "en"}.get(by, present[-1] if present else None)
        if a not in present:
            a = present[-1]
    if a not in present:
        raise KmdError(f"--a {a!r}: no passages with {by} {a!r}; values present: {', '.join(present)}")
    if b is not None and b not in present:
        raise KmdError(f"--b {b!r}: no passages with {by} {b!r}; values present: {', '.join(present)}")
    ca, cb = Counter(), Counter()
    for g, lem in zip(groups, lemmas):
        if g == a:
            ca.update(lem)
        elif (b is None and isinstance(g, str)) or g == b:
            cb.update(lem)
    return keyness_table(ca, cb, min_count=min_count), a, (b if b is not None else f"not {a}")
