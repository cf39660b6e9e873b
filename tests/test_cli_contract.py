"""The command line's contract: every command documented in the README, every command of the
architecture's contract printing its keys, one-line errors with exit code 2, consistent flags,
and a start-up that imports no heavy library."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from personalization.cli import build_parser, json_ready, main

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT.parent / "shared" / "design" / "ARCHITECTURE.md"

# The JSON each command of the contract prints: a key maps to None (any value), to a dict (the
# keys of a nested object) or to a one-item list (a non-empty list of objects with those keys).
# Lists are run with `-k 3`, so the metric names end in @3.
METRICS = {f"{m}@3": None for m in ("precision", "recall", "ndcg", "map", "hit_rate")}
METRICS |= {"coverage": None, "novelty": None}
SPLIT_METRICS = dict.fromkeys(("roc_auc", "pr_auc", "precision", "recall", "f1", "threshold"))
CATALOG_ROW = dict.fromkeys(("model_id", "kind", "algo", "status", "metrics", "created"))
CONTRACT = {
    "ingest": {
        **dict.fromkeys(("table", "rows_read", "rows_loaded", "rows_rejected")),
        "duplicates_dropped": None,
        "rejects": [{"line": None, "reason": None}],
    },
    "tables": {"tables": [{"name": None, "kind": None, "rows": None}]},
    "train-recommender": dict.fromkeys(
        ("model_id", "status", "algo", "params", "n_users", "n_items", "nnz", "fit_seconds")
    ),
    "evaluate-recommender": {"metrics": METRICS, "baseline": METRICS, "fit_seconds": None},
    "tune-recommender": {"best_params": {}, "best_metrics": {}, "trials": [{}]},
    "recommend": {"user": None, "items": [{"item_id": None, "score": None, "reason": None}]},
    "export-recommendations": {"path": None, "rows": None, "users": None},
    "train-classifier": {
        "model_id": None,
        "metrics": {"validation": SPLIT_METRICS, "test": SPLIT_METRICS},
        "cv": {"roc_auc_mean": None, "roc_auc_std": None},
    },
    "explain": {"features": [{"feature": None, "mean_abs_shap": None}]},
    "explain --row": {"features": [{"feature": None, "shap": None}]},
    "lift": {
        "rows": [dict.fromkeys(("segment", "bin", "customers", "rate", "lift", "cumulative_lift"))]
    },
    "models": {"models": [CATALOG_ROW]},
    "promote": {"models": [CATALOG_ROW]},
    "load-sample": {"db": None, "loaded": None, "tables": [{"name": None}], "models": None},
    "update": dict.fromkeys(("model_id", "users_added", "users_updated", "seconds")),
    "retrain": dict.fromkeys(("champion", "challenger", "metric", "promoted", "why")),
    "export-recommendations --control-share": dict.fromkeys(
        ("path", "rows", "users", "control_users")
    ),
    "drift": {
        "features": [dict.fromkeys(("feature", "test", "statistic", "p_value", "psi", "drift"))],
        "drifted_share": None,
        "alert": None,
    },
    "readout": {
        "treatment": dict.fromkeys(("customers", "conversions", "rate")),
        "control": dict.fromkeys(("customers", "conversions", "rate")),
        **dict.fromkeys(("lift", "ci_low", "ci_high", "p_value", "segments")),
    },
    "monitor": {"alerts": None},
}
# Commands of the architecture's contract that later issues add. When one is built, move it into
# CONTRACT with its keys (test_commands_of_the_contract_not_built_yet says so).
EXPECTED_LATER: tuple[str, ...] = ()
RUNNING = ("serve",)  # a long-running server, tested in tests/test_api.py


def run(*argv: object) -> tuple[int, dict | None, str]:
    """``main(argv)`` in this process: exit code, the JSON printed (or None), stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, (json.loads(out.getvalue()) if out.getvalue().strip() else None), err.getvalue()


