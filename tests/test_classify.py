"""The why/how/other classifier: output contract, model files, safe loading, evaluation."""
from __future__ import annotations

import datetime as dt
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import kmdiscourse
from kmdiscourse.classify import (OUTPUT_COLUMNS, PassageClassifier, TRUSTED_TYPES, classify_passages,
                                  default_model_path, evaluate, keyword_baseline, load_model, read_labels,
                                  read_model_card, save_model, train_model)
from kmdiscourse.cli import cli
from kmdiscourse.errors import ModelError, RecordError
from kmdiscourse.features import cue_counts, load_lexicon, matched_terms, pattern_counts, PATTERN_NAMES

from conftest import shared_or_skip

# Tiny training set written for these tests (codebook style, en and ru).
TRAIN = [
    ("Firms that share what engineers learn avoid repeating costly mistakes, and that saving pays for the time.", "why"),
    ("Knowledge is the key asset of a consultancy: losing it when experts retire is a risk no board should accept.", "why"),
    ("Investing in communities of practice gives a competitive advantage and a clear return on investment.", "why"),
    ("Why bother? Because companies that ignore what their people know lose money every year.", "why"),
    ("Компании, которые не вкладываются в обмен опытом, теряют знания вместе с уходящими сотрудниками.", "why"),
    ("Управление знаниями окупается: выгода от повторного использования опыта превышает затраты.", "why"),
    ("Зачем компании сообщество? Это конкурентное преимущество и ценность для бизнеса.", "why"),
    ("Потеря ключевых экспертов — прямой риск для прибыли, и руководству стоит это признать.", "why"),
    ("Start with a small core group, schedule a monthly call, and give one person two hours to moderate.", "how"),
    ("First, appoint a facilitator. Then set up a wiki page for questions and review it every week.", "how"),
    ("We started by interviewing retiring engineers and recorded each session on the intranet.", "how"),
    ("Use a simple template for lessons learned and tag every entry so the search finds it.", "how"),
    ("Для запуска сообщества назначьте координатора, определите тему и проводите встречи раз в месяц.", "how"),
    ("Сначала соберите частые вопросы, затем напишите короткие ответы и выложите их на портал.", "how"),
    ("Мы начали с пилотного проекта: выбрали один отдел и провели три семинара.", "how"),
    ("Назначьте модератора базы знаний и утвердите регламент обновления статей.", "how"),
    ("The term was coined in the early 1990s to describe apprenticeship in situated learning.", "other"),
    ("Posted in Knowledge Sharing. Tagged communities. Leave a comment.", "other"),
    ("This paper reviews the literature on tacit knowledge (Polanyi, 1966; Nonaka, 1994).", "other"),
    ("A community of practice is defined as a group of people who share a concern.", "other"),
    ("Понятие сообщества практики описывает группу людей, объединённых общим делом.", "other"),
    ("УДК 005.94. Ключевые слова: управление знаниями, сообщество практики.", "other"),
    ("В статье рассматривается история термина и подходы разных авторов.", "other"),
    ("Комментарии закрыты. Все права защищены.", "other"),
]
TEXTS = [t for t, _ in TRAIN]
LABELS_ = [y for _, y in TRAIN]


@pytest.fixture(scope="module")
def tiny_model() -> PassageClassifier:
    return PassageClassifier(calibration_cv=2, min_df=1).fit(TEXTS, LABELS_)


@pytest.fixture(scope="module")
def tiny_model_file(tiny_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.skops"
    save_model(tiny_model, path, {"note": "test"})
    return path


def _passages(rows):
    base = {"doc_id": "d1", "source": "x.txt", "date": None, "genre": "business", "source_type": "blog",
            "title": None, "url": None, "position": 0}
    return pd.DataFrame([{**base, "passage_id": f"d1:{i}", "text": t, "lang": lang} for i, (t, lang) in enumerate(rows)])


# --- features ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,family", [
    ("The benefits are clear.", "value"),
    ("Ценность знаний очевидна.", "value"),
    ("We started by mapping experts.", "report_we"),
    ("Мы начали с карты экспертов.", "report_we"),
    ("Posted in News. Leave a comment.", "boilerplate"),
    ("Под знанием понимается информация.", "definition"),
])
def test_cues_shared_families_match_both_languages(text, family):
    assert family in matched_terms(text)


