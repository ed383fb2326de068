"""A small, strict reader of the skops files kmdiscourse writes, without importing ``skops.io``.

``import skops.io`` costs about 1.5-2 s (it imports every scikit-learn estimator, and pytest,
to build its list of trusted types): more than the rest of loading the model and a good part
of what ``classify`` spends before its workers start. The models :func:`kmdiscourse.classify.save_model`
writes use only a few of the skops node kinds and a few dozen types, so this module reads
those directly: the ``schema.json`` tree of a protocol-2 file, with each object built from
its saved attributes like skops builds it (``cls.__new__`` then ``__setstate__``), and the
arrays read with ``numpy.load(allow_pickle=False)``.

It is stricter than skops, never looser: a type is built only when its exact
``module.Class`` is in :data:`CLASSES`, :data:`TYPES` or :data:`SCALARS` (resolved from those
fixed tables, never from a name in the file), and nothing else in the file is executed.
Anything it does not know (another protocol, another node kind, another type, a malformed
tree) raises :class:`NotHandled`; the caller then loads the file with skops itself, which
audits it against the trusted types and gives the error messages.
"""
from __future__ import annotations

import importlib
import io
import json
import zipfile
from typing import Any

import numpy as np

#: The skops protocol this reader follows (skops 0.10 to 0.16 write it).
PROTOCOL = 2

#: Classes that may be built from their saved attributes: ``module.Class`` as skops names
#: them -> where to import them from (fixed here; the file only chooses among them).
CLASSES: dict[str, tuple[str, str]] = {
    "kmdiscourse.classify.PassageClassifier": ("kmdiscourse.classify", "PassageClassifier"),
    "kmdiscourse.features.CueFeatures": ("kmdiscourse.features", "CueFeatures"),
    "kmdiscourse.features.TokenAnalyzer": ("kmdiscourse.features", "TokenAnalyzer"),
    "sklearn.calibration.CalibratedClassifierCV": ("sklearn.calibration", "CalibratedClassifierCV"),
    "sklearn.calibration._CalibratedClassifier": ("sklearn.calibration", "_CalibratedClassifier"),
    "sklearn.calibration._SigmoidCalibration": ("sklearn.calibration", "_SigmoidCalibration"),
    "sklearn.feature_extraction.text.TfidfVectorizer": ("sklearn.feature_extraction.text", "TfidfVectorizer"),
    "sklearn.feature_extraction.text.TfidfTransformer": ("sklearn.feature_extraction.text", "TfidfTransformer"),
    "sklearn.model_selection._split.StratifiedKFold": ("sklearn.model_selection", "StratifiedKFold"),
    "sklearn.naive_bayes.ComplementNB": ("sklearn.naive_bayes", "ComplementNB"),
    "sklearn.linear_model._logistic.LogisticRegression": ("sklearn.linear_model", "LogisticRegression"),
    "sklearn.svm._classes.LinearSVC": ("sklearn.svm", "LinearSVC"),
    "sklearn.pipeline.FeatureUnion": ("sklearn.pipeline", "FeatureUnion"),
    "sklearn.pipeline.Pipeline": ("sklearn.pipeline", "Pipeline"),
    "sklearn.preprocessing._data.MaxAbsScaler": ("sklearn.preprocessing", "MaxAbsScaler"),
}

#: Types a ``TypeNode`` may name (the ``dtype`` of a vectorizer, the key types of a dict).
TYPES: dict[str, type] = {
    "builtins.str": str, "builtins.int": int, "builtins.float": float, "builtins.bool": bool,
    "numpy.float16": np.float16, "numpy.float32": np.float32, "numpy.float64": np.float64,
    "numpy.int8": np.int8, "numpy.int16": np.int16, "numpy.int32": np.int32, "numpy.int64": np.int64,
    "numpy.uint8": np.uint8, "numpy.uint16": np.uint16, "numpy.uint32": np.uint32, "numpy.uint64": np.uint64,
    "numpy.bool_": np.bool_,
}

#: Array classes of an ``NdArrayNode``: the ndarray itself, or a numpy scalar made from a 0-d array.
SCALARS: dict[str, Any] = {"numpy.ndarray": None,
                           **{k: v for k, v in TYPES.items() if k.startswith("numpy.")}}

_MAX_DEPTH = 200


class NotHandled(Exception):
    """The file uses something this reader does not build; load it with skops instead."""


