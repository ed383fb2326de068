"""Topics: lemma strings -> topic weights, top terms, prevalence by period and genre, effects.

The estimator :class:`TopicModel` (scikit-learn style) fits LDA (tomotopy's collapsed Gibbs
sampler by default, gensim's online variational Bayes on request) or NMF on TF-IDF over one
vocabulary built by scikit-learn's ``CountVectorizer``. :func:`fit_topics` runs one model per
language over a corpus' lemmas and derives the tables; :func:`run_topics` reads INPUT and
writes every output file of ``kmdiscourse topics``.

Why tomotopy is the LDA engine: its collapsed Gibbs sampler is seeded and reproducible (also
with 2 threads, partition scheme), gives the topic-assignment counts the shares are built
from, and had the best NPMI of the LDA engines in ``benchmarks/bench_topics.py`` (100,000
generated passages, K=20, on an overloaded machine: tomotopy 0.173, gensim LdaModel with its
defaults 0.160 in half tomotopy's time, NMF 0.171 in a tenth). ``engine="gensim"`` and
``method="nmf"`` remain available.

Uncertainty follows the spirit of stm's ``estimateEffect``: topic shares are regressed on
genre and (centred) time per topic, and the 95% intervals come from a bootstrap that
resamples documents (all passages of a document together). Topic-estimation uncertainty
inside a document (stm's "method of composition") is not propagated.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import logging
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .errors import KmdError
from .records import GENRES

log = logging.getLogger("kmdiscourse")

Method = Literal["lda", "nmf"]
Unit = Literal["document", "passage"]
By = Literal["year", "quarter", "month"]

DEFAULT_K = 20
#: Candidate K for ``k="auto"`` (capped by the corpus size).
AUTO_K = (5, 8, 10, 12, 15, 20, 25, 30)
N_TOP_TERMS = 20
#: Terms per topic for NPMI and exclusivity (the usual 10).
N_COHERENCE_TERMS = 10
#: Terms per topic for topic diversity (Dieng et al. use 25).
N_DIVERSITY_TERMS = 25
N_BOOT = 200
GENRE_ALL = "all"


def default_gibbs_iterations(n_tokens: int) -> int:
    """Gibbs sweeps when ``max_iter`` is None: 200 on large corpora (the usual budget), up to
    1,000 on small ones, where sweeps are cheap and 200 can leave a word stuck in the wrong
    topic (seen on the planted corpora of the tests: shares off by 2 points at 200, exact at 1,000)."""
    return int(min(1000, max(200, 2e8 // max(n_tokens, 1))))


def split_lemmas(text: str) -> list[str]:
    """The tokenizer of :class:`TopicModel`: lemmas are already space-separated."""
    return text.split()


def _check_strings(X, where: str = "X") -> list[str]:
    if isinstance(X, (str, bytes)):
        raise KmdError(f"{where}: expected a list of lemma strings, got a single string")
    try:
        docs = list(X)
    except TypeError as exc:
        raise KmdError(f"{where}: expected a list of lemma strings, got {type(X).__name__}") from exc
    for i, d in enumerate(docs):
        if not isinstance(d, str):
            raise KmdError(f"{where}[{i}]: expected a string of space-separated lemmas, got {type(d).__name__}")
    return docs


def _normalise_rows(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    s = m.sum(axis=1, keepdims=True)
    k = m.shape[1] if m.ndim == 2 and m.shape[1] else 1
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(s > 0, m / np.where(s > 0, s, 1), 1.0 / k)
    return out


def _csr_to_words(counts, vocab: np.ndarray) -> list[list[str]]:
    """Each row of ``counts`` as its terms, each repeated by its count, in column order."""
    counts = counts.tocsr()
    flat = np.asarray(vocab, dtype=object)[np.repeat(counts.indices, counts.data)].tolist()
    ends = np.concatenate([[0], np.cumsum(counts.data, dtype=np.int64)])[counts.indptr[1:]].tolist()
    return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends)]


class TopicModel(TransformerMixin, BaseEstimator):
    """Topics of lemmatised texts: LDA (tomotopy or gensim) or NMF on TF-IDF.

    Parameters
    ----------
    n_topics : int
        Number of topics K.
    method : {"lda", "nmf"}
        LDA on term counts, or NMF on sublinear TF-IDF.
    engine : {"tomotopy", "gensim"}
        LDA implementation (ignored for NMF).
    max_iter : int or None
        Gibbs sweeps (tomotopy; default :func:`default_gibbs_iterations`: 200 on large
        corpora, up to 1,000 on small ones), passes (gensim, default 2) or NMF iterations
        (default 300).
    min_df, max_df : int or float
        Document-frequency bounds of the vocabulary (``CountVectorizer`` semantics).
    max_features : int or None
        Largest vocabulary kept (by frequency).
    n_top_terms : int
        Terms per topic in :meth:`top_terms`.
    n_jobs : int
        Worker threads for tomotopy's sampler (the partition scheme: same seed, same result).
    random_state : int
        Seed: same seed, input and ``n_jobs`` give the same topics (the sampler's threads split
        the vocabulary, so another ``n_jobs`` gives other topics).

    Attributes
    ----------
    vectorizer_ : CountVectorizer
    feature_names_ : ndarray of str
    components_ : ndarray of shape (n_topics, n_features)
        Topic-term weights; each row sums to 1 (LDA: p(term | topic)).
    doc_topic_ : ndarray of shape (n_documents, n_topics)
        Topic shares of the training documents; rows sum to 1.
    doc_lengths_ : ndarray
        Vocabulary tokens per training document.
    n_iter_ : int
        Gibbs sweeps run (tomotopy), passes (gensim) or NMF iterations.

    Examples
    --------
    >>> tm = TopicModel(2, random_state=0, max_iter=50).fit(["a b a b", "c d c d"] * 5)
    >>> tm.doc_topic_.shape
    (10, 2)
    """

    def __init__(self, n_topics: int = DEFAULT_K, *, method: Method = "lda", engine: str = "tomotopy",
                 max_iter: int | None = None, min_df: int | float = 2, max_df: int | float = 0.5,
                 max_features: int | None = 50_000, n_top_terms: int = N_TOP_TERMS, n_jobs: int = 1,
                 random_state: int = 0):
        self.n_topics = n_topics
        self.method = method
        self.engine = engine
        self.max_iter = max_iter
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.n_top_terms = n_top_terms
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    # --- fitting ------------------------------------------------------------------------------

    def _vectorize(self, docs: list[str]):
        from sklearn.feature_extraction.text import CountVectorizer

        n = len(docs)
        min_df, max_df = self.min_df, self.max_df
        if isinstance(min_df, int) and isinstance(max_df, float) and n * max_df < min_df:
            max_df = 1.0  # tiny corpora: keep the bounds consistent
        self.vectorizer_ = CountVectorizer(tokenizer=split_lemmas, lowercase=False, token_pattern=None,
                                           min_df=min_df, max_df=max_df, max_features=self.max_features,
                                           dtype=np.int32)
        try:
            counts = self.vectorizer_.fit_transform(docs).tocsr()
        except ValueError as exc:  # empty vocabulary, or bounds leave no terms
            raise KmdError(f"no terms left for topics ({exc}); give more text or lower min_df") from exc
        self.feature_names_ = self.vectorizer_.get_feature_names_out()
        return counts

    def fit(self, X, y=None):
        """Build the vocabulary and fit the topics; returns ``self``."""
        docs = _check_strings(X)
        if self.method not in ("lda", "nmf"):
            raise KmdError(f"method {self.method!r} is not one of lda, nmf")
        if self.method == "lda" and self.engine not in ("tomotopy", "gensim"):
            raise KmdError(f"engine {self.engine!r} is not one of tomotopy, gensim")
        if not isinstance(self.n_topics, (int, np.integer)) or self.n_topics < 1:
            raise KmdError(f"n_topics {self.n_topics!r} must be a positive integer")
        if len(docs) < 2:
            raise KmdError(f"topics need at least 2 documents, got {len(docs)}")
        counts = self._vectorize(docs)
        self._fit_counts = counts  # for the caller's coherence (fit_topics pops it): not refitted
        self.doc_lengths_ = np.asarray(counts.sum(axis=1)).ravel()
        k = int(self.n_topics)
        if self.method == "nmf":
            self._fit_nmf(counts, k)
        elif self.engine == "tomotopy":
            self._fit_tomotopy(counts, k)
        else:
            self._fit_gensim(counts, k)
        self.components_ = _normalise_rows(self.components_)
        self.doc_topic_ = _normalise_rows(self.doc_topic_)
        return self

    def _fit_nmf(self, counts, k: int) -> None:
        from sklearn.decomposition import NMF
        from sklearn.feature_extraction.text import TfidfTransformer

        self.tfidf_ = TfidfTransformer(sublinear_tf=True)
        tfidf = self.tfidf_.fit_transform(counts)
        self.model_ = NMF(n_components=k, init="nndsvda", max_iter=self.max_iter or 300,
                          random_state=self.random_state)
        self.doc_topic_ = self.model_.fit_transform(tfidf)
        self.n_iter_ = int(self.model_.n_iter_)
        self.components_ = self.model_.components_

    def _fit_tomotopy(self, counts, k: int) -> None:
        import tomotopy as tp

        mdl = tp.LDAModel(k=k, alpha=0.1, eta=0.01, seed=int(self.random_state))
        self._tp_index = []  # training doc -> index in the model, or -1 (empty)
        for words in _csr_to_words(counts, self.feature_names_):
            if words:
                mdl.add_doc(words)
                self._tp_index.append(len(mdl.docs) - 1)
            else:
                self._tp_index.append(-1)
        if not len(mdl.docs):
            raise KmdError("no document has any vocabulary term; give more text or lower min_df")
        # the PARTITION scheme splits the vocabulary between workers; unlike COPY_MERGE its
        # result does not depend on thread timing (tests check same seed -> same topics)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.n_iter_ = int(self.max_iter or default_gibbs_iterations(int(counts.sum())))
            mdl.train(self.n_iter_, workers=max(1, int(self.n_jobs)), parallel=tp.ParallelScheme.PARTITION)
        pos = {w: i for i, w in enumerate(self.feature_names_)}
        used = [pos[w] for w in mdl.used_vocabs]
        comp = np.zeros((k, len(self.feature_names_)))
        for t in range(k):
            comp[t, used] = mdl.get_topic_word_dist(t)
        # shares from the final topic assignments (n_dk / n_d), not the alpha-smoothed posterior
        # means: smoothing pulls every document towards the corpus mean and so shrinks effects
        tops = [d.topics for d in mdl.docs]
        lens = np.fromiter(map(len, tops), dtype=np.int64, count=len(tops))
        cells = np.repeat(np.arange(len(tops)) * k, lens) + np.concatenate(tops)
        dists = np.bincount(cells, minlength=len(tops) * k).reshape(len(tops), k).astype(np.float64)
        theta = np.full((counts.shape[0], k), 1.0 / k)
        idx = np.array(self._tp_index)
        theta[idx >= 0] = dists[idx[idx >= 0]]
        self.model_ = mdl
        self.components_, self.doc_topic_ = comp, theta

    def _fit_gensim(self, counts, k: int) -> None:
        from gensim.matutils import Sparse2Corpus
        from gensim.models import LdaModel

        corpus = Sparse2Corpus(counts, documents_columns=False)
        self.n_iter_ = int(self.max_iter or 2)
        self.model_ = LdaModel(corpus, num_topics=k, id2word=dict(enumerate(self.feature_names_)),
                               passes=self.n_iter_, chunksize=4000, alpha="auto",
                               random_state=int(self.random_state))
        gamma, _ = self.model_.inference(list(Sparse2Corpus(counts, documents_columns=False)))
        self.components_ = self.model_.get_topics()
        # gamma = alpha + expected topic counts: the counts, as for tomotopy
        self.doc_topic_ = np.maximum(gamma - self.model_.alpha[None, :], 0)

    # --- using a fitted model ---------------------------------------------------------------------

    def transform(self, X) -> np.ndarray:
        """Topic shares of new lemma strings; each row sums to 1 (uniform for a text without
        any vocabulary term)."""
        check_is_fitted(self, "components_")
        docs = _check_strings(X)
        counts = self.vectorizer_.transform(docs).tocsr()
        k = self.components_.shape[0]
        if self.method == "nmf":
            return _normalise_rows(self.model_.transform(self.tfidf_.transform(counts)))
        if self.engine == "tomotopy":
            import tomotopy as tp

            out = np.full((len(docs), k), 1.0 / k)
            made, rows = [], []
            for i, words in enumerate(_csr_to_words(counts, self.feature_names_)):
                if words:
                    made.append(self.model_.make_doc(words))
                    rows.append(i)
            if made:
                res, _ = self.model_.infer(made, iterations=100, workers=1, parallel=tp.ParallelScheme.NONE)
                out[rows] = np.array([d if isinstance(d, np.ndarray) else d.get_topic_dist() for d in res])
            return _normalise_rows(out)
        from gensim.matutils import Sparse2Corpus

        gamma, _ = self.model_.inference(list(Sparse2Corpus(counts, documents_columns=False)))
        return _normalise_rows(gamma)

    def top_terms(self, n: int | None = None, prefix: str = "") -> pd.DataFrame:
        """``topic``, ``rank``, ``term``, ``weight`` for the top ``n`` terms of every topic."""
        check_is_fitted(self, "components_")
        n = n or self.n_top_terms
        rows = []
        for t, row in enumerate(self.components_):
            top = np.argsort(-row, kind="stable")[:n]
            for r, j in enumerate(top, 1):
                rows.append((f"{prefix}{t + 1}", r, str(self.feature_names_[j]), float(row[j])))
        return pd.DataFrame(rows, columns=["topic", "rank", "term", "weight"])

    # --- pickling: tomotopy models are saved as bytes ----------------------------------------------

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_fit_counts", None)
        mdl = state.get("model_")
        if mdl is not None and type(mdl).__module__.startswith("tomotopy"):
            state["model_"] = ("tomotopy", type(mdl).__name__, bytes(mdl.saves(full=True)))
        return state

    def __setstate__(self, state):
        mdl = state.get("model_")
        if isinstance(mdl, tuple) and len(mdl) == 3 and mdl[0] == "tomotopy":
            import tomotopy as tp

            state["model_"] = getattr(tp, mdl[1]).loads(mdl[2])
        self.__dict__.update(state)


# --- quality measures ---------------------------------------------------------------------------

def topic_npmi(counts, components: np.ndarray, n: int = N_COHERENCE_TERMS) -> np.ndarray:
    """NPMI coherence of each topic's top ``n`` terms, from document co-occurrence in ``counts``
    (documents x terms, sparse); pairs that never co-occur count as -1 (Bouma 2009;
    Röder et al.'s C_NPMI with the whole document as the window)."""
    import scipy.sparse as sp

    X = sp.csc_matrix(counts, dtype=np.float64)
    X.data[:] = 1.0
    n_docs = max(X.shape[0], 1)
    out = np.zeros(components.shape[0])
    iu = np.triu_indices(min(n, components.shape[1]), 1)
    for t, row in enumerate(components):
        top = np.argsort(-row, kind="stable")[:n]
        sub = X[:, top]
        co = (sub.T @ sub).toarray()
        df = np.diag(co)
        pij = co[iu] / n_docs
        pi, pj = df[iu[0]] / n_docs, df[iu[1]] / n_docs
        with np.errstate(divide="ignore", invalid="ignore"):
            pmi = np.log(pij / (pi * pj))
            val = pmi / -np.log(pij)
        val = np.where(pij <= 0, -1.0, np.where(pij >= 1, 1.0, val))
        out[t] = float(np.mean(val)) if val.size else 0.0
    return out


def topic_exclusivity(components: np.ndarray, n: int = N_COHERENCE_TERMS) -> np.ndarray:
    """Mean over each topic's top ``n`` terms of p(term | topic) / sum over topics (stm's
    exclusivity; 1 = the terms belong to this topic only, 1/K = shared by all)."""
    share = components / np.maximum(components.sum(axis=0, keepdims=True), 1e-300)
    out = np.zeros(components.shape[0])
    for t, row in enumerate(components):
        top = np.argsort(-row, kind="stable")[:n]
        out[t] = float(share[t, top].mean())
    return out


def topic_diversity(components: np.ndarray, n: int | None = None) -> float:
    """Share of distinct terms among all topics' top ``n`` terms (Dieng et al. 2020); ``n``
    defaults to 25, or fewer when the vocabulary cannot hold 25 distinct terms per topic."""
    if n is None:
        n = max(1, min(N_DIVERSITY_TERMS, components.shape[1] // max(components.shape[0], 1)))
    top = np.argsort(-components, axis=1, kind="stable")[:, :n]
    return float(len(np.unique(top)) / top.size) if top.size else 0.0


# --- periods, prevalence and effects ----------------------------------------------------------------

def period_of(date: Any, by: By = "year") -> str | None:
    """``YYYY``, ``YYYY-Qn`` or ``YYYY-MM`` for a date (None for a missing date)."""
    if date is None or (isinstance(date, float) and math.isnan(date)) or date is pd.NaT:
        return None
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date[:10])
        except ValueError:
            return None
    if hasattr(date, "to_pydatetime"):
        date = date.to_pydatetime()
    if by == "year":
        return f"{date.year:04d}"
    if by == "quarter":
        return f"{date.year:04d}-Q{(date.month - 1) // 3 + 1}"
    if by == "month":
        return f"{date.year:04d}-{date.month:02d}"
    raise KmdError(f"--by {by!r} is not one of year, quarter, month")


def decimal_year(date: Any) -> float:
    if date is None or (isinstance(date, float) and math.isnan(date)) or date is pd.NaT:
        return float("nan")
    if isinstance(date, str):
        date = dt.date.fromisoformat(date[:10])
    if hasattr(date, "to_pydatetime"):
        date = date.to_pydatetime().date()
    start = dt.date(date.year, 1, 1).toordinal()
    days = dt.date(date.year + 1, 1, 1).toordinal() - start
    return date.year + (date.toordinal() - start) / days


def _doc_codes(doc_ids: Sequence[str]) -> tuple[np.ndarray, int]:
    codes, uniq = pd.factorize(pd.Series(list(doc_ids), dtype=object))
    return codes, len(uniq)


def _one_blas_thread():
    """Run the bootstrap's many small matrix products on one BLAS thread: waking a second
    thread per product cost more than the products (5 CPU s at 100k passages on a busy 2-core
    machine), and the intervals then no longer depend on the number of BLAS threads (cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _bootstrap_weights(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    return rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(np.float64)


def bootstrap_mean_shares(shares: np.ndarray, doc_ids: Sequence[str], *, n_boot: int = N_BOOT,
                          rng: np.random.Generator, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean share per topic over units, with a percentile bootstrap interval that resamples
    documents (a document's units stay together). Returns (mean, low, high) per topic."""
    codes, n = _doc_codes(doc_ids)
    k = shares.shape[1]
    sums = np.zeros((n, k))
    np.add.at(sums, codes, shares)
    cnt = np.bincount(codes, minlength=n).astype(np.float64)
    mean = sums.sum(axis=0) / cnt.sum()
    if n < 2:
        return mean, np.full(k, np.nan), np.full(k, np.nan)
    reps = []
    for start in range(0, n_boot, 50):
        w = _bootstrap_weights(rng, n, min(50, n_boot - start))
        reps.append((w @ sums) / (w @ cnt)[:, None])
    reps = np.vstack(reps)
    a = (1 - level) / 2
    return mean, np.quantile(reps, a, axis=0), np.quantile(reps, 1 - a, axis=0)


def prevalence_table(shares: np.ndarray, units: pd.DataFrame, topics: Sequence[str], *, by: By = "year",
                     n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Mean topic share per period for each genre and for ``genre="all"``, with 95% bootstrap
    intervals over documents. ``units`` has ``doc_id``, ``date``, ``genre``, ``lang`` per row
    of ``shares``; units without a date are left out."""
    with _one_blas_thread():
        return _prevalence_table(shares, units, topics, by=by, n_boot=n_boot, seed=seed)


def _prevalence_table(shares: np.ndarray, units: pd.DataFrame, topics: Sequence[str], *, by: By,
                      n_boot: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = ["topic", "period", "genre", "lang", "n_docs", "share", "ci_low", "ci_high"]
    periods = units["date"].map(lambda d: period_of(d, by))
    ok = periods.notna().to_numpy()
    if not ok.any():
        return pd.DataFrame(columns=cols)
    u = units.loc[ok].assign(period=periods[ok].to_numpy())
    sh = shares[ok]
    rows = []
    genre = u["genre"].fillna("unknown").astype(str).to_numpy()
    per = u["period"].astype(str).to_numpy()
    lang = u["lang"].astype(str).to_numpy()
    doc = u["doc_id"].astype(str).to_numpy()
    for lg in sorted(set(lang)):
        for p in sorted(set(per[lang == lg])):
            base = (lang == lg) & (per == p)
            groups = [(GENRE_ALL, base)] + [(g, base & (genre == g)) for g in sorted(set(genre[base]))]
            for g, m in groups:
                if not m.any():
                    continue
                mean, lo, hi = bootstrap_mean_shares(sh[m], doc[m], n_boot=n_boot, rng=rng)
                nd = len(set(doc[m]))
                for t, name in enumerate(topics):
                    rows.append((name, p, g, lg, nd, mean[t], lo[t], hi[t]))
    return pd.DataFrame(rows, columns=cols)


def effects_table(shares: np.ndarray, units: pd.DataFrame, topics: Sequence[str], *, n_boot: int = N_BOOT,
                  seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per topic, OLS of unit topic shares on ``academic`` (vs ``business``) and centred
    decimal year, as stm's ``estimateEffect`` regresses document-topic proportions on
    covariates. Intervals: percentile bootstrap over documents. Returns ``topic``, ``effect``
    (``academic_minus_business`` or ``trend_per_year``), ``estimate``, ``ci_low``,
    ``ci_high``, ``n_docs``; an effect the data cannot identify (one genre, one date) is left out.
    """
    with _one_blas_thread():
        return _effects_table(shares, units, topics, n_boot=n_boot, seed=seed, level=level)


def _effects_table(shares: np.ndarray, units: pd.DataFrame, topics: Sequence[str], *, n_boot: int, seed: int,
                   level: float) -> pd.DataFrame:
    cols = ["topic", "effect", "estimate", "ci_low", "ci_high", "n_docs"]
    years = units["date"].map(decimal_year).to_numpy(dtype=np.float64)
    genre = units["genre"].astype(object).to_numpy()
    ok = ~np.isnan(years) & np.isin(genre, list(GENRES))
    if ok.sum() < 3:
        return pd.DataFrame(columns=cols)
    y = shares[ok]
    yr = years[ok] - years[ok].mean()
    acad = (genre[ok] == "academic").astype(np.float64)
    names, xs = ["intercept"], [np.ones(ok.sum())]
    if 0 < acad.sum() < len(acad):
        names.append("academic_minus_business")
        xs.append(acad)
    if np.ptp(yr) > 0:
        names.append("trend_per_year")
        xs.append(yr)
    if len(names) == 1:
        return pd.DataFrame(columns=cols)
    X = np.column_stack(xs)
    codes, n = _doc_codes(units["doc_id"].astype(str).to_numpy()[ok])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    # a replicate weights whole documents, so X'WX and X'Wy are weighted sums of per-document
    # blocks: sum them once, then every replicate is a small product (not a pass over all units)
    import scipy.sparse as sp

    p_, k_ = X.shape[1], y.shape[1]
    member = sp.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(n, len(codes)))
    sxx = member @ (X[:, :, None] * X[:, None, :]).reshape(len(codes), p_ * p_)
    sxy = member @ (X[:, :, None] * y[:, None, :]).reshape(len(codes), p_ * k_)
    rng = np.random.default_rng(seed)
    reps = []
    for start in range(0, n_boot, 50):
        wd = _bootstrap_weights(rng, n, min(50, n_boot - start))
        xtwx = (wd @ sxx).reshape(-1, p_, p_)
        xtwy = (wd @ sxy).reshape(-1, p_, k_)
        try:
            reps.extend(np.linalg.solve(xtwx, xtwy))
        except np.linalg.LinAlgError:  # a replicate without one genre: skip it
            for a_, b_ in zip(xtwx, xtwy):
                try:
                    reps.append(np.linalg.solve(a_, b_))
                except np.linalg.LinAlgError:
                    continue
    reps = np.array(reps)
    a = (1 - level) / 2
    rows = []
    for j, name in enumerate(names[1:], 1):
        lo = np.quantile(reps[:, j, :], a, axis=0) if len(reps) else np.full(y.shape[1], np.nan)
        hi = np.quantile(reps[:, j, :], 1 - a, axis=0) if len(reps) else np.full(y.shape[1], np.nan)
        for t, topic in enumerate(topics):
            rows.append((topic, name, beta[j, t], lo[t], hi[t], n))
    return pd.DataFrame(rows, columns=cols)


# --- fitting over a corpus --------------------------------------------------------------------------

@dataclass
class TopicResult:
    """Everything :func:`fit_topics` computes; :func:`write_topic_outputs` saves it."""

    topics: pd.DataFrame
    doc_topics: pd.DataFrame
    prevalence: pd.DataFrame
    effects: pd.DataFrame
    coherence: pd.DataFrame
    topic_terms_by_period: pd.DataFrame | None = None
    models: dict[str, TopicModel] = field(default_factory=dict)
    chosen_k: dict[str, int] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)
    by: str = "year"
    unit: str = "document"
    notes: list[str] = field(default_factory=list)


def build_units(passages: pd.DataFrame, lemmas: Sequence[list[str]], unit: Unit = "document") -> pd.DataFrame:
    """One row per modelling unit: ``doc_id`` (and ``passage_id``), ``lang``, ``date``,
    ``genre`` and ``text`` (space-joined lemmas). A document unit joins its passages of one
    language, in order."""
    df = pd.DataFrame({
        "doc_id": passages["doc_id"].astype(str).to_numpy(),
        "passage_id": passages["passage_id"].astype(str).to_numpy(),
        "position": passages["position"].to_numpy() if "position" in passages else np.arange(len(passages)),
        "lang": passages["lang"].astype(object).to_numpy(),
        "date": passages["date"].astype(object).to_numpy() if "date" in passages else None,
        "genre": passages["genre"].astype(object).to_numpy() if "genre" in passages else None,
        "text": [" ".join(x) for x in lemmas],
    })
    df = df[df["lang"].isin(["en", "ru"])]
    if unit == "passage":
        return df.reset_index(drop=True)
    if unit != "document":
        raise KmdError(f"--unit {unit!r} is not one of document, passage")
    df = df.sort_values(["doc_id", "lang", "position"], kind="stable")
    g = df.groupby(["doc_id", "lang"], sort=False)
    out = g.agg(date=("date", "first"), genre=("genre", "first"))
    # sorted, so each (doc_id, lang) group is one run of rows: join the runs' texts in one pass
    # (a Python function per group through groupby costs seconds at 100k passages)
    doc, lg = df["doc_id"].to_numpy(dtype=object), df["lang"].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, (doc[1:] != doc[:-1]) | (lg[1:] != lg[:-1])]).tolist()
    texts = df["text"].tolist()
    out["text"] = [" ".join(x for x in texts[a:b] if x) for a, b in zip(starts, starts[1:] + [len(texts)])]
    return out.reset_index()


