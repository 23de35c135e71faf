"""Typed errors. Each one carries a one-line, user-facing message (French)."""

from __future__ import annotations


class ChatkbError(Exception):
    """Base class: ``str(error)`` is a one-line message fit for a user."""

    exit_code = 1


class UnreadableFileError(ChatkbError):
    """A file that cannot be read as text (empty, binary, too large, undecodable)."""

    exit_code = 2


class NoQuestionsError(ChatkbError):
    """A readable document in which no question was found."""

    exit_code = 3


class IndexError_(ChatkbError):
    """The index is missing, corrupt, or was built differently (model, format)."""

    exit_code = 4


class IndexMissingError(IndexError_):
    pass


class IndexCorruptError(IndexError_):
    pass


class IndexMismatchError(IndexError_):
    """The index was built with another model, analyser or format version."""


class ModelError(ChatkbError):
    """The embedding model cannot be found, or its weights fail their checksum."""

    exit_code = 5


class QueryError(ChatkbError):
    """A query that cannot be searched (empty once cleaned)."""

    exit_code = 6


class BuildLockedError(ChatkbError):
    """Another build holds the index lock."""

    exit_code = 7
