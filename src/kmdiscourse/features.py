"""Features for the why/how/other classifier: word tokens, a bilingual cue lexicon, rhetorical patterns.

The cue lexicon (``data/cues.yaml``) maps English and Russian words to *shared* families
(``cue:value``, ``cue:steps``, ``cue:boilerplate``...), so evidence learned from passages in
one language helps the other. Structural patterns that are not words (numbered lists,
imperatives, citations, percentages, URLs, questions, length) become ``pat:`` features.

Everything here is a module-level function or a small scikit-learn transformer, so models
clone, pickle and save with skops.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import yaml
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .errors import FormatError

_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*|\d+", re.UNICODE)


def normalise(text: str) -> str:
    """Lowercase, ё -> е, typographic apostrophes -> '."""
    return text.lower().replace("ё", "е").replace("’", "'")


def word_tokens(text: str) -> list[str]:
    """Lowercased word tokens (letters, with inner hyphens/apostrophes) and digit runs as ``0``."""
    return ["0" if t.isdigit() else t for t in _WORD.findall(normalise(text))]


def stem_tokens(text: str, prefix: int = 6) -> list[str]:
    """Word tokens with Cyrillic words cut to their first ``prefix`` letters.

    Not a lemmatiser: a cheap way to pool Russian inflections (``ценность``, ``ценности``,
    ``ценностью`` -> ``ценнос``) for n-gram features when lemmas are not at hand.
    """
    out = []
    for t in word_tokens(text):
        if prefix and len(t) > prefix and _CYR.match(t):
            t = t[:prefix]
        out.append(t)
    return out


class TokenAnalyzer:
    """A picklable analyzer for ``TfidfVectorizer``: tokens (optionally stemmed) and n-grams.

    Parameters
    ----------
    ngram_range : (int, int)
        Word n-gram sizes.
    prefix : int
        Cut Cyrillic words to this many letters (0 keeps them whole).
    """

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), prefix: int = 6):
        self.ngram_range = tuple(ngram_range)
        self.prefix = prefix

    def __call__(self, text: str) -> list[str]:
        toks = stem_tokens(text, self.prefix)
        lo, hi = self.ngram_range
        out = list(toks) if lo <= 1 else []
        for n in range(max(2, lo), hi + 1):
            out.extend(" ".join(toks[i:i + n]) for i in range(len(toks) - n + 1))
        return out

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, TokenAnalyzer) and (self.ngram_range, self.prefix) == (other.ngram_range, other.prefix)

    def __hash__(self) -> int:
        return hash((self.ngram_range, self.prefix))

    def __repr__(self) -> str:
        return f"TokenAnalyzer(ngram_range={self.ngram_range}, prefix={self.prefix})"


# --- the cue lexicon ------------------------------------------------------------------------

@dataclass(frozen=True)
class Lexicon:
    """Compiled cue lexicon: single words (exact or prefix) and multi-word sequences per family."""

    families: tuple[str, ...]
    hints: dict[str, str]
    exact: dict[str, tuple[int, ...]]
    prefixes: dict[str, tuple[int, ...]]
    multi: dict[str, tuple[tuple[tuple[str, ...], int], ...]]  # first word key -> (pattern, family)
    imperative_en: frozenset[str]
    not_imperative_ru: frozenset[str]
    source: str


def _term_part(word: str) -> str:
    return normalise(word.strip())


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """Read and compile the cue lexicon (the shipped ``data/cues.yaml`` by default).

    Raises
    ------
    FormatError
        When the file is not valid YAML or lacks the ``families`` mapping.
    """
    if path is None:
        text = resources.files("kmdiscourse").joinpath("data/cues.yaml").read_text(encoding="utf-8")
        return _compile_lexicon(text, "kmdiscourse/data/cues.yaml")
    p = Path(path)
    return _compile_lexicon(p.read_text(encoding="utf-8"), str(p))


@lru_cache(maxsize=8)
def _compile_lexicon(text: str, source: str) -> Lexicon:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FormatError(f"{source}: not valid YAML ({exc})") from exc
    fams = (data or {}).get("families") if isinstance(data, dict) else None
    if not isinstance(fams, dict) or not fams:
        raise FormatError(f"{source}: expected a 'families' mapping of cue families")
    names = tuple(fams)
    exact: dict[str, set[int]] = {}
    prefixes: dict[str, set[int]] = {}
    multi: dict[str, set[tuple[tuple[str, ...], int]]] = {}
    hints = {}
    for i, name in enumerate(names):
        spec = fams[name] or {}
        hints[name] = str(spec.get("hint", ""))
        for lang in ("en", "ru"):
            for term in spec.get(lang) or []:
                parts = tuple(_term_part(w) for w in str(term).split())
                if not parts or any(not p for p in parts):
                    continue
                if len(parts) == 1:
                    w = parts[0]
                    if w.endswith("*") and len(w) > 1:
                        prefixes.setdefault(w[:-1], set()).add(i)
                    else:
                        exact.setdefault(w, set()).add(i)
                else:
                    multi.setdefault(parts[0], set()).add((parts, i))
    imp = data.get("imperative") or {}
    return Lexicon(
        families=names,
        hints=hints,
        exact={k: tuple(sorted(v)) for k, v in exact.items()},
        prefixes={k: tuple(sorted(v)) for k, v in prefixes.items()},
        multi={k: tuple(sorted(v)) for k, v in multi.items()},
        imperative_en=frozenset(normalise(w) for w in imp.get("en") or []),
        not_imperative_ru=frozenset(normalise(w) for w in imp.get("ru_not_imperative") or []),
        source=source,
    )


