"""The recommender commands: JSON keys of the contract, exit codes, a second process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from personalization.cli import main
from personalization.cli.recommend import parse_value
from tests.test_recommend_service import load_shop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRIC_KEYS = {"precision@3", "recall@3", "ndcg@3", "map@3", "hit_rate@3", "coverage", "novelty"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    db = folder / "shop.duckdb"
    load_shop(folder, db)
    return db


def run(capsys, *argv) -> tuple[int, dict | None, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err


def test_parse_value():
    assert [
        parse_value(v) for v in ("32", "0.5", "1e-3", "true", "False", "none", "log", "-2")
    ] == [
        32,
        0.5,
        0.001,
        True,
        False,
        None,
        "log",
        -2,
    ]


def test_train_then_recommend_in_another_process(shop, capsys):
    code, out, _ = run(
        capsys,
        "--db",
        shop,
        "train-recommender",
        "--algo",
        "svd",
        "--param",
        "rank=2",
        "--param",
        "weighting=binary",
        "--event-weight",
        "view=0.5",
        "--name",
        "first",
    )
    assert code == 0
    assert {"model_id", "algo", "params", "n_users", "n_items", "nnz", "fit_seconds"} <= set(out)
    assert out["params"]["rank"] == 2 and out["params"]["event_weights"]["view"] == 0.5
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "personalization",
            "--db",
            str(shop),
            "recommend",
            "--model",
            out["model_id"],
            "--user",
            "k02",
            "-k",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["user"] == "k02" and len(answer["items"]) == 2
    assert {"item_id", "score", "reason"} <= set(answer["items"][0])
    assert all(item["reason"] for item in answer["items"])


def test_evaluate_prints_metrics_and_baseline(shop, capsys):
    code, out, _ = run(
        capsys,
        "--db",
        shop,
        "evaluate-recommender",
        "--param",
        "rank=2",
        "--split",
        "leave-last",
        "--k",
        "3",
        "--seed",
        "1",
    )
    assert code == 0
    assert METRIC_KEYS <= set(out["metrics"]) and METRIC_KEYS <= set(out["baseline"])
    assert "fit_seconds" in out


def test_tune_prints_best_params_and_trials(shop, capsys):
    code, out, _ = run(
        capsys,
        "--db",
        shop,
        "tune-recommender",
        "--search",
        "random",
        "--trials",
        "2",
        "--split",
        "random",
        "--test-size",
        "0.3",
        "-k",
        "3",
    )
    assert code == 0
    assert {"best_params", "best_metrics", "trials"} <= set(out) and len(out["trials"]) == 2


def test_export_with_users_file_and_columns(shop, capsys, tmp_path):
    code, _, _ = run(capsys, "--db", shop, "train-recommender", "--algo", "popularity")
    ids = tmp_path / "ids.csv"
    ids.write_text("user_id\nk01\nt01\n")
    target = tmp_path / "recs.parquet"
    code, out, _ = run(
        capsys,
        "--db",
        shop,
        "export-recommendations",
        "--out",
        target,
        "-k",
        "2",
        "--users",
        ids,
        "--columns",
        "in_stock",
    )
    assert code == 0 and out["batch_id"]  # the logged list's id (monitoring)
    assert {k: out[k] for k in ("path", "rows", "users")} == {
        "path": str(target),
        "rows": 4,
        "users": 2,
    }
    frame = pd.read_parquet(target)
    assert list(frame.columns[:5]) == ["user_id", "rank", "item_id", "score", "reason"]
    assert "in_stock" in frame
    code, out, _ = run(
        capsys,
        "--db",
        shop,
        "export-recommendations",
        "--out",
        tmp_path / "a.csv",
        "--users",
        "k01, newbie",
    )
    assert code == 0 and out["users"] == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["recommend", "--user", "ghost"], "users look like"),
        (["recommend", "--user", "k01", "--model", "rec-nope"], "There is no model"),
        (["train-recommender", "--event-weight", "wishlist=2"], "unknown event types"),
        (["train-recommender", "--event-weight", "view=lots"], "must be a number"),
        (["train-recommender", "--param", "rank"], "KEY=VALUE"),
        (["evaluate-recommender", "-k", "99"], "larger than the catalogue"),
        (["evaluate-recommender", "--split", "sideways"], "sideways"),
        (["export-recommendations", "--out", "x.xlsx"], ".csv or .parquet"),
    ],
)
def test_bad_input_exits_2_with_a_message(shop, capsys, argv, message):
    code, out, err = run(capsys, "--db", shop, *argv)
    assert code == 2 and out is None
    assert message in err and "Traceback" not in err


def test_export_applies_business_filters(shop, capsys, tmp_path):
    run(capsys, "--db", shop, "train-recommender", "--algo", "popularity")
    target = tmp_path / "filtered.csv"
    code, out, _ = run(
        capsys,
        "--db",
        shop,
        "export-recommendations",
        "--out",
        target,
        "-k",
        "3",
        "--exclude-categories",
        "kitchen",
        "--only-if",
        "in_stock",
        "--columns",
        "category,in_stock",
    )
    assert code == 0 and out["rows"] > 0
    frame = pd.read_csv(target)
    assert "kitchen" not in set(frame["category"])
    assert frame["in_stock"].astype(str).str.lower().isin(["true", "yes", "1"]).all()


def test_recommend_serves_a_user_without_events_and_a_new_visitor(shop, capsys):
    run(capsys, "--db", shop, "train-recommender", "--algo", "popularity")
    code, out, _ = run(capsys, "--db", shop, "recommend", "--user", "newbie", "--k", "2")
    assert code == 0 and out["user"] == "newbie" and len(out["items"]) == 2
    assert {item["reason"] for item in out["items"]} == {"Popular with mobile users in Berlin"}
    code, out, _ = run(
        capsys, "--db", shop, "recommend", "--attribute", "device=desktop", "-k", "2"
    )
    assert code == 0 and out["user"] is None and out["attributes"] == {"device": "desktop"}
    assert {item["reason"] for item in out["items"]} == {"Popular with desktop users"}
    assert all(item["item_id"].startswith("toy") for item in out["items"])


def test_users_filter_reads_a_list_or_a_file_of_ids(shop, capsys, tmp_path):
    run(capsys, "--db", shop, "train-recommender", "--algo", "popularity")
    ids = tmp_path / "ids.txt"
    ids.write_text("k01\nt01\nk01\n")
    code, out, _ = run(
        capsys,
        "--db",
        shop,
        "export-recommendations",
        "--out",
        tmp_path / "a.csv",
        "--k",
        "1",
        "--users",
        ids,
    )
    assert code == 0 and out["users"] == 2 and out["rows"] == 2
    code, out, _ = run(
        capsys,
        "--db",
        shop,
        "export-recommendations",
        "--out",
        tmp_path / "b.csv",
        "--users",
        "k01; t01 t02",
    )
    assert code == 0 and out["users"] == 3
    code, _, err = run(
        capsys,
        "--db",
        shop,
        "export-recommendations",
        "--out",
        tmp_path / "c.csv",
        "--users",
        " , ",
    )
    assert code == 2 and "names no user" in err


def test_the_command_line_starts_without_the_recommendation_library():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, personalization.cli.recommend; "
            "print(any(m.startswith('personalization.recommendation') for m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.stdout.strip() == "False", done.stderr
