"""Topics: planted-truth corpora (en and inflected ru), prevalence and effects with intervals,
determinism, the estimator API and the output files."""
from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from kmdiscourse.errors import KmdError
from kmdiscourse.topics import (
    TopicModel,
    bootstrap_mean_shares,
    effects_table,
    fit_topics,
    period_of,
    topic_diversity,
    topic_npmi,
    write_topic_outputs,
)

# Four planted topics with their own vocabularies. Mean shares per document:
#   rise  = 0.10 + 0.30 t        fall = 0.40 - 0.30 t        (t = (year - 2000) / 10)
#   acad  = 0.30 academic, 0.10 business
#   flat  = the rest (0.20 academic, 0.40 business)
# so the planted effects are: rise +0.03/year, fall -0.03/year, acad +0.20 academic minus
# business, flat -0.20 academic minus business and no trend.
EN_VOCAB = {
    "rise": "wiki intranet platform search portal indexing enterprise software cloud dashboard analytics "
            "chatbot taxonomy metadata repository".split(),
    "fall": "mentor apprentice craft guild workshop storytelling meeting tradition veteran novice "
            "conversation coffee hallway lunch ritual".split(),
    "acad": "theory hypothesis construct epistemology ontology empirical sample regression validity "
            "literature framework paradigm methodology respondent survey".split(),
    "flat": "revenue customer cost profit budget market sale growth investment return client "
            "product margin quarter shareholder".split(),
}
RU_VOCAB = {
    "rise": "портал платформа поиск система каталог репозиторий сервис база приложение интерфейс "
            "браузер сервер облако робот скрипт".split(),
    "fall": "наставник ученик ремесло мастер цех встреча беседа традиция новичок обед чаепитие "
            "коридор ритуал история рассказ".split(),
    "acad": "теория гипотеза концепция эпистемология онтология выборка регрессия валидность "
            "литература парадигма методология респондент опрос исследование модель".split(),
    "flat": "выручка клиент затрата прибыль бюджет рынок продажа рост инвестиция доход покупатель "
            "продукт маржа квартал акционер".split(),
}
PLANTED_TREND = {"rise": 0.03, "fall": -0.03, "acad": 0.0, "flat": 0.0}
PLANTED_GENRE = {"rise": 0.0, "fall": 0.0, "acad": 0.20, "flat": -0.20}
NAMES = ["rise", "fall", "acad", "flat"]
#: Every planted word is frequent (there is no background text), so no max_df pruning.
KW = {"model_kw": {"max_df": 1.0}}


def planted_means(year: int, genre: str) -> np.ndarray:
    t = (year - 2000) / 10
    rise, fall = 0.10 + 0.30 * t, 0.40 - 0.30 * t
    acad = 0.30 if genre == "academic" else 0.10
    return np.array([rise, fall, acad, 1 - rise - fall - acad])


def _ru_forms(word: str) -> list[str]:
    pymorphy3 = pytest.importorskip("pymorphy3")
    m = _ru_forms.morph = getattr(_ru_forms, "morph", None) or pymorphy3.MorphAnalyzer()
    p = m.parse(word)[0]
    forms = {word}
    for case in ("nomn", "gent", "datv", "accs", "ablt", "loct"):
        for num in ("sing", "plur"):
            f = p.inflect({case, num})
            if f:
                forms.add(f.word)
    return sorted(forms)


