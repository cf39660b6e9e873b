"""Events in the order they happened, within users and sessions, for the sequence recommenders.

One query orders each user's events by time (ties by load order, events without a time first)
and numbers the sessions with window functions inside DuckDB: a new session starts at a user's
first event, where ``session_id`` changes (when the table has that column and the row holds
one), or else after more than ``gap_minutes`` without an event. The frame comes back through
DuckDB's DataFrame export (columnar), so a million events take about a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from personalization.errors import BadInputError
from personalization.store.core import connect, fetch_frame, quote_ident, require_table

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_GAP_MINUTES = 30.0


def read_sequences(
    table: str = "events", gap_minutes: float = DEFAULT_GAP_MINUTES, db=None
) -> pd.DataFrame:
    """The events of ``table`` ordered by user, then time: ``user_id``, ``item_id`` (text),
    ``event_type`` (text or None), ``seconds`` (Unix seconds as float, NaN without a time) and
    ``session`` (int64, 0, 1, 2, ... in order over the whole frame).

    Rows without a user or item are left out. Raises ``NotFoundError`` when the table is absent,
    ``BadInputError`` when it has no ``user_id`` / ``item_id`` column or ``gap_minutes`` <= 0.
    """
    try:
        gap = float(gap_minutes)
    except (TypeError, ValueError):
        gap = -1.0
    if not gap > 0:
        raise BadInputError(
            f"gap_minutes must be a positive number of minutes; got {gap_minutes!r}."
        )
    require_table(table, db)
    with connect(db, read_only=True) as con:
        present = [r[0] for r in con.execute(_COLUMNS_SQL, [table]).fetchall()]
        missing = [c for c in ("user_id", "item_id") if c not in present]
        if missing:
            raise BadInputError(
                f"Table {table!r} has no column {', '.join(missing)}; found: "
                f"{', '.join(present)}. Load the events with it mapped (--map ROLE=COLUMN)."
            )
        return fetch_frame(con, _sequence_sql(table, present), [gap * 60.0])


def _sequence_sql(table: str, present: list[str]) -> str:
    q = quote_ident
    kind = f"CAST({q('event_type')} AS VARCHAR)" if "event_type" in present else "NULL"
    stamp = f"epoch(CAST({q('timestamp')} AS TIMESTAMP))" if "timestamp" in present else "NULL"
    session = f"CAST({q('session_id')} AS VARCHAR)" if "session_id" in present else "NULL"
    return f"""
        WITH raw AS (
            SELECT CAST({q("user_id")} AS VARCHAR) AS user_id,
                   CAST({q("item_id")} AS VARCHAR) AS item_id,
                   {kind} AS event_type,
                   CAST({stamp} AS DOUBLE) AS seconds,
                   {session} AS sid,
                   rowid AS position
            FROM {q(table)}
            WHERE {q("user_id")} IS NOT NULL AND {q("item_id")} IS NOT NULL
        ),
        marked AS (
            SELECT *,
                CASE
                    WHEN LAG(position) OVER w IS NULL THEN 1
                    WHEN sid IS NOT NULL OR LAG(sid) OVER w IS NOT NULL
                        THEN CAST(sid IS DISTINCT FROM LAG(sid) OVER w AS INTEGER)
                    WHEN seconds - LAG(seconds) OVER w > ? THEN 1
                    ELSE 0
                END AS starts
            FROM raw
            WINDOW w AS (PARTITION BY user_id ORDER BY seconds NULLS FIRST, position)
        )
        SELECT user_id, item_id, event_type, seconds,
               CAST(SUM(starts) OVER (
                   ORDER BY user_id, seconds NULLS FIRST, position ROWS UNBOUNDED PRECEDING
               ) - 1 AS BIGINT) AS session
        FROM marked
        ORDER BY user_id, seconds NULLS FIRST, position
    """


_COLUMNS_SQL = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position"
)
