"""Per-user features from ``events`` in SQL, written as one table in one transaction.

Features see only events strictly before the cut-off; the label ``converted`` looks only at the
window ``[cutoff, label_end]``. Values are parameters, identifiers go through ``quote_ident``.
"""

from __future__ import annotations

import re
from datetime import datetime

from personalization.store.catalog import record_dataset
from personalization.store.core import (
    column_types,
    connect,
    query_df,
    query_rows,
    quote_ident,
    table_columns,
)

PURCHASE = "purchase"
CART = "add_to_cart"
VIEW = "view"
TARGET = "converted"
BEHAVIOUR = (
    "recency_days",
    "tenure_days",
    "events",
    "sessions",
    "days_active",
    "monetary",
    "dwell_mean",
    "distinct_items",
    "cart_abandonment",
    "distinct_categories",
)


def events_summary(events_table: str, db=None) -> dict:
    """Rows, rows with a timestamp, first and last timestamp, and events per type."""
    t = quote_ident(events_table)
    rows, stamped, first, last = query_rows(
        f'SELECT count(*), count("timestamp"), min("timestamp"), max("timestamp") FROM {t}', db=db
    )[0]
    types = query_rows(
        f"SELECT CAST(event_type AS VARCHAR), count(*) FROM {t} WHERE event_type IS NOT NULL "
        f"GROUP BY 1 ORDER BY 2 DESC, 1",
        db=db,
    )
    return {
        "rows": int(rows),
        "with_timestamp": int(stamped),
        "first": first,
        "last": last,
        "types": {str(k): int(v) for k, v in types},
    }


def purchase_span(events_table: str, purchase: str = PURCHASE, db=None) -> tuple:
    """First and last timestamp of the purchase events (``(None, None)`` without any)."""
    sql = (
        f'SELECT min("timestamp"), max("timestamp") FROM {quote_ident(events_table)} '
        f"WHERE event_type = ?"
    )
    return tuple(query_rows(sql, [purchase], db=db)[0])


def count_events_between(
    events_table: str, event_type: str, start: datetime, end: datetime, db=None
) -> int:
    """Events of ``event_type`` with ``start <= timestamp <= end``."""
    sql = (
        f"SELECT count(*) FROM {quote_ident(events_table)} WHERE event_type = ? "
        f'AND "timestamp" >= ? AND "timestamp" <= ?'
    )
    return int(query_rows(sql, [event_type, start, end], db=db)[0][0])


def column_slug(text: str) -> str:
    """``"Add to cart!"`` -> ``"add_to_cart"``: a readable column-name part."""
    return re.sub(r"[^0-9a-z]+", "_", str(text).lower()).strip("_") or "other"


def type_count_columns(event_types: list[str]) -> dict[str, str]:
    """Event type -> feature column ``n_<type>``, made unique when two types slug alike."""
    out: dict[str, str] = {}
    for event_type in event_types:
        name = f"n_{column_slug(event_type)}"
        while name in out.values():
            name += "_"
        out[event_type] = name
    return out


def attribute_columns(table: str | None, taken: set[str], db=None) -> dict[str, str]:
    """Attribute column of ``table`` (all but ``user_id``) -> output name, renamed on clashes."""
    if table is None:
        return {}
    out = {}
    for name, _ in table_columns(table, db):
        if name == "user_id":
            continue
        alias = name if name not in taken else f"user_{name}"
        while alias in taken or alias in out.values():
            alias += "_"
        out[name] = alias
    return out