def _token_info(lex: Lexicon, tok: str, cache: dict) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Families a token matches on its own, and the multi-word keys it can start (cached)."""
    hit = cache.get(tok)
    if hit is not None:
        return hit
    fams = set(lex.exact.get(tok, ()))
    keys = [tok] if tok in lex.multi else []
    for k in range(1, len(tok) + 1):
        pre = tok[:k]
        f = lex.prefixes.get(pre)
        if f:
            fams.update(f)
        if pre + "*" in lex.multi:
            keys.append(pre + "*")
    hit = (tuple(sorted(fams)), tuple(keys))
    if len(cache) > 200_000:
        cache.clear()
    cache[tok] = hit
    return hit


def _part_matches(part: str, tok: str) -> bool:
    if part == "*":
        return True
    if part.endswith("*"):
        return tok.startswith(part[:-1])
    return tok == part


# --- structural patterns --------------------------------------------------------------------

# Each pattern starts with a literal or a narrow class where possible: Python's re scans fast then.
_SENT_START = re.compile(r"(?:^|[.!?;:•·▪—–-]\s+|\n\s*|\d[.)]\s+)"
                         r"(?:(?:then|next|first|finally|also|so|and|now|second|third|instead|always|never),?\s+)?"
                         r"([^\W\d_]+(?:'[^\W\d_]+)?)")
_NUMBERED = re.compile(r"(?m)^\s*(?:\(?\d{1,2}[.)]|[•·▪*-])\s+\S|[.:;]\s+\(?\d{1,2}\)\s")
_CIT_PAREN = re.compile(r"\((?:[^()]{1,80}?),?\s(?:19|20)\d\d[a-z]?(?:[;,][^()]{0,60})?\)")
_CIT_BRACKET = re.compile(r"\[\d{1,3}(?:\s*[,–-]\s*\d{1,3})*(?:,\s*[сcp]\.\s*\d+)?\]")
_YEAR = re.compile(r"(?<!\d)(?:1[89]|20)\d\d(?!\d)")
_MONEY = re.compile(r"[$€£₽]\s?\d|\d\s?(?:[$€£₽]|руб|долл|млн|млрд|million|billion|bn\b)")
_RU_IMPERATIVE = re.compile(r"([а-я]{3,}(?:йте|ите|ьте)(?:сь)?)(?![а-я])")
_RU_INF_MODAL = re.compile(r"(?<![а-я])(?:нужно|надо|следует|стоит|необходимо|важно|рекомендуется|можно)\s+(?:[а-я]+\s+)?[а-я]+(?:ть|ти|чь)(?:ся)?(?![а-я])")
_EN_MODAL_VERB = re.compile(r"\b(?:should|must|need to|have to|has to|ought to)\s")
_PAST_WE_EN = re.compile(r"\bwe\s+(?:[a-z]+ly\s+)?[a-z]+ed\b")
_PAST_WE_RU = re.compile(r"(?<![а-я])мы\s+(?:[а-я]+\s+)?[а-я]+(?:ли|лись)(?![а-я])")
_DEFINE = re.compile(r"\s(?:is|are)\s+(?:a|an|the)\s|\s[—–-]\s(?:это\s)?")
_DIGIT = re.compile(r"\d")
_UPPER = re.compile(r"[A-ZА-ЯЁ]")
_CYR = re.compile(r"[а-яё]")


PATTERN_NAMES: tuple[str, ...] = (
    "imperative", "numbered", "citation", "year", "percent", "money", "url", "question",
    "exclaim", "inf_modal", "past_we", "define_copula", "log_tokens", "short", "long",
    "digits", "caps", "cyrillic",
)


def cue_counts(text: str, lex: Lexicon, cache: dict | None = None, *, hits: bool = True
               ) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Counts per cue family for one text, and (``hits=True``) the matched terms as
    ``(term, family index)``."""
    cache = {} if cache is None else cache
    toks = word_tokens(text)
    counts = [0] * len(lex.families)
    found: list[tuple[str, int]] = []
    n = len(toks)
    get = cache.get
    for i, tok in enumerate(toks):
        info = get(tok)
        if info is None:
            info = _token_info(lex, tok, cache)
        fams, keys = info
        for f in fams:
            counts[f] += 1
            if hits:
                found.append((tok, f))
        if keys:
            for key in keys:
                for parts, f in lex.multi[key]:
                    m = len(parts)
                    if i + m <= n and all(_part_matches(p, t) for p, t in zip(parts[1:], toks[i + 1:i + m])):
                        counts[f] += 1
                        if hits:
                            found.append((" ".join(toks[i:i + m]), f))
    return np.asarray(counts, dtype=np.float32), found