@pytest.mark.parametrize("text,name,minimum", [
    ("Start with a core group. Then schedule a call.", "imperative", 2),
    ("Назначьте координатора и проводите встречи.", "imperative", 2),
    ("As shown earlier (Wenger, 1998), and in [12].", "citation", 2),
    ("1. Plan\n2. Launch\n3. Review", "numbered", 3),
    ("Costs fell by 20% in 2004.", "percent", 1),
])
def test_patterns_count(text, name, minimum):
    assert pattern_counts(text, load_lexicon())[PATTERN_NAMES.index(name)] >= minimum


def test_russian_imperative_exceptions_are_not_imperatives():
    v = pattern_counts("Информация на сайте о работе.", load_lexicon())
    assert v[PATTERN_NAMES.index("imperative")] == 0


# --- estimator behaviour -----------------------------------------------------------------------

def test_classifier_probabilities_sum_to_one_and_order(tiny_model):
    P = tiny_model.predict_proba(TEXTS)
    assert P.shape == (len(TEXTS), 3)
    assert np.allclose(P.sum(axis=1), 1.0)
    assert (tiny_model.predict(TEXTS) == np.asarray(LABELS_)).mean() > 0.7


def test_classifier_rejects_bad_labels():
    with pytest.raises(ValueError, match="not one of"):
        PassageClassifier().fit(["a b", "c d"], ["why", "maybe"])


def test_classifier_chunks_give_same_result(tiny_model):
    from sklearn.base import clone

    small = clone(tiny_model).set_params(chunk_size=3).fit(TEXTS, LABELS_)
    assert np.allclose(small.predict_proba(TEXTS), tiny_model.predict_proba(TEXTS))


def test_evidence_names_terms_with_signs(tiny_model):
    _, ev = tiny_model.predict_with_evidence(["Назначьте координатора и проводите встречи раз в месяц."])
    assert ev[0].startswith("+")
    assert all(tok[0] in "+-" for tok in ev[0].split())


# --- classify output contract ------------------------------------------------------------------

def test_classify_passages_columns_and_unlabelled_languages(tiny_model):
    df = classify_passages(_passages([
        ("Start with a small core group and schedule a monthly call.", "en"),
        ("Понятие сообщества практики описывает группу людей.", "ru"),
        ("Dies ist ein deutscher Absatz über Wissen.", "other"),
    ]), tiny_model)
    assert list(df.columns) == list(OUTPUT_COLUMNS)
    assert df["label"].iloc[:2].isin(["why", "how", "other"]).all()
    assert pd.isna(df["label"].iloc[2]) and pd.isna(df["p_why"].iloc[2])
    assert np.allclose(df[["p_why", "p_how", "p_other"]].iloc[:2].sum(axis=1), 1.0, atol=1e-3)


def test_classify_jsonl_record_is_one_row(tmp_path, tiny_model):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "r.jsonl").write_text(json.dumps(
        {"id": "rec-1", "text": "Назначьте координатора, определите тему и проводите встречи раз в месяц."},
        ensure_ascii=False) + "\n", encoding="utf-8")
    df = kmdiscourse.classify(tmp_path / "c", tiny_model)
    assert len(df) == 1 and df["doc_id"].iloc[0] == "rec-1"
    assert list(df.columns) == list(OUTPUT_COLUMNS)


def test_classify_jobs_give_identical_output(tiny_model):
    rows = [(t, "ru" if any("а" <= c <= "я" for c in t) else "en") for t in TEXTS * 120]
    pas = _passages(rows)
    a = classify_passages(pas, tiny_model, jobs=1)
    b = classify_passages(pas, tiny_model, jobs=2)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("out", ["-", "labels.csv", "labels.jsonl", "labels.parquet"])
def test_cli_classify_writes_output_and_summary(small_corpus, tiny_model_file, tmp_path, out, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["classify", str(small_corpus), "-o", out, "--model", str(tiny_model_file),
                                 "--by", "year"])
    assert r.exit_code == 0, r.output
    if out == "-":
        assert r.stdout.splitlines()[0] == ",".join(OUTPUT_COLUMNS)
    else:
        df = {"csv": pd.read_csv, "jsonl": lambda p: pd.read_json(p, lines=True),
              "parquet": pd.read_parquet}[out.rsplit(".", 1)[1]](tmp_path / out)
        assert list(df.columns) == list(OUTPUT_COLUMNS)
    assert "mean calibrated probability" in r.stderr and "95%" in r.stderr


