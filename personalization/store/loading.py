"""Turning files into tables: all the SQL of ingest (profiling is in ``profiling.py``).

A load reads the file with DuckDB (``read_csv`` or ``read_parquet``, streamed, never through
pandas) into a temporary staging table, cleans it there (timestamps, duplicates, rejects) and
then writes it into the target table once (ids written as float text normalised on the way)
and records the dataset in the catalog, in one transaction. Any error rolls it back, so a
failed load leaves what was stored before untouched.

Columns are read under safe positional names (``c0``, ``c1``, ...) and renamed in the projection,
so a column called ``x"; DROP TABLE events; --`` is only ever a quoted identifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from personalization.errors import BadInputError
from personalization.progress import Progress, report
from personalization.store.attributes import AttributeSet, store_attributes
from personalization.store.catalog import record_dataset
from personalization.store.core import (
    attach,
    column_types,
    execute_unordered,
    quote_ident,
    scratch,
    transaction,
)

MAX_REJECTS_SHOWN = 20
NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "FLOAT",
    "DOUBLE",
    "UBIGINT",
    "UINTEGER",
    "USMALLINT",
    "UTINYINT",
)
TIME_TYPES = (
    "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE",
    "DATE",
    "TIMESTAMP_NS",
    "TIMESTAMP_MS",
    "TIMESTAMP_S",
)
FALLBACK_TIME_FORMATS = (
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y",
    "%Y%m%d",
)
ROLE_TYPES = {
    "user_id": "VARCHAR",
    "item_id": "VARCHAR",
    "event_type": "VARCHAR",
    "session_id": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "value": "DOUBLE",
}
BAD_TS = "__bad_timestamp"
BAD_VALUE = "__bad_value"
ROW_HASH = "__row_hash"  # hash of every column of the file, for finding duplicates
HIDDEN = (ROW_HASH, BAD_TS, BAD_VALUE)  # staging columns that never reach the table
PARALLEL_WRITE_ROWS = 1_000_000  # loads this large are written without insertion order

ALTER_MAX_COLUMNS = 16  # an append adding more new columns rebuilds the table (see _store)
ALTER_MAX_CELLS = 20_000_000  # ... or adding more NULL cells to the stored rows
WIDEN_MAX_EMPTY_CELLS = 100_000_000  # an append may add this many empty cells to stored rows,
WIDEN_MAX_FACTOR = 4  # ... or this many times the file's own cells, whichever is more

MAX_LINE_MB = 2  # DuckDB's read_csv max_line_size default (2,000,000 bytes)


@dataclass
class Column:
    """One column of the file: where it comes from, what it is called in the table."""

    source: str  # name in the file's header
    name: str  # name in the table
    role: str | None = None
    read_type: str = "VARCHAR"  # type to read a CSV column as
    whole_numbers: bool = False  # read as text; stored as BIGINT unless a value keeps a leading 0


@dataclass
class LoadPlan:
    """Everything ``load`` needs; built by ``personalization.data.ingest``."""

    path: str
    label: str  # name of the file in messages
    fmt: str  # "csv" or "parquet"
    table: str
    kind: str
    mode: str  # "append" or "replace"
    columns: list[Column]
    constants: dict[str, str] = field(default_factory=dict)  # role -> constant value
    roles: tuple[str, ...] = ()  # canonical roles of the kind, in table order
    required: tuple[str, ...] = ()  # roles that must be present in every row
    delimiter: str = ","
    encoding: str = "utf-8"
    timestamp_format: str | None = None
    file_hash: str = ""
    mapping: dict[str, str] = field(default_factory=dict)
    attributes: list[AttributeSet] = field(default_factory=list)  # items / users from events
    header: bool = True  # False: the first line is data (columns are named column1, ...)


class AmbiguousDatesError(BadInputError):
    """The timestamp column reads both day-first and month-first and no date settles which.

    ``column`` is the file's column, ``day_first`` / ``month_first`` the two strftime formats,
    ``examples`` up to two ``{"value", "day_first", "month_first"}`` (the text, both readings).
    """

    def __init__(
        self, message: str, column: str, day_first: str, month_first: str, examples: list[dict]
    ) -> None:
        super().__init__(message)
        self.column = column
        self.day_first = day_first
        self.month_first = month_first
        self.examples = examples


@dataclass
class LoadResult:
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    duplicates_dropped: int
    rejects: list[dict]
    flagged: dict[str, int]
    notes: list[str]
    reject_counts: list[dict] = field(default_factory=list)  # every reject, by cause
    attributes_updated: dict[str, int] = field(default_factory=dict)  # table -> ids


# --------------------------------------------------------------------------- reading a file


def sniff_csv(path: str, sep: str | None, encoding: str) -> dict[str, Any]:
    """DuckDB's guess of delimiter and column types: ``{"delimiter", "types": [(name, type)]}``.

    ``types`` is empty when the sniffer gives up; the caller then reads every column as text.
    """
    args = "header = true, quote = '\"', escape = '\"', ignore_errors = true, encoding = ?" + (
        ", delim = ?" if sep else ""
    )
    params: list[Any] = [path, encoding] + ([sep] if sep else [])
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT Delimiter, Columns FROM sniff_csv(?, {args})", params).fetchone()
    except duckdb.Error:
        return {"delimiter": sep or ",", "types": []}
    finally:
        con.close()
    return {"delimiter": row[0], "types": [(c["name"], c["type"]) for c in row[1]]}


def preview_csv(
    path: str, sep: str, encoding: str, limit: int, header: bool = True, width: int = 1
) -> list[tuple]:
    """The first ``limit`` rows of ``width`` columns as tuples of text (bad lines skipped); with
    ``header`` False the first line is a row too."""
    con = duckdb.connect()
    try:
        return con.execute(
            f"SELECT * FROM read_csv(?, header = {_sql_bool(header)}, all_varchar = true, "
            "delim = ?, quote = '\"', "
            "escape = '\"', "
            "encoding = ?, names = ?, ignore_errors = true, null_padding = false) LIMIT ?",
            [path, sep, encoding, _safe_names(width), limit],
        ).fetchall()
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:
        raise BadInputError(_read_error(Path(path).name, str(exc))) from exc
    finally:
        con.close()


def parquet_schema(path: str) -> list[tuple[str, str]]:
    """``(name, type)`` of each column of a Parquet file."""
    con = duckdb.connect()
    try:
        rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
    finally:
        con.close()
    return [(r[0], r[1]) for r in rows]


def preview_parquet(path: str, limit: int) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute("SELECT * FROM read_parquet(?) LIMIT ?", [path, limit]).fetchall()
    finally:
        con.close()


def _safe_names(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


# --------------------------------------------------------------------------- loading


def load(plan: LoadPlan, db=None, progress: Progress = None) -> LoadResult:
    """Read and clean ``plan.path`` in a staging table, then store it into ``plan.table``.

    The staging table is a temporary table (named ``__staging_<table>``) of a ``scratch``
    database of its own (in memory, spilling to disk beside the database when large), so reading
    and cleaning never touch stored data, cost no compression and hold no lock on the database
    file: other commands read and write it meanwhile. The file is attached only for the final
    copy, one short transaction that writes the rows (ids written as float text normalised)
    together with the catalog row. The staging table is dropped whatever happens. Raises
    ``BadInputError`` (and stores nothing) when no row survives or every timestamp fails,
    ``MemoryLimitError`` when DuckDB runs out of memory, ``DatabaseBusyError`` when another
    process holds the file for the whole wait.
    """
    stage = f"__staging_{plan.table}"
    with scratch(db, _task(plan)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        _drop_staging(con, stage)
        try:
            report(progress, 0.05, f"reading {plan.label}")
            reader_rejects, notes = _read_file(con, plan, stage)
            report(progress, 0.55, "converting values")
            notes += _convert(con, plan, stage)
            report(progress, 0.65, "dropping duplicate rows")
            parsed = _count(con, stage)
            base = con.execute(f"SELECT min(rowid) FROM {quote_ident(stage)}").fetchone()[0] or 0
            reason = _reject_reason(plan, stage, con)
            cause = _reject_reason(plan, stage, con, causes=True)
            duplicates = _drop_duplicates(con, stage)
            report(progress, 0.75, "checking required values")
            row_rejects, n_row_rejects, row_causes = (
                _reject_rows(con, stage, reason, base, cause)
                if _may_reject(con, plan, stage)
                else ([], 0, {})
            )
            flagged = _flags(con, stage)
            loaded = parsed - duplicates - n_row_rejects
            if loaded == 0:
                raise BadInputError(_nothing_left(plan, parsed, reader_rejects, row_rejects))
            report(progress, 0.85, f"storing into {plan.table}")
            with attach(con, db):
                updated = _commit(con, plan, stage, parallel=loaded >= PARALLEL_WRITE_ROWS)
        finally:
            _drop_staging(con, stage)
    rejects = _merge_rejects(reader_rejects, row_rejects, plan.fmt == "csv" and plan.header)
    n_reader = len({r["line"] for r in reader_rejects})
    report(progress, 1.0, "done")
    return LoadResult(
        rows_read=parsed + n_reader,
        rows_loaded=loaded,
        rows_rejected=n_reader + n_row_rejects,
        duplicates_dropped=duplicates,
        rejects=rejects[:MAX_REJECTS_SHOWN],
        flagged=flagged,
        notes=notes,
        reject_counts=_reject_counts(plan, reader_rejects, row_causes),
        attributes_updated=updated,
    )


def _task(plan: LoadPlan) -> str:
    """What a load does, for messages: ``Loading big.csv (2.1 GB, 5000 columns) into events``."""
    try:
        size = Path(plan.path).stat().st_size
    except OSError:
        size = 0
    shown = f"{size / 2**30:.1f} GB" if size >= 2**30 else f"{size / 2**20:.1f} MB"
    return f"Loading {plan.label} ({shown}, {len(plan.columns)} columns) into {plan.table}"


def _drop_staging(con, stage: str) -> None:
    for name in (stage, stage + "_typed"):
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")


def _commit(con, plan: LoadPlan, stage: str, parallel: bool) -> dict[str, int]:
    """Swap or append the staging table, fill the attribute tables and record the dataset, all
    or nothing; return the ids given attributes per table."""
    with transaction(con):
        appended = _store(con, plan, stage, parallel)
        cols = column_types(con, stage)
        updated = {
            a.table: store_attributes(
                con,
                stage,
                a,
                _clean_id(quote_ident(a.key)) if a.key in _id_roles(plan, cols) else None,
                (plan.label, plan.file_hash),
            )
            for a in plan.attributes
        }
        total = _count(con, plan.table)
        record_dataset(
            plan.table,
            plan.kind,
            plan.label,
            plan.file_hash,
            total,
            plan.mapping,
            con=con,
            appended=appended,
        )
    return updated


def _count(con, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0])


def _projection(plan: LoadPlan, source_types: dict[str, str]) -> tuple[str, list[Any]]:
    """SELECT list from the safe names to the table's names, with constants and missing roles.

    Ends with ``ROW_HASH``, the hash of every column of the file as read.
    """
    parts: list[str] = []
    params: list[Any] = []
    by_role = {c.role: (i, c) for i, c in enumerate(plan.columns) if c.role}
    for role in plan.roles:
        if role in plan.constants:
            parts.append(f"CAST(? AS {ROLE_TYPES[role]}) AS {quote_ident(role)}")
            params.append(plan.constants[role])
        elif role in by_role:
            i, col = by_role[role]
            expr = _role_expr(role, f"c{i}", source_types[f"c{i}"])
            parts.append(f"{expr} AS {quote_ident(role)}")
        elif role not in plan.required:
            parts.append(f"CAST(NULL AS {ROLE_TYPES[role]}) AS {quote_ident(role)}")
    for i, col in enumerate(plan.columns):
        if not col.role:
            parts.append(f"c{i} AS {quote_ident(col.name)}")
    every = ", ".join(f"c{i}" for i in range(len(plan.columns)))
    parts.append(f"hash({every}) AS {quote_ident(ROW_HASH)}")
    return ", ".join(parts), params


def _role_expr(role: str, ref: str, source_type: str) -> str:
    """Cast text-like roles to VARCHAR; leave timestamp and value to ``_convert``."""
    if ROLE_TYPES[role] == "VARCHAR" and source_type != "VARCHAR":
        return f"CAST({ref} AS VARCHAR)"
    return ref


def _read_file(con, plan: LoadPlan, stage: str) -> tuple[list[dict], list[str]]:
    """``_read_into`` with DuckDB's errors about the file itself turned into one-line
    ``BadInputError``s that name the file, the line where known, and the fix."""
    try:
        return _read_into(con, plan, stage)
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:
        raise BadInputError(_read_error(plan.label, str(exc))) from exc


def _read_error(label: str, detail: str) -> str:
    where = re.search(r"Line:?\s*(\d+)", detail)
    at = f" near line {where.group(1)}" if where else ""
    if "maximum line size" in detail.lower():
        return (
            f"{label} has a line{at} longer than {MAX_LINE_MB} MB (a field of that size is not "
            f"customer data); shorten or remove that field and load the file again; nothing "
            f"was stored"
        )
    if "gzip" in detail.lower():
        return (
            f"{label} is a damaged or truncated gzip file; nothing was stored. Copy or download "
            f"it again, or give the uncompressed CSV"
        )
    first = detail.strip().splitlines()[0] if detail.strip() else "unreadable"
    return f"{label} cannot be read{at} ({first[:200]}); nothing was stored. Check the file"


def _read_into(con, plan: LoadPlan, stage: str) -> tuple[list[dict], list[str]]:
    """Create the staging table from the file; return the reader's rejects and notes."""
    if plan.fmt == "parquet":
        names = [c.source for c in plan.columns]
        select = ", ".join(f"{quote_ident(n)} AS c{i}" for i, n in enumerate(names))
        source = f"(SELECT {select} FROM read_parquet(?))"
        described = con.execute(f"DESCRIBE SELECT * FROM {source}", [plan.path]).fetchall()
        types = {r[0]: r[1] for r in described}
        proj, params = _projection(plan, types)
        con.execute(
            f"CREATE TEMP TABLE {quote_ident(stage)} AS SELECT {proj} FROM {source}",
            params + [plan.path],
        )
        return [], []
    notes: list[str] = []
    read_types = [c.read_type for c in plan.columns]
    for attempt in range(3):
        rejects = _read_csv(con, plan, stage, read_types, attempt)
        retype = {
            r["column_idx"]
            for r in rejects
            if r["error_type"] == "CAST"
            and r["column_idx"] is not None
            and plan.columns[r["column_idx"]].role is None
            and read_types[r["column_idx"]] != "VARCHAR"
        }
        unicode = any(r["error_type"] in ("INVALID UNICODE", "INVALID ENCODING") for r in rejects)
        if unicode and plan.encoding != "latin-1":
            plan.encoding = "latin-1"
            notes.append(
                f"{plan.label} is not valid UTF-8; it was read as Latin-1. Re-save it "
                f"as UTF-8 if characters look wrong."
            )
        elif not retype:
            return _reader_rejects(plan, rejects), notes
        for i in retype:
            read_types[i] = "VARCHAR"
        con.execute(f"DROP TABLE {quote_ident(stage)}")
    return _reader_rejects(plan, rejects), notes


