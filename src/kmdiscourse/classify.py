"""Classify passages as why / how / other: a calibrated linear model on words and shared bilingual cues.

:class:`PassageClassifier` is a scikit-learn estimator taking a list of strings. It joins
word n-gram TF-IDF features (Russian words cut to a prefix, so inflections pool), the shared
bilingual cue families and rhetorical patterns of :mod:`kmdiscourse.features`, and a linear
model whose probabilities are calibrated with sigmoid calibration by cross-validation.
:func:`classify` labels a corpus and returns the output table; :func:`load_model` and
:func:`save_model` read and write skops files with a JSON model card beside them.
"""
from __future__ import annotations

import copy
import csv
import datetime as dt
import gc
import hashlib
import io
import json
import logging
import math
import os
import platform
import sys
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import MaxAbsScaler
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from .errors import InputError, ModelError, RecordError
from .features import CueFeatures, TokenAnalyzer, fast_union_transform
from .records import LABELS, LANGS

log = logging.getLogger("kmdiscourse")

#: Output columns of :func:`classify`, in order.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "doc_id", "passage_id", "source", "lang", "date", "genre", "source_type", "title", "url",
    "text", "label", "p_why", "p_how", "p_other", "evidence",
)
DEFAULT_MODEL = "data/model.skops"
CHUNK = 10_000


def _check_texts(X: Any, where: str = "X") -> list[str]:
    if isinstance(X, str):
        raise RecordError(f"{where}: expected a list of passage texts, got a single string")
    texts = list(X)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise RecordError(f"{where}[{i}]: expected a string, got {type(t).__name__}")
    return texts


