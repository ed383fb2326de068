"""Shares of why / how / other by period x language x genre, with 95% intervals, from classified passages.

The table is *wide* and stable (one row per group):

    period, lang, genre, n, share_why, ci_low_why, ci_high_why,
    share_how, ci_low_how, ci_high_how, share_other, ci_low_other, ci_high_other

``period`` is ``"all"`` without ``by``; otherwise ``2019``, ``2019Q3`` or ``2019-07`` (and
``"undated"`` for passages without a date). Groups of ``groups`` columns that are missing
are written ``"?"``.

How shares are estimated (``method``):

- ``"probability"`` (the default): the share of a label is the mean of its calibrated
  probability over the group's passages, which is unbiased when the probabilities are
  calibrated, where counting hard labels is not (a classifier that is right 80% of the
  time moves counts towards the majority class). The 95% interval is Wilson's score
  interval for that share with the group's n: by the law of total variance, a passage's
  true label, drawn with its probability, has variance share x (1 - share), the same as a
  Bernoulli draw, so the interval covers both the sampling of passages and the model's
  uncertainty about each one.
- ``"count"``: shares of the hard labels, with Wilson intervals.

Passages without a label (not en/ru) are left out of the shares; :func:`label_shares`
counts them in ``n_unlabelled`` when ``lang`` is not a group.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from .records import LABELS

Period = Literal["year", "quarter", "month"]
_Z = 1.959963984540054


def wilson_interval(share: float, n: int, z: float = _Z) -> tuple[float, float]:
    """Wilson score interval for a proportion ``share`` observed on ``n`` items."""
    if n <= 0 or share != share:
        return (float("nan"), float("nan"))
    share = min(1.0, max(0.0, float(share)))
    denom = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denom
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def period_of(dates: pd.Series, by: Period | None) -> pd.Series:
    """Period labels for dates: ``2019``, ``2019Q3``, ``2019-07``; ``undated`` when missing."""
    if by is None:
        return pd.Series("all", index=dates.index, dtype=object)
    if by not in ("year", "quarter", "month"):
        raise ValueError(f"by {by!r} is not one of year, quarter, month")
    d = pd.to_datetime(dates, errors="coerce")
    if by == "year":
        out = d.dt.year.astype("Int64").astype("string")
    elif by == "quarter":
        out = d.dt.year.astype("Int64").astype("string") + "Q" + d.dt.quarter.astype("Int64").astype("string")
    else:
        out = d.dt.strftime("%Y-%m").astype("string")
    return out.fillna("undated").astype(object)


def share_columns() -> list[str]:
    cols = []
    for lab in LABELS:
        cols += [f"share_{lab}", f"ci_low_{lab}", f"ci_high_{lab}"]
    return cols


def label_shares(df: pd.DataFrame, by: Period | None = None, groups: Sequence[str] = ("lang", "genre"),
                 *, method: Literal["probability", "count"] = "probability") -> pd.DataFrame:
    """Shares of why / how / other per period and group, with 95% intervals.

    Parameters
    ----------
    df : DataFrame
        The output of :func:`kmdiscourse.classify.classify` (columns ``label``, ``p_why``,
        ``p_how``, ``p_other``, ``date`` and the ``groups`` columns).
    by : {"year", "quarter", "month"} or None
        Period of ``date``; None puts every passage in period ``"all"``.
    groups : sequence of str
        Columns to break down by (``lang``, ``genre``, ``source_type``...).
    method : {"probability", "count"}
        Mean calibrated probability (default) or hard-label counts; see the module docstring.

    Returns
    -------
    DataFrame
        ``period``, the ``groups`` columns, ``n``, then ``share_<label>``, ``ci_low_<label>``,
        ``ci_high_<label>`` for why, how, other; sorted by period and groups.

    Examples
    --------
    >>> df = pd.DataFrame({"lang": ["en", "en"], "genre": ["business"] * 2, "date": [None, None],
    ...                    "label": ["why", "how"], "p_why": [0.8, 0.1], "p_how": [0.1, 0.8],
    ...                    "p_other": [0.1, 0.1]})
    >>> label_shares(df)[["period", "n", "share_why"]].to_dict("records")
    [{'period': 'all', 'n': 2, 'share_why': 0.45}]
    """
    acc = ShareAccumulator(by, groups, method=method)
    acc.add(df)
    return acc.table()


#: Exact sums are kept as integers in units of 2**-_SCALE (every float64 is a whole number of them).
_SCALE = 1130


def _exact_sum(values: np.ndarray) -> tuple[int, int, float]:
    """The sum of the non-NaN ``values`` exactly, as an integer in units of ``2**-_SCALE``; their
    count; and the (float) sum of any infinite values. Exact sums add up the same whatever the
    batches, so a table summed batch by batch equals the table of the whole."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    count = len(v)
    finite = np.isfinite(v)
    special = float(v[~finite].sum()) if not finite.all() else 0.0
    v = v[finite]
    if not len(v):
        return 0, count, special
    m, e = np.frexp(v)
    mant = np.ldexp(m, 53).astype(np.int64)  # |mant| < 2**53, exact
    shift = e.astype(np.int64) + (_SCALE - 53)  # >= 4 for the smallest subnormal
    order = np.argsort(shift, kind="stable")
    s = shift[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    mant = mant[order]
    hi = np.add.reduceat(mant >> 26, starts)  # halves: their sums stay within int64
    lo = np.add.reduceat(mant & ((1 << 26) - 1), starts)
    total = 0
    for h, l, sh in zip(hi.tolist(), lo.tolist(), s[starts].tolist()):
        total += ((h << 26) + l) << sh
    return total, count, special


class ShareAccumulator:
    """:func:`label_shares` over a table given in batches: :meth:`add` each batch (the columns
    :func:`label_shares` reads), then :meth:`table`. Only per-group counts and exact sums are
    kept, so memory does not grow with the number of passages, and the table is the same as
    :func:`label_shares` of all batches at once.

    Examples
    --------
    >>> df = pd.DataFrame({"lang": ["en", "en"], "genre": ["business"] * 2, "date": [None, None],
    ...                    "label": ["why", "how"], "p_why": [0.8, 0.1], "p_how": [0.1, 0.8],
    ...                    "p_other": [0.1, 0.1]})
    >>> acc = ShareAccumulator()
    >>> acc.add(df.iloc[:1]); acc.add(df.iloc[1:])
    >>> acc.table()[["period", "n", "share_why"]].to_dict("records")
    [{'period': 'all', 'n': 2, 'share_why': 0.45}]
    """

    def __init__(self, by: Period | None = None, groups: Sequence[str] = ("lang", "genre"),
                 *, method: Literal["probability", "count"] = "probability"):
        if method not in ("probability", "count"):
            raise ValueError(f"method {method!r} is not one of probability, count")
        if by is not None and by not in ("year", "quarter", "month"):
            raise ValueError(f"by {by!r} is not one of year, quarter, month")
        self.by, self.groups, self.method = by, list(groups), method
        # key -> [n, {label: [exact sum, count, special]}]
        self._sums: dict[tuple, list] = {}

    def add(self, df: pd.DataFrame) -> None:
        """Count one batch of classified passages (unlabelled ones are passed over)."""
        groups = self.groups
        labelled = df[df["label"].isin(LABELS)] if "label" in df.columns else df.iloc[0:0]
        if labelled.empty:
            return
        work = pd.DataFrame(index=labelled.index)
        work["period"] = period_of(labelled["date"] if "date" in labelled.columns
                                   else pd.Series(None, index=labelled.index), self.by)
        for g in groups:
            work[g] = (labelled[g] if g in labelled.columns else pd.Series(None, index=labelled.index)) \
                .astype(object).where(lambda s: s.notna(), "?").astype(str)
        for lab in LABELS:
            if self.method == "probability":
                work[lab] = pd.to_numeric(labelled[f"p_{lab}"], errors="coerce").astype(float)
            else:
                work[lab] = (labelled["label"] == lab).astype(float)
        if self.method == "probability":  # each passage's probabilities, normalised to sum 1
            total = work[list(LABELS)].sum(axis=1).replace(0, np.nan)
            for lab in LABELS:
                work[lab] = work[lab] / total
        for key, g in work.groupby(["period", *groups], sort=False, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            entry = self._sums.get(key)
            if entry is None:
                entry = self._sums[key] = [0, {lab: [0, 0, 0.0] for lab in LABELS}]
            entry[0] += len(g)
            for lab in LABELS:
                total_, count, special = _exact_sum(g[lab].to_numpy(dtype=np.float64))
                acc = entry[1][lab]
                acc[0] += total_
                acc[1] += count
                acc[2] += special

    def merge(self, other: ShareAccumulator) -> None:
        """Add the counts of ``other`` (same ``by``, groups and method), e.g. summed by a worker
        process: exact sums, so the table is the same as if its batches were added here."""
        if (other.by, other.groups, other.method) != (self.by, self.groups, self.method):
            raise ValueError("ShareAccumulator.merge: accumulators of different by, groups or method")
        for key, (n, sums) in other._sums.items():
            entry = self._sums.get(key)
            if entry is None:
                entry = self._sums[key] = [0, {lab: [0, 0, 0.0] for lab in LABELS}]
            entry[0] += n
            for lab in LABELS:
                acc, add = entry[1][lab], sums[lab]
                acc[0] += add[0]
                acc[1] += add[1]
                acc[2] += add[2]

    def table(self) -> pd.DataFrame:
        """The :func:`label_shares` table of everything added so far."""
        groups = self.groups
        cols = ["period", *groups, "n", *share_columns()]
        if not self._sums:
            return pd.DataFrame(columns=cols)
        rows = []
        for key in sorted(self._sums):
            n, sums = self._sums[key]
            row = dict(zip(["period", *groups], key))
            row["n"] = n
            for lab in LABELS:
                total_, count, special = sums[lab]
                # exact integer / power of two: the correctly rounded sum, as math.fsum gives
                value = total_ / (1 << _SCALE) + special
                share = value / count if count else float("nan")
                lo, hi = wilson_interval(share, n)
                row[f"share_{lab}"] = round(share, 4)
                row[f"ci_low_{lab}"] = round(lo, 4)
                row[f"ci_high_{lab}"] = round(hi, 4)
            rows.append(row)
        return pd.DataFrame(rows, columns=cols)


def format_shares(shares: pd.DataFrame, *, method: str = "probability", unlabelled: int = 0) -> str:
    """A plain-text table of :func:`label_shares` for the terminal (percentages with 95% CI)."""
    if shares.empty:
        text = "no passages in English or Russian to classify"
    else:
        keys = [c for c in shares.columns if c not in ("n", *share_columns())]
        show = shares[keys + ["n"]].copy()
        if (show["period"] == "all").all():
            show = show.drop(columns="period")
        for lab in LABELS:
            show[lab] = [f"{100 * s:4.1f}% [{100 * lo:4.1f}-{100 * hi:4.1f}]" for s, lo, hi in
                         zip(shares[f"share_{lab}"], shares[f"ci_low_{lab}"], shares[f"ci_high_{lab}"])]
        text = show.to_string(index=False)
    how = ("mean calibrated probability" if method == "probability" else "share of predicted labels")
    note = f"shares: {how}, with 95% Wilson intervals"
    if unlabelled:
        note += f"; {unlabelled} passages in other languages not labelled"
    return text + "\n" + note
