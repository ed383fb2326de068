"""Topics benchmark: `kmdiscourse topics` (tomotopy LDA) on generated passages at K=20 against
the reference points a user would otherwise reach for: tomotopy's LDA used directly at the
same K and iteration budget, gensim's LdaModel with its defaults, and scikit-learn NMF; NPMI
coherence for each (same function, same documents). Then the dynamic model: tomotopy's
DTModel (what `topics --dynamic` runs) on BENCH_TOPICS_DTM_DOCS documents in 10 periods
against gensim's LdaSeqModel on a small subset (seconds per document compared).

Prints a Markdown section on stdout (benchmarks/run.py appends it to results.md).
Environment: BENCH_TOPICS_PASSAGES (default 100,000), BENCH_TOPICS_DTM_DOCS (20,000),
BENCH_TOPICS_LDASEQ_DOCS (50: LdaSeqModel takes seconds per document), BENCH_SEED (1). Each measurement runs in a fresh process, so
its peak RSS is its own; the passages are lemmatised once (timed) and shared through a file.
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
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "src"))

N = int(os.environ.get("BENCH_TOPICS_PASSAGES", 100_000))
N_DTM = int(os.environ.get("BENCH_TOPICS_DTM_DOCS", 20_000))
N_SEQ = int(os.environ.get("BENCH_TOPICS_LDASEQ_DOCS", 50))
SEED = int(os.environ.get("BENCH_SEED", 1))
K = 20
ITER = 200  # the Gibbs budget `topics` uses on a corpus this size, and the reference's
PERIODS = 10


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


def _load(path: str):
    import pandas as pd

    df = pd.read_parquet(path)
    return df


def _npmi_of(docs: list[str], components, vocab) -> float:
    """Mean NPMI of each topic's top 10 terms on the documents themselves (kmdiscourse's
    measure), for any engine's topic-term matrix over ``vocab``."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer

    from kmdiscourse.topics import split_lemmas, topic_npmi

    cv = CountVectorizer(tokenizer=split_lemmas, lowercase=False, token_pattern=None, vocabulary=list(vocab))
    counts = cv.transform(docs)
    return float(np.mean(topic_npmi(counts, np.asarray(components))))


def _by_lang(df):
    for lang in ("en", "ru"):
        sub = df[df["lang"] == lang]
        docs = [t for t in sub["lemmas"] if t]
        if len(docs) > K:
            yield lang, sub, docs


def worker(name: str, path: str) -> dict:
    """One measurement in this process: wall time (fit only; data loading excluded), NPMI, RSS."""
    import numpy as np

    df = _load(path)
    out = {"name": name, "docs": int((df["lemmas"].str.len() > 0).sum()),
           "tokens": int(df["lemmas"].str.count(" ").sum() + len(df))}
    npmis = []
    start = time.perf_counter()
    fit_seconds = 0.0
    if name == "kmdiscourse":
        from kmdiscourse.topics import fit_topics

        passages = df.drop(columns=["lemmas"])
        res = fit_topics(passages, [t.split() for t in df["lemmas"]], k=K, unit="passage", seed=SEED, jobs=2)
        fit_seconds = time.perf_counter() - start
        npmis = [float(res.coherence[(res.coherence["topic"] == "all") & res.coherence["chosen"]]["npmi"].mean())]
        from kmdiscourse.topics import default_gibbs_iterations

        out["sweeps"] = [default_gibbs_iterations(int(m.doc_lengths_.sum())) for m in res.models.values()]
    else:
        for lang, _sub, docs in _by_lang(df):
            t0 = time.perf_counter()
            if name == "tomotopy":
                import tomotopy as tp

                mdl = tp.LDAModel(k=K, seed=SEED, min_df=2, rm_top=0)
                for d in docs:
                    mdl.add_doc(d.split())
                mdl.train(ITER, workers=2)
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
    out.update(seconds=fit_seconds, npmi=float(np.mean(npmis)), rss_mb=_rss_mb())
    return out


def worker_dynamic(name: str, path: str) -> dict:
    import numpy as np
    import pandas as pd

    df = _load(path)
    df = df[(df["lang"] == "en") & (df["lemmas"].str.len() > 0)].reset_index(drop=True)
    n = N_DTM if name == "dtmodel" else N_SEQ
    df = df.iloc[:n].copy()
    # ten equal periods, in order
    df["period"] = (np.arange(len(df)) * PERIODS // max(len(df), 1)).astype(int)
    start = time.perf_counter()
    if name == "dtmodel":
        import datetime as dt

        from kmdiscourse.topics import TopicModel, dynamic_topic_terms

        tm = TopicModel(K, random_state=SEED, n_jobs=2).fit(df["lemmas"].tolist())
        t_static = time.perf_counter() - start
        units = pd.DataFrame({"text": df["lemmas"], "date": [dt.date(2010 + p, 6, 1) for p in df["period"]]})
        t1 = time.perf_counter()
        table, _ = dynamic_topic_terms(units, tm, [f"en-{i + 1}" for i in range(K)], by="year", seed=SEED,
                                       iterations=100)
        extra = {"static_seconds": t_static, "dynamic_seconds": time.perf_counter() - t1,
                 "periods": int(table["period"].nunique())}
    else:
        from gensim.corpora import Dictionary
        from gensim.models import LdaSeqModel

        toks = [t.split() for t in df["lemmas"]]
        dic = Dictionary(toks)
        dic.filter_extremes(no_below=2, no_above=0.5)
        bows = [dic.doc2bow(t) for t in toks]
        slices = np.bincount(df["period"], minlength=PERIODS).tolist()
        LdaSeqModel(corpus=bows, id2word=dic, time_slice=slices, num_topics=K, random_state=SEED, chunksize=len(bows))
        extra = {"periods": PERIODS}
    secs = time.perf_counter() - start
    return {"name": name, "docs": len(df), "seconds": secs, "sec_per_doc": secs / max(len(df), 1),
            "rss_mb": _rss_mb(), **extra}


def _run(kind: str, name: str, path: str) -> dict:
    res = subprocess.run([sys.executable, __file__, "--worker", kind, name, path], capture_output=True, text=True)
    if res.returncode != 0:
        tail = "\n".join(res.stderr.strip().splitlines()[-3:])
        print(f"{kind} {name}: failed: {tail}", file=sys.stderr, flush=True)
        return {"name": name, "error": tail}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"{kind} {name}: {out}", file=sys.stderr, flush=True)  # progress while the run goes on
    return out


