"""Recommendations for many users at once and the export files, built on ``serving``'s public API.

Users are scored in blocks of ``EXPORT_BLOCK_USERS`` by ``serving.ListMaker`` (no Python loop per
user) under one ``serving.ListRules``; users without events but in the users table get their
segment's favourites. ``export_recommendations`` writes block by block, so memory stays flat for
any number of users, to a temporary name renamed into place at the end (a killed export leaves no
half-written file under the final name). ``read_user_ids`` reads the customers of an uploaded file.

Every export is logged (user, item, rank, model, group, time) in the monitoring tables, so that
what customers did next can be matched to it; the log rows are gathered and written once per
``LOG_ROWS`` rows (one database connection each, not one per block). With a control share, a random share of customers,
stable per customer for a salt (``assign_groups``: SHA-256 of salt and id), is held out of the
personalised list: they get the best-sellers list (what is popular with all customers, the same
for everyone) instead, so every customer still receives a list and a readout measures what
personalisation adds over that default. The file gains ``group`` (treatment / control); the salt
and share are recorded with the export run.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
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
from personalization.store import monitoring as store_monitoring

EXPORT_BLOCK_USERS = 2000
SCORING_THREADS = 2
LOG_ROWS = 500_000
DEFAULT_SALT = "personalization-control"
TREATMENT = "treatment"
CONTROL = "control"
GROUPS = (TREATMENT, CONTROL)


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
    return _model_blocks(art, ListMaker(art, k, rules), users, db, progress)


def _model_blocks(art, maker: ListMaker, users, db, progress: Progress) -> Iterator[pd.DataFrame]:
    if users is None:  # every user of the model, by matrix row: no id to look up
        return _blocks(
            lambda lo, hi: maker.for_rows(np.arange(lo, hi)),
            art.interactions.shape[0],
            maker,
            progress,
        )
    ids = _unique_text(users)
    segments = user_segments(art, ids, db)
    return _blocks(lambda lo, hi: maker.for_users(ids[lo:hi], segments), len(ids), maker, progress)


def export_recommendations(
    out: str | Path,
    k: int = 10,
    model_id: str | None = None,
    users: Iterable[Any] | None = None,
    rules: ListRules | None = None,
    db=None,
    progress: Progress = None,
    control_share: float | None = None,
    salt: str = DEFAULT_SALT,
) -> dict:
    """Write the top ``k`` of ``users`` (None: everyone) to ``out`` (.csv, formula-safe, or
    .parquet), scored and written block by block so memory stays flat for any number of users.

    The file has ``user_id``, ``rank``, ``item_id``, ``score``, ``reason``, then title, category
    and price when the items have them, and ``rules.item_columns`` (with
    ``rules.only_item_columns``, only those). With ``control_share`` (strictly between 0 and 1)
    it also has ``group``: control customers (``assign_groups``) get the best-sellers list.
    Every row is logged in ``recommendation_log`` and the run in ``export_runs``; a failed export
    logs nothing. Returns ``path``, ``rows``, ``users`` (number of users in the file),
    ``batch_id`` and, with a control share, ``control_users``, ``control_share`` and ``salt``.
    Raises ``BadInputError`` for another extension or a bad share, before any scoring.
    """
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise BadInputError(
            f"Cannot export to {path.name!r}: use a file name ending in .csv or .parquet."
        )
    share = None if control_share is None else check_control_share(control_share)
    art, info = load_artifact(model_id, db)
    maker = ListMaker(art, k, rules)
    blocks = _model_blocks(art, maker, users, db, progress)
    batch_id, now = uuid.uuid4().hex[:12], datetime.now()
    counted = {"users": 0, "control": 0}
    pending: list[pd.DataFrame] = []

    def log(final: bool = False) -> None:
        if pending and (final or sum(map(len, pending)) >= LOG_ROWS):
            rows = pd.concat(pending, ignore_index=True)
            pending.clear()
            store_monitoring.append_log(rows, batch_id, "export", now, db=db)

    def grouped() -> Iterator[pd.DataFrame]:
        for block in blocks:
            if share is not None:
                block = with_control(block, maker, share, salt)
                counted["control"] += int(block.loc[block["group"] == CONTROL, "user_id"].nunique())
            counted["users"] += int(block["user_id"].nunique())
            logged = block[["user_id", "item_id", "rank"]].assign(model_id=info["model_id"])
            logged["group"] = block["group"] if "group" in block.columns else TREATMENT
            pending.append(logged)
            log()
            yield block
        log(final=True)

    return write_recorded(
        grouped(), path, batch_id, info["model_id"], share, salt, counted, now, db
    )


def write_recorded(
    blocks: Iterable[pd.DataFrame],
    path: str | Path,
    batch_id: str,
    model_id: str,
    share: float | None,
    salt: str,
    counted: dict,
    now: datetime,
    db=None,
) -> dict:
    """Write an export's ``blocks`` to ``path`` and record the export (for the readout); on any
    failure the rows already logged under ``batch_id`` are deleted. ``counted`` holds the
    ``users`` and ``control`` counts the blocks added up while written. Returns ``path``,
    ``rows``, ``users``, ``batch_id`` (and ``control_users``, ``control_share``, ``salt`` with a
    control group)."""
    try:
        written, rows = write_blocks(blocks, path)
        record_run(batch_id, written, model_id, share, salt, counted, now, db)
    except BaseException:
        store_monitoring.delete_batch(batch_id, db=db)
        raise
    return export_result(written, rows, batch_id, share, salt, counted)


def export_result(
    path: str | Path, rows: int, batch_id: str, share: float | None, salt: str, counted: dict
) -> dict:
    """What an export returns: ``path``, ``rows``, ``users``, ``batch_id``, and with a control
    share ``control_users``, ``control_share`` and ``salt``."""
    result = {"path": str(path), "rows": int(rows), "users": counted["users"], "batch_id": batch_id}
    if share is not None:
        result.update(control_users=counted["control"], control_share=share, salt=salt)
    return result


def record_run(
    batch_id: str,
    path: Path,
    model_id: str,
    share: float | None,
    salt: str,
    counted: dict,
    now: datetime,
    db=None,
) -> None:
    """Record an export written to ``path`` in ``export_runs`` (for the readout): its model,
    control share and salt, and the ``users`` and ``control`` counts of ``counted``."""
    store_monitoring.record_export(
        {
            "batch_id": batch_id,
            "path": str(Path(path).resolve()),
            "model_id": model_id,
            "control_share": share or 0.0,
            "salt": salt if share is not None else "",
            "users": counted["users"],
            "control_users": counted["control"],
            "created": now,
        },
        db=db,
    )


def check_control_share(share: Any) -> float:
    """``share`` as a float strictly between 0 and 1; else ``BadInputError``."""
    try:
        value = float(share)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value < 1:
        raise BadInputError(
            f"--control-share must lie strictly between 0 and 1 (a share of the customers, "
            f"e.g. 0.1); got {share!r}."
        )
    return value


def control_draw(user_id: Any, salt: str = DEFAULT_SALT) -> float:
    """The customer's fixed number in [0, 1) for ``salt``: the first 8 bytes of
    SHA-256(salt + ":" + id) over 2**64. Uniform whatever the ids look like."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_groups(user_ids: Iterable[Any], share: float, salt: str = DEFAULT_SALT) -> np.ndarray:
    """``control`` (draw below ``share``) or ``treatment`` for each id, in order: the same
    customer gets the same group in every export with the same salt."""
    share = check_control_share(share)
    draws = np.fromiter((control_draw(u, salt) for u in user_ids), dtype=float)
    return np.where(draws < share, CONTROL, TREATMENT).astype(object)