def planted_corpus(lang: str = "en", n_docs: int = 400, doc_len: int = 80, seed: int = 1,
                   concentration: float = 30.0, passages_per_doc: int = 1) -> pd.DataFrame:
    """Passages whose words are drawn from the planted topics (Russian words inflected)."""
    rng = np.random.default_rng(seed)
    vocab = EN_VOCAB if lang == "en" else RU_VOCAB
    forms = {n: ([[w] for w in vocab[n]] if lang == "en" else [_ru_forms(w) for w in vocab[n]]) for n in NAMES}
    rows = []
    for d in range(n_docs):
        year = 2000 + d % 11
        genre = "academic" if (d // 11) % 2 else "business"
        theta = rng.dirichlet(concentration * planted_means(year, genre))
        for p in range(passages_per_doc):
            z = rng.choice(4, size=doc_len // passages_per_doc, p=theta)
            words = []
            for k in z:
                fs = forms[NAMES[k]][rng.integers(len(forms[NAMES[k]]))]
                words.append(fs[rng.integers(len(fs))])
            rows.append({"doc_id": f"{lang}{d}", "passage_id": f"{lang}{d}:{p}", "position": p,
                         "text": " ".join(words), "lang": lang, "date": dt.date(year, 1 + d % 12, 1 + d % 28),
                         "genre": genre})
    return pd.DataFrame(rows)


def lemmas_of(df: pd.DataFrame) -> list[list[str]]:
    from kmdiscourse.preprocess import lemmatize

    out: list[list[str]] = [[] for _ in range(len(df))]
    for lang in ("en", "ru"):
        idx = [i for i, lg in enumerate(df["lang"]) if lg == lang]
        for i, lem in zip(idx, lemmatize(df["text"].iloc[idx].tolist(), lang)):
            out[i] = lem
    return out


def match_topics(res, lang: str, vocab: dict[str, list[str]]) -> dict[str, str]:
    """planted name -> fitted topic id, by overlap of the fitted top 10 terms with the planted
    vocabulary (lemmatised); each planted topic must own a distinct fitted topic."""
    from kmdiscourse.preprocess import tokenize_lemmas

    lem = {n: {tokenize_lemmas(w, lang)[0] for w in vocab[n]} for n in NAMES}
    out = {}
    top = res.topics[(res.topics["rank"] <= 10) & res.topics["topic"].str.startswith(f"{lang}-")]
    for topic, g in top.groupby("topic"):
        overlap = {n: len(set(g["term"]) & lem[n]) for n in NAMES}
        best = max(overlap, key=overlap.get)
        assert overlap[best] >= 8, (topic, overlap)
        out[best] = topic
    assert sorted(out) == sorted(NAMES)
    return out


@pytest.fixture(scope="module", params=["en", "ru"])
def planted(request):
    df = planted_corpus(request.param)
    res = fit_topics(df, lemmas_of(df), k=4, seed=3, n_boot=200, **KW)
    vocab = EN_VOCAB if request.param == "en" else RU_VOCAB
    return request.param, df, res, match_topics(res, request.param, vocab)


def test_topics_recover_planted_vocabularies(planted):
    lang, _df, res, match = planted
    assert set(res.topics["topic"]) == {f"{lang}-{i}" for i in range(1, 5)}
    assert res.topics.groupby("topic")["rank"].max().eq(20).all() or len(res.topics) >= 4 * 15
    assert len(set(match.values())) == 4


def test_topics_effects_direction_and_coverage(planted):
    _lang, _df, res, match = planted
    eff = res.effects.set_index(["topic", "effect"])
    covered = []
    for name in NAMES:
        t = match[name]
        for effect, planted in (("trend_per_year", PLANTED_TREND), ("academic_minus_business", PLANTED_GENRE)):
            r = eff.loc[(t, effect)]
            assert r["ci_low"] < r["estimate"] < r["ci_high"]
            assert abs(r["estimate"] - planted[name]) < 0.02, (name, effect, r.to_dict())
            covered.append(r["ci_low"] <= planted[name] <= r["ci_high"])
    # eight 95% intervals: all cover with probability 0.66, at least 7 with 0.94
    assert sum(covered) >= 7, covered
    assert eff.loc[(match["rise"], "trend_per_year"), "ci_low"] > 0
    assert eff.loc[(match["fall"], "trend_per_year"), "ci_high"] < 0
    assert eff.loc[(match["acad"], "academic_minus_business"), "ci_low"] > 0
    assert eff.loc[(match["flat"], "academic_minus_business"), "ci_high"] < 0


def test_topics_prevalence_intervals_cover_planted_means(planted):
    _lang, _df, res, match = planted
    prev = res.prevalence
    assert list(prev.columns) == ["topic", "period", "genre", "lang", "n_docs", "share", "ci_low", "ci_high"]
    covered = total = 0
    for name, t in match.items():
        sub = prev[(prev["topic"] == t) & (prev["genre"] != "all")]
        for _, r in sub.iterrows():
            truth = planted_means(int(r["period"]), r["genre"])[NAMES.index(name)]
            covered += r["ci_low"] <= truth <= r["ci_high"]
            total += 1
    assert total == 4 * 11 * 2
    assert covered / total >= 0.85, covered / total
    # rows for genre=all, and shares of one period and genre sum to 1 over topics
    sums = prev.groupby(["period", "genre"])["share"].sum()
    assert np.allclose(sums, 1.0)
    assert (prev["genre"] == "all").sum() == 4 * 11


def test_topics_doc_topics_sum_to_one(planted):
    _lang, df, res, _ = planted
    dtp = res.doc_topics
    assert list(dtp.columns) == ["doc_id", "topic", "weight"]
    assert dtp["doc_id"].nunique() == df["doc_id"].nunique()
    assert np.allclose(dtp.groupby("doc_id")["weight"].sum(), 1.0)


@pytest.mark.parametrize("method,jobs", [("lda", 1), ("lda", 2), ("nmf", 1)])
def test_topics_same_seed_same_topics(method, jobs):
    df = planted_corpus("en", n_docs=120, seed=5)
    lem = lemmas_of(df)
    a = fit_topics(df, lem, k=4, seed=7, method=method, n_boot=50, jobs=jobs, **KW)
    b = fit_topics(df, lem, k=4, seed=7, method=method, n_boot=50, jobs=jobs, **KW)
    pd.testing.assert_frame_equal(a.topics, b.topics)
    pd.testing.assert_frame_equal(a.doc_topics, b.doc_topics)
    pd.testing.assert_frame_equal(a.prevalence, b.prevalence)
    pd.testing.assert_frame_equal(a.effects, b.effects)


@pytest.mark.parametrize("method", ["nmf"])
def test_topics_nmf_recovers_planted_topics(method):
    df = planted_corpus("en", n_docs=300, seed=2)
    res = fit_topics(df, lemmas_of(df), k=4, seed=0, method=method, n_boot=50, **KW)
    match = match_topics(res, "en", EN_VOCAB)
    eff = res.effects.set_index(["topic", "effect"])
    assert eff.loc[(match["rise"], "trend_per_year"), "estimate"] > 0
    assert eff.loc[(match["fall"], "trend_per_year"), "estimate"] < 0


def test_topics_mixed_languages_one_model_each():
    df = pd.concat([planted_corpus("en", n_docs=150, seed=1), planted_corpus("ru", n_docs=150, seed=2)],
                   ignore_index=True)
    res = fit_topics(df, lemmas_of(df), k=4, seed=0, n_boot=50, **KW)
    assert set(res.chosen_k) == {"en", "ru"}
    assert {t.split("-")[0] for t in res.topics["topic"]} == {"en", "ru"}
    ru_terms = set(res.topics[res.topics["topic"].str.startswith("ru-")]["term"])
    assert all(any("а" <= ch <= "я" for ch in term) for term in ru_terms)


def test_topics_auto_k_prefers_planted_k():
    df = planted_corpus("en", n_docs=300, seed=4, concentration=2.0)  # documents with few topics each
    res = fit_topics(df, lemmas_of(df), k="auto", seed=0, n_boot=20, k_candidates=[2, 4, 8], **KW)
    assert res.chosen_k["en"] == 4
    curve = res.coherence[res.coherence["topic"] == "all"]
    assert sorted(curve["k"]) == [2, 4, 8]
    assert curve.set_index("k").loc[4, "chosen"]


def test_topics_passage_unit_keeps_passage_ids():
    df = planted_corpus("en", n_docs=60, seed=3, passages_per_doc=2)
    res = fit_topics(df, lemmas_of(df), k=4, seed=0, unit="passage", n_boot=20, **KW)
    assert list(res.doc_topics.columns) == ["doc_id", "passage_id", "topic", "weight"]
    assert res.doc_topics["passage_id"].nunique() == 120
    # n_docs counts documents, not passages
    assert res.prevalence[res.prevalence["genre"] == "all"]["n_docs"].sum() == 4 * 60


@pytest.mark.parametrize("by,date,expected", [
    ("year", dt.date(2014, 5, 2), "2014"), ("quarter", dt.date(2014, 5, 2), "2014-Q2"),
    ("month", dt.date(2014, 11, 2), "2014-11"), ("year", None, None),
])
def test_period_of_formats(by, date, expected):
    assert period_of(date, by) == expected


def test_bootstrap_mean_shares_resamples_documents():
    rng = np.random.default_rng(0)
    shares = np.array([[1.0, 0.0]] * 10 + [[0.0, 1.0]] * 10)
    # two documents of ten passages each: the interval must span almost everything
    mean, lo, hi = bootstrap_mean_shares(shares, ["a"] * 10 + ["b"] * 10, rng=rng, n_boot=200)
    assert mean[0] == pytest.approx(0.5)
    assert lo[0] == 0.0 and hi[0] == 1.0
    # twenty independent documents: a much narrower interval
    mean, lo, hi = bootstrap_mean_shares(shares, [str(i) for i in range(20)], rng=rng, n_boot=200)
    assert 0.2 < lo[0] < 0.5 < hi[0] < 0.8


def test_effects_table_exact_on_noise_free_data():
    years = np.repeat(np.arange(2000, 2010), 4)
    genre = np.tile(["business", "academic"], 20)
    share0 = 0.2 + 0.01 * (years - 2000) + 0.1 * (genre == "academic")
    shares = np.column_stack([share0, 1 - share0])
    units = pd.DataFrame({"doc_id": [str(i) for i in range(40)], "date": [dt.date(y, 1, 1) for y in years],
                          "genre": genre})
    eff = effects_table(shares, units, ["t1", "t2"], n_boot=50).set_index(["topic", "effect"])
    assert eff.loc[("t1", "trend_per_year"), "estimate"] == pytest.approx(0.01, abs=1e-3)
    assert eff.loc[("t1", "academic_minus_business"), "estimate"] == pytest.approx(0.1, abs=1e-9)
    assert eff.loc[("t2", "academic_minus_business"), "estimate"] == pytest.approx(-0.1, abs=1e-9)


def test_topic_npmi_and_diversity_hand_counted():
    import scipy.sparse as sp

    # 4 documents, terms a b c: a and b always together (NPMI 1), c alone (never with a: -1)
    counts = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]]))
    comp = np.array([[0.5, 0.4, 0.1], [0.1, 0.2, 0.7]])
    npmi = topic_npmi(counts, comp, n=2)
    assert npmi[0] == pytest.approx(1.0)
    assert npmi[1] == pytest.approx(-1.0)
    assert topic_diversity(comp, n=1) == pytest.approx(1.0)  # {a} and {c}: 2 distinct of 2
    assert topic_diversity(comp, n=2) == pytest.approx(0.75)  # {a,b} and {c,b}: 3 distinct of 4


