"""The Spark engine beside the local one on the same small data: the same rows, ids and weights,
comparable NDCG (ALS, and the default SVD with its products on the cluster), identical exported
rows and columns in a folder of parts; and a clear refusal when Spark is not installed.

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
SVD = ["train-recommender", "--algo", "svd", "--param", "weighting=bm25"]  # idf on the driver


def read_parts(folder) -> pd.DataFrame:
    """The parts of a Spark export, in name order, as one frame (ids kept as text)."""
    parts = sorted(Path(folder).glob("part-*.csv"))
    return pd.concat([pd.read_csv(p, dtype=str) for p in parts], ignore_index=True)


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
    items = pd.DataFrame({"item_id": [f"i{n:02d}" for n in range(40)]})
    items["title"] = [f'=HYPERLINK("x","{n}")' if n % 3 == 0 else f"Item {n}" for n in range(40)]
    items.to_csv(root / "items.csv", index=False)
    db = root / "both.duckdb"
    out = {"db": db, "root": root}
    try:
        out["local_ingest"] = cli("--db", db, "ingest", root / "all.csv", *MAPPING)
        cli("--db", db, "ingest", root / "items.csv", "--kind", "items")
        out["spark_ingest"] = cli(
            "--db", db, "ingest", logs, *MAPPING, "--table", "big", "--engine", "spark"
        )
        out["local_profile"] = cli("--db", db, "profile", "events")
        out["spark_profile"] = cli("--db", db, "profile", "big", "--engine", "spark")
        out["readiness"] = cli("--db", db, "readiness", "--table", "big", "--engine", "spark")
        train = ["train-recommender", "--algo", "als", *PARAMS, "--param", "iterations=5"]
        out["local"] = cli("--db", db, *train)
        out["spark"] = cli("--db", db, *train, "--table", "big", "--engine", "spark")
        out["local_svd"] = cli("--db", db, *SVD)
        out["spark_svd"] = cli("--db", db, *SVD, "--table", "big", "--engine", "spark")
        shop = root / "shop"  # item columns in the events files, in two files
        shop.mkdir()
        named = events.assign(Description="Item " + events["product"], UnitPrice=2.5)
        later = named.iloc[600:].copy()
        later.loc[later["product"] == "i00", "Description"] = "Renamed i00"
        later.loc[later["product"] == "i03", "UnitPrice"] = 3.0
        named.iloc[:600].to_csv(shop / "a.csv", index=False)
        later.to_csv(shop / "b.csv", index=False)
        for name, extra in (("kept", []), ("mapped", ["--map", "title=Description"])):
            out[f"{name}_ingest"] = cli(
                "--db", root / f"{name}.duckdb", "ingest", shop, *MAPPING, *extra,
                "--engine", "spark",
            )  # fmt: skip
        export = ["export-recommendations", "-k", "5", "--model", out["spark_svd"]["model_id"]]
        export += ["--control-share", "0.25"]
        out["local_export"] = cli("--db", db, *export, "--out", root / "l.csv")
        out["spark_export"] = cli("--db", db, *export, "--out", root / "s.csv", "--engine", "spark")
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
    (listed,) = cli("--db", runs["db"], "tables")["datasets"]
    assert listed == {"name": "big", "kind": "events", "rows": record["rows"], "path": str(folder)}
    assert any(p.name.startswith("event_date=") for p in folder.iterdir())


def test_item_columns_of_the_events_files_become_the_items_table(runs):
    from personalization import store

    for name, title in (("kept", "Description"), ("mapped", "title")):
        assert runs[f"{name}_ingest"]["rows_loaded"] == runs["local_ingest"]["rows_loaded"]
        items = store.read_table("items", db=runs["root"] / f"{name}.duckdb").set_index("item_id")
        assert len(items) == 40 and title in items.columns
        assert items.loc["i00", title] == "Renamed i00"  # the later file's value wins
        assert items.loc["i05", title] == "Item i05"
    assert runs["mapped_ingest"]["mapping"]["title"] == "Description"
    kept = store.read_table("items", db=runs["root"] / "kept.duckdb").set_index("item_id")
    assert kept.loc["i02", "UnitPrice"] == 2.5 and kept.loc["i03", "UnitPrice"] == 3.0


def test_profile_and_readiness_of_a_dataset_through_spark(runs):
    local, spark = runs["local_profile"], runs["spark_profile"]
    keys = ("rows", "n_users", "n_items", "users_with_2_or_more", "events_per_type")
    assert {k: spark[k] for k in keys} == {k: local[k] for k in keys}
    assert spark["interactions_per_user"] == local["interactions_per_user"]
    assert spark["date_range"] == local["date_range"]
    assert spark["events_per_day"] == local["events_per_day"]
    assert {c["column"] for c in spark["columns"]} >= {"user_id", "item_id", "timestamp"}
    ready = runs["readiness"]
    assert ready["can_recommend"] and ready["engine"] == "spark"
    (scale,) = [c for c in ready["checks"] if c["check"] == "recommender: scale"]
    assert f"{local['rows']:,} events" in scale["message"]


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


def test_spark_svd_matches_the_local_default_svd(runs):
    from personalization import registry

    local, spark = runs["local_svd"], runs["spark_svd"]
    assert spark["algo"] == "svd" and spark["params"]["engine"] == "spark"
    for key in ("rank_", "reg_", "popularity_reg_"):  # the same settings chosen on validation
        assert spark["params"][key] == local["params"][key]
    assert spark["metrics"]["baseline"] == local["metrics"]["baseline"]
    assert spark["metrics"]["ndcg@10"] > 2 * spark["metrics"]["baseline"]["ndcg@10"]
    assert abs(spark["metrics"]["ndcg@10"] - local["metrics"]["ndcg@10"]) <= 0.05 * max(
        local["metrics"]["ndcg@10"], 1e-9
    )
    local_art, _ = registry.load_model(local["model_id"], db=runs["db"])
    spark_art, _ = registry.load_model(spark["model_id"], db=runs["db"])
    assert type(spark_art.model) is type(local_art.model)
    assert list(spark_art.interactions.item_ids) == list(local_art.interactions.item_ids)
    matrix = local_art.interactions.matrix
    users = np.arange(matrix.shape[0])
    local_recs, _ = local_art.model.recommend(users, matrix, n=5)
    spark_recs, _ = spark_art.model.recommend(users, matrix, n=5)
    assert (local_recs == spark_recs).mean() > 0.9  # the same lists up to float rounding


def test_spark_export_writes_parts_with_the_local_rows_and_formula_safe_cells(runs):
    local = pd.read_csv(runs["local_export"]["path"], dtype=str)
    folder = Path(runs["spark_export"]["path"])
    assert folder.is_dir() and runs["spark_export"]["parts"] == len(list(folder.iterdir())) >= 1
    spark = read_parts(folder)
    assert list(spark.columns) == list(local.columns)
    assert "title" in spark.columns and "group" in spark.columns
    assert runs["spark_export"]["rows"] == runs["local_export"]["rows"] == 400
    for key in ("users", "control_users"):
        assert runs["spark_export"][key] == runs["local_export"][key]
    pd.testing.assert_frame_equal(spark.drop(columns="score"), local.drop(columns="score"))
    titles = spark["title"].dropna()
    assert titles.str.startswith("'=").any() and not titles.str.startswith("=").any()


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
        training.train_recommender("ease", db=db)
    with pytest.raises(BadInputError, match="weighting"):
        training.train_recommender("svd", params={"weighting": "tfidf"}, db=db)
