"""Which columns of a customer table a propensity model learns from, and warnings on the doubtful ones.

``choose_columns`` sorts columns into numeric and categorical features, a key (an id column) and
dropped ones (dates, empty or constant columns), with a warning for each that needs a look. The
guard against columns recorded after the outcome is ``personalization.propensity.leakage``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from personalization.errors import BadInputError

ID_NAME = re.compile(r"(^|[^a-z])(id|uuid|guid|key)([^a-z]|$)|id$")
DATE_NAME = re.compile(r"date|time|(^|_)at$|^converted_|_on$")
NUMERIC_SHARE = 0.95


def choose_columns(frame: pd.DataFrame, target: str, exclude: Sequence[str] = ()) -> dict:
    """Sort the columns of ``frame`` into features (numeric, categorical), key and dropped.

    Id columns (named like ``*id*``, every value unique, text or integers) are dropped: the first
    is kept as ``key`` without a word, any other with a warning; datetime columns, all-null and constant columns are dropped with a
    warning; text columns whose values are at least 95% numbers become numeric. Raises
    ``BadInputError`` for an unknown excluded column or when no feature is left.
    """
    unknown = [c for c in exclude if c not in frame.columns]
    if unknown:
        raise BadInputError(
            f"--exclude names columns that do not exist: {', '.join(unknown)}; "
            f"found: {', '.join(map(str, frame.columns))}."
        )
    out = {"numeric": [], "categorical": [], "key": None, "dropped": list(exclude), "warnings": []}
    for column in frame.columns:
        if column == target or column in exclude:
            continue
        _sort_column(frame[column], out)
    out["features"] = out["numeric"] + out["categorical"]
    if not out["features"]:
        raise BadInputError(
            f"No usable feature column is left after excluding "
            f"{', '.join(out['dropped']) or 'none'}; "
            f"the table needs at least one column besides the target that varies."
        )
    return out


def _sort_column(col: pd.Series, out: dict) -> None:
    name = str(col.name)
    lowered = _snake(name)
    if ID_NAME.search(lowered) and _all_unique(col):
        out["dropped"].append(name)
        if out["key"] is None:  # the customer id: expected, the key of the scores
            out["key"] = name
            return
        out["warnings"].append(
            f"Column {name!r} looks like an id too (every value unique); it is not used as a "
            f"feature."
        )
        return
    if col.nunique(dropna=False) <= 1:
        out["dropped"].append(name)
        state = "all empty" if col.isna().all() else "constant"
        out["warnings"].append(f"Column {name!r} is {state}; it is dropped.")
        return
    if pd.api.types.is_datetime64_any_dtype(col):
        out["dropped"].append(name)
        out["warnings"].append(
            f"Column {name!r} is a date; it is not used as a feature. If it was recorded after the "
            f"outcome (a date of conversion), it would leak the answer; derive a feature from it "
            f"that is known before the outcome instead."
        )
        return
    if DATE_NAME.search(lowered):
        out["warnings"].append(
            f"Column {name!r} looks like a date or a record of the outcome; if it was recorded "
            f"after the outcome it leaks the answer: exclude it with --exclude {name}."
        )
    kind = "numeric" if _looks_numeric(col) else "categorical"
    out[kind].append(name)
    if kind == "categorical" and col.nunique() > max(50, 0.5 * col.notna().sum()):
        out["warnings"].append(
            f"Column {name!r} has {col.nunique()} distinct values, like an id or free text; "
            f"it adds little. Exclude it with --exclude {name}."
        )


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _all_unique(col: pd.Series) -> bool:
    textual = pd.api.types.is_string_dtype(col) or col.dtype == object
    return (textual or pd.api.types.is_integer_dtype(col)) and col.notna().all() and col.is_unique


def _looks_numeric(col: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return True
    present = col.dropna()
    parsed = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    return len(present) > 0 and parsed.notna().mean() >= NUMERIC_SHARE