def _training_counts(tm: TopicModel, docs: list[str]):
    """The document-term counts ``tm`` was fitted on (kept by ``fit``, released here), or
    recomputed from ``docs``."""
    counts = tm.__dict__.pop("_fit_counts", None)
    return counts if counts is not None else tm.vectorizer_.transform(docs)


def choose_k(docs: list[str], candidates: Iterable[int], *, method: Method = "lda", seed: int = 0,
             model_kw: dict | None = None) -> tuple[int, pd.DataFrame, dict[int, TopicModel]]:
    """Fit each K and pick the one with the best sum of min-max scaled mean NPMI and topic
    diversity (ties: the smaller K). Returns (K, curve, fitted models)."""
    rows, models = [], {}
    for k in candidates:
        tm = TopicModel(k, method=method, random_state=seed, **(model_kw or {})).fit(docs)
        counts = _training_counts(tm, docs)
        npmi = topic_npmi(counts, tm.components_)
        rows.append((k, float(npmi.mean()), topic_diversity(tm.components_),
                     float(topic_exclusivity(tm.components_).mean())))
        models[k] = tm
    curve = pd.DataFrame(rows, columns=["k", "npmi", "diversity", "exclusivity"])

    def scaled(s: pd.Series) -> pd.Series:
        r = s.max() - s.min()
        return (s - s.min()) / r if r > 0 else s * 0

    curve["score"] = scaled(curve["npmi"]) + scaled(curve["diversity"])
    best = int(curve.sort_values(["score", "k"], ascending=[False, True]).iloc[0]["k"])
    return best, curve, models


