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
from sklearn.feature_extraction.text import TfidfVectorizer
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
        texts = list(X)
        if not texts:
            return sp.csr_matrix((0, len(self.feature_names_)), dtype=np.float64)
        _, block = featurizer_for(self, self).transform(texts, words=False)
        return sp.csr_matrix(block)

    def _transform_per_text(self, X: Iterable[str]):
        """The plain per-text definition of :meth:`transform` (the reference the fast path matches)."""
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


# --- fast chunk featurisation ---------------------------------------------------------------
#
# The per-text functions above are the plain definition of the features. Predicting on
# hundreds of thousands of passages needs the same numbers faster, so the code below
# normalises and tokenises each text once, memoises everything that depends on a token
# alone (its stem and n-gram id, cue families, and flags such as "a four-digit year" or
# "a Russian imperative") per token *type*, and turns the per-token facts of a whole chunk
# into counts with a few numpy operations. Regexes that cannot be read off the tokens run
# only on texts whose tokens make a match possible (a necessary condition), so every count
# is the one the plain definition gives. tests/test_features_speed.py checks this.

_RU_MODALS = ("нужно", "надо", "следует", "стоит", "необходимо", "важно", "рекомендуется", "можно")
_EN_MODAL_ONE = ("should", "must")
_EN_MODAL_TWO = ("need", "have", "has", "ought")
_MONEY_HINTS = ("$", "€", "£", "₽", "руб", "долл", "млн", "млрд", "million", "billion", "bn")
_BULLETS = "(•·▪*-"
_DASHES = "—–-"
_HEAD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_YEAR_TOKEN = re.compile(r"(?:1[89]|20)\d\d")
# bytes.translate table for counting [A-ZА-ЯЁ] in UTF-8: A-Z -> 3, the lead byte of U+0400-U+043F
# -> 2, the second bytes of Ё (0x81) and А-Я (0x90-0xAF) -> 1, everything else -> 0.
_CAPS_TABLE = bytes(3 if 65 <= b <= 90 else 2 if b == 0xD0 else 1 if b == 0x81 or 0x90 <= b <= 0xAF
                    else 0 for b in range(256))

# per-token flags, one bit each
_F_YEAR, _F_CIT4, _F_IMP_EN, _F_RU_MOD, _F_INF, _F_EN_MOD1, _F_EN_MOD2, _F_TO, _F_WE, _F_ED, \
    _F_MY, _F_LI, _F_ISARE, _F_ART, _F_CYR, _F_PART2, _F_WILD2 = (1 << i for i in range(17))


