"""``ingest``, ``tables``, ``profile`` and ``readiness``: getting data in and checking it."""

from __future__ import annotations

from typing import Any

import pandas as pd

from personalization import store
from personalization.cli import parse_pairs
from personalization.data import ingest, profile

REPORT_KEYS = ("table", "rows_read", "rows_loaded", "rows_rejected", "duplicates_dropped",
               "rejects", "flagged", "mapping", "notes")


def register(sub) -> None:
    p = sub.add_parser("ingest", help="load a CSV (.gz too) or Parquet file into a table")
    p.add_argument("file")
    p.add_argument("--kind", choices=ingest.KINDS, default="events")
    p.add_argument("--map", action="append", metavar="ROLE=COLUMN",
                   help="which column holds a role (repeatable), e.g. --map user_id=CustomerID")
    p.add_argument("--set", action="append", metavar="ROLE=VALUE",
                   help="a constant for every row, e.g. --set event_type=purchase")
    p.add_argument("--sep", help="delimiter (default: sniffed), e.g. --sep ';'")
    p.add_argument("--timestamp-format", help="strftime format, e.g. '%%d/%%m/%%Y %%H:%%M'")
    p.add_argument("--table", help="table to load into (default: the kind)")
    p.add_argument("--mode", choices=("append", "replace"), default="append")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("tables", help="list the tables with their kind and rows")
    p.set_defaults(func=cmd_tables)
    p = sub.add_parser("profile", help="data-quality profile of a table")
    p.add_argument("table")
    p.set_defaults(func=cmd_profile)
    p = sub.add_parser("readiness", help="is there enough data to train, and what is missing")
    p.set_defaults(func=cmd_readiness)


def cmd_ingest(args) -> dict[str, Any]:
    report = ingest.ingest_file(
        args.file, kind=args.kind, mapping=parse_pairs(args.map, "--map"),
        constants=parse_pairs(args.set, "--set"), sep=args.sep,
        timestamp_format=args.timestamp_format, table=args.table, mode=args.mode, db=args.db,
    )
    data = report.to_dict()
    return {k: data[k] for k in REPORT_KEYS}


def cmd_tables(args) -> dict[str, Any]:
    return {"tables": store.list_tables(db=args.db)}


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def cmd_profile(args) -> dict[str, Any]:
    out = profile.profile_table(args.table, db=args.db)
    return {k: _records(v) if isinstance(v, pd.DataFrame) else v for k, v in out.items()}


def cmd_readiness(args) -> dict[str, Any]:
    return profile.readiness(db=args.db)
