"""The catalog record of a Parquet dataset written by the Spark engine (``personalization.spark``).

A dataset is a folder of Parquet files beside the database (``dataset_folder``); its row in
``parquet_datasets`` says which table name it answers to, its kind, rows, source files and the
column mapping used. DuckDB holds only the record; Spark reads the files.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from personalization import config
from personalization.store.core import connect, query_rows

COLUMNS = ("table_name", "kind", "path", "rows", "files", "mapping", "ingested_at")


def dataset_folder(table: str, db=None) -> Path:
    """Where the dataset of ``table`` lives: ``<db name>_parquet/<table>`` beside the database."""
    path = config.db_path(db)
    return path.resolve().parent / f"{path.stem}_parquet" / table


def record_parquet_dataset(
    table: str, kind: str, path: str, rows: int, files: list[str], mapping: dict, db=None
) -> None:
    """Upsert the record of ``table``: a dataset at ``path`` of ``rows`` rows from ``files``."""
    values = [table, kind, str(path), int(rows), json.dumps(files), json.dumps(mapping)]
    with connect(db) as con:  # a writable connection creates the catalog (core.CATALOG_DDL)
        con.execute("DELETE FROM parquet_datasets WHERE table_name = ?", [table])
        con.execute(
            "INSERT INTO parquet_datasets VALUES (?, ?, ?, ?, ?, ?, ?)", [*values, datetime.now()]
        )


def parquet_dataset(table: str, db=None) -> dict[str, Any] | None:
    """The record of ``table`` (``COLUMNS``; ``files`` and ``mapping`` decoded), or None."""
    with connect(db):  # creates the catalog table of a database from before it
        pass
    rows = query_rows("SELECT * FROM parquet_datasets WHERE table_name = ?", [table], db=db)
    if not rows:
        return None
    out = dict(zip(COLUMNS, rows[0], strict=True))
    out["files"] = json.loads(out["files"])
    out["mapping"] = json.loads(out["mapping"])
    return out


def parquet_datasets(db=None) -> list[dict[str, Any]]:
    """Every recorded dataset: ``table_name``, ``kind``, ``path``, ``rows``, newest first. Read
    only (a page may ask while another process writes): [] before the first is recorded."""
    with connect(db, read_only=True) as con:  # one connection: the data version asks often
        found = con.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_name = 'parquet_datasets'"
        ).fetchall()
        if not found:
            return []
        rows = con.execute(
            "SELECT table_name, kind, path, rows FROM parquet_datasets ORDER BY ingested_at DESC"
        ).fetchall()
    return [dict(zip(COLUMNS[:4], r, strict=True)) for r in rows]
