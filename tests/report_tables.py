"""Tables shaped like the classifier's, topic model's and concept matcher's outputs, made up from
a corpus with a seed, so that the report can be tested without those stages."""
from __future__ import annotations

import numpy as np
import pandas as pd

from kmdiscourse.report import ConceptTables, TopicTables, period_of

PLANTED = ('Planted: <script>window.__pwned = "script";</script> and <img src=x '
           'onerror="window.__pwned = \'img\'"> and <a href="javascript:window.__pwned=\'link\'">a link</a> '
           'and </script><script>window.__pwned="close"</script> <!-- comment -->')


def fake_classified(corpus, seed: int = 0) -> pd.DataFrame:
    """One row per passage with the classifier's columns and made-up probabilities."""
    rng = np.random.default_rng(seed)
    pas = corpus.passages.reset_index(drop=True)
    p = rng.dirichlet([2.0, 2.0, 1.5], size=len(pas))
    df = pas[["doc_id", "passage_id", "source", "lang", "date", "genre", "source_type", "title", "url",
              "text"]].copy()
    labels = np.array(["why", "how", "other"])[p.argmax(axis=1)]
    df["label"] = np.where(df["lang"].isin(["en", "ru"]), labels, None)
    df["p_why"], df["p_how"], df["p_other"] = p[:, 0], p[:, 1], p[:, 2]
    df["evidence"] = "+value -steps"
    return df


def fake_topics(corpus, k: int = 4, by: str = "year", seed: int = 0) -> TopicTables:
    rng = np.random.default_rng(seed)
    vocab = ["community", "practice", "knowledge", "sharing", "portal", "expert", "lesson", "learned",
             "сообщество", "знание", "опыт", "практика", "value", "cost", "wiki", "search"]
    topics = pd.DataFrame([{"topic": f"en-{t}", "rank": r + 1, "term": vocab[(t * 3 + r) % len(vocab)],
                            "weight": round(1.0 / (r + 1), 3)} for t in range(k) for r in range(8)])
    docs = corpus.documents
    w = rng.dirichlet(np.ones(k), size=len(docs))
    doc_topics = pd.DataFrame({"doc_id": np.repeat(docs["doc_id"].to_numpy(), k),
                               "topic": np.tile(np.array([f"en-{t}" for t in range(k)], dtype=object), len(docs)),
                               "weight": w.ravel()})
    meta = docs.assign(period=period_of(docs["date"], by), genre=docs["genre"].fillna("unknown"))
    d = doc_topics.merge(meta[["doc_id", "period", "genre", "lang"]], on="doc_id").dropna(subset=["period"])
    rows = []
    for genre_all in (False, True):
        g = d.assign(genre="all") if genre_all else d
        for (topic, period, genre), grp in g.groupby(["topic", "period", "genre"]):
            m = grp["weight"].mean()
            rows.append({"topic": topic, "period": period, "genre": genre, "lang": "all",
                         "n_docs": len(grp), "share": m, "ci_low": max(0, m - 0.1), "ci_high": min(1, m + 0.1)})
    effects = pd.DataFrame([{"topic": f"en-{t}", "effect": eff, "estimate": e, "ci_low": e - 0.05,
                             "ci_high": e + 0.05}
                            for t in range(k) for eff, e in (("academic - business", rng.normal(0, 0.1)),
                                                             ("trend per year", rng.normal(0, 0.01)))])
    return TopicTables(topics=topics, prevalence=pd.DataFrame(rows), effects=effects, doc_topics=doc_topics,
                       settings={"method": "made up for tests", "k": k})


