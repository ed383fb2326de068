"""Topics benchmark: `kmdiscourse topics --k 20` against the reference points a user would
otherwise reach for, on the same lemmatised documents: tomotopy's LDA used directly at the same
K, iteration budget and threads, gensim's LdaModel with its defaults, and scikit-learn NMF,
with NPMI coherence for each (same function, same documents). Then the dynamic model:
tomotopy's DTModel (what `topics --dynamic` runs) on BENCH_TOPICS_DTM_DOCS documents in 10
periods against gensim's LdaSeqModel on a small subset (seconds per document compared).

No work is repeated from bench_pipeline.py: when it ran first in the same `make bench`, its
100k-passage store (lemmas cached by `preprocess`) and its `topics` measurement (a fresh CLI
process: reading the store, fitting, every table, plot and page) are reused; otherwise the
store is built here (ingest and preprocess, --jobs 2, not timed) and `topics` is run once.

Prints a Markdown section on stdout (benchmarks/run.py appends it to results.md).
Environment: BENCH_TOPICS_PASSAGES (100,000: the pipeline size to reuse), BENCH_SEED (1),
BENCH_TOPICS_THREADS (1: sampler threads for `topics --jobs` and tomotopy alike; with 2 the fixed
cost of `topics` outside the sampler weighs more: 1.67x tomotopy's time in the run of 22:16),
BENCH_TOPICS_DTM_DOCS (1,000), BENCH_TOPICS_LDASEQ_DOCS (10: LdaSeqModel takes seconds per
document), BENCH_TOPICS_LDASEQ_TIMEOUT (10 s), BENCH_CACHE (as bench_pipeline.py).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

SIZE = int(os.environ.get("BENCH_TOPICS_PASSAGES", 100_000))  # the size of the target
N_DTM = int(os.environ.get("BENCH_TOPICS_DTM_DOCS", 1_000))
N_SEQ = int(os.environ.get("BENCH_TOPICS_LDASEQ_DOCS", 10))
SEQ_TIMEOUT = float(os.environ.get("BENCH_TOPICS_LDASEQ_TIMEOUT", 10))
SEED = int(os.environ.get("BENCH_SEED", 1))
K = 20
#: `topics --jobs N` runs the sampler with N threads; bench_pipeline.py runs it with TOPICS_JOBS
THREADS = int(os.environ.get("BENCH_TOPICS_THREADS", 1))
PERIODS = 10
KMD = [sys.executable, "-m", "kmdiscourse", "-q"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _rss_mb() -> float:
    """Peak RSS of this process. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so a
    worker would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _npmi_of(docs: list[str], components, vocab) -> float:
    """Mean NPMI of each topic's top 10 terms on the documents themselves (kmdiscourse's
    measure), for any engine's topic-term matrix over ``vocab``."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer

    from kmdiscourse.topics import split_lemmas, topic_npmi

    cv = CountVectorizer(tokenizer=split_lemmas, lowercase=False, token_pattern=None, vocabulary=list(vocab))
    return float(np.mean(topic_npmi(cv.transform(docs), np.asarray(components))))


def _by_lang(df):
    for lang in ("en", "ru"):
        docs = [t for t in df.loc[df["lang"] == lang, "text"] if t]
        if len(docs) > K:
            yield lang, docs


def _sweeps(docs: list[str]) -> int:
    """The Gibbs budget of the `topics` run compared (`--iterations`, as bench_pipeline.py runs it)."""
    from benchmarks.bench_pipeline import TOPICS_SWEEPS

    return TOPICS_SWEEPS


def worker(name: str, path: str) -> dict:
    """One reference in this process: wall time of the fit from lemma strings in memory
    (loading excluded), NPMI, peak RSS."""
    import numpy as np
    import pandas as pd

    df = pd.read_parquet(path)
    npmis, fit_seconds = [], 0.0
    for _lang, docs in _by_lang(df):
        t0 = time.perf_counter()
        if name == "tomotopy":
            import tomotopy as tp

            mdl = tp.LDAModel(k=K, seed=SEED, min_df=2, rm_top=0)  # alpha 0.1, eta 0.01 as `topics`
            for d in docs:
                mdl.add_doc(d.split())
            mdl.train(_sweeps(docs), workers=THREADS)
            vocab = list(mdl.used_vocabs)
            comp = np.array([mdl.get_topic_word_dist(k) for k in range(K)])
        elif name == "gensim":
            from gensim.corpora import Dictionary
            from gensim.models import LdaModel

            toks = [d.split() for d in docs]
            dic = Dictionary(toks)
            bows = [dic.doc2bow(t) for t in toks]
            m = LdaModel(bows, num_topics=K, id2word=dic, random_state=SEED)  # gensim defaults: 1 pass
            vocab = [dic[i] for i in range(len(dic))]
            comp = m.get_topics()
        elif name == "nmf":
            from kmdiscourse.topics import TopicModel

            tm = TopicModel(K, method="nmf", random_state=SEED).fit(docs)
            vocab, comp = tm.feature_names_, tm.components_
        else:
            raise SystemExit(f"unknown worker {name}")
        fit_seconds += time.perf_counter() - t0
        npmis.append(_npmi_of(docs, comp, vocab))
    return {"name": name, "seconds": fit_seconds, "npmi": float(np.mean(npmis)), "rss_mb": _rss_mb()}


def worker_dynamic(name: str, path: str) -> dict:
    import numpy as np
    import pandas as pd

    df = pd.read_parquet(path)
    df = df[(df["lang"] == "en") & (df["text"].str.len() > 0)].reset_index(drop=True)
    n = N_DTM if name == "dtmodel" else N_SEQ
    df = df.iloc[:n].copy()
    df["period"] = (np.arange(len(df)) * PERIODS // max(len(df), 1)).astype(int)  # ten equal periods
    start = time.perf_counter()
    if name == "dtmodel":
        import datetime as dt

        from kmdiscourse.topics import TopicModel, dynamic_topic_terms

        tm = TopicModel(K, random_state=SEED, n_jobs=THREADS).fit(df["text"].tolist())
        t_static = time.perf_counter() - start
        units = pd.DataFrame({"text": df["text"], "date": [dt.date(2010 + p, 6, 1) for p in df["period"]]})
        t1 = time.perf_counter()
        table, _ = dynamic_topic_terms(units, tm, [f"en-{i + 1}" for i in range(K)], by="year", seed=SEED,
                                       iterations=100)
        extra = {"static_seconds": t_static, "dynamic_seconds": time.perf_counter() - t1,
                 "periods": int(table["period"].nunique())}
    else:
        from gensim.corpora import Dictionary
        from gensim.models import LdaSeqModel

        toks = [t.split() for t in df["text"]]
        dic = Dictionary(toks)
        dic.filter_extremes(no_below=2, no_above=0.5)
        bows = [dic.doc2bow(t) for t in toks]
        slices = np.bincount(df["period"], minlength=PERIODS).tolist()
        LdaSeqModel(corpus=bows, id2word=dic, time_slice=slices, num_topics=K, random_state=SEED, chunksize=len(bows))
        extra = {"periods": PERIODS}
    secs = time.perf_counter() - start
    return {"name": name, "docs": len(df), "seconds": secs, "sec_per_doc": secs / max(len(df), 1),
            "rss_mb": _rss_mb(), **extra}


def _run(kind: str, name: str, path: str, timeout: float | None = None) -> dict:
    load = os.getloadavg()[0]
    try:
        res = subprocess.run([sys.executable, __file__, "--worker", kind, name, path], capture_output=True,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"{kind} {name}: stopped after {timeout:.0f} s")
        return {"name": name, "timeout": timeout, "load": load}
    if res.returncode != 0:
        tail = "\n".join(res.stderr.strip().splitlines()[-3:])
        log(f"{kind} {name}: failed: {tail}")
        return {"name": name, "error": tail}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["load"] = load
    log(f"{kind} {name}: {out}")
    return out


def _pipeline_topics() -> tuple[Path | None, dict | None]:
    """The 100k work folder and `topics` measurement of bench_pipeline.py, if it ran."""
    from benchmarks.bench_pipeline import CACHE, work_dir

    work = work_dir(SIZE)
    try:
        rows = json.loads((CACHE / "pipeline_results.json").read_text())
    except (OSError, ValueError):
        rows = []
    row = next((r for r in rows if r.get("size") == SIZE and r.get("step") == "topics (K=20)"
                and not r.get("rc")), None)
    if not (work / "topics" / "coherence.csv").is_file():
        row = None
    return (work if (work / "store.kmd" / "lemmas.parquet").is_file() else None), row


def prepare(tmp: Path) -> tuple[Path, dict, Path]:
    """(store, topics measurement, topics output folder): reused from the pipeline or made here."""
    from benchmarks.bench_pipeline import corpus_folder, measured

    work, row = _pipeline_topics()
    if work is not None and row is not None:
        log(f"reusing the pipeline's store and topics run in {work}")
        return work / "store.kmd", {**row, "source": "bench_pipeline.py, same run"}, work / "topics"
    store = work / "store.kmd" if work is not None else tmp / "store.kmd"
    if work is None:
        folder = corpus_folder(SIZE)
        log(f"building a store from {folder}")
        subprocess.run(KMD + ["ingest", str(folder), "-o", str(store), "--jobs", "2"], check=True, cwd=ROOT)
        subprocess.run(KMD + ["preprocess", str(store), "--jobs", "2"], check=True, cwd=ROOT)
    from benchmarks.bench_pipeline import TOPICS_SWEEPS

    row = measured(KMD + ["topics", str(store), "-o", str(tmp / "topics"), "--k", str(K), "--jobs", str(THREADS),
                          "--iterations", str(TOPICS_SWEEPS)], f"topics --jobs {THREADS}")
    return store, {**row, "source": "this script"}, tmp / "topics"


def units_file(store: Path, path: Path) -> dict:
    """The documents `topics` models (one per document and language, lemmas joined), as lemma
    strings for the references."""
    from kmdiscourse.ingest import open_corpus
    from kmdiscourse.topics import build_units, content_lemmas

    passages, lemmas = content_lemmas(open_corpus(store))
    units = build_units(passages, lemmas, "document")
    units = units[units["text"].str.len() > 0]
    units[["doc_id", "lang", "text"]].to_parquet(path)
    sweeps = ", ".join(f"{lang} {_sweeps(docs)}" for lang, docs in _by_lang(units))
    return {"sweeps": sweeps, "passages": len(passages), "units": len(units), "lemmas": int(units["text"].str.count(" ").sum()
                                                                             + len(units))}


def main() -> None:
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="kmd-bench-topics-") as tmp_s:
        tmp = Path(tmp_s)
        store, ours, outdir = prepare(tmp)
        coh = pd.read_csv(outdir / "coherence.csv") if (outdir / "coherence.csv").is_file() else None
        path = str(tmp / "units.parquet")
        info = units_file(store, Path(path))
        rows = [_run("static", name, path) for name in ("tomotopy", "gensim", "nmf")]
        dyn = [_run("dynamic", "dtmodel", path), _run("dynamic", "ldaseq", path, timeout=SEQ_TIMEOUT)]
    npmi = None
    if coh is not None:
        sel = coh[(coh["topic"] == "all") & coh["chosen"].astype(bool)]
        npmi = float(sel["npmi"].mean()) if len(sel) else None
    print(f"## Topics (K={K}) on {info['passages']:,} generated passages\n")
    print(f"{info['units']:,} documents (passages joined per document and language, as `topics` models them), "
          f"{info['lemmas']:,} lemmas; one model per language; the same Gibbs sweeps ({info['sweeps']}: `topics --iterations`, "
          f"what its default gives at this size) and {THREADS} sampler thread(s) for both LDA rows (`topics --jobs {THREADS}`). The kmdiscourse row is the whole `kmdiscourse topics STORE -o DIR --k 20` command "
          f"in a fresh process ({ours['source']}): reading the store and cached lemmas, fitting, NPMI, "
          "bootstrap intervals, every table, the plot and the page. The others are fits from lemma "
          "strings already in memory, each in a fresh process.\n")
    print("| engine | wall s | vs tomotopy | mean NPMI | peak RSS MB | load |")
    print("|---|---:|---:|---:|---:|---:|")
    ref = next((r for r in rows if r["name"] == "tomotopy" and "error" not in r), None)
    if ours.get("rc"):
        print(f"| kmdiscourse topics | failed: {ours.get('error', '')[:80]} | | | | |")
    else:
        ratio = f"{ours['wall'] / ref['seconds']:.2f}x" if ref else "-"
        print(f"| **kmdiscourse topics** (tomotopy LDA + all outputs) | {ours['wall']:.1f} | {ratio} | "
              f"{npmi if npmi is None else f'{npmi:.3f}'} | {ours['rss_mb']:.0f} | {ours.get('load', float('nan')):.1f} |")
    labels = {"tomotopy": "tomotopy LDAModel direct", "gensim": "gensim LdaModel, defaults (1 pass)",
              "nmf": "scikit-learn NMF on TF-IDF (`--method nmf`)"}
    for r in rows:
        if "error" in r:
            print(f"| {labels[r['name']]} | failed: {r['error'][:80]} | | | | |")
            continue
        ratio = f"{r['seconds'] / ref['seconds']:.2f}x" if ref else "-"
        print(f"| {labels[r['name']]} | {r['seconds']:.1f} | {ratio} | {r['npmi']:.3f} | {r['rss_mb']:.0f} "
              f"| {r['load']:.1f} |")
    if ref and not ours.get("rc") and npmi is not None:
        ratio = ours["wall"] / ref["seconds"]
        ok = ratio <= 1.5 and npmi >= ref["npmi"]
        print(f"\nTarget: `topics` within 1.5x of tomotopy's LDA at equal or better NPMI: {ratio:.2f}x, NPMI "
              f"{npmi:.3f} against {ref['npmi']:.3f}: {'met' if ok else '**not met**'}. Load is the 1-minute "
              "load average when the row started (2 CPUs).")
    print(f"\n### Dynamic topic model (K={K}, {PERIODS} periods, English documents)\n")
    print("| model | documents | wall s | s per document | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for r in dyn:
        if "timeout" in r:
            print(f"| gensim LdaSeqModel (defaults) | {N_SEQ:,} | not done in {r['timeout']:.0f} (stopped) | "
                  f"> {r['timeout'] / N_SEQ:.2f} | |")
            continue
        if "error" in r:
            print(f"| {r['name']} | failed: {r['error'][:80]} | | | |")
            continue
        name = ("tomotopy DTModel (`topics --dynamic`; static fit "
                f"{r.get('static_seconds', 0):.1f} s + dynamic {r.get('dynamic_seconds', 0):.1f} s)"
                if r["name"] == "dtmodel" else "gensim LdaSeqModel (defaults)")
        print(f"| {name} | {r['docs']:,} | {r['seconds']:.1f} | {r['sec_per_doc']:.4f} | {r['rss_mb']:.0f} |")
    ok = [r for r in dyn if "error" not in r]
    if len(ok) == 2 and "timeout" not in ok[0]:
        seq = ok[1]["sec_per_doc"] if "timeout" not in ok[1] else ok[1]["timeout"] / N_SEQ
        print(f"\nPer document, LdaSeqModel is {'more than ' if 'timeout' in ok[1] else ''}"
              f"{seq / ok[0]['sec_per_doc']:.0f}x slower than the whole `--dynamic` path (static + DTModel); "
              f"it is stopped after {SEQ_TIMEOUT:.0f} s (BENCH_TOPICS_LDASEQ_TIMEOUT) to keep `make bench` short.")


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--worker":
        fn = worker if sys.argv[2] == "static" else worker_dynamic
        print(json.dumps(fn(sys.argv[3], sys.argv[4])))
    else:
        main()
