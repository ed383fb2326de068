"""Concepts: lemma sequences -> concept mentions and trends; keyword in context; keyness.

A bilingual lexicon (``data/concepts.yaml``, extensible) names concepts with English and
Russian forms. Forms and passages go through the same lemmatiser
(:func:`kmdiscourse.preprocess.lemma_sequence`), so matching is robust to inflection, case,
``ё``/``е``, hyphenation and line breaks, and happens on whole tokens ("явных знаний" is not
found inside "неявных знаний").
"""
from __future__ import annotations

import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
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
        surface = text[s:e]
        if "-" in surface or "‐" in surface or "‑" in surface:
            parts = list(_COMPOUND_PART.finditer(surface))
            if len(parts) > 1:
                out.append(Token(_norm(lemma), s, e))  # the compound itself ...
                for m in parts:  # ... and its parts, at the same place
                    sub = _first_lemma(m.group(), lang, lem)
                    out.append(Token(sub if sub is not None else m.group().lower(), s + m.start(), s + m.end()))
                i += 1
                continue
        out.append(Token(_norm(lemma), s, e))
        i += 1
    return out


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
        self._index: dict[str, list[Pattern]] = {}
        self._abbrev: dict[str, list[str]] = defaultdict(list)
        for c in lexicon:
            for a in c.abbrev:
                self._abbrev[a].append(c.id)

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
            self._index = defaultdict(list)
            for k, p in enumerate(pats):
                for lm in set(p.lemmas):
                    self._index[lm].append(k)  # pattern numbers: cheaper to gather than patterns
            self._pats = pats
        return self._pats

    def find(self, text: str, lang: str) -> list[Mention]:
        """Mentions in ``text``: per concept, non-overlapping, in text order."""
        return self.find_tokens(text, lang, match_tokens(text, lang, self.lemmatizer))

    def find_tokens(self, text: str, lang: str, tokens: list[Token]) -> list[Mention]:
        pats = self.patterns(lang)
        index = self._index
        lemmas = [t.lemma for t in tokens]
        positions: dict[str, list[int]] = defaultdict(list)
        for i, lm in enumerate(lemmas):
            positions[lm].append(i)
        candidates = {k for lm in positions if lm in index for k in index[lm]}
        spans: list[tuple[int, int, str]] = []  # (start, end, concept)
        for k in candidates:
            p = pats[k]
            if not all(lm in positions for lm in p.lemmas):
                continue
            for i, j in _pattern_spans(p, lemmas, positions, tokens, text):
                spans.append((tokens[i].start, tokens[j].end, p.concept))
        if self._abbrev:
            for t in tokens:
                for cid in self._abbrev.get(text[t.start:t.end], ()):
                    spans.append((t.start, t.end, cid))
        return _dedupe(spans, text)


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


def _crosses_sentence(tokens: list[Token], idx: list[int], text: str) -> bool:
    lo, hi = min(idx), max(idx)
    return bool(_SENTENCE_END.search(text, tokens[lo].end, tokens[hi].start)) if hi > lo else False


def _pattern_spans(p: Pattern, lemmas: list[str], positions: dict[str, list[int]], tokens: list[Token],
                   text: str) -> Iterator[tuple[int, int]]:
    """Token index spans (first, last) where pattern ``p`` matches."""
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
                nxt = next((j for j in positions[lm] if prev < j and tokens[j].start >= tokens[prev].end), None)
                if nxt is None or _word_distance(tokens, idx[0], nxt) > window - 1:
                    ok = False
                    break
                idx.append(nxt)
            if ok and not _crosses_sentence(tokens, idx, text):
                yield idx[0], idx[-1]
        return
    need = Counter(p.lemmas)
    for lm0 in need:
        for i in positions[lm0]:
            # the window starts at a pattern word and holds every pattern word
            got: Counter = Counter()
            idx = []
            j = i
            while j < len(tokens) and _word_distance(tokens, i, j) < window:
                lm = lemmas[j]
                if got[lm] < need.get(lm, 0) and not any(tokens[j].start < tokens[k].end and tokens[k].start < tokens[j].end for k in idx):
                    got[lm] += 1
                    idx.append(j)
                j += 1
            if got == need and min(idx) == i and not _crosses_sentence(tokens, idx, text):
                yield min(idx), max(idx)


def _word_distance(tokens: list[Token], i: int, j: int) -> int:
    """Words from token i to token j (a compound's parts do not count as extra words)."""
    d = 0
    for k in range(i + 1, j + 1):
        if tokens[k].start >= tokens[k - 1].end or tokens[k].start > tokens[k - 1].start:
            if not (tokens[k - 1].start <= tokens[k].start and tokens[k].end <= tokens[k - 1].end):
                d += 1
    return d


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


def _scan_chunk(args) -> tuple[list[tuple[int, str, str]], list[int]]:
    """Worker: (row, concept, matched_text) for each mention, and tokens per passage."""
    texts, langs, lexicon, offset = args
    matcher = ConceptMatcher(lexicon)
    mentions, ntok = [], []
    for i, (text, lang) in enumerate(zip(texts, langs)):
        if lang not in ("en", "ru") or not text:
            ntok.append(0)
            continue
        toks = match_tokens(text, lang, matcher.lemmatizer)
        ntok.append(len({t.start for t in toks}))
        for m in matcher.find_tokens(text, lang, toks):
            mentions.append((offset + i, m.concept, m.text))
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
        matcher = ConceptMatcher(lexicon, lemmatizer)
        for i, (t, lg) in enumerate(zip(texts, langs)):
            if lg not in ("en", "ru") or not t:
                tokens.append(0)
                continue
            toks = match_tokens(t, lg, lemmatizer)
            tokens.append(len({x.start for x in toks}))
            mentions.extend((i, m.concept, m.text) for m in matcher.find_tokens(t, lg, toks))
    else:
        chunks = [(texts[i:i + chunk], langs[i:i + chunk], lexicon, i) for i in range(0, len(texts), chunk)]
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), unit="passage", desc="concepts")
        if engine is None:
            from .engine import LocalEngine

            engine = LocalEngine(jobs)
        from .preprocess import _warm_up

        for m, n in engine.map(_scan_chunk, chunks, before_fork=_warm_up):
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
    from .topics import period_of

    return passages["date"].map(lambda d: period_of(d, by)) if "date" in passages else pd.Series(
        [None] * len(passages), index=passages.index)


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
    rows = []
    for (c, p, lg), g in m.groupby(["concept", "period", "lang"], sort=True):
        lbl = g["label"].dropna()
        lbl = lbl[lbl.isin(LABELS)]
        n = len(lbl)
        rows.append((c, p, lg, len(g), n, *[(float((lbl == x).sum()) / n if n else float("nan")) for x in LABELS]))
    return pd.DataFrame(rows, columns=cols)


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
    else:
        df = pd.read_csv(p, sep="\t" if suf == ".tsv" else ",", dtype=str, keep_default_na=False)
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
