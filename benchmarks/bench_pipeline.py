"""End-to-end benchmark: every pipeline step as its own CLI run on a generated folder of files.

For 10k and 100k passages (and 1M with BENCH_LARGE=1), a seeded bilingual corpus
(benchmarks/corpus.py: Markdown, plain text, JSON Lines and CSV files) goes through ingest,
preprocess, classify, concepts, topics (K=20) and report, each step in a fresh process:
wall time, CPU time, passages/s, tokens/s, peak RSS, and the scaling exponent (slope of
log time against log size; 1 is linear). At the largest default size it also checks the
targets of issue 8: classify end to end from the folder, --jobs 2 speed-up with identical
output, and a re-run on an unchanged corpus with its store.

The reference points (bare regex tokenizer, spaCy, gensim LdaModel, tomotopy, NMF, with NPMI)
are measured in the same `make bench` run by bench_preprocess.py and bench_topics.py; the
latter reuses the 100k store and `topics` run left in BENCH_CACHE/work-100000-seed1 (each
size's work folder is emptied when its run starts, and the copies made for --jobs 2 are
removed at the end).

Environment: BENCH_LARGE=1 (add 1M passages), BENCH_PIPELINE_SIZES (e.g. "10000,100000"),
BENCH_SEED (default 1), BENCH_CACHE (where generated corpora are kept between runs; default
a folder in the system temporary directory).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

SEED = int(os.environ.get("BENCH_SEED", 1))
LARGE = os.environ.get("BENCH_LARGE") == "1"
SIZES = [int(s) for s in os.environ.get("BENCH_PIPELINE_SIZES", "10000,100000").split(",") if s.strip()]
if LARGE and 1_000_000 not in SIZES:
    SIZES.append(1_000_000)
CACHE = Path(os.environ.get("BENCH_CACHE", Path(tempfile.gettempdir()) / "kmdiscourse-bench"))
PASSAGES_PER_DOC = 2.26  # what write_corpus_folder gives with its defaults (measured)
KMD = [sys.executable, "-m", "kmdiscourse", "-q"]
#: sampler threads of `topics` (bench_topics.py compares tomotopy at the same number)
TOPICS_JOBS = int(os.environ.get("BENCH_TOPICS_THREADS", 1))
#: Gibbs sweeps of `topics` at every size: what its default gives from 100k passages on (smaller
#: corpora get more by default), so that the scaling exponent compares equal work per sweep
TOPICS_SWEEPS = 200


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def corpus_folder(n_passages: int) -> Path:
    """The generated folder for about ``n_passages`` passages (made once, then reused)."""
    from benchmarks.corpus import write_corpus_folder

    n_docs = max(1, round(n_passages / PASSAGES_PER_DOC))
    path = CACHE / f"corpus-{n_docs}-seed{SEED}"
    done = path / ".complete"
    if not done.is_file():
        shutil.rmtree(path, ignore_errors=True)
        log(f"generating {n_docs:,} documents into {path}")
        write_corpus_folder(path, n_docs=n_docs, seed=SEED)
        done.write_text("ok")
    return path


def work_dir(n_passages: int) -> Path:
    """Where the run for ``n_passages`` keeps its store and outputs (bench_topics.py reuses them)."""
    return CACHE / f"work-{n_passages}-seed{SEED}"


#: Runs the measured commands. Linux keeps a process's peak RSS across fork and exec, so a command
#: started by this process, which grows as it reads tables, would report at least this process's
#: size; this small helper is started first and starts every command instead.
_RUNNER_CODE = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    args, cwd = json.loads(line)
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode("utf-8", "replace")
    _, status, ru = os.wait4(proc.pid, 0)
    print(json.dumps({"wall": time.perf_counter() - t0, "cpu": ru.ru_utime + ru.ru_stime,
                      "rss_mb": ru.ru_maxrss / 1024, "rc": os.waitstatus_to_exitcode(status),
                      "err": (err.strip().splitlines() or ["?"])[-1][:160]}), flush=True)
"""
_runner: subprocess.Popen | None = None


