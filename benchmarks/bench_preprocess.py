"""Preprocessing benchmark: tokens/s of the default en/ru pipelines against a bare regex
tokenizer (the ceiling) and spaCy's own pipelines, on a generated bilingual corpus.

Prints a Markdown section on stdout (benchmarks/run.py appends it to results.md).
Environment: BENCH_PREPROCESS_TOKENS (default 1,000,000), BENCH_SEED (default 1).
Each measurement runs in a fresh process, so timings include the cold per-form caches and
the peak RSS is that measurement's own.
"""
from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "src"))

from benchmarks.corpus import iter_passages  # noqa: E402

TOKENS = int(os.environ.get("BENCH_PREPROCESS_TOKENS", 1_000_000))
SEED = int(os.environ.get("BENCH_SEED", 1))
TOKENS_PER_PASSAGE = 75  # about, for the generator's defaults


#: the generated passages, written once by main() for every measuring process (generating them
#: took about 1.7 s per process)
_CACHE_ENV = "BENCH_PREPROCESS_PASSAGES_FILE"


def _stream():
    cached = os.environ.get(_CACHE_ENV)
    if cached:
        with open(cached, encoding="utf-8") as fh:
            yield from map(json.loads, fh)
    yield from iter_passages(10**9, SEED)  # (only reached without the file, or past its end)


def _write_cache(path: Path, n_tokens: int) -> None:
    """The stream's first passages, until each language has ``n_tokens`` / 2 tokens and both together
    ``n_tokens``: every prefix :func:`_passages` asks for, so it returns what the stream gives."""
    per = {"en": 0, "ru": 0}
    with path.open("w", encoding="utf-8") as fh:
        for p in iter_passages(10**9, SEED):
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
            per[p["lang"]] += len(p["text"].split())
            if min(per.values()) >= n_tokens // 2 and sum(per.values()) >= n_tokens:
                return


def _passages(n_tokens: int, lang: str | None = None) -> list[dict]:
    out, total = [], 0
    for p in _stream():
        if lang and p["lang"] != lang:
            continue
        out.append(p)
        total += len(p["text"].split())
        if total >= n_tokens:
            break
    return out


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn, texts) -> dict:
    n = sum(len(t.split()) for t in texts)
    start = time.perf_counter()
    fn(texts)
    took = time.perf_counter() - start
    return {"tokens": n, "seconds": took, "tok_s": n / took, "rss_mb": _rss_mb()}


def _consume(gen) -> int:
    k = 0
    for lemmas in gen:
        k += len(lemmas)
    return k


# --- measurements, each run in its own process ---------------------------------------------------

def m_regex(lang: str, n_tokens: int) -> dict:
    rx = re.compile(r"\w+")
    texts = [p["text"] for p in _passages(n_tokens, lang)]
    return _timed(lambda ts: sum(len(rx.findall(t)) for t in ts), texts)


def m_default(lang: str, n_tokens: int) -> dict:
    from kmdiscourse.preprocess import _warm_up, lemmatize

    texts = [p["text"] for p in _passages(n_tokens, lang)]
    _warm_up()  # load the lookup table and pymorphy3 dictionaries (about 0.3 s, once)
    return _timed(lambda ts: _consume(lemmatize(ts, lang, model="default")), texts)


def m_passages(jobs: int, n_tokens: int, phrases: bool) -> dict:
    import pandas as pd

    from kmdiscourse.preprocess import _warm_up, preprocess_passages

    ps = _passages(n_tokens)
    df = pd.DataFrame({"passage_id": [f"p{i}" for i in range(len(ps))], "text": [p["text"] for p in ps],
                       "lang": [p["lang"] for p in ps]})
    _warm_up()
    if phrases:
        import gensim.models.phrases  # noqa: F401  (import time is not preprocessing)
    n = sum(len(t.split()) for t in df["text"])
    start = time.perf_counter()
    preprocess_passages(df, jobs=jobs, phrase_threshold=0.5 if phrases else None, model="default")
    took = time.perf_counter() - start
    return {"tokens": n, "seconds": took, "tok_s": n / took, "rss_mb": _rss_mb()}


def m_spacy(lang: str, n_tokens: int, name: str) -> dict:
    import spacy

    if name == "blank":
        nlp = spacy.blank(lang)
        nlp.add_pipe("lemmatizer", config={"mode": "lookup" if lang == "en" else "pymorphy3"})
        nlp.initialize()
    else:
        nlp = spacy.load(name, exclude=["parser", "ner"])
    texts = [p["text"] for p in _passages(n_tokens, lang)]
    return _timed(lambda ts: sum(len(d) for d in nlp.pipe(ts, batch_size=256)), texts)