class PassageClassifier(ClassifierMixin, BaseEstimator):
    """why / how / other classifier over passage texts (English and Russian).

    Parameters
    ----------
    word_ngrams : (int, int)
        Word n-gram sizes of the TF-IDF features; ``(0, 0)`` turns word features off.
    prefix : int
        Russian (Cyrillic) words are cut to this many letters before counting, pooling
        inflected forms; 0 keeps whole words.
    min_df : int
        Minimum number of training passages a word n-gram must occur in.
    char_ngrams : (int, int)
        Character n-gram sizes (``char_wb``: inside word boundaries) of a second TF-IDF block;
        ``(0, 0)`` turns it off.
    char_weight : float
        Weight of the character block beside the word block.
    cue_weight : float
        Weight of the cue-lexicon and pattern block beside the word block; 0 turns it off.
    lexicon : str or None
        A cue lexicon YAML (see ``data/cues.yaml``); None uses the shipped one.
    model : {"nb", "lr", "svm"}
        Complement naive Bayes (the default: as accurate as the others on the dev set,
        far faster to train, small to save), logistic regression or linear SVM, each under
        the sigmoid calibration.
    alpha : float
        Smoothing of complement naive Bayes.
    C : float
        Inverse regularisation strength of the logistic regression or SVM.
    class_weight : None or "balanced"
    calibration_cv : int
        Folds of the sigmoid calibration (``CalibratedClassifierCV``).
    chunk_size : int
        Passages transformed at once in ``predict_proba`` (memory stays flat).
    random_state : int or None
        Seed of the calibration folds.

    Attributes
    ----------
    classes_ : ndarray of str
    features_ : FeatureUnion
        The fitted feature extractor.
    calibrated_ : CalibratedClassifierCV
    coef_ : ndarray of shape (n_classes, n_features)
        Mean per-class weights of the calibrated models (for evidence).
    feature_names_ : ndarray of str
    """

    def __init__(self, word_ngrams: tuple[int, int] = (1, 2), prefix: int = 5, min_df: int = 2,
                 char_ngrams: tuple[int, int] = (0, 0), char_weight: float = 0.3,
                 cue_weight: float = 0.5, lexicon: str | None = None, model: str = "nb",
                 alpha: float = 0.1, C: float = 1.0, class_weight: str | None = None,
                 calibration_cv: int = 5, chunk_size: int = CHUNK, random_state: int | None = 0):
        self.word_ngrams = word_ngrams
        self.prefix = prefix
        self.min_df = min_df
        self.char_ngrams = char_ngrams
        self.char_weight = char_weight
        self.cue_weight = cue_weight
        self.lexicon = lexicon
        self.model = model
        self.alpha = alpha
        self.C = C
        self.class_weight = class_weight
        self.calibration_cv = calibration_cv
        self.chunk_size = chunk_size
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    # --- building ---------------------------------------------------------------------------

    def _build_features(self) -> FeatureUnion:
        parts, weights = [], {}
        lo, hi = tuple(self.word_ngrams)
        if hi > 0:
            parts.append(("words", TfidfVectorizer(analyzer=TokenAnalyzer((max(lo, 1), hi), self.prefix),
                                                   sublinear_tf=True, min_df=self.min_df, dtype=np.float32)))
            weights["words"] = 1.0
        clo, chi = tuple(self.char_ngrams)
        if chi > 0:
            parts.append(("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(max(clo, 1), chi),
                                                   sublinear_tf=True,
                                                   min_df=max(self.min_df, 3), dtype=np.float32)))
            weights["chars"] = float(self.char_weight)
        if self.cue_weight:
            parts.append(("cues", Pipeline([("cues", CueFeatures(lexicon=self.lexicon)),
                                            ("scale", MaxAbsScaler())])))
            weights["cues"] = float(self.cue_weight)
        if not parts:
            raise ValueError("PassageClassifier: word_ngrams (0, 0) and cue_weight 0 leave no features")
        return FeatureUnion(parts, transformer_weights=weights)

    def _build_model(self):
        if self.model == "nb":
            return ComplementNB(alpha=self.alpha)
        if self.model == "lr":
            return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=3000, random_state=self.random_state)
        if self.model == "svm":
            return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)
        raise ValueError(f"PassageClassifier: model {self.model!r} is not one of 'nb', 'lr', 'svm'")

    def fit(self, X: Iterable[str], y=None):
        """Fit on passage texts ``X`` and labels ``y`` (why / how / other); returns self."""
        texts = _check_texts(X)
        if y is None:
            raise ValueError("PassageClassifier.fit needs labels y (why / how / other)")
        y = np.asarray(list(y), dtype=object)
        if len(y) != len(texts):
            raise ValueError(f"PassageClassifier.fit: {len(texts)} texts but {len(y)} labels")
        bad = sorted({str(v) for v in y if v not in LABELS})
        if bad:
            raise ValueError(f"PassageClassifier.fit: labels {bad} are not one of {', '.join(LABELS)}")
        counts = pd.Series(y).value_counts()
        if len(counts) < 2:
            raise ValueError("PassageClassifier.fit: needs at least two different labels")
        self.features_ = self._build_features()
        Z = self.features_.fit_transform(texts)
        folds = max(2, min(int(self.calibration_cv), int(counts.min())))
        cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        self.calibrated_ = CalibratedClassifierCV(self._build_model(), method="sigmoid", cv=cv)
        self.calibrated_.fit(Z, y)
        self.classes_ = self.calibrated_.classes_
        # per-class linear weights: coef_ (lr, svm) or the complement log-probabilities (nb)
        coefs = [getattr(c.estimator, "coef_", None) if self.model != "nb" else c.estimator.feature_log_prob_
                 for c in self.calibrated_.calibrated_classifiers_]
        coef = np.mean(coefs, axis=0)
        if coef.shape[0] == 1:  # two classes: one row for the second class
            coef = np.vstack([-coef[0], coef[0]])
        self.coef_ = coef
        self.feature_names_ = np.asarray(self.features_.get_feature_names_out(), dtype=object)
        self.n_features_ = Z.shape[1]
        return self

    # --- compact saved state ----------------------------------------------------------------
    # A fitted vectorizer's vocabulary is a dict of tens of thousands of n-grams: saved as such
    # (skops writes one JSON node per entry, and so for feature_names_) it made the model file
    # 42 MB and slow to load. It is saved as one array of terms in index order instead, and the
    # feature names are rebuilt from it on loading.

    def __getstate__(self):
        state = dict(super().__getstate__())  # object.__getstate__ may return __dict__ itself
        state.pop("feature_names_", None)
        state.pop("_compact", None)
        union = state.get("features_")
        if isinstance(union, FeatureUnion):
            # kept on the instance: skops tells objects apart by id(), so the stand-ins must
            # stay alive while the model is written
            cached = self.__dict__.get("_compact")
            if cached is None or cached[0] is not union:
                cached = (union, *_compact_union(union))
                self.__dict__["_compact"] = cached
            state["features_"], state["_vocabularies"] = cached[1], cached[2]
        return state

    def __setstate__(self, state):
        state = dict(state)
        vocabularies = state.pop("_vocabularies", None) or {}
        super().__setstate__(state)
        union = getattr(self, "features_", None)
        if isinstance(union, FeatureUnion):
            for name, tr in union.transformer_list:
                if name in vocabularies:
                    tr.vocabulary_ = {t: i for i, t in enumerate(vocabularies[name].tolist())}
            if "feature_names_" not in state:
                self.feature_names_ = np.asarray(union.get_feature_names_out(), dtype=object)

    # --- predicting -------------------------------------------------------------------------

    def _chunks(self, texts: list[str]):
        size = max(1, int(self.chunk_size or CHUNK))
        for i in range(0, len(texts), size):
            yield texts[i:i + size]

    def _features(self, texts: list[str]):
        """Features of one chunk: the fast path of :mod:`kmdiscourse.features` (each text
        tokenised once) when the fitted union has the shape this class builds, else the union."""
        Z = fast_union_transform(self.features_, texts)
        return Z if Z is not None else self.features_.transform(texts)

    def transform(self, X: Iterable[str]):
        """The feature matrix of ``X`` (sparse)."""
        check_is_fitted(self, "calibrated_")
        texts = _check_texts(X)
        if not texts:
            return sp.csr_matrix((0, self.n_features_))
        return sp.vstack([self._features(c) for c in self._chunks(texts)]).tocsr()

    def predict_proba(self, X: Iterable[str]) -> np.ndarray:
        """Calibrated probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "calibrated_")
        texts = _check_texts(X)
        if not texts:
            return np.zeros((0, len(self.classes_)))
        return np.vstack([self.calibrated_.predict_proba(self._features(c))
                          for c in self._chunks(texts)])

    def predict(self, X: Iterable[str]) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)] if len(proba) else np.array([], dtype=object)

    def predict_with_evidence(self, X: Iterable[str], k: int = 3) -> tuple[np.ndarray, list[str]]:
        """Probabilities and, per passage, the ``k`` terms that pushed most towards the
        chosen label and the ``k`` that pushed most against it (``+value +invest -steps``).

        Cue families and patterns are written in capitals (``+VALUE``, ``-IMPERATIVE``);
        word n-grams as they are counted (bigrams joined with ``_``).
        """
        check_is_fitted(self, "calibrated_")
        texts = _check_texts(X)
        probas, evidence = [], []
        diff, terms = _evidence_tables(self)
        for chunk in self._chunks(texts):
            Z = self._features(chunk).tocsr()
            P = self.calibrated_.predict_proba(Z)
            probas.append(P)
            best = np.argmax(P, axis=1)
            indptr, indices = Z.indptr, Z.indices
            # contributions of every stored value towards its row's chosen label, at once
            # (the same products as per row: weights of the label minus the others' mean)
            contrib_all = diff[np.repeat(best, np.diff(indptr)), indices] * Z.data
            bounds = indptr.tolist()
            for i in range(Z.shape[0]):
                a, b = bounds[i], bounds[i + 1]
                if a == b:
                    evidence.append("")
                    continue
                contrib = contrib_all[a:b]
                order = np.argsort(contrib).tolist()
                ci = contrib.tolist()
                idx = indices[a:b].tolist()
                pos = _top_k(terms, idx, ci, reversed(order), k, positive=True)
                neg = _top_k(terms, idx, ci, order, k, positive=False)
                evidence.append(" ".join([f"+{t}" for t in pos] + [f"-{t}" for t in neg]))
        P = np.vstack(probas) if probas else np.zeros((0, len(self.classes_)))
        return P, evidence


_EVIDENCE: Any = None


def _compact_union(union: FeatureUnion) -> tuple[FeatureUnion, dict[str, np.ndarray]]:
    """A shallow copy of ``union`` whose TF-IDF vectorizers have no vocabulary dict, and the
    vocabularies as arrays of terms in index order (see ``PassageClassifier.__getstate__``)."""
    compact, vocabularies, parts = copy.copy(union), {}, []
    for name, tr in union.transformer_list:
        vocab = getattr(tr, "vocabulary_", None)
        if isinstance(tr, TfidfVectorizer) and isinstance(vocab, dict):
            terms = [""] * len(vocab)
            for term, i in vocab.items():
                terms[i] = term
            vocabularies[name] = np.asarray(terms, dtype=str)
            tr = copy.copy(tr)
            tr.vocabulary_ = None
        parts.append((name, tr))
    compact.transformer_list = parts
    return compact, vocabularies


def _evidence_tables(clf: PassageClassifier) -> tuple[np.ndarray, list[str]]:
    """Per label, each feature's weight minus the mean weight of the other labels; and each
    feature's evidence term (both made once per fitted model)."""
    global _EVIDENCE
    import weakref

    if _EVIDENCE is None:
        _EVIDENCE = weakref.WeakKeyDictionary()
    hit = _EVIDENCE.get(clf)
    if hit is None or hit[0] is not clf.coef_ or hit[1] is not clf.feature_names_:
        coef = clf.coef_
        n = coef.shape[0]
        diff = np.vstack([coef[c] - coef[[j for j in range(n) if j != c]].mean(axis=0) for c in range(n)])
        hit = (clf.coef_, clf.feature_names_, diff, [_term(name) for name in clf.feature_names_])
        _EVIDENCE[clf] = hit
    return hit[2], hit[3]