def prepare(path: str) -> dict:
    import datetime as dt

    import pandas as pd

    from benchmarks.corpus import generate_passages
    from kmdiscourse.preprocess import preprocess_passages

    t0 = time.perf_counter()
    rows = generate_passages(N, seed=SEED)
    df = pd.DataFrame(rows)
    df["doc_id"] = [f"d{i // 4}" for i in range(len(df))]  # about four passages per document
    df["passage_id"] = [f"d{i // 4}:{i % 4}" for i in range(len(df))]
    df["position"] = [i % 4 for i in range(len(df))]
    df["date"] = [d if isinstance(d, dt.date) else (dt.date.fromisoformat(str(d)[:10]) if d else None)
                  for d in df["date"]]
    gen = time.perf_counter() - t0
    t1 = time.perf_counter()
    lem = preprocess_passages(df, jobs=2)
    lem_s = time.perf_counter() - t1
    df["lemmas"] = [" ".join(x) for x in lem]
    df[["doc_id", "passage_id", "position", "lang", "date", "genre", "lemmas"]].to_parquet(path)
    return {"generate": gen, "lemmas": lem_s, "tokens": int(sum(len(x) for x in lem))}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "lemmas.parquet")
        prep = prepare(path)
        rows = [_run("static", name, path) for name in ("kmdiscourse", "tomotopy", "gensim", "nmf")]
        dyn = [_run("dynamic", name, path) for name in ("dtmodel", "ldaseq")]
    print(f"## Topics (K={K}) on {N:,} generated passages\n")
    print(f"Lemmas with phrases (preprocess, 2 jobs): {prep['lemmas']:.1f} s for {prep['tokens']:,} lemmas "
          f"(generation {prep['generate']:.1f} s). One model per language, as `topics` does; each row "
          "is a fresh process; times are fits only.\n")
    print("| engine | wall s | vs tomotopy | mean NPMI | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    ref = next((r for r in rows if r["name"] == "tomotopy" and "error" not in r), None)
    sweeps = next((r.get("sweeps") for r in rows if r["name"] == "kmdiscourse"), None)
    labels = {"kmdiscourse": f"kmdiscourse topics (tomotopy LDA, {sweeps} sweeps, 2 threads, + all tables)",
              "tomotopy": f"tomotopy LDAModel direct ({ITER} sweeps, 2 threads)",
              "gensim": "gensim LdaModel, defaults (1 pass)", "nmf": "scikit-learn NMF on TF-IDF"}
    for r in rows:
        if "error" in r:
            print(f"| {labels[r['name']]} | failed: {r['error'][:80]} | | | |")
            continue
        ratio = f"{r['seconds'] / ref['seconds']:.2f}x" if ref else "-"
        print(f"| {labels[r['name']]} | {r['seconds']:.1f} | {ratio} | {r['npmi']:.3f} | {r['rss_mb']:.0f} |")
    print(f"\n## Dynamic topic model (K={K}, {PERIODS} periods)\n")
    print("| model | documents | wall s | s per document | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for r in dyn:
        if "error" in r:
            print(f"| {r['name']} | failed: {r['error'][:80]} | | | |")
            continue
        name = ("tomotopy DTModel (`topics --dynamic`; static fit "
                f"{r.get('static_seconds', 0):.1f} s + dynamic {r.get('dynamic_seconds', 0):.1f} s)"
                if r["name"] == "dtmodel" else "gensim LdaSeqModel (defaults)")
        print(f"| {name} | {r['docs']:,} | {r['seconds']:.1f} | {r['sec_per_doc']:.4f} | {r['rss_mb']:.0f} |")
    ok = [r for r in dyn if "error" not in r]
    if len(ok) == 2:
        print(f"\nPer document, LdaSeqModel is {ok[1]['sec_per_doc'] / ok[0]['sec_per_doc']:.0f}x slower than "
              "the whole `--dynamic` path (static + DTModel).")


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--worker":
        fn = worker if sys.argv[2] == "static" else worker_dynamic
        print(json.dumps(fn(sys.argv[3], sys.argv[4])))
    else:
        main()
