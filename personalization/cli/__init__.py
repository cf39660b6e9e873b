"""The command line: ``python -m personalization [--db PATH] COMMAND ...``.

Each command is one library call. On success it prints ONE JSON object on stdout. On bad input
it prints a one-line message on stderr and exits 2; any other failure exits 1. Commands live in
the modules of this package, each with a ``register(subparsers)`` that sets ``func`` on its parser;
``func(args)`` returns the dict to print.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

import numpy as np

from personalization.errors import BadInputError, PersonalizationError

COMMAND_MODULES = ("data", "models", "recommend", "propensity", "explain")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m personalization",
        description="Personalization workbench: ingest, train, recommend, explain, export.",
    )
    parser.add_argument(
        "--db", help="DuckDB file (default: $PERSONALIZATION_DB or data/personalization.duckdb)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"personalization.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"personalization.cli.{name}":
                raise
            continue
        module.register(sub)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except BadInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PersonalizationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        json.dump(_clean(result), sys.stdout, default=str)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader (e.g. `| head`) stopped early: not our failure
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
    return 0


def _clean(obj):
    """Replace NaN and infinities by null so that the output is valid JSON."""
    if isinstance(obj, float | np.floating):
        obj = float(obj)
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj
