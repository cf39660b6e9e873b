"""The exception family users see.

Every message says what is wrong, what was found, and how to fix it. The command line turns
``BadInputError`` into exit code 2 and any other ``PersonalizationError`` into exit code 1; pages
show the message with ``st.error``.
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
    """Another process holds the DuckDB file for writing and did not let go in time."""


class IncompatibleModelError(BadInputError):
    """A saved model is damaged or was written by an incompatible version of this library; the
    fix is the user's (train it again, or delete it), so the command line exits 2."""