def _caps_count(text: str) -> int:
    """``len(_UPPER.findall(text))`` without a regex scan."""
    if text.isascii():
        b = text.encode("ascii")
        return len(b) - len(b.translate(None, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    b = text.encode("utf-8", "surrogatepass").translate(_CAPS_TABLE)
    return b.count(3) + b.count(b"\x02\x01")


def _spaced_dash(low: str) -> bool:
    """True when a dash of ``_DEFINE`` is preceded by whitespace somewhere in ``low``."""
    for ch in _DASHES:
        i = low.find(ch, 1)
        while i > 0:
            if low[i - 1].isspace():
                return True
            i = low.find(ch, i + 1)
    return False


class _TokenIds(dict):
    """raw token -> token-type id; a new token is described once by its owner."""

    __slots__ = ("owner",)

    def __missing__(self, tok: str) -> int:
        return self.owner._add(tok)


class ChunkFeaturizer:
    """Cue, pattern and (optionally) word n-gram counts for many texts at once.

    Built from a fitted :class:`CueFeatures` and, optionally, the fitted word
    ``TfidfVectorizer`` (analyzer :class:`TokenAnalyzer`); gives the same matrices as their
    ``transform`` on one text at a time. Use :func:`featurizer_for` to get the cached one.
    """

    MAX_TYPES = 200_000

    def __init__(self, cues: CueFeatures | None = None, words=None):
        self.cues = cues
        self.lex = cues.lexicon_ if cues is not None else None
        self.per_token = bool(cues.per_token) if cues is not None else False
        self.words = words
        self.prefix = 0
        self.ngram_keys: list[tuple[int, np.ndarray, np.ndarray]] = []  # (n, sorted keys, columns)
        if words is not None:
            an = words.analyzer
            self.prefix = an.prefix
            stems: dict[str, int] = {}
            by_n: dict[int, list[tuple[tuple[int, ...], int]]] = {}
            for term, col in words.vocabulary_.items():
                parts = term.split(" ")
                ids = tuple(stems.setdefault(p, len(stems)) for p in parts)
                by_n.setdefault(len(parts), []).append((ids, int(col)))
            self.stems = stems
            S = max(1, len(stems))
            self.n_stems = S
            self.uni_col = np.full(S, -1, dtype=np.int64)
            for ids, col in by_n.get(1, []):
                self.uni_col[ids[0]] = col
            for n, items in sorted(by_n.items()):
                if n == 1:
                    continue
                keys = np.zeros(len(items), dtype=np.int64)
                for j, (ids, _) in enumerate(items):
                    k = 0
                    for s in ids:
                        k = k * S + s
                    keys[j] = k
                cols = np.array([c for _, c in items], dtype=np.int64)
                order = np.argsort(keys)
                self.ngram_keys.append((n, keys[order], cols[order]))
            self.n_words = len(words.vocabulary_)
            self.idf = getattr(words, "idf_", None) if words.use_idf else None
        if self.lex is not None:
            self.n_fams = len(self.lex.families)
            # later parts of multi-word cues, numbered; per first-word key, the patterns by
            # the number of their second part
            self.part_exact: dict[str, int] = {}
            self.part_prefix: dict[str, int] = {}
            self.part_wild = -1
            self.by_second: dict[str, dict[int, list[tuple[tuple[int, ...], int, int]]]] = {}
            for key, pats in self.lex.multi.items():
                for parts, f in pats:
                    ids = tuple(self._part_id(x) for x in parts[1:])
                    self.by_second.setdefault(key, {}).setdefault(ids[0], []).append((ids[1:], f, len(parts)))
        self._reset()

    def _part_id(self, part: str) -> int:
        if part == "*":
            if self.part_wild < 0:
                self.part_wild = len(self.part_exact) + len(self.part_prefix)
            return self.part_wild
        table, k = (self.part_prefix, part[:-1]) if part.endswith("*") else (self.part_exact, part)
        if k not in table:
            table[k] = len(self.part_exact) + len(self.part_prefix) + (self.part_wild >= 0)
        return table[k]

    def _part_set(self, wt: str) -> frozenset[int]:
        """Numbers of the later multi-word parts that word token ``wt`` matches (as ``_part_matches``)."""
        out = set()
        e = self.part_exact.get(wt)
        if e is not None:
            out.add(e)
        if self.part_prefix:
            get = self.part_prefix.get
            for k in range(0, len(wt) + 1):
                j = get(wt[:k])
                if j is not None:
                    out.add(j)
        return frozenset(out)

    @staticmethod
    def supports(words) -> bool:
        """Whether a fitted word vectorizer is one this class reproduces exactly."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        if type(words) is not TfidfVectorizer or not isinstance(words.analyzer, TokenAnalyzer):
            return False
        lo, hi = words.analyzer.ngram_range
        if lo < 1 or hi < lo or hi > 3 or words.binary or words.norm not in ("l2", None) or words.input != "content":
            return False
        if not hasattr(words, "vocabulary_") or words.vocabulary is not None:
            return False
        n_parts = {len(t.split(" ")) for t in words.vocabulary_}
        if not n_parts <= set(range(lo, hi + 1)):
            return False
        n_stems = len({p for t in words.vocabulary_ for p in t.split(" ")})
        return n_stems ** hi < 2 ** 62

    def _reset(self) -> None:
        self.ids = _TokenIds()
        self.ids.owner = self
        # per token type: word token (digits -> "0"), stem id, cue-family set id, multi-word
        # keys, Russian imperatives, digit count, flags
        self.wtok: list[str] = []
        self.sid: list[int] = []
        self.cue: list[int] = []
        self.keys: list[tuple[str, ...]] = []
        self.msets: list[frozenset[int]] = []
        self.ruimp: list[int] = []
        self.ndig: list[int] = []
        self.flags: list[int] = []
        self.fam_sets: dict[tuple[int, ...], int] = {(): 0}
        self._arrays: tuple | None = None
        self._fam_matrix: np.ndarray | None = None

    def _add(self, tok: str) -> int:
        tid = len(self.wtok)
        wt = "0" if tok.isdigit() else tok
        self.wtok.append(wt)
        if self.words is not None:
            st = wt
            if self.prefix and len(st) > self.prefix and _CYR.match(st):
                st = st[:self.prefix]
            self.sid.append(self.stems.get(st, -1))
        lex = self.lex
        flags = 0
        if lex is not None:
            fams, keys = _token_info(lex, wt, {})
            self.cue.append(self.fam_sets.setdefault(fams, len(self.fam_sets)))
            self.keys.append(keys)
            ms = self._part_set(wt)
            if ms:
                flags |= _F_PART2
            if self.part_wild >= 0:
                ms = ms | {self.part_wild}
            self.msets.append(ms)
            if any(self.part_wild in self.by_second.get(k, ()) for k in keys):
                flags |= _F_WILD2
            ru = 0
            if "те" in tok:
                ru = sum(1 for w in _RU_IMPERATIVE.findall(tok) if w not in lex.not_imperative_ru)
            self.ruimp.append(ru)
            head = _HEAD.match(tok)
            if head is not None and head.group() in lex.imperative_en:
                flags |= _F_IMP_EN
        else:
            self.cue.append(0)
            self.keys.append(())
            self.msets.append(frozenset())
            self.ruimp.append(0)
        digit_run = _DIGIT.match(tok) is not None
        self.ndig.append(len(tok) if digit_run else 0)
        if digit_run:
            if _YEAR_TOKEN.fullmatch(tok):
                flags |= _F_YEAR
            if len(tok) >= 4 and tok[:2] in ("19", "20"):
                flags |= _F_CIT4
        if any(w in tok for w in _RU_MODALS):
            flags |= _F_RU_MOD
        if "ть" in tok or "ти" in tok or "чь" in tok:
            flags |= _F_INF
        if any(w in tok for w in _EN_MODAL_ONE):
            flags |= _F_EN_MOD1
        if tok.endswith(_EN_MODAL_TWO):
            flags |= _F_EN_MOD2
        if tok == "to":
            flags |= _F_TO
        if tok.endswith("we"):
            flags |= _F_WE
        if "ed" in tok:
            flags |= _F_ED
        if tok.endswith("мы"):
            flags |= _F_MY
        if "ли" in tok:
            flags |= _F_LI
        if tok in ("is", "are"):
            flags |= _F_ISARE
        if tok in ("a", "an", "the"):
            flags |= _F_ART
        if _CYR.search(tok):
            flags |= _F_CYR
        self.flags.append(flags)
        self.ids[tok] = tid
        self._arrays = None
        return tid

    def _tables(self):
        if self._arrays is None:
            self._arrays = (np.asarray(self.sid, dtype=np.int64), np.asarray(self.cue, dtype=np.int64),
                            np.asarray([bool(k) for k in self.keys]), np.asarray(self.ruimp, dtype=np.float64),
                            np.asarray(self.ndig, dtype=np.float64), np.asarray(self.flags, dtype=np.int64))
            F = self.n_fams if self.lex is not None else 0
            fm = np.zeros((len(self.fam_sets), F), dtype=np.float64)
            for fams, k in self.fam_sets.items():
                for f in fams:
                    fm[k, f] += 1
            self._fam_matrix = fm
        return self._arrays

    # --- one chunk ------------------------------------------------------------------------

    def _scan(self, texts: list[str]):
        getitem = self.ids.__getitem__
        findall = _WORD.findall
        flat: list[int] = []
        lens: list[int] = []
        lows: list[str] = []
        for text in texts:
            low = text.lower().replace("ё", "е").replace("’", "'")
            toks = findall(low)
            flat += map(getitem, toks)
            lens.append(len(toks))
            lows.append(low)
        return lows, np.asarray(flat, dtype=np.int64), np.asarray(lens, dtype=np.int64)

    def scan(self, texts: list[str]):
        if len(self.wtok) > self.MAX_TYPES:  # bound the memo: start again between chunks
            self._reset()
        return self._scan(texts)

    def word_counts(self, tids: np.ndarray, doc: np.ndarray, n: int):
        """The word n-gram count matrix (CSR, canonical), as ``CountVectorizer`` builds it."""
        sid = self._tables()[0][tids]
        rows, cols = [], []
        lo, _ = self.words.analyzer.ngram_range
        if lo <= 1:
            uc = np.where(sid >= 0, self.uni_col[np.maximum(sid, 0)], -1)
            m = uc >= 0
            rows.append(doc[m])
            cols.append(uc[m])
        S = self.n_stems
        for k, keys, kcols in self.ngram_keys:
            if len(sid) < k or not len(keys):
                continue
            L = len(sid) - k + 1
            key = sid[:L].copy()
            ok = sid[:L] >= 0
            for j in range(1, k):
                nxt = sid[j:j + L]
                ok &= (nxt >= 0) & (doc[j:j + L] == doc[:L])
                key = key * S + np.maximum(nxt, 0)
            pos = np.flatnonzero(ok)
            kk = key[pos]
            at = np.minimum(np.searchsorted(keys, kk), len(keys) - 1)
            hit = keys[at] == kk
            rows.append(doc[pos[hit]])
            cols.append(kcols[at[hit]])
        r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        dtype = self.words.dtype
        X = sp.csr_matrix((np.ones(len(r), dtype=dtype), (r, c)), shape=(n, self.n_words), dtype=dtype)
        X.sum_duplicates()
        X.sort_indices()
        return X

    def tfidf(self, tids: np.ndarray, doc: np.ndarray, n: int):
        """Same matrix as the word ``TfidfVectorizer.transform`` (sklearn's own arithmetic)."""
        from sklearn.preprocessing import normalize

        X = self.word_counts(tids, doc, n)
        X.indices = X.indices.astype(np.int32, copy=False)
        X.indptr = X.indptr.astype(np.int32, copy=False)
        if self.words.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1.0
        if self.idf is not None:
            X.data *= self.idf[X.indices]
        if self.words.norm is not None:
            X = normalize(X, norm=self.words.norm, copy=False)
        return sp.csr_matrix(X)

    def cue_block(self, texts: list[str], lows: list[str], tids: np.ndarray, lens: np.ndarray,
                  doc: np.ndarray) -> np.ndarray:
        """Dense ``CueFeatures.transform`` rows (float64) for a chunk."""
        lex = self.lex
        n = len(texts)
        _, cue, multi, ruimp, ndig, flags = self._tables()
        fm = self._fam_matrix
        F = self.n_fams
        # single-word families: documents x family-set counts, times the family-set matrix
        ct = cue[tids]
        m = ct > 0
        C = np.zeros((n, F), dtype=np.float64)
        if m.any():
            D = sp.csr_matrix((np.ones(int(m.sum())), (doc[m], ct[m])), shape=(n, fm.shape[0]))
            C = np.asarray(D @ fm)
        # multi-word families: only where a token can start one and the next token can go on
        fl = flags[tids]
        L = len(tids) - 1
        if L > 0:
            cand = multi[tids[:L]] & (doc[:L] == doc[1:]) & (((fl[1:] & _F_PART2) != 0) | ((fl[:L] & _F_WILD2) != 0))
            pos = np.flatnonzero(cand)
        else:
            pos = np.zeros(0, dtype=np.int64)
        if len(pos):
            ends = np.cumsum(lens)
            tl = tids.tolist()
            msets, keys, by_second = self.msets, self.keys, self.by_second
            for p, d in zip(pos.tolist(), doc[pos].tolist()):
                end = int(ends[d])
                second = msets[tl[p + 1]]
                for key in keys[tl[p]]:
                    table = by_second[key]
                    for j in second:
                        for rest, f, mm in table.get(j, ()):
                            if p + mm <= end and all(r in msets[tl[q]] for r, q in zip(rest, range(p + 2, p + mm))):
                                C[d, f] += 1
        # per-document token sums and token-pair conditions
        def per_doc(w):
            return np.bincount(doc, weights=w, minlength=n)

        has = lambda bit: per_doc(((fl & bit) != 0).astype(np.float64)) > 0  # noqa: E731
        ru_imp = per_doc(ruimp[tids])
        digits = per_doc(ndig[tids])
        years = per_doc(((fl & _F_YEAR) != 0).astype(np.float64))
        cit4, imp_en, en_mod1, cyr = has(_F_CIT4), has(_F_IMP_EN), has(_F_EN_MOD1), has(_F_CYR)

        def pair(a_bit, b_bit, gap2: bool = False):
            out = np.zeros(n, dtype=bool)
            a = (fl & a_bit) != 0
            b = (fl & b_bit) != 0
            for g in ((1, 2) if gap2 else (1,)):
                if len(fl) > g:
                    hit = a[:-g] & b[g:] & (doc[:-g] == doc[g:])
                    if hit.any():
                        out[doc[:-g][hit]] = True
            return out

        ru_mod = pair(_F_RU_MOD, _F_INF, True)
        en_mod2 = pair(_F_EN_MOD2, _F_TO)
        we_en = pair(_F_WE, _F_ED, True)
        we_ru = pair(_F_MY, _F_LI, True)
        define = pair(_F_ISARE, _F_ART)

        P = np.zeros((n, len(PATTERN_NAMES)), dtype=np.float64)
        ntok_f32 = np.zeros(n, dtype=np.float32)
        not_ru, imp_set = lex.not_imperative_ru, lex.imperative_en
        for i, (text, low) in enumerate(zip(texts, lows)):
            imp = 0
            if imp_en[i]:
                for mt in _SENT_START.finditer(low):
                    if mt.group(1) in imp_set:
                        imp += 1
            imp += ru_imp[i]
            has_digit = digits[i] > 0
            n_tok = max(1, low.count(" ") + 1)
            n_chars = max(1, len(text))
            numbered = 0
            if "\n" in text or (has_digit and ")" in text):
                numbered = len(_NUMBERED.findall(text))
            else:
                first = text.lstrip()[:1]
                if first and (first in _BULLETS or first.isdecimal()):
                    numbered = len(_NUMBERED.findall(text))
            cit = len(_CIT_PAREN.findall(text)) if cit4[i] and "(" in text else 0
            cit += len(_CIT_BRACKET.findall(text)) if has_digit and "[" in text else 0
            cit += low.count("et al") + low.count("и др.") + low.count("ibid")
            money = 0
            if has_digit and any(h in low for h in _MONEY_HINTS):
                money = len(_MONEY.findall(low))
            modal = 0
            if ru_mod[i]:
                modal += len(_RU_INF_MODAL.findall(low))
            if en_mod1[i] or en_mod2[i]:
                modal += len(_EN_MODAL_VERB.findall(low))
            past = 0
            if we_en[i] and "we " in low:
                past += len(_PAST_WE_EN.findall(low))
            if we_ru[i] and "мы " in low:
                past += len(_PAST_WE_RU.findall(low))
            dfn = len(_DEFINE.findall(low)) if define[i] or _spaced_dash(low) else 0
            if not cyr[i]:
                cy = 0.0
            elif len(low) <= 400:
                cy = 1.0
            else:
                cy = float(bool(_CYR.search(low, 0, 400)))
            lt = math.log1p(n_tok)
            row = P[i]
            row[0] = imp
            row[1] = numbered
            row[2] = cit
            row[3] = years[i]
            row[4] = low.count("%") + low.count("percent") + low.count("процент")
            row[5] = money
            row[6] = low.count("://") + low.count("www.") + low.count("@")
            row[7] = text.count("?")
            row[8] = text.count("!")
            row[9] = modal
            row[10] = past
            row[11] = dfn
            row[12] = lt
            row[13] = float(n_tok < 12)
            row[14] = float(n_tok > 120)
            row[15] = digits[i] / n_chars * 10
            row[16] = _caps_count(text) / n_chars * 10
            row[17] = cy
            ntok_f32[i] = lt
        # the arithmetic of CueFeatures.transform, on the whole chunk in float32
        C32 = C.astype(np.float32)
        P32 = P.astype(np.float32)
        parts = [np.log1p(C32)]
        if self.per_token:
            ntok = np.array([max(math.expm1(float(v)), 1.0) for v in ntok_f32], dtype=np.float64)
            parts.append(np.log1p(np.float32(100.0) * C32 / ntok.astype(np.float32)[:, None]) / np.float32(2.0))
        parts.append(np.log1p(P32))
        return np.hstack(parts).astype(np.float64)

    def transform(self, texts: list[str], *, words: bool = True, cues: bool = True):
        """(tf-idf words CSR or None, dense cue block or None) for ``texts``."""
        texts = list(texts)
        lows, tids, lens = self.scan(texts)
        n = len(texts)
        doc = np.repeat(np.arange(n, dtype=np.int64), lens)
        W = self.tfidf(tids, doc, n) if words and self.words is not None else None
        Cb = self.cue_block(texts, lows, tids, lens, doc) if cues and self.lex is not None else None
        return W, Cb


_FEATURIZERS: Any = None


def featurizer_for(owner, cues: CueFeatures | None, words=None) -> ChunkFeaturizer:
    """The :class:`ChunkFeaturizer` of a fitted object (made once per object and process)."""
    global _FEATURIZERS
    import weakref

    if _FEATURIZERS is None:
        _FEATURIZERS = weakref.WeakKeyDictionary()
    fz = _FEATURIZERS.get(owner)
    if fz is None or fz.cues is not cues or fz.words is not words:
        fz = ChunkFeaturizer(cues, words)
        _FEATURIZERS[owner] = fz
    return fz


def fast_union_transform(union, texts: list[str]):
    """``union.transform(texts)`` for the feature union :class:`PassageClassifier` builds,
    tokenising each text once; None when ``union`` has another shape (the caller then uses
    ``union.transform``)."""
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import MaxAbsScaler

    if type(union) is not FeatureUnion or getattr(union, "n_jobs", None) not in (None, 1):
        return None
    words = cues = scaler = chars = None
    order = []
    for name, tr in union.transformer_list:
        if tr == "drop" or tr is None:
            continue
        if name == "chars" and type(tr) is TfidfVectorizer and tr.analyzer == "char_wb":
            chars = tr  # sklearn's own char_wb transform: no second tokenisation to save
        elif name == "words" and ChunkFeaturizer.supports(tr):
            words = tr
        elif (name == "cues" and type(tr) is Pipeline and len(tr.steps) == 2
              and type(tr.steps[0][1]) is CueFeatures and type(tr.steps[1][1]) is MaxAbsScaler
              and hasattr(tr.steps[0][1], "feature_names_")):
            cues, scaler = tr.steps[0][1], tr.steps[1][1]
        else:
            return None
        order.append(name)
    if not order:
        return None
    fz = featurizer_for(union, cues, words)
    W, Cb = fz.transform(texts)
    weights = union.transformer_weights or {}
    blocks = []
    for name in order:
        w = weights.get(name)
        if name == "words":
            X = W * w if w is not None else W
        elif name == "chars":
            X = chars.transform(texts)
            X = X * w if w is not None else X
        else:
            Xc = sp.csr_matrix(Cb)  # as CueFeatures returns it, then MaxAbsScaler and the weight
            Xc.data *= (1.0 / scaler.scale_).take(Xc.indices, mode="clip")
            if scaler.clip:
                np.clip(Xc.data, -1.0, 1.0, out=Xc.data)
            X = Xc * w if w is not None else Xc
        blocks.append(X)
    return sp.hstack(blocks).tocsr() if len(blocks) > 1 else sp.csr_matrix(blocks[0])
