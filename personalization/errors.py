"""The exception family users see.

Every message says what is wrong, what was found, and how to fix it. The command line turns
``BadInputError`` and ``DatabaseBusyError`` into exit code 2 and any other ``PersonalizationError``
into exit code 1; pages show the message with ``st.error`` (a ``DatabaseBusyError`` as a waiting
state: the database is in use, nothing is wrong with the input).
"""

from __future__ import annotations


class PersonalizationError(Exception):
    """Base class of every error this library raises on purpose."""


class BadInputError(PersonalizationError, ValueError):
    """The user's input (a file, a flag, a parameter) cannot be used as given."""


class NotFoundError(BadInputError, LookupError):
    """A named table, model, user or item does not exist."""


class NotEnoughDataError(BadInputError):
    """There is too little data to do what was asked (train, split, evaluate)."""


class DatabaseBusyError(PersonalizationError):
    """Another process held the DuckDB file and did not let go in time: nothing is wrong and
    nothing was changed; the fix is to try again when it finishes (the command line exits 2).

    ``path`` is the database file, ``holder`` what holds it (``"PID 123: python -m
    personalization ingest big.csv"``, or ``""`` when DuckDB did not say).
    """

    def __init__(self, message: str, path: str = "", holder: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.holder = holder


class MemoryLimitError(BadInputError):
    """A task needed more memory than DuckDB may use (``PERSONALIZATION_MEMORY_LIMIT``); nothing
    was stored. The fix is the user's: a higher limit, or a smaller file."""


class IncompatibleModelError(BadInputError):
    """A saved model is damaged or was written by an incompatible version of this library; the
    fix is the user's (train it again, or delete it), so the command line exits 2."""
