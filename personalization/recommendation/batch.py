"""Recommendations for many users at once and the export files, built on ``serving``'s public API.

Users are scored in blocks of ``EXPORT_BLOCK_USERS`` by ``serving.ListMaker`` (no Python loop per
user) under one ``serving.ListRules``; users without events but in the users table get their
segment's favourites. ``export_recommendations`` writes block by block, so memory stays flat for
any number of users. ``read_user_ids`` reads the customers of an uploaded file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from personalization.data import ingest
from personalization.errors import BadInputError
from personalization.export import FORMATS, write_blocks
from personalization.progress import Progress, report
from personalization.recommendation.serving import (
    ListMaker,
    ListRules,
    load_artifact,
    user_segments,
)

EXPORT_BLOCK_USERS = 2000


def recommendations_for_users(
    users: Iterable[Any] | None = None,
    k: int = 10,
    model_id: str | None = None,
    rules: ListRules | None = None,
    db=None,
    progress: Progress = None,
) -> pd.DataFrame:
    """Top ``k`` for many users at once: ``user_id``, ``rank``, ``item_id``, ``score``, ``reason``
    and the item columns of ``rules``, in the order of ``users`` (None: every user of the model).
    For large sets prefer ``export_recommendations``, which writes block by block instead of
    holding every row. Raises ``NotFoundError`` naming ids that are neither in the model nor in
    the users table, ``BadInputError`` for bad rules or ``k``.
    """
    blocks = recommendation_blocks(users, k, model_id, rules, db=db, progress=progress)
    return pd.concat(list(blocks), ignore_index=True)


def recommendation_blocks(
    users: Iterable[Any] | None = None,
    k: int = 10,
    model_id: str | None = None,
    rules: ListRules | None = None,
    db=None,
    progress: Progress = None,
) -> Iterator[pd.DataFrame]:
    """``recommendations_for_users`` as a stream of frames of at most ``EXPORT_BLOCK_USERS``
    users each, in the order of ``users``; at least one frame (empty when there are no users).

    Everything that can fail on bad input (model, ``k``, rules, unknown users) is checked
    before the first frame is produced.
    """
    art, _ = load_artifact(model_id, db)
    maker = ListMaker(art, k, rules)
    ids = art.interactions.user_ids.astype(str) if users is None else _unique_text(users)
    segments = user_segments(art, ids, db) if users is not None else {}
    return _blocks(maker, ids, segments, progress)


def export_recommendations(
    out: str | Path,
    k: int = 10,
    model_id: str | None = None,
    users: Iterable[Any] | None = None,
    rules: ListRules | None = None,
    db=None,
    progress: Progress = None,
) -> dict:
    """Write the top ``k`` of ``users`` (None: everyone) to ``out`` (.csv, formula-safe, or
    .parquet), scored and written block by block so memory stays flat for any number of users.

    The file has ``user_id``, ``rank``, ``item_id``, ``score``, ``reason``, then title, category
    and price when the items have them, and ``rules.item_columns`` (with
    ``rules.only_item_columns``, only those). Returns ``path``, ``rows`` and ``users`` (number of
    users in the file). Raises ``BadInputError`` for another extension, before any scoring.
    """
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise BadInputError(
            f"Cannot export to {path.name!r}: use a file name ending in .csv or .parquet."
        )
    blocks = recommendation_blocks(users, k, model_id, rules, db=db, progress=progress)
    counted = {"users": 0}

    def counting() -> Iterator[pd.DataFrame]:
        for block in blocks:
            counted["users"] += int(block["user_id"].nunique())
            yield block

    written, rows = write_blocks(counting(), path)
    return {"path": str(written), "rows": int(rows), "users": counted["users"]}


def read_user_ids(path: str | Path, source_name: str | None = None) -> list[str]:
    """Customer ids in a CSV, text or Parquet file: the column that looks like a user id, else the
    first; blanks and repeats dropped, order kept. The file is checked by the same reader as
    ``ingest``, so a binary or empty file gets the same message; ``BadInputError`` when it holds
    no id."""
    info = ingest.inspect_file(path, kind="users", source_name=source_name)
    column = info.suggested.get("user_id") or info.columns[0]
    if info.fmt == "parquet":
        frame = pd.read_parquet(path, columns=[column]).astype("string")
    else:
        frame = pd.read_csv(
            path, sep=info.delimiter or ",", usecols=[column], dtype=str, encoding=info.encoding
        )
    ids = frame[column].dropna().str.strip()
    ids = ids[ids != ""].drop_duplicates().tolist()
    if not ids:
        name = source_name or Path(path).name
        raise BadInputError(f"{name} holds no customer ids; put one id per line under a header.")
    return ids


def _blocks(
    maker: ListMaker, ids: np.ndarray, segments: dict, progress: Progress
) -> Iterator[pd.DataFrame]:
    """Frames of ``EXPORT_BLOCK_USERS`` users, in the order of ``ids``; one empty frame when
    there are none."""
    step = EXPORT_BLOCK_USERS
    for start in range(0, len(ids), step):
        block = ids[start : start + step]
        done = start + len(block)
        frame = maker.for_users(block, segments)
        report(progress, done / len(ids), f"{done:,} of {len(ids):,} customers scored")
        yield frame
    if len(ids) == 0:
        yield maker.empty()


def _unique_text(values: Iterable[Any]) -> np.ndarray:
    return pd.unique(pd.Series([str(v) for v in values], dtype=object)).astype(object)
