"""Benchmark the why/how/other classifier: predict throughput on generated passages
(--jobs 1 and 2, in chunks, with evidence), a per-stage breakdown, the same work done the
plain per-text way (the code before the fast featurisation) for before/after ratios, peak
RSS, and the time to train the default model.

    python benchmarks/bench_classify.py [N] [--no-train]

Prints a Markdown table and writes benchmarks/results_classify.md.
"""
from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "src"))

STAGE_N = 10_000  # passages for the per-stage breakdown and the before/after comparison


def _rss_mb() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(me, kids) / 1024


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn):
    t, c = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - t, _cpu() - c


def _before_features(clf, texts):
    """The feature matrix as computed before: sklearn's TfidfVectorizer with TokenAnalyzer,
    and cue_counts + pattern_counts one text at a time."""
    import scipy.sparse as sp

    union = clf.features_
    weights = union.transformer_weights or {}
    blocks = []
    for name, tr in union.transformer_list:
        if name == "words":
            X = tr.transform(texts)
        else:
            X = tr.steps[1][1].transform(tr.steps[0][1]._transform_per_text(texts))
        w = weights.get(name)
        blocks.append(X * w if w is not None else X)
    return sp.hstack(blocks).tocsr()


def _before_predict_with_evidence(clf, texts, k: int = 3):
    """predict_with_evidence as it was: per-row getrow and argsort."""
    import numpy as np

    from kmdiscourse.classify import _top_terms

    Z = _before_features(clf, texts)
    P = clf.calibrated_.predict_proba(Z)
    names = clf.feature_names_
    best = np.argmax(P, axis=1)
    evidence = []
    for i in range(Z.shape[0]):
        row = Z.getrow(i)
        idx, vals = row.indices, row.data
        if not len(idx):
            evidence.append("")
            continue
        c = best[i]
        others = [j for j in range(len(clf.classes_)) if j != c]
        w = clf.coef_[c, idx] - clf.coef_[others][:, idx].mean(axis=0)
        contrib = w * vals
        order = np.argsort(contrib)
        pos = _top_terms((names[idx[j]] for j in order[::-1] if contrib[j] > 0), k)
        neg = _top_terms((names[idx[j]] for j in order if contrib[j] < 0), k)
        evidence.append(" ".join([f"+{t}" for t in pos] + [f"-{t}" for t in neg]))
    return P, evidence


def stage_rows(clf, texts: list[str]) -> list[str]:
    """Per-stage passages/s on ``texts``: the plain per-text stages and the chunked ones."""
    import numpy as np

    from kmdiscourse.features import cue_counts, featurizer_for, pattern_counts

    n = len(texts)
    words = dict(clf.features_.transformer_list).get("words")
    cues = dict(clf.features_.transformer_list)["cues"].steps[0][1]
    lex = cues.lexicon_
    rows = ["| stage | passages/s | CPU s |", "|---|---|---|"]

    def add(name, fn):
        _, wall, cpu = _timed(fn)
        rows.append(f"| {name} | {n / wall:,.0f} | {cpu:.2f} |")

    rows.append("| **before (per text)** | | |")
    if words is not None:
        add("TokenAnalyzer (normalise, tokenise, stem, n-grams)", lambda: [words.analyzer(t) for t in texts])
        add("TfidfVectorizer.transform (words)", lambda: words.transform(texts))
    add("cue_counts", lambda: [cue_counts(t, lex, {}, hits=False) for t in texts])
    add("pattern_counts", lambda: [pattern_counts(t, lex) for t in texts])
    add("CueFeatures per text (cues + patterns + scaling)", lambda: cues._transform_per_text(texts))
    add("feature union (words + cues)", lambda: _before_features(clf, texts))
    Z = _before_features(clf, texts)
    add("calibrated model on the features", lambda: clf.calibrated_.predict_proba(Z))
    add("predict_with_evidence", lambda: _before_predict_with_evidence(clf, texts))
    rows.append("| **after (chunked, one tokenisation)** | | |")
    fz = featurizer_for(clf.features_, cues, words)
    fz.transform(texts[:2000])  # the token memo warms up on the first chunk, as in a real run
    scanned = fz.scan(texts)
    lows, tids, lens = scanned
    doc = np.repeat(np.arange(n), lens)
    add("normalise + tokenise + token memo", lambda: fz.scan(texts))
    if words is not None:
        add("word tf-idf from token ids", lambda: fz.tfidf(tids, doc, n))
    add("cue families + patterns from tokens", lambda: fz.cue_block(texts, lows, tids, lens, doc))
    add("features (PassageClassifier.transform)", lambda: clf.transform(texts))
    add("predict_proba", lambda: clf.predict_proba(texts))
    add("predict_with_evidence", lambda: clf.predict_with_evidence(texts))
    return rows


