"""Corpus summaries: counts of documents, passages and tokens by language, genre, type and year."""
from __future__ import annotations

from typing import Any

import pandas as pd

from .ingest.core import Corpus


def summarize_corpus(corpus: Corpus) -> dict[str, Any]:
    """A dict with totals, a breakdown table, the date range and the skipped files by reason."""
    docs, pas = _tables(corpus)
    pas = pas.assign(year=pd.to_datetime(pas["date"]).dt.year.astype("Int64"))
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


_PASSAGE_COLUMNS = ["doc_id", "passage_id", "lang", "genre", "source_type", "date"]


def _tables(corpus: Corpus) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Document dates and passage columns with a ``tokens`` count. From a store, only those
    columns are read and the texts are counted a batch at a time, so the summary of a large
    corpus does not hold its text (or millions of token strings) in memory."""
    tables = getattr(corpus, "_tables", None)
    if tables is None or corpus._passages is not None or corpus._documents is not None:
        pas = corpus.passages
        tokens = [len(t.split()) for t in pas["text"]]
        return corpus.documents[["date"]], pas[_PASSAGE_COLUMNS].assign(tokens=pd.array(tokens, dtype="int64"))
    from .store import iter_passages, read_documents, read_passages

    tokens: list[int] = []
    for batch in iter_passages(tables, columns=["text"]):
        tokens.extend(len(t.split()) for t in batch["text"])
    pas = read_passages(tables, columns=_PASSAGE_COLUMNS)
    return read_documents(tables, columns=["date"]), pas.assign(tokens=pd.array(tokens, dtype="int64"))


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