def _read_csv(con, plan: LoadPlan, stage: str, read_types: list[str], attempt: int) -> list[dict]:
    names = _safe_names(len(plan.columns))
    types = dict(zip(names, read_types, strict=True))
    proj, params = _projection(plan, types)
    errors, scans = f"__rejects_{attempt}", f"__reject_scans_{attempt}"
    con.execute(
        f"CREATE TEMP TABLE {quote_ident(stage)} AS SELECT {proj} FROM read_csv(?, "
        f"header = {_sql_bool(plan.header)}, "
        f"delim = ?, quote = '\"', escape = '\"', encoding = ?, names = ?, types = ?, "
        f"store_rejects = true, "
        f"rejects_table = {_literal(errors)}, rejects_scan = {_literal(scans)}, "
        f"null_padding = false, strict_mode = true)",
        params + [plan.path, plan.delimiter, plan.encoding, names, read_types],
    )
    rows = con.execute(
        f"SELECT line, column_name, error_type, csv_line, error_message FROM {errors} ORDER BY line"
    ).fetchall()
    return [
        {
            "line": int(r[0]),
            "column_idx": _safe_index(r[1]),
            "error_type": r[2],
            "csv_line": r[3],
            "message": r[4],
        }
        for r in rows
    ]


def _sql_bool(value: bool) -> str:
    """A Python bool as a SQL literal (never user text)."""
    return "true" if value else "false"


