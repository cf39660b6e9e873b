"""The monitoring tables: logged lists, export runs with their control groups, survey answers;
and the narrow event queries monitoring asks (a time window, what followed a list).

Tables (created with ``CREATE TABLE IF NOT EXISTS`` on first use, so an older database works):

- ``recommendation_log``: one row per listed item: ``batch_id``, ``source`` (``export``,
  ``api``, ...), ``user_id``, ``item_id``, ``rank``, ``model_id``, ``group_name`` (``treatment``
  / ``control``), ``logged_at``.
- ``export_runs``: one row per export: ``batch_id``, ``path``, ``model_id``, ``control_share``,
  ``salt``, ``users``, ``control_users``, ``created``.
- ``survey_answers``: explicit feedback: ``user_id``, ``item_id``, ``score``, ``source``,
  ``created``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from personalization.errors import BadInputError
from personalization.store.core import (
    connect,
    execute_unordered,
    fetch_frame,
    quote_ident,
    require_table,
)

if TYPE_CHECKING:
    import pandas as pd

MONITORING_TABLES = ("recommendation_log", "export_runs", "survey_answers")
MONITORING_DDL = (
    """CREATE TABLE IF NOT EXISTS recommendation_log (
        batch_id VARCHAR, source VARCHAR, user_id VARCHAR, item_id VARCHAR, rank INTEGER,
        model_id VARCHAR, group_name VARCHAR, logged_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS export_runs (
        batch_id VARCHAR, path VARCHAR, model_id VARCHAR, control_share DOUBLE, salt VARCHAR,
        users BIGINT, control_users BIGINT, created TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS survey_answers (
        user_id VARCHAR, item_id VARCHAR, score DOUBLE, source VARCHAR, created TIMESTAMP)""",
)
LOG_COLUMNS = ("user_id", "item_id", "rank", "model_id", "group")


def ensure_tables(con) -> None:
    """Create the monitoring tables on ``con`` when they are missing."""
    for ddl in MONITORING_DDL:
        con.execute(ddl)


def append_log(
    frame: pd.DataFrame, batch_id: str, source: str, logged_at: datetime, db=None
) -> int:
    """Append the rows of ``frame`` (``LOG_COLUMNS``) to ``recommendation_log``; rows added."""
    if len(frame) == 0:
        return 0
    import pyarrow as pa

    rows = frame[list(LOG_COLUMNS)].rename(columns={"group": "group_name"})
    table = pa.Table.from_pandas(rows, preserve_index=False, nthreads=1)  # scanned 2x faster
    with connect(db) as con:
        ensure_tables(con)
        con.register("incoming_log", table)
        execute_unordered(  # every reader of the log orders it
            con,
            "INSERT INTO recommendation_log SELECT ?, ?, CAST(user_id AS VARCHAR), "
            "CAST(item_id AS VARCHAR), CAST(rank AS INTEGER), CAST(model_id AS VARCHAR), "
            "CAST(group_name AS VARCHAR), ? FROM incoming_log",
            [batch_id, source, logged_at],
        )
        con.unregister("incoming_log")
    return len(rows)


def delete_batch(batch_id: str, db=None) -> None:
    """Remove every log and export row of ``batch_id`` (a failed export leaves nothing)."""
    with connect(db) as con:
        ensure_tables(con)
        con.execute("DELETE FROM recommendation_log WHERE batch_id = ?", [batch_id])
        con.execute("DELETE FROM export_runs WHERE batch_id = ?", [batch_id])


def record_export(run: dict[str, Any], db=None) -> None:
    """Store one export run (the keys of the ``export_runs`` columns)."""
    with connect(db) as con:
        ensure_tables(con)
        con.execute(
            "INSERT INTO export_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run["batch_id"],
                run["path"],
                run["model_id"],
                float(run["control_share"]),
                run["salt"],
                int(run["users"]),
                int(run["control_users"]),
                run["created"],
            ],
        )


def _read(sql: str, params: Sequence[Any] = (), db=None) -> pd.DataFrame:
    with connect(db) as con:
        ensure_tables(con)
        return fetch_frame(con, sql, params)


def export_runs(path: str | None = None, db=None) -> pd.DataFrame:
    """Export runs, newest first; only those written to ``path`` when given."""
    if path is None:
        return _read("SELECT * FROM export_runs ORDER BY created DESC", db=db)
    return _read(
        "SELECT * FROM export_runs WHERE path = ? ORDER BY created DESC", [str(path)], db=db
    )


def read_log(since: datetime | None = None, db=None) -> pd.DataFrame:
    """The logged lists (``recommendation_log`` columns), since ``since`` when given."""
    sql, params = "SELECT * FROM recommendation_log", []
    if since is not None:
        sql += " WHERE logged_at >= ?"
        params.append(since)
    return _read(sql + " ORDER BY logged_at, batch_id, user_id, rank", params, db=db)


def log_outcomes(
    table: str, conversion_types: Sequence[str], horizon_days: float, db=None
) -> pd.DataFrame:
    """Every logged list row with ``clicked`` (the user touched the item in ``table`` after it was
    listed, within ``horizon_days``) and ``converted`` (one of those events is of a type in
    ``conversion_types``). One query; the events table is never read into Python."""
    require_table(table, db)
    types = [str(t) for t in conversion_types] or [""]
    marks = ", ".join("?" for _ in types)
    t, ts = quote_ident(table), quote_ident("timestamp")
    sql = (
        "SELECT l.batch_id, l.source, l.user_id, l.item_id, l.rank, l.model_id, l.group_name, "
        "l.logged_at, count(e.user_id) > 0 AS clicked, "
        f"coalesce(bool_or(CAST(e.event_type AS VARCHAR) IN ({marks})), false) AS converted "
        f"FROM recommendation_log l LEFT JOIN {t} e ON CAST(e.user_id AS VARCHAR) = l.user_id "
        f"AND CAST(e.item_id AS VARCHAR) = l.item_id AND e.{ts} > l.logged_at "
        f"AND e.{ts} <= l.logged_at + to_microseconds(CAST(? * 86400000000 AS BIGINT)) "
        "GROUP BY ALL ORDER BY l.logged_at, l.user_id, l.rank"
    )
    return _read(sql, [*types, float(horizon_days)], db=db)


def user_conversions(
    table: str, since: datetime, conversion_types: Sequence[str], db=None
) -> pd.DataFrame:
    """Per user with a conversion event in ``table`` after ``since``: ``user_id``,
    ``conversions`` (events) and ``revenue`` (sum of ``value``, 0 without that column)."""
    require_table(table, db)
    types = [str(t) for t in conversion_types] or [""]
    marks = ", ".join("?" for _ in types)
    with connect(db, read_only=True) as con:
        columns = {r[0] for r in con.execute(_COLUMNS_SQL, [table]).fetchall()}
        revenue = f"sum(coalesce({quote_ident('value')}, 0))" if "value" in columns else "0.0"
        sql = (
            f"SELECT CAST(user_id AS VARCHAR) AS user_id, count(*) AS conversions, "
            f"{revenue} AS revenue FROM {quote_ident(table)} WHERE {quote_ident('timestamp')} > ? "
            f"AND CAST(event_type AS VARCHAR) IN ({marks}) GROUP BY 1"
        )
        return fetch_frame(con, sql, [since, *types])


def read_window(
    table: str, column: str, start: datetime | None, end: datetime | None, db=None
) -> pd.DataFrame:
    """Rows of ``table`` whose ``column`` lies in ``[start, end)`` (an open side when None)."""
    require_table(table, db)
    with connect(db, read_only=True) as con:
        columns = [r[0] for r in con.execute(_COLUMNS_SQL, [table]).fetchall()]
        if column not in columns:
            raise BadInputError(
                f"Table {table!r} has no column {column!r} to cut windows by; found: "
                f"{', '.join(columns)}. Name one with --time-column."
            )
        sql, params = f"SELECT * FROM {quote_ident(table)} WHERE true", []
        if start is not None:
            sql += f" AND {quote_ident(column)} >= ?"
            params.append(start)
        if end is not None:
            sql += f" AND {quote_ident(column)} < ?"
            params.append(end)
        return fetch_frame(con, sql, params)


def last_event_time(table: str = "events", db=None) -> datetime | None:
    """The newest ``timestamp`` of ``table``; None when it is empty."""
    require_table(table, db)
    with connect(db, read_only=True) as con:
        row = con.execute(f"SELECT max({quote_ident('timestamp')}) FROM {quote_ident(table)}")
        return row.fetchone()[0]


def add_survey(frame: pd.DataFrame, source: str, db=None) -> int:
    """Append survey answers (``user_id``, ``item_id``, ``score``); returns rows added."""
    with connect(db) as con:
        ensure_tables(con)
        con.register("incoming_survey", frame[["user_id", "item_id", "score"]])
        con.execute(
            "INSERT INTO survey_answers SELECT CAST(user_id AS VARCHAR), CAST(item_id AS VARCHAR),"
            " CAST(score AS DOUBLE), ?, ? FROM incoming_survey",
            [source, datetime.now()],
        )
        con.unregister("incoming_survey")
    return len(frame)


def survey_answers(db=None) -> pd.DataFrame:
    """Every stored survey answer, newest first."""
    return _read("SELECT * FROM survey_answers ORDER BY created DESC", db=db)


_COLUMNS_SQL = (
    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
    "AND table_name = ? ORDER BY ordinal_position"
)