def _run_small(args: list[str]) -> dict:
    global _runner
    if _runner is None:
        _runner = subprocess.Popen([sys.executable, "-c", _RUNNER_CODE], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
    _runner.stdin.write(json.dumps([args, str(ROOT)]) + "\n")
    _runner.stdin.flush()
    return json.loads(_runner.stdout.readline())


def measured(args: list[str], label: str) -> dict:
    """``args`` in a fresh process, measured by os.wait4 (that process and its children) in a
    small runner process (so the peak RSS is the command's own); ``load`` is the 1-minute load
    average when it started."""
    load = os.getloadavg()[0]
    r = _run_small(args)
    res = {"label": label, "wall": r["wall"], "cpu": r["cpu"], "rss_mb": r["rss_mb"], "rc": r["rc"], "load": load}
    if r["rc"] != 0:
        res["error"] = r["err"]
        log(f"  {label}: failed: {res['error']}")
    else:
        log(f"  {label}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, {r['rss_mb']:.0f} MB, load {load:.1f}")
    return res


def count_tokens(store: Path) -> tuple[int, int]:
    import pyarrow.parquet as pq

    texts = pq.read_table(store / "passages.parquet", columns=["text"]).column("text").to_pylist()
    return len(texts), sum(len(t.split()) for t in texts)


def same_tables(a: Path, b: Path) -> bool:
    import pandas as pd

    if a.is_dir():
        files = sorted(p.name for p in a.iterdir() if p.suffix in (".parquet", ".csv"))
        if files != sorted(p.name for p in b.iterdir() if p.suffix in (".parquet", ".csv")):
            return False
        return all(same_tables(a / f, b / f) for f in files)
    read = pd.read_parquet if a.suffix == ".parquet" else pd.read_csv
    try:
        return read(a).equals(read(b))
    except Exception:
        return False


def steps_for(size: int, folder: Path, work: Path, full: bool) -> list[dict]:
    store = work / "store.kmd"
    rows = []
    r = measured(KMD + ["ingest", str(folder), "-o", str(store)], "ingest")
    rows.append({**r, "step": "ingest", "jobs": 1})
    if r["rc"]:
        return rows
    n_pass, n_tok = count_tokens(store)
    for row in rows:
        row.update(passages=n_pass, tokens=n_tok)

    def add(step, args, jobs=1, **extra):
        res = measured(KMD + args, f"{step} --jobs {jobs}")
        rows.append({**res, "step": step, "jobs": jobs, "passages": n_pass, "tokens": n_tok, **extra})
        return res

    if full:
        add("ingest (unchanged corpus, store reused)", ["ingest", str(folder), "-o", str(store)])
        add("ingest", ["ingest", str(folder), "-o", str(work / "store-j2.kmd"), "--jobs", "2"], jobs=2)
        # compared after the run (as an argument of add() it was evaluated before the store existed)
        rows[-1]["same"] = (same_tables(store / "passages.parquet", work / "store-j2.kmd" / "passages.parquet")
                            and same_tables(store / "documents.parquet", work / "store-j2.kmd" / "documents.parquet"))
        shutil.copytree(store, work / "store-pre-j2.kmd")
    add("preprocess", ["preprocess", str(store)])
    if full:
        add("preprocess", ["preprocess", str(work / "store-pre-j2.kmd"), "--jobs", "2"], jobs=2)
        lem = "lemmas.parquet"
        rows[-1]["same"] = same_tables(store / lem, work / "store-pre-j2.kmd" / lem)
    add("classify", ["classify", str(store), "-o", str(work / "labels.csv")])
    if full:
        add("classify", ["classify", str(store), "-o", str(work / "labels-j2.csv"), "--jobs", "2"], jobs=2)
        rows[-1]["same"] = same_tables(work / "labels.csv", work / "labels-j2.csv")
    add("concepts", ["concepts", str(store), "-o", str(work / "concepts"), "--labels", str(work / "labels.csv")])
    if full:
        add("concepts", ["concepts", str(store), "-o", str(work / "concepts-j2"), "--labels", str(work / "labels.csv"),
                         "--jobs", "2"], jobs=2)
        rows[-1]["same"] = same_tables(work / "concepts", work / "concepts-j2")
    add("topics (K=20)", ["topics", str(store), "-o", str(work / "topics"), "--k", "20", "--jobs", str(TOPICS_JOBS),
                          "--iterations", str(TOPICS_SWEEPS)], jobs=TOPICS_JOBS)
    # the outputs of classify and concepts are reused, as a user who ran them would
    add("report (--labels, --concepts)", ["report", str(store), "-o", str(work / "report.html"),
                                          "--labels", str(work / "labels.csv"), "--concepts", str(work / "concepts")])
    if full or size >= 1_000_000:  # the memory target compares it at 1M and 100k
        add("classify end to end from the folder", ["classify", str(folder), "-o", str(work / "e2e.csv"),
                                                    "--jobs", "2"], jobs=2)
    return rows


def slope(points: list[tuple[int, float]]) -> float | None:
    pts = [(math.log(n), math.log(t)) for n, t in points if t > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


def main() -> None:
    all_rows = []
    largest_default = max(s for s in SIZES if s <= 100_000) if any(s <= 100_000 for s in SIZES) else SIZES[0]
    for size in SIZES:
        folder = corpus_folder(size)
        work = work_dir(size)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        log(f"== {size:,} passages (work folder {work})")
        rows = steps_for(size, folder, work, full=size == largest_default)
        for extra in ("store-j2.kmd", "store-pre-j2.kmd", "concepts-j2"):
            shutil.rmtree(work / extra, ignore_errors=True)
        for r in rows:
            r["size"] = size
        all_rows.extend(rows)
    (CACHE / "pipeline_results.json").write_text(json.dumps(all_rows, indent=1, default=str))

    print(f"## Pipeline end to end (generated corpus, seed {SEED}, {os.cpu_count()} CPUs)\n")
    print("Each step is a `kmdiscourse` command in a fresh process on a folder of Markdown, text, "
          "JSON Lines and CSV files (ingest) or on the store it made (the others). CPU is user+system "
          "seconds of that process and its workers; on a busy machine CPU time is the steadier figure. "
          "Load is the 1-minute load average when the step started (2 CPUs: above 2 the step shared them).\n")
    print("| passages | tokens | step | jobs | wall s | CPU s | passages/s | tokens/s | peak RSS MB | same output "
          "| load |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in all_rows:
        if r.get("rc"):
            print(f"| {r['size']:,} | | {r['step']} | {r['jobs']} | failed: {r.get('error', '')[:80]} | | | | | | |")
            continue
        n, tok = r.get("passages", 0), r.get("tokens", 0)
        same = {True: "yes", False: "**no**"}.get(r.get("same"), "")
        print(f"| {n:,} | {tok:,} | {r['step']} | {r['jobs']} | {r['wall']:.1f} | {r['cpu']:.1f} | "
              f"{n / r['wall']:,.0f} | {tok / r['wall']:,.0f} | {r['rss_mb']:.0f} | {same} | {r.get('load', 0):.1f} |")

    print("\n### Scaling exponents (slope of log time against log passages; 1 = linear)\n")
    print(f"Topics run {TOPICS_SWEEPS} Gibbs sweeps at every size (`--iterations {TOPICS_SWEEPS}`, what the "
          "default gives from 1M lemmas per language; smaller corpora get up to 1,000 by default).\n")
    print("| step | wall | CPU |")
    print("|---|---:|---:|")
    for step, jobs in dict.fromkeys((r["step"], r["jobs"]) for r in all_rows):
        pts = [(r["passages"], r["wall"], r["cpu"]) for r in all_rows
               if r["step"] == step and r["jobs"] == jobs and not r.get("rc") and r.get("passages")]
        sw, sc = slope([(n, w) for n, w, _ in pts]), slope([(n, c) for n, _, c in pts])
        if sw is not None:
            print(f"| {step}{f' (--jobs {jobs})' if jobs != 1 else ''} | {sw:.2f} | {sc:.2f} |")

    print(f"\n### Targets at {largest_default:,} passages\n")
    big = [r for r in all_rows if r["size"] == largest_default and not r.get("rc")]

    def get(step, jobs=1):
        return next((r for r in big if r["step"] == step and r["jobs"] == jobs), None)

    e2e = get("classify end to end from the folder", 2)
    if e2e:
        ok = e2e["wall"] <= 90 and e2e["rss_mb"] <= 2048
        print(f"- classify end to end from the folder, --jobs 2: {e2e['wall']:.1f} s wall "
              f"({e2e['cpu']:.1f} s CPU), peak RSS {e2e['rss_mb']:.0f} MB; target <= 90 s and <= 2 GB: "
              f"{'met' if ok else '**not met**'}")
    for step in ("ingest", "preprocess", "classify", "concepts"):
        a, b = get(step, 1), get(step, 2)
        if a and b:
            sp = a["wall"] / b["wall"]
            print(f"- {step} --jobs 2: {sp:.2f}x faster (wall), output identical: "
                  f"{'yes' if b.get('same') else '**no**'}; target >= 1.6x: {'met' if sp >= 1.6 else '**not met**'}")
    first, again = get("ingest"), get("ingest (unchanged corpus, store reused)")
    if first and again:
        sp = first["wall"] / again["wall"]
        print(f"- re-run of ingest on the unchanged corpus: {again['wall']:.1f} s against {first['wall']:.1f} s, "
              f"{sp:.1f}x faster; target >= 10x: {'met' if sp >= 10 else '**not met**'}")
    if LARGE:
        step = "classify end to end from the folder"
        r1 = [r for r in all_rows if r["size"] == 1_000_000 and r["step"] == step and not r.get("rc")]
        r0 = get(step, 2)
        if r1 and r0:
            ratio = r1[0]["rss_mb"] / r0["rss_mb"]
            print(f"- peak RSS of classify end to end, 1M against 100k passages: {r1[0]['rss_mb']:.0f} / "
                  f"{r0['rss_mb']:.0f} MB = {ratio:.2f}x; target <= 1.5x: {'met' if ratio <= 1.5 else '**not met**'}")
    print("\nReference points (regex tokenizer, spaCy, gensim, tomotopy, NMF, NPMI) are in the "
          "preprocessing and topics sections of this same run.")


if __name__ == "__main__":
    main()