def _safe_index(name: str | None) -> int | None:
    """``c12`` -> 12: the position behind a safe column name, if it is one."""
    return int(name[1:]) if name and name[0] == "c" and name[1:].isdigit() else None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _reader_rejects(plan: LoadPlan, rejects: list[dict]) -> list[dict]:
    """One entry per rejected line, with a reason a user can act on."""
    out: dict[int, dict] = {}
    for r in rejects:
        if r["line"] in out:
            continue
        kind, column = r["error_type"], None
        if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
            reason, cause = f"malformed line: {r['message']}", "malformed"
        elif kind == "CAST" and r["column_idx"] is not None:
            col = plan.columns[r["column_idx"]]
            message = r["message"].replace(f'"c{r["column_idx"]}"', repr(col.source))
            reason, cause, column = f"column {col.source!r}: {message}", "bad_type", col.source
        else:
            reason, cause = f"{kind.lower()}: {r['message']}", kind.lower()
        out[r["line"]] = {"line": r["line"], "reason": reason, "cause": cause, "column": column}
    return list(out.values())


def _convert(con, plan: LoadPlan, stage: str) -> list[str]:
    """Turn the timestamp and value roles into TIMESTAMP and DOUBLE, keeping failures aside, and
    the ``whole_numbers`` columns into BIGINT where the whole column allows; return notes.

    Rebuilds the staging table in file order (so rowids stay row positions); a value that does
    not convert becomes NULL and its text goes to a ``__bad_*`` column for the reject report.
    """
    types = column_types(con, stage)
    replace, notes = _whole_numbers(con, plan, stage)
    extra: list[str] = []
    params: list[Any] = []
    ts_col = next((c for c in plan.columns if c.role == "timestamp"), None)
    if ts_col and "timestamp" not in plan.constants and types["timestamp"] != "TIMESTAMP":
        expr, params = _timestamp_expr(con, plan, stage, types["timestamp"])
        replace.append(f'{expr} AS "timestamp"')
        extra.append(
            f'CASE WHEN "timestamp" IS NOT NULL AND {expr} IS NULL '
            f'THEN CAST("timestamp" AS VARCHAR) END AS {quote_ident(BAD_TS)}'
        )
    val_col = next((c for c in plan.columns if c.role == "value"), None)
    if val_col and "value" not in plan.constants and types["value"] != "DOUBLE":
        expr = 'TRY_CAST("value" AS DOUBLE)'
        replace.append(f'{expr} AS "value"')
        extra.append(
            f'CASE WHEN "value" IS NOT NULL AND {expr} IS NULL '
            f'THEN CAST("value" AS VARCHAR) END AS {quote_ident(BAD_VALUE)}'
        )
    if not replace:
        return notes
    typed = stage + "_typed"
    con.execute(
        f"CREATE TEMP TABLE {quote_ident(typed)} AS SELECT * REPLACE ({', '.join(replace)}), "
        f"{', '.join(extra)} FROM {quote_ident(stage)}",
        params + params,
    )
    _check_timestamps(con, plan, typed, ts_col)
    con.execute(f"DROP TABLE {quote_ident(stage)}")
    con.execute(f"ALTER TABLE {quote_ident(typed)} RENAME TO {quote_ident(stage)}")
    return notes