# --- model files ------------------------------------------------------------------------------

def test_model_card_written_beside_model(tiny_model_file):
    card = read_model_card(tiny_model_file)
    assert card["format"] == "kmdiscourse-model" and card["note"] == "test"
    assert set(card["versions"]) >= {"scikit-learn", "skops", "kmdiscourse"}


def test_model_round_trip_and_trusted_types(tiny_model, tiny_model_file):
    import skops.io as sio

    assert set(sio.get_untrusted_types(file=tiny_model_file)) <= set(TRUSTED_TYPES)
    again = load_model(tiny_model_file)
    assert np.allclose(again.predict_proba(TEXTS), tiny_model.predict_proba(TEXTS))


def test_load_model_refuses_pickle(tmp_path, tiny_model):
    p = tmp_path / "evil.skops"
    p.write_bytes(pickle.dumps(tiny_model))
    with pytest.raises(ModelError, match=r"evil\.skops: a pickle"):
        load_model(p)


def test_load_model_refuses_foreign_types(tmp_path):
    import skops.io as sio
    from collections import OrderedDict

    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    p = tmp_path / "foreign.skops"
    sio.dump(Pipeline([("f", FunctionTransformer(OrderedDict))]), p)  # a type not on the list
    with pytest.raises(ModelError, match="foreign.skops"):
        load_model(p)


