"""Connections, quoting, generic queries and the catalog tables.

DuckDB lets one process write a file at a time. The dashboard and the command line may use the
same file at once, so every call opens a short-lived connection, retries briefly while another
process holds the lock, and then raises ``DatabaseBusyError`` with a clear message.

Every statement takes values as parameters; every identifier goes through ``quote_ident``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from personalization import config
from personalization.errors import BadInputError, DatabaseBusyError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

BUSY_TIMEOUT_SECONDS = 15.0

CATALOG_DDL = (
    """CREATE TABLE IF NOT EXISTS datasets (
        table_name VARCHAR PRIMARY KEY, kind VARCHAR, file VARCHAR, file_hash VARCHAR,
        rows BIGINT, mapping VARCHAR, ingested_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS models (
        model_id VARCHAR PRIMARY KEY, kind VARCHAR, algo VARCHAR, name VARCHAR, params VARCHAR,
        metrics VARCHAR, data_fingerprint VARCHAR, created TIMESTAMP, status VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS feedback (
        user_id VARCHAR, item_id VARCHAR, model_id VARCHAR, thumbs INTEGER, created TIMESTAMP)""",
)
CATALOG_TABLES = ("datasets", "models", "feedback")
SYSTEM_PREFIXES = ("duckdb_", "pg_", "sqlite_", "information_schema")
SYSTEM_NAMES = ("main", "temp", "system", "memory")


def check_data_table_name(name: str) -> str:
    """``name`` stripped, if data may be loaded into a table of that name.

    The catalog tables the project owns (``CATALOG_TABLES``) and DuckDB's own names are refused
    with ``BadInputError`` (DuckDB compares names without case, so ``Models`` is refused too).
    """
    clean = str(name).strip()
    folded = clean.lower()
    if not clean:
        raise BadInputError("--table needs a name, e.g. --table events")
    if folded in CATALOG_TABLES:
        raise BadInputError(
            f"{clean!r} is a table the workbench keeps for itself ({', '.join(CATALOG_TABLES)}); "
            f"load the file into another table, e.g. --table my_{folded}"
        )
    if folded in SYSTEM_NAMES or folded.startswith(SYSTEM_PREFIXES):
        raise BadInputError(
            f"{clean!r} is a name DuckDB keeps for itself; choose another --table name, "
            f"e.g. --table my_data"
        )
    return clean


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB: ``a"b`` becomes ``"a""b"``."""
    return '"' + str(name).replace('"', '""') + '"'


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    # Another process holds the file ("Could not set lock ... Conflicting lock"), or another
    # thread of this process has it open in the other mode ("different configuration").
    return any(
        word in text
        for word in ("lock", "conflicting", "another process", "different configuration")
    )


@contextmanager
def connect(
    db: str | os.PathLike | None = None,
    read_only: bool = False,
    timeout: float = BUSY_TIMEOUT_SECONDS,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database file for the length of a ``with`` block.

    Creates the file, its folder and the catalog tables on first use. While another process
    holds the write lock it retries for up to ``timeout`` seconds, then raises
    ``DatabaseBusyError``.
    """
    path = config.db_path(db)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
        if read_only and not path.exists():
            read_only = False
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                if _is_lock_error(exc):
                    raise DatabaseBusyError(
                        f"The database {path} is busy: another process (the dashboard, a "
                        f"command or a server) is writing to it. Wait for it to finish and try "
                        f"again, or point PERSONALIZATION_DB at another file."
                    ) from exc
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    try:
        if not read_only:
            for ddl in CATALOG_DDL:
                con.execute(ddl)
        yield con
    finally:
        con.close()


def execute(sql: str, params: Sequence[Any] | None = None, db=None) -> None:
    """Run one statement that writes."""
    with connect(db) as con:
        con.execute(sql, params or [])


def query_df(sql: str, params: Sequence[Any] | None = None, db=None) -> pd.DataFrame:
    """Run one read-only query and return its result as a DataFrame."""
    with connect(db, read_only=True) as con:
        return con.execute(sql, params or []).df()


def query_rows(sql: str, params: Sequence[Any] | None = None, db=None) -> list[tuple]:
    """Run one read-only query and return its rows as tuples."""
    with connect(db, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def table_names(db=None) -> list[str]:
    """User tables in the main schema, catalog tables excluded, sorted by name."""
    rows = query_rows(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name",
        db=db,
    )
    return [r[0] for r in rows if r[0] not in CATALOG_TABLES]


def table_exists(table: str, db=None) -> bool:
    return table in table_names(db)


def require_table(table: str, db=None) -> None:
    """Raise ``NotFoundError`` naming the tables there are when ``table`` is missing."""
    names = table_names(db)
    if table not in names:
        found = ", ".join(names) or "none yet"
        raise NotFoundError(
            f"There is no table {table!r} in {config.db_path(db)} (tables: {found}); "
            f"load one with: python -m personalization ingest FILE --kind events"
        )


def table_columns(table: str, db=None) -> list[tuple[str, str]]:
    """``(name, type)`` of each column of ``table``, in order."""
    require_table(table, db)
    rows = query_rows(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
        db=db,
    )
    return [(r[0], r[1]) for r in rows]


def count_rows(table: str, db=None) -> int:
    require_table(table, db)
    return int(query_rows(f"SELECT count(*) FROM {quote_ident(table)}", db=db)[0][0])


def read_table(
    table: str, columns: Sequence[str] | None = None, limit: int | None = None, db=None
) -> pd.DataFrame:
    """Read a table (or some of its columns) into a DataFrame."""
    require_table(table, db)
    cols = ", ".join(quote_ident(c) for c in columns) if columns else "*"
    sql = f"SELECT {cols} FROM {quote_ident(table)}"
    params: list[Any] = []
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return query_df(sql, params, db=db)


def list_tables(db=None) -> list[dict]:
    """Every user table with its kind (from the datasets catalog) and row count."""
    with connect(db, read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "AND table_type = 'BASE TABLE' ORDER BY table_name"
            ).fetchall()
            if r[0] not in CATALOG_TABLES
        ]
        kinds = (
            dict(con.execute("SELECT table_name, kind FROM datasets").fetchall())
            if ("datasets" in _all_tables(con))
            else {}
        )
        out = []
        for name in names:
            rows = con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0]
            out.append({"name": name, "kind": kinds.get(name), "rows": int(rows)})
        return out


def _all_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }


def database_file(db=None) -> Path:
    return config.db_path(db)
