"""Language identification for documents and passages: ``en``, ``ru`` or ``other``."""
from __future__ import annotations

import re
import threading
from functools import lru_cache

_CYR = re.compile(r"[А-Яа-яЁёІіЇїЄєҐґЎўЂђЈјЉљЊњЋћЏџ]")
_LAT = re.compile(r"[A-Za-z]")
# Letters Russian never uses: Ukrainian і ї є ґ, Belarusian ў, Serbian/Macedonian ђ ј љ њ ћ џ.
_NOT_RU = re.compile(r"[ІіЇїЄєҐґЎўЂђЈјЉљЊњЋћЏџ]")
_RU_ONLY = re.compile(r"[ЫыЭэЁё]")  # absent from Ukrainian; ы/э absent from Bulgarian too


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import _load_identifier

    return _load_identifier(norm_probs=True)


#: The py3langid model this was checked against (transition table and state count) and the
#: length of its longest n-gram; tests/test_language_fast.py recomputes the depth.
_MODEL_SHAPE = (9816576, 104583)
_MODEL_DEPTH = 6


def automaton_depth(nm, rowbase) -> int:
    """The longest n-gram of the automaton: breadth-first depth of its deepest state."""
    import numpy as np

    depth = np.full(len(rowbase), -1, dtype=np.int64)
    depth[0] = 0
    frontier = np.array([0])
    level = 0
    while len(frontier):
        level += 1
        nxt = np.unique(nm[(rowbase[frontier][:, None] + np.arange(256)[None, :]).ravel()].astype(np.int64))
        nxt = nxt[depth[nxt] < 0]
        depth[nxt] = level
        frontier = nxt
    return -1 if (depth < 0).any() else int(depth.max())


@lru_cache(maxsize=1)
def _dfa():
    """py3langid's byte automaton as numpy arrays, and how many bytes decide its state.

    The automaton is Aho-Corasick over byte n-grams: its state after any byte is the longest
    suffix read so far that begins an n-gram, so it depends only on the last ``depth`` bytes
    (``depth`` = the longest n-gram). That lets all positions be walked at once with numpy
    instead of byte by byte in Python; :func:`_classify` gives exactly py3langid's answer.
    None when the model's layout is not the one this was written for.
    """
    import numpy as np

    ident = _identifier()
    try:
        nm = np.asarray(ident.tk_nextmove)  # zero-copy view of the array.array
        rowbase = np.asarray(ident._rowbase, dtype=np.int64)
        out = np.asarray(ident.tk_output, dtype=np.int64)
        ident._encode, ident._sparse_score, ident._alias_pairs, ident.nb_ptc  # noqa: B018
    except (AttributeError, TypeError, ValueError):
        return None
    if out.ndim != 1 or ident.min_confidence is not None or not ident._norm_probs:
        return None
    if (len(nm), len(out)) != _MODEL_SHAPE:  # another py3langid model: use its own walk
        return None
    # float16 weights as float32 once: the same products and sums (float16 -> float32 is exact),
    # but BLAS instead of a casting loop on every call
    table = np.asarray(ident.nb_ptc, dtype=np.float32)
    return nm, rowbase, out, _MODEL_DEPTH, table


_scratch = threading.local()


def _first_seen_counts(feats, n_features: int):
    """The distinct values of ``feats`` in order of first appearance, and how often each occurs.

    The same arrays as ``np.unique(feats, return_index=True, return_counts=True)`` reordered by
    first index, in linear time: a scratch array of ``n_features`` slots (one per thread)
    records where each feature first occurs, so no sort is needed.
    """
    import numpy as np

    where = getattr(_scratch, "where", None)
    if where is None or len(where) < n_features:
        where = _scratch.where = np.empty(n_features, dtype=np.intp)
    m = len(feats)
    pos = np.arange(m, dtype=np.intp)
    where[feats] = m
    np.minimum.at(where, feats, pos)  # each feature's first position (unbuffered, so repeats count)
    first = where[feats] == pos
    uniq = feats[first]
    where[uniq] = np.arange(len(uniq), dtype=np.intp)  # each feature's rank in first-seen order
    counts = np.bincount(where[feats], minlength=len(uniq))
    return uniq, counts


