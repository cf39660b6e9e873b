"""Item and user attributes taken from an events file: the ``items`` / ``users`` rows it names.

``store_attributes`` runs inside the transaction of an events load (see ``loading.load``), on the
staging table after rejects and duplicates are gone. It keeps one row per id: for each attribute
the most recent non-empty value (latest event timestamp; file order breaks ties and stands in
when there is no timestamp), text trimmed; a numeric attribute (``price``) is the MEDIAN of the
id's values that read as numbers, so one discount, adjustment or typo does not set it. Then it
updates the target's existing rows (a value the file has wins; other columns are kept; missing
columns are added) and inserts the ids the target did not hold. Names are quoted identifiers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from personalization.errors import BadInputError
from personalization.store.catalog import record_dataset
from personalization.store.core import column_types, connect, quote_ident, transaction

NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


@dataclass
class AttributeSet:
    """The attributes of one table mapped from staged events.

    ``columns`` maps attribute name (a column of ``table``) -> column of the staging table;
    ``numeric`` names the attributes stored as a median DOUBLE.
    """

    table: str  # "items" or "users"
    key: str  # "item_id" or "user_id": the staging column and the table's key column
    columns: dict[str, str]
    numeric: tuple[str, ...] = ("price",)


def store_attributes(
    con,
    stage: str,
    attrs: AttributeSet,
    key_sql: str | None = None,
    source: tuple[str, str] = ("", ""),
) -> int:
    """Fill or update ``attrs.table`` from ``stage`` on ``con`` (the caller holds the
    transaction); return how many ids got at least one value (updated or added).

    ``key_sql`` is the SQL of the id as the events table stores it (default: the staging column);
    ``source`` (file label, file hash) goes to the catalog when the table is created here. Raises
    ``BadInputError`` when the existing table has no ``attrs.key`` column.
    """
    agg = f"__attributes_{attrs.table}"
    con.execute(f"DROP TABLE IF EXISTS {quote_ident(agg)}")
    try:
        n = _aggregate(con, stage, attrs, key_sql or quote_ident(attrs.key), agg)
        if n:
            _merge(con, agg, attrs, source)
        return n
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(agg)}")


def fill_attributes(attrs: AttributeSet, source_table: str, db=None) -> int:
    """``store_attributes`` from the table ``source_table`` of ``db``, in one transaction (the
    item columns an events file left in its table, gathered into ``items``)."""
    with connect(db) as con, transaction(con):
        return store_attributes(con, source_table, attrs)


def merge_attribute_frames(
    frames: Sequence,
    table: str,
    key: str,
    numeric: Sequence[str] = ("price",),
    label: str = "",
    db=None,
) -> int:
    """Fill or update ``table`` (``items`` or ``users``) from ``frames`` (one row per ``key``,
    one frame per file) in their order, as loading the files one after another would: a value
    a later frame has wins, other columns are kept. One transaction: all frames or none.
    ``label`` names the source in the catalog when the table is created here. Returns how many
    distinct ids the frames named."""
    stage = f"__incoming_{table}"
    ids: set[str] = set()
    with connect(db) as con, transaction(con):
        for frame in frames:
            columns = {c: c for c in frame.columns if c != key}
            if key not in frame.columns or not columns or frame.empty:
                continue
            con.register("__incoming_frame", frame)
            try:
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {quote_ident(stage)} AS "
                    f"SELECT * FROM __incoming_frame"
                )
            finally:
                con.unregister("__incoming_frame")
            kept = tuple(c for c in columns if c in numeric)
            attrs = AttributeSet(table, key, columns, kept)
            store_attributes(con, stage, attrs, source=(label, ""))
            ids.update(frame[key].dropna().astype(str))
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(stage)}")
    return len(ids)


def _aggregate(con, stage: str, attrs: AttributeSet, key_sql: str, agg: str) -> int:
    """One row per id with its attributes into the temp table ``agg``; return the row count."""
    types = column_types(con, stage)
    ts = "coalesce(\"timestamp\", TIMESTAMP '0001-01-01')" if "timestamp" in types else "NULL"
    order = f"({ts}, rowid)"
    parts = []
    for name, col in attrs.columns.items():
        ref = quote_ident(col)
        if name in attrs.numeric:
            parts.append(f"median(TRY_CAST({ref} AS DOUBLE)) AS {quote_ident(name)}")
        elif types.get(col) == "VARCHAR":
            parts.append(
                f"arg_max(trim({ref}), {order}) FILTER (WHERE trim({ref}) <> '') "
                f"AS {quote_ident(name)}"
            )
        else:
            parts.append(
                f"arg_max({ref}, {order}) FILTER (WHERE {ref} IS NOT NULL) AS {quote_ident(name)}"
            )
    key = quote_ident(attrs.key)
    con.execute(
        f"CREATE TEMP TABLE {quote_ident(agg)} AS SELECT {key_sql} AS {key}, {', '.join(parts)} "
        f"FROM {quote_ident(stage)} WHERE {key_sql} IS NOT NULL GROUP BY ALL"
    )
    empty = " AND ".join(f"{quote_ident(name)} IS NULL" for name in attrs.columns)
    con.execute(f"DELETE FROM {quote_ident(agg)} WHERE {empty}")
    return int(con.execute(f"SELECT count(*) FROM {quote_ident(agg)}").fetchone()[0])


def _merge(con, agg: str, attrs: AttributeSet, source: tuple[str, str]) -> None:
    """Update the target's rows from ``agg``, add its new ids, create it when absent."""
    target, key = quote_ident(attrs.table), quote_ident(attrs.key)
    old = column_types(con, attrs.table)
    if not old:
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM {quote_ident(agg)}")
        rows = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        record_dataset(attrs.table, attrs.table, source[0], source[1], rows, {}, con=con)
        return
    if attrs.key not in old:
        raise BadInputError(
            f"table {attrs.table!r} has no column {attrs.key!r}, so attributes from the events "
            f"file cannot be matched to its rows; load it again with --kind {attrs.table}, or "
            f"leave the attribute mappings out; nothing was stored"
        )
    for name, typ in column_types(con, agg).items():
        if name == attrs.key:
            continue
        col = quote_ident(name)
        if name not in old:
            con.execute(f"ALTER TABLE {target} ADD COLUMN {col} {typ}")
        elif old[name] != typ:
            wider = "DOUBLE" if _numeric(old[name]) and _numeric(typ) else "VARCHAR"
            if wider != old[name]:
                con.execute(f"ALTER TABLE {target} ALTER COLUMN {col} TYPE {wider}")
    match = f"CAST(t.{key} AS VARCHAR) = s.{key}"
    sets = ", ".join(
        f"{quote_ident(n)} = coalesce(s.{quote_ident(n)}, t.{quote_ident(n)})"
        for n in attrs.columns
    )
    con.execute(f"UPDATE {target} AS t SET {sets} FROM {quote_ident(agg)} AS s WHERE {match}")
    con.execute(
        f"INSERT INTO {target} BY NAME SELECT * FROM {quote_ident(agg)} AS s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {match})"
    )


def _numeric(typ: str) -> bool:
    return typ.split("(")[0] in NUMERIC
