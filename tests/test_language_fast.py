"""The numpy walk of py3langid's automaton gives exactly py3langid's answers, faster."""
from __future__ import annotations

import random

import numpy as np
import pytest

from kmdiscourse import language

WORDS_EN = "knowledge sharing community practice engineers wiki lessons learned retiring expert onboarding".split()
WORDS_RU = "знания сообщество практиков инженеры опыт база уроки наставник передача экспертиза".split()
WORDS_OTHER = "Wissen Gemeinschaft знання спільнота partage connaissances 知識 共有 ñandú ÉCOLE".split()


def _texts(n=400, seed=3):
    rng = random.Random(seed)
    out = ["", "a", "ab", "abc", "ABC DEF GHI", "Привет", "x" * 5, "é" * 3, "12 345 -- !!"]
    for _ in range(n):
        pool = rng.choice([WORDS_EN, WORDS_RU, WORDS_OTHER, WORDS_EN + WORDS_RU])
        out.append(" ".join(rng.choice(pool) for _ in range(rng.randint(1, 300)))[:2000])
    return out


def test_language_automaton_depth_matches_constant():
    dfa = language._dfa()
    if dfa is None:
        pytest.skip("a py3langid model this fast path was not written for")
    nm, rowbase, _, depth, _ = dfa
    assert language.automaton_depth(nm, rowbase) == depth


@pytest.mark.parametrize("seed", [3])
def test_language_classify_equals_py3langid(seed):
    ident = language._identifier()
    for text in _texts(seed=seed):
        lang, prob = language._classify(text)
        ref_lang, ref_prob = ident.classify(text)
        assert (lang, prob) == (ref_lang, ref_prob), text[:60]
    assert np.isfinite(prob)
