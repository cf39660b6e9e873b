"""The command line: ``python -m personalization [--db PATH] COMMAND ...``.

Each command is one library call. On success it prints ONE JSON object on stdout. On bad input,
flags argparse refuses included, it prints a one-line message on stderr and exits 2; any other
failure exits 1.

Commands live in the modules of this package, each with a ``register(subparsers)`` that sets
``func`` on its parsers; ``func(args)`` returns the dict to print:

- ``data``: ``ingest``, ``tables``, ``profile``, ``readiness``;
- ``models``: ``models``, ``promote``, ``delete-model``;
- ``recommend``: ``train-recommender``, ``evaluate-recommender``, ``tune-recommender``,
  ``recommend``, ``export-recommendations``;
- ``propensity``: ``train-classifier``, ``score``;
- ``explain``: ``explain``, ``lift``, ``build-features``;
- ``sequence``: ``sequence-readiness``, ``next-items``, ``export-next-items``.

Building the parser imports no heavy module (pandas, scikit-learn, SHAP): command modules import
the library inside their command functions, and a flag whose allowed values a library module
holds names them through ``LibraryChoices``, read only when argparse checks a value or prints help.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any, NoReturn

from personalization.cli.allocator import keep_freed_memory
from personalization.cli.lazy import defer_unused_imports
from personalization.errors import BadInputError, DatabaseBusyError, PersonalizationError

PROG = "python -m personalization"
COMMAND_MODULES = (
    "data", "models", "recommend", "propensity", "explain", "monitor", "jobs", "serve", "sequence",
)  # fmt: skip
BAR_WIDTH = 30
BAR_SECONDS = 0.2  # the bar is redrawn at most this often
_BAR = {"open": False}


class CommandLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are ``BadInputError``: ``main`` prints them on one line
    and exits 2, like every other bad input. ``commands`` maps each command name to its parser."""

    commands: dict[str, argparse.ArgumentParser]

    def add_subparsers(self, **kwargs: Any) -> argparse.Action:
        action = super().add_subparsers(**kwargs)
        self.commands = action.choices
        return action

    def error(self, message: str) -> NoReturn:
        raise BadInputError(f"{message}; see: {self.prog} --help")