def main(argv: list[str]) -> int:
    import numpy as np
    import pandas as pd

    from benchmarks.corpus import generate_passages
    from kmdiscourse.classify import build_default_model, classify_passages, load_model, predict_passages

    n = int(argv[0]) if argv and argv[0].isdigit() else 100_000
    rows = generate_passages(n, seed=1)
    df = pd.DataFrame(rows)
    df["doc_id"] = [f"d{i}" for i in range(n)]
    df["passage_id"] = df["doc_id"] + ":0"
    df["source"] = "generated"
    texts = df["text"].tolist()
    tokens = int(df["text"].str.split().str.len().sum())
    clf = load_model()
    lines = [f"# classify benchmark ({n:,} generated passages, {tokens:,} tokens, {os.cpu_count()} CPUs, "
             f"load average {os.getloadavg()[0]:.1f})", "",
             "CPU s counts this process and its workers; passages per CPU-second is the figure that",
             "does not depend on other load on the machine (wall time does).", "",
             "| step | jobs | wall s | passages/s (wall) | tokens/s (wall) | CPU s | passages/CPU-s | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]

    def row(step, jobs, wall, cpu):
        lines.append(f"| {step} | {jobs} | {wall:.1f} | {n / wall:,.0f} | {tokens / wall:,.0f} | {cpu:.1f} | "
                     f"{n / max(cpu, 1e-9):,.0f} | {_rss_mb():,.0f} |")
        print(lines[-1], file=sys.stderr, flush=True)

    preds = {}
    for jobs in (1, 2):
        preds[jobs], wall, cpu = _timed(lambda: predict_passages(clf, texts, jobs=jobs))
        row("predict_passages (text -> p, evidence)", jobs, wall, cpu)
    outs = {}
    for jobs in (1, 2):
        outs[jobs], wall, cpu = _timed(lambda: classify_passages(df, clf, jobs=jobs))
        row("classify_passages (table -> labels, p, evidence)", jobs, wall, cpu)
    lines.append("")
    same = outs[1].equals(outs[2]) and np.array_equal(preds[1][0], preds[2][0]) and preds[1][1] == preds[2][1]
    lines.append(f"identical output for jobs 1 and 2: {same}")

    # before/after on the same passages, in the same run
    sub = texts[:STAGE_N]
    (P0, ev0), w0, c0 = _timed(lambda: _before_predict_with_evidence(clf, sub))
    (P1, ev1), w1, c1 = _timed(lambda: clf.predict_with_evidence(sub))
    lines += ["", f"## before / after on {len(sub):,} passages (one process, predict_with_evidence)", "",
              "| code | wall s | passages/s | CPU s | passages/CPU-s |", "|---|---|---|---|---|",
              f"| before: per-text features, per-row evidence | {w0:.1f} | {len(sub) / w0:,.0f} | {c0:.1f} | "
              f"{len(sub) / c0:,.0f} |",
              f"| after: chunked features, vectorised evidence | {w1:.1f} | {len(sub) / w1:,.0f} | {c1:.1f} | "
              f"{len(sub) / c1:,.0f} |", "",
              f"speed-up (CPU): {c0 / c1:.1f}x; same probabilities: {bool(np.allclose(P0, P1, rtol=0, atol=1e-12))}"
              f" (max difference {float(np.abs(P0 - P1).max()):.1e}); same evidence: {ev0 == ev1}", "",
              f"## per stage ({len(sub):,} passages, one process)", ""]
    lines += stage_rows(clf, sub)
    if "--no-train" not in argv:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            build_default_model(HERE.parent / "corpora" / "labels", Path(tmp) / "model.skops", seed=0)
            wall = time.perf_counter() - t
        lines.append("")
        lines.append(f"default model training (fit + 5-fold CV metrics for the card): {wall:.1f} s")
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "results_classify.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
