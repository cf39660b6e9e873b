"""Connections, quoting, generic queries and the catalog tables.

DuckDB lets one process write a file, or many processes read it, at a time. The dashboard and
the command line may use the same file at once, so every call opens a short-lived connection,
retries while another process holds the lock (saying at once on stderr that it waits, and for
what), and then raises ``DatabaseBusyError`` with a clear message. Long work that writes (an
ingest) is done in a ``scratch`` database of its own and only its final copy ``attach``es the
file, so the file is locked for seconds, not for the whole load.

Every connection gets DuckDB's ``memory_limit`` from ``config.memory_limit()`` and spills to a
temporary folder beside the database when it needs more; running out even so raises
``MemoryLimitError`` (one line: what was being done, the limit, the fix).

Every statement takes values as parameters; every identifier goes through ``quote_ident``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from personalization import config
from personalization.errors import (
    BadInputError,
    DatabaseBusyError,
    MemoryLimitError,
    NotFoundError,
)

if TYPE_CHECKING:
    import pandas as pd

BUSY_TIMEOUT_SECONDS = 15.0
NOTE_WAIT_FROM_SECONDS = 2.0  # callers that wait at least this long say on stderr that they wait
TARGET = "target"  # the name the database file is attached under by ``attach``

CATALOG_DDL = (
    """CREATE TABLE IF NOT EXISTS datasets (
        table_name VARCHAR PRIMARY KEY, kind VARCHAR, file VARCHAR, file_hash VARCHAR,
        rows BIGINT, mapping VARCHAR, ingested_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS models (
        model_id VARCHAR PRIMARY KEY, kind VARCHAR, algo VARCHAR, name VARCHAR, params VARCHAR,
        metrics VARCHAR, data_fingerprint VARCHAR, created TIMESTAMP, status VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS feedback (
        user_id VARCHAR, item_id VARCHAR, model_id VARCHAR, thumbs INTEGER, created TIMESTAMP)""",
    # what a model was trained on and how its files are checked (JSON: data_table, data_stamp,
    # hold, files -> SHA-256); added after the first release, hence the ALTER
    "ALTER TABLE models ADD COLUMN IF NOT EXISTS details VARCHAR",
    # the load generation of each table: kept by appends, new on a replace (see catalog.table_stamp)
    "ALTER TABLE datasets ADD COLUMN IF NOT EXISTS generation VARCHAR",
    # Parquet datasets written by the Spark engine beside the database (store.parquet_tables)
    "CREATE TABLE IF NOT EXISTS parquet_datasets (table_name VARCHAR PRIMARY KEY, kind VARCHAR, "
    "path VARCHAR, rows BIGINT, files VARCHAR, mapping VARCHAR, ingested_at TIMESTAMP)",
)
CATALOG_TABLES = (
    "datasets", "models", "feedback", "retrain_runs", "recommendation_log", "export_runs",
    "survey_answers", "retrain_schedule", "parquet_datasets",
)  # fmt: skip
SYSTEM_PREFIXES = ("duckdb_", "pg_", "sqlite_", "information_schema")
SYSTEM_NAMES = ("main", "temp", "system", "memory")
ARROW_SAME = frozenset({"VARCHAR", "DOUBLE", "FLOAT", "TIMESTAMP"})


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
    # Another process holds the file ("Could not set lock ... Conflicting lock"), another thread
    # of this process has it open in the other mode ("different configuration"), or attached
    # from its own scratch database ("Unique file handle conflict ... already attached").
    return any(
        word in text
        for word in (
            "lock",
            "conflicting",
            "another process",
            "different configuration",
            "file handle conflict",
            "already attached",
        )
    )


def lock_holder(exc: Exception) -> str:
    """What holds the file, from DuckDB's lock error: ``"PID 123: python -m personalization
    ingest big.csv"`` (its command line where the system shows it), or ``""``."""
    text = str(exc)
    found = re.search(r"PID (\d+)", text)
    if found is None:
        return "another connection of this process" if "attached" in text else ""
    pid = found.group(1)
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"PID {pid}"
    command = " ".join(
        Path(a.decode(errors="replace")).name if i == 0 else a.decode(errors="replace")
        for i, a in enumerate(argv)
        if a
    )
    return f"PID {pid}: {command[:160]}" if command else f"PID {pid}"


def _busy(path: Path, exc: Exception, timeout: float) -> DatabaseBusyError:
    holder = lock_holder(exc)
    by = f" ({holder})" if holder else ""
    return DatabaseBusyError(
        f"The database {path} is busy: another process{by} is writing to it and did not finish "
        f"within {timeout:g} s; nothing was changed. Try again when it finishes, or point "
        f"PERSONALIZATION_DB at another file",
        path=str(path),
        holder=holder,
    )


def _note_wait(path: Path, exc: Exception, timeout: float, read_only: bool) -> None:
    holder = lock_holder(exc) or "another process"
    doing = "read" if read_only else "write"
    print(
        f"waiting: {path} is locked by {holder}; will {doing} as soon as it is free "
        f"(up to {timeout:g} s)",
        file=sys.stderr,
        flush=True,
    )


def _retry_while_locked(open_once, path: Path, timeout: float | None, read_only: bool):
    """``open_once()`` retried while the file is locked, for ``timeout`` seconds (default
    ``BUSY_TIMEOUT_SECONDS``, read at each call); says once on stderr that it waits (when the
    wait may last ``NOTE_WAIT_FROM_SECONDS`` or more), then raises ``DatabaseBusyError``."""
    timeout = BUSY_TIMEOUT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + timeout
    delay = 0.05
    noted = False
    while True:
        try:
            return open_once()
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() > deadline:
                raise _busy(path, exc, timeout) from exc
            if not noted and timeout >= NOTE_WAIT_FROM_SECONDS:
                _note_wait(path, exc, timeout, read_only)
                noted = True
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _out_of_memory(task: str, exc: Exception) -> MemoryLimitError:
    limit = config.memory_limit()
    return MemoryLimitError(
        f"{task} needed more memory than DuckDB may use here ({limit}, after spilling to disk); "
        f"nothing was stored. Raise the limit, e.g. PERSONALIZATION_MEMORY_LIMIT=16GB, or split "
        f"the work (a smaller file, fewer columns)"
    )


@contextmanager
def held(db: str | os.PathLike | None = None, read_only: bool = False) -> Iterator[None]:
    """Keep the database open for a ``with`` block: in it, ``connect(db)`` in this thread is a
    cursor on the open database (microseconds) instead of opening the file again (10-30 ms, with
    the catalog's DDL). For a few calls in a row (the reads before a training, saving a model):
    the file stays locked for the whole block, so never around long work; ``read_only`` for a
    block that only reads (other processes may read meanwhile; a write in it fails). A block
    inside another one for the same file uses the outer one."""
    key, kept = _held_key(db), _held_here()
    if key in kept:
        yield
        return
    with connect(db, read_only=read_only) as con:
        kept[key] = con
        try:
            yield
        finally:
            del kept[key]


_HELD = threading.local()  # the open connections of ``held`` blocks, per thread


def _held_here() -> dict[str, duckdb.DuckDBPyConnection]:
    """This thread's connections of ``held`` blocks, by resolved database path."""
    if not hasattr(_HELD, "connections"):
        _HELD.connections = {}
    return _HELD.connections


def _held_key(db) -> str:
    return str(config.db_path(db).resolve())


@contextmanager
def connect(
    db: str | os.PathLike | None = None,
    read_only: bool = False,
    timeout: float | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database file for the length of a ``with`` block (inside ``held(db)``, a cursor
    on the database that block keeps open).

    Creates the file, its folder and the catalog tables on first use. While another process
    holds the lock it retries for up to ``timeout`` seconds (saying so at once on stderr), then
    raises ``DatabaseBusyError``. DuckDB running out of memory inside the block raises
    ``MemoryLimitError``.
    """
    kept = _held_here()
    shared = kept.get(_held_key(db)) if kept else None  # no path to resolve outside ``held``
    if shared is not None:
        cursor = shared.cursor()
        try:
            yield cursor
        except duckdb.OutOfMemoryException as exc:
            raise _out_of_memory(f"Working on {config.db_path(db)}", exc) from exc
        finally:
            cursor.close()
        return
    path = config.db_path(db)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
        if read_only and not path.exists():
            read_only = False
    settings = {"memory_limit": config.memory_limit()}
    con = _retry_while_locked(
        lambda: duckdb.connect(str(path), read_only=read_only, config=settings),
        path,
        timeout,
        read_only,
    )
    try:
        if not read_only:
            for ddl in CATALOG_DDL:
                con.execute(ddl)
        yield con
    except duckdb.OutOfMemoryException as exc:
        raise _out_of_memory(f"Working on {path}", exc) from exc
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A transaction on ``con`` for the length of a ``with`` block: committed at its end, rolled
    back when anything in it raises (all or nothing)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def scratch(
    db: str | os.PathLike | None = None, task: str = "This task"
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private in-memory DuckDB for long work (reading and cleaning a file) that holds no lock
    on the database file; it spills to a temporary folder beside that file (removed at the end)
    and has DuckDB's ``memory_limit``. Write its result with ``attach``. Running out of memory
    raises ``MemoryLimitError`` naming ``task`` (e.g. "Loading big.csv (2.1 GB) into events").
    """
    path = config.db_path(db)
    folder = path.resolve().parent if str(path) != ":memory:" else Path(tempfile.gettempdir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        spill = tempfile.mkdtemp(prefix=f".{path.stem}-staging-", dir=folder)
    except OSError:  # a folder we may not write to: the system's temporary folder will do
        spill = tempfile.mkdtemp(prefix=f".{path.stem}-staging-")
    con = duckdb.connect(config={"memory_limit": config.memory_limit(), "temp_directory": spill})
    try:
        yield con
    except duckdb.OutOfMemoryException as exc:
        raise _out_of_memory(task, exc) from exc
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


@contextmanager
def attach(
    con: duckdb.DuckDBPyConnection,
    db: str | os.PathLike | None = None,
    timeout: float | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The database file attached to the ``scratch`` connection ``con`` for writing, as its
    default database (unqualified names are its tables; the scratch's TEMP tables stay
    readable), for the length of a ``with`` block: the only time the file is locked. Waits for
    another writer like ``connect``; creates the catalog tables on first use."""
    path = config.db_path(db)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    _retry_while_locked(
        lambda: con.execute(f"ATTACH ? AS {TARGET}", [str(path)]), path, timeout, False
    )
    try:
        con.execute(f"USE {TARGET}")
        for ddl in CATALOG_DDL:
            con.execute(ddl)
        yield con
    finally:
        con.execute("USE memory")
        con.execute(f"DETACH {TARGET}")


def execute(sql: str, params: Sequence[Any] | None = None, db=None) -> None:
    """Run one statement that writes."""
    with connect(db) as con:
        con.execute(sql, params or [])


def execute_unordered(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> None:
    """Run a statement that writes many rows without keeping their insertion order: each of
    DuckDB's threads then writes finished blocks straight to the file, instead of the rows
    being written once now and compressed again at the checkpoint (about twice as fast for a
    table load; an export's 500,000-row list log closes in 0.01 s instead of 0.1 s). For
    tables whose readers order what they read."""
    con.execute("SET SESSION preserve_insertion_order = false")
    try:
        con.execute(sql, params or [])
    finally:
        con.execute("RESET SESSION preserve_insertion_order")


def fetch_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> pd.DataFrame:
    """The result of ``sql`` as a DataFrame: through Arrow when every column has a type pandas
    gets the same way from both (``ARROW_SAME``: text, floats, timestamps), several times faster
    than ``.df()`` for text (a million events: 0.07 s against 0.34 s); ``.df()`` otherwise
    (integers with nulls become nullable integers there, float64 through Arrow)."""
    relation = con.sql(sql, params=list(params or []))
    if not all(str(kind) in ARROW_SAME for kind in relation.types):
        return relation.df()
    frame = relation.to_arrow_table().to_pandas()
    if not len(frame):  # .df() types an empty text column as object
        text = [
            name
            for name, kind in zip(frame.columns, relation.types, strict=True)
            if str(kind) == "VARCHAR"
        ]
        frame = frame.astype(dict.fromkeys(text, object))
    return frame


def query_df(sql: str, params: Sequence[Any] | None = None, db=None) -> pd.DataFrame:
    """Run one read-only query and return its result as a DataFrame (``fetch_frame``)."""
    with connect(db, read_only=True) as con:
        return fetch_frame(con, sql, params)


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


def column_types(con, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of ``table`` on the open connection ``con``, in order."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return dict(rows)


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


def read_table_blocks(
    table: str, columns: Sequence[str] | None = None, rows: int = 100_000, db=None
) -> Iterator[pd.DataFrame]:
    """``table`` (or some of its columns) as DataFrames of about ``rows`` rows each, in table
    order, on one read-only connection held while the blocks are read: memory bounded by a
    block, not by the table."""
    require_table(table, db)
    cols = ", ".join(quote_ident(c) for c in columns) if columns else "*"
    with connect(db, read_only=True) as con:
        result = con.execute(f"SELECT {cols} FROM {quote_ident(table)}")
        vectors = max(1, int(rows) // 2048)  # DuckDB hands out vectors of 2,048 rows
        while True:
            block = result.fetch_df_chunk(vectors)
            if block.empty:
                return
            yield block


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