def _whole_numbers(con, plan: LoadPlan, stage: str) -> tuple[list[str], list[str]]:
    """``REPLACE`` items casting each ``whole_numbers`` column to BIGINT, unless any value of it,
    however late in the file, is written with a leading zero (a code: ``0042``, a zip) or is not
    a whole number; such a column stays text, with a note for the leading zeros."""
    columns = [c for c in plan.columns if c.whole_numbers]
    if not columns:
        return [], []
    checks = []
    for c in columns:
        ref = quote_ident(c.name)
        checks.append(f"coalesce(bool_or(regexp_full_match(trim({ref}), '[+-]?0[0-9]+')), false)")
        checks.append(
            f"coalesce(bool_or({ref} IS NOT NULL AND TRY_CAST({ref} AS BIGINT) IS NULL), false)"
        )
    found = con.execute(f"SELECT {', '.join(checks)} FROM {quote_ident(stage)}").fetchone()
    replace, notes = [], []
    for i, c in enumerate(columns):
        zeros, other = found[2 * i], found[2 * i + 1]
        if zeros:
            notes.append(
                f"Column {c.source!r} has values written with leading zeros (such as 0042); it is "
                f"kept as text so that they are not lost"
            )
        elif not other:
            replace.append(f"TRY_CAST({quote_ident(c.name)} AS BIGINT) AS {quote_ident(c.name)}")
    return replace, notes


