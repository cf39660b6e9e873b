"""A folder or glob of event files into a date-partitioned Parquet dataset, on Spark.

Each file is one Spark task: the executor cleans it with the library's own ``ingest_file`` (the
same role mapping, constants, timestamp rules, duplicate rule and rejects with line and reason)
into a private scratch database, and hands back the events columns; Spark writes them partitioned
by ``event_date``. The dataset is written to a staging folder and moved into place only when
every file loaded, then recorded in the catalog (``store.parquet_tables``): a failed ingest leaves
the dataset and the catalog as they were.

Item and user attributes go where a local load puts them: the ``items`` / ``users`` rows of the
attribute columns mapped with ``--map title=COL`` (and the like), and the item columns that local
training would read from an events table (a title, category or price column left unmapped, such
as ``Description``), gathered per item by the same rules. Each task writes its file's rows as a
small Parquet file beside the dataset; the driver merges them into the database in file order (a
value a later file has wins, as loading the files one after another would), before the dataset
is moved into place.
"""

from __future__ import annotations

import glob
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from personalization import store
from personalization.errors import BadInputError
from personalization.recommendation.artifact import CATEGORY_COLUMNS, PRICE_COLUMNS, TITLE_COLUMNS
from personalization.spark.session import spark_session
from personalization.store import parquet_tables

EVENT_COLUMNS = ("user_id", "item_id", "event_type", "timestamp", "value", "session_id")
SCHEMA = (
    "user_id string, item_id string, event_type string, timestamp timestamp_ntz, value double, "
    "session_id string, event_date date, report string"
)
PARTITION = "event_date"
COLUMNS = [*EVENT_COLUMNS, PARTITION, "report"]
SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt", ".gz", ".parquet")
MAX_REJECTS = 20
COUNTS = ("rows_read", "rows_loaded", "rows_rejected", "duplicates_dropped")
ATTRIBUTE_KEYS = {"items": "item_id", "users": "user_id"}
ITEM_COLUMNS = (*TITLE_COLUMNS, *CATEGORY_COLUMNS, *PRICE_COLUMNS)
NUMERIC = ("price", *PRICE_COLUMNS)


def find_files(pattern: str) -> list[str]:
    """The files of a folder (CSV, .gz, Parquet) or of a glob, sorted; ``BadInputError`` when
    none is found."""
    path = Path(pattern)
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES)]
    else:
        found = [Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file()]
    if not found:
        raise BadInputError(
            f"No CSV or Parquet file matches {pattern!r}; give a folder or a glob such as "
            f"'logs/*.csv.gz'."
        )
    return sorted(str(p.resolve()) for p in found)


def clean_file(
    path: str, options: dict, attributes: Path | None = None, index: int = 0
) -> tuple[pd.DataFrame, dict]:
    """One file cleaned by the library's ingest rules: its events columns and its report; its
    item and user attribute rows written to ``attributes/<table>/<index>.parquet``."""
    from personalization.data import ingest

    with tempfile.TemporaryDirectory(prefix="spark-ingest-") as tmp:
        db = Path(tmp) / "stage.duckdb"
        report = ingest.ingest_file(
            path, kind="events", table="events", mode="replace", db=db, **options
        )
        frame = store.read_table("events", columns=list(EVENT_COLUMNS), db=db)
        if attributes is not None:
            for table, rows in attribute_rows(db).items():
                (attributes / table).mkdir(parents=True, exist_ok=True)
                rows.to_parquet(attributes / table / f"{index:06d}.parquet", index=False)
    data = report.to_dict()
    data["rejects"] = [{"file": path, **r} for r in data.get("rejects", [])]
    return frame, {k: data.get(k) for k in (*COUNTS, "rejects", "mapping", "notes")}


def attribute_rows(db) -> dict[str, pd.DataFrame]:
    """The ``items`` and ``users`` rows a load of one file into ``db`` gave (from its mapped
    attribute columns), and, without an items table, the item columns local training reads from
    the events gathered per item into one (``store.fill_attributes``)."""
    present = [name for name, _ in store.table_columns("events", db=db)]
    kept = [c for c in present if c in ITEM_COLUMNS]
    if kept and not store.table_exists("items", db):
        numeric = tuple(c for c in kept if c in NUMERIC)
        columns = {c: c for c in kept}
        store.fill_attributes(
            store.AttributeSet("items", "item_id", columns, numeric), "events", db
        )
    return {t: store.read_table(t, db=db) for t in ATTRIBUTE_KEYS if store.table_exists(t, db)}


def merge_attributes(folder: Path, label: str, db=None) -> None:
    """The attribute rows the tasks wrote under ``folder``, merged into the database's
    ``items`` and ``users`` in file order."""
    for table, key in ATTRIBUTE_KEYS.items():
        parts = sorted((folder / table).glob("*.parquet")) if (folder / table).is_dir() else []
        if parts:
            frames = [pd.read_parquet(p) for p in parts]
            store.merge_attribute_frames(frames, table, key, NUMERIC, label=label, db=db)


