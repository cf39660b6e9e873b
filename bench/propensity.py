"""Propensity speed on a 45,000 x 16 synthetic customer table (12% positives), on this machine.

Measures: gradient boosting fit on all rows (target < 5 s), 5-fold cross-validation on all rows
(target < 30 s), SHAP global importance for 2,000 rows (target < 5 s), and a whole default
``train_classifier`` run. Run by hand: ``python bench/propensity.py``; writes bench/out/propensity.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personalization import registry, store  # noqa: E402
from personalization.propensity import pipelines, training  # noqa: E402
from personalization.propensity.shap import global_importance  # noqa: E402

ROWS = 45_000
OUT = ROOT / "bench" / "out" / "propensity.json"


def make_table(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """10 numeric and 6 categorical columns, a key and a target with about 12% positives."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"num_{i}": rng.normal(size=rows) for i in range(10)})
    levels = {"job": 12, "marital": 3, "education": 4, "contact": 3, "month": 12, "poutcome": 4}
    for name, count in levels.items():
        frame[name] = rng.choice([f"{name}_{j}" for j in range(count)], rows)
    logit = (
        -2.6
        + 0.8 * frame["num_0"]
        - 0.6 * frame["num_1"]
        + 0.4 * frame["num_2"] * frame["num_3"]
        + 1.2 * (frame["poutcome"] == "poutcome_0")
        + 0.5 * (frame["month"] == "month_3")
    )
    frame["customer_id"] = [f"c{i:06d}" for i in range(rows)]
    frame["converted"] = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return frame


def timed(func):
    """Wall seconds and result of ``func()``; CPU seconds of this process go to ``CPU``."""
    start, cpu = time.perf_counter(), time.process_time()
    value = func()
    CPU[func] = time.process_time() - cpu
    return time.perf_counter() - start, value


CPU: dict = {}


def fit_seconds(X, y, numeric, categorical, threads: int) -> tuple[float, float, int]:
    """Wall and CPU seconds of one default gradient boosting fit, and its boosting rounds."""
    pipeline = pipelines.build_pipeline("gradient_boosting", numeric, categorical)
    with threadpool_limits(limits=threads):
        start, cpu = time.perf_counter(), time.process_time()
        pipeline.fit(X, y)
        return (
            time.perf_counter() - start,
            time.process_time() - cpu,
            int(pipeline.named_steps["model"].n_iter_),
        )


def main() -> dict:
    frame = make_table()
    y = (frame["converted"] == "yes").astype(int).to_numpy()
    numeric = [f"num_{i}" for i in range(10)]
    categorical = ["job", "marital", "education", "contact", "month", "poutcome"]
    X = frame[numeric + categorical]
    figures = {"rows": ROWS, "columns": X.shape[1], "positive_rate": round(float(y.mean()), 4)}
    load = os.getloadavg()[0]
    figures["load_average_before"] = round(load, 2)
    wall, cpu, rounds = fit_seconds(X, y, numeric, categorical, 1)
    figures |= {
        "fit_seconds_1_thread": wall,
        "fit_cpu_seconds_1_thread": cpu,
        "boosting_rounds": rounds,
    }
    wall, cpu, _ = fit_seconds(X, y, numeric, categorical, 2)
    figures |= {"fit_seconds_2_threads": wall, "fit_cpu_seconds_2_threads": cpu}
    spec = {
        "algo": "gradient_boosting",
        "numeric": numeric,
        "categorical": categorical,
        "balance": "class_weight",
        "scaling": "standard",
        "seed": 0,
    }

    def cross_validate():
        return training.cross_validate_auc(spec, X, y, 5, 0)

    figures["cv5_seconds"], cv = timed(cross_validate)
    figures["cv5_cpu_seconds"] = CPU[cross_validate]
    figures["cv5_roc_auc_mean"] = cv["roc_auc_mean"]
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.duckdb"
        with store.connect(db) as con:
            con.register("frame_in", frame)
            con.execute("CREATE TABLE customers AS SELECT * FROM frame_in")
        figures["train_classifier_seconds"], result = timed(
            lambda: training.train_classifier("customers", target="converted", folds=0, db=db)
        )
        figures["test_roc_auc"] = result["metrics"]["test"]["roc_auc"]
        figures["test_pr_auc"] = result["metrics"]["test"]["pr_auc"]
        artifact, _ = registry.load_model(result["model_id"], db=db)
        figures["shap_2000_seconds"], figures["shap_method"] = shap_seconds(artifact)
    return figures


def shap_seconds(artifact) -> tuple[float, str]:
    """Global SHAP importance on 2,000 rows."""
    with pipelines.limit_threads():
        seconds, _ = timed(lambda: global_importance(artifact, sample=2000))
    return seconds, "personalization.propensity.shap.global_importance"


def report(figures: dict) -> None:
    targets = {
        "fit_seconds_1_thread": 5,
        "fit_seconds_2_threads": 5,
        "cv5_seconds": 30,
        "shap_2000_seconds": 5,
    }
    print(f"{'figure':<28}{'value':>12}{'target':>10}")
    for key, value in figures.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        target = f"< {targets[key]} s" if key in targets else ""
        print(f"{key:<28}{shown:>12}{target:>10}")


if __name__ == "__main__":
    results = main()
    report(results)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