def pattern_counts(text: str, lex: Lexicon) -> np.ndarray:
    """Structural features of one text, in the order of :data:`PATTERN_NAMES`."""
    low = normalise(text)
    imp = 0
    for m in _SENT_START.finditer(low):
        if m.group(1) in lex.imperative_en:
            imp += 1
    if "те" in low:
        imp += sum(1 for w in _RU_IMPERATIVE.findall(low) if w not in lex.not_imperative_ru)
    n_tok = max(1, low.count(" ") + 1)
    n_chars = max(1, len(text))
    url = low.count("://") + low.count("www.") + low.count("@")
    percent = low.count("%") + low.count("percent") + low.count("процент")
    cit = len(_CIT_PAREN.findall(text)) if "(" in text else 0
    cit += len(_CIT_BRACKET.findall(text)) if "[" in text else 0
    cit += low.count("et al") + low.count("и др.") + low.count("ibid")
    return np.array([
        imp,
        len(_NUMBERED.findall(text)),
        cit,
        len(_YEAR.findall(low)),
        percent,
        len(_MONEY.findall(low)),
        url,
        text.count("?"),
        text.count("!"),
        len(_RU_INF_MODAL.findall(low)) + len(_EN_MODAL_VERB.findall(low)),
        (len(_PAST_WE_EN.findall(low)) if "we " in low else 0) + (len(_PAST_WE_RU.findall(low)) if "мы " in low else 0),
        len(_DEFINE.findall(low)),
        math.log1p(n_tok),
        float(n_tok < 12),
        float(n_tok > 120),
        len(_DIGIT.findall(text)) / n_chars * 10,
        len(_UPPER.findall(text)) / n_chars * 10,
        float(bool(_CYR.search(low, 0, 400))),
    ], dtype=np.float32)


class CueFeatures(TransformerMixin, BaseEstimator):
    """Shared bilingual cue-family counts and rhetorical patterns as a sparse matrix.

    Counts are ``log1p``-scaled (patterns already on a small scale); ``per_token=True`` adds
    the density of each family (count per 100 tokens, ``log1p``-scaled) beside it.

    Parameters
    ----------
    lexicon : str or None
        Path of a cue lexicon YAML; None uses the shipped ``data/cues.yaml``.
    per_token : bool
        Also emit the per-100-token density of each cue family.

    Attributes
    ----------
    feature_names_ : ndarray of str
        ``cue:<family>``, ``dens:<family>`` and ``pat:<name>`` names.
    lexicon_text_ : str
        The lexicon YAML the model was fitted with (``lexicon_`` compiles it).
    """

    def __init__(self, lexicon: str | None = None, per_token: bool = True):
        self.lexicon = lexicon
        self.per_token = per_token

    def fit(self, X: Iterable[str], y=None):
        # the lexicon's text is kept (not the compiled object) so the model saves with skops
        if self.lexicon is None:
            self.lexicon_text_ = resources.files("kmdiscourse").joinpath("data/cues.yaml").read_text(encoding="utf-8")
            self.lexicon_source_ = "kmdiscourse/data/cues.yaml"
        else:
            self.lexicon_text_ = Path(self.lexicon).read_text(encoding="utf-8")
            self.lexicon_source_ = str(self.lexicon)
        lex = self.lexicon_
        fams = [f"cue:{f}" for f in lex.families]
        names = fams + ([f"dens:{f}" for f in lex.families] if self.per_token else [])
        self.feature_names_ = np.array(names + [f"pat:{p}" for p in PATTERN_NAMES], dtype=object)
        return self

    @property
    def lexicon_(self) -> Lexicon:
        """The compiled lexicon (compiled once per process, cached)."""
        return _compile_lexicon(self.lexicon_text_, self.lexicon_source_)

    def transform(self, X: Iterable[str]):
        check_is_fitted(self, "feature_names_")
        lex = self.lexicon_
        cache: dict = {}
        rows = []
        for text in X:
            c, _ = cue_counts(text, lex, cache, hits=False)
            p = pattern_counts(text, lex)
            parts = [np.log1p(c)]
            if self.per_token:
                ntok = math.expm1(p[PATTERN_NAMES.index("log_tokens")])
                parts.append(np.log1p(100.0 * c / max(ntok, 1.0)) / 2.0)
            parts.append(np.log1p(p))
            rows.append(np.concatenate(parts))
        arr = np.vstack(rows) if rows else np.zeros((0, len(self.feature_names_)), dtype=np.float32)
        return sp.csr_matrix(arr.astype(np.float64))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_")
        return self.feature_names_.copy()


def matched_terms(text: str, lex: Lexicon | None = None) -> dict[str, list[str]]:
    """The cue terms found in ``text``, by family (for evidence and error analysis)."""
    lex = lex or load_lexicon()
    _, hits = cue_counts(text, lex)
    out: dict[str, list[str]] = {}
    for term, f in hits:
        out.setdefault(lex.families[f], []).append(term)
    return out