def loads(data: bytes) -> Any:
    """The object saved in the skops file ``data``, or :class:`NotHandled`."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            schema = json.loads(zf.read("schema.json"))
            if not isinstance(schema, dict) or type(schema.get("protocol")) is not int \
                    or schema["protocol"] != PROTOCOL:
                raise NotHandled("protocol")
            return _Reader(zf).build(schema, 0)
    except NotHandled:
        raise
    except Exception as exc:  # malformed in any way: skops decides what to say
        raise NotHandled(f"{type(exc).__name__}: {exc}") from None


class _Reader:
    def __init__(self, zf: zipfile.ZipFile):
        self.zf = zf
        self.memo: dict[int, Any] = {}
        self.building: set[int] = set()
        self.classes: dict[str, type] = {}

    def build(self, state: Any, depth: int) -> Any:
        if not isinstance(state, dict) or depth > _MAX_DEPTH:
            raise NotHandled("node")
        # skops gives each saved object an id; a later node with the same id is that object
        saved_id = state.get("__id__")
        if saved_id is not None:
            if saved_id in self.memo:
                return self.memo[saved_id]
            if saved_id in self.building:
                raise NotHandled("cycle")
            self.building.add(saved_id)
        loader = state.get("__loader__")
        name = f"{state.get('__module__')}.{state.get('__class__')}"
        method = _LOADERS.get(loader) if isinstance(loader, str) else None
        if method is None:
            raise NotHandled(f"loader {loader!r}")
        obj = method(self, state, name, depth + 1)
        if saved_id is not None:
            self.building.discard(saved_id)
            self.memo[saved_id] = obj
        return obj

    def _JsonNode(self, state, name, depth):
        content = state["content"]
        if not isinstance(content, str):
            raise NotHandled("json")
        return json.loads(content)

    def _ListNode(self, state, name, depth):
        if name != "builtins.list":
            raise NotHandled(name)
        return [self.build(v, depth) for v in state["content"]]

    def _TupleNode(self, state, name, depth):
        if name != "builtins.tuple":
            raise NotHandled(name)
        return tuple(self.build(v, depth) for v in state["content"])

    def _DictNode(self, state, name, depth):
        if name != "builtins.dict":
            raise NotHandled(name)
        key_types = self.build(state["key_types"], depth)
        content = state["content"]
        if not isinstance(key_types, list) or not isinstance(content, dict) or len(key_types) != len(content):
            raise NotHandled("dict")
        out = {}
        for k_type, (key, value) in zip(key_types, content.items()):
            if k_type not in (str, int, float, bool):
                raise NotHandled("dict key type")
            out[k_type(key)] = self.build(value, depth)
        return out

    def _TypeNode(self, state, name, depth):
        if name not in TYPES:
            raise NotHandled(name)
        return TYPES[name]

    def _NdArrayNode(self, state, name, depth):
        if name not in SCALARS:
            raise NotHandled(name)
        kind = state.get("type")
        if kind == "numpy":
            arr = np.load(io.BytesIO(self.zf.read(state["file"])), allow_pickle=False)
            return arr if SCALARS[name] is None else SCALARS[name](arr)
        if kind == "json" and name == "numpy.ndarray":  # object arrays: a list of items
            items = [self.build(v, depth) for v in state["content"]]
            shape = self.build(state["shape"], depth)
            if len(shape) == 1:
                arr = np.ndarray(shape=len(items), dtype="O")
                for i, v in enumerate(items):
                    arr[i] = v
                return arr
            return np.array(items, dtype="O")
        raise NotHandled("array")

    def _ObjectNode(self, state, name, depth):
        cls = self._class(name)
        instance = cls.__new__(cls)
        content = state.get("content")
        if content is None:
            return instance
        attrs = self.build(content, depth)
        if attrs is not None:
            if hasattr(instance, "__setstate__"):
                instance.__setstate__(attrs)
            else:
                instance.__dict__.update(attrs)
        return instance

    def _class(self, name: str) -> type:
        cls = self.classes.get(name)
        if cls is None:
            where = CLASSES.get(name)
            if where is None:
                raise NotHandled(name)
            cls = getattr(importlib.import_module(where[0]), where[1])
            self.classes[name] = cls
        return cls


_LOADERS = {"JsonNode": _Reader._JsonNode, "ListNode": _Reader._ListNode, "TupleNode": _Reader._TupleNode,
            "DictNode": _Reader._DictNode, "TypeNode": _Reader._TypeNode, "NdArrayNode": _Reader._NdArrayNode,
            "ObjectNode": _Reader._ObjectNode}
