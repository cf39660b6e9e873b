"""The catalog tables the project owns: datasets, models and feedback."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from personalization.store.core import connect, query_df, query_rows, quote_ident, transaction

if TYPE_CHECKING:
    import pandas as pd


GENERATION_DDL = "ALTER TABLE datasets ADD COLUMN IF NOT EXISTS generation VARCHAR"
DATASET_COLUMNS = (
    "table_name", "kind", "file", "file_hash", "rows", "mapping", "ingested_at", "generation",
)  # fmt: skip
STAMP_GENERATION, STAMP_ROWS = "gen:", "rows:"
UNTOLD = "untold-"  # a generation started by a load that did not say whether it appended


def record_dataset(
    table: str,
    kind: str,
    file: str,
    file_hash: str,
    rows: int,
    mapping: dict,
    db=None,
    con=None,
    *,
    appended: bool | None = None,
) -> None:
    """Upsert the catalog row of a loaded table (pass ``con`` to join a caller's transaction).

    ``appended`` True says the load added rows to the table as it was (``--mode append``): the
    table keeps its generation, so models trained on it still have their rows (see
    ``table_stamp``). False (a new table, a replace) starts a new generation; so does None (the
    caller did not say), marked ``UNTOLD`` so that messages do not claim a replace.
    """
    if con is not None:
        write_dataset(con, table, kind, file, file_hash, rows, mapping, appended)
        return
    with connect(db) as c:
        write_dataset(c, table, kind, file, file_hash, rows, mapping, appended)


def write_dataset(
    con,
    table: str,
    kind: str,
    file: str,
    file_hash: str,
    rows: int,
    mapping: dict,
    appended: bool | None,
) -> None:
    """``record_dataset`` on the open connection ``con``."""
    con.execute(GENERATION_DDL)
    now = datetime.now()
    before = con.execute("SELECT generation FROM datasets WHERE table_name = ?", [table]).fetchone()
    generation = before[0] if appended and before is not None and before[0] else None
    untold = UNTOLD if appended is None else ""
    generation = generation or f"{untold}{now:%Y%m%dT%H%M%S.%f}-{secrets.token_hex(3)}"
    values = [table, kind, file, file_hash, int(rows), json.dumps(mapping), now, generation]
    con.execute("DELETE FROM datasets WHERE table_name = ?", [table])
    con.execute(
        f"INSERT INTO datasets ({', '.join(DATASET_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in DATASET_COLUMNS)})",
        values,
    )


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
    with connect(db) as con, transaction(con):
        con.execute(
            "UPDATE models SET status = 'candidate' WHERE kind = ? AND status = 'promoted'", [kind]
        )
        con.execute("UPDATE models SET status = 'promoted' WHERE model_id = ?", [model_id])


def update_model_details(model_id: str, details: dict, db=None) -> None:
    """Replace the ``details`` (JSON) of ``model_id``'s catalog row."""
    with connect(db) as con:
        con.execute(
            "UPDATE models SET details = ? WHERE model_id = ?",
            [json.dumps(details, default=str), model_id],
        )


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
    """What ``table`` holds now, as a short text; None when there is no such table.

    A table loaded since generations were recorded gives ``gen:<generation>|rows:<n>``: the
    generation changes when the table is loaded anew (replaced, created again), not when rows
    are appended, and ``n`` counts its rows at its last load. Older rows of the catalog give
    ``<ingest time>|<file hash>|<rows>``, and a table no ingest recorded gives ``rows|<count>``;
    those change with every load. ``stamp_parts`` reads the first form back.
    """
    with connect(db, read_only=True) as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchone()[0]
        if not exists:
            return None
        has_generation = con.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'datasets' AND column_name = 'generation'"
        ).fetchone()[0]
        generation = "generation" if has_generation else "NULL"
        row = con.execute(
            f"SELECT ingested_at, file_hash, rows, {generation} FROM datasets WHERE table_name = ?",
            [table],
        ).fetchone()
        if row is not None and row[3]:
            return f"{STAMP_GENERATION}{row[3]}|{STAMP_ROWS}{row[2]}"
        if row is not None:
            return f"{row[0].isoformat()}|{row[1]}|{row[2]}"
        count = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0]
        return f"rows|{count}"


def stamp_parts(stamp: str | None) -> tuple[str, int] | None:
    """``(generation, rows)`` of a ``gen:...|rows:...`` stamp from ``table_stamp``; None for
    another stamp (older, or of a table no ingest recorded) or none."""
    head, _, tail = (stamp or "").partition("|")
    if not head.startswith(STAMP_GENERATION) or not tail.startswith(STAMP_ROWS):
        return None
    try:
        return head[len(STAMP_GENERATION) :], int(tail[len(STAMP_ROWS) :])
    except ValueError:
        return None
