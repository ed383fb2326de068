"""Topics: the --iterations budget, and the vectorised helpers against plain per-row versions."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from kmdiscourse.errors import KmdError
from kmdiscourse.topics import TopicModel, _csr_to_words, build_units, run_topics
from test_topics import _write_jsonl, planted_corpus


@pytest.fixture()
def corpus_dir(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    _write_jsonl(planted_corpus("en", n_docs=40, seed=3), corpus / "posts.jsonl")
    return corpus


def _run_cli(args):
    from click.testing import CliRunner

    from kmdiscourse.cli import cli

    return CliRunner().invoke(cli, ["topics", *args])


def test_cli_iterations_sets_the_sweeps(corpus_dir, tmp_path, monkeypatch):
    import tomotopy as tp

    seen = []
    train = tp.LDAModel.train

    def spy(self, iterations=10, *a, **kw):
        seen.append(iterations)
        return train(self, iterations, *a, **kw)

    monkeypatch.setattr(tp.LDAModel, "train", spy)
    res = _run_cli([str(corpus_dir), "-o", str(tmp_path / "o7"), "--k", "3", "--iterations", "7"])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "o7" / "topics.json").read_text())
    assert seen == [7]
    assert meta["iterations"] == {"en": 7} and meta["params"]["iterations"] == 7

    seen.clear()
    res = _run_cli([str(corpus_dir), "-o", str(tmp_path / "auto"), "--k", "3"])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "auto" / "topics.json").read_text())
    assert meta["params"]["iterations"] == "auto"
    assert seen == [meta["iterations"]["en"]] and 200 <= seen[0] <= 1000 and seen[0] != 7


@pytest.mark.parametrize("bad", ["0", "-3", "many", "2.5"])
def test_cli_iterations_rejects_bad_values(corpus_dir, tmp_path, bad):
    res = _run_cli([str(corpus_dir), "-o", str(tmp_path / "o"), "--iterations", bad])
    assert res.exit_code == 2 and "--iterations" in res.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_run_topics_rejects_bad_iterations(corpus_dir, tmp_path, bad):
    with pytest.raises(KmdError, match="iterations"):
        run_topics(corpus_dir, tmp_path / "o", k=3, iterations=bad)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_nmf_records_its_iterations():
    docs = ["a b a b c f", "c d c d e f", "a b b a e", "d c e d a"] * 5
    assert TopicModel(2, method="nmf", max_iter=5, random_state=0).fit(docs).n_iter_ <= 5


# --- vectorised helpers ---------------------------------------------------------------------------

def test_csr_to_words_matches_per_row_repeat():
    rng = np.random.default_rng(0)
    dense = rng.integers(0, 3, size=(9, 6)) * (rng.random((9, 6)) < 0.4)
    dense[[0, 4, 8]] = 0  # empty rows, first and last included
    m = sp.csr_matrix(dense)
    vocab = np.array(list("abcdef"), dtype=object)
    want = [np.repeat(vocab[m.indices[s:e]], m.data[s:e]).tolist() for s, e in zip(m.indptr[:-1], m.indptr[1:])]
    assert _csr_to_words(m, vocab) == want
    assert _csr_to_words(sp.csr_matrix((0, 6), dtype=np.int32), vocab) == []


def _units_by_groupby(passages, lemmas):
    """build_units' document units computed the plain way (a function per group)."""
    df = pd.DataFrame({"doc_id": passages["doc_id"].astype(str).to_numpy(), "position": passages["position"].to_numpy(),
                       "lang": passages["lang"].astype(object).to_numpy(),
                       "date": passages["date"].astype(object).to_numpy(),
                       "genre": passages["genre"].astype(object).to_numpy(), "text": [" ".join(x) for x in lemmas]})
    df = df[df["lang"].isin(["en", "ru"])].sort_values(["doc_id", "lang", "position"], kind="stable")
    g = df.groupby(["doc_id", "lang"], sort=False)
    return g.agg(date=("date", "first"), genre=("genre", "first"),
                 text=("text", lambda s: " ".join(x for x in s if x))).reset_index()


def test_build_units_document_matches_groupby():
    import datetime as dt

    passages = pd.DataFrame({
        "doc_id": ["b", "a", "b", "a", "c", "a", "b", "d", "d"],
        "passage_id": [f"p{i}" for i in range(9)],
        "position": [1, 2, 0, 0, 0, 1, 2, 0, 1],
        "lang": ["en", "en", "en", "ru", "de", "en", "ru", "en", "en"],
        "date": [dt.date(2020, 1, 2)] * 4 + [None, dt.date(2021, 5, 6), None, None, dt.date(2019, 1, 1)],
        "genre": ["business", "academic", "business", "academic", "business", None, "business", "academic", None],
    })
    lemmas = [["x", "y"], ["z"], [], ["м"], ["q"], ["w", "w"], ["и"], [], ["v"]]
    got = build_units(passages, lemmas)
    pd.testing.assert_frame_equal(got, _units_by_groupby(passages, lemmas), check_exact=True)
    assert got.loc[(got["doc_id"] == "b") & (got["lang"] == "en"), "text"].item() == "x y"


def test_tomotopy_shares_are_the_final_assignment_counts():
    docs = ["a b a b c c", "c d c d e", "a b b a", "", "d c e d e"] * 4
    tm = TopicModel(3, max_iter=20, random_state=1, max_df=1.0).fit(docs)
    k = 3
    want = np.full((len(docs), k), 1.0 / k)
    model_docs = list(tm.model_.docs)
    for i, j in enumerate(tm._tp_index):
        if j >= 0:
            c = np.bincount(np.asarray(model_docs[j].topics), minlength=k)
            want[i] = c / c.sum()
    np.testing.assert_array_equal(tm.doc_topic_, want)


def test_bootstrap_tables_do_not_depend_on_blas_threads():
    from threadpoolctl import threadpool_limits

    from kmdiscourse.topics import effects_table, prevalence_table

    rng = np.random.default_rng(4)
    n = 3000  # large enough for OpenBLAS to split a product between threads
    units = pd.DataFrame({"doc_id": [f"d{i}" for i in range(n)],
                          "date": pd.to_datetime("2010-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), unit="D"),
                          "genre": rng.choice(["business", "academic"], n), "lang": "en"})
    shares = rng.dirichlet(np.full(5, 0.3), size=n)
    names = [f"t{i}" for i in range(5)]
    got = {}
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            got[threads] = (prevalence_table(shares, units, names, n_boot=100, seed=3),
                            effects_table(shares, units, names, n_boot=100, seed=3))
    for a, b in zip(got[1], got[2]):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