def fake_concepts(corpus, by: str = "year", seed: int = 0) -> ConceptTables:
    rng = np.random.default_rng(seed)
    pas = corpus.passages
    concepts = ["community_of_practice", "knowledge_sharing", "tacit_knowledge"]
    pick = pas.sample(frac=0.4, random_state=seed)
    mentions = pd.DataFrame({"doc_id": pick["doc_id"].to_numpy(), "passage_id": pick["passage_id"].to_numpy(),
                             "concept": rng.choice(concepts, size=len(pick)), "lang": pick["lang"].to_numpy(),
                             "matched_text": "x"})
    meta = pas.assign(period=period_of(pas["date"], by), genre=pas["genre"].fillna("unknown"),
                      tokens=pas["text"].str.split().str.len())
    m = mentions.merge(meta[["passage_id", "period", "genre"]], on="passage_id").dropna(subset=["period"])
    tok = meta.groupby(["period", "genre", "lang"])["tokens"].sum()
    rows = []
    for (concept, period, genre, lang), g in m.groupby(["concept", "period", "genre", "lang"]):
        t = int(tok.get((period, genre, lang), 0))
        rows.append({"concept": concept, "period": period, "genre": genre, "lang": lang, "mentions": len(g),
                     "docs": g["doc_id"].nunique(), "tokens": t, "per_10k_tokens": len(g) / t * 1e4 if t else None})
    return ConceptTables(trends=pd.DataFrame(rows), mentions=mentions)


EN_WORDS = ("teams share what they learn in monthly calls and the coordinator keeps a short list of open "
            "questions so that new members find the right expert quickly and the firm saves time").split()
RU_WORDS = ("участники сообщества делятся опытом на встречах раз в месяц а координатор ведёт список "
            "вопросов чтобы новички быстрее находили нужного специалиста и компания экономила время").split()


def make_corpus(n_docs: int = 200, *, passages_per_doc: int = 3, seed: int = 0, planted: bool = True,
                first_year: int = 2015, years: int = 10):
    """A generated Corpus (no files read): documents and passages with dates, languages, genres
    and source types; with ``planted``, document 0 (2018, en, business) holds the PLANTED text."""
    import datetime as dt

    from kmdiscourse.ingest.core import Corpus

    rng = np.random.default_rng(seed)
    start = dt.date(first_year, 1, 1).toordinal()
    days = rng.integers(0, 365 * years, size=n_docs)
    langs = rng.choice(["en", "ru"], size=n_docs)
    genres = rng.choice(["business", "academic"], size=n_docs)
    types = rng.choice(["blog", "article", "forum"], size=n_docs)
    pools = {lang: [" ".join(rng.choice(words, size=int(rng.integers(25, 70)))).capitalize() + "."
                    for _ in range(400)] for lang, words in (("en", EN_WORDS), ("ru", RU_WORDS))}
    picks = rng.integers(0, 400, size=(n_docs, passages_per_doc))
    docs, pas = [], []
    for i in range(n_docs):
        date = dt.date.fromordinal(start + int(days[i]))
        texts = [pools[langs[i]][j] for j in picks[i]]
        meta = {"date": date, "lang": langs[i], "genre": genres[i], "source_type": types[i]}
        if planted and i == 0:
            meta = {"date": dt.date(2018, 6, 1), "lang": "en", "genre": "business", "source_type": "blog"}
            texts[0] = PLANTED
        doc_id = f"d{i:05d}"
        url = "javascript:window.__pwned='url'" if planted and i == 0 else f"https://example.org/{doc_id}"
        docs.append({"doc_id": doc_id, "source": f"gen/{doc_id}.txt", "title": f"Post {i} <b>bold</b>",
                     "url": url, "text": "\n\n".join(texts), **meta})
        for j, t in enumerate(texts):
            pas.append({"doc_id": doc_id, "passage_id": f"{doc_id}-{j}", "position": j, "text": t,
                        "source": f"gen/{doc_id}.txt", "title": docs[-1]["title"], "url": url, **meta})
    files = [{"path": f"gen/{d['doc_id']}.txt", "sha256": f"{i:064x}", "status": "ingested", "reason": None}
             for i, d in enumerate(docs)]
    files.append({"path": "gen/broken<script>.pdf", "sha256": "f" * 64, "status": "failed",
                  "reason": "unreadable", "detail": "<img src=x onerror=alert(1)>"})
    manifest = {"input": "generated", "settings": {}, "files": files,
                "summary": {"files": len(files), "ingested": n_docs, "failed": 1, "reasons": {"unreadable": 1}}}
    return Corpus(pd.DataFrame(docs), pd.DataFrame(pas), manifest)
