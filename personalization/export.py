"""Write tables for spreadsheets and scripts: CSV (formula-safe) or Parquet.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some programs,
a tab or carriage return) as a formula; a product title such as ``=HYPERLINK(...)`` in an export
must stay text. ``neutralise_formulas`` puts an apostrophe in front of such text cells; numbers,
dates and booleans are not touched, nor is text that is a plain number such as ``-12.5``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from personalization.errors import BadInputError

FORMATS = (".csv", ".parquet")
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` where every text cell that a spreadsheet would run gets a leading ``'``.

    Only text (object or string) columns change; numeric columns and plain-number text stay.
    """
    out = df.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            out[column] = series.map(_neutralise_cell)
    return out


def _neutralise_cell(value):
    if isinstance(value, str) and value.startswith(TRIGGERS) and not PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` to ``path`` (``.csv`` neutralised, or ``.parquet``) and return the path.

    The file is written beside its target first and then renamed, so a failure never leaves a
    half-written file. Any other extension raises ``BadInputError``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise BadInputError(
            f"Cannot write {path.name!r}: the extension {suffix or '(none)'!r} is not supported; "
            f"use a file name ending in .csv or .parquet."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if suffix == ".csv":
            neutralise_formulas(df).to_csv(partial, index=False)
        else:
            df.to_parquet(partial, index=False)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path
