"""``ingest``, ``tables``, ``profile`` and ``readiness``: getting data in and checking it."""

from __future__ import annotations

import argparse
from typing import Any

from personalization.cli import LibraryChoices, parse_pairs, progress_bar
from personalization.cli.recommend import add_engine_flags
from personalization.errors import BadInputError

REPORT_KEYS = (
    "table",
    "rows_read",
    "rows_loaded",
    "rows_rejected",
    "duplicates_dropped",
    "rejects",
    "flagged",
    "mapping",
    "notes",
    "reject_summary",
    "items_updated",
    "users_updated",
)
KINDS = LibraryChoices("personalization.data.ingest", "KINDS")


def register(sub) -> None:
    """Add the data commands to ``sub`` (the subparsers of ``build_parser``)."""
    p = sub.add_parser(
        "ingest",
        help="load a CSV (.gz too) or Parquet file into a table (--engine spark: a folder or "
        "glob into a Parquet dataset)",
    )
    p.add_argument("file")
    p.add_argument(
        "--kind",
        choices=KINDS,
        default="events",
        metavar="KIND",
        help="what the rows are: %(choices)s (default: events)",
    )
    p.add_argument(
        "--map",
        action="append",
        metavar="ROLE=COLUMN",
        help="which column holds a role (repeatable), e.g. --map user_id=CustomerID; for "
        "events also item attributes (title, description, category, brand, price, item.NAME) and "
        "user attributes (country, device, location, segment, age, gender, user.NAME), e.g. "
        "--map title=Description: they fill the items / users tables",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="ROLE=VALUE",
        help="a constant for every row, e.g. --set event_type=purchase",
    )
    p.add_argument("--sep", help="delimiter (default: sniffed), e.g. --sep ';'")
    p.add_argument("--timestamp-format", help="strftime format, e.g. '%%d/%%m/%%Y %%H:%%M'")
    p.add_argument("--table", help="table to load into (default: the kind)")
    p.add_argument("--mode", choices=("append", "replace"), default="append")
    add_engine_flags(p)
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser(
        "tables",
        help="list the tables (and the Parquet datasets of --engine spark) with their rows",
    )
    p.set_defaults(func=cmd_tables)
    p = sub.add_parser("profile", help="data-quality profile of a table")
    p.add_argument("table", nargs="?", help="the table, e.g. events")
    p.add_argument("--table", dest="table_flag", metavar="NAME", help="the table, as a flag")
    add_engine_flags(p)
    p.set_defaults(func=cmd_profile)
    p = sub.add_parser("readiness", help="is there enough data to train, and what is missing")
    p.add_argument("--table", default="events", help="with --engine spark: the events dataset")
    add_engine_flags(p)
    p.set_defaults(func=cmd_readiness)


def cmd_ingest(args: argparse.Namespace) -> dict[str, Any]:
    from personalization.data import ingest

    options = {
        "kind": args.kind,
        "mapping": parse_pairs(args.map, "--map"),
        "constants": parse_pairs(args.set, "--set"),
        "sep": args.sep,
        "timestamp_format": args.timestamp_format,
        "table": args.table,
        "mode": args.mode,
        "db": args.db,
    }
    if args.engine == "spark":
        from personalization.spark import ingest as spark_ingest

        return spark_ingest.ingest_files(args.file, master=args.spark_master, **options)
    report = ingest.ingest_file(args.file, **options, progress=progress_bar())
    data = report.to_dict()
    return {k: data[k] for k in REPORT_KEYS if k in data}


def cmd_tables(args: argparse.Namespace) -> dict[str, Any]:
    from personalization import store
    from personalization.store import parquet_tables

    datasets = [
        {"name": d["table_name"], "kind": d["kind"], "rows": int(d["rows"]), "path": d["path"]}
        for d in parquet_tables.parquet_datasets(db=args.db)
    ]  # written by --engine spark: read by Spark, not by DuckDB
    out: dict[str, Any] = {"tables": store.list_tables(db=args.db)}
    return {**out, "datasets": datasets} if datasets else out


def cmd_profile(args: argparse.Namespace) -> dict[str, Any]:
    from personalization.data import profile

    table = args.table_flag or args.table
    if not table or (args.table_flag and args.table and args.table != args.table_flag):
        raise BadInputError(
            "profile takes one table, as TABLE or --table NAME; e.g. python -m personalization "
            "profile events"
        )
    if args.engine == "spark":
        from personalization.spark import profile as spark_profile

        return spark_profile.profile_dataset(table, master=args.spark_master, db=args.db)
    return profile.profile_table(table, db=args.db)


def cmd_readiness(args: argparse.Namespace) -> dict[str, Any]:
    from personalization.data import profile

    if args.engine == "spark":
        from personalization.spark import profile as spark_profile

        return spark_profile.readiness(args.table, master=args.spark_master, db=args.db)
    return profile.readiness(db=args.db)