def events_csv() -> str:
    """30 users (u01..u30) with 4-8 views and purchases of 12 items over 20 days, and one row
    without a user (rejected)."""
    rng = random.Random(0)
    rows = ["user_id,item_id,event_type,timestamp"]
    for user in range(1, 31):
        for item in rng.sample(range(1, 13), 4 + user % 5):
            kind = rng.choice(("view", "view", "purchase"))
            rows.append(f"u{user:02d},i{item:02d},{kind},2024-03-{rng.randint(1, 20):02d} 10:00:00")
    rows.append(",i01,view,2024-03-01 10:00:00")
    return "\n".join(rows) + "\n"


def customers_csv() -> str:
    """160 customers (C001..C160): visits, spend, device and a yes/no ``converted`` that grows
    with visits."""
    rng = random.Random(1)
    rows = ["customer_id,visits,spend,device,converted"]
    for n in range(1, 161):
        visits = rng.randint(0, 10)
        converted = "yes" if visits + rng.randint(0, 6) > 9 else "no"
        device = ("mobile", "desktop", "tablet")[n % 3]
        rows.append(f"C{n:03d},{visits},{rng.uniform(0, 200):.2f},{device},{converted}")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> dict:
    """A small database built through the command line: events and customers ingested, a
    popularity recommender and a logistic-regression classifier trained."""
    folder = tmp_path_factory.mktemp("contract")
    db = folder / "shop.duckdb"
    (folder / "events.csv").write_text(events_csv())
    (folder / "customers.csv").write_text(customers_csv())
    for kind in ("events", "customers"):
        code, _, err = run("--db", db, "ingest", folder / f"{kind}.csv", "--kind", kind)
        assert code == 0, err
    code, recommender, err = run("--db", db, "train-recommender", "--algo", "popularity")
    assert code == 0, err
    code, classifier, err = run("--db", db, *CLASSIFIER_FLAGS)
    assert code == 0, err
    code, svd, err = run(
        "--db", db, "train-recommender", "--algo", "svd", "--param", "rank=4", "--param", "reg=0",
        "--param", "popularity_reg=0", "--param", "weighting=log",
    )  # fmt: skip
    assert code == 0, err
    return {
        "db": db,
        "folder": folder,
        "recommender": recommender["model_id"],
        "svd": svd["model_id"],
    }


CLASSIFIER_FLAGS = (
    "train-classifier", "--target", "converted", "--positive", "yes", "--algo", "logreg",
    "--folds", "2",
)  # fmt: skip


def contract_argv(command: str, shop: dict) -> list[object]:
    """The flags each contract command runs with on ``shop``: tiny lists, quick searches."""
    folder = shop["folder"]
    return {
        "ingest": ["ingest", folder / "events.csv", "--table", "more_events"],
        "tables": ["tables"],
        "train-recommender": ["train-recommender", "--algo", "popularity", "--name", "again"],
        "evaluate-recommender": ["evaluate-recommender", "--algo", "popularity", "-k", "3"],
        "tune-recommender": [
            "tune-recommender", "--algo", "itemknn", "--search", "random", "--trials", "2",
            "-k", "3",
        ],
        "recommend": ["recommend", "--user", "u01", "-k", "3"],
        "export-recommendations": ["export-recommendations", "--out", folder / "top.csv", "-k", "3"],
        "train-classifier": list(CLASSIFIER_FLAGS),
        "explain": ["explain", "--top", "3", "--sample", "50"],
        "explain --row": ["explain", "--row", "C001", "--top", "3"],
        "lift": ["lift", "--segment", "device", "--bins", "4"],
        "models": ["models"],
        "promote": ["promote", shop["recommender"]],
        "load-sample": ["load-sample"],
        "update": ["update", "--model", shop["svd"]],
        "retrain": ["retrain", "--kind", "recommender"],
        "export-recommendations --control-share": [
            "export-recommendations", "--out", folder / "held.csv", "-k", "3",
            "--control-share", "0.3",
        ],
        "drift": ["drift", "--reference", "customers", "--current", "customers"],
        "readout": ["readout", "--export", folder / "held.csv"],  # written by the entry above
        "monitor": ["monitor", "--quiet-hours", "1e9"],
    }[command]  # fmt: skip


