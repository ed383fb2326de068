"""The fast chunk featurisation gives exactly what the plain per-text definitions give.

The reference here is the straightforward path: sklearn's ``TfidfVectorizer.transform``
with :class:`TokenAnalyzer` (one text at a time), ``cue_counts`` + ``pattern_counts`` per
text (``CueFeatures._transform_per_text``), ``MaxAbsScaler`` and the union's weights, and
the per-row evidence loop the classifier used before it was vectorised.
"""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.pipeline import FeatureUnion

from kmdiscourse.classify import PassageClassifier, _top_terms, load_model
from kmdiscourse.features import (PATTERN_NAMES, CueFeatures, _caps_count, _UPPER, fast_union_transform,
                                  load_lexicon, pattern_counts)

from conftest import ROOT

# Edge cases written for the token-derived patterns and the pre-checks before regexes.
EDGE = [
    "", "   ", "?", "1. Do it now\n2) Share the notes\n- Ask them\n• Keep a log", "  3) use the wiki",
    "(1) Review the lessons. 2. Write them down; (3) publish.",
    "Спросите коллег (Иванов, 2009) и [1, с. 5] — это ВАЖНО: нужно делать выводы!",
    "As shown (Smith et al., 2011a; Brown, 1999), knowledge is a resource [12-14] ibid.",
    "We QUICKLY learned a lot. we used 1998 and 2020s, $5, 3 млн руб and 7 bn; 12%.",
    "Ёлки ЁЖ İstanbul x² ² ١٩٩٨ 19٩8 2009-2010 1800 1899 2100 12345 0019",
    "Мы быстро собрали опыт, мы внедрили портал. Затем мы обсуждали итоги.",
    "Не забудьте: сохраните записи, поделитесь ими и обсудите; ПОЗВОНИТЕ экспертам. Посмотрите-ка сами.",
    "Следует чаще проводить встречи. Важно не терять знания. Можно просто записать. Надо бы начать.",
    "You should share. Teams need to write; firms have to invest, and one ought to ask. Must-have tools.",
    "Knowledge management is a discipline - it is the practice. A wiki — это инструмент. well-known tools",
    "Then use the wiki. Next, ask. Always share! never. First,  build the map\n\nfollow-up: don't wait",
    "Visit https://example.org or www.example.com, mail km@example.org. 50 percent / 30 процентов.",
    "ALL CAPS HEADER\tWITH TABS\r\nand\u00a0-\u00a0non-breaking spaces \u2028 line sep",
    "Ёжики и ёлки: Её знания. ’Quoted’ don’t can’t we’ve",
    "x" * 500 + " Привет", "word " * 130, "a b c",
    "Нужно   быстро начать", "need to\nstart", "We\n\nreused it", "мы\tсделали",
]