def test_load_model_refuses_tampered_file(tmp_path, tiny_model_file):
    p = tmp_path / "tampered.skops"
    with zipfile.ZipFile(tiny_model_file) as src, zipfile.ZipFile(p, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "schema.json":
                data = data.replace(b'"__class__": "CueFeatures",\n  ', b'"__class__": "system",\n  ', 1)
                data = data.replace(b'"__module__": "kmdiscourse.features"', b'"__module__": "posix"', 1)
            dst.writestr(item, data)
    with pytest.raises(ModelError, match="tampered.skops"):
        load_model(p)


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"PK\x03\x04garbage"])
def test_cli_bad_model_is_one_error_line(tmp_path, small_corpus, content):
    import subprocess
    import sys

    p = tmp_path / "bad.skops"
    p.write_bytes(content)
    r = subprocess.run([sys.executable, "-m", "kmdiscourse", "classify", str(small_corpus), "-o", "-",
                        "--model", str(p)], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip().startswith("Error:") and "bad.skops" in r.stderr
    assert "Traceback" not in r.stderr


def test_default_model_ships_with_card():
    if not default_model_path().is_file():
        pytest.skip("the default model is not built (make model)")
    card = read_model_card()
    assert card["training_data"]["sha256"] and card["training_data"]["label_counts"]
    cv = card["cv_metrics"]
    assert {"macro_f1", "brier", "ece", "confusion"} <= set(cv)
    clf = load_model()
    assert set(clf.classes_) == {"why", "how", "other"}


# --- train / evaluate ------------------------------------------------------------------------

def test_read_labels_names_file_and_line(tmp_path):
    p = tmp_path / "l.jsonl"
    p.write_text('{"text": "fine", "label": "why"}\n{"text": "bad", "label": "maybe"}\n', encoding="utf-8")
    with pytest.raises(RecordError, match=r"l\.jsonl:2: label 'maybe'"):
        read_labels([p])


def test_train_is_deterministic_for_a_seed():
    df = pd.DataFrame({"text": TEXTS, "label": LABELS_})
    a, card = train_model(df, base="none", seed=3, cv_folds=2, params={"calibration_cv": 2, "min_df": 1})
    b, _ = train_model(df, base="none", seed=3, cv_folds=0, params={"calibration_cv": 2, "min_df": 1})
    assert np.array_equal(a.predict_proba(TEXTS), b.predict_proba(TEXTS))
    assert card["training_data"]["n"] == len(TEXTS) and "brier" in card["cv_metrics"]


def test_cli_train_and_evaluate(tmp_path):
    labels = tmp_path / "mine.csv"
    pd.DataFrame({"text": TEXTS, "label": LABELS_}).to_csv(labels, index=False)
    model = tmp_path / "m.skops"
    r = CliRunner().invoke(cli, ["train", str(labels), "-o", str(model), "--base", "none", "--cv", "2"])
    assert r.exit_code == 0, r.output
    assert model.is_file() and model.with_suffix(".json").is_file()
    r = CliRunner().invoke(cli, ["evaluate", str(labels), "--model", str(model), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert {"all", "en", "ru"} <= set(res["groups"]) or "all" in res["groups"]
    assert "keyword_baseline" in res["groups"]["all"]


def test_keyword_baseline_follows_hints():
    pred = keyword_baseline(["The value and benefit and return on investment.", "Posted in news. Leave a comment."])
    assert list(pred) == ["why", "other"]


def test_default_model_on_gold_dev_beats_keywords():
    gold = shared_or_skip("data", "gold_dev.jsonl")
    if not default_model_path().is_file():
        pytest.skip("the default model is not built (make model)")
    res = evaluate(gold, n_boot=50)
    for lang in ("en", "ru"):
        g = res["groups"][lang]
        assert g["macro_f1"] > g["keyword_baseline"]["macro_f1"]


def test_character_ngrams_option_fast_path_and_round_trip(tmp_path):
    import skops.io as sio

    clf = PassageClassifier(char_ngrams=(3, 4), min_df=1).fit(TEXTS, LABELS_)
    names = set(clf.feature_names_)
    assert any(n.startswith("chars__") for n in names)
    # the chunked fast path gives exactly what the sklearn union gives
    fast = clf._features(TEXTS).toarray()
    assert np.allclose(fast, clf.features_.transform(TEXTS).toarray())
    path = save_model(clf, tmp_path / "char.skops")
    assert set(sio.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)
    assert np.allclose(load_model(path).predict_proba(TEXTS), clf.predict_proba(TEXTS))
    # switching the block off removes those features
    assert not any(n.startswith("chars__") for n in PassageClassifier(min_df=1).fit(TEXTS, LABELS_).feature_names_)


# --- streaming classify (issue 8: memory flat in corpus size) ---------------------------------

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "sample"


@pytest.fixture(scope="module")
def sample_reference(tiny_model):
    """The table of the in-memory API on corpora/sample: what the streaming CLI must write."""
    return kmdiscourse.classify(SAMPLE, tiny_model)


def _count_batches(monkeypatch):
    import kmdiscourse.classify as kc

    calls = []
    real = kc._chunks_of  # each batch is cut into chunks by it, in this process, with or without the pool

    def spy(batch, *args, **kwargs):
        calls.append(len(batch))
        return real(batch, *args, **kwargs)

    monkeypatch.setattr(kc, "_chunks_of", spy)
    monkeypatch.setattr(kc, "BATCH", 37)  # several batches on the sample
    return calls


@pytest.mark.parametrize("out,jobs", [("-", "1"), ("labels.csv", "1"), ("labels.tsv", "1"), ("labels.jsonl", "1"),
                                      ("labels.parquet", "1"), ("labels.csv", "2"), ("labels.parquet", "2")])
def test_cli_classify_streams_the_same_output_and_summary(sample_reference, tiny_model_file, tmp_path, out, jobs,
                                                          monkeypatch):
    from kmdiscourse.store import export_table
    from kmdiscourse.trends import format_shares, label_shares

    calls = _count_batches(monkeypatch)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["classify", str(SAMPLE), "-o", out, "--model", str(tiny_model_file),
                                 "--by", "year", "--jobs", jobs])
    assert r.exit_code == 0, r.output
    assert len(calls) > 3 and max(calls) <= 37 and sum(calls) == len(sample_reference)
    df = sample_reference
    if out == "-":
        import io

        buf = io.StringIO()
        export_table(df, "-", stdout=buf)
        assert r.stdout == buf.getvalue()
    else:
        ref = tmp_path / ("ref." + out.rsplit(".", 1)[1])
        export_table(df, ref)
        if out.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / out), pd.read_parquet(ref))
            import pyarrow.parquet as pq

            assert pq.read_schema(tmp_path / out).types == pq.read_schema(ref).types
        else:
            assert (tmp_path / out).read_bytes() == ref.read_bytes()
    unlabelled = int(df["label"].isna().sum())
    assert format_shares(label_shares(df, None), unlabelled=unlabelled) in r.stderr
    assert format_shares(label_shares(df, "year")) in r.stderr
    assert f"Classified {len(df) - unlabelled} passages ({unlabelled} in other" in r.stderr