# --- the estimator API -------------------------------------------------------------------------

DOCS = ["wiki portal search wiki"] * 10 + ["mentor apprentice craft mentor"] * 10


@pytest.mark.parametrize("method", ["lda", "nmf"])
def test_topic_model_api(method):
    tm = TopicModel(2, method=method, max_iter=50, random_state=1)
    assert clone(tm).get_params() == tm.get_params()
    with pytest.raises(NotFittedError):
        tm.transform(DOCS)
    assert tm.fit(DOCS) is tm
    shares = tm.transform(["wiki portal", "craft mentor", "unknown words only"])
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert shares[2] == pytest.approx([0.5, 0.5])
    assert np.argmax(shares[0]) != np.argmax(shares[1])
    again = pickle.loads(pickle.dumps(tm))
    np.testing.assert_allclose(again.transform(["wiki portal"]), tm.transform(["wiki portal"]))
    tags = tm.__sklearn_tags__()
    assert tags.input_tags.string


@pytest.mark.parametrize("bad", ["one string", [1, 2], ["only one"]])
def test_topic_model_rejects_bad_input(bad):
    with pytest.raises(KmdError):
        TopicModel(2).fit(bad)


def test_topic_model_gensim_engine_runs():
    tm = TopicModel(2, engine="gensim", max_iter=5, random_state=0).fit(DOCS)
    assert tm.components_.shape[0] == 2
    assert np.allclose(tm.doc_topic_.sum(axis=1), 1.0)