class LibraryChoices(Sequence[str]):
    """The allowed values of a flag, held by a library module (``module.name``, a tuple of
    strings) and imported only when first needed. Give the flag a ``metavar``: without one
    argparse lists the choices, and so imports the module, while it builds the parser."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name

    @cached_property
    def values(self) -> tuple[str, ...]:
        """The choices, read from the library module on first use."""
        return tuple(getattr(importlib.import_module(self.module), self.name))

    def __getitem__(self, index: int) -> str:
        return self.values[index]

    def __len__(self) -> int:
        return len(self.values)


def build_parser() -> CommandLineParser:
    """The parser of every command; a command module that fails to import raises."""
    parser = CommandLineParser(
        prog=PROG,
        description="Personalization workbench: ingest, train, recommend, explain, export.",
    )
    parser.add_argument(
        "--db", help="DuckDB file (default: $PERSONALIZATION_DB or data/personalization.duckdb)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"personalization.cli.{name}").register(sub)
    return parser


def parse_pairs(pairs: Sequence[str] | None, flag: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a pair without ``=`` is bad input."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"{flag} takes KEY=VALUE; got {pair!r}. Example: {flag} rank=32")
        out[key.strip()] = value.strip()
    return out


def is_missing(value: Any) -> bool:
    """True for a scalar that stands for "no value": NaN, ``pd.NaT``, ``pd.NA``."""
    try:
        return bool(value != value)
    except TypeError:  # pd.NA: its comparisons are missing too
        return True
    except ValueError:  # an array: not one missing value
        return False


def json_ready(obj: Any) -> Any:
    """``obj`` with only values JSON can print, the one cleaner every command's output goes
    through: NaN, infinities and missing values become ``None``; numpy scalars and arrays and
    pandas series become plain numbers and lists; a data frame becomes its list of row dicts;
    dicts, lists and tuples are cleaned item by item. Dates and other objects stay as they are
    (``main`` prints them with ``str``)."""
    if isinstance(obj, dict):
        return {key: json_ready(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(value) for value in obj]
    if obj is None or isinstance(obj, str | bool | int):
        return obj
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if hasattr(obj, "columns") and hasattr(obj, "to_dict"):
        return json_ready(obj.to_dict(orient="records"))
    dtype_kind = getattr(getattr(obj, "dtype", None), "kind", "")
    if hasattr(obj, "tolist") and dtype_kind not in ("M", "m"):  # dates stay dates
        return json_ready(obj.tolist())
    return None if is_missing(obj) else obj


def progress_bar() -> Callable[[float, str], None] | None:
    """A progress bar on stderr for a long command (training, scoring, an export, a load) when
    stderr is a terminal or ``PERSONALIZATION_PROGRESS=1``; None otherwise, so that scripts and
    logs read only the JSON on stdout and, on failure, the one-line error on stderr."""
    if not (sys.stderr.isatty() or os.environ.get("PERSONALIZATION_PROGRESS") == "1"):
        return None
    shown = {"at": 0.0}

    def show(fraction: float, message: str) -> None:
        now = time.monotonic()
        if fraction < 1 and now - shown["at"] < BAR_SECONDS:
            return
        shown["at"] = now
        filled = int(round(fraction * BAR_WIDTH))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        sys.stderr.write(f"\r[{bar}] {fraction:4.0%} {message[:70]:<70}")
        _BAR["open"] = fraction < 1
        if fraction >= 1:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _close_bar() -> None:
    """End a progress bar left mid-line, so that an error starts on a line of its own."""
    if _BAR["open"]:
        sys.stderr.write("\n")
        _BAR["open"] = False


def one_line(message: object) -> str:
    """``message`` as a single line: its lines joined by spaces."""
    return " ".join(str(message).split("\n"))


def end_process(code: int) -> NoReturn:
    """Exit the command-line process with ``code``, without the interpreter's teardown.

    By then the command's files are closed and its JSON printed; what the teardown has left is
    freeing every object and module one by one, 0.15-0.25 s after a training or an export of 1M
    events. The atexit handlers run first (the part of the teardown that acts outside the
    process: temporary folders, log handlers), then the output is flushed. A normal exit is kept
    where the teardown is watched or still needed: under a tracer or profiler (coverage,
    pyinstrument), with other threads alive, or after Spark (its JVM is stopped at exit)."""
    watched = sys.gettrace() is not None or sys.getprofile() is not None
    if watched or threading.active_count() > 1 or "pyspark" in sys.modules:
        raise SystemExit(code)
    atexit._run_exitfuncs()
    with contextlib.suppress(OSError, ValueError):  # a reader that went away, a closed stream
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 done, 1 failed, 2 bad input), or the code a
    command that succeeded set as ``args.exit_code`` after its JSON (``monitor``: 3 when an
    alert fires). Run from the shell (``argv`` None), a command that ends by itself first lets
    the allocator keep freed memory for reuse (``allocator.keep_freed_memory``); every command
    run from the shell loads the submodules no command uses lazily (``lazy``)."""
    try:
        args = build_parser().parse_args(argv)
        if argv is None:
            defer_unused_imports()  # see cli.lazy
        if argv is None and not getattr(args, "long_running", False):
            keep_freed_memory()  # a batch command run from the shell (see cli.allocator)
        result = args.func(args)
    except (BadInputError, DatabaseBusyError) as exc:  # busy: try again when it finishes
        _close_bar()
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except PersonalizationError as exc:
        _close_bar()
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    try:
        json.dump(json_ready(result), sys.stdout, default=str)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader (e.g. `| head`) stopped early: not our failure
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
    return getattr(args, "exit_code", 0)
