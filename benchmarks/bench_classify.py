"""Benchmark the why/how/other classifier: predict throughput on generated passages
(--jobs 1 and 2, in chunks, with evidence), peak RSS, and the time to train the default model.

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


def _rss_mb() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(me, kids) / 1024


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str]) -> int:
    import pandas as pd

    from benchmarks.corpus import generate_passages
    from kmdiscourse.classify import build_default_model, classify_passages, load_model

    n = int(argv[0]) if argv and argv[0].isdigit() else 100_000
    rows = generate_passages(n, seed=1)
    df = pd.DataFrame(rows)
    df["doc_id"] = [f"d{i}" for i in range(n)]
    df["passage_id"] = df["doc_id"] + ":0"
    df["source"] = "generated"
    tokens = int(df["text"].str.split().str.len().sum())
    clf = load_model()
    lines = [f"# classify benchmark ({n:,} generated passages, {tokens:,} tokens, {os.cpu_count()} CPUs, "
             f"load average {os.getloadavg()[0]:.1f})", "",
             "CPU s counts this process and its workers; passages per CPU-second is the figure that",
             "does not depend on other load on the machine (wall time does).", "",
             "| step | jobs | wall s | passages/s (wall) | tokens/s (wall) | CPU s | passages/CPU-s | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    outs = {}
    for jobs in (1, 2):
        t = time.perf_counter()
        c0 = _cpu()
        outs[jobs] = classify_passages(df, clf, jobs=jobs)
        wall = time.perf_counter() - t
        cpu = _cpu() - c0
        lines.append(f"| classify (text -> labels, p, evidence) | {jobs} | {wall:.1f} | {n / wall:,.0f} | "
                     f"{tokens / wall:,.0f} | {cpu:.1f} | {n / cpu:,.0f} | {_rss_mb():,.0f} |")
        print(lines[-1], flush=True)
    same = outs[1].equals(outs[2])
    lines.append("")
    lines.append(f"identical output for jobs 1 and 2: {same}")
    if "--no-train" not in argv:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            build_default_model(HERE.parent / "corpora" / "labels", Path(tmp) / "model.skops", seed=0)
            wall = time.perf_counter() - t
        lines.append(f"default model training (fit + 5-fold CV metrics for the card): {wall:.1f} s")
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "results_classify.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