def clean_partition(options: dict, attributes: Path | None = None):
    """The ``mapInPandas`` function: file paths (and their positions) in, cleaned events (and a
    report row per file) out, in ``SCHEMA``."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            for path, index in zip(batch["path"], batch["index"], strict=True):
                try:
                    frame, report = clean_file(path, options, attributes, int(index))
                except BadInputError as exc:
                    error = {"error": str(exc).splitlines()[0], "file": path}
                    yield report_row(error)
                    continue
                out = frame.astype({"user_id": object, "item_id": object, "event_type": object})
                out["session_id"] = out["session_id"].astype(object)
                out["timestamp"] = pd.to_datetime(out["timestamp"])
                out[PARTITION] = out["timestamp"].dt.date
                out["report"] = None
                yield out
                yield report_row(report)

    return run


def report_row(report: dict) -> pd.DataFrame:
    """One row of ``SCHEMA`` carrying a file's report (as JSON) and no event."""
    row = pd.DataFrame({c: pd.Series([None], dtype=object) for c in COLUMNS})
    row["timestamp"] = pd.Series([pd.NaT], dtype="datetime64[us]")
    row["value"] = np.nan
    row["report"] = json.dumps(report)
    return row


def ingest_files(
    pattern: str,
    kind: str = "events",
    mapping: dict[str, str] | None = None,
    constants: dict[str, str] | None = None,
    sep: str | None = None,
    timestamp_format: str | None = None,
    table: str | None = None,
    mode: str = "append",
    master: str | None = None,
    db=None,
) -> dict[str, Any]:
    """Load every file of ``pattern`` (a folder or a glob) into the Parquet dataset of ``table``
    (default ``events``), ``mode`` append or replace, on Spark at ``master``.

    Returns the ingest report keys (``table``, ``rows_read``, ``rows_loaded``, ``rows_rejected``,
    ``duplicates_dropped``, ``rejects`` with ``file``, ``line``, ``reason``) plus ``path``,
    ``files`` and ``engine``. Raises ``BadInputError`` for another kind than events, no files,
    or a file the ingest rules refuse (nothing is stored then).
    """
    if kind != "events":
        raise BadInputError(
            f"--engine spark loads events; load {kind} with the local engine (drop --engine spark)."
        )
    if mode not in ("append", "replace"):
        raise BadInputError(f"--mode must be append or replace; got {mode!r}")
    table = store.check_data_table_name(table or kind)
    files = find_files(pattern)
    options = {
        "mapping": mapping or {},
        "constants": constants or {},
        "sep": sep,
        "timestamp_format": timestamp_format,
    }
    spark = spark_session(master)
    listing = pd.DataFrame({"path": files, "index": np.arange(len(files))})
    paths = spark.createDataFrame(listing).repartition(len(files))
    final = parquet_tables.dataset_folder(table, db)
    attributes = final.parent / f".{table}-attributes-{uuid.uuid4().hex[:8]}"
    staging = final.parent / f".{table}-staging-{uuid.uuid4().hex[:8]}"
    rows = paths.mapInPandas(clean_partition(options, attributes), SCHEMA).cache()
    try:
        reports = [json.loads(r["report"]) for r in rows.where("report IS NOT NULL").collect()]
        failed = [r for r in reports if "error" in r]
        if failed:
            raise BadInputError(f"{Path(failed[0]['file']).name}: {failed[0]['error']}")
        events = rows.where("report IS NULL").drop("report")
        events.write.partitionBy(PARTITION).parquet(str(staging))
        merge_attributes(attributes, pattern, db)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        rows.unpersist()
        shutil.rmtree(attributes, ignore_errors=True)
    record = parquet_tables.parquet_dataset(table, db)
    loaded = sum(r["rows_loaded"] for r in reports)
    if mode == "append" and record is not None and Path(record["path"]).is_dir():
        move_parts(staging, Path(record["path"]))
        files, loaded_total = record["files"] + files, int(record["rows"]) + loaded
        final = Path(record["path"])
    else:
        swap_in(staging, final)
        loaded_total = loaded
    parquet_tables.record_parquet_dataset(
        table, kind, str(final), loaded_total, files, reports[0]["mapping"] if reports else {}, db
    )
    out = {"table": table, **{k: int(sum(r[k] for r in reports)) for k in COUNTS}}
    out["rejects"] = [x for r in reports for x in r["rejects"]][:MAX_REJECTS]
    out["mapping"] = reports[0]["mapping"] if reports else {}
    out["notes"] = list(dict.fromkeys(n for r in reports for n in r.get("notes") or []))
    return {**out, "path": str(final), "files": len(reports), "engine": "spark"}


def swap_in(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging`` (the old folder is removed only once the new is in)."""
    old = final.parent / f".{final.name}-old-{uuid.uuid4().hex[:8]}"
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def move_parts(staging: Path, final: Path) -> None:
    """Move the Parquet parts of ``staging`` into the partitions of ``final`` (append)."""
    for part in staging.rglob("*.parquet"):
        target = final / part.parent.relative_to(staging)
        target.mkdir(parents=True, exist_ok=True)
        part.rename(target / part.name)
    shutil.rmtree(staging, ignore_errors=True)
