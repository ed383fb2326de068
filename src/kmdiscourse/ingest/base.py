"""What every reader receives and yields: the file's context and raw records."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SourceFile:
    """One input file (or archive member) being read."""

    path: str  # relative to the INPUT root, forward slashes
    raw: bytes
    defaults: dict[str, Any] = field(default_factory=dict)  # CLI defaults + sidecar overrides
    warnings: list[str] = field(default_factory=list)  # per-record problems, "file:line: ..."
    records_skipped: int = 0
    encoding: str | None = None
    encoding_source: str | None = None
    replacements: int = 0
    detail: str | None = None  # a note for the manifest entry (e.g. items skipped by type)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass
class RawRecord:
    """What a reader yields: text and whatever metadata the file carries.

    ``date`` may be a string (parsed later, with the language as a hint), a date, or None.
    ``key`` distinguishes records within one file (``#entry3``, ``#line12``) and feeds the
    stable document id when the record has no ``id`` of its own.
    """

    text: str
    key: str = ""
    id: str | None = None
    title: str | None = None
    author: str | None = None
    date: Any = None
    url: str | None = None
    genre: str | None = None
    lang: str | None = None  # declared language (a hint; detection decides)
    source_type: str | None = None
    parent_id: str | None = None
    date_source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Reader = Callable[[SourceFile], Iterator[RawRecord]]


class SkipFile(Exception):
    """Raised by a reader to skip a whole file with a reason (``empty``, ``no_text``...)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
