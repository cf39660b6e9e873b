"""The Spark engine beside the local one on the same small data: the same rows, ids and weights,
comparable NDCG, identical export columns; and a clear refusal when Spark is not installed.

One SparkSession (local[2], two shuffle partitions) serves the module; everything that runs Spark
is done once in ``runs`` and the tests read its results. Skipped without Java or pyspark."""

from __future__ import annotations

import builtins
import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from personalization.errors import BadInputError

MAPPING = ["--map", "user_id=customer", "--map", "item_id=product", "--map", "timestamp=ts"]
PARAMS = ["--param", "factors=16", "--param", "regularization=0.05", "--param", "alpha=5"]


def make_events(seed: int = 0) -> pd.DataFrame:
    """80 customers in 4 taste groups of 10 items each (85% of their events in their group)."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(80):
        group = user % 4
        for _ in range(12):
            inside = rng.random() < 0.85
            item = group * 10 + rng.integers(0, 10) if inside else rng.integers(0, 40)
            kind = rng.choice(["view", "click", "purchase"], p=[0.6, 0.3, 0.1])
            minute = int(rng.integers(0, 60 * 24 * 30))
            stamp = pd.Timestamp("2024-01-01") + pd.Timedelta(minutes=minute)
            rows.append((f"u{user:03d}", f"i{item:02d}", kind, stamp.isoformat(sep=" ")))
    return pd.DataFrame(rows, columns=["customer", "product", "event_type", "ts"])


def cli(*argv) -> dict:
    from personalization.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main([str(a) for a in argv])
    assert code == 0, out.getvalue()
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both engines through the command line on the same events: ingest, train ALS, export."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (requirements-spark.txt)")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime (apt-get install openjdk-17-jre-headless)")
    from personalization.spark.session import spark_session

    root = tmp_path_factory.mktemp("spark")
    conf = root / "spark.json"
    conf.write_text(json.dumps({"spark.sql.shuffle.partitions": "2"}))
    mp = pytest.MonkeyPatch()
    mp.setenv("PERSONALIZATION_SPARK_CONF", str(conf))
    spark = spark_session("local[2]")
    events = make_events()
    logs = root / "logs"
    logs.mkdir()
    first = events.iloc[:500]
    events.to_csv(root / "all.csv", index=False)
    with_dupe = pd.concat([first, first.iloc[:1]])  # an exact duplicate row
    with_dupe.to_csv(logs / "a.csv", index=False)
    bad = pd.DataFrame([["", "i01", "view", "2024-01-02 10:00:00"]], columns=events.columns)
    pd.concat([events.iloc[500:], bad]).to_csv(logs / "b.csv.gz", index=False)
    db = root / "both.duckdb"
    out = {"db": db, "root": root}
    try:
        out["local_ingest"] = cli("--db", db, "ingest", root / "all.csv", *MAPPING)
        out["spark_ingest"] = cli(
            "--db", db, "ingest", logs, *MAPPING, "--table", "big", "--engine", "spark"
        )
        train = ["train-recommender", "--algo", "als", *PARAMS, "--param", "iterations=5"]
        out["local"] = cli("--db", db, *train)
        out["spark"] = cli("--db", db, *train, "--table", "big", "--engine", "spark")
        export = ["export-recommendations", "-k", "5"]
        out["local_export"] = cli(
            "--db", db, *export, "--model", out["local"]["model_id"], "--out", root / "l.csv"
        )
        out["spark_export"] = cli(
            "--db", db, *export, "--model", out["spark"]["model_id"], "--out", root / "s.csv",
            "--engine", "spark",
        )  # fmt: skip
        yield out
    finally:
        spark.stop()
        mp.undo()


def test_ingest_reads_a_folder_with_the_same_rules_into_a_recorded_dataset(runs):
    from personalization.store import parquet_tables

    local, spark = runs["local_ingest"], runs["spark_ingest"]
    assert spark["rows_loaded"] == local["rows_loaded"] > 900
    assert spark["duplicates_dropped"] == local["duplicates_dropped"] + 1  # the copied row
    assert spark["rows_rejected"] == 1 and local["rows_rejected"] == 0
    (reject,) = spark["rejects"]
    assert reject["file"].endswith("b.csv.gz") and reject["line"] == 462
    assert "user_id" in reject["reason"]
    record = parquet_tables.parquet_dataset("big", db=runs["db"])
    assert record["rows"] == local["rows_loaded"] and len(record["files"]) == 2
    folder = Path(record["path"])
    assert folder.parent == runs["db"].parent / "both_parquet"
    assert any(p.name.startswith("event_date=") for p in folder.iterdir())


def test_spark_training_gives_the_same_ids_and_weights(runs):
    from personalization import registry

    local, _ = registry.load_model(runs["local"]["model_id"], db=runs["db"])
    spark, info = registry.load_model(runs["spark"]["model_id"], db=runs["db"])
    assert info["algo"] == "als" and runs["spark"]["params"]["engine"] == "spark"
    assert list(spark.interactions.user_ids) == list(local.interactions.user_ids)
    assert list(spark.interactions.item_ids) == list(local.interactions.item_ids)
    assert (spark.interactions.matrix != local.interactions.matrix).nnz == 0
    assert spark.model.user_factors_.shape == (80, 16)
    assert spark.pair_types.nnz == local.pair_types.nnz
    for key in ("n_users", "n_items", "nnz"):
        assert runs["spark"][key] == runs["local"][key]


def test_spark_model_quality_is_within_a_few_percent_of_local(runs):
    local, spark = runs["local"]["metrics"], runs["spark"]["metrics"]
    assert spark["baseline"] == local["baseline"]  # the same holdout split
    assert spark["ndcg@10"] > 2 * spark["baseline"]["ndcg@10"]
    assert abs(spark["ndcg@10"] - local["ndcg@10"]) <= 0.1 * local["ndcg@10"]


def test_a_spark_model_is_served_in_process(runs):
    from personalization.recommendation import serving

    frame = serving.recommend_for_user(
        "u001", k=5, model_id=runs["spark"]["model_id"], db=runs["db"]
    )
    assert len(frame) == 5 and frame["reason"].str.len().min() > 0
    assert (frame["item_id"].str[1:].astype(int) // 10 == 1).sum() >= 3  # u001 is in group 1


def test_spark_export_has_the_same_columns_and_users(runs):
    local = pd.read_csv(runs["local_export"]["path"])
    spark = pd.read_csv(runs["spark_export"]["path"])
    assert list(spark.columns) == list(local.columns)
    assert runs["spark_export"]["rows"] == runs["local_export"]["rows"] == 400
    assert list(pd.unique(spark["user_id"])) == list(pd.unique(local["user_id"]))


def test_engine_spark_refuses_with_the_install_commands_without_pyspark(monkeypatch):
    from personalization.spark import session

    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(BadInputError) as caught:
        session.require_spark()
    message = str(caught.value)
    assert "pip install -r requirements-spark.txt" in message
    assert "apt-get install openjdk-17-jre-headless" in message
    assert "\n" not in message


def test_engine_spark_refuses_other_kinds_and_algorithms_before_starting(db):
    from personalization.spark import ingest, training

    with pytest.raises(BadInputError, match="--engine spark loads events"):
        ingest.ingest_files("logs/*.csv", kind="customers", db=db)
    with pytest.raises(BadInputError, match="--algo als"):
        training.train_recommender("svd", db=db)
