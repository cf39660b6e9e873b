"""Data-quality profiles, a readiness check and the home page's key figures.

Everything is computed with SQL aggregates in the store (one or two scans per table), so it
stays fast on millions of events. The results are kept in memory (``CACHE_ENTRIES`` of them, for
every caller of this process: each dashboard session, the bench) under the database file and
``profiling.tables_version``, which changes with any load, replace or append and with any
change of a table's row count or columns, but not when a model is trained: a page seen once
shows again after one metadata query instead of scans of every row. ``clear_cache()`` forgets
them (an in-place UPDATE that keeps every count, which the product never does, is not seen).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from personalization import config, store
from personalization.store import profiling

CACHE_ENTRIES = 32

EVENT_COLUMNS = ("user_id", "item_id", "event_type", "timestamp")
MIN_USERS = 20
MIN_ITEMS = 10
LOCAL_EVENTS = 20_000_000  # the largest event table measured end to end on one machine
MIN_REPEAT_USERS = 5
MIN_PER_CLASS = 20
TARGET_HINTS = (
    "converted",
    "conversion",
    "revenue",
    "target",
    "label",
    "churn",
    "churned",
    "purchased",
    "bought",
    "outcome",
    "y",
)


_cache: OrderedDict[tuple, Any] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every remembered profile, readiness and overview (the next call computes them)."""
    with _lock:
        _cache.clear()


