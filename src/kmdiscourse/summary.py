"""Corpus summaries: counts of documents, passages and tokens by language, genre, type and year."""
from __future__ import annotations

from typing import Any

import pandas as pd

from .ingest.core import Corpus


def summarize_corpus(corpus: Corpus) -> dict[str, Any]:
    """A dict with totals, a breakdown table, the date range and the skipped files by reason."""
    docs, pas = corpus.documents, corpus.passages
    pas = pas.assign(tokens=pas["text"].str.split().str.len(),
                     year=pd.to_datetime(pas["date"]).dt.year.astype("Int64"))
    docs = docs.assign(year=pd.to_datetime(docs["date"]).dt.year.astype("Int64"))
    keys = ["lang", "genre", "source_type"]
    by_group = (
        pas.fillna({k: "?" for k in keys})
        .groupby(keys, dropna=False)
        .agg(documents=("doc_id", "nunique"), passages=("passage_id", "size"), tokens=("tokens", "sum"))
        .reset_index()
    )
    by_year = (
        pas.groupby(pas["year"].astype("string").fillna("undated"))
        .agg(documents=("doc_id", "nunique"), passages=("passage_id", "size"), tokens=("tokens", "sum"))
        .reset_index()
    )
    dates = pd.to_datetime(docs["date"]).dropna()
    summary = corpus.manifest.get("summary", {})
    return {
        "documents": len(docs),
        "passages": len(pas),
        "tokens": int(pas["tokens"].sum()),
        "by_group": by_group,
        "by_year": by_year,
        "date_min": None if dates.empty else dates.min().date().isoformat(),
        "date_max": None if dates.empty else dates.max().date().isoformat(),
        "undated": int(docs["date"].isna().sum()),
        "files": summary.get("files"),
        "skipped": {r: n for r, n in (summary.get("reasons") or {}).items()},
        "duplicates": summary.get("duplicates", 0),
        "fragments_dropped": summary.get("fragments_dropped", 0),
        "dates_suspect": summary.get("dates_suspect", 0),
    }


def format_summary(s: dict[str, Any]) -> str:
    """The summary as plain-text tables for a terminal."""
    lines = [
        f"documents {s['documents']}   passages {s['passages']}   tokens {s['tokens']}",
        f"dates {s['date_min'] or '-'} .. {s['date_max'] or '-'}   undated documents {s['undated']}"
        f"   suspect dates {s['dates_suspect']}",
        f"files {s['files']}   skipped/failed: "
        + (", ".join(f"{r} {n}" for r, n in sorted(s["skipped"].items())) or "none")
        + f"   duplicate documents {s['duplicates']}   short fragments dropped {s['fragments_dropped']}",
        "",
        s["by_group"].to_string(index=False),
        "",
        s["by_year"].rename(columns={"year": "year"}).to_string(index=False),
    ]
    return "\n".join(lines)