def assert_shape(value: object, shape: object, where: str) -> None:
    """``value`` has every key ``shape`` names (see CONTRACT), recursively."""
    if isinstance(shape, dict):
        assert isinstance(value, dict), f"{where}: expected an object, got {value!r}"
        missing = set(shape) - set(value)
        assert not missing, f"{where}: missing keys {sorted(missing)}; got {sorted(value)}"
        for key, inner in shape.items():
            assert_shape(value[key], inner, f"{where}.{key}")
    elif isinstance(shape, list):
        assert isinstance(value, list) and value, f"{where}: expected a non-empty list"
        for n, item in enumerate(value):
            assert_shape(item, shape[0], f"{where}[{n}]")


def readme_command_line() -> str:
    """The "Command line" section of README.md."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Command line\n(.*?)(?=^## )", text, flags=re.M | re.S)
    assert match, "README.md has no '## Command line' section"
    return match.group(1)


def contract_commands() -> set[str]:
    """The commands named in the first cell of ARCHITECTURE.md's contract table."""
    if not ARCHITECTURE.exists():
        pytest.skip(f"{ARCHITECTURE} is absent (the design folder is not part of the project)")
    section = ARCHITECTURE.read_text().split("## Command line contract", 1)[1].split("\n## ")[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names |= {span.split()[0] for span in re.findall(r"`([^`]+)`", first_cell)}
    return {name for name in names if not name.startswith("-")}


def test_every_command_is_in_the_readme():
    section = readme_command_line()
    missing = [
        name
        for name in build_parser().commands
        if not re.search(
            rf"(python -m personalization |^- `){re.escape(name)}(?![\w-])", section, re.M
        )
    ]
    assert not missing, f"README.md's Command line section does not list: {missing}"


def test_the_contract_list_matches_the_architecture():
    built = {command.split()[0] for command in CONTRACT}
    assert contract_commands() == built | set(EXPECTED_LATER) | set(RUNNING)


def test_commands_of_the_contract_not_built_yet():
    built = set(EXPECTED_LATER) & set(build_parser().commands)
    assert not built, f"{sorted(built)} exist now: move them from EXPECTED_LATER into CONTRACT"


@pytest.mark.parametrize("command", list(CONTRACT))
def test_contract_command_prints_its_keys(shop, command):
    code, out, err = run("--db", shop["db"], *contract_argv(command, shop))
    assert code == 0, err
    assert_shape(out, CONTRACT[command], command)


BAD_INPUT = {
    "no command": [],
    "unknown command": ["nope"],
    "missing argument": ["ingest"],
    "unknown flag": ["tables", "--nope"],
    "choice": ["ingest", "events.csv", "--kind", "bogus"],
    "not a number": ["recommend", "--user", "u01", "-k", "x"],
    "pair without =": ["train-recommender", "--param", "rank"],
    "missing file": ["ingest", "no/such/file.csv"],
    "unknown model": ["recommend", "--user", "u01", "--model", "no-such-model"],
    "unknown table": ["profile", "nope"],
    "top below 1": ["explain", "--top", "0"],
    "unknown segment": ["lift", "--segment", "nope"],
}


@pytest.mark.parametrize("argv", list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_bad_input_is_one_line_and_exit_2(shop, argv):
    code, out, err = run("--db", shop["db"], *argv)
    assert (code, out) == (2, None)
    assert err.startswith("error: ") and err.count("\n") == 1, err


def test_flags_are_the_same_everywhere():
    for name, parser in build_parser().commands.items():
        text = parser.format_help()
        if re.search(r"\[-k ", parser.format_usage()):
            assert "-k K, --k K" in text, f"{name}: a list length is -k/--k"
        assert "--events-table" not in text, f"{name}: the input table is --table"
        assert not re.search(r"--model[-_]id|--model-name", text), f"{name}: a model is --model"


def test_a_command_module_that_fails_to_import_is_an_error(monkeypatch):
    import personalization.cli as cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "no_such_module"))
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        build_parser()


