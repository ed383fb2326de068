"""The HTML report: content, escaping of corpus text, sections, size for a large corpus, CLI."""
from __future__ import annotations

import html.parser
import json
import re
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kmdiscourse.cli import cli
from kmdiscourse.report import (
    build_report,
    compute_shares,
    corpus_hash,
    json_for_script,
    period_of,
)

from report_tables import PLANTED, fake_classified, fake_concepts, fake_topics, make_corpus

STUB_JS = "window.vegaEmbed = function () { return Promise.resolve({view: {addEventListener: function () {}}}); };"


def page_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="kmd-data">(.*?)</script>', page, re.S)
    assert m, "no data block"
    return json.loads(m.group(1))


class Tags(html.parser.HTMLParser):
    """Counts start tags and collects attributes, as a browser's parser would see them."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(60, seed=1)


@pytest.fixture(scope="module")
def full_page(corpus):
    return build_report(corpus, classified=fake_classified(corpus), topics=fake_topics(corpus, k=3),
                        concepts=fake_concepts(corpus), title="KM <script>alert('t')</script> report",
                        bundle=STUB_JS)


@pytest.mark.parametrize("text", [PLANTED, "a</script>b", "<!--x-->", "]]>", "x\u2028y\u2029z", "&amp;<>"])
def test_json_for_script_escapes_markup(text):
    s = json_for_script({"t": text, "list": [text]})
    assert "<" not in s and ">" not in s and "&" not in s and "\u2028" not in s
    assert json.loads(s) == {"t": text, "list": [text]}


def test_report_planted_markup_stays_text(full_page):
    # exactly the page's own three scripts; no <img>, no javascript: link in the markup
    tags = Tags()
    tags.feed(full_page)
    scripts = [a for t, a in tags.tags if t == "script"]
    assert len(scripts) == 3
    assert [t for t, _ in tags.tags if t in ("img", "iframe", "object", "embed", "a") and _.get("href", "").startswith("javascript")] == []
    assert not any(t == "img" for t, _ in tags.tags)
    assert "window.__pwned" not in full_page.split('id="kmd-data">')[0]
    assert "<script>window.__pwned" not in full_page
    # the title is escaped where the server writes it
    assert "KM &lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt; report" in full_page
    # and the planted text comes back intact from the JSON, for textContent to show
    data = page_data(full_page)
    texts = [r[data["passages"]["fields"].index("text")] for r in data["passages"]["rows"]]
    assert any(t.startswith("Planted: <script>") for t in texts)
    files = data["sections"]["overview"]["skipped_files"]
    assert files and files[0]["detail"] == "<img src=x onerror=alert(1)>"


def test_report_app_renders_text_with_textcontent_only(full_page):
    app = full_page.split('id="kmd-data">', 1)[1].split("</script>", 1)[1]
    assert "textContent" in app
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in app


@pytest.mark.parametrize("section", ["overview", "shares", "topics", "concepts", "methods"])
def test_report_sections_present(full_page, section):
    assert f'<section id="{section}"' in full_page


@pytest.mark.parametrize("chart", ["chart-overview", "chart-shares", "chart-topics", "chart-effects",
                                   "chart-concepts", "chart-mix"])
def test_report_charts_have_points_with_examples(full_page, chart):
    data = page_data(full_page)
    spec = data["charts"][chart]
    values = json.dumps(spec)
    assert '"ex"' in values
    keys = set(re.findall(r'"ex": "([^"]+)"', values))
    with_examples = [k for k in keys if data["passages"]["groups"].get(k)]
    assert with_examples, f"no point of {chart} leads to passages"


def test_report_methods_box(full_page, corpus):
    m = page_data(full_page)["methods"]
    assert m["corpus_sha256"] == corpus_hash(corpus) and re.fullmatch(r"[0-9a-f]{64}", m["corpus_sha256"])
    assert m["versions"]["kmdiscourse"] and m["versions"]["python"]
    assert m["period"] == "year"


def test_report_without_stages_says_what_is_missing(corpus):
    page = build_report(corpus, bundle=STUB_JS)
    data = page_data(page)
    assert set(data["charts"]) == {"chart-overview"}
    assert {"shares", "topics", "concepts"} <= set(data["notes"])


def test_report_example_passages_are_sampled(corpus):
    page = build_report(corpus, classified=fake_classified(corpus), bundle=STUB_JS, max_passages=10)
    data = page_data(page)
    assert 0 < len(data["passages"]["rows"]) <= 10


@pytest.mark.parametrize("by,value,expected", [("year", "2005-12-19", "2005"), ("quarter", "2005-12-19", "2005-Q4"),
                                               ("month", "2005-02-01", "2005-02"), ("year", None, None)])
def test_period_of_formats(by, value, expected):
    got = period_of(pd.Series([value]), by).iloc[0]
    assert (got if not pd.isna(got) else None) == expected


def test_compute_shares_means_and_intervals():
    rng = np.random.default_rng(3)
    n = 400
    p_why = rng.uniform(0.5, 0.9, n)
    p_how = (1 - p_why) * 0.7
    df = pd.DataFrame({"doc_id": [f"d{i // 4}" for i in range(n)], "passage_id": [f"p{i}" for i in range(n)],
                       "lang": "en", "genre": "business", "date": "2010-05-05", "label": "why",
                       "p_why": p_why, "p_how": p_how, "p_other": 1 - p_why - p_how})
    s = compute_shares(df, "year")
    row = s[(s["genre"] == "business") & (s["label"] == "why")].iloc[0]
    assert row["share"] == pytest.approx(p_why.mean())
    assert row["ci_low"] < row["share"] < row["ci_high"]
    assert row["ci_high"] - row["ci_low"] < 0.05
    sums = s.groupby(["period", "lang", "genre"])["share"].sum()
    assert np.allclose(sums, 1.0)
    assert set(s["genre"]) == {"business", "all"}


@pytest.mark.parametrize("by", ["quarter"])
def test_report_size_for_10000_documents(by):
    corpus = make_corpus(10_000, seed=2)
    t0 = time.perf_counter()
    page = build_report(corpus, classified=fake_classified(corpus), topics=fake_topics(corpus, k=10, by=by),
                        concepts=fake_concepts(corpus, by=by), by=by)
    seconds = time.perf_counter() - t0
    size = len(page.encode("utf-8"))
    assert size < 4_000_000, f"{size / 1e6:.1f} MB"
    assert seconds < 120
    data = page_data(page)
    assert 100 < len(data["passages"]["rows"]) <= 2400


def test_cli_report_writes_page(small_corpus, tmp_path):
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", str(small_corpus), "-o", str(out), "--title", "Small"])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Small</title>" in page
    assert "Report (" in res.stderr
    assert page_data(page)["sections"]["overview"]["documents"] == 4


def test_cli_report_help_has_example():
    res = CliRunner().invoke(cli, ["report", "--help"])
    assert res.exit_code == 0 and "Example: kmdiscourse report" in res.output


def _share_rows(spec) -> list[dict]:
    """Every data row with a label and a share in a chart spec (wherever Altair put them)."""
    if isinstance(spec, dict):
        if "label" in spec and "share" in spec:
            return [spec]
        return [r for v in spec.values() for r in _share_rows(v)]
    if isinstance(spec, list):
        return [r for v in spec for r in _share_rows(v)]
    return []


def test_cli_report_reuses_labels_from_classify(small_corpus, tmp_path):
    labels = tmp_path / "labels.csv"
    res = CliRunner().invoke(cli, ["classify", str(small_corpus), "-o", str(labels)])
    assert res.exit_code == 0, res.output
    # planted probabilities: the report must show these, not the classifier's
    df = pd.read_csv(labels, dtype={"doc_id": str, "passage_id": str})
    df["label"], df["p_why"], df["p_how"], df["p_other"] = "why", 1.0, 0.0, 0.0
    df.to_csv(labels, index=False)
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", str(small_corpus), "-o", str(out), "--labels", str(labels)])
    assert res.exit_code == 0, res.output
    rows = _share_rows(page_data(out.read_text(encoding="utf-8"))["charts"]["chart-shares"])
    assert rows and {r["label"] for r in rows} == {"why", "how", "other"}
    assert all(r["share"] == (1.0 if r["label"] == "why" else 0.0) for r in rows)


def test_cli_report_labels_file_errors_name_the_file(small_corpus, tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("doc_id,passage_id,label\na,a:0,why\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["report", str(small_corpus), "-o", str(tmp_path / "r.html"), "--labels", str(bad)])
    assert res.exit_code != 0
    assert "labels.csv" in str(res.exception or res.output) and "p_why" in str(res.exception or res.output)


def _concept_rows(page: str) -> list[dict]:
    """The data rows of the concept trend chart (wherever Altair put them)."""
    def walk(spec):
        if isinstance(spec, dict):
            if "concept" in spec and "per_10k_tokens" in spec:
                return [spec]
            return [r for v in spec.values() for r in walk(v)]
        if isinstance(spec, list):
            return [r for v in spec for r in walk(v)]
        return []
    return walk(page_data(page)["charts"].get("chart-concepts", {}))


@pytest.fixture
def concepts_run(small_corpus, tmp_path):
    store, cdir = tmp_path / "s.kmd", tmp_path / "concepts"
    res = CliRunner().invoke(cli, ["ingest", str(small_corpus), "-o", str(store)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["concepts", str(store), "-o", str(cdir)])
    assert res.exit_code == 0, res.output
    return store, cdir


def test_cli_report_reuses_concepts_folder(concepts_run, tmp_path):
    store, cdir = concepts_run
    own, reused = tmp_path / "own.html", tmp_path / "reused.html"
    assert CliRunner().invoke(cli, ["report", str(store), "-o", str(own)]).exit_code == 0
    res = CliRunner().invoke(cli, ["report", str(store), "-o", str(reused), "--concepts", str(cdir)])
    assert res.exit_code == 0, res.output
    mine = _concept_rows(own.read_text(encoding="utf-8"))
    assert mine and [(r["concept"], r["period"], r["mentions"]) for r in mine] == [
        (r["concept"], r["period"], r["mentions"]) for r in _concept_rows(reused.read_text(encoding="utf-8"))]
    # planted counts: the report shows the folder's numbers, it does not match again
    tr = pd.read_csv(cdir / "concept_trends.csv", dtype={"period": str})
    tr["mentions"] = 777
    tr.to_csv(cdir / "concept_trends.csv", index=False)
    res = CliRunner().invoke(cli, ["report", str(store), "-o", str(reused), "--concepts", str(cdir)])
    assert res.exit_code == 0, res.output
    assert {r["mentions"] for r in _concept_rows(reused.read_text(encoding="utf-8"))} == {777}


def test_cli_report_concepts_folder_must_match_period_and_corpus(concepts_run, tmp_path):
    store, cdir = concepts_run
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", str(store), "-o", str(out), "--concepts", str(cdir), "--by", "quarter"])
    assert res.exit_code == 1 and not out.exists()
    msg = str(res.exception)
    assert "concept_trends.csv" in msg and "--by quarter" in msg
    m = pd.read_csv(cdir / "concept_mentions.csv", dtype=str)
    assert len(m)
    m.loc[0, "passage_id"] = "elsewhere:9"
    m.to_csv(cdir / "concept_mentions.csv", index=False)
    res = CliRunner().invoke(cli, ["report", str(store), "-o", str(out), "--concepts", str(cdir)])
    assert res.exit_code == 1 and "concept_mentions.csv" in str(res.exception) and "elsewhere:9" in str(res.exception)
    res = CliRunner().invoke(cli, ["report", str(store), "-o", str(out), "--concepts", str(tmp_path / "none")])
    assert res.exit_code == 1 and "concept_trends.csv" in str(res.exception) and "no such file" in str(res.exception)
