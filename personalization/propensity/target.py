"""The target of a propensity model: which column holds the outcome and which of its values is
positive, however it is stored (``yes`` matches ``YES``, ``true`` matches ``TRUE`` and ``1``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from personalization.errors import BadInputError, NotEnoughDataError
from personalization.values import FALSE_TEXT, TRUE_TEXT


def check_target_column(table: str, target: str | None, columns: Sequence[str]) -> None:
    """Raise ``BadInputError``, naming the columns of ``table``, unless ``target`` is one."""
    if target is not None and target in columns:
        return
    found = ", ".join(map(str, columns))
    if target is None:
        raise BadInputError(f"Name the target column with --target; {table!r} has: {found}.")
    raise BadInputError(
        f"Table {table!r} has no column {target!r}; found: {found}. Pick one with --target."
    )


def resolve_target(
    frame: pd.DataFrame, target: str, positive: str | None, drop_missing: bool
) -> tuple[pd.DataFrame, np.ndarray, str, list[str]]:
    """Binarise ``frame[target]``: return the kept rows, ``y`` (1 = positive), the positive value
    as stored, and warnings.

    Without ``positive``, a two-valued target's minority value is positive (a yes-word wins a
    tie). Rows with a missing target are refused unless ``drop_missing`` (then dropped, with a
    warning). Raises ``BadInputError`` (or ``NotEnoughDataError``) for a target that cannot be
    binarised, with the fix in the message.
    """
    warnings: list[str] = []
    raw = frame[target]
    norm = raw.map(_normalise)
    missing = int(norm.isna().sum())
    if missing and not drop_missing:
        raise BadInputError(
            f"Target {target!r} is missing in {missing} of {len(frame)} rows; fill them in, or "
            f"drop those rows with --drop-missing-target (drop_missing_target=True)."
        )
    if missing:
        keep = norm.notna().to_numpy()
        frame, raw, norm = frame[keep].reset_index(drop=True), raw[keep], norm[keep]
        warnings.append(f"Dropped {missing} rows whose target {target!r} is missing.")
    if len(frame) == 0:
        raise NotEnoughDataError(f"Table has no rows with a value in {target!r}; load data first.")
    counts = norm.value_counts()
    if len(counts) == 1:
        raise BadInputError(
            f"Target {target!r} has one value ({raw.iloc[0]!r}) in all {len(frame)} rows; a model "
            f"needs rows of both outcomes. Load data with converters and non-converters, or pick "
            f"another --target."
        )
    mask = _positive_mask(raw, norm, counts, target, positive)
    positive_label = str(raw[mask].iloc[0])
    if len(counts) > 2:
        warnings.append(
            f"Target {target!r} has {len(counts)} values; {positive_label!r} is positive and the "
            f"others are negative."
        )
    return frame, mask.to_numpy().astype(int), positive_label, warnings


def _positive_mask(
    raw: pd.Series, norm: pd.Series, counts: pd.Series, target: str, positive: str | None
) -> pd.Series:
    values = ", ".join(_examples(raw))
    if positive is None:
        if len(counts) > 2:
            raise BadInputError(
                f"Target {target!r} has {len(counts)} values ({values}); a propensity model needs "
                f"two. Name the positive one with --positive VALUE; the rest count as negative."
            )
        ordered = sorted(counts.index, key=lambda v: (counts[v], v not in TRUE_TEXT))
        return norm == ordered[0]
    wanted = _normalise(positive)
    if wanted is not None and wanted in counts.index:
        return norm == wanted
    for family in (TRUE_TEXT, FALSE_TEXT):
        if wanted in family and counts.index.isin(list(family)).any():
            return norm.isin(list(family))
    raise BadInputError(
        f"Positive value {positive!r} does not occur in target {target!r}; found: {values}. "
        f"Pass one of them with --positive."
    )


def _normalise(value) -> str | None:
    """Lower-case text of a target value: ``True`` -> ``"true"``, ``1.0`` -> ``"1"``,
    missing -> None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip().lower()
    return text or None


def _examples(raw: pd.Series, limit: int = 10) -> list[str]:
    counts = raw.dropna().astype(str).value_counts()
    shown = [f"{v} ({n})" for v, n in counts.head(limit).items()]
    return shown + ([f"... {len(counts) - limit} more"] if len(counts) > limit else [])