def _label_texts() -> list[str]:
    out = []
    for f in sorted((ROOT / "corpora" / "labels").glob("*.jsonl")):
        with open(f, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        out += [r["text"] for r in rows[::12]]
    return out


def _generated(n: int) -> list[str]:
    import sys

    sys.path.insert(0, str(ROOT))
    from benchmarks.corpus import generate_passages

    return [r["text"] for r in generate_passages(n, seed=7)]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rng = random.Random(0)
    base = _label_texts() + _generated(120)
    # a few joins of two passages (lines, lists) to exercise multi-line patterns
    mixed = ["\n".join(rng.sample(base, 2)) for _ in range(20)]
    return base + mixed + EDGE


@pytest.fixture(scope="module")
def shipped():
    return load_model()


def _reference_union(union: FeatureUnion, texts: list[str]):
    weights = union.transformer_weights or {}
    blocks = []
    for name, tr in union.transformer_list:
        if name == "words":
            X = sp.vstack([tr.transform([t]) for t in texts]).tocsr()
        else:
            cues, scaler = tr.steps[0][1], tr.steps[1][1]
            X = scaler.transform(cues._transform_per_text(texts))
        w = weights.get(name)
        blocks.append(X * w if w is not None else X)
    return sp.hstack(blocks).tocsr()


def _reference_evidence(clf: PassageClassifier, Z, P, k: int = 3) -> list[str]:
    from kmdiscourse.classify import _term  # noqa: F401  (the names the evidence uses)

    names = clf.feature_names_
    best = np.argmax(P, axis=1)
    out = []
    for i in range(Z.shape[0]):
        row = Z.getrow(i)
        idx, vals = row.indices, row.data
        if not len(idx):
            out.append("")
            continue
        c = best[i]
        others = [j for j in range(len(clf.classes_)) if j != c]
        w = clf.coef_[c, idx] - clf.coef_[others][:, idx].mean(axis=0)
        contrib = w * vals
        order = np.argsort(contrib)
        pos = _top_terms((names[idx[j]] for j in order[::-1] if contrib[j] > 0), k)
        neg = _top_terms((names[idx[j]] for j in order if contrib[j] < 0), k)
        out.append(" ".join([f"+{t}" for t in pos] + [f"-{t}" for t in neg]))
    return out


def test_enough_varied_texts(texts):
    assert len(texts) >= 300
    assert sum(any("а" <= ch <= "я" for ch in t.lower()) for t in texts) >= 100


def test_cue_block_equals_per_text_definition(texts, shipped):
    cues = dict(shipped.features_.transformer_list)["cues"].steps[0][1]
    ref = cues._transform_per_text(texts).toarray()
    new = cues.transform(texts).toarray()
    bad = np.argwhere(~np.isclose(ref, new, rtol=1e-6, atol=1e-7))
    assert not len(bad), [(texts[i][:60], cues.feature_names_[j], ref[i, j], new[i, j]) for i, j in bad[:5]]
    assert np.array_equal(ref, new)  # the same float operations: bit for bit


def test_cue_block_in_small_chunks_and_alone(texts, shipped):
    cues = dict(shipped.features_.transformer_list)["cues"].steps[0][1]
    whole = cues.transform(texts).toarray()
    parts = np.vstack([cues.transform(texts[i:i + 7]).toarray() for i in range(0, len(texts), 7)])
    assert np.array_equal(whole, parts)
    assert cues.transform([]).shape == (0, len(cues.feature_names_))


def test_union_matrix_equals_reference(texts, shipped):
    ref = _reference_union(shipped.features_, texts)
    new = fast_union_transform(shipped.features_, texts)
    assert new.shape == ref.shape and new.dtype == ref.dtype
    assert abs(ref - new).max() < 1e-9
    ref.sort_indices()
    new.sort_indices()
    assert np.array_equal(ref.indptr, new.indptr) and np.array_equal(ref.indices, new.indices)


def test_shipped_model_probabilities_and_evidence_unchanged(texts, shipped):
    Z = _reference_union(shipped.features_, texts)
    P_ref = shipped.calibrated_.predict_proba(Z)
    assert np.allclose(shipped.predict_proba(texts), P_ref, rtol=0, atol=1e-12)
    P, ev = shipped.predict_with_evidence(texts)
    assert np.allclose(P, P_ref, rtol=0, atol=1e-12)
    assert ev == _reference_evidence(shipped, Z, P_ref)


@pytest.mark.parametrize("params", [dict(word_ngrams=(1, 3), prefix=5, cue_weight=0.5),
                                    dict(word_ngrams=(1, 1), prefix=0, min_df=1),
                                    dict(word_ngrams=(0, 0))])
def test_other_settings_match_reference(texts, params):
    rng = random.Random(1)
    labels = [rng.choice(["why", "how", "other"]) for _ in texts]
    clf = PassageClassifier(calibration_cv=2, **params).fit(texts, labels)
    Z = _reference_union(clf.features_, texts)
    new = fast_union_transform(clf.features_, texts)
    assert new is not None and abs(Z - new).max() < 1e-9
    assert np.allclose(clf.predict_proba(texts), clf.calibrated_.predict_proba(Z), rtol=0, atol=1e-12)


def test_other_union_shapes_fall_back(texts):
    from sklearn.feature_extraction.text import TfidfVectorizer

    union = FeatureUnion([("chars", TfidfVectorizer(analyzer="char", ngram_range=(2, 3)))]).fit(texts)
    assert fast_union_transform(union, texts) is None


@pytest.mark.parametrize("text", EDGE)
def test_edge_patterns_one_by_one(text, shipped):
    cues = dict(shipped.features_.transformer_list)["cues"].steps[0][1]
    ref = cues._transform_per_text([text]).toarray()
    assert np.array_equal(cues.transform([text]).toarray(), ref)


def test_edge_patterns_count_something():
    # the edge texts do reach the patterns they were written for (so the equality above is not vacuous)
    lex = load_lexicon()
    P = np.vstack([pattern_counts(t, lex) for t in EDGE])
    for name in ("imperative", "numbered", "citation", "year", "money", "inf_modal", "past_we", "define_copula",
                 "percent", "url"):
        assert P[:, PATTERN_NAMES.index(name)].sum() > 0, name


@pytest.mark.parametrize("text", ["ABC Ёж ЯЁА абв ёж", "plain ascii TEXT", "\ud800 lone Ж", "ѐЀЏАЯаяѐ", ""])
def test_caps_count(text):
    assert _caps_count(text) == len(_UPPER.findall(text))


def test_token_memo_reset_keeps_results(texts, shipped, monkeypatch):
    from kmdiscourse import features

    cues = CueFeatures().fit([])
    ref = cues.transform(texts).toarray()
    monkeypatch.setattr(features.ChunkFeaturizer, "MAX_TYPES", 50)
    fresh = CueFeatures().fit([])
    chunks = [fresh.transform(texts[i:i + 40]).toarray() for i in range(0, len(texts), 40)]
    assert len(features.featurizer_for(fresh, fresh).wtok) < 2000  # the memo was started again
    assert np.array_equal(np.vstack(chunks), ref)