def _timestamp_expr(con, plan: LoadPlan, stage: str, source_type: str) -> tuple[str, list[Any]]:
    """SQL turning the staged timestamp column into TIMESTAMP (NULL where it fails)."""
    ref = '"timestamp"'
    if source_type in TIME_TYPES:
        return f"CAST({ref} AS TIMESTAMP)", []
    if source_type in NUMERIC_TYPES:
        return _epoch_expr(con, stage, f"CAST({ref} AS BIGINT)"), []
    if plan.timestamp_format:
        return f"TRY_STRPTIME({ref}, ?)", [plan.timestamp_format]
    q = quote_ident(stage)
    digits, total = con.execute(
        f"SELECT count(*) FILTER (WHERE regexp_full_match(trim({ref}), '-?[0-9]+')), count({ref}) "
        f"FROM {q}"
    ).fetchone()
    if total and digits == total:
        return _epoch_expr(con, stage, f"TRY_CAST(trim({ref}) AS BIGINT)"), []
    iso = f"CAST(TRY_CAST({ref} AS TIMESTAMPTZ) AS TIMESTAMP)"
    sample = [
        r[0]
        for r in con.execute(f"SELECT {ref} FROM {q} WHERE {ref} IS NOT NULL LIMIT 1000").fetchall()
    ]
    if not sample or _parses(con, sample, iso.replace(ref, "s")) >= len(sample):
        return iso, []
    # The order of day and month is decided by the whole column: one value such as 13/01/2024
    # settles it; a column that reads both ways is refused (see _ambiguous_dates).
    formats = list(FALLBACK_TIME_FORMATS)
    counts = con.execute(
        f"SELECT count({iso}), "
        + ", ".join(f"count(TRY_STRPTIME({ref}, ?))" for _ in formats)
        + f" FROM {q}",
        formats,
    ).fetchone()
    iso_count, parsed = counts[0], dict(zip(formats, counts[1:], strict=True))
    best = max(formats, key=lambda f: parsed[f])
    if parsed[best] <= iso_count:
        return iso, []
    twin = _day_month_twin(best)
    if twin in parsed and parsed[twin] == parsed[best]:
        _refuse_ambiguous(con, plan, stage, best, twin)
    return f"TRY_STRPTIME({ref}, ?)", [best]


def _day_month_twin(fmt: str) -> str:
    """The same format with day and month swapped (``%m/%d/%Y`` <-> ``%d/%m/%Y``)."""
    return fmt.replace("%m", "\0").replace("%d", "%m").replace("\0", "%d")


def _refuse_ambiguous(con, plan: LoadPlan, stage: str, month_first: str, day_first: str) -> None:
    """Raise ``BadInputError`` when some dates read differently month-first and day-first and
    none settles the order; show two such rows read both ways and the flag that decides."""
    if month_first.startswith("%d"):
        month_first, day_first = day_first, month_first
    ref = '"timestamp"'
    rows = con.execute(
        f"SELECT {ref}, TRY_STRPTIME({ref}, ?), TRY_STRPTIME({ref}, ?) FROM {quote_ident(stage)} "
        f"WHERE TRY_STRPTIME({ref}, ?) <> TRY_STRPTIME({ref}, ?) LIMIT 2",
        [month_first, day_first, month_first, day_first],
    ).fetchall()
    if not rows:
        return
    shown = "; ".join(f"{text} is {a:%d %B %Y} or {b:%d %B %Y}" for text, a, b in rows)
    column = next((c.source for c in plan.columns if c.role == "timestamp"), "timestamp")
    raise AmbiguousDatesError(
        f"{plan.label}: the dates in {column!r} read both month-first and day-first ({shown}), "
        f"and no date settles which; say it with --timestamp-format '{day_first}' (day first) "
        f"or --timestamp-format '{month_first}' (month first); nothing was stored",
        column,
        day_first,
        month_first,
        [{"value": text, "month_first": a, "day_first": b} for text, a, b in rows],
    )


def _parses(con, sample: list[str], expr: str, params: list[Any] | None = None) -> int:
    return int(
        con.execute(
            f"SELECT count({expr}) FROM (SELECT unnest(?::VARCHAR[]) AS s)",
            (params or []) + [sample],
        ).fetchone()[0]
    )