def test_events_table_is_a_hidden_alias_of_table():
    args = build_parser().parse_args(["build-features", "--events-table", "clicks"])
    assert args.table == "clicks"


def command_in_a_process(args: list[str]) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``main(args)`` in a fresh Python process; its result and, last on stderr, the exit
    code and which of pandas, scikit-learn, SHAP and SciPy it imported."""
    script = (
        "import sys\n"
        "from personalization.cli import main\n"
        f"code = main({args!r})\n"
        "heavy = [m for m in ('pandas', 'sklearn', 'shap', 'scipy') if m in sys.modules]\n"
        "print(code, heavy, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env
    )
    return done, done.stderr.strip().splitlines()[-1]


def test_a_separate_process_starts_without_heavy_imports(tmp_path):
    """``tables`` and ``--help`` build every parser but import no pandas, scikit-learn or SHAP;
    a parse error in a real process is one line and exit code 2."""
    done, imported = command_in_a_process(["--db", str(tmp_path / "x.duckdb"), "tables"])
    assert json.loads(done.stdout) == {"tables": []}
    assert done.stderr.strip() == imported == "0 []", done.stderr
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "personalization", "--db", str(tmp_path / "x.duckdb"), "nope"],
        capture_output=True, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("error: argument COMMAND: invalid choice: 'nope'")
    assert done.stderr.count("\n") == 1


def test_a_csv_is_loaded_from_the_command_line_without_pandas(tmp_path):
    """pandas' import is a third of a small load's time: ``ingest`` of a CSV never needs it."""
    csv = tmp_path / "events.csv"
    csv.write_text("user_id,item_id,event_type\nu1,i1,view\nu2,i1,purchase\n")
    done, imported = command_in_a_process(["--db", str(tmp_path / "x.duckdb"), "ingest", str(csv)])
    assert json.loads(done.stdout)["rows_loaded"] == 2
    assert imported == "0 []", done.stderr


def test_json_ready_turns_library_values_into_plain_json():
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {"n": [1, None], "when": [pd.Timestamp("2024-01-02"), pd.NaT], "s": ["a", pd.NA]}
    )
    value = {
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "count": np.int64(3),
        "flag": np.bool_(True),
        "array": np.array([0.5, np.nan]),
        "frame": frame,
        "tuple": (1, "x"),
    }
    assert json_ready(value) == {
        "nan": None,
        "inf": None,
        "count": 3,
        "flag": True,
        "array": [0.5, None],
        "frame": [
            {"n": 1.0, "when": pd.Timestamp("2024-01-02"), "s": "a"},
            {"n": None, "when": None, "s": None},
        ],
        "tuple": [1, "x"],
    }
    assert json.dumps(json_ready(value), default=str)


def test_a_command_process_ends_without_teardown_but_with_its_output_and_code(tmp_path):
    """``end_process`` skips the interpreter's teardown, not what must happen at exit: the
    buffered output reaches a pipe, atexit handlers run, the exit code is the command's."""
    script = (
        "import atexit, sys\n"
        "from personalization.cli import end_process\n"
        "atexit.register(lambda: print('handler ran'))\n"
        "sys.stdout.write('x' * 100000)\n"  # buffered: flushed by end_process
        "end_process(3)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 3
    assert done.stdout == "x" * 100000 + "handler ran\n"
    done = subprocess.run(
        [sys.executable, "-m", "personalization", "--db", str(tmp_path / "x.duckdb"), "tables"],
        capture_output=True, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    assert (done.returncode, json.loads(done.stdout)) == (0, {"tables": []})