def feature_sql(
    events_table: str,
    users_table: str | None,
    items_table: str | None,
    event_types: list[str],
    has_value: bool,
    has_session: bool,
    purchase: str = PURCHASE,
    cart: str = CART,
    view: str = VIEW,
    db=None,
) -> tuple[str, dict]:
    """The SELECT that builds one row per user with events before ``$cutoff``, and its parameters.

    Named parameters: ``$cutoff`` and ``$label_end`` (timestamps) and the event types.
    """
    params: dict = {"purchase": purchase, "cart": cart, "view": view}
    counts = type_count_columns(event_types)
    aggregates = [
        'epoch(CAST($cutoff AS TIMESTAMP) - max("timestamp")) / 86400.0 AS recency_days',
        'epoch(CAST($cutoff AS TIMESTAMP) - min("timestamp")) / 86400.0 AS tenure_days',
        "count(*) AS events",
    ]
    if has_session:
        aggregates.append("count(DISTINCT session_id) AS sessions")
    aggregates.append('count(DISTINCT CAST("timestamp" AS DATE)) AS days_active')
    if has_value:
        aggregates.append(
            "coalesce(sum(value) FILTER (WHERE event_type = $purchase), 0) AS monetary"
        )
    for i, (event_type, column) in enumerate(counts.items()):
        params[f"t{i}"] = event_type
        aggregates.append(f"count(*) FILTER (WHERE event_type = $t{i}) AS {quote_ident(column)}")
    if has_value:
        aggregates.append("avg(value) FILTER (WHERE event_type = $view) AS dwell_mean")
    aggregates.append("count(DISTINCT item_id) AS distinct_items")

    taken = {"user_id", TARGET, *BEHAVIOUR, *counts.values()}
    attributes = attribute_columns(users_table, taken, db)

    ctes = [
        f"past AS (SELECT CAST(user_id AS VARCHAR) AS user_id, CAST(item_id AS VARCHAR) AS item_id, "
        f'event_type, "timestamp"{", value" if has_value else ""}'
        f"{', session_id' if has_session else ''} FROM {quote_ident(events_table)} "
        f'WHERE "timestamp" < CAST($cutoff AS TIMESTAMP) AND user_id IS NOT NULL)',
        f"base AS (SELECT user_id, {', '.join(aggregates)} FROM past GROUP BY user_id)",
        "carted AS (SELECT DISTINCT user_id, item_id FROM past WHERE event_type = $cart)",
        "bought AS (SELECT DISTINCT user_id, item_id FROM past WHERE event_type = $purchase)",
        "carts AS (SELECT c.user_id, count(*) AS carted, "
        "count(*) FILTER (WHERE b.item_id IS NULL) AS abandoned FROM carted c "
        "LEFT JOIN bought b ON c.user_id = b.user_id AND c.item_id = b.item_id GROUP BY c.user_id)",
        f"label AS (SELECT DISTINCT CAST(user_id AS VARCHAR) AS user_id FROM {quote_ident(events_table)} "
        f'WHERE event_type = $purchase AND "timestamp" >= CAST($cutoff AS TIMESTAMP) '
        f'AND "timestamp" <= CAST($label_end AS TIMESTAMP))',
    ]
    select = ["f.*", "CAST(c.abandoned AS DOUBLE) / c.carted AS cart_abandonment"]
    joins = ["LEFT JOIN carts c ON c.user_id = f.user_id"]
    if items_table is not None:
        ctes.append(
            f"cats AS (SELECT p.user_id, count(DISTINCT i.category) AS distinct_categories "
            f"FROM past p JOIN (SELECT DISTINCT CAST(item_id AS VARCHAR) AS item_id, category "
            f"FROM {quote_ident(items_table)}) i ON i.item_id = p.item_id GROUP BY p.user_id)"
        )
        select.append("coalesce(k.distinct_categories, 0) AS distinct_categories")
        joins.append("LEFT JOIN cats k ON k.user_id = f.user_id")
    if attributes:
        ctes.append(
            f"attrs AS (SELECT DISTINCT ON (CAST(user_id AS VARCHAR)) "
            f"CAST(user_id AS VARCHAR) AS user_id, * EXCLUDE (user_id) FROM {quote_ident(users_table)} "
            f"ORDER BY CAST(user_id AS VARCHAR))"
        )
        select += [f"u.{quote_ident(src)} AS {quote_ident(dst)}" for src, dst in attributes.items()]
        joins.append("LEFT JOIN attrs u ON u.user_id = f.user_id")
    select.append(f"CAST(l.user_id IS NOT NULL AS INTEGER) AS {TARGET}")
    joins.append("LEFT JOIN label l ON l.user_id = f.user_id")
    sql = (
        f"WITH {', '.join(ctes)} SELECT {', '.join(select)} FROM base f {' '.join(joins)} "
        f"ORDER BY f.user_id"
    )
    return sql, params


def write_customer_features(
    out_table: str,
    select_sql: str,
    params: dict,
    source: str,
    db=None,
) -> dict:
    """Replace ``out_table`` with the result of ``select_sql`` in one transaction.

    Returns ``rows`` and ``positives`` (rows with ``converted = 1``). When there are no rows or
    no positives, the transaction is rolled back (the old table stays) and the counts are still
    returned, so the caller can explain why.
    """
    with connect(db) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE OR REPLACE TABLE {quote_ident(out_table)} AS {select_sql}", params)
            rows, positives = con.execute(
                f"SELECT count(*), coalesce(sum({TARGET}), 0) FROM {quote_ident(out_table)}"
            ).fetchone()
            if not rows or not positives:
                con.execute("ROLLBACK")
                return {"rows": int(rows), "positives": int(positives), "written": False}
            empty = uninformative_columns(con, out_table)
            if empty:
                for column in empty:
                    con.execute(
                        f"ALTER TABLE {quote_ident(out_table)} DROP COLUMN {quote_ident(column)}"
                    )
            record_dataset(
                out_table,
                "customers",
                source,
                "",
                int(rows),
                {"key": "user_id", "target": TARGET},
                con=con,
                appended=False,
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return {"rows": int(rows), "positives": int(positives), "written": True, "dropped": empty}


def uninformative_columns(con, table: str) -> list[str]:
    """The columns of ``table`` (besides the key and the target) that are empty or hold one
    value for every row: a feature built from events this data has none of (no cart adds,
    no sessions, no view values)."""
    columns = [c for c in column_types(con, table) if c not in ("user_id", TARGET)]
    if not columns:
        return []
    counts = ", ".join(
        f"count(DISTINCT {quote_ident(c)}), count({quote_ident(c)})" for c in columns
    )
    found = con.execute(f"SELECT count(*), {counts} FROM {quote_ident(table)}").fetchone()
    rows, pairs = found[0], zip(found[1::2], found[2::2], strict=True)
    return [
        c
        for c, (distinct, filled) in zip(columns, pairs, strict=True)
        if distinct == 0 or (distinct == 1 and filled == rows)
    ]


def lookup_row(table: str, column: str, key: str, db=None):
    """The rows of ``table`` whose ``column`` (compared as text) equals ``key``, as a DataFrame."""
    sql = (
        f"SELECT * FROM {quote_ident(table)} WHERE CAST({quote_ident(column)} AS VARCHAR) = ? "
        f"LIMIT 1"
    )
    return query_df(sql, [str(key)], db=db)
