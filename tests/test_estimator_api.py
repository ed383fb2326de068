"""PassageClassifier follows the scikit-learn estimator conventions (style.md)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from kmdiscourse.classify import PassageClassifier

X = ["Investing in knowledge sharing pays off and gives an advantage.",
     "The value of lessons learned is a competitive benefit for firms.",
     "Ценность обмена опытом — выгода и преимущество для компании.",
     "Schedule a monthly call and appoint a facilitator for the group.",
     "Start with a wiki page, then review it every week.",
     "Назначьте координатора и проводите встречи раз в месяц.",
     "The term was coined in 1991 to describe situated learning.",
     "Posted in News. Leave a comment.",
     "Понятие сообщества практики описывает группу людей."]
Y = ["why"] * 3 + ["how"] * 3 + ["other"] * 3


def _est(**kw):
    return PassageClassifier(calibration_cv=2, min_df=1, **kw)


def test_init_only_stores_params():
    est = PassageClassifier(C=3.0, model="whatever")  # no checks in __init__
    assert est.get_params()["C"] == 3.0 and est.get_params()["model"] == "whatever"


@pytest.mark.parametrize("params", [{"alpha": 0.5, "word_ngrams": (1, 1)}])
def test_clone_and_params_round_trip(params):
    est = _est(**params)
    c = clone(est)
    assert c.get_params() == est.get_params()
    assert c.set_params(alpha=0.2).alpha == 0.2


def test_fit_returns_self_and_sets_trailing_underscore_attributes():
    est = _est()
    assert est.fit(X, Y) is est
    assert hasattr(est, "classes_") and hasattr(est, "features_")


def test_not_fitted_error():
    with pytest.raises(NotFittedError):
        _est().predict(X)


def test_pickle_round_trip():
    est = _est().fit(X, Y)
    again = pickle.loads(pickle.dumps(est))
    assert np.allclose(again.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("model", ["nb", "lr", "svm"])
def test_same_seed_same_output(model):
    a = _est(model=model, random_state=7).fit(X, Y).predict_proba(X)
    b = _est(model=model, random_state=7).fit(X, Y).predict_proba(X)
    assert np.array_equal(a, b)


def test_string_input_tag():
    assert PassageClassifier().__sklearn_tags__().input_tags.string


def test_bad_model_name_fails_at_fit():
    with pytest.raises(ValueError, match="not one of"):
        _est(model="forest").fit(X, Y)
