"""Top-k lists for every user, scored on the cluster, written like the local export.

The saved model (any recommender: a Spark-trained ALS or a local one) is broadcast to the
executors once; the users are cut into blocks of ``batch.EXPORT_BLOCK_USERS`` and each block is
scored by the library's own ``ListMaker`` on an executor (one matrix product per block, the same
rules, reasons, item columns and control group), so the rows and columns are those of the local
engine. The driver streams the blocks in order into the one output file (formula-safe CSV or
Parquet, written to a temporary name and renamed at the end) and logs the run as the local export
does; a failed export leaves no file and no log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from personalization.errors import BadInputError
from personalization.export import FORMATS
from personalization.recommendation import batch
from personalization.recommendation.serving import (
    ListMaker,
    ListRules,
    load_artifact,
    user_segments,
)
from personalization.spark.session import spark_session
from personalization.store import monitoring as store_monitoring


def score_blocks(shared) -> Any:
    """The ``mapPartitions`` function: ``(index, user ids)`` blocks in, ``(index, frame)`` out,
    scored by one ``ListMaker`` per partition from the broadcast ``(artifact, k, rules,
    segments, share, salt)``."""

    def run(blocks: Iterator[tuple[int, np.ndarray]]) -> Iterator[tuple[int, pd.DataFrame]]:
        art, k, rules, segments, share, salt = shared.value
        maker = ListMaker(art, k, rules)
        for index, ids in blocks:
            frame = maker.for_users(ids, segments)
            if share is not None:
                frame = batch.with_control(frame, maker, share, salt)
            yield index, frame

    return run


def export_recommendations(
    out: str | Path,
    k: int = 10,
    model_id: str | None = None,
    users: Iterable[Any] | None = None,
    rules: ListRules | None = None,
    db=None,
    control_share: float | None = None,
    salt: str = batch.DEFAULT_SALT,
    master: str | None = None,
) -> dict:
    """``batch.export_recommendations`` with the scoring on Spark at ``master``: the same file
    (``user_id``, ``rank``, ``item_id``, ``score``, ``reason``, item columns, ``group`` with a
    control share) and the same keys (``path``, ``rows``, ``users``, ``batch_id``, and
    ``control_users``, ``control_share``, ``salt`` with a share), plus ``engine``. Bad input
    (extension, share, model, ``k``, rules, unknown users) is refused before Spark starts."""
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise BadInputError(
            f"Cannot export to {path.name!r}: use a file name ending in .csv or .parquet."
        )
    share = None if control_share is None else batch.check_control_share(control_share)
    art, info = load_artifact(model_id, db)
    maker = ListMaker(art, k, rules)
    if users is None:
        ids, segments = art.interactions.user_ids.astype(str).astype(object), {}
    else:
        ids = pd.unique(pd.Series([str(v) for v in users], dtype=object)).astype(object)
        segments = user_segments(art, ids, db)
    step = batch.EXPORT_BLOCK_USERS
    blocks = [(n, ids[start : start + step]) for n, start in enumerate(range(0, len(ids), step))]
    spark = spark_session(master)
    context = spark.sparkContext
    shared = context.broadcast((art, k, rules, segments, share, salt))
    slices = max(1, min(len(blocks), 4 * context.defaultParallelism))
    scored = context.parallelize(blocks, slices).mapPartitions(score_blocks(shared))
    batch_id, now = uuid.uuid4().hex[:12], datetime.now()
    counted = {"users": 0, "control": 0}

    def logged() -> Iterator[pd.DataFrame]:
        found = False
        for _, block in scored.toLocalIterator():
            found = True
            if share is not None:
                control = block.loc[block["group"] == batch.CONTROL, "user_id"]
                counted["control"] += int(control.nunique())
            counted["users"] += int(block["user_id"].nunique())
            log = block.assign(model_id=info["model_id"])
            if "group" not in log.columns:
                log["group"] = batch.TREATMENT
            store_monitoring.append_log(log, batch_id, "export", now, db=db)
            yield block
        if not found:
            yield maker.empty()

    try:
        result = batch.write_recorded(
            logged(), path, batch_id, info["model_id"], share, salt, counted, now, db
        )
    finally:
        shared.unpersist()
    return {**result, "engine": "spark"}
