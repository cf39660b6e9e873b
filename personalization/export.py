"""Write tables for spreadsheets and scripts: CSV (formula-safe) or Parquet, whole or in blocks.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some programs,
a tab or carriage return) as a formula; a product title such as ``=HYPERLINK(...)`` in an export
must stay text. ``neutralise_formulas`` puts an apostrophe in front of such text cells, and in
front of every line of a cell that a reader splitting on line breaks would see as such a cell;
numbers, dates and booleans are not touched, nor is text that is a plain number such as ``-12.5``.
CSV rows end in CRLF (RFC 4180), so that every cell holding a carriage return or a line feed is
quoted. Blocks of numbers and text are written by Arrow's CSV writer, which quotes every text cell
(about ten times pandas' speed); others (dates, mixed objects) by pandas. ``write_blocks`` writes a stream of frames (a large export) without holding them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from personalization.errors import BadInputError

FORMATS = (".csv", ".parquet")
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits on
BREAK = re.compile(f"[{LINE_BREAKS}]")
RISKY = re.compile(f"^[=+\\-@\t\r]|[{LINE_BREAKS}]")  # Arrow's RE2 reads it too
RISKY_LINE = re.compile(f"(?<=[{LINE_BREAKS}])(?=[=+\\-@\t])")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` where every text cell that a spreadsheet would run gets a leading ``'``.

    Only text (object or string) columns change; numeric columns and plain-number text stay.
    Vectorised per column (string methods), so a block of a million cells takes well under a second.
    """
    out = df.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            out[column] = _neutralise_column(series)
    return out


def _neutralise_column(series: pd.Series) -> pd.Series:
    """``series`` with its risky text cells neutralised. Arrow's regex kernel finds the cells
    that start like a formula or hold a line break (a few milliseconds for an export block);
    only those are rewritten, each distinct value once."""
    rows = np.flatnonzero(_flagged(series))
    if not len(rows):
        return series
    codes, uniques = pd.factorize(series.iloc[rows])
    fixed = np.array([_neutralise_cell(cell) for cell in uniques], dtype=object)
    out = series.astype(object).copy()
    out.iloc[rows] = fixed[codes]
    return out


def _flagged(series: pd.Series) -> np.ndarray:
    """Which cells of ``series`` are text that starts like a formula or holds a line break."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed objects: look at each cell
        cells = series.to_numpy(dtype=object)
        found = (type(v) is str and RISKY.search(v) is not None for v in cells)
        return np.fromiter(found, dtype=bool, count=len(cells))
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return np.zeros(len(series), dtype=bool)
    hits = pc.match_substring_regex(array, RISKY.pattern).fill_null(False)
    return hits.to_numpy(zero_copy_only=False)


def _neutralise_cell(cell: str) -> str:
    text = "'" + cell if cell.startswith(TRIGGERS) and not PLAIN_NUMBER.match(cell) else cell
    return _neutralise_lines(text) if BREAK.search(text) else text


def _neutralise_lines(cell: str) -> str:
    """``'`` in front of every line after the first that starts like a formula (not a number)."""

    def guard(match: re.Match) -> str:
        rest = re.split(f"[{LINE_BREAKS}]", cell[match.start() :], maxsplit=1)[0]
        return "" if PLAIN_NUMBER.match(rest) else "'"

    return RISKY_LINE.sub(guard, cell)


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` to ``path`` (``.csv`` neutralised, or ``.parquet``) and return the path.

    The file is written beside its target first and then renamed, so a failure never leaves a
    half-written file. Any other extension raises ``BadInputError``.
    """
    written, _ = write_blocks([df], path)
    return written


def write_blocks(blocks: Iterable[pd.DataFrame], path: str | os.PathLike) -> tuple[Path, int]:
    """Write frames with the same columns one after another to ``path`` (CSV: one header, every
    block neutralised; Parquet: one row group per block) and return ``(path, rows written)``.

    Only one block is in memory at a time. Written beside the target and renamed at the end, so
    a failure (also one raised by the iterator) never leaves a half-written file. Any other
    extension raises ``BadInputError``.
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
        write = _write_csv if suffix == ".csv" else _write_parquet
        rows = write(blocks, partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path, rows


def _write_csv(blocks: Iterable[pd.DataFrame], target: Path) -> int:
    rows = 0
    with open(target, "wb") as handle:
        for i, block in enumerate(blocks):
            safe = neutralise_formulas(block)
            if i == 0:
                header = safe.iloc[:0].to_csv(index=False, lineterminator="\r\n")
                handle.write(header.encode("utf-8"))
            if _arrow_writable(safe):
                _write_arrow_csv(safe, handle)
            else:
                body = safe.to_csv(index=False, header=False, lineterminator="\r\n")
                handle.write(body.encode("utf-8"))
            rows += len(block)
    return rows


def _arrow_writable(frame: pd.DataFrame) -> bool:
    """Whether Arrow's CSV writer renders ``frame`` as pandas would: only numbers (not
    booleans) and text columns; anything else (dates, mixed objects) goes through pandas."""
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series):
            return False
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_string_dtype(series):
            if series.dtype != object:
                continue
            if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
                continue
        return False
    return True


def _write_arrow_csv(frame: pd.DataFrame, handle) -> None:
    """``frame``'s rows (no header) by Arrow's CSV writer: about ten times pandas' speed on an
    export block; text cells are quoted, rows end in CRLF."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)  # no pool per block
    pa_csv.write_csv(table, handle, pa_csv.WriteOptions(include_header=False, eol="\r\n"))


def _write_parquet(blocks: Iterable[pd.DataFrame], target: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, writer, schema = 0, None, None
    try:
        for block in blocks:
            table = pa.Table.from_pandas(block, preserve_index=False, nthreads=1)
            if writer is None:
                schema = pa.schema(
                    [
                        f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                        for f in table.schema
                    ],
                    metadata=table.schema.metadata,
                )
                writer = pq.ParquetWriter(target, schema)
            writer.write_table(table.cast(schema))
            rows += len(block)
    finally:
        if writer is not None:
            writer.close()
    return rows
