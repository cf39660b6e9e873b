"""One search engine for every model kind: grid, random or Bayesian (optuna) search over a space
given as data, maximising one metric that the caller measures on validation data.

A space maps a parameter to a list of choices (``[8, 16, 32]``; tuples such as ``(64, 32)`` are
choices too), to a range ``(low, high)`` (two ints give an int range, else a float range) or to
``(low, high, "log")``. The spaces the product searches live here, as data:
``RECOMMENDER_SPACES`` (one per recommender family, every search method),
``CLASSIFIER_SPACES`` (ranges for random and Bayesian search of each classifier family) and
``CLASSIFIER_GRIDS`` (the points a grid search of each classifier family tries).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from personalization.errors import BadInputError
from personalization.progress import Progress, report

SEARCHES = ("grid", "random", "bayes")
GRID_POINTS = 5

RECOMMENDER_SPACES: dict[str, dict[str, Any]] = {
    "svd": {"rank": (16, 512, "log"), "reg": (0.3, 30.0, "log")},
    "als": {
        "factors": (8, 128, "log"),
        "regularization": (0.001, 1.0, "log"),
        "alpha": (1.0, 100.0, "log"),
    },
    "itemknn": {"k": (10, 400, "log"), "shrink": (0.0, 100.0)},
    "ease": {"l2": (10.0, 5000.0, "log")},
    "trending": {"window_days": (1, 60, "log")},
}

CLASSIFIER_SPACES: dict[str, dict[str, Any]] = {
    "logreg": {"C": (1e-3, 100.0, "log")},
    "random_forest": {
        "min_samples_leaf": (1, 30),
        "max_features": ["sqrt", 0.2, 0.4, 0.6],
    },
    "gradient_boosting": {
        "learning_rate": (0.02, 0.3, "log"),
        "max_leaf_nodes": (8, 64),
        "min_samples_leaf": (5, 100),
        "l2_regularization": (0.0, 5.0),
    },
    "mlp": {
        "hidden_layer_sizes": [(32,), (64, 32), (128, 64)],
        "alpha": (1e-5, 1e-1, "log"),
        "learning_rate_init": (1e-4, 1e-2, "log"),
    },
}

CLASSIFIER_GRIDS: dict[str, dict[str, list]] = {
    "logreg": {"C": [0.01, 0.1, 1.0, 10.0]},
    "random_forest": {"min_samples_leaf": [1, 3, 10], "max_features": ["sqrt", 0.5]},
    "gradient_boosting": {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31, 63]},
    "mlp": {"hidden_layer_sizes": [(32,), (64, 32)], "alpha": [1e-4, 1e-3, 1e-2]},
}


def search_params(
    objective: Callable[[dict], Mapping[str, float]],
    space: Mapping[str, Any],
    method: str = "bayes",
    trials: int = 20,
    metric: str = "ndcg@10",
    seed: int = 0,
    on_trial: Callable[[dict], None] | None = None,
    progress: Progress = None,
    first: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Maximise ``objective(params)[metric]`` over ``space``; the caller measures on validation.

    ``grid`` tries the points of ``grid(space, first)`` up to ``trials``; ``random`` samples
    ``trials`` settings; ``bayes`` runs ``trials`` trials of optuna's TPE sampler (seeded, logging
    quiet). ``first`` (e.g. the defaults, restricted to the searched names) is tried before
    anything else, so the best found is never worse than it on validation. After each trial
    ``on_trial({"trial", "params", "metrics", "value", "seconds"})`` is called.

    Returns ``best_params``, ``best_metrics``, ``best_value``, ``metric`` and ``trials`` (that list;
    the first best wins a tie). Raises ``BadInputError`` for an unknown method, ``trials < 1``, an
    empty or malformed space, or a metric the objective does not return.
    """
    if method not in SEARCHES:
        raise BadInputError(f"search must be one of {', '.join(SEARCHES)}; got {method!r}")
    if trials < 1:
        raise BadInputError(f"trials must be 1 or more; got {trials}")
    if not space:
        raise BadInputError("The search space is empty; give at least one parameter to vary.")
    log: list[dict] = []
    planned = min(trials, len(grid(space, first))) if method == "grid" else trials

    def run(params: dict) -> float:
        start = time.perf_counter()
        metrics = dict(objective(dict(params)))
        if metric not in metrics:
            raise BadInputError(f"The metric {metric!r} is not among {', '.join(metrics)}")
        row = {
            "trial": len(log),
            "params": dict(params),
            "metrics": metrics,
            "value": float(metrics[metric]),
            "seconds": round(time.perf_counter() - start, 3),
        }
        log.append(row)
        if on_trial is not None:
            on_trial(row)
        message = f"trial {len(log)} of {planned}: {metric}={row['value']:.4f}"
        report(progress, len(log) / planned, message)
        return row["value"]

    if method == "bayes":
        _search_bayes(run, space, trials, seed, first)
    else:
        candidates = (
            grid(space, first) if method == "grid" else random_settings(space, trials, seed, first)
        )
        for params in candidates[:trials]:
            run(params)
    best = max(log, key=lambda r: r["value"])
    return {
        "best_params": best["params"],
        "best_metrics": best["metrics"],
        "best_value": best["value"],
        "metric": metric,
        "trials": log,
    }


