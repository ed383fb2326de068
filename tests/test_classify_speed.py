"""classify --jobs: the parent's objects are frozen for the garbage collector while passages
are labelled, and unfrozen after, also when the run fails."""
from __future__ import annotations

import gc

import pandas as pd
import pytest

import kmdiscourse.classify as kc
from kmdiscourse.classify import PassageClassifier, classify_to

from test_classify import LABELS_, TEXTS


@pytest.fixture(scope="module")
def model() -> PassageClassifier:
    return PassageClassifier(calibration_cv=2, min_df=1).fit(TEXTS, LABELS_)


def _frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"doc_id": [f"d{i}" for i in range(n)], "passage_id": [f"d{i}:0" for i in range(n)],
                         "text": [TEXTS[i % len(TEXTS)] for i in range(n)],
                         "lang": ["ru" if any("а" <= c <= "я" for c in TEXTS[i % len(TEXTS)]) else "en"
                                  for i in range(n)]})


@pytest.mark.parametrize("jobs", [1, 2])
def test_gc_frozen_while_labelling_and_unfrozen_after(model, tmp_path, monkeypatch, jobs):
    seen = []
    real = kc._TableSink.add

    def add(self, part):
        seen.append(gc.get_freeze_count())
        return real(self, part)

    monkeypatch.setattr(kc._TableSink, "add", add)
    before = gc.get_freeze_count()
    classify_to(_frame(60), tmp_path / "out.csv", model, jobs=jobs, batch_size=25)
    assert seen and all(n > before for n in seen)
    assert gc.get_freeze_count() == before


def test_gc_unfrozen_when_the_output_fails(model, tmp_path, monkeypatch):
    def fail(self, part):
        raise OSError("disk full")

    monkeypatch.setattr(kc._TableSink, "add", fail)
    before = gc.get_freeze_count()
    with pytest.raises(OSError):
        classify_to(_frame(60), tmp_path / "out.csv", model, jobs=2, batch_size=25)
    assert gc.get_freeze_count() == before