# --- outputs -----------------------------------------------------------------------------------

def test_write_topic_outputs_files_and_escaping(tmp_path):
    df = planted_corpus("en", n_docs=80, seed=9)
    lem = lemmas_of(df)
    lem[0] = lem[0] + ["<script>alert(1)</script>"] * 40  # a hostile "term" must be escaped
    res = fit_topics(df, lem, k=3, seed=0, n_boot=20, dynamic=True, dynamic_iter=20, **KW)
    write_topic_outputs(res, tmp_path)
    for name in ("topics.csv", "doc_topics.parquet", "prevalence.csv", "effects.csv", "coherence.csv",
                 "prevalence.png", "topics.html", "topic_terms_by_period.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert list(pd.read_csv(tmp_path / "topics.csv").columns) == ["topic", "rank", "term", "weight"]
    dyn = pd.read_csv(tmp_path / "topic_terms_by_period.csv", dtype={"period": str})
    assert list(dyn.columns) == ["topic", "period", "rank", "term", "weight"]
    assert set(dyn["topic"]) == set(res.topics["topic"])
    assert dyn["period"].nunique() == 11
    page = (tmp_path / "topics.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page
    assert "http" not in page.replace("http-equiv", "")  # nothing loaded from the network
    assert (tmp_path / "prevalence.png").read_bytes()[:4] == b"\x89PNG"


# --- the command line --------------------------------------------------------------------------

def _write_jsonl(df: pd.DataFrame, path):
    import json

    with open(path, "w", encoding="utf-8") as fh:
        for r in df.itertuples(index=False):
            fh.write(json.dumps({"id": r.doc_id, "text": r.text, "date": r.date.isoformat(), "genre": r.genre,
                                 "lang": r.lang}, ensure_ascii=False) + "\n")


@pytest.mark.parametrize("extra", [["--k", "3", "--by", "quarter", "--unit", "passage"]])
def test_cli_topics_writes_outputs(tmp_path, extra):
    from click.testing import CliRunner

    from kmdiscourse.cli import cli

    corpus = tmp_path / "c"
    corpus.mkdir()
    _write_jsonl(planted_corpus("en", n_docs=60, seed=2), corpus / "posts.jsonl")
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["topics", str(corpus), "-o", str(out), *extra])
    assert res.exit_code == 0, res.output
    assert "K=3" in res.stderr
    prev = pd.read_csv(out / "prevalence.csv")
    assert prev["period"].str.match(r"^\d{4}-Q[1-4]$").all()
    assert "passage_id" in pd.read_parquet(out / "doc_topics.parquet").columns
    bad = CliRunner().invoke(cli, ["topics", str(corpus), "-o", str(out), "--k", "many"])
    assert bad.exit_code == 2 and "--k" in bad.output


def test_effects_table_intervals_match_plain_per_replicate_regression():
    """The per-document shortcut of the bootstrap gives the intervals of refitting every
    replicate on all units (several units per document, one genre missing in some replicates)."""
    from kmdiscourse.topics import _bootstrap_weights, _doc_codes

    rng = np.random.default_rng(3)
    n_units = 90
    doc = rng.integers(0, 30, n_units).astype(str)
    years = rng.uniform(2000, 2015, n_units)
    genre = np.where(rng.random(n_units) < 0.1, "academic", "business")  # rare: some replicates lack it
    shares = rng.dirichlet(np.ones(3), n_units)
    units = pd.DataFrame({"doc_id": doc, "date": [dt.date(int(y), 1 + int((y % 1) * 11), 1) for y in years],
                          "genre": genre})
    eff = effects_table(shares, units, ["a", "b", "c"], n_boot=120, seed=7)
    # the same replicates, refitted one by one on every unit
    from kmdiscourse.topics import decimal_year

    yr = units["date"].map(decimal_year).to_numpy()
    X = np.column_stack([np.ones(n_units), (genre == "academic").astype(float), yr - yr.mean()])
    codes, n = _doc_codes(doc)
    r = np.random.default_rng(7)
    reps = []
    for start in range(0, 120, 50):
        for w in _bootstrap_weights(r, n, min(50, 120 - start))[:, codes]:
            xtw = X.T * w
            try:
                reps.append(np.linalg.solve(xtw @ X, xtw @ shares))
            except np.linalg.LinAlgError:
                continue
    reps = np.array(reps)
    for j, name in ((1, "academic_minus_business"), (2, "trend_per_year")):
        got = eff[eff["effect"] == name].set_index("topic")
        np.testing.assert_allclose(got["ci_low"].to_numpy(), np.quantile(reps[:, j, :], 0.025, axis=0), atol=1e-9)
        np.testing.assert_allclose(got["ci_high"].to_numpy(), np.quantile(reps[:, j, :], 0.975, axis=0), atol=1e-9)


def test_topics_reuse_lemmas_cached_by_preprocess(tmp_path):
    """After `preprocess`, `topics` reads the cached lemmas (the cache file is not rewritten)
    and leaves boilerplate passages out of the model."""
    from click.testing import CliRunner

    from kmdiscourse.cli import cli
    from kmdiscourse.ingest import open_corpus
    from kmdiscourse.topics import content_lemmas

    corpus = tmp_path / "c"
    corpus.mkdir()
    _write_jsonl(planted_corpus("en", n_docs=40, seed=4), corpus / "posts.jsonl")
    store = tmp_path / "s.kmd"
    assert CliRunner().invoke(cli, ["-q", "ingest", str(corpus), "-o", str(store)]).exit_code == 0
    assert CliRunner().invoke(cli, ["-q", "preprocess", str(store)]).exit_code == 0
    cache = store / "lemmas.parquet"
    before = cache.read_bytes()
    c = open_corpus(store)
    c.passages["boilerplate"] = False
    c.passages.loc[c.passages.index[:3], "boilerplate"] = True
    passages, lemmas = content_lemmas(c)
    assert cache.read_bytes() == before
    assert len(passages) == len(lemmas) == len(c.passages) - 3
    assert not passages["boilerplate"].any() and all(lemmas)