def grid(space: Mapping[str, Any], first: Mapping[str, Any] | None = None) -> list[dict]:
    """Every combination of ``space`` (a range becomes ``GRID_POINTS`` points, evenly or
    log-spaced; ints stay ints), ``first`` at the front and not repeated."""
    axes = [spec if isinstance(spec, list) else _points(name, spec) for name, spec in space.items()]
    combos = [dict(zip(space, combo, strict=True)) for combo in itertools.product(*axes)]
    if first is None:
        return combos
    return [dict(first)] + [c for c in combos if c != dict(first)]


def random_settings(
    space: Mapping[str, Any], trials: int, seed: int = 0, first: Mapping[str, Any] | None = None
) -> list[dict]:
    """``trials`` settings drawn uniformly (log-uniformly for ``"log"`` ranges) from ``space``,
    seeded; ``first``, when given, is the first of them."""
    rng = np.random.default_rng(seed)
    drawn = [
        {name: _sample(rng, name, spec) for name, spec in space.items()} for _ in range(trials)
    ]
    return ([dict(first)] + drawn)[:trials] if first is not None else drawn


def _search_bayes(
    run: Callable[[dict], float],
    space: Mapping[str, Any],
    trials: int,
    seed: int,
    first: Mapping[str, Any] | None,
) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    if first is not None:
        study.enqueue_trial({name: _label(value) for name, value in first.items() if name in space})

    def objective(trial) -> float:
        return run({name: _suggest(trial, name, spec) for name, spec in space.items()})

    study.optimize(objective, n_trials=trials)


def _suggest(trial, name: str, spec: Any) -> Any:
    if isinstance(spec, list):
        labels = {_label(choice): choice for choice in spec}
        return labels[trial.suggest_categorical(name, list(labels))]
    low, high, log = _range(name, spec)
    if isinstance(low, int) and isinstance(high, int):
        return trial.suggest_int(name, low, high, log=log)
    return trial.suggest_float(name, float(low), float(high), log=log)


def _label(choice: Any) -> Any:
    """A choice as optuna stores it: tuples such as ``(64, 32)`` become ``"64-32"``."""
    return "-".join(map(str, choice)) if isinstance(choice, tuple) else choice


def _range(name: str, spec: Any) -> tuple[Any, Any, bool]:
    if not isinstance(spec, tuple) or len(spec) not in (2, 3) or spec[0] > spec[1]:
        raise BadInputError(
            f"The search space for {name!r} must be a list of choices or (low, high[, 'log']); "
            f"got {spec!r}"
        )
    return spec[0], spec[1], len(spec) == 3 and spec[2] == "log"


def _points(name: str, spec: tuple) -> list:
    low, high, log = _range(name, spec)
    values = np.geomspace(low, high, GRID_POINTS) if log else np.linspace(low, high, GRID_POINTS)
    if isinstance(low, int) and isinstance(high, int):
        return sorted({int(round(v)) for v in values})
    return [float(v) for v in values]


def _sample(rng: np.random.Generator, name: str, spec: Any) -> Any:
    if isinstance(spec, list):
        return spec[int(rng.integers(len(spec)))]
    low, high, log = _range(name, spec)
    if log:
        value = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    else:
        value = float(rng.uniform(low, high))
    if isinstance(low, int) and isinstance(high, int):
        return int(np.clip(round(value), low, high))
    return value