def _top_k(terms: list[str], idx: list[int], contrib: list[float], order, k: int, *, positive: bool) -> list[str]:
    """The first ``k`` distinct terms along ``order`` among the positive (or negative) contributions."""
    out: list[str] = []
    for j in order:
        v = contrib[j]
        if not (v > 0 if positive else v < 0):
            if v <= 0 if positive else v >= 0:
                break  # sorted: no more of this sign
            continue  # NaN
        t = terms[idx[j]]
        if t and t not in out:
            out.append(t)
            if len(out) == k:
                break
    return out


def _top_terms(names, k: int) -> list[str]:
    out: list[str] = []
    for n in names:
        t = _term(n)
        if t and t not in out:
            out.append(t)
            if len(out) == k:
                break
    return out


def _term(name: str) -> str:
    block, _, term = str(name).partition("__")
    if block == "cues":
        return term.split(":", 1)[-1].upper()
    return term.replace(" ", "_").replace("'", "")


# --- saving and loading ---------------------------------------------------------------------

#: Types a kmdiscourse model file may contain beyond what skops trusts by default.
TRUSTED_TYPES: tuple[str, ...] = (
    "kmdiscourse.classify.PassageClassifier",
    "kmdiscourse.features.CueFeatures",
    "kmdiscourse.features.TokenAnalyzer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
)


def _card_path(path: Path) -> Path:
    return path.with_suffix(".json") if path.suffix == ".skops" else path.with_name(path.name + ".json")


