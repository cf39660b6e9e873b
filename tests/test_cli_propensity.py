"""The ``train-classifier`` and ``score`` commands: one JSON object, contract keys, exit 2 on bad
input."""

from __future__ import annotations

import json

import pandas as pd

from personalization.cli import main
from tests.test_propensity import customers, load


def run(capsys, *argv) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def test_train_classifier_prints_the_contract_keys_and_score_writes_a_file(db, capsys, tmp_path):
    load(customers(800), "customers", db)
    code, out, _ = run(
        capsys,
        "--db",
        str(db),
        "train-classifier",
        "--target",
        "converted",
        "--positive",
        "YES",
        "--algo",
        "logreg",
        "--split",
        "0.8,0.1,0.1",
        "--folds",
        "2",
        "--exclude",
        "noise",
        "--name",
        "first",
    )
    assert code == 0
    assert out["model_id"].startswith("clf-logreg-")
    for split in ("validation", "test"):
        assert {"roc_auc", "pr_auc", "precision", "recall", "f1", "threshold"} <= set(
            out["metrics"][split]
        )
    assert {"roc_auc_mean", "roc_auc_std"} <= set(out["cv"])
    assert out["rows"] == {"train": 640, "validation": 80, "test": 80}
    assert "noise" not in out["features"] and out["positive"] == "yes"
    path = tmp_path / "scores.csv"
    code, scored, _ = run(capsys, "--db", str(db), "score", "--out", str(path))
    assert code == 0 and scored["rows"] == 800 and len(pd.read_csv(path)) == 800
    code, listed, _ = run(capsys, "--db", str(db), "score")
    assert (
        code == 0
        and len(listed["scores"]) == 800
        and set(listed["scores"][0]) == {"customer_id", "score", "decision"}
    )


def test_bad_input_exits_2_with_a_one_line_message(db, capsys):
    load(customers(300), "customers", db)
    cases = [
        (["--target", "bought"], "no column 'bought'"),
        (["--target", "converted", "--positive", "maybe"], "does not occur"),
        (["--target", "converted", "--split", "0.7,0.3"], "--split takes three"),
        (["--target", "converted", "--table", "nowhere"], "no table 'nowhere'"),
    ]
    for flags, message in cases:
        code, out, err = run(capsys, "--db", str(db), "train-classifier", *flags)
        assert code == 2 and out is None
        assert message in err and err.count("\n") == 1
    code, _, err = run(capsys, "--db", str(db), "score", "--model", "clf-none")
    assert code == 2 and "There is no model 'clf-none'" in err