def with_control(block: pd.DataFrame, maker: ListMaker, share: float, salt: str) -> pd.DataFrame:
    """``block`` with ``group``; the lists of its control customers replaced by the
    best-sellers list (``maker.for_segment({})``), in the order of the block's customers."""
    ids = pd.unique(block["user_id"])
    groups = dict(zip(ids, assign_groups(ids, share, salt), strict=True))
    block = block.assign(group=block["user_id"].map(groups))
    control = [u for u in ids if groups[u] == CONTROL]
    if not control:
        return block
    best = maker.for_segment({})
    repeated = best.loc[best.index.repeat(len(control))].reset_index(drop=True)
    repeated.insert(0, "user_id", np.tile(np.asarray(control, dtype=object), len(best)))
    repeated["group"] = CONTROL
    frame = pd.concat(
        [block[block["group"] == TREATMENT], repeated[block.columns]], ignore_index=True
    )
    position = pd.Series(np.arange(len(ids)), index=ids)
    order = np.lexsort((frame["rank"].to_numpy(), position[frame["user_id"]].to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


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
    make: Callable[[int, int], pd.DataFrame], n: int, maker: ListMaker, progress: Progress
) -> Iterator[pd.DataFrame]:
    """The frames ``make(lo, hi)`` of the users ``lo`` to ``hi`` of ``n``, ``EXPORT_BLOCK_USERS``
    at a time, in order; one empty frame (``maker.empty()``) when there are none. The next block
    is scored in a worker thread while the caller writes the current one (numpy and Arrow
    release the GIL in the products, selections and texts), so at most two blocks are in
    memory."""
    step = EXPORT_BLOCK_USERS
    starts = list(range(0, n, step))
    if not starts:
        yield maker.empty()
        return
    with ThreadPoolExecutor(max_workers=SCORING_THREADS) as pool:
        ahead = deque(pool.submit(make, s, min(n, s + step)) for s in starts[:SCORING_THREADS])
        for i, start in enumerate(starts):
            frame = ahead.popleft().result()
            if i + SCORING_THREADS < len(starts):
                nxt = starts[i + SCORING_THREADS]
                ahead.append(pool.submit(make, nxt, min(n, nxt + step)))
            done = min(n, start + step)
            report(progress, done / n, f"{done:,} of {n:,} customers scored")
            yield frame


def _unique_text(values: Iterable[Any]) -> np.ndarray:
    return pd.unique(pd.Series([str(v) for v in values], dtype=object)).astype(object)
