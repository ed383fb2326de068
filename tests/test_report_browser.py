"""The report in a real browser (headless Chromium): it renders offline without console errors,
charts have marks, clicking a point shows its passages, and planted markup runs nothing.

Skips when no Chromium is installed (CI installs Debian's ``chromium`` in .ci/run). Set
``KMD_SCREENSHOT=path.png`` to keep the screenshot the test takes."""
from __future__ import annotations

import os
import shutil

import pytest

from browser import Browser, find_browser
from kmdiscourse.report import build_report
from report_tables import fake_classified, fake_concepts, fake_topics, make_corpus

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium/Chrome found (apt-get install chromium)")

# The on-screen centre of the first mark of a chart whose datum matches: Vega's SVG renderer
# keeps each scenegraph item on its element as __data__.
FIND_MARK = """
(function (chartId, selector, key, label) {
  var host = document.getElementById(chartId);
  host.scrollIntoView({block: "center"});
  var els = host.querySelectorAll(selector);
  for (var i = 0; i < els.length; i++) {
    var d = els[i].__data__ && els[i].__data__.datum;
    if (d && d.ex && (!key || d.ex === key) && (!label || d.label === label)) {
      var r = els[i].getBoundingClientRect();
      return {x: r.left + r.width / 2, y: r.top + r.height / 2, key: d.ex};
    }
  }
  return null;
})(%s, %s, %s, %s)
"""


def find_mark(b, chart, selector, key=None, label=None):
    import json

    return b.eval(FIND_MARK % tuple(json.dumps(x) for x in (chart, selector, key, label)))


@pytest.fixture(scope="module")
def report_path(tmp_path_factory):
    corpus = make_corpus(120, seed=4)
    classified = fake_classified(corpus)
    planted = classified["passage_id"] == "d00000-0"  # the PLANTED passage: 2018, en, business
    classified.loc[planted, ["label", "p_why", "p_how", "p_other"]] = ["why", 0.999, 0.0005, 0.0005]
    page = build_report(corpus, classified=classified, topics=fake_topics(corpus, k=3),
                        concepts=fake_concepts(corpus), title="Browser test")
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def test_report_in_browser(report_path, tmp_path):
    import json

    with Browser(BROWSER, width=1400, height=1000) as b:
        b.open(report_path)
        assert b.wait_for("window.kmdReady", timeout=60) is True
        assert b.console_errors == []
        # every chart drew an SVG with marks
        marks = b.eval("""Object.fromEntries(Array.from(document.querySelectorAll('.chart')).map(function (c) {
            return [c.id, c.querySelectorAll('svg .mark-symbol path, svg .mark-rect path, svg .mark-line path').length];
        }))""")
        for chart in ("chart-overview", "chart-shares", "chart-topics", "chart-effects", "chart-concepts", "chart-mix"):
            assert marks.get(chart, 0) > 3, (chart, marks)
        # click the why point of 2018 / en / business: its passages, the planted one included, appear
        where = find_mark(b, "chart-shares", ".mark-symbol path", "s|2018|en|business", "why")
        assert where, "no such point in the shares chart"
        assert b.eval("document.querySelectorAll('#passages-list .passage').length") == 0
        b.click(where["x"], where["y"])
        n = b.wait_for("document.querySelectorAll('#passages-list .passage').length", timeout=10)
        assert n >= 1
        shown = b.eval("document.getElementById('passages-list').textContent")
        assert "<script>window.__pwned" in shown and "<img src=x onerror=" in shown
        assert b.eval("document.getElementById('passages-title').textContent").startswith("Passages: ")
        # the planted markup ran nothing and made no element
        assert b.eval("typeof window.__pwned") == "undefined"
        assert b.eval("document.querySelectorAll('#passages-list img, #passages-list script, "
                      "a[href^=\"javascript\"]').length") == 0
        assert b.eval("document.querySelectorAll('img').length") == 0
        # a click on a stacked bar of the overview works too
        bar = find_mark(b, "chart-overview", ".mark-rect path")
        assert bar, "no bar in the overview chart"
        b.click(bar["x"], bar["y"])
        assert b.wait_for(f"document.getElementById('passages-list').dataset.key === {json.dumps(bar['key'])}",
                          timeout=10)
        assert b.console_errors == []
        b.eval("window.scrollTo(0, 0)")
        shot = b.screenshot(tmp_path / "report.png", height=2000)
        assert shot.stat().st_size > 20_000
        if os.environ.get("KMD_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["KMD_SCREENSHOT"])