def _epoch_expr(con, stage: str, ref: str) -> str:
    """Whole Unix seconds, or milliseconds / microseconds when the numbers are that large."""
    biggest = con.execute(f"SELECT max(abs({ref})) FROM {quote_ident(stage)}").fetchone()[0] or 0
    scale = 1 if biggest > 1e14 else 1000 if biggest > 1e11 else 1_000_000
    return f"make_timestamp({ref} * {scale})"


def _check_timestamps(con, plan: LoadPlan, table: str, ts_col: Column | None) -> None:
    """Every timestamp failing means the format is wrong, not the rows: say so once."""
    if ts_col is None or BAD_TS not in column_types(con, table):
        return
    q = quote_ident(table)
    good, bad, sample = con.execute(
        f'SELECT count("timestamp"), count({quote_ident(BAD_TS)}), '
        f"any_value({quote_ident(BAD_TS)}) FROM {q}"
    ).fetchone()
    if bad and not good:
        raise BadInputError(
            f"{plan.label}: no value of the timestamp column {ts_col.source!r} could be read as a "
            f"date/time (e.g. {sample!r}); give its format with --timestamp-format, e.g. "
            f"--timestamp-format '%d/%m/%Y %H:%M', or map another column with "
            f"--map timestamp=COLUMN"
        )


def _drop_duplicates(con, stage: str) -> int:
    """Delete all but the first of each group of rows identical in every column; return how many.

    Grouping by the row hash finds candidates in one cheap pass (kept in a temporary table, not
    grouped again: 2 s of a 20M-row load); only rows whose hash repeats are compared column by
    column.
    """
    q, h = quote_ident(stage), quote_ident(ROW_HASH)
    repeated = quote_ident(f"{stage}_repeated")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {repeated} AS "
        f"SELECT {h} FROM {q} GROUP BY {h} HAVING count(*) > 1"
    )
    try:
        if not con.execute(f"SELECT 1 FROM {repeated} LIMIT 1").fetchall():
            return 0
        cols = ", ".join(quote_ident(c) for c in column_types(con, stage) if c not in HIDDEN)
        deleted = con.execute(
            f"DELETE FROM {q} WHERE rowid IN (SELECT rowid FROM {q} WHERE {h} IN "
            f"(SELECT {h} FROM {repeated}) "
            f"QUALIFY row_number() OVER (PARTITION BY {h}, {cols} ORDER BY rowid) > 1)"
        ).fetchone()
        return int(deleted[0])
    finally:
        con.execute(f"DROP TABLE IF EXISTS {repeated}")


def _id_roles(plan: LoadPlan, cols: dict[str, str]) -> list[str]:
    return [
        r
        for r in ("user_id", "item_id", "session_id")
        if r in cols and r not in plan.constants and cols[r] == "VARCHAR"
    ]


def _clean_id(col: str) -> str:
    """SQL for ``17850.0`` -> ``17850`` (ids exported through a float column), others as they are."""
    return (
        f"CASE WHEN {col} LIKE '%.0' AND regexp_full_match({col}, '-?[0-9]+\\.0+') "
        f"THEN regexp_replace({col}, '^(-?[0-9]+)\\.0+$', '\\1') ELSE {col} END"
    )


def _reject_reason(plan: LoadPlan, stage: str, con, causes: bool = False) -> str | None:
    """SQL giving why a row is rejected (NULL when it is kept), or None when nothing can be;
    with ``causes``, only the role that failed (``user_id``, ..., ``timestamp``), for counting.

    A row is rejected when a required id is missing or blank, or its timestamp did not parse.
    """
    cols = column_types(con, stage)
    reasons: list[str] = []
    for role in _checked_roles(plan):
        src = next(c.source for c in plan.columns if c.role == role)
        col = quote_ident(role)
        why = role if causes else f"missing {role} (column {src!r})"
        reasons.append(f"CASE WHEN {col} IS NULL OR trim({col}) = '' THEN {_literal(why)} END")
    if BAD_TS in cols:
        src = next(c.source for c in plan.columns if c.role == "timestamp")
        text = _literal(f"timestamp (column {src!r}) is not a date/time: ")
        why = "'timestamp'" if causes else f"{text} || {quote_ident(BAD_TS)}"
        reasons.append(f"CASE WHEN {quote_ident(BAD_TS)} IS NOT NULL THEN {why} END")
    return f"coalesce({', '.join(reasons)})" if reasons else None


def _checked_roles(plan: LoadPlan) -> list[str]:
    return [r for r in plan.required if r not in plan.constants]


def _may_reject(con, plan: LoadPlan, stage: str) -> bool:
    """Whether any row may be rejected, from aggregates that need no per-row expression.

    True when a required id has a NULL or a value sorting before ``'!'`` (blank or starting
    with a space), or a timestamp failed; the exact test is ``_reject_reason``.
    """
    tests = []
    for role in _checked_roles(plan):
        col = quote_ident(role)
        tests.append(f"count(*) > count({col}) OR min({col}) < '!'")
    if BAD_TS in column_types(con, stage):
        tests.append(f"count({quote_ident(BAD_TS)}) > 0")
    if not tests:
        return False
    return bool(
        con.execute(
            f"SELECT coalesce({' OR '.join(f'({t})' for t in tests)}, false) FROM {quote_ident(stage)}"
        ).fetchone()[0]
    )


