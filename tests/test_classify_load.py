"""Loading models without ``skops.io`` (kmdiscourse.skopsread): the same objects as skops
builds, never a type skops would refuse, and skops itself for anything else."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import kmdiscourse.classify as kc
from kmdiscourse import skopsread
from kmdiscourse.classify import TRUSTED_TYPES, PassageClassifier, default_model_path, load_model, save_model
from kmdiscourse.errors import ModelError

from test_classify import LABELS_, TEXTS

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "sample"


def _skops_load(path):
    import skops.io as sio

    return sio.load(path, trusted=list(TRUSTED_TYPES))


def _same_state(a, b, path="model", seen=None):
    """Deep comparison of two loaded models: types, dtypes, array values, attributes."""
    seen = set() if seen is None else seen
    assert type(a) is type(b), path
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), path
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            _same_state(a[k], b[k], f"{path}[{k!r}]", seen)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same_state(x, y, f"{path}[{i}]", seen)
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        if id(a) not in seen:
            seen.add(id(a))
            _same_state(vars(a), vars(b), f"{path}.{type(a).__name__}", seen)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), path
    else:
        assert a == b, path


@pytest.fixture(scope="module")
def sample_texts() -> list[str]:
    from kmdiscourse.ingest import open_corpus

    return open_corpus(SAMPLE).passages["text"].fillna("").astype(str).tolist()


def test_shipped_model_reads_without_skops_as_skops_reads_it(sample_texts):
    path = default_model_path()
    if not path.is_file():
        pytest.skip("the default model is not built (make model)")
    fast = skopsread.loads(path.read_bytes())
    slow = _skops_load(path)
    _same_state(slow, fast)
    p_fast, ev_fast = fast.predict_with_evidence(sample_texts)
    p_slow, ev_slow = slow.predict_with_evidence(sample_texts)
    assert len(sample_texts) > 100
    assert np.array_equal(p_fast, p_slow) and ev_fast == ev_slow


def test_load_model_does_not_import_skops():
    if not default_model_path().is_file():
        pytest.skip("the default model is not built (make model)")
    code = ("import sys; from kmdiscourse.classify import load_model; clf = load_model(); "
            "print('skops.io' in sys.modules, type(clf).__name__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "PassageClassifier"]


@pytest.mark.parametrize("params", [{"model": "nb"}, {"model": "lr"}, {"model": "svm"},
                                    {"char_ngrams": (2, 3), "cue_weight": 0}, {"word_ngrams": (0, 0)}])
def test_every_model_kind_reads_without_skops(tmp_path, monkeypatch, params):
    clf = PassageClassifier(calibration_cv=2, min_df=1, **params).fit(TEXTS, LABELS_)
    path = save_model(clf, tmp_path / "m.skops")

    def no_skops(*args):
        raise AssertionError("fell back to skops")

    monkeypatch.setattr(kc, "_load_with_skops", no_skops)
    fast = load_model(path)
    monkeypatch.undo()
    _same_state(_skops_load(path), fast)
    assert np.array_equal(fast.predict_proba(TEXTS), clf.predict_proba(TEXTS))


def test_reader_builds_only_types_skops_trusts():
    from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES

    trusted = set(SKLEARN_ESTIMATOR_TYPE_NAMES) | set(TRUSTED_TYPES)
    assert set(skopsread.CLASSES) <= trusted
    for name, (module, attr) in skopsread.CLASSES.items():  # the table names each class where it lives
        cls = getattr(__import__(module, fromlist=[attr]), attr)
        assert f"{cls.__module__}.{cls.__qualname__}" == name


def _rewrite(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "schema.json":
                data = json.dumps(edit(json.loads(data))).encode()
            zout.writestr(item, data)
    return dst


def _find(node, cls):
    if isinstance(node, dict):
        if node.get("__class__") == cls:
            return node
        node = list(node.values())
    if isinstance(node, list):
        for v in node:
            hit = _find(v, cls)
            if hit is not None:
                return hit
    return None


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    clf = PassageClassifier(calibration_cv=2, min_df=1).fit(TEXTS, LABELS_)
    return save_model(clf, tmp_path_factory.mktemp("m") / "tiny.skops")


def _retype(module, cls):
    def edit(schema):
        node = _find(schema, "CueFeatures")
        node["__module__"], node["__class__"] = module, cls
        return schema
    return edit


def _relabel(loader):
    def edit(schema):
        _find(schema, "TokenAnalyzer")["__loader__"] = loader
        return schema
    return edit


def _protocol(value):
    def edit(schema):
        schema["protocol"] = value
        return schema
    return edit


def _key_type(schema):
    node = _find(schema, "TokenAnalyzer")["content"]["key_types"]["content"][0]
    node["__module__"], node["__class__"], node["__id__"] = "builtins", "eval", 1  # a new id: not the saved str
    return schema


@pytest.mark.parametrize("edit,refused", [
    (_retype("posix", "system"), True), (_retype("builtins", "eval"), True),
    (_retype("collections", "OrderedDict"), True), (_relabel("ReduceNode"), True), (_relabel("_class"), True),
    (_protocol(True), True), (_key_type, True),
    # skops reads these (an older protocol with its old nodes; the class itself as a function)
    (_protocol(1), False), (_relabel("FunctionNode"), False),
])
def test_reader_hands_anything_else_to_skops(tmp_path, tiny_file, edit, refused):
    p = _rewrite(tiny_file, tmp_path / "edited.skops", edit)
    with pytest.raises(skopsread.NotHandled):
        skopsread.loads(p.read_bytes())
    if refused:  # load_model then asks skops, which refuses the type or names the file in its error
        with pytest.raises(ModelError, match="edited.skops"):
            load_model(p)
    else:
        assert isinstance(load_model(p), PassageClassifier)


def test_reader_refuses_malformed_files(tiny_file):
    for data in (b"", b"PK\x03\x04garbage", tiny_file.read_bytes()[:2000]):
        with pytest.raises(skopsread.NotHandled):
            skopsread.loads(data)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # an array that would need pickle to load
        z.writestr("schema.json", json.dumps({"__class__": "ndarray", "__module__": "numpy", "__loader__":
                                              "NdArrayNode", "type": "numpy", "file": "a.npy", "protocol": 2}))
        a = io.BytesIO()
        np.save(a, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        z.writestr("a.npy", a.getvalue())
    with pytest.raises(skopsread.NotHandled):
        skopsread.loads(buf.getvalue())