def m_stream(n_tokens: int) -> dict:
    """Stream generated passages through lemmatize without keeping them: RSS must stay flat."""
    from kmdiscourse.preprocess import lemmatize

    n = 0
    start = time.perf_counter()
    for lang in ("en", "ru"):
        def texts():
            nonlocal n
            total = 0
            for p in iter_passages(10**9, SEED):
                if p["lang"] != lang:
                    continue
                k = len(p["text"].split())
                total += k
                n += k
                yield p["text"]
                if total >= n_tokens // 2:
                    return
        _consume(lemmatize(texts(), lang, model="default"))
    took = time.perf_counter() - start
    return {"tokens": n, "seconds": took, "tok_s": n / took, "rss_mb": _rss_mb()}


MEASURES = {"regex": m_regex, "default": m_default, "passages": m_passages, "spacy": m_spacy, "stream": m_stream}


def run(kind: str, *args) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", kind, *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(f"<!-- {kind} {args} failed: {res.stderr.strip().splitlines()[-1:]} -->", file=sys.stderr)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    import spacy

    rows = []  # (what, lang, result, reference result for the ratio)

    def add(what, lang, result, ceiling=None):
        rows.append((what, lang, result, ceiling))

    tmp = tempfile.TemporaryDirectory(prefix="kmd-bench-pre-")
    cache = Path(tmp.name) / "passages.jsonl"
    _write_cache(cache, TOKENS)
    os.environ[_CACHE_ENV] = str(cache)

    ceilings = {}
    for lang in ("en", "ru"):
        ceilings[lang] = run("regex", lang, TOKENS // 2)
        add("bare regex tokenizer `\\w+` (ceiling)", lang, ceilings[lang], ceilings[lang])
        add("**default pipeline**, 1 process (cold caches)", lang, run("default", lang, TOKENS // 2), ceilings[lang])
    both = {k: v for k, v in ceilings.items() if v}
    ceiling_both = None
    if len(both) == 2:
        ceiling_both = {"tok_s": 2 / sum(1 / v["tok_s"] for v in both.values())}
    # (the `preprocess` command itself, at 10k and 100k passages, is in the pipeline section)
    add("preprocess_passages, terms (NPMI word pairs), --jobs 1", "en+ru", run("passages", 1, TOKENS, 1), ceiling_both)
    add("preprocess_passages, terms (NPMI word pairs), --jobs 2", "en+ru", run("passages", 2, TOKENS, 1), ceiling_both)
    small = min(TOKENS // 20, 100_000)  # spaCy is slow: a slice is enough for tokens/s
    add("spaCy blank en + lookup lemmatizer (nlp.pipe)", "en", run("spacy", "en", small, "blank"), ceilings["en"])
    add("spaCy blank ru + pymorphy3 lemmatizer (nlp.pipe)", "ru", run("spacy", "ru", small // 10, "blank"),
        ceilings["ru"])
    for lang, name in (("en", "en_core_web_sm"), ("ru", "ru_core_news_sm")):
        if spacy.util.is_package(name):
            add(f"spaCy {name}", lang, run("spacy", lang, small // 4, name), ceilings[lang])
        else:
            rows.append((f"spaCy {name}: not installed", lang, None, None))
    stream_small = run("stream", TOKENS // 16)
    stream_big = run("stream", TOKENS // 4)
    add("streaming lemmatize + generating the text, 1/16 of the corpus", "en+ru", stream_small, None)
    add("streaming lemmatize + generating the text, 1/4 of the corpus", "en+ru", stream_big, None)

    print(f"## Preprocessing ({TOKENS:,} generated tokens, seed {SEED}, {os.cpu_count()} CPUs)\n")
    print("| what | lang | tokens | seconds | tokens/s | share of ceiling | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for what, lang, r, ceil in rows:
        if r is None:
            print(f"| {what} | {lang} | | | | | |")
            continue
        share = f"{r['tok_s'] / ceil['tok_s']:.0%}" if ceil else ""
        print(f"| {what} | {lang} | {r['tokens']:,} | {r['seconds']:.1f} | {r['tok_s']:,.0f} | {share} "
              f"| {r['rss_mb']:.0f} |")
    if stream_small and stream_big:
        print(f"\nPeak RSS, streaming: {stream_small['rss_mb']:.0f} MB for {stream_small['tokens']:,} tokens, "
              f"{stream_big['rss_mb']:.0f} MB for {stream_big['tokens']:,} tokens "
              f"(ratio {stream_big['rss_mb'] / stream_small['rss_mb']:.2f}).")
    print("\nTokens are whitespace-separated words of the input. Each row runs in a fresh process; "
          "the default pipeline's rows include filling its per-form caches.")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        kind, args = sys.argv[2], sys.argv[3:]
        fn = MEASURES[kind]
        typed = [int(a) if a.lstrip("-").isdigit() else a for a in args]
        if kind == "passages":
            typed[2] = bool(typed[2])
        print(json.dumps(fn(*typed)))
    else:
        main()
