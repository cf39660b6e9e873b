"""Profiling tables: the SQL behind data-quality profiles, readiness checks and key figures.

Each function is one or a few aggregate queries (one scan per table where it can), so profiles
stay fast on millions of events. ``personalization.data.profile`` turns them into what the pages show.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd

from personalization.store.core import CATALOG_TABLES, column_types, connect, quote_ident
from personalization.store.loading import NUMERIC_TYPES


def column_stats(table: str, db=None) -> tuple[int, pd.DataFrame]:
    """Rows of ``table`` and a frame of column, type, nulls, distinct (approximate), min, max.

    One scan of the table whatever its width.
    """
    with connect(db, read_only=True) as con:
        con.execute("SET enable_progress_bar = false")
        cols = column_types(con, table)
        q = quote_ident(table)
        parts = ["count(*)"]
        for name, typ in cols.items():
            c = quote_ident(name)
            parts += [f"count({c})", f"approx_count_distinct({c})"]
            if typ.startswith(("STRUCT", "MAP", "LIST")) or typ.endswith("[]"):
                parts += ["NULL", "NULL"]
            else:
                parts += [f"CAST(min({c}) AS VARCHAR)", f"CAST(max({c}) AS VARCHAR)"]
        row = con.execute(f"SELECT {', '.join(parts)} FROM {q}").fetchone()
    rows = int(row[0])
    records = []
    for i, (name, typ) in enumerate(cols.items()):
        nonnull, distinct, low, high = row[1 + 4 * i : 5 + 4 * i]
        records.append(
            {
                "column": name,
                "type": typ,
                "nulls": rows - int(nonnull),
                "distinct": int(distinct),
                "min": low,
                "max": high,
            }
        )
    frame = pd.DataFrame(records, columns=["column", "type", "nulls", "distinct", "min", "max"])
    return rows, frame


def event_stats(table: str, db=None) -> dict[str, Any]:
    """Events per type, users, items, interactions per user (quantiles), date range, per day."""
    q = quote_ident(table)
    with connect(db, read_only=True) as con:
        con.execute("SET enable_progress_bar = false")
        per_type = con.execute(
            f"SELECT event_type, count(*) AS n FROM {q} GROUP BY ALL ORDER BY n DESC, event_type"
        ).fetchall()
        n_items, first, last = con.execute(
            f'SELECT count(DISTINCT item_id), min("timestamp"), max("timestamp") FROM {q}'
        ).fetchone()
        quantiles = con.execute(
            f"SELECT min(n), quantile_cont(n, 0.25), median(n), quantile_cont(n, 0.75), "
            f"quantile_cont(n, 0.9), max(n), avg(n), count(*) FILTER (WHERE n >= 2), count(*) "
            f"FROM (SELECT count(*) AS n FROM {q} GROUP BY user_id)"
        ).fetchone()
        per_day = con.execute(
            f'SELECT CAST("timestamp" AS DATE) AS day, count(*) AS events FROM {q} '
            f'WHERE "timestamp" IS NOT NULL GROUP BY day ORDER BY day'
        ).df()
    keys = ("min", "p25", "median", "p75", "p90", "max", "mean")
    return {
        "events_per_type": {str(t): int(n) for t, n in per_type},
        "n_users": int(quantiles[8]),
        "n_items": int(n_items),
        "users_with_2_or_more": int(quantiles[7] or 0),
        "interactions_per_user": {
            k: (float(v) if v is not None else None)
            for k, v in zip(keys, quantiles[:7], strict=True)
        },
        "date_range": [first, last] if first is not None else None,
        "events_per_day": per_day,
    }


def two_valued_columns(table: str, db=None) -> list[dict[str, Any]]:
    """Columns with exactly two distinct non-null values: ``{column, counts: {value: n}}``."""
    q = quote_ident(table)
    with connect(db, read_only=True) as con:
        con.execute("SET enable_progress_bar = false")
        cols = [
            n
            for n, t in column_types(con, table).items()
            if t in ("VARCHAR", "BOOLEAN") or t in NUMERIC_TYPES
        ]
        if not cols:
            return []
        row = con.execute(
            f"SELECT {', '.join(f'approx_count_distinct({quote_ident(c)})' for c in cols)} FROM {q}"
        ).fetchone()
        out = []
        for col, approx in zip(cols, row, strict=True):
            if approx is None or approx > 4:
                continue
            counts = con.execute(
                f"SELECT CAST({quote_ident(col)} AS VARCHAR), count(*) FROM {q} "
                f"WHERE {quote_ident(col)} IS NOT NULL GROUP BY 1 LIMIT 3"
            ).fetchall()
            if len(counts) == 2:
                out.append({"column": col, "counts": {str(v): int(n) for v, n in counts}})
    return out


def events_summary(table: str, db=None) -> dict[str, Any]:
    """Rows, users, items and date range of an events table in one scan."""
    q = quote_ident(table)
    with connect(db, read_only=True) as con:
        con.execute("SET enable_progress_bar = false")
        n, users, items, first, last = con.execute(
            f"SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id), "
            f'min("timestamp"), max("timestamp") FROM {q}'
        ).fetchone()
    return {
        "n_events": int(n),
        "n_users": int(users),
        "n_items": int(items),
        "date_range": [first, last] if first is not None else None,
    }


def events_counts(table: str, db=None) -> dict[str, int]:
    """Events, users, items and users with two or more events of an events table, one query."""
    q = quote_ident(table)
    with connect(db, read_only=True) as con:
        con.execute("SET enable_progress_bar = false")
        n, users, repeat, items = con.execute(
            f"SELECT coalesce(sum(n), 0), count(*), count(*) FILTER (WHERE n >= 2), "
            f"(SELECT count(DISTINCT item_id) FROM {q}) "
            f"FROM (SELECT count(*) AS n FROM {q} GROUP BY user_id)"
        ).fetchone()
    return {
        "n_events": int(n),
        "n_users": int(users),
        "n_items": int(items),
        "users_with_2_or_more": int(repeat),
    }


def tables_version(db=None) -> str:
    """A token that changes whenever a user table is loaded or changes shape: each table's
    columns, types and row count, and every row of the ``datasets`` catalog (any load, replace
    or append records its time there; an UPDATE in place keeping every count is not seen). Training a model or giving feedback leaves it as it is, so figures
    cached under it stay valid until the data changes. One connection, metadata and counts only.
    """
    with connect(db, read_only=True) as con:
        columns = con.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_name = c.table_name "
            "AND t.table_schema = c.table_schema "
            "WHERE c.table_schema = 'main' AND t.table_type = 'BASE TABLE' "
            "ORDER BY c.table_name, c.ordinal_position"
        ).fetchall()
        names = sorted({t for t, _, _ in columns})
        counts = [
            (name, con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0])
            for name in names
            if name not in CATALOG_TABLES
        ]
        loads = (
            con.execute(
                "SELECT table_name, CAST(ingested_at AS VARCHAR), file_hash, rows FROM datasets "
                "ORDER BY ALL"
            ).fetchall()
            if "datasets" in names
            else []
        )
    shown = [c for c in columns if c[0] not in CATALOG_TABLES]
    return hashlib.sha256(repr((shown, counts, loads)).encode()).hexdigest()[:20]
