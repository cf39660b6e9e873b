"""Per-user training data for conversion models, built from ``events`` (+ ``users``, ``items``).

One row per user with at least one event before the cut-off: recency, tenure, frequency
(events, sessions, days active), monetary (purchase value), counts per event type, dwell (mean
value of views), cart abandonment, distinct items and categories, the user's attributes, and
the label ``converted`` (1 when the user purchased within ``label_days`` after the cut-off).
Features never see the label window. Encoding and scaling live in the propensity pipelines.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from personalization import store
from personalization.errors import BadInputError, NotEnoughDataError
from personalization.store import features as sql

REQUIRED = ("user_id", "item_id", "event_type", "timestamp")
PROTECTED = ("datasets", "models", "feedback")


def build_customer_features(
    events_table: str = "events",
    users_table: str | None = "users",
    cutoff: str | datetime | None = None,
    label_days: int = 30,
    out_table: str = "customer_features",
    items_table: str | None = "items",
    db=None,
) -> dict:
    """Write ``out_table`` (replacing it atomically) and describe it.

    ``cutoff`` defaults to the last event's timestamp minus ``label_days``. Features use events
    with ``timestamp < cutoff``; the label window is ``cutoff <= timestamp <= cutoff + label_days``.
    ``users_table`` and ``items_table`` are used when they exist (``items`` needs a ``category``
    column for ``distinct_categories``).

    Returns ``table``, ``rows``, ``positives``, ``positive_rate``, ``cutoff``, ``label_end``,
    ``label_days``, ``target`` ("converted"), ``positive`` (1), ``key`` ("user_id"),
    ``features`` (column names) and ``dropped``: the features left out because they are empty or
    the same for everyone in this data (no cart adds, no sessions, ...). Raises ``NotFoundError`` for a missing events table,
    ``BadInputError`` for bad arguments or columns, ``NotEnoughDataError`` when there are no
    events, no timestamps, no events before the cut-off or no purchase in the label window.
    """
    check_names(events_table, users_table, out_table, items_table, label_days)
    columns = check_event_columns(events_table, db)
    summary = sql.events_summary(events_table, db=db)
    check_events(events_table, summary)
    start = resolve_cutoff(cutoff, summary, label_days)
    end = start + timedelta(days=label_days)
    check_label_window(events_table, summary, start, end, label_days, db)
    select, params = sql.feature_sql(
        events_table,
        users_table if users_table and store.table_exists(users_table, db) else None,
        items_table if has_category(items_table, db) else None,
        sorted(summary["types"]),
        has_value="value" in columns,
        has_session="session_id" in columns,
        db=db,
    )
    params.update(cutoff=start, label_end=end)
    source = f"built from {events_table} at cut-off {start:%Y-%m-%d %H:%M:%S}, {label_days} days"
    written = sql.write_customer_features(out_table, select, params, source, db=db)
    if not written["written"]:
        raise NotEnoughDataError(
            f"None of the {written['rows']} users with events before {start:%Y-%m-%d} purchased "
            f"between {start:%Y-%m-%d} and {end:%Y-%m-%d}; the buyers of that window have no "
            f"earlier events. Choose an earlier --cutoff or a longer --label-days."
        )
    names = [c for c, _ in store.table_columns(out_table, db)]
    return {
        "table": out_table,
        "rows": written["rows"],
        "positives": written["positives"],
        "positive_rate": written["positives"] / written["rows"],
        "cutoff": start.isoformat(sep=" "),
        "label_end": end.isoformat(sep=" "),
        "label_days": label_days,
        "target": sql.TARGET,
        "positive": 1,
        "key": "user_id",
        "features": [c for c in names if c not in ("user_id", sql.TARGET)],
        "dropped": written["dropped"],
    }


def check_names(events_table, users_table, out_table, items_table, label_days) -> None:
    """Refuse an output table that would overwrite an input or a catalog table, or a bad window."""
    if not out_table or not str(out_table).strip():
        raise BadInputError("out_table is empty; name the table to write, e.g. customer_features.")
    inputs = {events_table, users_table, items_table}
    if out_table in inputs or out_table in PROTECTED:
        raise BadInputError(
            f"out_table {out_table!r} would overwrite an input or catalog table; "
            f"choose another name, e.g. --out-table customer_features."
        )
    if not isinstance(label_days, int) or isinstance(label_days, bool) or label_days < 1:
        raise BadInputError(f"label_days must be a whole number of days >= 1; got {label_days!r}.")


def check_event_columns(events_table: str, db=None) -> set[str]:
    """The event table's column names; raise ``BadInputError`` when a required one is missing."""
    columns = {name for name, _ in store.table_columns(events_table, db)}
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise BadInputError(
            f"{events_table} has no column {', '.join(missing)}; found: {', '.join(sorted(columns))}. "
            f"Load events with those roles mapped, e.g. --map timestamp=COLUMN."
        )
    return columns


def check_events(events_table: str, summary: dict) -> None:
    if summary["rows"] == 0:
        raise NotEnoughDataError(
            f"{events_table} has no rows; load events first with: "
            f"python -m personalization ingest FILE --kind events"
        )
    if summary["with_timestamp"] == 0:
        raise NotEnoughDataError(
            f"None of the {summary['rows']} rows of {events_table} has a timestamp, so there is no "
            f"cut-off to build features and labels around; load events with --map timestamp=COLUMN."
        )
    if sql.PURCHASE not in summary["types"]:
        found = ", ".join(summary["types"]) or "none"
        raise NotEnoughDataError(
            f"{events_table} has no {sql.PURCHASE!r} events to define conversion; event types "
            f"found: {found}. Map the purchase column with --set event_type=purchase or load orders."
        )


def resolve_cutoff(cutoff, summary: dict, label_days: int) -> datetime:
    """The cut-off as a naive datetime; the default leaves ``label_days`` after it."""
    first, last = pd.Timestamp(summary["first"]), pd.Timestamp(summary["last"])
    if cutoff is None:
        value = last - pd.Timedelta(days=label_days)
    else:
        try:
            value = pd.Timestamp(cutoff)
        except (ValueError, TypeError) as exc:
            raise BadInputError(
                f"cutoff {cutoff!r} is not a date; write it as YYYY-MM-DD or YYYY-MM-DD HH:MM:SS."
            ) from exc
        if value.tzinfo is not None:
            value = value.tz_convert(None)
    if value <= first:
        raise NotEnoughDataError(
            f"No events before the cut-off {value:%Y-%m-%d %H:%M}; events run from "
            f"{first:%Y-%m-%d} to {last:%Y-%m-%d}. Choose a later --cutoff"
            f"{' or fewer --label-days' if cutoff is None else ''}."
        )
    return value.to_pydatetime()


def check_label_window(events_table, summary, start, end, label_days, db=None) -> None:
    if sql.count_events_between(events_table, sql.PURCHASE, start, end, db=db) == 0:
        first, last = (day(t) for t in sql.purchase_span(events_table, db=db))
        raise NotEnoughDataError(
            f"No purchase between the cut-off {start:%Y-%m-%d} and {end:%Y-%m-%d} "
            f"({label_days} days); purchases in {events_table} run from {first} to "
            f"{last}. Choose a --cutoff before {last} or a longer --label-days."
        )


def day(value) -> str:
    return "an unknown date" if value is None else f"{pd.Timestamp(value):%Y-%m-%d}"


def has_category(items_table: str | None, db=None) -> bool:
    if not items_table or not store.table_exists(items_table, db):
        return False
    return "category" in {name for name, _ in store.table_columns(items_table, db)}
