"""Report: one self-contained, offline HTML page of the corpus, why/how shares, topics and concepts.

The page inlines the Vega / Vega-Lite / vega-embed JavaScript (from ``vl-convert-python``), so it
opens in any browser without a network. All data, corpus text included, travels as JSON inside a
``<script type="application/json">`` block with ``<``, ``>`` and ``&`` escaped, and the page's own
script renders every piece of corpus text with ``textContent``: a passage holding ``<script>`` or
``<img onerror=...>`` shows as text and runs nothing.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import html
import importlib.metadata
import inspect
import json
import logging
import math
import os
import platform
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import KmdError, MissingDependencyError
from .records import LABELS, LANGS

log = logging.getLogger("kmdiscourse")

Period = Literal["year", "quarter", "month"]
PERIODS: tuple[str, ...] = ("year", "quarter", "month")

#: Longest passage text kept in the page (characters); longer ones end with an ellipsis.
MAX_TEXT = 600
#: Budget of distinct example passages in one report (keeps 10,000-document reports at a few MB).
MAX_PASSAGES = 2400
#: Topics fitted for the report when it runs the topic model itself: small and fast.
REPORT_TOPICS_K = 6

LABEL_COLOURS = {"why": "#d95f02", "how": "#1b9e77", "other": "#8c8c8c"}
GENRE_ORDER = ["all", "business", "academic", "unknown"]
VERSIONED = ("kmdiscourse", "pandas", "numpy", "scikit-learn", "scipy", "gensim", "tomotopy", "spacy",
             "altair", "vl-convert-python")


@dataclass
class TopicTables:
    """Topic model outputs, with the columns of the ``topics`` command's files.

    ``topics``: topic, rank, term, weight. ``prevalence``: topic, period, genre, lang, n_docs,
    share, ci_low, ci_high. ``effects``: topic, effect, estimate, ci_low, ci_high (long), or one
    row per topic with ``<effect>``/``<effect>_ci_low``/``<effect>_ci_high`` columns (wide).
    ``doc_topics``: doc_id, topic, weight (optional; gives the example passages).
    """

    topics: pd.DataFrame
    prevalence: pd.DataFrame
    effects: pd.DataFrame | None = None
    doc_topics: pd.DataFrame | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConceptTables:
    """Concept outputs, with the columns of the ``concepts`` command's files.

    ``trends``: concept, period, genre, lang, mentions, docs, tokens, per_10k_tokens.
    ``mentions``: doc_id, passage_id, concept, lang, matched_text[, label].
    ``labels``: concept, period, lang and the why/how/other shares (long: label, share; or wide:
    why, how, other), used when the passages' probabilities are not at hand.
    """

    trends: pd.DataFrame
    mentions: pd.DataFrame | None = None
    labels: pd.DataFrame | None = None
    settings: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------
# small helpers


def period_of(dates: pd.Series, by: Period = "year") -> pd.Series:
    """``YYYY``, ``YYYY-Qn`` or ``YYYY-MM`` for each date; missing for undated rows."""
    if by not in PERIODS:
        raise KmdError(f"period {by!r} is not one of {', '.join(PERIODS)}")
    d = pd.to_datetime(pd.Series(dates), errors="coerce")
    if by == "year":
        out = d.dt.year.astype("Int64").astype("string")
    elif by == "quarter":
        out = d.dt.year.astype("Int64").astype("string") + "-Q" + d.dt.quarter.astype("Int64").astype("string")
    else:
        out = d.dt.strftime("%Y-%m").astype("string")
    return out.where(d.notna(), pd.NA)


def _str(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()[:10]
    return str(value)


def _num(value: Any, digits: int = 4) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else round(f, digits)


def _trim(text: Any, limit: int = MAX_TEXT) -> str:
    s = _str(text) or ""
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "\u2026"


def _fill(df: pd.DataFrame, cols: list[str], value: str = "unknown") -> pd.DataFrame:
    df = df.copy()
    for c in cols:
        if c not in df:
            df[c] = value
        df[c] = df[c].astype("object").where(df[c].notna(), value)
    return df


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def corpus_hash(corpus) -> str:
    """SHA-256 of the corpus: the sorted (path, file hash) pairs of the manifest, or else the
    passages' ids and texts."""
    h = hashlib.sha256()
    files = [f for f in corpus.files if f.get("sha256")]
    if files:
        for f in sorted(files, key=lambda f: f["path"]):
            h.update(f"{f['path']}\t{f['sha256']}\t{f.get('status')}\n".encode())
    else:
        for pid, text in zip(corpus.passages["passage_id"], corpus.passages["text"]):
            h.update(f"{pid}\t{text}\n".encode())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------
# tables behind the charts