def library_versions() -> dict[str, str]:
    import scipy
    import sklearn
    import skops

    from . import __version__

    return {"kmdiscourse": __version__, "python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "skops": skops.__version__, "numpy": np.__version__, "scipy": scipy.__version__, "pandas": pd.__version__}


def save_model(clf: PassageClassifier, path: str | os.PathLike, card: dict[str, Any] | None = None) -> Path:
    """Write ``clf`` as a skops file and its JSON model card beside it (both atomically)."""
    import skops.io as sio

    from .store import atomic_write_bytes, atomic_write_text

    check_is_fitted(clf, "calibrated_")
    path = Path(path)
    data = sio.dumps(clf)
    atomic_write_bytes(path, data)
    full = {"format": "kmdiscourse-model", "format_version": 1, "model_file": path.name,
            "model_sha256": hashlib.sha256(data).hexdigest(), "params": _json_params(clf.get_params()),
            "classes": [str(c) for c in clf.classes_], "n_features": int(clf.n_features_),
            "versions": library_versions(), "trusted_types": list(TRUSTED_TYPES)}
    full.update(card or {})
    atomic_write_text(_card_path(path), json.dumps(full, ensure_ascii=False, indent=1, default=str) + "\n")
    for p in (path, _card_path(path)):
        try:
            os.chmod(p, 0o644)  # readable like any package file (temp files are created 0600)
        except OSError:
            pass
    return path


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


def default_model_path() -> Path:
    return Path(str(resources.files("kmdiscourse").joinpath(DEFAULT_MODEL)))


def load_model(path: str | os.PathLike | None = None) -> PassageClassifier:
    """Load a model saved by :func:`save_model` (the shipped default when ``path`` is None).

    Only the skops format is read, with an explicit list of trusted types: a pickle, a
    foreign or a tampered file raises :class:`ModelError` naming the file. The files
    :func:`save_model` writes are read by :mod:`kmdiscourse.skopsread` (the same objects,
    without the 1.5-2 s import of ``skops.io``); skops itself reads any other.
    """
    from . import skopsread

    p = Path(path) if path is not None else default_model_path()
    if not p.is_file():
        if path is None:
            raise ModelError(f"{p}: the default model is missing; rebuild it with 'make model'")
        raise InputError(f"{p}: no such model file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ModelError(f"{p}: cannot be read ({exc.strerror or exc})") from exc
    if not zipfile.is_zipfile(p):
        kind = "a pickle" if data[:1] == b"\x80" else "not a skops file"
        raise ModelError(f"{p}: {kind}; expected a kmdiscourse model saved with skops (.skops); "
                         "pickles are never loaded")
    try:
        clf = skopsread.loads(data)
    except skopsread.NotHandled:
        clf = _load_with_skops(p, data)
    if not isinstance(clf, PassageClassifier) or not hasattr(clf, "calibrated_"):
        raise ModelError(f"{p}: holds a {type(clf).__name__}, expected a fitted kmdiscourse PassageClassifier")
    return clf


def _load_with_skops(p: Path, data: bytes) -> Any:
    """The object in the skops file ``p`` (``data``), read by skops with :data:`TRUSTED_TYPES`."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:  # one pass: skops audits the types against TRUSTED_TYPES before it builds anything
        clf = sio.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException:
        unknown = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
        raise ModelError(f"{p}: contains types that are not trusted ({', '.join(unknown[:5])}"
                         f"{'...' if len(unknown) > 5 else ''}); refusing to load it") from None
    except Exception as exc:
        raise ModelError(f"{p}: not a valid skops model file or cannot be loaded "
                         f"({exc.__class__.__name__}: {exc})") from exc
    return clf


def read_model_card(path: str | os.PathLike | None = None) -> dict[str, Any]:
    p = Path(path) if path is not None else default_model_path()
    cp = _card_path(p)
    try:
        return json.loads(cp.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{cp}: the model card is not valid JSON ({exc})") from exc


# --- labelling a corpus -----------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _predict_job(texts: list[str]) -> tuple[np.ndarray, list[str]]:
    return _WORKER["clf"].predict_with_evidence(texts)


def _predict_shared(texts: list[str], shared: PassageClassifier) -> tuple[np.ndarray, list[str]]:
    return shared.predict_with_evidence(texts)


def predict_passages(clf: PassageClassifier, texts: Sequence[str], *, jobs: int = 1,
                     progress: bool = False, engine=None) -> tuple[np.ndarray, list[str]]:
    """Probabilities (columns why, how, other) and evidence for ``texts``, in chunks, on
    ``jobs`` processes (or the workers of ``engine``, from :func:`kmdiscourse.engine.open_engine`);
    the output does not depend on either."""
    texts = list(texts)
    size = max(1, int(clf.chunk_size or CHUNK))
    if jobs > 1 and len(texts) > 2000:
        size = min(size, max(1000, math.ceil(len(texts) / (jobs * 4))))
    chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
    order = [list(clf.classes_).index(lab) for lab in LABELS]
    results: list[tuple[np.ndarray, list[str]]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), unit="passage", desc="classify", file=None)
    if engine is not None:  # the model goes to each worker once
        for res in engine.map(_predict_shared, chunks, shared=clf):
            results.append(res)
            if bar:
                bar.update(len(res[1]))
    elif jobs > 1 and len(chunks) > 1:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        _WORKER["clf"] = clf
        try:
            with ctx.Pool(min(jobs, len(chunks))) as pool:
                for res in pool.imap(_predict_job, chunks):
                    results.append(res)
                    if bar:
                        bar.update(len(res[1]))
        finally:
            _WORKER.pop("clf", None)
    else:
        for ch in chunks:
            results.append(clf.predict_with_evidence(ch))
            if bar:
                bar.update(len(ch))
    if bar:
        bar.close()
    if not results:
        return np.zeros((0, len(LABELS))), []
    P = np.vstack([r[0] for r in results])[:, order]
    ev = [e for r in results for e in r[1]]
    return P, ev


def classify_passages(passages: pd.DataFrame, clf: PassageClassifier | None = None, *, jobs: int = 1,
                      progress: bool = False, engine=None) -> pd.DataFrame:
    """Label a passages table (columns as in the store); returns the :data:`OUTPUT_COLUMNS` table.

    Passages whose ``lang`` is not en/ru get an empty label and empty probabilities.
    """
    clf = clf if clf is not None else load_model()
    df, mask, texts = _to_label(passages)
    P, ev = predict_passages(clf, texts, jobs=jobs, progress=progress, engine=engine)
    return _labelled(df, mask, texts, P, ev)


def _to_label(passages: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """The passages with every output column, the mask of en/ru ones and their texts."""
    df = passages.reset_index(drop=True).copy()
    for col in OUTPUT_COLUMNS:
        if col not in df.columns:
            df[col] = None
    mask = df["lang"].isin(LANGS).to_numpy()
    texts = df.loc[mask, "text"].fillna("").astype(str).tolist()
    return df, mask, texts


def _labelled(df: pd.DataFrame, mask: np.ndarray, texts: list[str], P: np.ndarray, ev: list[str]) -> pd.DataFrame:
    """The :data:`OUTPUT_COLUMNS` table of :func:`_to_label`'s passages given the predictions."""
    labels = pd.Series([None] * len(df), dtype=object)
    probs = {lab: pd.Series([np.nan] * len(df), dtype=float) for lab in LABELS}
    evidence = pd.Series([None] * len(df), dtype=object)
    if len(texts):
        labels[mask] = np.asarray(LABELS, dtype=object)[np.argmax(P, axis=1)]
        for j, lab in enumerate(LABELS):
            probs[lab][mask] = np.round(P[:, j], 4)
        evidence[mask] = ev
    df["label"] = labels
    for lab in LABELS:
        df[f"p_{lab}"] = probs[lab]
    df["evidence"] = evidence
    df["date"] = df["date"].map(lambda d: d.isoformat() if isinstance(d, (dt.date, dt.datetime)) else d)
    return df[list(OUTPUT_COLUMNS)]


def classify(input: str | os.PathLike | pd.DataFrame, model: str | os.PathLike | PassageClassifier | None = None,
             *, jobs: int = 1, store: str | os.PathLike | None = None, progress: bool = False,
             engine: str = "local", scheduler: str | None = None, **corpus_kwargs) -> pd.DataFrame:
    """Label every passage of ``input`` (a folder, a file, a store or a passages DataFrame).

    Returns one row per passage with the columns :data:`OUTPUT_COLUMNS`: metadata, ``label``,
    calibrated ``p_why``, ``p_how``, ``p_other`` and the ``evidence`` terms. With
    ``engine="dask"`` ingest and prediction run on a Dask cluster (``scheduler``, or a local
    cluster of ``jobs`` workers); the table is the same as the local engine's.

    Examples
    --------
    >>> df = classify("corpora/sample")                       # doctest: +SKIP
    >>> df.groupby("lang")["label"].value_counts(normalize=True)  # doctest: +SKIP
    """
    if engine == "local" and not scheduler:
        passages, clf = _passages_and_model(input, store, model, jobs=jobs, progress=progress, **corpus_kwargs)
        return classify_passages(passages, clf, jobs=jobs, progress=progress)
    clf = model if isinstance(model, PassageClassifier) else load_model(model)
    from .engine import open_engine

    with open_engine(engine, jobs=jobs, scheduler=scheduler) as eng:
        passages = _passages_of(input, store, jobs=jobs, progress=progress, engine=eng, **corpus_kwargs)
        return classify_passages(passages, clf, jobs=jobs, progress=progress, engine=eng)


#: Passages read, labelled and written at a time by :func:`classify_to` (a store row group).
BATCH = 20_000

_FORMATS = {".csv": "csv", ".tsv": "tsv", "": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class ClassifyResult:
    """What :func:`classify_to` wrote: passage counts and the summary tables."""

    def __init__(self, n: int, unlabelled: int, shares: pd.DataFrame, shares_by: pd.DataFrame | None):
        self.n, self.unlabelled, self.shares, self.shares_by = n, unlabelled, shares, shares_by

    def __repr__(self) -> str:
        return f"ClassifyResult(n={self.n}, unlabelled={self.unlabelled})"


def _output_format(out: str) -> str:
    if out == "-":
        return "stdout"
    suffix = Path(out).suffix.lower()
    if suffix not in _FORMATS:
        raise InputError(f"{out}: unknown output format {suffix!r}; expected .csv, .tsv, .jsonl or .parquet")
    return _FORMATS[suffix]


class _Part(NamedTuple):
    """One labelled chunk of passages as the output takes it: ``data`` is its rows encoded for
    the file (CSV / TSV / JSONL, UTF-8, no header) or, for Parquet, the labelled table; with
    its passage counts and label shares (made where it was labelled, often a worker process)."""

    batch: int
    data: Any
    n: int
    unlabelled: int
    shares: Any
    shares_by: Any


def _csv_rows(df: pd.DataFrame, sep: str = ",") -> str:
    """The rows of ``df`` (no header) as ``to_csv(index=False)`` writes them after object
    columns went through :func:`kmdiscourse.store.neutralise_formula` (what
    :func:`kmdiscourse.store.export_table` does), written with the csv module directly.

    pandas hands the cells to the same csv writer after formatting float columns with
    ``astype(str)`` and missing values as empty cells; doing only that is faster than its
    own conversion. A column of any other type falls back to pandas.
    """
    from .store import neutralise_column, neutralise_frame

    cols = []
    for name in df.columns:
        s = df[name]
        dtype = s.dtype
        if dtype == object or pd.api.types.is_string_dtype(dtype):
            values = neutralise_column(s).to_numpy(dtype=object)
            cells = values.tolist()
        elif isinstance(dtype, np.dtype) and dtype.kind == "f":
            values = s.to_numpy()
            cells = values.astype(str).tolist()
        else:
            return neutralise_frame(df).to_csv(index=False, header=False, sep=sep)
        missing = pd.isna(values)
        if missing.any():
            for i in np.flatnonzero(missing).tolist():
                cells[i] = ""
        cols.append(cells)
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator=os.linesep).writerows(zip(*cols))
    return buf.getvalue()


def _csv_header(columns: Sequence[str], sep: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator=os.linesep).writerow(list(columns))
    return buf.getvalue()


def _part(labelled: pd.DataFrame, fmt: str, by: str | None, batch: int) -> _Part:
    """A labelled table made ready for the output ``fmt`` (see :class:`_Part`)."""
    from .trends import ShareAccumulator

    if fmt in ("csv", "tsv", "stdout"):
        data: Any = _csv_rows(labelled, "\t" if fmt == "tsv" else ",").encode("utf-8")
    elif fmt == "jsonl":
        data = (labelled.to_json(orient="records", lines=True, force_ascii=False, date_format="iso").encode("utf-8")
                if len(labelled) else b"")
    elif fmt == "parquet":
        data = labelled
    else:  # predictions only: see _label_part
        data = None
    shares = ShareAccumulator(None)
    shares.add(labelled)
    shares_by = None
    if by:
        shares_by = ShareAccumulator(by)
        shares_by.add(labelled)
    return _Part(batch, data, len(labelled), int(labelled["label"].isna().sum()), shares, shares_by)


def _label_part(clf: PassageClassifier, passages: pd.DataFrame, fmt: str, by: str | None, batch: int,
                *, chunk: bool = False) -> _Part:
    """:func:`classify_passages` of ``passages`` (on this process), ready for the output. A
    ``chunk`` of a batch for Parquet keeps only its predictions ``(P, evidence)`` as ``data``:
    :func:`_whole_batch` makes the batch's table of them (its column types those of the batch)."""
    df, mask, texts = _to_label(passages)
    if texts:
        P, ev = clf.predict_with_evidence(texts)
        P = P[:, [list(clf.classes_).index(lab) for lab in LABELS]]
    else:
        P, ev = np.zeros((0, len(LABELS))), []
    part = _part(_labelled(df, mask, texts, P, ev), "predictions" if chunk and fmt == "parquet" else fmt, by, batch)
    return part._replace(data=(P, ev)) if part.data is None else part


def _label_job(passages: pd.DataFrame, fmt: str, by: str | None, batch: int) -> _Part:
    return _label_part(_WORKER["clf"], passages, fmt, by, batch, chunk=True)


def _whole_batch(batch: pd.DataFrame, parts: list[_Part]) -> _Part:
    """The Parquet part of a whole batch from the predictions of its chunks."""
    df, mask, texts = _to_label(batch)
    P = np.vstack([p.data[0] for p in parts])
    ev = [e for p in parts for e in p.data[1]]
    shares, shares_by = parts[0].shares, parts[0].shares_by
    for p in parts[1:]:
        shares.merge(p.shares)
        if shares_by is not None:
            shares_by.merge(p.shares_by)
    return _Part(parts[0].batch, _labelled(df, mask, texts, P, ev), sum(p.n for p in parts),
                 sum(p.unlabelled for p in parts), shares, shares_by)


def _chunks_of(batch: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    """``batch`` cut into consecutive tables of at most ``size`` rows (an empty one stays one)."""
    if len(batch) <= size:
        return [batch]
    return [batch.iloc[i:i + size] for i in range(0, len(batch), size)]


#: Passages per chunk sent to a worker process by :func:`classify_to` with ``jobs`` > 1.
JOB_CHUNK = 5_000


def _labelled_parts(batches: Iterable[pd.DataFrame], clf: PassageClassifier, fmt: str, by: str | None,
                    jobs: int) -> Iterator[_Part]:
    """:func:`_label_part` of each chunk of each batch, in order. With ``jobs`` > 1, on one pool
    of forked processes kept for the whole run, which label, format and sum up the chunks, so
    that this process only reads passages and writes bytes; a few chunks are kept in flight,
    enough that the workers do not wait for it and few enough that memory stays flat.

    The objects that exist when it starts (the model, the modules) are frozen
    (:func:`gc.freeze`) until it ends: the garbage collector, of this process and of forked
    workers, no longer walks them again and again (measured in a worker: 0.3-0.4 s of gc per
    40,000 passages, 0.06 s frozen), and workers do not copy their memory pages by touching them."""
    gc.freeze()
    try:
        yield from _labelled_parts_frozen(batches, clf, fmt, by, jobs)
    finally:
        gc.unfreeze()


def _labelled_parts_frozen(batches: Iterable[pd.DataFrame], clf: PassageClassifier, fmt: str, by: str | None,
                           jobs: int) -> Iterator[_Part]:
    if jobs <= 1:  # Parquet: whole batches (predict_with_evidence cuts them in chunks itself)
        size = max(1, int(clf.chunk_size or CHUNK)) if fmt != "parquet" else None
        for b, batch in enumerate(batches):
            for chunk in _chunks_of(batch, size or max(1, len(batch))):
                yield _label_part(clf, chunk, fmt, by, b)
        return
    import multiprocessing as mp
    from collections import deque

    size = max(1, min(int(clf.chunk_size or CHUNK), JOB_CHUNK))
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    _WORKER["clf"] = clf
    pending: deque = deque()
    window = 2 * jobs + 1
    group: list[_Part] = []

    def done() -> Iterator[_Part]:
        batch, last, result = pending.popleft()
        part = result.get()
        if fmt != "parquet":
            yield part
            return
        group.append(part)
        if last:
            yield _whole_batch(batch, group)
            group.clear()

    try:
        with ctx.Pool(jobs) as pool:
            for b, batch in enumerate(batches):
                chunks = _chunks_of(batch, size)
                for i, chunk in enumerate(chunks):
                    last = i == len(chunks) - 1
                    pending.append((batch if last else None, last,
                                    pool.apply_async(_label_job, (chunk, fmt, by, b))))
                    if len(pending) >= window:
                        yield from done()
            while pending:
                yield from done()
    finally:
        _WORKER.pop("clf", None)


class _TableSink:
    """Appends labelled parts to a CSV / TSV / JSONL / Parquet file or to stdout, with the bytes
    (for Parquet: the table) :func:`kmdiscourse.store.export_table` writes for the whole table.
    Parquet parts are whole batches (the types of a column are those of its batch)."""

    def __init__(self, fmt: str, target, stdout=None):
        self.fmt, self.target, self.rows, self.batches = fmt, target, 0, 0
        self._fh = None
        self._writer = None
        self._schema = None
        self._never_set: dict = {}
        self._header = fmt in ("stdout", "csv", "tsv")
        if fmt == "stdout":
            self._fh = stdout or sys.stdout
        elif fmt in ("csv", "tsv", "jsonl"):
            self._fh = open(target, "wb")

    def _write_bytes(self, data: bytes) -> None:
        if self.fmt == "stdout":
            self._fh.write(data.decode("utf-8"))
        else:
            self._fh.write(data)

    def add(self, part: _Part) -> None:
        if self.fmt == "parquet":
            self._write_parquet(part.data)
            self.batches += 1
        else:
            if self._header:
                self._write_bytes(_csv_header(OUTPUT_COLUMNS, "\t" if self.fmt == "tsv" else ",").encode("utf-8"))
                self._header = False
            if part.data:
                self._write_bytes(part.data)
        self.rows += part.n

    def _write_parquet(self, df: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # A column with no value in a batch has no type of its own (to_parquet types None as
        # null, NaN as double): it is written with the type of the column's values, and retyped
        # by close() as to_parquet would type it if it never holds one.
        empty = [c for c in df.columns if not str(c).startswith("p_") and not df[c].notna().any()]
        if self._writer is None:
            inferred = pa.Table.from_pandas(df, preserve_index=False).schema
            fields = [pa.field(f.name, pa.string()) if f.name in empty else f for f in inferred]
            self._schema = pa.schema(fields, metadata=inferred.metadata)
            self._never_set = {c: inferred.field(c).type for c in empty}
            self._writer = pq.ParquetWriter(self.target, self._schema)
        for c in [c for c in self._never_set if c not in empty]:
            del self._never_set[c]
        if empty:
            df = df.assign(**{c: pd.Series([None] * len(df), index=df.index, dtype=object) for c in empty})
        if len(df) or self.batches == 0:
            self._writer.write_table(pa.Table.from_pandas(df, schema=self._schema, preserve_index=False))

    def close(self, complete: bool = True) -> None:
        """Finish the output (``complete``), or only release the file after an error."""
        if complete and self._header and self._fh is not None:
            self._write_bytes(_csv_header(OUTPUT_COLUMNS, "\t" if self.fmt == "tsv" else ",").encode("utf-8"))
        if complete and self.fmt == "jsonl" and not self.rows and self._fh is not None:
            self._fh.write(b"\n")  # what to_json writes for an empty table
        if self._writer is not None:
            self._writer.close()
            if complete and self._never_set:
                self._null_columns(self._never_set)
        if self._fh is not None and self.fmt != "stdout":
            self._fh.close()
        elif self._fh is not None:
            self._fh.flush()

    def _null_columns(self, names: dict) -> None:
        """Rewrite the Parquet file with the columns ``names`` (empty throughout) typed as
        :meth:`pandas.DataFrame.to_parquet` types them (null for None); one row group at a time."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        fields = [pa.field(f.name, names[f.name]) if f.name in names else f for f in self._schema]
        schema = pa.schema(fields, metadata=self._schema.metadata)
        tmp = f"{self.target}.nulls"
        try:
            src = pq.ParquetFile(self.target)
            with pq.ParquetWriter(tmp, schema) as w:
                for i in range(src.num_row_groups):
                    t = src.read_row_group(i)
                    cols = [pa.nulls(len(t), f.type) if f.name in names else t.column(f.name) for f in schema]
                    w.write_table(pa.Table.from_arrays(cols, schema=schema))
            os.replace(tmp, self.target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)



def classify_to(input: str | os.PathLike | pd.DataFrame, output: str | os.PathLike,
                model: str | os.PathLike | PassageClassifier | None = None, *, jobs: int = 1,
                store: str | os.PathLike | None = None, by: str | None = None, progress: bool = False,
                engine: str = "local", scheduler: str | None = None, batch_size: int | None = None, stdout=None,
                **corpus_kwargs) -> ClassifyResult:
    """Label every passage of ``input`` and write the table to ``output``, ``batch_size``
    passages at a time, so that memory does not grow with the corpus.

    ``output`` is a .csv, .tsv, .jsonl or .parquet file (written atomically) or ``-`` (CSV on
    ``stdout``); its content is what :func:`kmdiscourse.store.export_table` writes for
    :func:`classify` of the same input. Returns the passage counts and the
    :func:`kmdiscourse.trends.label_shares` tables (all periods, and by period ``by``),
    accumulated batch by batch: the same tables as from the whole output.

    Parameters
    ----------
    input, model, jobs, store, progress, engine, scheduler, corpus_kwargs
        As for :func:`classify`.
    output : path or "-"
    by : {"year", "quarter", "month"} or None
        Period of the second summary table.
    batch_size : int or None
        Passages per batch (default :data:`BATCH`); the output does not depend on it.
    stdout : text stream or None
        Where ``-`` writes (default ``sys.stdout``).

    Returns
    -------
    ClassifyResult
        ``n`` passages, ``unlabelled`` (not en/ru), ``shares`` and ``shares_by`` (None without ``by``).

    Raises
    ------
    InputError
        An unknown output format (before anything is read), or an unreadable input.

    Examples
    --------
    >>> classify_to("corpora/sample", "labels.csv", by="year").shares  # doctest: +SKIP
    """
    from .engine import open_engine
    from .store import _atomic, is_store
    from .trends import ShareAccumulator

    out = str(output)
    fmt = _output_format(out)
    batch_size = max(1, int(batch_size or BATCH))
    acc_all = ShareAccumulator(None)
    acc_by = ShareAccumulator(by) if by else None
    counts = {"n": 0, "unlabelled": 0}

    def run(eng, target) -> None:
        if isinstance(model, PassageClassifier):
            clf = model
        else:
            clf = None
        if isinstance(input, pd.DataFrame):
            corpus, tables = None, None
        elif is_store(input):  # read batch by batch; its manifest is not needed
            corpus, tables = None, Path(input)
        else:
            from .ingest import open_corpus

            kwargs = dict(corpus_kwargs)
            if eng is not None:
                kwargs["engine"] = eng
            corpus = open_corpus(input, store, jobs=jobs, progress=progress, **kwargs)
            tables = getattr(corpus, "_tables", None)
            if tables is None or not is_store(tables):
                tables = None
        if clf is None:
            clf = load_model(model)
        # per-model evidence tables, made once here: forked workers inherit them
        _evidence_tables(clf)
        if tables is not None:
            from .store import iter_passages, passage_count

            total = passage_count(tables)
            batches = iter_passages(tables, batch_size=batch_size)
        else:
            frame = input if corpus is None else corpus.passages
            total = len(frame)
            batches = (frame.iloc[i:i + batch_size] for i in range(0, max(total, 1), batch_size))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="passage", desc="classify", file=None)
        sink = _TableSink(fmt, target, stdout)
        ok = False
        parts = None
        try:
            if eng is None:
                parts = _labelled_parts(batches, clf, fmt, by, jobs)
            else:
                parts = (_part(classify_passages(batch, clf, jobs=jobs, engine=eng), fmt, by, b)
                         for b, batch in enumerate(batches))
            for part in parts:
                sink.add(part)
                acc_all.merge(part.shares)
                if acc_by is not None:
                    acc_by.merge(part.shares_by)
                counts["n"] += part.n
                counts["unlabelled"] += part.unlabelled
                if bar:
                    bar.update(part.n)
            ok = True
        finally:
            if not ok and hasattr(parts, "close"):
                parts.close()  # stops the workers now
            sink.close(complete=ok)
            if bar:
                bar.close()
        del corpus

    def with_engine(target) -> None:
        if engine == "local" and not scheduler:
            run(None, target)
        else:
            with open_engine(engine, jobs=jobs, scheduler=scheduler) as eng:
                run(eng, target)

    if fmt == "stdout":
        with_engine(None)
    else:
        _atomic(out, with_engine)
    return ClassifyResult(counts["n"], counts["unlabelled"], acc_all.table(),
                          acc_by.table() if acc_by is not None else None)


def _passages_and_model(input, store, model, **kwargs) -> tuple[pd.DataFrame, PassageClassifier]:
    """The passages of ``input`` and the model; a store is read while the model loads (in a
    thread: reading Parquet releases the GIL). A folder is ingested first: its worker
    processes must not be forked while a thread runs."""
    from .store import is_store

    if isinstance(model, PassageClassifier):
        return _passages_of(input, store, **kwargs), model
    if isinstance(input, pd.DataFrame) or not is_store(Path(input)):
        passages = _passages_of(input, store, **kwargs)
        return passages, load_model(model)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(load_model, model)
        passages = _passages_of(input, store, **kwargs)
        clf = loading.result()
    return passages, clf


def _passages_of(input, store, **kwargs) -> pd.DataFrame:
    if isinstance(input, pd.DataFrame):
        return input
    from .ingest import open_corpus

    return open_corpus(input, store, **kwargs).passages


# --- training data, training and evaluation ---------------------------------------------------

def read_labels(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Labelled passages from JSONL or CSV files: columns ``text``, ``label`` (why/how/other),
    optional ``lang`` and any others. Errors name the file and line."""
    frames = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            files = sorted(q for q in p.iterdir() if q.suffix.lower() in (".jsonl", ".csv") and not q.name.startswith("."))
        else:
            files = [p]
        for f in files:
            if not f.is_file():
                raise InputError(f"{f}: no such labels file")
            frames.append(_read_label_file(f))
    if not frames:
        raise InputError("no labels files given")
    df = pd.concat(frames, ignore_index=True)
    if df.empty:
        raise InputError(f"{', '.join(map(str, paths))}: no labelled passages found")
    return df


def _read_label_file(f: Path) -> pd.DataFrame:
    rows = []
    if f.suffix.lower() == ".csv":
        try:
            df = pd.read_csv(f, dtype=str, keep_default_na=False)
        except Exception as exc:
            raise RecordError(f"{f}: cannot be read as CSV ({exc})") from exc
        for col in ("text", "label"):
            if col not in df.columns:
                raise RecordError(f"{f}: no {col!r} column; expected columns text, label and optional lang")
        records = [(i + 2, r) for i, r in enumerate(df.to_dict("records"))]
    else:
        records = []
        with open(f, encoding="utf-8", errors="replace") as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RecordError(f"{f}:{i}: not valid JSON ({exc.msg})") from exc
                if not isinstance(r, dict):
                    raise RecordError(f"{f}:{i}: expected a JSON object with text and label")
                records.append((i, r))
    for i, r in records:
        text, label = r.get("text"), r.get("label")
        if not isinstance(text, str) or not text.strip():
            raise RecordError(f"{f}:{i}: text is missing or empty")
        if label in (None, "", "skip", "unsure"):
            continue  # annotate writes skips; they carry no label
        if label not in LABELS:
            raise RecordError(f"{f}:{i}: label {label!r} is not one of {', '.join(LABELS)}")
        row = dict(r)
        row["_file"] = str(f)
        rows.append(row)
    return pd.DataFrame(rows)


def data_hash(texts: Sequence[str], labels: Sequence[str]) -> str:
    """SHA-256 of the training pairs in order (the model card records it)."""
    h = hashlib.sha256()
    for t, y in zip(texts, labels):
        h.update(y.encode("utf-8") + b"\t" + t.encode("utf-8") + b"\n")
    return h.hexdigest()


def expected_calibration_error(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], bins: int = 10) -> float:
    """Top-label ECE: |accuracy - confidence| averaged over equal-width confidence bins."""
    y_true = np.asarray(y_true)
    conf = proba.max(axis=1)
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    correct = (pred == y_true).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def brier_score(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> float:
    """Multi-class Brier score: mean squared distance of the probabilities to the one-hot truth."""
    onehot = (np.asarray(y_true)[:, None] == np.asarray(classes)[None, :]).astype(float)
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def metrics(y_true: Sequence[str], y_pred: Sequence[str], proba: np.ndarray | None = None,
            classes: Sequence[str] = LABELS) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1, the confusion matrix (rows = gold,
    columns = predicted, in ``LABELS`` order), and Brier/ECE when ``proba`` is given."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    y_true, y_pred = list(y_true), list(y_pred)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(LABELS), zero_division=0)
    out: dict[str, Any] = {
        "n": len(y_true),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4) if y_true else None,
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=list(LABELS), average="macro", zero_division=0)), 4)
        if y_true else None,
        "per_class": {lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                            "f1": round(float(f[i]), 4), "support": int(s[i])} for i, lab in enumerate(LABELS)},
        "confusion": confusion_matrix(y_true, y_pred, labels=list(LABELS)).tolist() if y_true else [],
    }
    if proba is not None and len(y_true):
        out["brier"] = round(brier_score(y_true, proba, classes), 4)
        out["ece"] = round(expected_calibration_error(y_true, proba, classes), 4)
    return out