def _reject_rows(
    con, stage: str, reason: str | None, base: int, cause: str | None
) -> tuple[list[dict], int, dict[str, int]]:
    """Delete the rows ``reason`` rejects; the first ones (position, reason), the count, and
    the count of every rejected row per ``cause`` (see ``_reject_reason``).

    ``base`` is the rowid of the first parsed row (rowids inside a transaction start high).
    """
    if reason is None or cause is None:
        return [], 0, {}
    q = quote_ident(stage)
    first = con.execute(
        f"SELECT rowid, {reason} FROM {q} WHERE {reason} IS NOT NULL ORDER BY rowid LIMIT ?",
        [MAX_REJECTS_SHOWN],
    ).fetchall()
    if not first:
        return [], 0, {}
    counted = f"SELECT {cause}, count(*) FROM {q} WHERE {cause} IS NOT NULL GROUP BY 1"
    causes = dict(con.execute(counted).fetchall())
    n = con.execute(f"DELETE FROM {q} WHERE {reason} IS NOT NULL").fetchone()[0]
    return [{"row": int(r[0]) - base, "reason": r[1]} for r in first], int(n), causes


def _reject_counts(plan: LoadPlan, reader: list[dict], rows: dict[str, int]) -> list[dict]:
    """Every rejected row counted by cause: ``{"cause", "role", "column", "rows"}``, largest
    first; causes are ``missing`` (a required id), ``bad_timestamp``, ``malformed`` (fields do
    not match the header), ``bad_type`` (a value that does not fit its column) or the reader's."""
    source = {c.role: c.source for c in plan.columns if c.role}
    out = [
        {
            "cause": "bad_timestamp" if role == "timestamp" else "missing",
            "role": role,
            "column": source.get(role),
            "rows": int(n),
        }
        for role, n in rows.items()
    ]
    by_cause: dict[tuple, int] = {}
    for r in reader:
        key = (r["cause"], r["column"])
        by_cause[key] = by_cause.get(key, 0) + 1
    out += [
        {"cause": cause, "role": None, "column": column, "rows": n}
        for (cause, column), n in by_cause.items()
    ]
    return sorted(out, key=lambda r: -r["rows"])


def _flags(con, stage: str) -> dict[str, int]:
    """Counts of kept-but-suspicious values: negative values, values that are not numbers."""
    cols = column_types(con, stage)
    q = quote_ident(stage)
    out: dict[str, int] = {}
    if cols.get("value") == "DOUBLE":
        n = con.execute(f'SELECT count(*) FROM {q} WHERE "value" < 0').fetchone()[0]
        if n:
            out["negative_value"] = int(n)
    if BAD_VALUE in cols:
        n = con.execute(f"SELECT count({quote_ident(BAD_VALUE)}) FROM {q}").fetchone()[0]
        if n:
            out["value_not_a_number"] = int(n)
    return out


def _merge_rejects(reader: list[dict], rows: list[dict], header_line: bool) -> list[dict]:
    """Reader rejects carry file lines; staged rows carry their position among parsed rows.

    A parsed row's line is its position plus the header line (when the file has one), plus
    every rejected line before it.
    """
    bad_lines = sorted(r["line"] for r in reader)
    out = [{"line": r["line"], "reason": r["reason"]} for r in reader]
    for r in rows:
        line = r["row"] + (2 if header_line else 1)
        for bad in bad_lines:
            if bad <= line:
                line += 1
        out.append({"line": line, "reason": r["reason"]})
    return sorted(out, key=lambda r: r["line"])


def _nothing_left(plan: LoadPlan, parsed: int, reader: list[dict], rows: list[dict]) -> str:
    first = (rows or reader or [{"reason": "no data rows"}])[0]["reason"]
    return (
        f"{plan.label}: no row could be loaded ({parsed} parsed, all rejected or duplicates; "
        f"first reason: {first}); check the column mapping (--map ROLE=COLUMN) and the file"
    )


def _store(con, plan: LoadPlan, stage: str, parallel: bool) -> bool:
    """Replace the target with the staging table, or append to it by column name; True when
    the rows were added to the table as it was (its stored rows kept)."""
    target = quote_ident(plan.table)
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_name = ?",
        [plan.table],
    ).fetchone()[0]
    new = {n: t for n, t in column_types(con, stage).items() if n not in HIDDEN}
    source = _cleaned(plan, stage, new, by_user=parallel)
    if plan.mode == "replace" or not exists:
        if exists:
            con.execute(f"DROP TABLE {target}")
        _write(con, f"CREATE TABLE {target} AS {source}", parallel)
        return False
    old = column_types(con, plan.table)
    added = [n for n in new if n not in old]
    if added and _widen_by_rebuilding(con, plan, stage, len(new), added):
        _rebuild(con, plan, old, new, source, parallel)
        return True
    for name, typ in new.items():
        if name not in old:
            con.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(name)} {typ}")
        elif old[name] != typ:
            wider = _wider_type(old[name], typ)
            if wider != old[name]:
                con.execute(f"ALTER TABLE {target} ALTER COLUMN {quote_ident(name)} TYPE {wider}")
    _write(con, f"INSERT INTO {target} BY NAME {source}", parallel)
    return True


