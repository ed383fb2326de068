"""Exceptions users see: each names what was wrong, where, and what was expected."""
from __future__ import annotations


class KmdError(Exception):
    """Base class of kmdiscourse errors; the CLI prints them as one ``Error:`` line."""


class InputError(KmdError, FileNotFoundError):
    """A path given by the user is missing or yields nothing readable."""


class RecordError(KmdError, ValueError):
    """A record (row, line, entry) is malformed; the message names the file and line."""


class FormatError(KmdError, ValueError):
    """A file cannot be parsed as the format its name or content says."""


class ModelError(KmdError, ValueError):
    """A model file is corrupt, foreign, or untrusted."""


class MissingDependencyError(KmdError, ImportError):
    """An optional package is needed for this feature; the message names the pip command."""