def bootstrap_interval(y_true: Sequence[str], y_pred: Sequence[str], stat: str = "macro_f1",
                       n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of accuracy or macro-F1 (vectorised)."""
    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    n = len(y_true)
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    t, p = y_true[idx], y_pred[idx]
    if stat == "accuracy":
        vals = (t == p).mean(axis=1)
    else:
        f1s = []
        for lab in LABELS:
            tp = ((t == lab) & (p == lab)).sum(axis=1)
            fp = ((t != lab) & (p == lab)).sum(axis=1)
            fn = ((t == lab) & (p != lab)).sum(axis=1)
            denom = 2 * tp + fp + fn
            f1s.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
        vals = np.mean(f1s, axis=0)
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return (round(float(lo), 4), round(float(hi), 4))


def keyword_baseline(texts: Sequence[str]) -> np.ndarray:
    """The keyword-only baseline: count the cue terms whose family hints why, how or other,
    and take the label with most (ties and no cue: ``other``)."""
    from .features import cue_counts, load_lexicon

    lex = load_lexicon()
    hint = np.array([lex.hints.get(f, "") for f in lex.families], dtype=object)
    cache: dict = {}
    out = []
    for t in texts:
        c, _ = cue_counts(t, lex, cache)
        score = {lab: float(c[hint == lab].sum()) for lab in LABELS}
        best = max(LABELS, key=lambda lab: (score[lab], lab == "other"))
        out.append(best if score[best] > 0 else "other")
    return np.asarray(out, dtype=object)


def evaluate(gold: str | os.PathLike | pd.DataFrame, model: str | os.PathLike | PassageClassifier | None = None,
             *, n_boot: int = 1000, seed: int = 0, worst: int = 10) -> dict[str, Any]:
    """Evaluate a model on gold passages (text, label, lang): overall and per language,
    with bootstrap 95% intervals, the keyword baseline beside it, and the ``worst``
    highest-confidence mistakes."""
    clf = model if isinstance(model, PassageClassifier) else load_model(model)
    df = read_labels([gold]) if not isinstance(gold, pd.DataFrame) else gold.reset_index(drop=True)
    if "lang" not in df.columns:
        from .language import detect_language

        df["lang"] = [detect_language(t) for t in df["text"]]
    texts = df["text"].astype(str).tolist()
    P, ev = predict_passages(clf, texts)
    pred = np.asarray(LABELS, dtype=object)[P.argmax(axis=1)]
    base = keyword_baseline(texts)
    y = df["label"].to_numpy(dtype=object)
    result: dict[str, Any] = {"n": len(df), "labels": list(LABELS), "groups": {}}
    langs = ["all"] + sorted(df["lang"].dropna().unique().tolist())
    for lang in langs:
        m = np.ones(len(df), bool) if lang == "all" else (df["lang"] == lang).to_numpy()
        if not m.any():
            continue
        r = metrics(y[m], pred[m], P[m])
        r["macro_f1_ci"] = bootstrap_interval(y[m], pred[m], "macro_f1", n_boot, seed)
        r["accuracy_ci"] = bootstrap_interval(y[m], pred[m], "accuracy", n_boot, seed)
        kb = metrics(y[m], base[m])
        kb["macro_f1_ci"] = bootstrap_interval(y[m], base[m], "macro_f1", n_boot, seed)
        r["keyword_baseline"] = {k: kb[k] for k in ("accuracy", "macro_f1", "macro_f1_ci", "confusion")}
        result["groups"][lang] = r
    conf = P.max(axis=1)
    wrong = [i for i in np.argsort(-conf, kind="stable") if pred[i] != y[i]][:worst]
    result["worst"] = [{"id": str(df.get("id", pd.Series(range(len(df))))[i]), "lang": df["lang"][i], "gold": y[i],
                        "pred": pred[i], "confidence": round(float(conf[i]), 3), "evidence": ev[i],
                        "text": texts[i][:200]} for i in wrong]
    return result


def format_evaluation(result: dict[str, Any]) -> str:
    """The evaluation as plain text: one block per language group."""
    lines = []
    for lang, r in result["groups"].items():
        kb = r["keyword_baseline"]
        lines.append(f"[{lang}] n={r['n']}  macro-F1 {r['macro_f1']:.3f} [{r['macro_f1_ci'][0]:.3f}-{r['macro_f1_ci'][1]:.3f}]"
                     f"  accuracy {r['accuracy']:.3f} [{r['accuracy_ci'][0]:.3f}-{r['accuracy_ci'][1]:.3f}]"
                     f"  Brier {r.get('brier', float('nan')):.3f}  ECE {r.get('ece', float('nan')):.3f}")
        lines.append(f"      keyword baseline: macro-F1 {kb['macro_f1']:.3f} "
                     f"[{kb['macro_f1_ci'][0]:.3f}-{kb['macro_f1_ci'][1]:.3f}]  accuracy {kb['accuracy']:.3f}")
        lines.append("      " + "  ".join(f"{lab}: P {v['precision']:.2f} R {v['recall']:.2f} F1 {v['f1']:.2f} (n={v['support']})"
                                           for lab, v in r["per_class"].items()))
        lines.append("      confusion (rows gold, columns predicted; why how other):")
        for lab, row in zip(LABELS, r["confusion"]):
            lines.append(f"        {lab:>5} " + " ".join(f"{v:4d}" for v in row))
    if result.get("worst"):
        lines.append("highest-confidence mistakes:")
        for w in result["worst"]:
            lines.append(f"  {w['id']} [{w['lang']}] gold {w['gold']} pred {w['pred']} ({w['confidence']:.2f}) {w['evidence']}")
    return "\n".join(lines)


def cross_validate(clf: PassageClassifier, texts: Sequence[str], labels: Sequence[str], *, folds: int = 5,
                   seed: int = 0) -> dict[str, Any]:
    """Cross-validated metrics of ``clf`` (a fresh clone per fold), with Brier score and ECE."""
    from sklearn.base import clone

    texts, labels = list(texts), np.asarray(list(labels), dtype=object)
    classes = sorted(set(labels))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    P = np.zeros((len(texts), len(classes)))
    for tr, te in cv.split(texts, labels):
        m = clone(clf).fit([texts[i] for i in tr], labels[tr])
        cols = [classes.index(c) for c in m.classes_]
        P[np.ix_(te, cols)] = m.predict_proba([texts[i] for i in te])
    pred = np.asarray(classes, dtype=object)[P.argmax(axis=1)]
    order = [classes.index(lab) for lab in LABELS if lab in classes]
    out = metrics(labels, pred, P[:, order], [lab for lab in LABELS if lab in classes])
    out["folds"] = folds
    return out


def train_model(labels: pd.DataFrame, *, base: str = "default", params: dict[str, Any] | None = None,
                seed: int = 0, cv_folds: int = 5, sources: Sequence[str] = ()) -> tuple[PassageClassifier, dict[str, Any]]:
    """Fit a classifier on ``labels`` (plus the shipped training passages when ``base`` is
    ``"default"``); returns the model and its model card (data hash, label counts, CV metrics)."""
    frames = [labels]
    if base == "default":
        frames.insert(0, shipped_training_data())
    elif base != "none":
        raise ValueError(f"base {base!r} is not one of default, none")
    data = pd.concat(frames, ignore_index=True).drop_duplicates(subset=["text", "label"])
    texts = data["text"].astype(str).tolist()
    y = data["label"].astype(str).tolist()
    clf = PassageClassifier(random_state=seed, **(params or {}))
    counts = data.groupby([data.get("lang", pd.Series("?", index=data.index)).fillna("?"), "label"]).size()
    card: dict[str, Any] = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "training_data": {"sha256": data_hash(texts, y), "n": len(texts), "sources": list(sources),
                          "base": base,
                          "label_counts": {f"{k[0]}/{k[1]}": int(v) for k, v in counts.items()}},
        "seed": seed,
        "features": {"word_ngrams": list(clf.word_ngrams), "russian_prefix": clf.prefix, "min_df": clf.min_df,
                     "cue_lexicon": "kmdiscourse/data/cues.yaml" if clf.lexicon is None else clf.lexicon,
                     "cue_weight": clf.cue_weight, "model": clf.model, "calibration": "sigmoid, "
                     f"{clf.calibration_cv}-fold"},
    }
    if cv_folds and cv_folds > 1:
        card["cv_metrics"] = cross_validate(clf, texts, y, folds=cv_folds, seed=seed)
    clf.fit(texts, y)
    return clf, card



def shipped_training_data() -> pd.DataFrame:
    """The training passages the default model was built from (shipped beside it)."""
    p = Path(str(resources.files("kmdiscourse").joinpath("data/training.jsonl")))
    if not p.is_file():
        raise ModelError(f"{p}: the shipped training passages are missing; use --base none")
    return _read_label_file(p)


def build_default_model(labels_dir: str | os.PathLike = "corpora/labels", out: str | os.PathLike | None = None,
                        *, seed: int = 0) -> Path:
    """Rebuild the shipped model from the team's labelled passages (``make model``).

    Copies the passages to ``data/training.jsonl`` (so ``train --base default`` can add to
    them after a plain install), fits with ``seed`` and writes ``data/model.skops`` and its card.
    """
    from .store import atomic_write_text

    files = sorted(Path(labels_dir).glob("*.jsonl"))
    labels = read_labels(files)
    out = Path(out) if out is not None else default_model_path()
    keep = [c for c in ("text", "label", "lang", "genre", "register", "topic", "year") if c in labels.columns]
    training = labels[keep]
    atomic_write_text(out.parent / "training.jsonl",
                      training.to_json(orient="records", lines=True, force_ascii=False))
    os.chmod(out.parent / "training.jsonl", 0o644)
    clf, card = train_model(training, base="none", seed=seed, sources=[f.name for f in files])
    save_model(clf, out, card)
    return out


class _CallableModule(type(sys.modules[__name__])):
    """``kmdiscourse.classify(...)`` calls :func:`classify` although the name is also this module."""

    def __call__(self, *args, **kwargs):
        return classify(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