def auto_k_candidates(n_units: int) -> list[int]:
    """K to try: :data:`AUTO_K` up to a tenth of the units; 2 to 10 on small corpora."""
    cands = [k for k in AUTO_K if k <= n_units // 10]
    if len(cands) < 3:
        cands = list(range(2, max(2, min(10, n_units // 4)) + 1))
    return cands


def fit_topics(passages: pd.DataFrame, lemmas: Sequence[list[str]], *, k: int | str = DEFAULT_K,
               method: Method = "lda", by: By = "year", lang: str = "all", unit: Unit = "document",
               dynamic: bool = False, seed: int = 0, n_boot: int = N_BOOT, k_candidates: Iterable[int] | None = None,
               model_kw: dict | None = None, dynamic_iter: int = 100, jobs: int = 1) -> TopicResult:
    """Fit one topic model per language and derive top terms, shares, prevalence, effects,
    coherence (and, with ``dynamic``, top terms per period from tomotopy's DTModel).

    Parameters
    ----------
    passages : pandas.DataFrame
        ``doc_id``, ``passage_id``, ``position``, ``lang``, ``date``, ``genre``.
    lemmas : sequence of list of str
        Lemmas (with phrases) per passage, aligned with ``passages``.
    k : int or "auto"
    method : {"lda", "nmf"}
    by : {"year", "quarter", "month"}
    lang : {"en", "ru", "all"}
    unit : {"document", "passage"}
    dynamic : bool
    seed : int
    n_boot : int
        Bootstrap replicates for the intervals.
    jobs : int
        Sampler threads (tomotopy; same result for any value).

    Returns
    -------
    TopicResult
    """
    if len(passages) != len(lemmas):
        raise KmdError(f"{len(passages)} passages but {len(lemmas)} lemma lists")
    units = build_units(passages, lemmas, unit)
    model_kw = {"n_jobs": jobs, **(model_kw or {})}
    langs = ["en", "ru"] if lang == "all" else [lang]
    if lang not in ("all", "en", "ru"):
        raise KmdError(f"--lang {lang!r} is not one of en, ru, all")
    res = TopicResult(*(pd.DataFrame() for _ in range(5)), by=by, unit=unit)
    tops, dts, prevs, effs, cohs, dyns = [], [], [], [], [], []
    for lg in langs:
        u = units[(units["lang"] == lg) & (units["text"].str.len() > 0)].reset_index(drop=True)
        if len(u) < 2:
            if len(u):
                res.notes.append(f"{lg}: only {len(u)} unit with text; no topics")
            continue
        docs = u["text"].tolist()
        if k == "auto":
            cands = list(k_candidates) if k_candidates else auto_k_candidates(len(u))
            kk, curve, models = choose_k(docs, cands, method=method, seed=seed, model_kw=model_kw)
            tm = models[kk]
            res.notes.append(f"{lg}: chose K={kk} of {cands} (mean NPMI {curve.set_index('k').loc[kk, 'npmi']:.3f}, "
                             f"diversity {curve.set_index('k').loc[kk, 'diversity']:.2f})")
        else:
            kk = int(k)
            if kk < 1:
                raise KmdError(f"--k {k!r} must be a positive integer or auto")
            curve = None
            tm = TopicModel(kk, method=method, random_state=seed, **(model_kw or {})).fit(docs)
        res.models[lg], res.chosen_k[lg], res.units[lg] = tm, kk, len(u)
        prefix = f"{lg}-"
        names = [f"{prefix}{t + 1}" for t in range(kk)]
        tops.append(tm.top_terms(prefix=prefix))
        shares = tm.doc_topic_
        long = pd.DataFrame({
            "doc_id": np.repeat(u["doc_id"].to_numpy(), kk),
            "topic": np.tile(np.array(names, dtype=object), len(u)),
            "weight": shares.ravel(),
        })
        if unit == "passage":
            long.insert(1, "passage_id", np.repeat(u["passage_id"].to_numpy(), kk))
        dts.append(long)
        prevs.append(prevalence_table(shares, u, names, by=by, n_boot=n_boot, seed=seed))
        effs.append(effects_table(shares, u, names, n_boot=n_boot, seed=seed))
        counts = _training_counts(tm, docs)
        coh = pd.DataFrame({"lang": lg, "k": kk, "topic": names, "npmi": topic_npmi(counts, tm.components_),
                            "exclusivity": topic_exclusivity(tm.components_), "diversity": np.nan, "chosen": True})
        summary = pd.DataFrame([{"lang": lg, "k": kk, "topic": "all", "npmi": coh["npmi"].mean(),
                                 "exclusivity": coh["exclusivity"].mean(),
                                 "diversity": topic_diversity(tm.components_), "chosen": True}])
        cohs += [coh, summary]
        if curve is not None:
            other = curve[curve["k"] != kk]
            cohs.append(pd.DataFrame({"lang": lg, "k": other["k"], "topic": "all", "npmi": other["npmi"],
                                      "exclusivity": other["exclusivity"], "diversity": other["diversity"],
                                      "chosen": False}))
        if dynamic:
            dyn, note = dynamic_topic_terms(u, tm, names, by=by, seed=seed, iterations=dynamic_iter)
            if note:
                res.notes.append(f"{lg}: {note}")
            if dyn is not None:
                dyns.append(dyn)
    if not tops:
        raise KmdError("no language has enough lemmatised text for topics "
                       f"(units per language: {units['lang'].value_counts().to_dict()})")
    res.topics = pd.concat(tops, ignore_index=True)
    res.doc_topics = pd.concat(dts, ignore_index=True)
    res.prevalence = pd.concat(prevs, ignore_index=True)
    res.effects = pd.concat(effs, ignore_index=True)
    res.coherence = pd.concat(cohs, ignore_index=True).sort_values(["lang", "k", "topic"], kind="stable",
                                                                   ignore_index=True)
    if dynamic:
        res.topic_terms_by_period = (pd.concat(dyns, ignore_index=True) if dyns else
                                     pd.DataFrame(columns=["topic", "period", "rank", "term", "weight"]))
    return res


def dynamic_topic_terms(units: pd.DataFrame, tm: TopicModel, names: Sequence[str], *, by: By = "year",
                        seed: int = 0, iterations: int = 100, n: int = N_TOP_TERMS) -> tuple[pd.DataFrame | None, str]:
    """Top terms per period from tomotopy's dynamic topic model (DTModel) on the same
    vocabulary; dynamic topics are matched to the static model's topics (Hungarian matching on
    the cosine similarity of term distributions) so topic ids agree. Returns (table, note)."""
    import tomotopy as tp
    from scipy.optimize import linear_sum_assignment

    periods = units["date"].map(lambda d: period_of(d, by))
    ok = periods.notna().to_numpy()
    uniq = sorted(set(periods[ok]))
    if len(uniq) < 2:
        return None, "the dynamic model needs dated units in at least 2 periods; skipped"
    index = {p: i for i, p in enumerate(uniq)}
    k = len(names)
    mdl = tp.DTModel(k=k, t=len(uniq), seed=int(seed))
    counts = tm.vectorizer_.transform(units["text"].to_numpy()[ok]).tocsr()
    added = 0
    for words, p in zip(_csr_to_words(counts, tm.feature_names_), periods[ok]):
        if words:
            mdl.add_doc(words, timepoint=index[p])
            added += 1
    if added < 2:
        return None, "too few dated units with text for the dynamic model; skipped"
    mdl.train(iterations, workers=1)
    pos = {w: i for i, w in enumerate(tm.feature_names_)}
    used = np.array([pos[w] for w in mdl.used_vocabs])
    V = len(tm.feature_names_)
    mean = np.zeros((k, V))
    per = np.zeros((len(uniq), k, V))
    for t in range(len(uniq)):
        for j in range(k):
            per[t, j, used] = mdl.get_topic_word_dist(j, timepoint=t)
    mean = per.mean(axis=0)
    a = tm.components_ / np.linalg.norm(tm.components_, axis=1, keepdims=True)
    b = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-300)
    rows_, cols_ = linear_sum_assignment(-(a @ b.T))
    match = dict(zip(cols_, rows_))
    rows = []
    for j in range(k):
        name = names[match[j]]
        for t, p in enumerate(uniq):
            dist = per[t, j]
            top = np.argsort(-dist, kind="stable")[:n]
            for r, w in enumerate(top, 1):
                rows.append((name, p, r, str(tm.feature_names_[w]), float(dist[w])))
    out = pd.DataFrame(rows, columns=["topic", "period", "rank", "term", "weight"])
    return out.sort_values(["topic", "period", "rank"], key=_topic_sort_key, ignore_index=True), ""


def _topic_sort_key(s: pd.Series) -> pd.Series:
    if s.name == "topic":
        return s.map(lambda x: (x.split("-")[0], int(x.split("-")[1])) if "-" in str(x) else (str(x), 0))
    return s


# --- writing ------------------------------------------------------------------------------------------

def write_topic_outputs(res: TopicResult, outdir: str | os.PathLike, *, params: dict | None = None) -> list[Path]:
    """Write topics.csv, doc_topics.parquet, prevalence.csv, effects.csv, coherence.csv,
    topic_terms_by_period.csv (dynamic), prevalence.png and topics.html into ``outdir``."""
    from .store import atomic_write_text, export_table

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in [("topics.csv", res.topics), ("doc_topics.parquet", res.doc_topics),
                     ("prevalence.csv", res.prevalence), ("effects.csv", res.effects),
                     ("coherence.csv", res.coherence)]:
        export_table(df, out / name)
        written.append(out / name)
    if res.topic_terms_by_period is not None:
        export_table(res.topic_terms_by_period, out / "topic_terms_by_period.csv")
        written.append(out / "topic_terms_by_period.csv")
    plot_prevalence(res, out / "prevalence.png")
    written.append(out / "prevalence.png")
    atomic_write_text(out / "topics.html", topics_html(res))
    written.append(out / "topics.html")
    meta = {"params": params or {}, "k": res.chosen_k, "units": res.units, "unit": res.unit, "by": res.by,
            "iterations": {lg: getattr(tm, "n_iter_", None) for lg, tm in res.models.items()},
            "notes": res.notes, "versions": _versions()}
    atomic_write_text(out / "topics.json", json.dumps(meta, indent=2, ensure_ascii=False, default=str))
    written.append(out / "topics.json")
    return written


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("kmdiscourse", "tomotopy", "gensim", "scikit-learn", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "-"
    return out


def _labels(res: TopicResult, n: int = 3) -> dict[str, str]:
    t = res.topics[res.topics["rank"] <= n]
    return {k: ", ".join(g.sort_values("rank")["term"]) for k, g in t.groupby("topic", sort=False)}


def _ordered_topics(res: TopicResult) -> list[str]:
    return list(dict.fromkeys(res.topics["topic"]))


_GENRE_STYLE = {GENRE_ALL: ("#444444", "all"), "business": ("#1f77b4", "business"), "academic": ("#d62728", "academic")}


def plot_prevalence(res: TopicResult, path: str | os.PathLike) -> None:
    """One panel per topic, a line per genre (and all), shaded 95% intervals (matplotlib, Agg)."""
    # a Figure of its own, not pyplot: no global backend or figure state, and no pyplot import
    from matplotlib.figure import Figure

    from .store import atomic_write_bytes

    topics = _ordered_topics(res)
    labels = _labels(res)
    prev = res.prevalence
    ncol = min(4, max(1, len(topics)))
    nrow = max(1, math.ceil(len(topics) / ncol))
    fig = Figure(figsize=(3.6 * ncol, 2.5 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False, sharey=False)
    w_in, h_in = fig.get_size_inches()
    periods_all = sorted(set(prev["period"])) if len(prev) else []
    pos = {p: i for i, p in enumerate(periods_all)}
    for ax, topic in zip(axes.ravel(), topics):
        sub = prev[prev["topic"] == topic]
        for g in [GENRE_ALL, *GENRES, *sorted(set(sub["genre"]) - {GENRE_ALL, *GENRES})]:
            s = sub[sub["genre"] == g].sort_values("period")
            if s.empty:
                continue
            color, name = _GENRE_STYLE.get(g, ("#2ca02c", g))
            x = [pos[p] for p in s["period"]]
            ax.plot(x, s["share"], marker="o", ms=2.5, lw=1.4 if g == GENRE_ALL else 1.1, color=color,
                    label=name, ls="--" if g == GENRE_ALL else "-")
            ax.fill_between(x, s["ci_low"], s["ci_high"], color=color, alpha=0.15, lw=0)
        ax.set_title(f"{topic}: {labels.get(topic, '')}", fontsize=8)
        ax.tick_params(labelsize=6)
        if periods_all:
            step = max(1, len(periods_all) // 6)
            ax.set_xticks(range(0, len(periods_all), step))
            ax.set_xticklabels(periods_all[::step], rotation=45, ha="right")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3, lw=0.5)
    for ax in axes.ravel()[len(topics):]:
        ax.set_visible(False)
    handles, lbls = [], []
    for ax in axes.ravel()[: len(topics)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in lbls:
                handles.append(h)
                lbls.append(lab)
    if handles:
        fig.legend(handles, lbls, loc="upper right", fontsize=8, ncol=len(handles), bbox_to_anchor=(1, 1 - 0.3 / h_in))
    # fixed margins in inches, not tight_layout: that draws the whole figure once more to
    # measure it (a third of the time with 40 panels)
    fig.suptitle(f"Topic share by {res.by} (mean over {res.unit}s, 95% bootstrap intervals)", fontsize=10, x=0.02,
                 y=1 - 0.12 / h_in, ha="left", va="top")
    fig.subplots_adjust(left=0.5 / w_in, right=1 - 0.15 / w_in, bottom=0.7 / h_in, top=1 - 0.75 / h_in,
                        wspace=0.3, hspace=0.65)
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())


def _svg_bars(terms: pd.DataFrame, width: int = 320) -> str:
    if terms.empty:
        return ""
    mx = float(terms["weight"].max()) or 1.0
    h = 15
    parts = [f'<svg width="{width}" height="{h * len(terms) + 4}" role="img">']
    for i, (term, weight) in enumerate(zip(terms["term"].tolist(), terms["weight"].tolist())):
        w = max(1.0, (width - 150) * float(weight) / mx)
        y = i * h + 2
        parts.append(f'<text x="0" y="{y + 11}" font-size="11">{html.escape(str(term))}</text>'
                     f'<rect x="150" y="{y + 2}" width="{w:.1f}" height="{h - 4}" fill="#4c78a8">'
                     f'<title>{html.escape(str(term))}: {float(weight):.4f}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_lines(sub: pd.DataFrame, periods: list[str], width: int = 320, height: int = 120) -> str:
    if sub.empty or not periods:
        return "<p class='muted'>no dated documents</p>"
    top = float(np.nanmax(sub["ci_high"].fillna(sub["share"]))) or 1.0
    px = {p: 30 + (width - 40) * (i / max(1, len(periods) - 1)) for i, p in enumerate(periods)}

    def py(v: float) -> float:
        return height - 18 - (height - 28) * (v / top)

    parts = [f'<svg width="{width}" height="{height}" role="img">',
             f'<text x="0" y="10" font-size="9">{top:.2f}</text><text x="0" y="{height - 18}" font-size="9">0</text>',
             f'<text x="30" y="{height - 4}" font-size="9">{html.escape(periods[0])}</text>',
             f'<text x="{width - 10}" y="{height - 4}" font-size="9" text-anchor="end">{html.escape(periods[-1])}</text>']
    for g in [GENRE_ALL, *GENRES]:
        s = sub[sub["genre"] == g].sort_values("period")
        if s.empty:
            continue
        color = _GENRE_STYLE[g][0]
        band = [(px[p], py(lo)) for p, lo in zip(s["period"], s["ci_low"].fillna(s["share"]))]
        band += [(px[p], py(hi)) for p, hi in zip(s["period"][::-1], s["ci_high"].fillna(s["share"])[::-1])]
        parts.append(f'<polygon points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in band)}" fill="{color}" '
                     f'fill-opacity="0.15"/>')
        pts = " ".join(f"{px[p]:.1f},{py(v):.1f}" for p, v in zip(s["period"], s["share"]))
        dash = ' stroke-dasharray="4 2"' if g == GENRE_ALL else ""
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"{dash}>'
                     f'<title>{html.escape(g)}</title></polyline>')
    parts.append("</svg>")
    return "".join(parts)


def _topic_map(res: TopicResult) -> dict[str, tuple[float, float, float]]:
    """2-D positions (classical MDS on Jensen-Shannon distances, per language) and sizes."""
    out = {}
    sizes = res.doc_topics.groupby("topic")["weight"].mean() if len(res.doc_topics) else pd.Series(dtype=float)
    for lg, tm in res.models.items():
        p = tm.components_ + 1e-12
        p = p / p.sum(axis=1, keepdims=True)
        k = p.shape[0]
        d = np.zeros((k, k))
        for i in range(k):
            m = 0.5 * (p[i] + p)
            d[i] = np.sqrt(np.maximum(0, 0.5 * (p[i] * np.log(p[i] / m)).sum(1) + 0.5 * (p * np.log(p / m)).sum(1)))
        j = np.eye(k) - 1.0 / k
        bmat = -0.5 * j @ (d ** 2) @ j
        vals, vecs = np.linalg.eigh(bmat)
        order = np.argsort(vals)[::-1][:2]
        xy = vecs[:, order] * np.sqrt(np.maximum(vals[order], 0))
        if xy.shape[1] < 2:
            xy = np.column_stack([xy, np.zeros(k)])
        for t in range(k):
            name = f"{lg}-{t + 1}"
            out[name] = (float(xy[t, 0]), float(xy[t, 1]), float(sizes.get(name, 1.0 / k)))
    return out


def topics_html(res: TopicResult) -> str:
    """A self-contained, offline HTML page: an inter-topic map per language (click a circle),
    each topic's top terms, prevalence lines by genre with intervals, effects and coherence.
    Every corpus string is HTML-escaped; no external scripts or styles."""
    topics = _ordered_topics(res)
    labels = _labels(res)
    periods = sorted(set(res.prevalence["period"])) if len(res.prevalence) else []
    coh = res.coherence[res.coherence["topic"] != "all"].set_index("topic") if len(res.coherence) else pd.DataFrame()
    eff = res.effects
    pos = _topic_map(res)
    e = html.escape
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Topics</title><style>",
             "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
             ".topic{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.6em 0;display:none}"
             ".topic.on{display:block}.muted{color:#777}.maps{display:flex;gap:2em;flex-wrap:wrap}"
             "circle{cursor:pointer}circle:hover{stroke:#000}table{border-collapse:collapse;font-size:13px}"
             "td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}.row{display:flex;gap:2em;flex-wrap:wrap}",
             "</style></head><body>",
             f"<h1>Topics</h1><p class='muted'>Unit: {e(res.unit)}; period: {e(res.by)}; "
             f"K: {e(', '.join(f'{k}={v}' for k, v in res.chosen_k.items()))}. Click a circle (area = mean share) "
             "or pick a topic from the list.</p>"]
    for note in res.notes:
        parts.append(f"<p class='muted'>{e(note)}</p>")
    parts.append("<div class='maps'>")
    for lg in res.models:
        names = [t for t in topics if t.startswith(f"{lg}-")]
        xs = np.array([pos[t][0] for t in names])
        ys = np.array([pos[t][1] for t in names])
        span = max(float(np.ptp(xs)) if len(xs) else 1, float(np.ptp(ys)) if len(ys) else 1, 1e-9)
        size = 360
        parts.append(f"<div><h3>{e(lg)}</h3><svg width='{size}' height='{size}' role='img'>"
                     f"<rect width='{size}' height='{size}' fill='#fafafa' stroke='#ddd'/>")
        for t, x, y in zip(names, xs, ys):
            cx = 30 + (size - 60) * (x - xs.min()) / span
            cy = 30 + (size - 60) * (y - ys.min()) / span
            r = 6 + 60 * math.sqrt(pos[t][2])
            parts.append(f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='{r:.1f}' fill='#4c78a8' fill-opacity='0.45' "
                         f"data-topic='{e(t)}' onclick='show(this.dataset.topic)'><title>{e(t)}: "
                         f"{e(labels.get(t, ''))}</title></circle>"
                         f"<text x='{cx:.1f}' y='{cy + 4:.1f}' font-size='10' text-anchor='middle' "
                         f"pointer-events='none'>{e(t)}</text>")
        parts.append("</svg></div>")
    parts.append("</div><p><label>Topic: <select id='pick' onchange='show(this.value)'>")
    for t in topics:
        parts.append(f"<option value='{e(t)}'>{e(t)}: {e(labels.get(t, ''))}</option>")
    parts.append("</select></label></p>")
    for i, t in enumerate(topics):
        terms = res.topics[res.topics["topic"] == t].sort_values("rank")
        sub = res.prevalence[res.prevalence["topic"] == t]
        parts.append(f"<div class='topic{' on' if i == 0 else ''}' id='t-{e(t)}'><h2>{e(t)}: {e(labels.get(t, ''))}</h2>")
        if t in coh.index:
            parts.append(f"<p>NPMI {coh.loc[t, 'npmi']:.3f} · exclusivity {coh.loc[t, 'exclusivity']:.3f}</p>")
        parts.append("<div class='row'><div><h4>Top terms</h4>" + _svg_bars(terms) + "</div>")
        parts.append("<div><h4>Share by period</h4>" + _svg_lines(sub, periods) +
                     "<p class='muted'>dashed: all; blue: business; red: academic; bands: 95% intervals</p></div>")
        et = eff[eff["topic"] == t] if len(eff) else eff
        if len(et):
            parts.append("<div><h4>Effects</h4><table><tr><th>effect</th><th>estimate</th><th>95% interval</th></tr>")
            for _, r in et.iterrows():
                parts.append(f"<tr><td>{e(str(r['effect']))}</td><td>{r['estimate']:+.4f}</td>"
                             f"<td>[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]</td></tr>")
            parts.append("</table></div>")
        parts.append("</div></div>")
    parts.append("<script>function show(t){document.querySelectorAll('.topic').forEach(function(d){"
                 "d.classList.toggle('on',d.id==='t-'+t)});document.getElementById('pick').value=t;}</script>")
    parts.append("</body></html>")
    return "".join(parts)


# --- from INPUT to OUTDIR -------------------------------------------------------------------------------

def corpus_lemmas(corpus, *, jobs: int = 1, progress: bool = False) -> pd.Series:
    """Lemmas with phrases for every passage of ``corpus`` (cached in its store, if any)."""
    from .preprocess import preprocess_passages

    return preprocess_passages(corpus.passages, store=corpus.store, jobs=jobs, progress=progress)


def content_lemmas(corpus, *, jobs: int = 1, progress: bool = False) -> tuple[pd.DataFrame, list[list[str]]]:
    """The passages that are not boilerplate (index reset) and their lemmas.

    Lemmas are computed over *all* passages, as ``kmdiscourse preprocess`` does, and only then
    filtered: phrases are learnt on the same passages, so the lemmas cached in the store are
    reused instead of relearning phrases and rewriting the cache on every run."""
    lemmas = corpus_lemmas(corpus, jobs=jobs, progress=progress)
    passages = corpus.passages
    if "boilerplate" in passages.columns:
        keep = ~passages["boilerplate"].fillna(False).astype(bool).to_numpy()
        passages, lemmas = passages[keep], lemmas[keep]
    return passages.reset_index(drop=True), lemmas.tolist()


def run_topics(input: str | os.PathLike, outdir: str | os.PathLike, *, k: int | str = DEFAULT_K,
               method: Method = "lda", by: By = "year", lang: str = "all", unit: Unit = "document",
               dynamic: bool = False, seed: int = 0, jobs: int = 1, progress: bool = False,
               store: str | os.PathLike | None = None, iterations: int | None = None,
               **corpus_kw) -> TopicResult:
    """Read INPUT (folder, file or store), fit topics and write every output into ``outdir``.

    ``iterations`` is the budget of each model (Gibbs sweeps for LDA, iterations for NMF);
    None: :func:`default_gibbs_iterations` of the language's token count (NMF: 300).

    Examples
    --------
    >>> run_topics("corpora/sample", "out/topics", k="auto")  # doctest: +SKIP
    """
    from .ingest import open_corpus

    if iterations is not None and (isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer))
                                   or iterations < 1):
        raise KmdError(f"iterations {iterations!r} must be a positive integer (or None for the default)")
    corpus = open_corpus(input, store=store, jobs=jobs, progress=progress, **corpus_kw)
    passages, lemmas = content_lemmas(corpus, jobs=jobs, progress=progress)
    res = fit_topics(passages, lemmas, k=k, method=method, by=by, lang=lang, unit=unit, dynamic=dynamic,
                     seed=seed, jobs=jobs, model_kw=None if iterations is None else {"max_iter": int(iterations)})
    write_topic_outputs(res, outdir, params={"input": str(input), "k": k, "method": method, "by": by, "lang": lang,
                                             "unit": unit, "dynamic": dynamic, "seed": seed,
                                             "iterations": "auto" if iterations is None else int(iterations)})
    return res