def _edge_passages():
    """Dated and undated passages, and a run of other-language ones filling whole batches."""
    rows = []
    for i, (t, y) in enumerate(TRAIN * 3):
        rows.append((t, "ru" if any("а" <= c <= "я" for c in t.lower()) else "en"))
    rows[10:30] = [("Dies ist ein deutscher Absatz über Wissen.", "other")] * 20
    df = _passages(rows)
    return df


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("dated", [False, True])
def test_classify_to_batches_unlabelled_and_undated(tiny_model, tmp_path, fmt, dated):
    from kmdiscourse.classify import classify_to
    from kmdiscourse.store import export_table
    from kmdiscourse.trends import label_shares

    pas = _edge_passages()
    if dated:  # the first batch undated, later ones dated
        pas["date"] = [None] * 12 + [f"20{10 + i % 9}-0{1 + i % 9}-15" for i in range(len(pas) - 12)]
    ref = classify_passages(pas, tiny_model)
    export_table(ref, tmp_path / f"ref.{fmt}")
    res = classify_to(pas, tmp_path / f"out.{fmt}", tiny_model, by="month", batch_size=10)
    if fmt == "parquet":
        a, b = pd.read_parquet(tmp_path / f"out.{fmt}"), pd.read_parquet(tmp_path / f"ref.{fmt}")
        pd.testing.assert_frame_equal(a, b)
        import pyarrow.parquet as pq

        if not dated:  # None throughout: typed null as to_parquet does. (Dated: a str column whose
            # first batch is empty is written string where to_parquet of the whole writes
            # large_string; the same table once read.)
            assert pq.read_schema(tmp_path / f"out.{fmt}").types == pq.read_schema(tmp_path / f"ref.{fmt}").types
    else:
        assert (tmp_path / f"out.{fmt}").read_bytes() == (tmp_path / f"ref.{fmt}").read_bytes()
    assert res.n == len(pas) and res.unlabelled == 20
    pd.testing.assert_frame_equal(res.shares, label_shares(ref))
    pd.testing.assert_frame_equal(res.shares_by, label_shares(ref, "month"))


def test_classify_to_jobs_give_identical_output(tiny_model, tmp_path):
    from kmdiscourse.classify import classify_to

    rows = [(t, "ru" if any("а" <= c <= "я" for c in t.lower()) else "en") for t in TEXTS * 120]
    pas = _passages(rows)
    classify_to(pas, tmp_path / "one.csv", tiny_model, jobs=1, batch_size=1000)
    # two batches on one pool of two workers, the first cut into several chunks
    res = classify_to(pas, tmp_path / "two.csv", tiny_model, jobs=2, batch_size=2500)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert res.n == len(pas) and res.unlabelled == 0
    ref = pd.read_csv(tmp_path / "one.csv")
    assert len(ref) == len(pas) and ref["label"].notna().all()


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_classify_to_workers_format_chunks_identically(tiny_model, tmp_path, monkeypatch, fmt):
    """Workers label, format and sum up chunks smaller than a batch and not aligned with it;
    the file and the shares are those of one process, of classify_passages + export_table."""
    import kmdiscourse.classify as kc
    from kmdiscourse.classify import classify_to
    from kmdiscourse.store import export_table
    from kmdiscourse.trends import label_shares

    pas = _edge_passages()
    pas["date"] = [None] * 7 + [f"20{10 + i % 9}-0{1 + i % 9}-15" for i in range(len(pas) - 7)]
    pas.loc[3, "text"] = '=HYPERLINK("x"), a "quoted" cell,\r\nover lines'
    pas.loc[5, "title"] = "-1 +2 =3"
    monkeypatch.setattr(kc, "JOB_CHUNK", 7)
    ref = classify_passages(pas, tiny_model)
    export_table(ref, tmp_path / f"ref.{fmt}")
    one = classify_to(pas, tmp_path / f"one.{fmt}", tiny_model, jobs=1, batch_size=25, by="year")
    two = classify_to(pas, tmp_path / f"two.{fmt}", tiny_model, jobs=2, batch_size=25, by="year")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        for name in ("one", "two"):
            pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.{fmt}"), pd.read_parquet(tmp_path / f"ref.{fmt}"))
        assert pq.read_schema(tmp_path / f"one.{fmt}") == pq.read_schema(tmp_path / f"two.{fmt}")
    elif fmt != "tsv":  # export_table writes TSV only for the .tsv suffix: compare it below
        assert (tmp_path / f"one.{fmt}").read_bytes() == (tmp_path / f"ref.{fmt}").read_bytes()
    if fmt == "csv":  # a spreadsheet would run it: neutralised
        assert "'=HYPERLINK" in (tmp_path / "one.csv").read_text(encoding="utf-8")
    assert (tmp_path / f"one.{fmt}").read_bytes() == (tmp_path / f"two.{fmt}").read_bytes()
    for res in (one, two):
        assert res.n == len(pas) and res.unlabelled == 20
        pd.testing.assert_frame_equal(res.shares, label_shares(ref))
        pd.testing.assert_frame_equal(res.shares_by, label_shares(ref, "year"))


