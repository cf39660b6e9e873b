"""How the product reads values written by people: yes/no words, flag columns, id lists, and
which columns make sensible segments. One home for each rule, shared by the library, the
command line and the pages.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the functions take pandas objects; is_number and parse_ids need none
    import pandas as pd

TRUE_TEXT = frozenset({"true", "1", "yes", "y", "t"})
FALSE_TEXT = frozenset({"false", "0", "no", "n", "f"})
MAX_SEGMENT_GROUPS = 30
MIN_GROUP_CUSTOMERS = 30
SMALL_GROUPS_SHARE = 0.1


def is_true(values: pd.Series) -> pd.Series:
    """Boolean series: True where a value reads as yes (``true``, ``1``, ``yes``, ``y``, ``t``)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).astype(bool)
    text = values.astype("string").str.strip().str.lower()
    text = text.str.replace(r"\.0+$", "", regex=True)
    return text.isin(TRUE_TEXT).fillna(False).astype(bool)


def is_flag(values: pd.Series) -> bool:
    """True when every non-missing value reads as yes or no (a flag column such as ``in_stock``)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return True
    if pd.api.types.is_float_dtype(values):
        return False
    seen = set(values.dropna().astype(str).str.strip().str.lower().unique())
    return bool(seen) and seen <= (TRUE_TEXT | FALSE_TEXT)


def parse_ids(text: str | None) -> list[str]:
    """Ids typed or pasted by a person: split on commas, semicolons, white space and line breaks;
    blanks dropped, order kept, duplicates removed."""
    seen: dict[str, None] = {}
    for part in re.split(r"[,;\s]+", text or ""):
        part = part.strip().strip("\"'")
        if part:
            seen.setdefault(part, None)
    return list(seen)


def segment_columns(
    frame: pd.DataFrame,
    exclude: tuple[str, ...] = (),
    max_groups: int = MAX_SEGMENT_GROUPS,
    min_group: int = MIN_GROUP_CUSTOMERS,
) -> list[str]:
    """Columns that make sensible segments, best first: between 2 and ``max_groups`` distinct
    values (text, flags, or whole numbers with few values). Ids, free text and continuous numbers
    are left out. Ranked in three tiers: every group holds ``min_group`` rows or more; then
    columns whose small groups together hold at most ``SMALL_GROUPS_SHARE`` of the rows beside
    at least two large groups (usable once the small ones are merged into "other"); then the
    rest. Within a tier, the larger the smallest group (up to ``min_group``) and the fewer the
    groups, the earlier."""
    import pandas as pd

    scored = []
    for column in frame.columns:
        if column in exclude:
            continue
        values = frame[column].dropna()
        counts = values.astype(str).value_counts()
        if not 1 < len(counts) <= max_groups:
            continue
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric and len(counts) > 12:
            continue
        small = counts[counts < min_group]
        large = len(counts) - len(small)
        if small.empty:
            tier = 0
        elif large >= 2 and small.sum() <= SMALL_GROUPS_SHARE * counts.sum():
            tier = 1
        else:
            tier = 2
        smallest = int(counts.min())
        scored.append((tier, -min(smallest, min_group), len(counts), column))
    return [column for *_, column in sorted(scored, key=lambda s: s[:3])]


def is_number(value: object) -> bool:
    """True for a real number that is not NaN (``bool`` is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
