"""Terminal annotation (scripted keys) and inter-annotator agreement on known examples."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kmdiscourse.annotate import (agreement, annotate, cohen_kappa, krippendorff_alpha_nominal,
                                  read_annotations, uncertainty_order)
from kmdiscourse.cli import cli


def _passages(n=4):
    return pd.DataFrame({"passage_id": [f"p{i}" for i in range(n)], "doc_id": "d", "lang": "en",
                         "genre": "business", "text": [f"passage number {i}" for i in range(n)]})


def _keys(seq):
    it = iter(seq)
    return lambda prompt: next(it)


def test_uncertainty_order_smallest_margin_first():
    P = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.6, 0.3, 0.1]])
    assert uncertainty_order(P).tolist() == [1, 2, 0]


def test_annotate_scripted_keys_with_skip_and_undo(tmp_path):
    f = tmp_path / "labels.jsonl"
    stats = annotate(_passages(), f, annotator="ann", ask=_keys(["w", "u", "h", "s", "x", "o", "q"]), show=lambda t: None)
    got = read_annotations(f)
    assert dict(zip(got["passage_id"], got["label"])) == {"p0": "how", "p2": "other"}
    assert stats["undo"] == 1
    lines = [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 5  # why, undo, how, skip, other: every answer on disk at once


def test_annotate_resumes_and_skips_done(tmp_path):
    f = tmp_path / "labels.jsonl"
    annotate(_passages(), f, annotator="ann", ask=_keys(["w", "q"]), show=lambda t: None)
    seen = []
    annotate(_passages(), f, annotator="ann", n=1, ask=_keys(["h"]), show=seen.append)
    assert "p1" in seen[0] and len(read_annotations(f)) == 2


def test_read_annotations_ignores_torn_last_line(tmp_path):
    f = tmp_path / "labels.jsonl"
    f.write_text('{"passage_id": "p0", "annotator": "a", "label": "why"}\n{"passage_id": "p1", "annot', encoding="utf-8")
    assert read_annotations(f)["passage_id"].tolist() == ["p0"]


def test_cohen_kappa_textbook_example():
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15.
    # po = 35/50 = 0.7; pe = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7-0.5)/(1-0.5) = 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_krippendorff_alpha_nominal_hand_computed():
    # Four items, two coders: (a,a) (a,b) (b,b) (b,b). Coincidences: o_aa=2, o_ab=o_ba=1, o_bb=4;
    # n_a=3, n_b=5, n=8. D_o = 2; D_e = 2*3*5/7 = 30/7; alpha = 1 - 2/(30/7) = 1 - 14/30 = 0.5333
    units = [["a", "a"], ["a", "b"], ["b", "b"], ["b", "b"]]
    assert krippendorff_alpha_nominal(units) == pytest.approx(1 - 14 / 30)


def test_krippendorff_alpha_perfect_agreement_is_one():
    assert krippendorff_alpha_nominal([["a", "a", "a"], ["b", "b"], ["c", "c"]]) == pytest.approx(1.0)


def test_agreement_per_pair_and_overall(tmp_path):
    f = tmp_path / "labels.jsonl"
    rows = []
    for pid, (x, y) in enumerate([("why", "why"), ("how", "how"), ("other", "how"), ("why", "why")]):
        rows += [{"passage_id": f"p{pid}", "annotator": "a", "label": x},
                 {"passage_id": f"p{pid}", "annotator": "b", "label": y}]
    rows.append({"passage_id": "solo", "annotator": "a", "label": "why"})
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    res = agreement(f)
    assert res["passages"] == 4 and res["pairs"][0]["n"] == 4
    # po = 3/4; a: why 2 how 1 other 1; b: why 2 how 2 -> pe = (4+2)/16 = 0.375; kappa = 0.375/0.625 = 0.6
    assert res["pairs"][0]["kappa"] == pytest.approx(0.6)
    r = CliRunner().invoke(cli, ["agreement", str(f)])
    assert r.exit_code == 0 and "kappa 0.600" in r.stdout and "alpha" in r.stdout
