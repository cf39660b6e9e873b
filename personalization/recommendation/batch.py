"""Recommendations for many users at once: blocks of users scored together, and export files.

Users are scored in blocks of ``EXPORT_BLOCK_USERS`` (no Python loop per user) with the same
filters as ``recommend.recommend_for_user``; users without events but in the users table get
their segment's favourites. ``export_recommendations`` writes block by block, so memory stays
flat for any number of users.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from personalization.errors import BadInputError, NotFoundError
from personalization.export import FORMATS, write_blocks
from personalization.progress import Progress, report
from personalization.recommendation.artifact import check_k
from personalization.recommendation.reasons import item_reasons
from personalization.recommendation.serving import (
    banned_items,
    item_mask,
    join_item_columns,
    load_artifact,
    order_columns,
    segment_attributes,
    segment_frame,
    top_frame,
    top_items,
)
from personalization.store import events as store_events

EXPORT_BLOCK_USERS = 2000


def recommendations_for_users(
    users: Iterable[Any] | None = None,
    k: int = 10,
    model_id: str | None = None,
    item_columns: Sequence[str] = (),
    filter_seen: bool = True,
    exclude_items: Iterable[str] = (),
    exclude_categories: Iterable[str] = (),
    only_if: str | Sequence[str] | None = None,
    rebuyable: Iterable[str] = (),
    db=None,
    progress: Progress = None,
) -> pd.DataFrame:
    """Top ``k`` for many users at once: ``user_id``, ``rank``, ``item_id``, ``score``, ``reason``
    and the chosen item columns. Users are scored in blocks (no Python loop per user); the
    filters work as in ``recommend.recommend_for_user``. For large sets prefer
    ``export_recommendations``, which writes block by block instead of holding every row.

    ``users=None`` means every user of the model. Users without events but in the users table
    get their segment's favourites. Raises ``NotFoundError`` naming ids that are neither.
    """
    blocks = recommendation_blocks(
        users, k, model_id, item_columns, filter_seen, exclude_items, exclude_categories,
        only_if, rebuyable, db=db, progress=progress,
    )
    return pd.concat(list(blocks), ignore_index=True)


def recommendation_blocks(
    users: Iterable[Any] | None = None,
    k: int = 10,
    model_id: str | None = None,
    item_columns: Sequence[str] = (),
    filter_seen: bool = True,
    exclude_items: Iterable[str] = (),
    exclude_categories: Iterable[str] = (),
    only_if: str | Sequence[str] | None = None,
    rebuyable: Iterable[str] = (),
    db=None,
    progress: Progress = None,
) -> Iterator[pd.DataFrame]:
    """``recommendations_for_users`` as a stream of frames of at most ``EXPORT_BLOCK_USERS``
    users each, in the order of ``users``; at least one frame (empty when there are no users).

    Everything that can fail on bad input (model, ``k``, filters, unknown users) is checked
    before the first frame is produced.
    """
    art, _ = load_artifact(model_id, db)
    k = check_k(k)
    ids = art.interactions.user_ids.astype(str) if users is None else _unique_text(users)
    rows = art.interactions.user_indices(ids) if users is not None else np.arange(len(ids))
    banned = banned_items(art, exclude_items, exclude_categories, only_if)
    join_item_columns(art, pd.DataFrame({"item_id": []}), item_columns)
    cold = _cold_attributes(art, ids[rows < 0], db)
    rebuy = item_mask(art, rebuyable)
    return _blocks(art, ids, rows, k, banned, filter_seen, rebuy, cold, item_columns, progress)


def export_recommendations(
    out: str | Path,
    k: int = 10,
    model_id: str | None = None,
    users: Iterable[Any] | None = None,
    item_columns: Sequence[str] = (),
    filter_seen: bool = True,
    exclude_items: Iterable[str] = (),
    exclude_categories: Iterable[str] = (),
    only_if: str | Sequence[str] | None = None,
    rebuyable: Iterable[str] = (),
    only_chosen_columns: bool = False,
    db=None,
    progress: Progress = None,
) -> dict:
    """Write the top ``k`` of ``users`` (None: everyone) to ``out`` (.csv, formula-safe, or
    .parquet), scored and written block by block so memory stays flat for any number of users.

    Filters as in ``recommend.recommend_for_user``. The file has ``user_id``, ``rank``, ``item_id``,
    ``score``, ``reason``, then title, category and price when the items have them, and
    ``item_columns``; with ``only_chosen_columns`` only ``item_columns`` follow the reason.
    Returns ``path``, ``rows`` and ``users`` (number of users in the file). Raises
    ``BadInputError`` for another extension, before any scoring.
    """
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise BadInputError(
            f"Cannot export to {path.name!r}: use a file name ending in .csv or .parquet."
        )
    blocks = recommendation_blocks(
        users, k, model_id, item_columns, filter_seen, exclude_items, exclude_categories,
        only_if, rebuyable, db=db, progress=progress,
    )
    counted = {"users": 0}
    head = ["user_id", "rank", "item_id", "score", "reason"]

    def shaped() -> Iterator[pd.DataFrame]:
        for block in blocks:
            counted["users"] += int(block["user_id"].nunique())
            if only_chosen_columns:
                block = block[head + [c for c in item_columns if c not in head]]
            yield block

    written, rows = write_blocks(shaped(), path)
    return {"path": str(written), "rows": int(rows), "users": counted["users"]}


def _blocks(art, ids, rows, k, banned, filter_seen, rebuy, cold, item_columns, progress):
    """Frames of ``EXPORT_BLOCK_USERS`` users, in the order of ``ids``; one empty frame when
    there are none."""
    step = EXPORT_BLOCK_USERS
    segments: dict[tuple, pd.DataFrame] = {}
    for start in range(0, len(ids), step):
        block_ids, block_rows = ids[start : start + step], rows[start : start + step]
        known = block_rows >= 0
        parts = [
            _known_users_frame(art, block_rows[known], k, banned, filter_seen, rebuy, item_columns),
            _cold_users_frame(art, block_ids[~known], cold, k, banned, item_columns, segments),
        ]
        frame = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
        position = pd.Series(np.arange(len(block_ids)), index=block_ids)
        order = np.lexsort((frame["rank"].to_numpy(), position[frame["user_id"]].to_numpy()))
        done = start + len(block_ids)
        report(progress, done / len(ids), f"{done:,} of {len(ids):,} customers scored")
        yield order_columns(frame.iloc[order], item_columns, with_user=True)
    if len(ids) == 0:
        yield order_columns(_empty_frame(art, item_columns), item_columns, with_user=True)


def _empty_frame(art, item_columns) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": pd.Series([], dtype=object),
            "rank": pd.Series([], dtype=np.int64),
            "item_id": pd.Series([], dtype=object),
            "score": pd.Series([], dtype=float),
            "reason": pd.Series([], dtype=object),
        }
    )
    return join_item_columns(art, frame, item_columns)


def _known_users_frame(art, rows, k, banned, filter_seen, rebuy, item_columns) -> pd.DataFrame:
    if len(rows) == 0:
        return _empty_frame(art, item_columns)
    ids, scores = top_items(art, rows, k, banned, filter_seen, rebuy)
    frame = top_frame(art, rows[:, None].repeat(ids.shape[1], axis=1), ids, scores, item_columns)
    frame["reason"] = item_reasons(art, frame["_row"].to_numpy(), frame["_item"].to_numpy())
    owners = art.interactions.user_ids[frame.pop("_row").to_numpy()].astype(str)
    frame.insert(0, "user_id", owners)
    return frame.drop(columns="_item")


def _cold_attributes(art, ids: np.ndarray, db) -> dict[str, tuple]:
    """Segment attributes of each user id without events (narrow read of the users table).
    Raises ``NotFoundError`` naming ids that are not in the users table either."""
    if len(ids) == 0:
        return {}
    live = store_events.read_attribute_rows("users", "user_id", list(ids), db=db)
    unknown = [u for u in ids if u not in live.index and u not in art.users.index]
    if unknown:
        raise NotFoundError(
            f"{len(unknown)} of the users asked for are unknown (e.g. {', '.join(unknown[:3])}); "
            f"known users look like: {', '.join(map(str, art.interactions.user_ids[:5]))}."
        )
    stats = art.users if not art.users.empty else live
    return {
        uid: tuple(segment_attributes((live if uid in live.index else art.users).loc[uid], stats).items())
        for uid in ids
    }


def _cold_users_frame(art, ids, cold, k, banned, item_columns, segments) -> pd.DataFrame:
    """Segment favourites for users without events; one ranking per distinct segment."""
    if len(ids) == 0:
        return _empty_frame(art, item_columns)
    groups: dict[tuple, list[str]] = {}
    for uid in ids:
        groups.setdefault(cold[uid], []).append(uid)
    parts = []
    for attributes, members in groups.items():
        if attributes not in segments:
            segments[attributes] = segment_frame(art, dict(attributes), k, banned, item_columns)
        frame = segments[attributes]
        repeated = frame.loc[frame.index.repeat(len(members))].reset_index(drop=True)
        repeated.insert(0, "user_id", np.tile(members, len(frame)))
        parts.append(repeated)
    return pd.concat(parts, ignore_index=True)


def _unique_text(values: Iterable[Any]) -> np.ndarray:
    return pd.unique(pd.Series([str(v) for v in values], dtype=object)).astype(object)