def _cluster_share(p: np.ndarray, docs: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``p`` with a 95% interval that treats passages of one document as a cluster
    (linearised ratio estimator); a binomial interval when there is one document."""
    n = len(p)
    m = float(p.mean())
    codes, inv = np.unique(docs, return_inverse=True)
    k = len(codes)
    if k >= 2:
        s = np.bincount(inv, weights=p, minlength=k)
        c = np.bincount(inv, minlength=k).astype(float)
        resid = s - m * c
        se = math.sqrt(k / (k - 1) * float((resid ** 2).sum())) / n
    else:
        se = math.sqrt(max(m * (1 - m), 1e-12) / n)
    return m, max(0.0, m - 1.96 * se), min(1.0, m + 1.96 * se)


def compute_shares(classified: pd.DataFrame, by: Period = "year") -> pd.DataFrame:
    """why/how/other shares per period x lang x genre (and genre ``all``) from the calibrated
    probabilities, with 95% intervals clustered by document.

    Returns columns period, lang, genre, label, n_passages, n_docs, share, ci_low, ci_high.
    """
    df = classified.copy()
    df = df[df["lang"].isin(LANGS) & df["label"].notna() & (df["label"].astype(str) != "")]
    df = _fill(df, ["genre"])
    df["period"] = period_of(df["date"], by)
    df = df[df["period"].notna()]
    rows = []
    both = pd.concat([df, df.assign(genre="all")], ignore_index=True)
    for (period, lang, genre), g in both.groupby(["period", "lang", "genre"], sort=True):
        docs = g["doc_id"].astype(str).to_numpy()
        for label in LABELS:
            m, lo, hi = _cluster_share(g[f"p_{label}"].astype(float).to_numpy(), docs)
            rows.append({"period": period, "lang": lang, "genre": genre, "label": label,
                         "n_passages": len(g), "n_docs": int(g["doc_id"].nunique()),
                         "share": m, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=["period", "lang", "genre", "label", "n_passages", "n_docs",
                                       "share", "ci_low", "ci_high"])


def _effects_long(effects: pd.DataFrame | None) -> pd.DataFrame:
    """Effects as topic, effect, estimate, ci_low, ci_high, whatever shape the table came in."""
    cols = ["topic", "effect", "estimate", "ci_low", "ci_high"]
    if effects is None or effects.empty:
        return pd.DataFrame(columns=cols)
    e = effects.copy()
    if "effect" not in e and "term" in e:
        e = e.rename(columns={"term": "effect"})
    if "estimate" not in e:
        for alt_name in ("coef", "value", "diff", "slope"):
            if alt_name in e:
                e = e.rename(columns={alt_name: "estimate"})
                break
    if {"topic", "effect", "estimate", "ci_low", "ci_high"} <= set(e.columns):
        return e[cols]
    rows = []  # wide: <name>, <name>_ci_low, <name>_ci_high
    for _, r in e.iterrows():
        for c in e.columns:
            if f"{c}_ci_low" in e and f"{c}_ci_high" in e:
                rows.append({"topic": r["topic"], "effect": c, "estimate": r[c],
                             "ci_low": r[f"{c}_ci_low"], "ci_high": r[f"{c}_ci_high"]})
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------------------------------------
# example passages


class _Examples:
    """Distinct example passages (columnar, for the page) and the groups that point at them."""

    FIELDS = ["passage_id", "doc_id", "text", "title", "source", "date", "lang", "genre",
              "source_type", "url", "label", "p_why", "p_how", "p_other", "evidence"]

    def __init__(self, table: pd.DataFrame, budget: int = MAX_PASSAGES):
        self.table = table.set_index("passage_id", drop=False)
        self.index: dict[str, int] = {}
        self.rows: list[list[Any]] = []
        self.groups: dict[str, list[int]] = {}
        self.budget = budget

    def add(self, key: str, passage_ids) -> None:
        out = self.groups.setdefault(key, [])
        for pid in passage_ids:
            if pid not in self.table.index:
                continue
            i = self.index.get(pid)
            if i is None:
                if len(self.rows) >= self.budget:
                    continue
                r = self.table.loc[pid]
                if isinstance(r, pd.DataFrame):
                    r = r.iloc[0]
                row = []
                for f in self.FIELDS:
                    v = r.get(f) if f in r.index else None
                    if f == "text":
                        v = _trim(v)
                    elif f.startswith("p_"):
                        v = _num(v, 3)
                    else:
                        v = _str(v)
                    row.append(v)
                i = self.index[pid] = len(self.rows)
                self.rows.append(row)
            if i not in out:
                out.append(i)

    def payload(self) -> dict[str, Any]:
        return {"fields": self.FIELDS, "rows": self.rows, "groups": self.groups}


def _per_group(n_groups: int, budget: int, most: int) -> int:
    return max(1, min(most, budget // max(1, n_groups)))


# ------------------------------------------------------------------------------------------------
# charts (Vega-Lite specs built with altair)


def _alt():
    try:
        import altair as alt
    except ImportError as exc:  # pragma: no cover - altair is a dependency
        raise MissingDependencyError("the report needs altair: pip install 'altair>=5.2'") from exc
    return alt


def _x_period(alt, title="period"):
    return alt.X("period:O", title=title, sort="ascending",
                 axis=alt.Axis(labelAngle=-60, labelOverlap="parity", labelFontSize=9))


def _band_line_points(alt, rows, colour_field, colour_scale, y_title, tooltip, y_format=".0%",
                      y_domain=None):
    base = alt.Chart(alt.Data(values=rows)).encode(
        x=_x_period(alt, None),
        color=alt.Color(f"{colour_field}:N", scale=colour_scale, legend=alt.Legend(orient="top", symbolOpacity=1)),
    )
    yscale = alt.Scale(domain=y_domain) if y_domain else alt.Scale(zero=True)
    band = base.mark_area(opacity=0.16).encode(y=alt.Y("ci_low:Q", scale=yscale), y2="ci_high:Q")
    line = base.mark_line(strokeWidth=1.6).encode(
        y=alt.Y("share:Q", title=y_title, scale=yscale, axis=alt.Axis(format=y_format)))
    points = base.mark_point(filled=True, size=36, cursor="pointer").encode(
        y=alt.Y("share:Q", scale=yscale), tooltip=tooltip)
    return alt.layer(band, line, points)


def _chart_overview(alt, rows):
    order = sorted({r["group"] for r in rows})
    return (alt.Chart(alt.Data(values=rows))
            .mark_bar(cursor="pointer")
            .encode(x=_x_period(alt, None),
                    y=alt.Y("documents:Q", title="documents", stack="zero"),
                    color=alt.Color("group:N", title="language · genre", sort=order,
                                    legend=alt.Legend(orient="top")),
                    tooltip=[alt.Tooltip("period:O"), alt.Tooltip("lang:N"), alt.Tooltip("genre:N"),
                             alt.Tooltip("documents:Q"), alt.Tooltip("passages:Q"),
                             alt.Tooltip("types:N", title="source types")])
            .properties(width=820, height=200))


def _chart_shares(alt, rows, genres):
    scale = alt.Scale(domain=list(LABEL_COLOURS), range=list(LABEL_COLOURS.values()))
    tooltip = [alt.Tooltip("period:O"), alt.Tooltip("lang:N"), alt.Tooltip("genre:N"),
               alt.Tooltip("label:N"), alt.Tooltip("share:Q", format=".1%"),
               alt.Tooltip("ci_low:Q", title="95% low", format=".1%"),
               alt.Tooltip("ci_high:Q", title="95% high", format=".1%"),
               alt.Tooltip("n_passages:Q", title="passages"), alt.Tooltip("n_docs:Q", title="documents")]
    layer = _band_line_points(alt, rows, "label", scale, "share of passages", tooltip, y_domain=[0, 1])
    return (layer.properties(width=max(170, 760 // max(1, len(genres))), height=150)
            .facet(row=alt.Row("lang:N", title=None, header=alt.Header(labelFontSize=13, labelFontWeight="bold")),
                   column=alt.Column("genre:N", title=None, sort=genres,
                                     header=alt.Header(labelFontSize=13, labelFontWeight="bold"))))


def _chart_topic_prevalence(alt, rows, topic_order):
    genres = [g for g in GENRE_ORDER if any(r["genre"] == g for r in rows)]
    palette = {"all": "#444444", "business": "#1f77b4", "academic": "#e377c2", "unknown": "#bcbd22"}
    scale = alt.Scale(domain=genres, range=[palette[g] for g in genres])
    tooltip = [alt.Tooltip("topic_name:N", title="topic"), alt.Tooltip("period:O"), alt.Tooltip("genre:N"),
               alt.Tooltip("share:Q", format=".1%"), alt.Tooltip("ci_low:Q", title="95% low", format=".1%"),
               alt.Tooltip("ci_high:Q", title="95% high", format=".1%"), alt.Tooltip("n_docs:Q", title="documents")]
    layer = _band_line_points(alt, rows, "genre", scale, "mean topic share", tooltip)
    return (layer.properties(width=215, height=110)
            .facet(facet=alt.Facet("topic_name:N", title=None, sort=topic_order,
                                   header=alt.Header(labelFontSize=11, labelLimit=260)), columns=3)
            .resolve_scale(y="independent").resolve_axis(x="independent"))


def _chart_effects(alt, rows, topic_order):
    y = alt.Y("topic_name:N", title=None, sort=topic_order, axis=alt.Axis(labelLimit=260))
    rule = alt.Chart().mark_rule(strokeWidth=2, color="#6a51a3").encode(
        y=y, x=alt.X("ci_low:Q", title="estimate (95% interval)"), x2="ci_high:Q")
    pts = alt.Chart().mark_point(filled=True, size=60, cursor="pointer", color="#3f007d").encode(
        y=y, x="estimate:Q",
        tooltip=[alt.Tooltip("topic_name:N", title="topic"), alt.Tooltip("effect:N"),
                 alt.Tooltip("estimate:Q", format=".4f"), alt.Tooltip("ci_low:Q", title="95% low", format=".4f"),
                 alt.Tooltip("ci_high:Q", title="95% high", format=".4f")])
    zero = alt.Chart().mark_rule(color="#999", strokeDash=[4, 3]).encode(x=alt.datum(0))
    return (alt.layer(zero, rule, pts, data=alt.Data(values=rows)).properties(width=330, height=alt.Step(18))
            .facet(column=alt.Column("effect:N", title=None, header=alt.Header(labelFontSize=12, labelFontWeight="bold")))
            .resolve_scale(x="independent"))


def _chart_concept_trends(alt, rows, concept_order):
    tooltip = [alt.Tooltip("concept:N"), alt.Tooltip("period:O"), alt.Tooltip("lang:N"),
               alt.Tooltip("per_10k_tokens:Q", title="per 10k tokens", format=".2f"),
               alt.Tooltip("mentions:Q"), alt.Tooltip("docs:Q", title="documents")]
    base = alt.Chart(alt.Data(values=rows)).encode(
        x=_x_period(alt, None),
        y=alt.Y("per_10k_tokens:Q", title="mentions per 10,000 tokens"),
        color=alt.Color("concept:N", sort=concept_order, scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(orient="right", labelLimit=220)))
    layer = alt.layer(base.mark_line(strokeWidth=1.4, opacity=0.8),
                      base.mark_point(filled=True, size=34, cursor="pointer").encode(tooltip=tooltip))
    return layer.properties(width=360, height=190).facet(
        column=alt.Column("lang:N", title=None, header=alt.Header(labelFontSize=13, labelFontWeight="bold")))


def _chart_concept_mix(alt, rows, concept_order):
    scale = alt.Scale(domain=list(LABEL_COLOURS), range=list(LABEL_COLOURS.values()))
    return (alt.Chart(alt.Data(values=rows)).mark_bar(cursor="pointer")
            .encode(y=alt.Y("concept:N", title=None, sort=concept_order, axis=alt.Axis(labelLimit=220)),
                    x=alt.X("share:Q", stack="normalize", title="share of passages that mention the concept",
                            axis=alt.Axis(format="%")),
                    color=alt.Color("label:N", scale=scale, legend=alt.Legend(orient="top")),
                    order=alt.Order("order:Q"),
                    tooltip=[alt.Tooltip("concept:N"), alt.Tooltip("lang:N"), alt.Tooltip("label:N"),
                             alt.Tooltip("share:Q", format=".1%"),
                             alt.Tooltip("ci_low:Q", title="95% low", format=".1%"),
                             alt.Tooltip("ci_high:Q", title="95% high", format=".1%"),
                             alt.Tooltip("n_passages:Q", title="passages")])
            .properties(width=300, height=alt.Step(16))
            .facet(column=alt.Column("lang:N", title=None, header=alt.Header(labelFontSize=13, labelFontWeight="bold"))))


# ------------------------------------------------------------------------------------------------
# sections


def _passage_table(corpus, classified: pd.DataFrame | None) -> pd.DataFrame:
    pas = corpus.passages
    if classified is not None and not classified.empty:
        t = classified.copy()
        extra = [c for c in ("source_type", "title", "url", "source") if c not in t and c in pas]
        if extra:
            t = t.merge(pas[["passage_id", *extra]], on="passage_id", how="left")
    else:
        t = pas.copy()
    return _fill(t, ["lang", "genre", "source_type"])


def _overview(corpus, by, ex: _Examples, rng, budget) -> tuple[dict, list]:
    from .summary import summarize_corpus

    s = summarize_corpus(corpus)
    docs = _fill(corpus.documents, ["lang", "genre", "source_type"])
    docs["period"] = period_of(docs["date"], by).fillna("undated")
    table = (docs.groupby(["period", "lang", "genre", "source_type"]).size()
             .rename("documents").reset_index())
    pas = _fill(corpus.passages, ["lang", "genre", "source_type"])
    pas["period"] = period_of(pas["date"], by).fillna("undated")
    npas = pas.groupby(["period", "lang", "genre", "source_type"]).size().rename("passages").reset_index()
    table = table.merge(npas, how="left").fillna({"passages": 0})
    grp = (table.groupby(["period", "lang", "genre"])
           .agg(documents=("documents", "sum"), passages=("passages", "sum"),
                types=("source_type", lambda s: ", ".join(sorted(set(s)))))
           .reset_index())
    grp = grp[grp["period"] != "undated"]
    per = _per_group(len(grp), budget, 3)
    # one passage per document, from varied documents, in a seeded random order
    first = pas[pas["period"] != "undated"].drop_duplicates("doc_id")
    first = first.iloc[rng.permutation(len(first))]
    picks = {k: list(g["passage_id"]) for k, g in
             first.groupby(["period", "lang", "genre"], sort=False).head(per).groupby(["period", "lang", "genre"])}
    rows = []
    for r in grp.itertuples(index=False):
        key = f"o|{r.period}|{r.lang}|{r.genre}"
        ex.add(key, picks.get((r.period, r.lang, r.genre), []))
        rows.append({"period": r.period, "lang": r.lang, "genre": r.genre,
                     "group": f"{r.lang} · {r.genre}", "documents": int(r.documents),
                     "passages": int(r.passages), "types": r.types, "ex": key})
    files = [{"path": f.get("path"), "status": f.get("status"), "reason": f.get("reason"),
              "detail": f.get("detail")} for f in corpus.files if f.get("status") != "ingested"]
    info = {
        "documents": s["documents"], "passages": s["passages"], "tokens": s["tokens"],
        "date_min": s["date_min"], "date_max": s["date_max"], "undated": s["undated"],
        "files": s["files"], "skipped": s["skipped"], "duplicates": s["duplicates"],
        "skipped_files": files[:500], "skipped_files_total": len(files),
        "table": {"columns": ["period", "lang", "genre", "source_type", "documents", "passages"],
                  "rows": [[_str(v) if i < 4 else int(v) for i, v in enumerate(row)]
                           for row in table[["period", "lang", "genre", "source_type", "documents",
                                             "passages"]].itertuples(index=False)]},
    }
    return info, rows


def _shares_section(classified, shares, by, ex: _Examples, budget) -> tuple[dict, list]:
    if shares is None:
        shares = compute_shares(classified, by)
    shares = _fill(shares, ["genre"])
    df = classified.copy()
    df = _fill(df, ["genre"])
    df["period"] = period_of(df["date"], by)
    df = df[df["period"].notna() & df["lang"].isin(LANGS)]
    groups = shares[["period", "lang", "genre"]].drop_duplicates()
    groups = groups[groups["genre"] != "all"]
    per = _per_group(len(groups) * 3, budget, 2)
    df = df[df["label"].isin(LABELS)].copy()
    own = np.zeros(len(df))
    for label in LABELS:
        own = np.where(df["label"] == label, df[f"p_{label}"].astype(float), own)
    df["_p_own"] = own
    top = (df.sort_values("_p_own", ascending=False, kind="stable")
           .groupby(["period", "lang", "genre", "label"], sort=False).head(per))
    for (period, lang, genre), g in top.groupby(["period", "lang", "genre"]):
        pick = list(g.sort_values(["label", "_p_own"], ascending=[True, False])["passage_id"])
        ex.add(f"s|{period}|{lang}|{genre}", pick)
        ex.add(f"s|{period}|{lang}|all", pick)
    rows = [{"period": r.period, "lang": r.lang, "genre": r.genre, "label": r.label,
             "share": _num(r.share), "ci_low": _num(r.ci_low), "ci_high": _num(r.ci_high),
             "n_passages": int(r.n_passages), "n_docs": int(getattr(r, "n_docs", 0) or 0),
             "ex": f"s|{r.period}|{r.lang}|{r.genre}"} for r in shares.itertuples(index=False)]
    genres = [g for g in GENRE_ORDER if g in set(shares["genre"])]
    info = {"estimator": "mean calibrated probability per group; 95% intervals clustered by document",
            "genres": genres}
    return info, rows


def _topic_names(topics: pd.DataFrame, n: int = 3) -> dict[str, str]:
    t = topics.sort_values(["topic", "rank"])
    return {str(k): f"{k}: " + ", ".join(g["term"].astype(str).head(n)) for k, g in t.groupby("topic")}


def _topics_section(tt: TopicTables, pas: pd.DataFrame, by, ex: _Examples, budget) -> tuple[dict, list, list]:
    names = _topic_names(tt.topics)
    order = list(names.values())
    terms = [{"topic": str(k), "terms": [[str(t), _num(w)] for t, w in zip(g["term"], g["weight"])][:12]}
             for k, g in tt.topics.sort_values(["topic", "rank"]).groupby("topic")]
    prev = _fill(tt.prevalence.copy(), ["genre", "lang"])
    prev["topic"] = prev["topic"].astype(str)
    # examples: the documents that carry most of the topic in each period and genre
    dt_ = tt.doc_topics
    per = _per_group(len(prev[prev["genre"] != "all"]), budget, 2)
    if dt_ is not None and not dt_.empty:
        dt_ = dt_.copy()
        dt_["topic"] = dt_["topic"].astype(str)
        docs = pas.drop_duplicates("doc_id").set_index("doc_id")
        meta = pd.DataFrame({"doc_id": docs.index, "period": period_of(docs["date"], by).to_numpy(),
                             "genre": docs["genre"].to_numpy()})
        d = dt_.merge(meta, on="doc_id", how="inner")
        # the passage of the document that uses most of the topic's top terms
        top_terms = {k: [_stem(t) for t in g["term"].astype(str).head(10)]
                     for k, g in tt.topics.assign(topic=tt.topics["topic"].astype(str)).groupby("topic")}
        best = (d.dropna(subset=["period"]).sort_values("weight", ascending=False, kind="stable")
                .groupby(["topic", "period", "genre"], sort=False).head(per))
        texts = pas[pas["doc_id"].isin(set(best["doc_id"]))]
        by_doc = {k: (list(g["passage_id"]), list(g["text"].astype(str).str.lower()))
                  for k, g in texts.groupby("doc_id")}
        import re

        patterns = {k: re.compile("|".join(v)) if v else None for k, v in top_terms.items()}
        for (topic, period, genre), g in best.groupby(["topic", "period", "genre"]):
            pids = []
            pat = patterns.get(topic)
            for doc_id in g["doc_id"]:
                ids, low = by_doc.get(doc_id, ([], []))
                if not ids:
                    continue
                scores = [len(pat.findall(t)) if pat else 0 for t in low]
                pids.append(ids[int(np.argmax(scores))])
            ex.add(f"t|{topic}|{period}|{genre}", pids)
            ex.add(f"t|{topic}|{period}|all", pids)
    rows = [{"topic": r.topic, "topic_name": names.get(str(r.topic), str(r.topic)), "period": _str(r.period),
             "genre": r.genre, "lang": r.lang, "share": _num(r.share), "ci_low": _num(r.ci_low),
             "ci_high": _num(r.ci_high), "n_docs": int(r.n_docs) if pd.notna(r.n_docs) else None,
             "ex": f"t|{r.topic}|{r.period}|{r.genre}"}
            for r in prev.itertuples(index=False)]
    eff = _effects_long(tt.effects)
    eff_rows = [{"topic": str(r.topic), "topic_name": names.get(str(r.topic), str(r.topic)),
                 "effect": str(r.effect), "estimate": _num(r.estimate, 6), "ci_low": _num(r.ci_low, 6),
                 "ci_high": _num(r.ci_high, 6), "ex": f"t|{r.topic}|all"} for r in eff.itertuples(index=False)]
    # the topic's overall examples: its strongest documents over all periods
    if dt_ is not None and not dt_.empty:
        for topic, g in dt_.groupby("topic"):
            keys = [k for k in ex.groups if k.startswith(f"t|{topic}|") and k.endswith("|all")]
            pool = [i for k in sorted(keys) for i in ex.groups[k]]
            ex.groups[f"t|{topic}|all"] = pool[:8]
    info = {"terms": terms, "order": order, "settings": tt.settings}
    return info, rows, eff_rows


def _stem(term: str) -> str:
    """A crude prefix of a lemma that also matches its inflected forms in the raw text."""
    import re

    t = term.strip().lower().replace("_", " ")
    if len(t) > 5:
        t = t[: max(4, len(t) - 2)]
    return re.escape(t)


def _concepts_section(ct: ConceptTables, table: pd.DataFrame, by, ex: _Examples, budget,
                      top: int = 10) -> tuple[dict, list, list]:
    tr = _fill(ct.trends.copy(), ["genre", "lang"])
    tr["period"] = tr["period"].astype(str)
    if (tr["genre"] == "all").any():
        tr = tr[tr["genre"] == "all"]
    else:
        tokens = tr.drop_duplicates(["period", "genre", "lang"]).groupby(["period", "lang"])["tokens"].sum()
        tr = tr.groupby(["concept", "period", "lang"]).agg(mentions=("mentions", "sum"), docs=("docs", "sum")).reset_index()
        tr["tokens"] = [tokens.get((p, lg), np.nan) for p, lg in zip(tr["period"], tr["lang"])]
        tr["per_10k_tokens"] = tr["mentions"] / tr["tokens"] * 1e4
    totals = tr.groupby("concept")["mentions"].sum().sort_values(ascending=False)
    order = [str(c) for c in totals.index[:top]]
    tr = tr[tr["concept"].astype(str).isin(order)]
    mentions = ct.mentions
    mix_rows: list[dict] = []
    if mentions is not None and not mentions.empty:
        m = mentions.copy()
        m["concept"] = m["concept"].astype(str)
        m = m.drop_duplicates(["passage_id", "concept"])
        cols = [c for c in ("passage_id", "date", "genre", "label", "p_why", "p_how", "p_other")
                if c in table and c != "label"] + (["label"] if "label" in table else [])
        m = m.drop(columns=[c for c in cols if c in m and c != "passage_id"]).merge(
            table[cols], on="passage_id", how="left")
        m["period"] = period_of(m["date"], by) if "date" in m else pd.NA
        per = _per_group(len(tr), budget // 2, 2)
        for (concept, period, lang), g in m[m["concept"].isin(order)].groupby(["concept", "period", "lang"]):
            ex.add(f"c|{concept}|{period}|{lang}", g["passage_id"].head(per))
        has_p = all(f"p_{lb}" in m for lb in LABELS) and m["p_why"].notna().any()
        mm = m[m["concept"].isin(order) & m["lang"].isin(LANGS)]
        if has_p:
            mm = mm[mm["p_why"].notna()]
        elif "label" in mm:
            mm = mm[mm["label"].isin(LABELS)]
        else:
            mm = mm.iloc[:0]
        for (concept, lang), g in mm.groupby(["concept", "lang"]):
            docs = g["doc_id"].astype(str).to_numpy() if "doc_id" in g else np.arange(len(g)).astype(str)
            for i, label in enumerate(LABELS):
                if has_p:
                    share, lo, hi = _cluster_share(g[f"p_{label}"].astype(float).to_numpy(), docs)
                    cand = g.sort_values(f"p_{label}", ascending=False)
                else:
                    share, lo, hi = _cluster_share((g["label"] == label).astype(float).to_numpy(), docs)
                    cand = g
                key = f"m|{concept}|{lang}|{label}"
                ex.add(key, cand[cand["label"] == label]["passage_id"].head(3))
                mix_rows.append({"concept": concept, "lang": lang, "label": label, "order": i,
                                 "share": _num(share), "ci_low": _num(lo), "ci_high": _num(hi),
                                 "n_passages": len(g), "ex": key})
    elif ct.labels is not None and not ct.labels.empty:
        lab = ct.labels.copy()
        if "label" not in lab:
            lab = lab.melt(id_vars=[c for c in lab.columns if c not in LABELS], value_vars=list(LABELS),
                           var_name="label", value_name="share")
        n_col = next((c for c in ("n_passages", "passages", "n") if c in lab), None)
        lab["_n"] = lab[n_col] if n_col else 1
        lab["_w"] = lab["share"] * lab["_n"]
        agg = lab.groupby(["concept", "lang", "label"]).agg(w=("_w", "sum"), n=("_n", "sum")).reset_index()
        for r in agg.itertuples(index=False):
            if str(r.concept) in order:
                mix_rows.append({"concept": str(r.concept), "lang": r.lang, "label": r.label,
                                 "order": LABELS.index(r.label) if r.label in LABELS else 3,
                                 "share": _num(r.w / r.n if r.n else None), "ci_low": None, "ci_high": None,
                                 "n_passages": int(r.n) if n_col else None, "ex": None})
    rows = [{"concept": str(r.concept), "period": str(r.period), "lang": r.lang,
             "per_10k_tokens": _num(r.per_10k_tokens), "mentions": int(r.mentions), "docs": int(r.docs),
             "ex": f"c|{r.concept}|{r.period}|{r.lang}"} for r in tr.itertuples(index=False)]
    info = {"order": order, "settings": ct.settings}
    return info, rows, mix_rows


# ------------------------------------------------------------------------------------------------
# the page


@lru_cache(maxsize=2)
def vega_bundle(vl_version: str | None = None) -> tuple[str, str]:
    """The vega + vega-lite + vega-embed JavaScript bundle and its Vega-Lite version.

    Built by ``vl-convert-python`` (offline; about 15 s the first time), then kept in a cache
    file under ``$XDG_CACHE_HOME/kmdiscourse`` (or ``~/.cache``) for the next report.
    """
    try:
        import vl_convert as vlc
    except ImportError as exc:
        raise MissingDependencyError(
            "the HTML report inlines Vega-Lite from vl-convert-python: pip install 'vl-convert-python>=1.3'") from exc
    if vl_version is None:
        try:
            from altair.utils._importers import vl_version_for_vl_convert

            vl_version = vl_version_for_vl_convert()
        except Exception:  # noqa: BLE001 - older or newer altair: take vl-convert's newest
            vl_version = vlc.get_vegalite_versions()[-1]
    cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kmdiscourse"
    cache = cache_root / f"vega-bundle-{_version('vl-convert-python')}-vl{vl_version}.js"
    try:
        text = cache.read_text(encoding="utf-8")
        if len(text) > 100_000 and "vegaEmbed" in text[-2000:]:  # a whole bundle, not a stub
            return text, vl_version
    except OSError:
        pass
    text = vlc.javascript_bundle(vl_version=vl_version)
    try:
        from .store import atomic_write_text

        cache_root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, text)
    except OSError as exc:  # a read-only home: build it every time
        log.debug("cannot cache the Vega bundle in %s: %s", cache, exc)
    return text, vl_version


def json_for_script(obj: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``</script>``, ``<!--``
    or ``]]>`` can appear, because ``<``, ``>`` and ``&`` are written as ``\\u`` escapes."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _inline_js(js: str) -> str:
    """Script text that cannot close its own <script> element."""
    return js.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def build_report(
    corpus,
    *,
    classified: pd.DataFrame | None = None,
    shares: pd.DataFrame | None = None,
    topics: TopicTables | None = None,
    concepts: ConceptTables | None = None,
    by: Period = "year",
    title: str | None = None,
    model_card: dict[str, Any] | None = None,
    notes: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    seed: int = 0,
    max_passages: int = MAX_PASSAGES,
    bundle: str | None = None,
) -> str:
    """The HTML page for a corpus and the tables the other stages made from it.

    Parameters
    ----------
    corpus : Corpus
        From :func:`kmdiscourse.open_corpus`.
    classified : DataFrame, optional
        One row per passage as :func:`kmdiscourse.classify` returns it (``label``, ``p_why``,
        ``p_how``, ``p_other``...). Without it the why/how section says why it is missing.
    shares : DataFrame, optional
        period, lang, genre, label, n_passages, share, ci_low, ci_high; computed from
        ``classified`` when not given.
    topics, concepts : TopicTables, ConceptTables, optional
        The topic model's and the concept matcher's tables.
    by : {"year", "quarter", "month"}
        The period of every time axis.
    title : str, optional
        The page title.
    model_card, notes, settings : dict, optional
        The classifier's model card; a note per missing section; settings for the methods box.
    seed : int
        For the random choice of example passages.
    max_passages : int
        Most distinct example passages embedded in the page.
    bundle : str, optional
        The Vega JavaScript bundle (by default :func:`vega_bundle`).

    Returns
    -------
    str
        A complete, self-contained HTML document.

    Examples
    --------
    >>> html = build_report(open_corpus("corpora/sample"), classified=classify("corpora/sample"))  # doctest: +SKIP
    """
    if by not in PERIODS:
        raise KmdError(f"--by {by!r} is not one of {', '.join(PERIODS)}")
    alt = _alt()
    notes = dict(notes or {})
    rng = np.random.RandomState(seed)
    table = _passage_table(corpus, classified)
    ex = _Examples(table, budget=max_passages)
    title = title or "Knowledge-management discourse report"

    charts: dict[str, dict] = {}
    sections: dict[str, Any] = {}

    overview, orows = _overview(corpus, by, ex, rng, max_passages // 5)
    sections["overview"] = overview
    if orows:
        charts["chart-overview"] = _chart_overview(alt, orows).to_dict()

    has_labels = classified is not None and not classified.empty and "p_why" in classified
    if has_labels:
        info, srows = _shares_section(classified, shares, by, ex, max_passages // 4)
        sections["shares"] = info
        if srows:
            charts["chart-shares"] = _chart_shares(alt, srows, info["genres"]).to_dict()
        else:
            notes.setdefault("shares", "No dated passage in English or Russian carries a label.")
    else:
        notes.setdefault("shares", "No classification was given, so there are no why/how/other shares.")

    if topics is not None and not topics.topics.empty:
        info, trows, erows = _topics_section(topics, table, by, ex, max_passages // 4)
        sections["topics"] = info
        if trows:
            charts["chart-topics"] = _chart_topic_prevalence(alt, trows, info["order"]).to_dict()
        if erows:
            charts["chart-effects"] = _chart_effects(alt, erows, info["order"]).to_dict()
    else:
        notes.setdefault("topics", "No topic model was given.")

    if concepts is not None and not concepts.trends.empty:
        info, crows, mrows = _concepts_section(concepts, table, by, ex, max_passages // 4)
        sections["concepts"] = info
        if crows:
            charts["chart-concepts"] = _chart_concept_trends(alt, crows, info["order"]).to_dict()
        if mrows:
            charts["chart-mix"] = _chart_concept_mix(alt, mrows, info["order"]).to_dict()
        else:
            notes.setdefault("mix", "The why / how / other mix per concept needs classified passages.")
    else:
        notes.setdefault("concepts", "No concept counts were given.")

    js, vl_version = (bundle, None) if bundle is not None else vega_bundle()
    methods = {
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "input": _str(corpus.manifest.get("input") or corpus.root),
        "corpus_sha256": corpus_hash(corpus),
        "period": by,
        "settings": {**(corpus.manifest.get("settings") or {}), **(settings or {})},
        "versions": {"python": platform.python_version(),
                     **{n: v for n in VERSIONED if (v := _version(n))},
                     **({"vega-lite": vl_version} if vl_version else {})},
        "model_card": model_card,
        "example_passages": f"{len(ex.rows)} passages embedded (at most {max_passages}; texts cut at "
                            f"{MAX_TEXT} characters)",
        "shares_estimator": sections.get("shares", {}).get("estimator"),
    }
    payload = {"title": title, "by": by, "sections": sections, "charts": charts, "notes": notes,
               "methods": methods, "passages": ex.payload()}
    return (_PAGE.replace("@TITLE@", html.escape(title))
            .replace("@VEGA@", _inline_js(js))
            .replace("@APP@", _inline_js(_APP_JS))
            .replace("@CSS@", _CSS)
            .replace("@DATA@", json_for_script(payload)))


# ------------------------------------------------------------------------------------------------
# running the stages for the CLI


#: Columns the report needs from ``kmdiscourse classify`` output given with ``--labels``.
LABEL_COLUMNS = ("doc_id", "passage_id", "lang", "date", "genre", "label", "p_why", "p_how", "p_other")


def read_labels_table(path: str | os.PathLike) -> pd.DataFrame:
    """The table written by ``kmdiscourse classify`` (CSV, TSV, JSON Lines or Parquet), so that
    a report on the same input reuses it instead of classifying every passage again."""
    p = Path(path)
    suf = p.suffix.lower()
    ids = {"doc_id": str, "passage_id": str}
    try:
        if suf == ".parquet":
            df = pd.read_parquet(p)
        elif suf in (".jsonl", ".ndjson"):
            df = pd.read_json(p, lines=True, dtype=ids, convert_dates=False)
        elif suf in (".csv", ".tsv"):
            df = pd.read_csv(p, sep="\t" if suf == ".tsv" else ",", dtype={**ids, "date": str})
        else:
            raise KmdError(f"{p}: unknown labels format {suf!r}; expected .csv, .tsv, .jsonl or .parquet "
                           "written by 'kmdiscourse classify'")
    except FileNotFoundError as exc:
        raise KmdError(f"{p}: no such labels file") from exc
    except (ValueError, OSError) as exc:
        raise KmdError(f"{p}: cannot read it as a labels table ({exc})") from exc
    missing = [c for c in LABEL_COLUMNS if c not in df.columns]
    if missing:
        raise KmdError(f"{p}: no column(s) {', '.join(missing)}; expected the output of 'kmdiscourse classify'")
    for c in ("doc_id", "passage_id"):
        df[c] = df[c].astype(str)
    return df


_PERIOD_FORMS = {"year": r"\d{4}", "quarter": r"\d{4}-Q[1-4]", "month": r"\d{4}-\d{2}"}


def read_concepts_dir(path: str | os.PathLike, corpus=None, *, by: Period = "year") -> ConceptTables:
    """The output of ``kmdiscourse concepts -o DIR`` (concept_trends.csv, concept_mentions.csv),
    so that a report on the same input shows those counts instead of matching every passage
    again. The trends must be counted by the report's period ``by``; with ``corpus``, every
    passage named in the mentions must be one of its passages (else the folder belongs to
    another corpus)."""
    import re

    d = Path(path)
    files = {name: d / f"concept_{name}.csv" for name in ("trends", "mentions")}
    for f in files.values():
        if not f.is_file():
            raise KmdError(f"{f}: no such file; expected a folder written by 'kmdiscourse concepts -o DIR'")
    tables = {}
    need = {"trends": ["concept", "period", "genre", "lang", "mentions", "docs", "tokens", "per_10k_tokens"],
            "mentions": ["doc_id", "passage_id", "concept", "lang"]}
    for name, f in files.items():
        try:
            df = pd.read_csv(f, dtype={"doc_id": str, "passage_id": str, "period": str, "concept": str},
                             keep_default_na=False, na_values=[""])
        except (ValueError, OSError) as exc:
            raise KmdError(f"{f}: cannot read it as a CSV table ({exc})") from exc
        missing = [c for c in need[name] if c not in df.columns]
        if missing:
            raise KmdError(f"{f}: no column(s) {', '.join(missing)}; expected the output of 'kmdiscourse concepts'")
        tables[name] = df
    trends, mentions = tables["trends"], tables["mentions"]
    periods = trends["period"].dropna().astype(str)
    form = re.compile(_PERIOD_FORMS[by])
    odd = next((p for p in periods if not form.fullmatch(p)), None)
    if odd is not None:
        got = next((k for k, rx in _PERIOD_FORMS.items() if re.fullmatch(rx, odd)), "another period")
        raise KmdError(f"{files['trends']}: counted by {got} (period {odd!r}), the report by {by}; "
                       f"run 'kmdiscourse concepts ... --by {by}' or give the report --by {got}")
    if corpus is not None and len(mentions):
        known = set(corpus.passages["passage_id"].astype(str))
        unknown = [p for p in mentions["passage_id"].unique() if p not in known]
        if unknown:
            raise KmdError(f"{files['mentions']}: {len(unknown)} passage(s) are not in this corpus "
                           f"(e.g. {unknown[0]!r}); were the concepts counted on another input?")
    settings = {"lexicon": f"from {d}", "concepts": int(trends["concept"].nunique()),
                "mentions": int(len(mentions))}
    return ConceptTables(trends, mentions, None, settings)


def _call(func, *args, **kwargs):
    """Call ``func`` with the keyword arguments it accepts."""
    params = inspect.signature(func).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return func(*args, **kwargs)
    return func(*args, **{k: v for k, v in kwargs.items() if k in params})


def run_stages(corpus, *, by: Period = "year", seed: int = 0, topics_k: int = REPORT_TOPICS_K,
               topics_method: str = "nmf", classified: pd.DataFrame | None = None, jobs: int = 1,
               progress: bool = False, concepts: ConceptTables | None = None) -> dict[str, Any]:
    """Classify, fit topics and count concepts for the report, each when its module is
    installed; a stage that is missing, or finds too little text, becomes a note in the
    report instead of an error.

    Topics use a small K and NMF by default, so that the report stays quick; run the
    ``topics`` command for the full model. ``classified`` (from :func:`read_labels_table`) and
    ``concepts`` (from :func:`read_concepts_dir`) are used as given instead of being computed.
    """
    import time

    out: dict[str, Any] = {"notes": {}, "settings": {}, "timings": {}}
    passages = corpus.passages
    if "boilerplate" in passages.columns:
        passages = passages[~passages["boilerplate"].fillna(False).astype(bool)]
    passages = passages.reset_index(drop=True)

    t0 = time.perf_counter()
    if classified is None:
        try:
            from .classify import classify as classify_fn
        except ImportError:
            out["notes"]["shares"] = "The classifier (kmdiscourse.classify) is not installed in this version."
        else:
            try:
                classified = _call(classify_fn, passages, jobs=jobs, progress=progress)
            except KmdError as exc:
                out["notes"]["shares"] = f"The classifier could not run: {exc}"
    if classified is not None:
        out["classified"] = classified
        out["model_card"] = (getattr(classified, "attrs", {}) or {}).get("model_card")
        if out["model_card"] is None:
            try:
                from . import classify as classify_mod

                card = getattr(classify_mod, "read_model_card", None)
                out["model_card"] = card() if callable(card) else None
            except Exception as exc:  # noqa: BLE001 - the card is optional in the report
                log.debug("no model card: %s", exc)
    out["timings"]["classify_s"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    try:
        from .topics import content_lemmas, fit_topics
    except ImportError:
        out["notes"]["topics"] = "The topic model (kmdiscourse.topics) is not installed in this version."
    else:
        try:
            tpassages, lemmas = content_lemmas(corpus, jobs=jobs, progress=progress)
            per_lang = passages[passages["lang"].isin(LANGS)].groupby("lang")["doc_id"].nunique()
            per_lang = per_lang[per_lang >= 2]
            k = max(1, min([topics_k, *per_lang.tolist()]))  # a tiny corpus cannot carry K topics
            res = _call(fit_topics, tpassages, lemmas, k=k, method=topics_method, by=by,
                        seed=seed, n_boot=100)
            settings = {"method": topics_method, "k_per_language": res.chosen_k, "unit": res.unit,
                        "units": res.units, "seed": seed, "bootstrap": 100, "notes": res.notes}
            out["topics"] = TopicTables(res.topics, res.prevalence, res.effects, res.doc_topics, settings)
            out["settings"]["topics"] = f"{topics_method}, K={k} per language (report default)"
        except (KmdError, ValueError) as exc:
            out["notes"]["topics"] = f"No topics: {exc}"
    out["timings"]["topics_s"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    if concepts is not None:
        out["concepts"] = concepts
        out["settings"]["concepts"] = f"reused: {concepts.settings.get('lexicon', '')}"
    else:
        try:
            from .concepts import concept_trends, find_concepts, load_lexicon
        except ImportError:
            out["notes"]["concepts"] = "The concept matcher (kmdiscourse.concepts) is not installed in this version."
        else:
            try:
                lex = load_lexicon()
                mentions, tokens = find_concepts(passages, lex, jobs=jobs, progress=progress)
                trends = concept_trends(passages, mentions, tokens, lex, by=by)
                out["concepts"] = ConceptTables(trends, mentions, None,
                                                {"lexicon": "shipped default", "concepts": len(lex),
                                                 "mentions": int(len(mentions))})
            except KmdError as exc:
                out["notes"]["concepts"] = f"No concept counts: {exc}"
    out["timings"]["concepts_s"] = round(time.perf_counter() - t0, 2)
    out["settings"]["timings"] = out["timings"]
    return out


def make_report(input, *, by: Period = "year", title: str | None = None, seed: int = 0,
                topics_k: int = REPORT_TOPICS_K, topics_method: str = "nmf",
                classified: pd.DataFrame | None = None, jobs: int = 1, progress: bool = False,
                concepts_dir: str | os.PathLike | None = None, **corpus_kwargs) -> str:
    """Open ``input`` (folder, file or store), run the stages and return the HTML page.

    Examples
    --------
    >>> page = make_report("corpora/sample", by="year")  # doctest: +SKIP
    """
    from .ingest import open_corpus

    corpus = open_corpus(input, jobs=jobs, progress=progress, **corpus_kwargs)
    concepts = read_concepts_dir(concepts_dir, corpus, by=by) if concepts_dir is not None else None
    stages = run_stages(corpus, by=by, seed=seed, topics_k=topics_k, topics_method=topics_method,
                        classified=classified, jobs=jobs, progress=progress, concepts=concepts)
    return build_report(corpus, classified=stages.get("classified"), topics=stages.get("topics"),
                        concepts=stages.get("concepts"), by=by, title=title,
                        model_card=stages.get("model_card"), notes=stages["notes"],
                        settings=stages["settings"], seed=seed)


def write_report(input, output: str | os.PathLike, **kwargs) -> Path:
    """Write the report for ``input`` to ``output`` (atomically) and return its path."""
    from .store import atomic_write_text

    page = make_report(input, **kwargs)
    atomic_write_text(output, page)
    return Path(output)


_CSS = """
:root{--ink:#1d1d1f;--muted:#5f6368;--line:#e2e2e2;--why:#d95f02;--how:#1b9e77;--other:#8c8c8c}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--ink);background:#fafafa}
header{padding:18px 28px 10px;border-bottom:1px solid var(--line);background:#fff}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:var(--muted)}
nav a{margin-right:14px;color:#1a5fb4;text-decoration:none}
.layout{display:grid;grid-template-columns:minmax(0,1fr) 380px;gap:0}
main{padding:8px 28px 40px;min-width:0}
aside{position:sticky;top:0;height:100vh;overflow:auto;border-left:1px solid var(--line);background:#fff;padding:14px 16px}
aside h2{font-size:15px;margin:0 0 6px}
aside .hint{color:var(--muted);font-size:13px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:16px 0}
section h2{margin:0 0 6px;font-size:18px}
.lead{color:var(--muted);margin:0 0 10px}
.stats{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.stat{border:1px solid var(--line);border-radius:6px;padding:6px 10px;min-width:110px}
.stat b{display:block;font-size:18px}
.stat span{color:var(--muted);font-size:12px}
.chart{overflow-x:auto;margin:6px 0}
.note{background:#fff8e1;border:1px solid #f0d98c;border-radius:6px;padding:8px 10px;color:#5d4a00}
details{margin:8px 0}
summary{cursor:pointer;color:#1a5fb4}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{max-height:320px;overflow:auto;border:1px solid var(--line)}
.terms{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:8px}
.term-card{border:1px solid var(--line);border-radius:6px;padding:6px 9px;cursor:pointer}
.term-card:hover{border-color:#999}
.term-card b{display:block}
.term-card span{color:var(--muted);font-size:12.5px}
.methods dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
.methods dt{color:var(--muted)}
.methods dd{margin:0;word-break:break-all}
.methods pre{white-space:pre-wrap;font-size:12px;background:#f6f6f6;padding:8px;border-radius:6px;max-height:300px;overflow:auto}
.passage{border:1px solid var(--line);border-left:4px solid var(--other);border-radius:6px;padding:8px 10px;margin:8px 0}
.passage.why{border-left-color:var(--why)}.passage.how{border-left-color:var(--how)}
.passage .meta{color:var(--muted);font-size:12px;margin-bottom:4px}
.passage .text{white-space:pre-wrap;word-wrap:break-word}
.passage .probs{display:flex;height:8px;border-radius:4px;overflow:hidden;margin:6px 0 2px;background:#eee}
.probs .why{background:var(--why)}.probs .how{background:var(--how)}.probs .other{background:var(--other)}
.passage .plabel{font-size:12px;color:var(--muted)}
.passage .lbl{font-weight:600;text-transform:uppercase;font-size:11px;letter-spacing:.04em}
.passage a{color:#1a5fb4;word-break:break-all}
@media (max-width:1000px){.layout{grid-template-columns:1fr}aside{position:static;height:auto;border-left:0;border-top:1px solid var(--line)}}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'">
<meta name="referrer" content="no-referrer">
<title>@TITLE@</title>
<style>@CSS@</style>
<script>@VEGA@</script>
</head>
<body>
<header>
<h1>@TITLE@</h1>
<p id="subtitle"></p>
<nav><a href="#overview">Corpus</a><a href="#shares">Why / how</a><a href="#topics">Topics</a><a href="#concepts">Concepts</a><a href="#methods">Methods</a></nav>
</header>
<div class="layout">
<main>
<noscript><p class="note">The charts and passages need JavaScript; the data are in the page as JSON.</p></noscript>
<section id="overview"><h2>Corpus overview</h2>
<p class="lead">Documents by period, language and genre (click a bar for sample passages).</p>
<div class="stats" id="overview-stats"></div>
<div class="chart" id="chart-overview"></div>
<details><summary>Documents by period &times; language &times; genre &times; source type</summary><div class="scroll" id="overview-table"></div></details>
<div id="overview-skipped"></div>
</section>
<section id="shares"><h2>Why / how / other over time</h2>
<p class="lead">Share of passages in each class per period, by language (rows) and genre (columns), with 95% intervals. Click a point for the passages behind it.</p>
<div class="chart" id="chart-shares"></div>
</section>
<section id="topics"><h2>Topics</h2>
<p class="lead">Top terms of each topic (click a card for its strongest passages), mean topic share over time by genre with 95% intervals, and effects.</p>
<div class="terms" id="topic-terms"></div>
<div class="chart" id="chart-topics"></div>
<h3>Effects</h3>
<p class="lead">Academic minus business, and the trend per year, with 95% intervals.</p>
<div class="chart" id="chart-effects"></div>
</section>
<section id="concepts"><h2>Concepts</h2>
<p class="lead">Mentions per 10,000 tokens over time (most frequent concepts), and the why / how / other mix of the passages that mention each concept.</p>
<div class="chart" id="chart-concepts"></div>
<div class="chart" id="chart-mix"></div>
</section>
<section id="methods" class="methods"><h2>Methods</h2>
<div id="methods-body"></div>
</section>
</main>
<aside id="passages" aria-live="polite">
<h2 id="passages-title">Passages</h2>
<p class="hint" id="passages-hint">Click a point, bar or topic to see the passages behind it: text, source, date, label and probabilities.</p>
<div id="passages-list"></div>
</aside>
</div>
<script type="application/json" id="kmd-data">@DATA@</script>
<script>@APP@</script>
</body>
</html>
"""

_APP_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("kmd-data").textContent);
  var P = data.passages;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function byId(id) { return document.getElementById(id); }
  function pct(x) { return x === null || x === undefined ? "-" : (100 * x).toFixed(1) + "%"; }
  function safeUrl(u) {
    if (!u) return null;
    try { var x = new URL(u); return (x.protocol === "http:" || x.protocol === "https:") ? x.href : null; }
    catch (e) { return null; }
  }
  function passage(i) {
    var r = P.rows[i], o = {};
    for (var j = 0; j < P.fields.length; j++) o[P.fields[j]] = r[j];
    return o;
  }
  function renderPassage(p) {
    var box = el("div", "passage " + (p.label || ""));
    var meta = el("div", "meta");
    var bits = [p.date || "undated", p.lang, p.genre, p.source_type].filter(Boolean);
    meta.appendChild(el("span", null, bits.join(" \u00b7 ")));
    box.appendChild(meta);
    if (p.title) box.appendChild(el("div", null, p.title)).style.fontWeight = "600";
    box.appendChild(el("div", "text", p.text));
    if (p.label) {
      var bar = el("div", "probs");
      ["why", "how", "other"].forEach(function (l) {
        var s = el("span", l); s.style.width = (100 * (p["p_" + l] || 0)) + "%"; bar.appendChild(s);
      });
      box.appendChild(bar);
      var pl = el("div", "plabel");
      pl.appendChild(el("span", "lbl", p.label));
      pl.appendChild(document.createTextNode("  why " + pct(p.p_why) + " \u00b7 how " + pct(p.p_how) +
        " \u00b7 other " + pct(p.p_other) + (p.evidence ? "  \u2014 " + p.evidence : "")));
      box.appendChild(pl);
    }
    var src = el("div", "meta");
    src.appendChild(document.createTextNode((p.source || "") + " "));
    var href = safeUrl(p.url);
    if (href) {
      var a = el("a", null, p.url); a.href = href; a.rel = "noopener noreferrer nofollow"; a.target = "_blank";
      src.appendChild(a);
    } else if (p.url) {
      src.appendChild(el("span", null, p.url));
    }
    box.appendChild(src);
    return box;
  }
  function describe(d) {
    var keys = ["topic_name", "concept", "effect", "period", "lang", "genre", "label"];
    var parts = [];
    keys.forEach(function (k) { if (d[k] !== undefined && d[k] !== null) parts.push(d[k]); });
    return parts.join(" \u00b7 ");
  }
  function showExamples(key, label, heading) {
    var list = byId("passages-list");
    list.textContent = "";
    byId("passages-title").textContent = "Passages: " + (heading || "");
    var idx = (P.groups[key] || []).slice();
    if (label) {
      idx.sort(function (a, b) {
        var pa = passage(a), pb = passage(b);
        var ka = pa.label === label ? 0 : 1, kb = pb.label === label ? 0 : 1;
        if (ka !== kb) return ka - kb;
        return (pb["p_" + label] || 0) - (pa["p_" + label] || 0);
      });
    }
    byId("passages-hint").textContent = idx.length ? idx.length + " example passage(s)" +
      (label ? ", " + label + " first" : "") : "No example passages for this point.";
    idx.forEach(function (i) { list.appendChild(renderPassage(passage(i))); });
    list.dataset.key = key;
  }
  window.kmdShowExamples = showExamples;
  function table(columns, rows, numeric) {
    var t = el("table"), thead = el("thead"), tr = el("tr");
    columns.forEach(function (c) { tr.appendChild(el("th", null, c)); });
    thead.appendChild(tr); t.appendChild(thead);
    var tb = el("tbody");
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (v, j) { row.appendChild(el("td", numeric && numeric[j] ? "num" : null, v === null ? "" : v)); });
      tb.appendChild(row);
    });
    t.appendChild(tb);
    return t;
  }
  function note(id, text) {
    var host = byId(id);
    if (host) host.appendChild(el("p", "note", text));
  }
  // header
  var m = data.methods;
  byId("subtitle").textContent = "Corpus " + (m.input || "") + " \u00b7 by " + data.by +
    " \u00b7 made " + m.created + " \u00b7 kmdiscourse " + ((m.versions || {}).kmdiscourse || "");
  // overview
  var o = data.sections.overview;
  if (o) {
    var stats = byId("overview-stats");
    [["documents", o.documents], ["passages", o.passages], ["tokens", o.tokens],
     ["dates", (o.date_min || "-") + " \u2013 " + (o.date_max || "-")], ["undated documents", o.undated],
     ["files", o.files], ["files skipped", o.skipped_files_total], ["duplicates", o.duplicates]]
      .forEach(function (s) {
        var d = el("div", "stat"); d.appendChild(el("b", null, s[1])); d.appendChild(el("span", null, s[0]));
        stats.appendChild(d);
      });
    byId("overview-table").appendChild(table(o.table.columns, o.table.rows, [0, 0, 0, 0, 1, 1]));
    var sk = byId("overview-skipped");
    if (o.skipped_files && o.skipped_files.length) {
      var det = el("details"); det.appendChild(el("summary", null, "Files skipped or failed (" + o.skipped_files_total + ")"));
      det.appendChild(table(["path", "status", "reason", "detail"], o.skipped_files.map(function (f) {
        return [f.path, f.status, f.reason, f.detail];
      })));
      sk.appendChild(det);
    } else {
      sk.appendChild(el("p", "lead", "No file was skipped."));
    }
  }
  // topics: term cards
  var t = data.sections.topics;
  if (t) {
    var host = byId("topic-terms");
    t.terms.forEach(function (tp) {
      var card = el("div", "term-card");
      card.appendChild(el("b", null, "topic " + tp.topic));
      card.appendChild(el("span", null, tp.terms.map(function (x) { return x[0]; }).join(", ")));
      card.addEventListener("click", function () { showExamples("t|" + tp.topic + "|all", null, "topic " + tp.topic); });
      host.appendChild(card);
    });
  }
  // notes for missing sections
  var notes = data.notes || {};
  if (notes.shares) note("chart-shares", notes.shares);
  if (notes.topics) note("chart-topics", notes.topics);
  if (notes.concepts) note("chart-concepts", notes.concepts);
  if (notes.mix && !notes.concepts) note("chart-mix", notes.mix);
  // methods
  var mb = byId("methods-body");
  var dl = el("dl");
  function add(k, v) { dl.appendChild(el("dt", null, k)); dl.appendChild(el("dd", null, v)); }
  add("corpus", m.input || "-");
  add("corpus SHA-256", m.corpus_sha256);
  add("created", m.created);
  add("period", m.period);
  if (m.shares_estimator) add("why/how shares", m.shares_estimator);
  add("example passages", m.example_passages);
  Object.keys(m.versions || {}).forEach(function (k) { add(k, m.versions[k]); });
  mb.appendChild(dl);
  mb.appendChild(el("h3", null, "Settings"));
  mb.appendChild(el("pre", null, JSON.stringify(m.settings || {}, null, 2)));
  mb.appendChild(el("h3", null, "Model card"));
  mb.appendChild(el("pre", null, m.model_card ? JSON.stringify(m.model_card, null, 2) : "No classifier model card (no classification in this report)."));
  if (t && t.settings && Object.keys(t.settings).length) {
    mb.appendChild(el("h3", null, "Topic model"));
    mb.appendChild(el("pre", null, JSON.stringify(t.settings, null, 2)));
  }
  var c = data.sections.concepts;
  if (c && c.settings && Object.keys(c.settings).length) {
    mb.appendChild(el("h3", null, "Concepts"));
    mb.appendChild(el("pre", null, JSON.stringify(c.settings, null, 2)));
  }
  // charts
  window.kmdViews = {};
  var jobs = Object.keys(data.charts).map(function (id) {
    return vegaEmbed("#" + id, data.charts[id], { renderer: "svg", actions: false, tooltip: { theme: "light" } })
      .then(function (res) {
        window.kmdViews[id] = res.view;
        res.view.addEventListener("click", function (event, item) {
          var d = item && item.datum;
          if (d && d.ex) showExamples(d.ex, d.label || null, describe(d));
        });
        return res;
      });
  });
  Promise.all(jobs).then(function () {
    window.kmdReady = true;
    document.body.setAttribute("data-ready", "1");
  }, function (err) {
    console.error("chart failed: " + err);
    window.kmdReady = "error";
  });
})();
"""
