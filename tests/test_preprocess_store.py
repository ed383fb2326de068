"""preprocess_store and the first-run path of preprocess_passages (workers hash, lemmatise, count and
send Arrow columns): the same lemmas.parquet, byte for byte, as the general path."""
import shutil

import pandas as pd
import pytest

from kmdiscourse.errors import KmdError
from kmdiscourse.preprocess import LEMMAS, is_store_folder, preprocess_passages, preprocess_store


def _passages(n: int) -> pd.DataFrame:
    en = ["Communities of practice share knowledge across the firm.",
          "Knowledge management helps teams reuse lessons learned; wikis and communities of practice matter.",
          "Our CoPs meet monthly to share best practices and tacit knowledge.",
          "Lessons learned are stored in the knowledge base after each project."]
    ru = ["Сообщества практиков помогают делиться знаниями в компании.",
          "Управление знаниями требует базы знаний и сообщества практиков.",
          "Извлеченные уроки сохраняются в базе знаний после проекта."]
    rows = []
    for i in range(n):
        lang = "ru" if i % 3 == 0 else "en"
        pool = ru if lang == "ru" else en
        rows.append({"passage_id": f"d{i // 4}:{i % 4}", "text": f"{pool[i % len(pool)]} Item {i % 7}.", "lang": lang})
    rows[5]["lang"] = "de"  # no pipeline: [] and an empty key
    rows[7]["text"] = None  # a missing text
    return pd.DataFrame(rows)


def _general_path(df: pd.DataFrame, store, **kw) -> None:
    """The general path (as when cached rows exist): an engine that is not LocalEngine."""
    from kmdiscourse.engine import LocalEngine

    class Other:  # not a LocalEngine: parts carry their texts, as for Dask
        name = "other"
        workers = 2

        def map(self, func, partitions, *, shared=None, before_fork=None):
            yield from LocalEngine(1).map(func, partitions, shared=shared)

    preprocess_passages(df, store=store, engine=Other(), **kw)


@pytest.mark.parametrize("jobs,chunk", [(1, 40), (2, 40), (2, 500)])
def test_first_run_file_same_as_general_path(tmp_path, monkeypatch, jobs, chunk):
    import kmdiscourse.preprocess as pp

    monkeypatch.setattr(pp, "CACHE_ROW_GROUP", 64)
    df = _passages(300)
    ref, fresh = tmp_path / "ref", tmp_path / "fresh"
    ref.mkdir()
    fresh.mkdir()
    _general_path(df, ref, chunk=chunk, phrase_threshold=0.3)
    stats: dict = {}
    out = preprocess_passages(df, store=fresh, jobs=jobs, chunk=chunk, phrase_threshold=0.3, stats=stats)
    assert (fresh / LEMMAS).read_bytes() == (ref / LEMMAS).read_bytes()
    assert out.tolist() == pd.read_parquet(fresh / LEMMAS)["lemmas"].map(list).tolist()
    assert out.iloc[5] == [] and stats["computed"] == 299 and stats["reused"] == 0 and stats["phrases"] > 0


def test_preprocess_store_reads_only_the_store(tmp_path):
    from click.testing import CliRunner
    from conftest import SAMPLE

    from kmdiscourse.cli import cli
    from kmdiscourse.store import read_passages

    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(SAMPLE), "-o", str(tmp_path / "base.kmd")]).exit_code == 0
    assert is_store_folder(tmp_path / "base.kmd") and not is_store_folder(tmp_path)
    files = {}
    for name in ("passages", "store1", "store2", "cli2"):
        store = tmp_path / f"{name}.kmd"
        shutil.copytree(tmp_path / "base.kmd", store)
        stats: dict = {}
        if name == "passages":
            preprocess_passages(read_passages(store), store=store, stats=stats, return_lemmas=False)
        elif name.startswith("store"):
            preprocess_store(store, jobs=int(name[-1]), chunk=7, stats=stats)
        else:
            res = runner.invoke(cli, ["preprocess", str(store), "--jobs", "2"])
            assert res.exit_code == 0 and "Lemmatised" in res.output, res.output
        files[name] = (store / LEMMAS).read_bytes()
        if stats:
            assert stats["computed"] > 0 and stats["lemmas"] > 0
    assert files["passages"] == files["store1"] == files["store2"] == files["cli2"]
    # a re-run reuses every passage
    stats = {}
    preprocess_store(tmp_path / "store2.kmd", jobs=2, stats=stats)
    assert stats["computed"] == 0 and stats["reused"] > 0
    assert (tmp_path / "store2.kmd" / LEMMAS).read_bytes() == files["passages"]


def test_preprocess_store_errors_name_the_file(tmp_path):
    with pytest.raises(KmdError, match="passages.parquet: missing"):
        preprocess_store(tmp_path)
    (tmp_path / "passages.parquet").write_text("not parquet")
    with pytest.raises(KmdError, match="passages.parquet: cannot be read"):
        preprocess_store(tmp_path)


@pytest.mark.parametrize("n,workers,chunk", [(100_109, 2, None), (10_062, 4, None), (7, 2, None), (0, 2, None),
                                             (1_000, 1, None), (1_000, 2, 300)])
def test_tapered_parts_cover_the_passages_in_order(n, workers, chunk):
    from kmdiscourse.preprocess import _part_size, _tapered_parts

    parts = _tapered_parts(n, workers, chunk)
    assert [i for r in parts for i in r] == list(range(n))
    sizes = [len(r) for r in parts]
    size = _part_size(n, workers, chunk)
    assert all(0 < s <= size for s in sizes)
    if chunk or workers == 1:
        assert all(s == size for s in sizes[:-1])
    elif n > 8 * size:  # big parts first, small ones last
        assert sizes[0] == size and sizes[-2] < size // 2
