"""Top-k lists for every user, scored on the cluster and written there as a folder of parts.

The saved model (any recommender: a Spark-trained SVD or ALS, or a local one) is broadcast to the
executors once; the users are cut into blocks of ``batch.EXPORT_BLOCK_USERS`` and each block is
scored by the library's own ``ListMaker`` on an executor (one matrix product per block, the same
rules, reasons, item columns and control group), so the rows and columns are those of the local
engine. Each task writes its blocks to one part (``part-00000.csv``, ... formula-safe as the local
CSV, or ``.parquet``) with the library's ``write_blocks``; the parts, read in name order, are the
local export's rows in its order. The folder (``--out recs.csv`` gives the folder ``recs.csv/``,
as Spark names its outputs) is written under a temporary name and moved into place only when every
part is written; the driver logs the rows and the run as the local export does, and a failed
export leaves no folder and no log. The executors write to ``--out`` themselves: on a cluster it
must be a path the driver and every executor share (a network file system).
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from personalization.errors import BadInputError
from personalization.export import FORMATS, write_blocks
from personalization.recommendation import batch
from personalization.recommendation.serving import (
    ListMaker,
    ListRules,
    load_artifact,
    user_segments,
)
from personalization.spark.ingest import swap_in
from personalization.spark.session import spark_session
from personalization.store import monitoring as store_monitoring

LOG_COLUMNS = ["user_id", "item_id", "rank", "group"]
PART = re.compile(r"^part-\d{5}\.(csv|parquet)$")


def write_parts(shared, staging: str):
    """The ``mapPartitionsWithIndex`` function: ``(index, user ids)`` blocks in; each task scores
    its blocks by one ``ListMaker`` from the broadcast ``(artifact, k, rules, segments, share,
    salt, suffix)``, writes them to ``staging/part-<task><suffix>`` and yields one summary: rows,
    users, control users and the log columns of its rows."""

    def run(task: int, blocks: Iterator[tuple[int, np.ndarray]]) -> Iterator[dict]:
        art, k, rules, segments, share, salt, suffix = shared.value
        maker = ListMaker(art, k, rules)
        summary = {"task": task, "users": 0, "control": 0, "log": []}

        def scored() -> Iterator[pd.DataFrame]:
            found = False
            for _, ids in blocks:
                frame = maker.for_users(ids, segments)
                if share is not None:
                    frame = batch.with_control(frame, maker, share, salt)
                    control = frame.loc[frame["group"] == batch.CONTROL, "user_id"]
                    summary["control"] += int(control.nunique())
                summary["users"] += int(frame["user_id"].nunique())
                log = frame.reindex(columns=LOG_COLUMNS)
                log["group"] = log["group"].fillna(batch.TREATMENT)
                summary["log"].append(log)
                found = True
                yield frame
            if not found:
                yield maker.empty()

        _, rows = write_blocks(scored(), Path(staging) / f"part-{task:05d}{suffix}")
        summary["rows"] = rows
        summary["log"] = pd.concat(summary["log"], ignore_index=True) if summary["log"] else None
        yield summary

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
    """``batch.export_recommendations`` with the scoring and writing on Spark at ``master``: the
    folder ``out`` of parts with the local file's columns (``user_id``, ``rank``, ``item_id``,
    ``score``, ``reason``, item columns, ``group`` with a control share) and the same keys
    (``path`` the folder, ``rows``, ``users``, ``batch_id``, and ``control_users``,
    ``control_share``, ``salt`` with a share), plus ``parts`` and ``engine``. Bad input
    (extension, share, model, ``k``, rules, unknown users, ``out`` an existing file) is refused
    before Spark starts."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise BadInputError(
            f"Cannot export to {path.name!r}: use a name ending in .csv or .parquet (with "
            f"--engine spark it is a folder of parts)."
        )
    if path.exists() and not (path.is_dir() and all(PART.match(p.name) for p in path.iterdir())):
        raise BadInputError(
            f"{path} exists and is not an earlier export's folder of parts; --engine spark "
            f"writes a folder of parts there: give a new name."
        )
    share = None if control_share is None else batch.check_control_share(control_share)
    art, info = load_artifact(model_id, db)
    ListMaker(art, k, rules)  # checks k and the rules before Spark starts
    if users is None:
        ids, segments = art.interactions.user_ids.astype(str).astype(object), {}
    else:
        ids = pd.unique(pd.Series([str(v) for v in users], dtype=object)).astype(object)
        segments = user_segments(art, ids, db)
    step = batch.EXPORT_BLOCK_USERS
    blocks = [(n, ids[start : start + step]) for n, start in enumerate(range(0, len(ids), step))]
    spark = spark_session(master)
    context = spark.sparkContext
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    shared = context.broadcast((art, k, rules, segments, share, salt, suffix))
    slices = max(1, min(len(blocks), 4 * context.defaultParallelism))
    batch_id, now = uuid.uuid4().hex[:12], datetime.now()
    try:
        runs = context.parallelize(blocks, slices).mapPartitionsWithIndex(
            write_parts(shared, str(staging))
        )
        summaries = sorted(runs.collect(), key=lambda run: run["task"])
        for run in summaries:
            if run["log"] is not None:
                log = run["log"].assign(model_id=info["model_id"])
                store_monitoring.append_log(log, batch_id, "export", now, db=db)
        counted = {key: sum(run[key] for run in summaries) for key in ("users", "control")}
        batch.record_run(batch_id, path, info["model_id"], share, salt, counted, now, db)
        swap_in(staging, path)
    except BaseException:
        store_monitoring.delete_batch(batch_id, db=db)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shared.unpersist()
    rows = sum(run["rows"] for run in summaries)
    result = batch.export_result(path, rows, batch_id, share, salt, counted)
    return {**result, "parts": len(summaries), "engine": "spark"}
