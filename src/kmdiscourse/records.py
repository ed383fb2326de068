"""Records that flow between stages: Document and Passage, and the codebook constants."""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import RecordError

Label = Literal["why", "how", "other"]
Lang = Literal["en", "ru", "other"]

LABELS: tuple[str, ...] = ("why", "how", "other")
LANGS: tuple[str, ...] = ("en", "ru")  # languages the codebook labels
ALL_LANGS: tuple[str, ...] = ("en", "ru", "other")
GENRES: tuple[str, ...] = ("business", "academic")
SOURCE_TYPES: tuple[str, ...] = ("blog", "article", "forum")

#: Metadata every passage carries from its document, so each passage row stands alone.
PASSAGE_DOC_FIELDS: tuple[str, ...] = ("date", "genre", "source_type", "source", "title", "url")


def _missing_to_none(data: dict[str, Any]) -> dict[str, Any]:
    """Storage gives NaN or pandas.NA for empty cells; records use None."""
    out = {}
    for k, v in data.items():
        try:
            missing = v is None or (not isinstance(v, (str, bytes, dict, list)) and bool(v != v))
        except (TypeError, ValueError):
            missing = v is not None and type(v).__name__ == "NAType"
        out[k] = None if missing else v
    return out


def _check_choice(name: str, value: Any, allowed: tuple[str, ...], where: str) -> None:
    if value is not None and value not in allowed:
        raise RecordError(
            f"{where}: {name} {value!r} is not one of {', '.join(allowed)}"
        )


def parse_iso_date(value: Any, where: str = "record") -> dt.date | None:
    """Return a ``datetime.date`` from an ISO string, date, datetime or None."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return value.to_pydatetime().date()
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise RecordError(f"{where}: date {value!r} is not an ISO date (YYYY-MM-DD)") from exc


@dataclass(frozen=True)
class Document:
    """One source text (a post, an article, a feed entry, a message, a record).

    Dates are ``datetime.date`` or None; ``lang``, ``genre`` and ``source_type`` take
    values from the module constants (or None when unknown).
    """

    doc_id: str
    source: str
    text: str
    title: str | None = None
    author: str | None = None
    date: dt.date | None = None
    url: str | None = None
    genre: str | None = None
    lang: str | None = None
    source_type: str | None = None
    encoding: str | None = None
    encoding_source: str | None = None
    parent_id: str | None = None
    date_raw: str | None = None
    date_source: str | None = None
    date_suspect: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any], where: str = "document") -> "Document":
        names = {f.name for f in dataclasses.fields(cls)}
        data = _missing_to_none({k: row.get(k) for k in names if k in row})
        if not data.get("doc_id"):
            raise RecordError(f"{where}: doc_id is missing")
        if data.get("text") is None:
            raise RecordError(f"{where}: text is missing")
        data["date"] = parse_iso_date(data.get("date"), where)
        data["date_suspect"] = bool(data.get("date_suspect") or False)
        data["extra"] = dict(data.get("extra") or {})
        _check_choice("lang", data.get("lang"), ALL_LANGS, where)
        _check_choice("genre", data.get("genre"), GENRES, where)
        _check_choice("source_type", data.get("source_type"), SOURCE_TYPES, where)
        data.setdefault("source", "")
        return cls(**data)


@dataclass(frozen=True)
class Passage:
    """One paragraph-sized unit of a document, with a copy of its document's metadata."""

    passage_id: str
    doc_id: str
    position: int
    text: str
    lang: str | None = None
    date: dt.date | None = None
    genre: str | None = None
    source_type: str | None = None
    source: str | None = None
    title: str | None = None
    url: str | None = None
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any], where: str = "passage") -> "Passage":
        names = {f.name for f in dataclasses.fields(cls)}
        data = _missing_to_none({k: row.get(k) for k in names if k in row})
        for key in ("passage_id", "doc_id", "text"):
            if data.get(key) is None:
                raise RecordError(f"{where}: {key} is missing")
        data["position"] = int(data.get("position") or 0)
        data["date"] = parse_iso_date(data.get("date"), where)
        _check_choice("lang", data.get("lang"), ALL_LANGS, where)
        _check_choice("genre", data.get("genre"), GENRES, where)
        _check_choice("source_type", data.get("source_type"), SOURCE_TYPES, where)
        _check_choice("label", data.get("label"), LABELS, where)
        return cls(**data)
