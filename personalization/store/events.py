"""Read interactions and item/user attributes for the recommenders.

Results come back through DuckDB's DataFrame export (columnar, no row-by-row Python), so a
million events read in well under a second. A missing attributes table gives an empty frame; a
missing events table raises ``NotFoundError`` naming the tables there are.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from personalization.errors import BadInputError
from personalization.store.core import connect, quote_ident, require_table, table_exists

EVENT_COLUMNS = ("user_id", "item_id", "event_type", "timestamp", "value")


def read_events(
    table: str = "events", columns: Sequence[str] | None = None, db=None
) -> pd.DataFrame:
    """The rows of ``table`` with ``columns`` (default: those of ``EVENT_COLUMNS`` the table has).

    Raises ``NotFoundError`` when the table is absent and ``BadInputError`` when a column asked
    for does not exist.
    """
    require_table(table, db)
    with connect(db, read_only=True) as con:
        present = [r[0] for r in con.execute(_COLUMNS_SQL, [table]).fetchall()]
        wanted = list(columns) if columns else [c for c in EVENT_COLUMNS if c in present]
        missing = [c for c in wanted if c not in present]
        if missing:
            raise BadInputError(
                f"Table {table!r} has no column {', '.join(missing)}; found: "
                f"{', '.join(present)}. Load the events with that column mapped (--map ROLE=COLUMN)."
            )
        select = ", ".join(quote_ident(c) for c in wanted)
        return con.execute(f"SELECT {select} FROM {quote_ident(table)}").df()


def read_attributes(table: str, key: str, db=None) -> pd.DataFrame:
    """One row per ``key`` of ``table`` (``users`` or ``items``), indexed by ``key`` as text.

    An absent table gives an empty frame; rows without a key are dropped and duplicate keys
    keep their first row. Raises
    ``BadInputError`` when the table has no ``key`` column.
    """
    if not table_exists(table, db):
        return pd.DataFrame(index=pd.Index([], name=key, dtype=object))
    with connect(db, read_only=True) as con:
        present = [r[0] for r in con.execute(_COLUMNS_SQL, [table]).fetchall()]
        if key not in present:
            raise BadInputError(
                f"Table {table!r} has no column {key!r}; found: {', '.join(present)}. "
                f"Load it again with --map {key}=COLUMN."
            )
        frame = con.execute(f"SELECT * FROM {quote_ident(table)}").df()
    frame = frame[frame[key].notna()]
    frame[key] = frame[key].astype(str)
    return frame.drop_duplicates(subset=key).set_index(key)


_COLUMNS_SQL = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position"
)