def _classify(sample: str) -> tuple[str, float]:
    """``py3langid.classify(sample)`` (normalised probabilities), walking the automaton with numpy."""
    import math

    import numpy as np

    ident = _identifier()
    dfa = _dfa()
    if dfa is None:
        return ident.classify(sample)
    nm, rowbase, out, depth, table = dfa
    data = ident._encode(sample)
    b = np.frombuffer(data, dtype=np.uint8).astype(np.intp)
    n = len(b)
    state = np.zeros(n, dtype=np.intp)
    for k in range(depth - 1, -1, -1):  # each position reads its last `depth` bytes, oldest first
        if k >= n:
            continue
        idx = rowbase.take(state[k:])
        idx += b[: n - k]
        state[k:] = nm.take(idx)
    feats = out.take(state)
    feats = feats[feats >= 0]
    if len(feats):
        # py3langid sums the features in the order its Counter first saw them: same order here
        uniq, counts = _first_seen_counts(feats, len(table))
        scores = np.log1p(counts.astype(np.float32)) @ table.take(uniq, axis=0) + ident.nb_pc
    else:
        scores = np.full(len(ident.nb_classes), 0.0, dtype=np.float32)
    scores *= 1.0 / math.sqrt(len(data) or 1)
    np.exp(scores - scores.max(), out=scores)
    scores /= scores.sum()
    for i, j in ident._alias_pairs:
        scores[i] += scores[j]
        scores[j] = 0.0
    i = int(scores.argmax())
    return ident.nb_classes[i], float(scores[i])


def detect_language(text: str) -> str:
    """Return ``en``, ``ru`` or ``other`` for ``text``.

    Script decides first (Cyrillic is not always Russian: letters only Ukrainian, Belarusian
    or Serbian use mark it ``other``); py3langid decides among the languages that share a
    script, so Bulgarian and Ukrainian Cyrillic and Latin text that is not English are ``other``.
    """
    return _detect_sample(text[:2000])


#: every byte but A-Z and a-z (which in UTF-8 only ever stand for themselves)
_NOT_LATIN_BYTES = bytes(c for c in range(256) if not (65 <= c <= 90 or 97 <= c <= 122))


@lru_cache(maxsize=1)
def _cyrillic_tables():
    """Which two-byte UTF-8 code points (U+0000-U+07FF) :data:`_CYR` and :data:`_NOT_RU` match."""
    import numpy as np

    cyr = np.array([bool(_CYR.match(chr(c))) for c in range(0x800)])
    not_ru = np.array([bool(_NOT_RU.match(chr(c))) for c in range(0x800)])
    return cyr, not_ru


def script_counts(sample: str) -> tuple[int, int, int]:
    """How many letters of ``sample`` :data:`_CYR`, :data:`_LAT` and :data:`_NOT_RU` match,
    counted on the UTF-8 bytes (the same numbers as ``len(pattern.findall(sample))``, faster)."""
    import numpy as np

    data = sample.encode("utf-8", "surrogatepass")
    n_lat = len(data.translate(None, _NOT_LATIN_BYTES))
    if data.isascii():
        return 0, n_lat, 0
    b = np.frombuffer(data, dtype=np.uint8)
    # every letter of both patterns lies in U+0400-U+04BF: lead byte 0xD0-0xD2, then one more
    lead = np.flatnonzero((b >= 0xD0) & (b <= 0xD2))
    if not len(lead):
        return 0, n_lat, 0
    code = ((b[lead] & 0x1F).astype(np.intp) << 6) | (b[lead + 1] & 0x3F)
    cyr, not_ru = _cyrillic_tables()
    return int(cyr[code].sum()), n_lat, int(not_ru[code].sum())


@lru_cache(maxsize=4096)  # a one-paragraph document and its passage are often the same text
def _detect_sample(sample: str) -> str:
    n_cyr, n_lat, not_ru = script_counts(sample)
    if n_cyr + n_lat < 3:
        return "other"
    if n_cyr >= n_lat:
        if not_ru > max(1, n_cyr // 200):
            return "other"
        lang, prob = _classify(sample)
        if lang == "ru":
            return "ru"
        if _RU_ONLY.search(sample) and lang not in ("uk", "be"):
            # short Russian texts are sometimes called Bulgarian or Macedonian
            return "ru" if lang in ("bg", "mk", "sr", "kk", "ky", "mn") or prob < 0.9 else "other"
        return "other"
    lang, prob = _classify(sample)
    if lang == "en":
        return "en"
    # short English passages full of names and jargon are often misread
    if len(sample.split()) < 12 and prob < 0.9:
        return "en"
    return "other"


def warm_up() -> None:
    """Load the language model now (before forking workers, so that they share it)."""
    _dfa() or _identifier()
