"""The catalog of retraining runs (one row per ``retrain``, its verdict and why) and the saved
retraining schedule (one row: growth share, days, margin).

The tables ``retrain_runs`` and ``retrain_schedule`` are created on first write
(``CREATE TABLE IF NOT EXISTS``); reading before that gives nothing. Every value reaches SQL as
a parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from personalization.store.core import connect, query_rows, transaction

RUNS_TABLE = "retrain_runs"
RUNS_DDL = """CREATE TABLE IF NOT EXISTS retrain_runs (
    run_id VARCHAR PRIMARY KEY, kind VARCHAR, started TIMESTAMP, finished TIMESTAMP,
    champion VARCHAR, challenger VARCHAR, metric VARCHAR, champion_score DOUBLE,
    challenger_score DOUBLE, margin DOUBLE, promoted BOOLEAN, why VARCHAR, data_table VARCHAR,
    data_rows BIGINT, trigger VARCHAR)"""
SCHEDULE_TABLE = "retrain_schedule"
SCHEDULE_DDL = """CREATE TABLE IF NOT EXISTS retrain_schedule (
    growth DOUBLE, days DOUBLE, margin DOUBLE, saved TIMESTAMP)"""
RUN_COLUMNS = (
    "run_id",
    "kind",
    "started",
    "finished",
    "champion",
    "challenger",
    "metric",
    "champion_score",
    "challenger_score",
    "margin",
    "promoted",
    "why",
    "data_table",
    "data_rows",
    "trigger",
)


def record_run(run: dict[str, Any], db=None) -> None:
    """Add one run (a dict with the keys of ``RUN_COLUMNS``; ``finished`` defaults to now)."""
    row = {**run, "finished": run.get("finished") or datetime.now()}
    columns = ", ".join(RUN_COLUMNS)
    marks = ", ".join("?" for _ in RUN_COLUMNS)
    with connect(db) as con:
        con.execute(RUNS_DDL)
        con.execute(
            f"INSERT INTO retrain_runs ({columns}) VALUES ({marks})",
            [row.get(c) for c in RUN_COLUMNS],
        )


def delete_run(run_id: str, db=None) -> None:
    """Remove one run (used to undo a run whose command failed after recording it)."""
    with connect(db) as con:
        con.execute(RUNS_DDL)
        con.execute("DELETE FROM retrain_runs WHERE run_id = ?", [run_id])


def list_runs(kind: str | None = None, limit: int = 20, db=None) -> list[dict[str, Any]]:
    """The latest ``limit`` runs (of ``kind`` when given), newest first, as dicts; empty before
    the first run."""
    if not runs_table_exists(db):
        return []
    sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM retrain_runs"
    params: list[Any] = []
    if kind:
        sql += " WHERE kind = ?"
        params.append(kind)
    sql += " ORDER BY finished DESC LIMIT ?"
    params.append(int(limit))
    return [dict(zip(RUN_COLUMNS, row, strict=True)) for row in query_rows(sql, params, db=db)]


def runs_table_exists(db=None) -> bool:
    """Whether any retrain has been recorded in this database."""
    return table_exists(RUNS_TABLE, db)


def table_exists(name: str, db=None) -> bool:
    rows = query_rows(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = ?",
        [name],
        db=db,
    )
    return bool(rows[0][0])


def save_schedule(growth: float, days: float, margin: float, db=None) -> None:
    """Store the retraining schedule (replacing the one stored before), all or nothing."""
    with connect(db) as con:
        con.execute(SCHEDULE_DDL)
        with transaction(con):
            con.execute("DELETE FROM retrain_schedule")
            con.execute(
                "INSERT INTO retrain_schedule VALUES (?, ?, ?, ?)",
                [float(growth), float(days), float(margin), datetime.now()],
            )


def read_schedule(db=None) -> dict[str, Any] | None:
    """The stored schedule (``growth``, ``days``, ``margin``, ``saved``), or None."""
    if not table_exists(SCHEDULE_TABLE, db):
        return None
    rows = query_rows(
        "SELECT growth, days, margin, saved FROM retrain_schedule ORDER BY saved DESC LIMIT 1",
        db=db,
    )
    return dict(zip(("growth", "days", "margin", "saved"), rows[0], strict=True)) if rows else None