def test_csv_rows_are_what_pandas_writes():
    import numpy as np

    from kmdiscourse.classify import _csv_header, _csv_rows
    from kmdiscourse.store import neutralise_frame

    texts = ["plain", 'with "quotes"', "a, comma", "line\nbreak", "carriage\rreturn", "=SUM(A1)", "-3.5",
             "+value -steps", "@user", "", " padded ", "тест, «кавычки»", None]
    n = len(texts)
    df = pd.DataFrame({
        "obj": pd.Series(texts, dtype=object),
        "str": pd.Series(texts, dtype="str"),
        "mixed": pd.Series([1, 2.5, None, np.nan, "x", True, dt.date(2020, 1, 2)] + ["y"] * (n - 7), dtype=object),
        "float": [0.1, 1e-05, 0.0, np.nan, 1234.5678, 1e16, -0.25, 0.3333, 1.0, 2.0, 3.0, 4.0, np.nan],
        "none": pd.Series([None] * n, dtype=object),
    })

    def by_pandas(frame, sep):
        return neutralise_frame(frame).to_csv(index=False, sep=sep)

    for sep in (",", "\t"):
        assert _csv_header(list(df.columns), sep) + _csv_rows(df, sep) == by_pandas(df, sep)
        # other column types: pandas itself
        other = df.assign(count=range(n), flag=[i % 2 == 0 for i in range(n)])
        assert _csv_header(list(other.columns), sep) + _csv_rows(other, sep) == by_pandas(other, sep)
    assert _csv_rows(df.iloc[0:0]) == ""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(_csv_rows(df), newline="")))
    firsts = [r[:2] for r in rows]  # object and str columns alike
    assert ["'=SUM(A1)"] * 2 in firsts and ["'@user"] * 2 in firsts and ["-3.5"] * 2 in firsts
    assert not any(cell.startswith(("=", "@")) for r in rows for cell in r)


def test_classify_to_unknown_format_fails_before_work(tiny_model, tmp_path):
    from kmdiscourse.classify import classify_to
    from kmdiscourse.errors import KmdError

    with pytest.raises(KmdError, match=r"out\.xlsx.*expected \.csv"):
        classify_to(_passages([("Start with a small group.", "en")]), tmp_path / "out.xlsx", tiny_model)
    assert not list(tmp_path.iterdir())


def test_iter_passages_batches_equal_read_passages(tmp_path):
    from kmdiscourse.ingest import ingest_path
    from kmdiscourse.store import iter_passages, passage_count, read_passages

    ingest_path(SAMPLE, tmp_path / "store")
    whole = read_passages(tmp_path / "store")
    parts = list(iter_passages(tmp_path / "store", batch_size=50))
    assert len(parts) == -(-len(whole) // 50) and passage_count(tmp_path / "store") == len(whole)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_classify_to_empty_table_like_export_table(tiny_model, tmp_path, fmt):
    from kmdiscourse.classify import classify_to
    from kmdiscourse.store import export_table

    empty = _passages([("Start with a small group.", "en")]).iloc[0:0]
    export_table(classify_passages(empty, tiny_model), tmp_path / f"ref.{fmt}")
    res = classify_to(empty, tmp_path / f"out.{fmt}", tiny_model, jobs=2)
    assert res.n == 0 and res.shares.empty
    if fmt == "parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"out.{fmt}"), pd.read_parquet(tmp_path / f"ref.{fmt}"))
    else:
        assert (tmp_path / f"out.{fmt}").read_bytes() == (tmp_path / f"ref.{fmt}").read_bytes()
