"""Make docs/report.png: the report of the sample corpus in headless Chromium, with the
passages of one point shown. Run from the repository root:

    .venv/bin/python docs/make_screenshot.py [--model MODEL.skops]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import Browser, find_browser  # noqa: E402

from kmdiscourse.report import make_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="classifier model (default: the shipped one)")
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "report.png"))
    args = ap.parse_args()
    classified = None
    if args.model:
        from kmdiscourse.classify import classify, load_model
        from kmdiscourse.ingest import open_corpus

        classified = classify(open_corpus(ROOT / "corpora" / "sample").passages, load_model(args.model))
    page = make_report(ROOT / "corpora" / "sample", classified=classified, title="KM discourse: the sample corpus")
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "report.html"
        html.write_text(page, encoding="utf-8")
        with Browser(find_browser(), width=1400, height=1000) as b:
            b.open(html)
            b.wait_for("window.kmdReady", timeout=60)
            if b.console_errors:
                raise SystemExit(f"console errors: {b.console_errors}")
            # show the passages behind one why point of the shares chart (or a bar of the overview)
            b.eval("""(function () {
              var sets = ['#chart-shares .mark-symbol path', '#chart-overview .mark-rect path'];
              for (var k = 0; k < sets.length; k++) {
                var els = document.querySelectorAll(sets[k]);
                for (var i = 0; i < els.length; i++) {
                  var d = els[i].__data__ && els[i].__data__.datum;
                  if (!d || !d.ex || (d.label && d.label !== 'why') || (d.genre === 'all')) continue;
                  window.kmdShowExamples(d.ex, d.label || null, [d.period, d.lang, d.genre, d.label].filter(Boolean).join(' · '));
                  if (document.querySelectorAll('#passages-list .passage.why').length >= 2) return;
                }
              }
            })()""")
            b.eval("window.scrollTo(0, 0)")
            b.click(5, 5)  # no hover tooltip in the picture
            b.screenshot(args.output, height=1700)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