def _widen_by_rebuilding(con, plan: LoadPlan, stage: str, width: int, added: list[str]) -> bool:
    """Whether an append that adds ``added`` columns rebuilds the table (True) or adds them one
    ``ALTER TABLE`` at a time (False); refuses it (``BadInputError``) when the empty cells it
    would write into the stored rows are far more than the file's own cells.

    Each ``ALTER TABLE ... ADD COLUMN`` writes a NULL for every stored row and keeps it in
    memory outside the memory limit until the commit (2,000 columns on 200,000 rows: 100 s and
    5 GB), so more than ``ALTER_MAX_COLUMNS`` new columns, or ``ALTER_MAX_CELLS`` new cells, are
    added by writing the table again in one statement (old rows then new, spilling to disk).
    """
    stored = _count(con, plan.table)
    empty = stored * len(added)
    own = _count(con, stage) * width
    if empty > max(WIDEN_MAX_EMPTY_CELLS, WIDEN_MAX_FACTOR * own):
        raise BadInputError(
            f"{plan.label} has {len(added):,} columns that {plan.table!r} does not have; adding "
            f"them to its {stored:,} stored rows would write {empty:,} empty cells, far more than "
            f"the file holds ({own:,}); nothing was stored. Load it into a table of its own "
            f"(--table {plan.table}_more, joined on the id), or replace {plan.table!r} with "
            f"--mode replace"
        )
    return len(added) > ALTER_MAX_COLUMNS or empty > ALTER_MAX_CELLS


def _rebuild(
    con, plan: LoadPlan, old: dict[str, str], new: dict[str, str], source: str, parallel: bool
) -> None:
    """Write ``plan.table`` again as its stored rows (new columns NULL) followed by ``source``,
    each column of a type holding both, and swap it in (the caller holds the transaction)."""
    types = {n: _wider_type(t, new[n]) if n in new and new[n] != t else t for n, t in old.items()}
    types.update({n: t for n, t in new.items() if n not in old})

    def select(have: dict[str, str]) -> str:
        return ", ".join(
            f"CAST({quote_ident(n) if n in have else 'NULL'} AS {t}) AS {quote_ident(n)}"
            for n, t in types.items()
        )

    wide = f"__widened_{plan.table}"
    con.execute(f"DROP TABLE IF EXISTS {quote_ident(wide)}")
    _write(
        con,
        f"CREATE TABLE {quote_ident(wide)} AS SELECT {select(old)} FROM {quote_ident(plan.table)} "
        f"UNION ALL SELECT {select(new)} FROM ({source})",
        parallel,
    )
    con.execute(f"DROP TABLE {quote_ident(plan.table)}")
    con.execute(f"ALTER TABLE {quote_ident(wide)} RENAME TO {quote_ident(plan.table)}")


def _write(con, sql: str, parallel: bool) -> None:
    """Run the statement that writes the table; ``parallel`` lets DuckDB drop insertion order
    (``execute_unordered``: about twice as fast). Rows then keep file order inside blocks of
    ~120,000 rows, but the blocks may be stored in any order, so only loads of
    ``PARALLEL_WRITE_ROWS`` rows or more do it. Rejects and duplicates are decided on the
    staging table, in file order, before this."""
    if parallel:
        execute_unordered(con, sql)
    else:
        con.execute(sql)


def _cleaned(plan: LoadPlan, stage: str, cols: dict[str, str], by_user: bool = False) -> str:
    """SELECT of the table's columns ``cols`` from the staging table, with the id roles cleaned
    (``_clean_id``): in file order, or, with ``by_user`` for an events table, ordered by
    ``user_id``.

    A large load is written without insertion order anyway (``_write``); ordered by customer,
    each block of ~120,000 stored rows holds a narrow range of ids, so DuckDB's per-block
    min/max lets one customer's history read a block or two instead of the whole column
    (15 ms against 220 ms at 5M events). The sort costs about as much as writing the table
    unsorted once more at most, and every appended file is a sorted run of its own.
    """
    roles = _id_roles(plan, cols)
    clean = {r: f"{_clean_id(quote_ident(r))} AS {quote_ident(r)}" for r in roles}
    select = ", ".join(clean.get(c, quote_ident(c)) for c in cols)
    order = ""
    if by_user and plan.kind == "events" and "user_id" in cols:
        order = f" ORDER BY {quote_ident('user_id')}"
    return f"SELECT {select} FROM {quote_ident(stage)}{order}"


def _wider_type(old: str, new: str) -> str:
    """A type holding both: DOUBLE for mixed numbers, else VARCHAR."""
    if old in NUMERIC_TYPES and new in NUMERIC_TYPES:
        return "DOUBLE" if "DOUBLE" in (old, new) or "FLOAT" in (old, new) else "BIGINT"
    if old in TIME_TYPES and new in TIME_TYPES:
        return "TIMESTAMP"
    return "VARCHAR"
