"""Read interactions and item/user attributes for the recommenders and the service.

Results come back through DuckDB's DataFrame export (columnar, no row-by-row Python), so a
million events read in well under a second. The narrow queries (``read_user_events``,
``read_user_history``, ``read_attribute_rows``, ``sample_values``) are what a page calls for one
user or item: they never bring the whole events table into Python, and each opens the file once. A missing attributes table gives an empty frame; a
missing events table raises ``NotFoundError`` naming the tables there are.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from personalization.errors import BadInputError
from personalization.store.core import (
    connect,
    fetch_frame,
    quote_ident,
    require_table,
    table_exists,
)

EVENT_COLUMNS = ("user_id", "item_id", "event_type", "timestamp", "value")


def read_events(
    table: str = "events", columns: Sequence[str] | None = None, db=None
) -> pd.DataFrame:
    """The rows of ``table`` with ``columns`` (default: those of ``EVENT_COLUMNS`` the table has).

    Raises ``NotFoundError`` when the table is absent and ``BadInputError`` when a column asked
    for does not exist.
    """
    require_table(table, db)
    with connect(db, read_only=True) as con:
        present = [r[0] for r in con.execute(_COLUMNS_SQL, [table]).fetchall()]
        wanted = list(columns) if columns else [c for c in EVENT_COLUMNS if c in present]
        missing = [c for c in wanted if c not in present]
        if missing:
            raise BadInputError(
                f"Table {table!r} has no column {', '.join(missing)}; found: "
                f"{', '.join(present)}. Load the events with that column mapped (--map ROLE=COLUMN)."
            )
        select = ", ".join(quote_ident(c) for c in wanted)
        return fetch_frame(con, f"SELECT {select} FROM {quote_ident(table)}")


def read_user_events(
    user_id: object, table: str = "events", limit: int = 20, db=None
) -> pd.DataFrame:
    """The ``limit`` most recent events of one user (``EVENT_COLUMNS`` the table has), newest
    first; events without a timestamp come last. Empty when the user has none.

    One connection and one parameterised query (``WHERE user_id = ? ORDER BY timestamp DESC
    LIMIT ?``); large loads are stored ordered by user, so it reads a block or two of the table.
    Raises ``NotFoundError`` when the table is absent, ``BadInputError`` when it has no
    ``user_id`` column or ``limit`` < 1.
    """
    return read_user_history(user_id, table, limit, items=None, db=db)[0]


def read_user_history(
    user_id: object,
    table: str = "events",
    limit: int = 20,
    items: str | None = "items",
    key: str = "item_id",
    db=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One user's latest events (as ``read_user_events``) and the rows of the ``items`` table for
    the items among them (as ``read_attribute_rows``: indexed by ``key`` as text, empty when
    there is no such table), read on one connection.

    Opening a DuckDB file costs tens of milliseconds, more than the query on an ordered table,
    so a page asking for a customer's history opens it once. Raises as ``read_user_events``.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise BadInputError(f"limit must be a whole number of events >= 1; got {limit!r}.")
    with connect(db, read_only=True) as con:
        types = dict(con.execute(_TYPES_SQL, [table]).fetchall())
        if not types:
            require_table(table, db)
        _require_column(table, "user_id", list(types))
        wanted = [c for c in EVENT_COLUMNS if c in types]
        select = ", ".join(quote_ident(c) for c in wanted)
        order = (
            f" ORDER BY {quote_ident('timestamp')} DESC NULLS LAST" if "timestamp" in types else ""
        )
        sql = (
            f"SELECT {select} FROM {quote_ident(table)} WHERE {_as_text('user_id', types)} = ?"
            f"{order} LIMIT ?"
        )
        events = con.execute(sql, [str(user_id), int(limit)]).df()
        labels = pd.DataFrame(index=pd.Index([], name=key, dtype=object))
        if items is not None and "item_id" in events and len(events):
            labels = _attribute_rows(con, items, key, events["item_id"])
    return events, labels


def read_attribute_rows(table: str, key: str, values: Sequence[object], db=None) -> pd.DataFrame:
    """The rows of ``table`` whose ``key`` is one of ``values``, indexed by ``key`` as text
    (first row per key). An absent table gives an empty frame; ``BadInputError`` when the table
    has no ``key`` column."""
    with connect(db, read_only=True) as con:
        return _attribute_rows(con, table, key, values)


def _attribute_rows(con, table: str, key: str, values: Sequence[object]) -> pd.DataFrame:
    types = dict(con.execute(_TYPES_SQL, [table]).fetchall())
    if not types:
        return pd.DataFrame(index=pd.Index([], name=key, dtype=object))
    _require_column(table, key, list(types))
    wanted = sorted({str(v) for v in values})
    sql = (
        f"SELECT * FROM {quote_ident(table)} "
        f"WHERE {_as_text(key, types)} IN (SELECT UNNEST(CAST(? AS VARCHAR[])))"
    )
    frame = con.execute(sql, [wanted]).df()
    frame[key] = frame[key].astype(str)
    return frame.drop_duplicates(subset=key).set_index(key)


def sample_values(table: str, column: str, n: int = 5, db=None) -> list[str]:
    """Up to ``n`` distinct values of ``column`` from the first rows of ``table`` (for messages
    such as "users look like: ..."); empty when the table or column is absent."""
    if not table_exists(table, db):
        return []
    with connect(db, read_only=True) as con:
        if column not in {r[0] for r in con.execute(_COLUMNS_SQL, [table]).fetchall()}:
            return []
        sql = (
            f"SELECT {quote_ident(column)} FROM {quote_ident(table)} "
            f"WHERE {quote_ident(column)} IS NOT NULL LIMIT ?"
        )
        rows = con.execute(sql, [50 * int(n)]).fetchall()
    return list(dict.fromkeys(str(r[0]) for r in rows))[:n]


def read_attributes(table: str, key: str, db=None) -> pd.DataFrame:
    """One row per ``key`` of ``table`` (``users`` or ``items``), indexed by ``key`` as text.

    An absent table gives an empty frame; rows without a key are dropped and duplicate keys
    keep their first row. Raises
    ``BadInputError`` when the table has no ``key`` column.
    """
    if not table_exists(table, db):
        return pd.DataFrame(index=pd.Index([], name=key, dtype=object))
    with connect(db, read_only=True) as con:
        present = [r[0] for r in con.execute(_COLUMNS_SQL, [table]).fetchall()]
        _require_column(table, key, present)
        frame = fetch_frame(con, f"SELECT * FROM {quote_ident(table)}")
    frame = frame[frame[key].notna()]
    frame[key] = frame[key].astype(str)
    return frame.drop_duplicates(subset=key).set_index(key)


def _require_column(table: str, key: str, present: list[str]) -> None:
    if key not in present:
        raise BadInputError(
            f"Table {table!r} has no column {key!r}; found: {', '.join(present)}. "
            f"Load it again with --map {key}=COLUMN."
        )


def _as_text(column: str, types: dict) -> str:
    """The column as text in SQL; a VARCHAR column is compared as is (keeps zone maps useful)."""
    name = quote_ident(column)
    return name if types.get(column) == "VARCHAR" else f"CAST({name} AS VARCHAR)"


_TYPES_SQL = (
    "SELECT column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position"
)
_COLUMNS_SQL = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position"
)


def search_users(
    prefix: str = "",
    attributes: dict[str, str] | None = None,
    limit: int = 50,
    table: str = "events",
    db=None,
) -> pd.DataFrame:
    """Customers of ``table`` whose id starts with ``prefix`` (any case), most active first:
    ``user_id``, ``events``, ``last_seen``. ``attributes`` keeps those whose ``users`` row has
    each column equal to the value (compared as text)."""
    require_table(table, db)
    where, params = ["user_id IS NOT NULL"], []
    if prefix:
        where.append("starts_with(lower(user_id), lower(?))")
        params.append(str(prefix))
    join = ""
    if attributes:
        if not table_exists("users", db):
            raise BadInputError("There is no users table to filter customers by; load one first.")
        conditions = [f"CAST(u.{quote_ident(col)} AS VARCHAR) = ?" for col in attributes]
        join = (
            " SEMI JOIN (SELECT CAST(user_id AS VARCHAR) AS user_id FROM users u WHERE "
            + " AND ".join(conditions)
            + ") f USING (user_id)"
        )
        params = [str(v) for v in attributes.values()] + params
    sql = (
        f"SELECT user_id, count(*) AS events, max(timestamp) AS last_seen "
        f"FROM (SELECT CAST(user_id AS VARCHAR) AS user_id, timestamp FROM {quote_ident(table)})"
        f"{join} WHERE {' AND '.join(where)} "
        "GROUP BY user_id ORDER BY events DESC, user_id LIMIT ?"
    )
    with connect(db, read_only=True) as con:
        return con.execute(sql, [*params, int(limit)]).df()
