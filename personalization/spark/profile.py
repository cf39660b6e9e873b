"""``profile`` and ``readiness`` of a Parquet dataset of ``spark.ingest``, computed on Spark.

The same keys as ``data.profile.profile_table`` (``table``, ``rows``, ``columns`` with column,
type, nulls, distinct (approximate), min, max; for events ``events_per_type``, ``n_users``,
``n_items``, ``users_with_2_or_more``, ``interactions_per_user``, ``date_range``,
``events_per_day``) and the recommender checks of ``data.profile.readiness`` (the same minimums
and the same ``scale_advice``), each in a few aggregate jobs over the files.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from personalization.data.profile import (
    EVENT_COLUMNS,
    MIN_ITEMS,
    MIN_REPEAT_USERS,
    MIN_USERS,
    scale_advice,
)
from personalization.data.profile import readiness as local_readiness
from personalization.errors import NotFoundError
from personalization.spark.session import spark_session
from personalization.store import parquet_tables

QUANTILES = ("min", "p25", "median", "p75", "p90", "max", "mean")


def dataset(table: str, master: str | None, db=None):
    """The Spark frame of ``table``'s dataset; ``NotFoundError`` when none is recorded."""
    record = parquet_tables.parquet_dataset(table, db)
    if record is None:
        raise NotFoundError(
            f"There is no Parquet dataset {table!r}; load one with: python -m personalization "
            f"ingest FOLDER --engine spark --table {table} (or profile a table without --engine)"
        )
    return spark_session(master).read.parquet(record["path"])


def profile_dataset(table: str = "events", master: str | None = None, db=None) -> dict[str, Any]:
    """``profile_table`` of the dataset of ``table``, on Spark at ``master``."""
    from pyspark.sql import functions as F

    frame = dataset(table, master, db)
    parts = [F.count(F.lit(1)).alias("rows")]
    simple = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    for n, (name, kind) in enumerate(simple.items()):
        col = F.col(f"`{name}`")
        parts += [F.count(col).alias(f"n{n}"), F.approx_count_distinct(col).alias(f"d{n}")]
        plain = not kind.startswith(("struct", "map", "array"))
        low = F.min(col).cast("string") if plain else F.lit(None).cast("string")
        high = F.max(col).cast("string") if plain else F.lit(None).cast("string")
        parts += [low.alias(f"l{n}"), high.alias(f"h{n}")]
    row = frame.agg(*parts).collect()[0]
    rows = int(row["rows"])
    columns = pd.DataFrame(
        [
            {
                "column": name,
                "type": kind.upper(),
                "nulls": rows - int(row[f"n{n}"]),
                "distinct": int(row[f"d{n}"]),
                "min": row[f"l{n}"],
                "max": row[f"h{n}"],
            }
            for n, (name, kind) in enumerate(simple.items())
        ],
        columns=["column", "type", "nulls", "distinct", "min", "max"],
    )
    out: dict[str, Any] = {"table": table, "rows": rows, "columns": columns}
    if all(c in simple for c in EVENT_COLUMNS):
        out.update(event_stats(frame))
    return out


def event_stats(frame) -> dict[str, Any]:
    """``store.profiling.event_stats`` of a Spark frame of events."""
    from pyspark.sql import functions as F

    per_type = frame.groupBy("event_type").count().collect()
    per_type = sorted(((str(r[0]), int(r[1])) for r in per_type), key=lambda t: (-t[1], t[0]))
    items = frame.agg(F.countDistinct("item_id"), F.min("timestamp"), F.max("timestamp")).collect()[
        0
    ]
    per_user = frame.groupBy("user_id").agg(F.count(F.lit(1)).alias("n"))
    q = per_user.agg(
        F.min("n"),
        F.percentile("n", F.lit(0.25)),
        F.percentile("n", F.lit(0.5)),
        F.percentile("n", F.lit(0.75)),
        F.percentile("n", F.lit(0.9)),
        F.max("n"),
        F.avg("n"),
        F.count(F.when(F.col("n") >= 2, 1)),
        F.count(F.lit(1)),
    ).collect()[0]
    days = (
        frame.where(F.col("timestamp").isNotNull())
        .groupBy(F.to_date("timestamp").alias("day"))
        .agg(F.count(F.lit(1)).alias("events"))
        .orderBy("day")
        .toPandas()
    )
    days["day"] = pd.to_datetime(days["day"])  # as DuckDB gives dates to pandas
    return {
        "events_per_type": dict(per_type),
        "n_users": int(q[8]),
        "n_items": int(items[0]),
        "users_with_2_or_more": int(q[7] or 0),
        "interactions_per_user": {
            k: (float(v) if v is not None else None) for k, v in zip(QUANTILES, q[:7], strict=True)
        },
        "date_range": [items[1], items[2]] if items[1] is not None else None,
        "events_per_day": days,
    }


def readiness(table: str = "events", master: str | None = None, db=None) -> dict[str, Any]:
    """``data.profile.readiness`` with its recommender checks made on the dataset of ``table``
    (the classifier checks stay those of the database's tables): the same keys
    (``can_recommend``, ``can_classify``, ``checks``, ``target``) plus ``table`` and ``engine``."""
    p = profile_dataset(table, master, db)
    if "n_users" not in p:
        raise NotFoundError(
            f"The Parquet dataset {table!r} has no {', '.join(EVENT_COLUMNS)} columns; "
            f"readiness checks an events dataset."
        )
    checks = [
        ("events", True, f"{table}: {p['rows']:,} events"),
        ("users", p["n_users"] >= MIN_USERS, f"{p['n_users']:,} users (need {MIN_USERS})"),
        ("items", p["n_items"] >= MIN_ITEMS, f"{p['n_items']:,} items (need {MIN_ITEMS})"),
        (
            "repeat_users",
            p["users_with_2_or_more"] >= MIN_REPEAT_USERS,
            f"{p['users_with_2_or_more']:,} users with 2 or more events (need at least "
            f"{MIN_REPEAT_USERS})",
        ),
        ("scale", True, scale_advice(p["rows"])),
    ]
    rows = [{"check": f"recommender: {c}", "ok": bool(ok), "message": m} for c, ok, m in checks]
    local = local_readiness(db=db)  # the classifier checks, on the database's tables
    others = [c for c in local["checks"] if not c["check"].startswith("recommender:")]
    return {
        **local,
        "can_recommend": all(r["ok"] for r in rows),
        "checks": rows + others,
        "table": table,
        "engine": "spark",
    }
