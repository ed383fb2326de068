"""The engine layer: partitions, local processes, and a Dask LocalCluster giving the same store."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from kmdiscourse.engine import LocalEngine, open_engine, partition
from kmdiscourse.errors import KmdError
from kmdiscourse.ingest import ingest_path


def _square_all(xs):
    return [x * x for x in xs]


@pytest.mark.parametrize("n,parts,max_size", [(10, 3, None), (7, 2, 2), (1, 4, None), (0, 2, None)])
def test_partition_keeps_order_and_items(n, parts, max_size):
    out = partition(list(range(n)), parts, max_size=max_size)
    assert [x for p in out for x in p] == list(range(n))
    assert all(p for p in out)
    if max_size:
        assert max(len(p) for p in out) <= max_size


@pytest.mark.parametrize("jobs", [1, 2])
def test_local_engine_map_in_partition_order(jobs):
    parts = partition(list(range(50)), 7)
    with open_engine("local", jobs=jobs) as eng:
        assert isinstance(eng, LocalEngine)
        got = [x for batch in eng.map(_square_all, parts) for x in batch]
    assert got == [x * x for x in range(50)]


@pytest.mark.parametrize("engine,scheduler", [("spark", None), ("local", "tcp://127.0.0.1:8786")])
def test_open_engine_rejects_bad_choice(engine, scheduler):
    with pytest.raises(KmdError):
        with open_engine(engine, scheduler=scheduler):
            pass


def _write_corpus(root):
    (root / "en").mkdir(parents=True)
    (root / "ru").mkdir()
    for i in range(6):
        (root / "en" / f"post-{i}.md").write_text(
            f"---\ntitle: Post {i}\ndate: 2015-0{i + 1}-10\ngenre: business\n---\n\n"
            f"Our team kept losing what engineers knew when they moved on, so we started a wiki number {i}.\n\n"
            "Every Friday two people write down one lesson from the week and link it to the project page.\n",
            encoding="utf-8")
        (root / "ru" / f"zametka-{i}.txt").write_text(
            f"Мы завели сообщество практиков номер {i}, чтобы инженеры делились опытом между филиалами.\n\n"
            "Раз в месяц участники разбирают один проект и записывают выводы в базу знаний компании.\n",
            encoding="utf-8")
    rows = [{"id": f"row-{i}", "text": f"Knowledge base article {i}: how to find an expert on pumps in five minutes.",
             "lang": "en", "date": "2020-02-02"} for i in range(5)]
    (root / "table.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def dask_engine():
    pytest.importorskip("distributed")
    with open_engine("dask", jobs=2) as eng:
        yield eng


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine") / "corpus"
    _write_corpus(root)
    return root


def test_ingest_dask_engine_equals_local(small_corpus, tmp_path, dask_engine):
    local = ingest_path(small_corpus, tmp_path / "local.kmd")
    dask = ingest_path(small_corpus, tmp_path / "dask.kmd", engine=dask_engine)
    assert len(local.passages) >= 20
    assert local.documents.equals(dask.documents)
    assert local.passages.equals(dask.passages)
    strip = lambda m: {k: v for k, v in m.items() if k != "created"}  # noqa: E731
    assert strip(local.manifest) == strip(dask.manifest)


def test_classify_dask_engine_equals_local(small_corpus, dask_engine):
    from kmdiscourse.classify import classify_passages, load_model

    passages = ingest_path(small_corpus).passages
    passages = pd.concat([passages] * 6, ignore_index=True)  # several chunks
    clf = load_model()
    clf.set_params(chunk_size=60)
    local = classify_passages(passages, clf)
    dask = classify_passages(passages, clf, engine=dask_engine)
    assert dask_engine.workers == 2
    assert set(local["label"].dropna()) <= {"why", "how", "other"}
    pd.testing.assert_frame_equal(local, dask)


def test_concepts_dask_engine_equals_local(small_corpus, dask_engine):
    from kmdiscourse.concepts import find_concepts

    passages = pd.concat([ingest_path(small_corpus).passages] * 5, ignore_index=True)
    local, ltok = find_concepts(passages, chunk=40)
    dask, dtok = find_concepts(passages, chunk=40, engine=dask_engine)
    assert len(local) > 0 and ltok.sum() > 0
    pd.testing.assert_frame_equal(local, dask)
    assert (ltok == dtok).all()


def test_classify_cli_engine_dask_equals_local(small_corpus, tmp_path):
    """`kmdiscourse classify --engine dask` writes the same table as the local engine."""
    pytest.importorskip("distributed")
    from click.testing import CliRunner

    from kmdiscourse.cli import cli

    outs = {}
    for engine in ("local", "dask"):
        out = tmp_path / f"{engine}.csv"
        res = CliRunner().invoke(cli, ["classify", str(small_corpus), "-o", str(out), "--engine", engine,
                                       "--jobs", "2"])
        assert res.exit_code == 0, res.output
        outs[engine] = pd.read_csv(out)
    assert len(outs["local"]) >= 20
    pd.testing.assert_frame_equal(outs["local"], outs["dask"])


def test_preprocess_dask_engine_equals_local(dask_engine):
    """Lemmas, word counts and term joining on 2 Dask workers: the same lemmas and terms."""
    from conftest import SAMPLE

    from kmdiscourse.preprocess import preprocess_passages

    passages = ingest_path(SAMPLE).passages
    local_stats, dask_stats = {}, {}
    local = preprocess_passages(passages, phrase_threshold=0.3, min_count=2, chunk=25, stats=local_stats)
    dask = preprocess_passages(passages, phrase_threshold=0.3, min_count=2, chunk=25, engine=dask_engine,
                               stats=dask_stats)
    assert len(passages) > 50 and local_stats["phrases"] > 0
    assert any("_" in t for lem in local for t in lem)  # some terms were joined
    assert local.tolist() == dask.tolist()
    assert local_stats == dask_stats


@pytest.mark.slow  # two LocalClusters, and concepts labels the passages with the classifier
def test_preprocess_and_concepts_cli_engine_dask_equal_local(tmp_path):
    """`preprocess --engine dask` writes the same lemmas, `concepts --engine dask` the same tables."""
    pytest.importorskip("distributed")
    from click.testing import CliRunner
    from conftest import SAMPLE

    from kmdiscourse.cli import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["ingest", str(SAMPLE), "-o", str(tmp_path / "base.kmd")])
    assert res.exit_code == 0, res.output
    outs = {}
    for engine in ("local", "dask"):
        store = tmp_path / f"{engine}.kmd"
        shutil.copytree(tmp_path / "base.kmd", store)
        res = runner.invoke(cli, ["preprocess", str(store), "--engine", engine, "--jobs", "2"])
        assert res.exit_code == 0, res.output
        res = runner.invoke(cli, ["concepts", str(store), "-o", str(tmp_path / f"concepts-{engine}"),
                                  "--engine", engine, "--jobs", "2"])
        assert res.exit_code == 0, res.output
        outs[engine] = {name: pd.read_csv(tmp_path / f"concepts-{engine}" / name)
                        for name in ("concept_mentions.csv", "concept_trends.csv", "concept_labels.csv")}
        outs[engine]["lemmas"] = pd.read_parquet(store / "lemmas.parquet")
    assert len(outs["local"]["concept_mentions.csv"]) > 0
    for name, table in outs["local"].items():
        pd.testing.assert_frame_equal(table, outs["dask"][name], obj=name)