def _remembered(name: str, args: tuple, db, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per database file, ``tables_version`` and ``(name, args)``; a copy of
    the remembered value after that (callers may change what they get)."""
    key = (name, args, str(config.db_path(db).resolve()), profiling.tables_version(db=db))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return copy.deepcopy(_cache[key])
    value = compute()
    with _lock:
        _cache[key] = value
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return copy.deepcopy(value)


def _is_events(columns: list[str]) -> bool:
    return all(c in columns for c in EVENT_COLUMNS)


def profile_table(table: str, db=None) -> dict[str, Any]:
    """Profile of one table.

    Returns ``table``, ``rows`` and ``columns`` (DataFrame: column, type, nulls, distinct
    (approximate), min, max); for an events table also ``events_per_type`` (type -> count),
    ``n_users``, ``n_items``, ``interactions_per_user`` (min, p25, median, p75, p90, max, mean),
    ``date_range`` ([first, last] or None) and ``events_per_day`` (DataFrame: day, events).
    Raises ``NotFoundError`` when the table does not exist. Remembered until the data changes.
    """
    return _remembered("profile", (table,), db, lambda: _profile(table, db))


def _profile(table: str, db) -> dict[str, Any]:
    store.require_table(table, db=db)
    rows, columns = profiling.column_stats(table, db=db)
    out: dict[str, Any] = {"table": table, "rows": rows, "columns": columns}
    if _is_events(list(columns["column"])):
        out.update(profiling.event_stats(table, db=db))
    return out


def _event_figures(table: str, db) -> dict[str, Any]:
    """Events, users, items, users with two or more events and the date range of an events
    table, from its (remembered) profile: the Home page's figures, its readiness checks and the
    Data page's profile share one set of scans."""
    p = profile_table(table, db=db)
    if "n_users" not in p:  # no event type or timestamp column: count what there is
        return {**profiling.events_counts(table, db=db), "date_range": None}
    keys = ("n_users", "n_items", "users_with_2_or_more", "date_range")
    return {"n_events": p["rows"], **{k: p[k] for k in keys}}


def _check(name: str, ok: bool, message: str) -> dict[str, Any]:
    return {"check": name, "ok": bool(ok), "message": message}


def _recommender_checks(tables: list[str], db) -> list[dict[str, Any]]:
    events = (
        "events"
        if "events" in tables
        else next(
            (t for t in tables if _is_events([c for c, _ in store.table_columns(t, db=db)])), None
        )
    )
    if events is None:
        return [
            _check(
                "events",
                False,
                "There is no events table; load one with: python -m "
                "personalization ingest FILE --kind events (or load the sample data)",
            )
        ]
    s = _event_figures(events, db)
    return [
        _check("events", True, f"{events}: {s['n_events']:,} events"),
        _check(
            "users",
            s["n_users"] >= MIN_USERS,
            f"{s['n_users']:,} users (need at least {MIN_USERS})",
        ),
        _check(
            "items",
            s["n_items"] >= MIN_ITEMS,
            f"{s['n_items']:,} items (need at least {MIN_ITEMS})",
        ),
        _check(
            "repeat_users",
            s["users_with_2_or_more"] >= MIN_REPEAT_USERS,
            f"{s['users_with_2_or_more']:,} users with 2 or more events (need at least "
            f"{MIN_REPEAT_USERS}, so that there is history to learn from and to test on)",
        ),
        _check("scale", True, scale_advice(s["n_events"])),
    ]


def scale_advice(n_events: int) -> str:
    """Whether ``n_events`` is within what one machine was measured to handle
    (``LOCAL_EVENTS``), or past it, where the Spark engine takes over."""
    if n_events <= LOCAL_EVENTS:
        return f"{n_events:,} events: one machine trains and exports this (measured up to 20M)"
    return (
        f"{n_events:,} events: past the 20M measured on one machine; to spread the work, use "
        f"--engine spark (pip install -r requirements-spark.txt and a Java 17 runtime)"
    )


def _find_target(tables: list[str], db) -> tuple[str, str, dict] | None:
    """The best (table, column, counts) that looks like a yes/no target, hinted names first."""
    best = None
    for table in tables:
        if table in ("events", "items"):
            continue
        for cand in profiling.two_valued_columns(table, db=db):
            enough = min(cand["counts"].values()) >= MIN_PER_CLASS
            score = (enough, cand["column"].lower() in TARGET_HINTS, table == "customers")
            if best is None or score > best[0]:
                best = (score, table, cand["column"], cand["counts"])
    return None if best is None else best[1:]


def _classifier_checks(target: tuple[str, str, dict] | None) -> list[dict[str, Any]]:
    if target is None:
        return [
            _check(
                "target",
                False,
                "No table has a yes/no target column (two values, such "
                "as converted 0/1 or Revenue TRUE/FALSE); load one with: python -m "
                "personalization ingest FILE --kind customers",
            )
        ]
    table, column, counts = target
    shown = ", ".join(f"{v}: {n:,}" for v, n in counts.items())
    ok = min(counts.values()) >= MIN_PER_CLASS
    return [
        _check("target", True, f"{table}.{column} looks like a target ({shown})"),
        _check(
            "classes",
            ok,
            f"{table}.{column} has {shown} (need at least {MIN_PER_CLASS} of each value)",
        ),
    ]


def readiness(db=None) -> dict[str, Any]:
    """Whether there is enough data to train a recommender and a classifier, and what is missing.

    Returns ``{"can_recommend": bool, "can_classify": bool, "checks": [{"check", "ok",
    "message"}], "target": {"table", "column"} or None}``. A recommender needs an events table
    with >= 20 users, >= 10 items and >= 5 users with two or more events; a classifier needs a
    table (not events or items) with a two-valued column holding >= 20 rows of each value.
    Remembered until the data changes.
    """
    return _remembered("readiness", (), db, lambda: _readiness(db))


def _readiness(db) -> dict[str, Any]:
    tables = store.table_names(db=db)
    rec = _recommender_checks(tables, db)
    target = _find_target(tables, db)
    cls = _classifier_checks(target)
    for c in rec:
        c["check"] = f"recommender: {c['check']}"
    for c in cls:
        c["check"] = f"classifier: {c['check']}"
    return {
        "can_recommend": all(c["ok"] for c in rec),
        "can_classify": all(c["ok"] for c in cls),
        "checks": rec + cls,
        "target": {"table": target[0], "column": target[1]} if target else None,
    }


def overview(db=None) -> dict[str, Any]:
    """Key figures for the home page.

    Returns ``tables`` (list of name, kind, rows), ``n_events``, ``n_users``, ``n_items``,
    ``date_range`` ([first, last] of events or None) and ``n_models``; zeros on an empty database.
    The figures of the tables are remembered until the data changes; ``n_models`` is read anew.
    """
    figures = _remembered("overview", (), db, lambda: _table_figures(db))
    return {**figures, "n_models": len(store.list_models(db=db))}


def _table_figures(db) -> dict[str, Any]:
    tables = store.list_tables(db=db)
    names = [t["name"] for t in tables]
    figures: dict[str, Any] = {"n_events": 0, "n_users": 0, "n_items": 0, "date_range": None}
    if "events" in names and _is_events([c for c, _ in store.table_columns("events", db=db)]):
        figures = _event_figures("events", db)
        figures.pop("users_with_2_or_more")
    return {"tables": tables, **figures}
