"""The catalog tables the project owns: datasets, models and feedback."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from personalization.store.core import connect, query_df, query_rows, quote_ident

if TYPE_CHECKING:
    import pandas as pd


def record_dataset(
    table: str, kind: str, file: str, file_hash: str, rows: int, mapping: dict, db=None, con=None
) -> None:
    """Upsert the catalog row of a loaded table (pass ``con`` to join a caller's transaction)."""
    sql_del = "DELETE FROM datasets WHERE table_name = ?"
    sql_ins = "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?)"
    values = [table, kind, file, file_hash, int(rows), json.dumps(mapping), datetime.now()]
    if con is not None:
        con.execute(sql_del, [table])
        con.execute(sql_ins, values)
        return
    with connect(db) as c:
        c.execute(sql_del, [table])
        c.execute(sql_ins, values)


def datasets(db=None) -> pd.DataFrame:
    return query_df("SELECT * FROM datasets ORDER BY ingested_at DESC", db=db)


def insert_model(
    model_id: str,
    kind: str,
    algo: str,
    name: str | None,
    params: dict,
    metrics: dict,
    data_fingerprint: str,
    status: str = "candidate",
    db=None,
    details: dict | None = None,
) -> None:
    with connect(db) as con:
        con.execute(
            "INSERT INTO models (model_id, kind, algo, name, params, metrics, data_fingerprint, "
            "created, status, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                model_id,
                kind,
                algo,
                name,
                json.dumps(params, default=str),
                json.dumps(metrics, default=str),
                data_fingerprint,
                datetime.now(),
                status,
                json.dumps(details or {}, default=str),
            ],
        )


def _model_row(row: tuple) -> dict[str, Any]:
    model_id, kind, algo, name, params, metrics, fingerprint, created, status, details = row
    return {
        "model_id": model_id,
        "kind": kind,
        "algo": algo,
        "name": name,
        "params": json.loads(params or "{}"),
        "metrics": json.loads(metrics or "{}"),
        "data_fingerprint": fingerprint,
        "created": created.isoformat(timespec="seconds") if created else None,
        "status": status,
        "details": json.loads(details or "{}"),
    }


def list_models(kind: str | None = None, db=None) -> list[dict[str, Any]]:
    """Catalog rows, newest first; ``kind`` filters (``recommender`` or ``classifier``)."""
    sql = (
        "SELECT model_id, kind, algo, name, params, metrics, data_fingerprint, created, status, "
        "details "
        "FROM models"
    )
    params: list[Any] = []
    if kind:
        sql += " WHERE kind = ?"
        params.append(kind)
    sql += " ORDER BY created DESC, model_id DESC"
    return [_model_row(r) for r in query_rows(sql, params, db=db)]


def get_model(model_id: str, db=None) -> dict[str, Any] | None:
    rows = query_rows(
        "SELECT model_id, kind, algo, name, params, metrics, data_fingerprint, created, status, "
        "details "
        "FROM models WHERE model_id = ?",
        [model_id],
        db=db,
    )
    return _model_row(rows[0]) if rows else None


def set_promoted(model_id: str, kind: str, db=None) -> None:
    """Make ``model_id`` the one promoted model of its kind; the previous one becomes a candidate."""
    with connect(db) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "UPDATE models SET status = 'candidate' WHERE kind = ? AND status = 'promoted'", [kind]
        )
        con.execute("UPDATE models SET status = 'promoted' WHERE model_id = ?", [model_id])
        con.execute("COMMIT")


def delete_model(model_id: str, db=None) -> None:
    with connect(db) as con:
        con.execute("DELETE FROM models WHERE model_id = ?", [model_id])


def add_feedback(user_id: str, item_id: str, model_id: str | None, thumbs: int, db=None) -> None:
    """Store one thumbs up (+1) or down (-1) on a recommendation."""
    with connect(db) as con:
        con.execute(
            "INSERT INTO feedback VALUES (?, ?, ?, ?, ?)",
            [str(user_id), str(item_id), model_id, int(thumbs), datetime.now()],
        )


def feedback(model_id: str | None = None, db=None) -> pd.DataFrame:
    sql = "SELECT * FROM feedback"
    params: list[Any] = []
    if model_id:
        sql += " WHERE model_id = ?"
        params.append(model_id)
    return query_df(sql + " ORDER BY created DESC", params, db=db)


def table_stamp(table: str, db=None) -> str | None:
    """What ``table`` holds now, as a short text that changes with every load into it (the time,
    file hash and rows of its last ingest, or its row count when no ingest recorded it); None when
    there is no such table."""
    with connect(db, read_only=True) as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchone()[0]
        if not exists:
            return None
        row = con.execute(
            "SELECT ingested_at, file_hash, rows FROM datasets WHERE table_name = ?", [table]
        ).fetchone()
        if row is not None:
            return f"{row[0].isoformat()}|{row[1]}|{row[2]}"
        count = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0]
        return f"rows|{count}"
