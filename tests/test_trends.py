"""Shares of why/how/other by period and group with 95% intervals."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from kmdiscourse.trends import format_shares, label_shares, period_of, share_columns, wilson_interval


def _df():
    return pd.DataFrame({
        "lang": ["en", "en", "en", "ru", "ru", "de"],
        "genre": ["business", "business", "academic", "business", "business", "business"],
        "date": ["2019-02-01", "2019-08-01", "2020-01-05", None, "2021-12-31", "2019-01-01"],
        "label": ["why", "how", "other", "how", "why", None],
        "p_why": [0.7, 0.2, 0.1, 0.1, 0.6, None],
        "p_how": [0.2, 0.7, 0.1, 0.8, 0.3, None],
        "p_other": [0.1, 0.1, 0.8, 0.1, 0.1, None],
    })


@pytest.mark.parametrize("share,n,lo,hi", [(0.5, 100, 0.4038, 0.5962), (0.0, 10, 0.0, 0.2775)])
def test_wilson_interval_known_values(share, n, lo, hi):
    a, b = wilson_interval(share, n)
    assert a == pytest.approx(lo, abs=1e-3) and b == pytest.approx(hi, abs=1e-3)


def test_label_shares_columns_are_stable():
    out = label_shares(_df(), by="year")
    assert list(out.columns) == ["period", "lang", "genre", "n", *share_columns()]


def test_label_shares_probability_mean_and_unlabelled_left_out():
    out = label_shares(_df())
    en_b = out[(out["lang"] == "en") & (out["genre"] == "business")].iloc[0]
    assert en_b["n"] == 2 and en_b["period"] == "all"
    assert en_b["share_why"] == pytest.approx(0.45)
    assert en_b["ci_low_why"] < 0.45 < en_b["ci_high_why"]
    assert "de" not in set(out["lang"])
    total = out[[f"share_{k}" for k in ("why", "how", "other")]].sum(axis=1)
    assert all(math.isclose(t, 1.0, abs_tol=1e-3) for t in total)


def test_label_shares_count_method_uses_hard_labels():
    out = label_shares(_df(), method="count")
    en_b = out[(out["lang"] == "en") & (out["genre"] == "business")].iloc[0]
    assert en_b["share_why"] == pytest.approx(0.5)


@pytest.mark.parametrize("by,expected", [("year", ["2019", "2019", "2020", "undated", "2021", "2019"]),
                                         ("quarter", ["2019Q1", "2019Q3", "2020Q1", "undated", "2021Q4", "2019Q1"]),
                                         ("month", ["2019-02", "2019-08", "2020-01", "undated", "2021-12", "2019-01"])])
def test_period_of(by, expected):
    assert period_of(_df()["date"], by).tolist() == expected


def test_format_shares_says_how_estimated():
    text = format_shares(label_shares(_df()), unlabelled=1)
    assert "mean calibrated probability" in text and "95%" in text and "1 passages in other languages" in text


def _random_classified(n: int, seed: int) -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(seed)
    p = rng.dirichlet([0.5, 0.5, 0.5], size=n) ** rng.integers(1, 4, size=(n, 1))
    p = np.round(p / p.sum(axis=1, keepdims=True), 4)
    return pd.DataFrame({
        "lang": rng.choice(["en", "ru", "de"], n), "genre": rng.choice(["business", "academic", None], n),
        "date": rng.choice(["2019-02-01", "2020-07-30", None, "2021-11-11"], n),
        "label": rng.choice(["why", "how", "other"], n),
        "p_why": p[:, 0], "p_how": p[:, 1], "p_other": p[:, 2],
    }).assign(label=lambda d: d["label"].where(d["lang"] != "de", None))


@pytest.mark.parametrize("method", ["probability", "count"])
@pytest.mark.parametrize("by", [None, "quarter"])
def test_share_accumulator_batches_equal_whole_table(method, by):
    from kmdiscourse.trends import ShareAccumulator

    df = _random_classified(2000, seed=3)
    for size, rows in ((1, 60), (13, 500), (999, 2000)):
        part = df.iloc[:rows]
        acc = ShareAccumulator(by, method=method)
        for i in range(0, rows, size):
            acc.add(part.iloc[i:i + size])
        pd.testing.assert_frame_equal(acc.table(), label_shares(part, by, method=method))
    whole = acc.table()
    assert len(whole) >= 6 and set(whole["lang"]) == {"en", "ru"}


def test_share_accumulator_merge_equals_adding_here():
    from kmdiscourse.trends import ShareAccumulator

    df = _random_classified(900, seed=5)
    parts = [ShareAccumulator("year") for _ in range(3)]
    for i, acc in enumerate(parts):  # e.g. summed by three worker processes
        acc.add(df.iloc[i * 300:(i + 1) * 300])
    total = ShareAccumulator("year")
    for acc in reversed(parts):  # the order does not matter: exact sums
        total.merge(acc)
    pd.testing.assert_frame_equal(total.table(), label_shares(df, "year"))
    with pytest.raises(ValueError, match="different by"):
        total.merge(ShareAccumulator(None))


def test_label_shares_mean_is_the_correctly_rounded_mean():
    import numpy as np

    from kmdiscourse.trends import _exact_sum, _SCALE

    df = _random_classified(3000, seed=5)
    out = label_shares(df, None)
    g = df[(df["lang"] == "en") & (df["genre"] == "academic")]
    p = g[["p_why", "p_how", "p_other"]]
    share = math.fsum((p["p_why"] / p.sum(axis=1)).tolist()) / len(g)
    row = out[(out["lang"] == "en") & (out["genre"] == "academic")].iloc[0]
    assert row["n"] == len(g) and row["share_why"] == round(share, 4)
    values = np.random.default_rng(0).random(2000) ** 20
    total, count, _ = _exact_sum(values)
    assert count == 2000 and total / (1 << _SCALE) == math.fsum(values)
    assert _exact_sum(values[:500])[0] + _exact_sum(values[500:])[0] == total
