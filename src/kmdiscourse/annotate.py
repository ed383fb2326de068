"""Human labels: label passages in the terminal (most uncertain first) and measure agreement.

Each answer is one JSON line appended to the labels file at once (write, flush, fsync), so
an interrupted session loses at most the passage on screen. An undo appends a line with
``"label": null`` and ``"undo": true`` for the passage; readers take each annotator's last
line per passage. The file is valid input for ``kmdiscourse train``.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import RecordError
from .records import LABELS

KEYS = {"w": "why", "h": "how", "o": "other"}


def uncertainty_order(proba: np.ndarray) -> np.ndarray:
    """Indices from most to least uncertain (smallest margin between the top two probabilities)."""
    if len(proba) == 0:
        return np.array([], dtype=int)
    s = np.sort(proba, axis=1)
    margin = s[:, -1] - (s[:, -2] if proba.shape[1] > 1 else 0)
    return np.argsort(margin, kind="stable")


def append_label(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one JSON line to ``path`` durably (O_APPEND, fsync): a crash keeps every
    earlier line and never leaves a torn one behind a complete record."""
    line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_annotations(path: str | os.PathLike) -> pd.DataFrame:
    """The labels file as a table, the last answer per (annotator, passage) kept; undone and
    skipped answers dropped. A torn last line (a crash mid-write) is ignored."""
    rows = []
    p = Path(path)
    if not p.exists():
        return pd.DataFrame(columns=["passage_id", "annotator", "label", "text"])
    lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines):  # interrupted write of the last answer
                continue
            raise RecordError(f"{p}:{i}: not valid JSON ({exc.msg})") from exc
        if not isinstance(r, dict) or "passage_id" not in r:
            raise RecordError(f"{p}:{i}: expected a JSON object with passage_id, annotator and label")
        rows.append(r)
    if not rows:
        return pd.DataFrame(columns=["passage_id", "annotator", "label", "text"])
    df = pd.DataFrame(rows)
    if "annotator" not in df.columns:
        df["annotator"] = "anonymous"
    df["annotator"] = df["annotator"].fillna("anonymous").astype(str)
    df["passage_id"] = df["passage_id"].astype(str)
    df = df.drop_duplicates(subset=["annotator", "passage_id"], keep="last")
    return df[df["label"].isin(LABELS)].reset_index(drop=True)


def annotate(passages: pd.DataFrame, labels_file: str | os.PathLike, *, proba: np.ndarray | None = None,
             annotator: str = "anonymous", n: int | None = None,
             ask: Callable[[str], str], show: Callable[[str], None]) -> dict[str, int]:
    """Ask for labels of ``passages`` (most uncertain first when ``proba`` is given).

    ``ask(prompt)`` returns one key: ``w`` why, ``h`` how, ``o`` other, ``s`` skip, ``u`` undo
    the previous answer, ``q`` quit. Passages this annotator already labelled are passed over.
    Returns counts of the answers given.
    """
    done = set(read_annotations(labels_file).query("annotator == @annotator")["passage_id"])
    order = uncertainty_order(proba) if proba is not None else np.arange(len(passages))
    todo = [i for i in order if str(passages.iloc[i]["passage_id"]) not in done]
    if n is not None:
        todo = todo[:n]
    stats = Counter()
    history: list[int] = []
    pos = 0
    while pos < len(todo):
        i = todo[pos]
        row = passages.iloc[i]
        head = f"[{pos + 1}/{len(todo)}] {row.get('passage_id')} ({row.get('lang') or '?'}, {row.get('genre') or '?'})"
        if proba is not None:
            head += "  model: " + " ".join(f"{lab} {proba[i][j]:.2f}" for j, lab in enumerate(LABELS))
        show(f"\n{head}\n{row['text']}\n")
        key = (ask("w=why h=how o=other s=skip u=undo q=quit") or "").strip().lower()[:1]
        if key == "q":
            break
        if key == "u":
            if not history:
                show("nothing to undo")
                continue
            prev = history.pop()
            prow = passages.iloc[todo[prev]]
            append_label(labels_file, {"passage_id": str(prow["passage_id"]), "annotator": annotator,
                                       "label": None, "undo": True, "time": _now()})
            stats["undo"] += 1
            pos = prev
            continue
        if key not in KEYS and key != "s":
            show(f"unknown key {key!r}: press w, h, o, s, u or q")
            continue
        rec = {"passage_id": str(row["passage_id"]), "doc_id": row.get("doc_id"), "annotator": annotator,
               "label": KEYS.get(key, "skip"), "lang": row.get("lang"), "genre": row.get("genre"),
               "text": row["text"], "time": _now()}
        append_label(labels_file, rec)
        stats[rec["label"]] += 1
        history.append(pos)
        pos += 1
    return dict(stats)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# --- agreement --------------------------------------------------------------------------------

def cohen_kappa(a: Iterable[str], b: Iterable[str]) -> float:
    """Cohen's kappa of two annotators' labels on the same items."""
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError("cohen_kappa: the two label lists differ in length")
    n = len(a)
    if n == 0:
        return float("nan")
    po = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    return float("nan") if pe == 1 else (po - pe) / (1 - pe)


def krippendorff_alpha_nominal(units: Iterable[Iterable[str]]) -> float:
    """Krippendorff's alpha for nominal data; ``units`` holds the labels each item received
    (items with fewer than two labels are not pairable and are left out)."""
    coincidence: Counter = Counter()
    for labels in units:
        labels = [x for x in labels if x is not None]
        m = len(labels)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            coincidence[(labels[i], labels[j])] += 1.0 / (m - 1)
    n_c: Counter = Counter()
    for (c, _k), v in coincidence.items():
        n_c[c] += v
    n = sum(n_c.values())
    if n <= 1:
        return float("nan")
    d_o = sum(v for (c, k), v in coincidence.items() if c != k)
    d_e = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k) / (n - 1)
    return float("nan") if d_e == 0 else 1.0 - d_o / d_e


def agreement(labels: pd.DataFrame | str | os.PathLike) -> dict[str, Any]:
    """Cohen's kappa per annotator pair and Krippendorff's alpha (nominal) over all, on
    passages labelled by more than one annotator."""
    df = read_annotations(labels) if not isinstance(labels, pd.DataFrame) else labels
    counts = df.groupby("passage_id")["annotator"].nunique()
    shared = counts[counts > 1].index
    df = df[df["passage_id"].isin(shared)]
    pairs = []
    annotators = sorted(df["annotator"].unique())
    wide = df.pivot_table(index="passage_id", columns="annotator", values="label", aggfunc="last")
    for a, b in itertools.combinations(annotators, 2):
        both = wide[[a, b]].dropna()
        if len(both):
            pairs.append({"a": a, "b": b, "n": len(both), "kappa": round(cohen_kappa(both[a], both[b]), 4),
                          "agreement": round(float((both[a] == both[b]).mean()), 4)})
    units = [list(g) for _, g in df.groupby("passage_id")["label"]]
    return {"passages": int(len(shared)), "annotators": annotators, "pairs": pairs,
            "alpha": round(krippendorff_alpha_nominal(units), 4) if units else float("nan")}


def format_agreement(res: dict[str, Any]) -> str:
    lines = [f"passages labelled by more than one annotator: {res['passages']}"]
    for p in res["pairs"]:
        lines.append(f"  {p['a']} vs {p['b']}: n={p['n']}  kappa {p['kappa']:.3f}  raw agreement {p['agreement']:.3f}")
    lines.append(f"Krippendorff's alpha (nominal), all annotators: {res['alpha']:.3f}")
    return "\n".join(lines)
