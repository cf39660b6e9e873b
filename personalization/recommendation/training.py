"""Training, offline evaluation and tuning of recommenders on the events in DuckDB.

``train_recommender`` fits on all events, measures a quick holdout beside the popularity
baseline and saves a ``RecommenderArtifact`` (model, matrix, attributes, the pairs behind the
reasons) in the registry; ``evaluate_recommender`` and ``tune_recommender`` only measure.

The sequence families (``SEQUENCE_ALGORITHMS``) read the events ordered by time within users and
sessions (``sequences``; ``--param session_gap=MINUTES`` sets the inactivity gap that splits
sessions where the table has no ``session_id``, 30 by default) and their quick holdout is the
next-event one. ``evaluate_recommender(split="next-event")`` (or ``"rest-of-session"``) holds
out each user's last event (or the end of their last session), repeats counted as hits, and
measures HR@K, MRR@K and NDCG@K of the model beside popularity, the default SVD and EASE.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization import evaluation, registry, store, tuning
from personalization.errors import BadInputError, NotEnoughDataError
from personalization.progress import Progress, report, scaled
from personalization.recommendation.artifact import (
    CATEGORY_COLUMNS,
    PRICE_COLUMNS,
    TITLE_COLUMNS,
    RecommenderArtifact,
    check_k,
)
from personalization.recommendation.interactions import (
    DEFAULT_EVENT_WEIGHTS,
    RATING,
    EventCodes,
    Interactions,
    build_interactions,
    canonical_event_type,
    with_items,
)
from personalization.recommendation.models import (
    ALGORITHMS,
    SEQUENCE_ALGORITHMS,
    Recommender,
    make_recommender,
)
from personalization.recommendation.models.sasrec import require_torch
from personalization.recommendation.models.svd import best_setting
from personalization.recommendation.reasons import reason_inputs
from personalization.recommendation.sequences import (
    DEFAULT_GAP_MINUTES,
    build_sequences,
    read_sequence_events,
)
from personalization.store import events as store_events

MIN_INTERACTIONS = 20
AUTO_WEIGHTINGS = ("log", "binary", "bm25")
FEATURE_ALGOS = ("content", "hybrid")
EVAL_MAX_USERS = 5000
SEARCH_CELLS = 1e7
SEARCH_MIN_USERS = 300
AGE_FREE = ("svd", "ease", "als", "itemknn", "popularity")  # models that ignore age_days
SESSION_GAP = "session_gap"
SEQUENCE_BASELINES = ("popularity", "svd", "ease")
SEQUENCE_K = 20


def train_recommender(
    algo: str = "svd",
    params: Mapping[str, Any] | None = None,
    event_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    table: str = "events",
    name: str | None = None,
    db=None,
    progress: Progress = None,
) -> dict:
    """Fit ``algo`` on all events of ``table``, save it, and return what was done.

    Before the final fit a quick holdout (temporal 80/20 when there are timestamps, else random)
    measures the model beside the popularity baseline; those metrics are saved with the model.
    Good defaults: SVD chooses its rank itself; without a ``weighting`` param the service picks
    log, binary or bm25 by NDCG@10 on a validation split carved from the holdout's train part.
    Returns ``model_id``, ``algo``, ``params`` (including learned choices such as ``rank_``),
    ``n_users``, ``n_items``, ``nnz``, ``fit_seconds``, ``metrics`` (``ndcg@10``, ... and
    ``baseline`` with the same keys). Raises ``NotEnoughDataError`` for too few interactions.
    """
    params = dict(params or {})
    gap = _session_gap(params)
    _check_algo(algo, params)
    report(progress, 0.05, f"reading {table}")
    sequential = algo in SEQUENCE_ALGORITHMS
    with store.held(db, read_only=True):  # one opening of the file for these reads
        if sequential:
            events = read_sequence_events(table, gap, db=db)
        else:
            events = store_events.read_events(table, db=db)
        items, users = _attributes(table, db)
    weights = event_weights_for(event_weights)
    codes = None
    if sequential:
        inter = _interactions(events, weights, half_life_days)
    else:
        codes, inter = _codes(events, weights, half_life_days, with_age=algo not in AGE_FREE)
    if algo in FEATURE_ALGOS:
        inter = with_items(inter, items.index.astype(str))
    reasons = _beside(reason_inputs, events, inter, weights, codes)
    if sequential:
        report(progress, 0.15, "measuring on the latest events")
        metrics, preset = _quick_sequence_metrics(
            algo, params, events, weights, half_life_days, items
        )
        report(progress, 0.55, f"fitting {algo} on {inter.matrix.nnz} interactions")
        seqs = build_sequences(events, inter, weights)
        model, seconds = _fit(algo, params, inter, items, seqs, preset)
    else:
        report(
            progress,
            0.15,
            f"choosing the settings on a validation split of {inter.matrix.nnz:,} interactions",
        )

        def final(chosen: dict, preset) -> tuple[Recommender, float]:
            return _fit(algo, chosen, inter, items, None, preset)

        metrics, params, (model, seconds) = _quick_metrics(
            algo, params, events, weights, half_life_days, items, codes, final, progress
        )
    report(progress, 0.85, "saving the model")
    artifact = _artifact(
        model, algo, params, inter, weights, half_life_days, table, items, users, reasons.result()
    )
    artifact.metrics = metrics
    saved_params = {
        **_public_params(model),
        "event_weights": weights,
        "half_life_days": half_life_days,
        **({SESSION_GAP: gap} if sequential else {}),
    }
    with store.held(db):  # saving reads and writes the catalog a few times
        model_id = registry.save_model(
            artifact,
            "recommender",
            algo,
            saved_params,
            metrics,
            _fingerprint(table, inter),
            name=name,
            db=db,
        )
        standing = registry.standing(model_id, db=db)
    report(progress, 1.0, "done")
    return {
        "model_id": model_id,
        **standing,
        "algo": algo,
        "params": saved_params,
        "n_users": int(inter.matrix.shape[0]),
        "n_items": int(inter.matrix.shape[1]),
        "nnz": int(inter.matrix.nnz),
        "fit_seconds": round(seconds, 3),
        "metrics": metrics,
    }


def evaluate_recommender(
    algo: str = "svd",
    params: Mapping[str, Any] | None = None,
    event_weights: Mapping[str, float] | None = None,
    split: str = "temporal",
    test_size: float = 0.2,
    k: int = 10,
    folds: int | None = None,
    seed: int = 0,
    half_life_days: float | None = None,
    table: str = "events",
    db=None,
    progress: Progress = None,
) -> dict:
    """Offline evaluation of ``algo`` beside the popularity baseline.

    Without ``folds``: one split of the events (``random`` by user-item pair, ``temporal`` global
    cut-off, ``leave-last`` per user); metrics on the test users' items that are new to them.
    SVD without a ``weighting`` gets it chosen on a validation part of the train split.
    With ``folds`` (>= 2): k-fold cross-validation over the interactions (random split), the
    metrics being fold means, with ``metrics_std`` / ``baseline_std`` beside.
    Returns ``metrics`` and ``baseline`` (``precision@K``, ``recall@K``, ``ndcg@K``, ``map@K``,
    ``hit_rate@K``, ``mrr``, ``coverage``, ``novelty``, ``diversity``), ``fit_seconds``,
    ``split``, ``k``, ``n_test_users``. Raises ``BadInputError`` when ``k`` exceeds the catalogue.
    ``split="next-event"`` / ``"rest-of-session"``: see ``evaluate_sequences`` (metrics
    ``hr@K``, ``mrr@K``, ``ndcg@K``; ``baselines`` for popularity, SVD and EASE).
    """
    params = dict(params or {})
    gap = _session_gap(params)
    _check_algo(algo, params)
    k = check_k(k)
    weights = event_weights_for(event_weights)
    report(progress, 0.05, f"reading {table}")
    if split in evaluation.SEQUENCE_SPLITS:
        events = read_sequence_events(table, gap, db=db)
        _check_k_fits(k, _interactions(events, weights, half_life_days).matrix.shape[1])
        items, _ = _attributes(table, db)
        result = evaluate_sequences(
            algo, params, events, split, k, weights, half_life_days, items, seed, progress
        )
        return {**result, "split": split, "k": k}
    events = store_events.read_events(table, db=db)
    inter = _interactions(events, weights, half_life_days)
    _check_k_fits(k, inter.matrix.shape[1])
    if folds:
        items, _ = _attributes(table, db)
        return _cross_validate(algo, params, inter, k, int(folds), seed, items, progress)
    report(progress, 0.1, f"{split} split")
    train_ev, test_ev = evaluation.split_events(events, split, test_size, seed)
    items, _ = _attributes(table, db)
    params, preset = _choose_settings(
        algo, params, train_ev, split, weights, half_life_days, items, seed
    )
    result = _holdout(
        algo, params, train_ev, test_ev, weights, half_life_days, k, seed, items, preset
    )
    report(progress, 1.0, "done")
    return {**result, "split": split, "test_size": test_size, "k": k}


def tune_recommender(
    algo: str = "svd",
    search: str = "bayes",
    trials: int = 20,
    space: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    event_weights: Mapping[str, float] | None = None,
    split: str = "temporal",
    test_size: float = 0.2,
    k: int = 10,
    metric: str | None = None,
    seed: int = 0,
    half_life_days: float | None = None,
    table: str = "events",
    on_trial: Callable[[dict], None] | None = None,
    db=None,
    progress: Progress = None,
) -> dict:
    """Search ``space`` (default ``tuning.RECOMMENDER_SPACES[algo]``) on a validation split with
    ``tuning.search_params`` (``search``: grid, random or bayes), then test once.

    The events are split into train and test by ``split``; the train part is split again the
    same way into fit and validation parts. Every trial fits on the fit part and is scored on
    validation (``metric``, default ``ndcg@K``); the test part is used only once, for the best
    setting refitted on the whole train part. ``params`` are fixed and not searched.
    Returns ``best_params``, ``best_metrics`` (validation), ``test_metrics``, ``baseline`` (test),
    ``trials`` (each ``trial``, ``params``, ``metrics``, ``value``, ``seconds``), ``metric``.
    """
    fixed = dict(params or {})
    _check_algo(algo, fixed)
    k = check_k(k)
    metric = metric or f"ndcg@{k}"
    space = _space(algo, space, fixed)
    weights = event_weights_for(event_weights)
    events = store_events.read_events(table, db=db)
    _check_k_fits(k, _interactions(events, weights, half_life_days).matrix.shape[1])
    train_ev, test_ev = evaluation.split_events(events, split, test_size, seed)
    fit_ev, val_ev = evaluation.split_events(train_ev, split, test_size, seed + 1)
    data = _eval_data(fit_ev, val_ev, weights, half_life_days, seed)
    items, _ = _attributes(table, db)

    def objective(trial_params: dict) -> dict:
        model, _ = _fit(algo, {**fixed, **trial_params}, data["inter"], items)
        return _score_model(model, data, k)

    found = tuning.search_params(
        objective, space, search, trials, metric, seed, on_trial, scaled(progress, 0.0, 0.9)
    )
    best_params = {**fixed, **found["best_params"]}
    report(progress, 0.92, "refitting the best setting and testing it once")
    final = _holdout(algo, best_params, train_ev, test_ev, weights, half_life_days, k, seed, items)
    report(progress, 1.0, "done")
    return {
        "best_params": best_params,
        "best_metrics": found["best_metrics"],
        "test_metrics": final["metrics"],
        "baseline": final["baseline"],
        "metric": metric,
        "search": search,
        "trials": found["trials"],
    }


# ---------------------------------------------------------------- fitting and evaluation helpers


def _check_algo(algo: str, params: dict) -> None:
    if algo not in ALGORITHMS:
        raise BadInputError(
            f"Unknown recommender {algo!r}; choose one of: {', '.join(ALGORITHMS)}."
        )
    make_recommender(algo, **params)
    if algo == "sasrec":
        require_torch()


def _session_gap(params: dict) -> float:
    """Pop ``session_gap`` (minutes of inactivity that end a session) from ``params``."""
    value = params.pop(SESSION_GAP, DEFAULT_GAP_MINUTES)
    try:
        gap = float(value)
    except (TypeError, ValueError):
        gap = -1.0
    if not gap > 0:
        raise BadInputError(
            f"session_gap must be a positive number of minutes; got {value!r} "
            f"(e.g. --param session_gap=30)."
        )
    return gap


def _check_k_fits(k: int, n_items: int) -> None:
    if k > n_items:
        raise BadInputError(
            f"k={k} is larger than the catalogue of {n_items} items; metrics at k would be "
            f"meaningless. Use -k {n_items} or less."
        )


def event_weights_for(event_weights: Mapping[str, float] | None) -> dict[str, float]:
    """``DEFAULT_EVENT_WEIGHTS`` overridden by ``event_weights`` (numbers); ``BadInputError``
    names a weight that is not a number."""
    out = dict(DEFAULT_EVENT_WEIGHTS)
    for key, value in (event_weights or {}).items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            raise BadInputError(
                f"The weight of event type {key!r} must be a number; got {value!r}."
            ) from None
    return out


def _interactions(
    events: pd.DataFrame, weights: dict, half_life_days: float | None, now=None
) -> Interactions:
    _check_weights_known(events, weights)
    inter = build_interactions(events, weights, half_life_days, now=now)
    _check_enough(inter, len(events))
    return inter


def _codes(
    events: pd.DataFrame, weights: dict, half_life_days: float | None, with_age: bool = True
) -> tuple[EventCodes | None, Interactions]:
    """The per-event codes (built once, reused by every split part) and all the interactions
    (without ``age_days`` unless ``with_age``: only the models outside ``AGE_FREE`` use them);
    no codes (each part built on its own) for a frame whose index does not name its rows."""
    if not events.index.is_unique:
        return None, _interactions(events, weights, half_life_days)
    _check_weights_known(events, weights)
    codes = EventCodes(events, weights, half_life_days)
    inter = codes.interactions(with_age=with_age)
    _check_enough(inter, len(events))
    return codes, inter


def _event_type_names(events: pd.DataFrame) -> set[str]:
    """The distinct event types present (vectorised: a Python set over millions of rows is slow)."""
    if "event_type" not in events:
        return set()
    return {str(t) for t in events["event_type"].dropna().unique()}


def _check_weights_known(events: pd.DataFrame, weights: dict) -> None:
    present = _event_type_names(events)
    known = set(DEFAULT_EVENT_WEIGHTS) | {RATING} | present
    unknown = sorted(set(weights) - known)
    if unknown:
        raise BadInputError(
            f"Weights were given for unknown event types: {', '.join(unknown)}; the events have "
            f"{', '.join(sorted(present)) or 'no event_type column'}. Use one of those names."
        )


def _check_enough(inter: Interactions, n_events: int) -> None:
    n_users, n_items = inter.matrix.shape
    if inter.matrix.nnz < MIN_INTERACTIONS or n_users < 2 or n_items < 2:
        raise NotEnoughDataError(
            f"Too few interactions to train a recommender: {n_events} events give "
            f"{inter.matrix.nnz} user-item interactions ({n_users} users, {n_items} items); at "
            f"least {MIN_INTERACTIONS} interactions between 2 or more users and items are needed. "
            f"Load more events, e.g. the sample data."
        )


def _fit(
    algo: str, params: dict, inter: Interactions, items: pd.DataFrame, seqs=None, preset=None
) -> tuple[Recommender, float]:
    """Fit ``algo``; ``preset`` (rank, reg, popularity_reg, ``SearchStart``), chosen by
    ``_choose_settings`` on the shared validation split, replaces the SVD's own validation of its
    ``"auto"`` settings and seeds its SVD."""
    model = make_recommender(algo, **params)
    if preset is not None and hasattr(model, "use_settings"):
        model.use_settings(
            *(p.for_items(inter) if isinstance(p, SearchStart) else p for p in preset)
        )
    start = time.perf_counter()
    if seqs is not None and algo in SEQUENCE_ALGORITHMS:
        model.fit_sequences(seqs, inter.matrix)
    else:
        model.fit(
            inter.matrix,
            item_features=_item_frame(items, inter.item_ids),
            age_days=inter.age_days,
        )
    return model, time.perf_counter() - start


def _item_frame(items: pd.DataFrame, item_ids: np.ndarray) -> pd.DataFrame | None:
    """Item attributes aligned with the matrix columns, for the models that use them."""
    if items.empty:
        return None
    return items.reindex(pd.Index(item_ids).astype(str))


def _public_params(model: Recommender) -> dict:
    params = {k: v for k, v in model.get_params().items() if _plain(v)}
    learned_names = (
        ("rank_", int),
        ("reg_", float),
        ("popularity_reg_", float),
        ("repeat_weight_", float),
        ("family_", str),
        ("epochs_", int),
    )
    for learned, kind in learned_names:
        if hasattr(model, learned):
            params[learned] = kind(getattr(model, learned))
    return params


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | tuple | list)


def _eval_data(train_ev, test_ev, weights, half_life_days, seed, codes=None, ageless=False) -> dict:
    """Train interactions and the aligned binary test matrix of items new to each user.

    With ``codes`` (``EventCodes`` of the frame both parts were cut from, or of the events
    whose ``codes.split_frame()`` they were cut from) neither part's ids and types are read
    again; ``ageless`` skips the pairs' ages (no model fitted on it uses them)."""
    if codes is not None:
        inter = codes.interactions(codes.rows_of(train_ev), with_age=not ageless)
        _check_enough(inter, len(train_ev))
    else:
        inter = _interactions(train_ev, weights, half_life_days)
    try:
        if codes is not None:
            tested = codes.interactions(codes.rows_of(test_ev), with_age=False, decay=False)
        else:
            present = _event_type_names(test_ev)
            test_weights = {
                t: w for t, w in weights.items() if t in present or t in DEFAULT_EVENT_WEIGHTS
            }
            tested = build_interactions(test_ev, test_weights)
    except NotEnoughDataError:
        tested = None
    if tested is None:
        test = sp.csr_matrix(inter.matrix.shape, dtype=np.float32)
    else:
        test = evaluation.align(
            tested.matrix, tested.user_ids, tested.item_ids, inter.user_ids, inter.item_ids
        )
    test = evaluation.unseen_relevant(test, inter.matrix)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if len(users) == 0:
        raise NotEnoughDataError(
            f"The test part ({len(test_ev)} events) has no user who is in the training part and "
            f"touched an item new to them there; use a larger --test-size or --split random."
        )
    if len(users) > EVAL_MAX_USERS:
        users = np.sort(np.random.default_rng(seed).choice(users, EVAL_MAX_USERS, replace=False))
    return {"inter": inter, "test": test, "users": users}


def _score_model(model: Recommender, data: dict, k: int) -> dict:
    inter, users = data["inter"], data["users"]
    recs, _ = model.recommend(
        users, inter.matrix, n=min(k, inter.matrix.shape[1]), filter_seen=True
    )
    return evaluation.evaluate_recs(recs, data["test"], inter.matrix, k, users)


def _holdout(
    algo,
    params,
    train_ev,
    test_ev,
    weights,
    half_life_days,
    k,
    seed,
    items,
    preset=None,
    codes=None,
) -> dict:
    data = _eval_data(train_ev, test_ev, weights, half_life_days, seed, codes, algo in AGE_FREE)
    model, seconds = _fit(algo, params, data["inter"], items, preset=preset)
    baseline, _ = _fit("popularity", {}, data["inter"], items)
    return {
        "metrics": _score_model(model, data, k),
        "baseline": _score_model(baseline, data, k),
        "fit_seconds": round(seconds, 3),
        "n_test_users": int(len(data["users"])),
        "params": _public_params(model),
    }


def _quick_metrics(
    algo, params, events, weights, half_life_days, items, codes, final: Callable, progress=None
) -> tuple[dict, dict, Any]:
    """Holdout metrics (80/20, temporal when there are timestamps), the params to fit with, and
    ``final(params, preset)`` (the fit on every event) run in a second thread while the holdout
    is measured: both use the settings ``_choose_settings`` chose on the training part (the SVD
    ``preset``), so the final fit waits for nothing else and the two share the machine's cores."""
    method = "temporal" if _has_times(events) else "random"
    whole = events if codes is None else codes.split_frame(evaluation.split_columns(method))
    try:
        train_ev, test_ev = evaluation.split_events(whole, method, 0.2, 0)
        params, preset = _choose_settings(
            algo,
            params,
            train_ev,
            method,
            weights,
            half_life_days,
            items,
            0,
            codes,
            scaled(progress, 0.15, 0.6),
        )
    except NotEnoughDataError as exc:
        return {"note": f"no holdout metrics: {exc}"}, params, final(params, None)
    report(progress, 0.6, "fitting on every interaction while measuring on the holdout split")
    with ThreadPoolExecutor(max_workers=1) as pool:
        fitting = pool.submit(final, params, preset)
        try:
            result = _holdout(
                algo,
                params,
                train_ev,
                test_ev,
                weights,
                half_life_days,
                10,
                0,
                items,
                preset,
                codes,
            )
        except NotEnoughDataError as exc:
            return {"note": f"no holdout metrics: {exc}"}, params, fitting.result()
        metrics = {**result["metrics"], "baseline": result["baseline"], "split": method}
        return metrics, params, fitting.result()


def _quick_sequence_metrics(algo, params, events, weights, half_life_days, items):
    """Next-event holdout metrics at ``SEQUENCE_K`` of a sequence family beside popularity, and
    the ``preset`` (family, repeat weight) that ``--algo sequence`` chose there, for the final
    fit to reuse (None for a single family, or when the holdout could not be made)."""
    try:
        result = evaluate_sequences(
            algo,
            params,
            events,
            "next-event",
            SEQUENCE_K,
            weights,
            half_life_days,
            items,
            0,
            baselines=("popularity",),
        )
    except NotEnoughDataError as exc:
        return {"note": f"no holdout metrics: {exc}"}, None
    chosen = result["params"]
    preset = None
    if algo == "sequence" and "family_" in chosen and "repeat_weight_" in chosen:
        preset = (chosen["family_"], chosen["repeat_weight_"])
    metrics = {**result["metrics"], "baseline": result["baseline"], "split": "next-event"}
    return metrics, preset


def evaluate_sequences(
    algo: str,
    params: Mapping[str, Any],
    events: pd.DataFrame,
    split: str = "next-event",
    k: int = SEQUENCE_K,
    weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    items: pd.DataFrame | None = None,
    seed: int = 0,
    progress: Progress = None,
    baselines: tuple[str, ...] = SEQUENCE_BASELINES,
) -> dict:
    """The sequence protocol on ``events`` ordered by user and time (``read_sequence_events``).

    ``next-event``: each user's last event is held out; the models fit on the rest and rank
    every item for up to ``EVAL_MAX_USERS`` of those users, repeats allowed (an item the user
    had before counts as a hit when it is the next one). ``rest-of-session``: the second half of
    each user's last session is held out and every item of it is relevant. Returns ``metrics``
    (``hr@K``, ``mrr@K``, ``ndcg@K``; ``recall@K`` too for rest-of-session) of ``algo``,
    ``baseline`` (popularity), ``baselines`` (each of ``baselines``: its metrics and
    ``fit_seconds``, or ``skipped`` with why), ``fit_seconds``, ``n_test_users``, ``params``.
    """
    weights = dict(weights or event_weights_for(None))
    items = pd.DataFrame() if items is None else items
    train_ev, test_ev = evaluation.split_events(events, split)
    inter = _interactions(train_ev, weights, half_life_days)
    seqs = build_sequences(train_ev, inter, weights)
    users, truth = _held_out(inter, test_ev, split, seed)
    found: dict[str, dict] = {}
    steps = [algo, *[b for b in baselines if b != algo]]
    for step, name in enumerate(steps):
        report(progress, 0.1 + 0.85 * step / len(steps), f"fitting {name}")
        chosen = dict(params) if name == algo else {}
        try:
            model, seconds = _fit(name, chosen, inter, items, seqs)
        except BadInputError as exc:
            if name == algo:
                raise
            found[name] = {"skipped": str(exc).splitlines()[0]}
            continue
        start = time.perf_counter()
        recs, _ = model.recommend(
            users, inter.matrix, n=min(k, inter.matrix.shape[1]), filter_seen=False
        )
        per_user = (time.perf_counter() - start) / max(1, len(users))
        found[name] = {
            **_sequence_scores(recs, truth, split, k),
            "fit_seconds": round(seconds, 3),
            "ms_per_user": round(1000 * per_user, 3),
        }
        if name == algo:
            found[name]["params"] = _public_params(model)
    mine = found[algo]
    report(progress, 1.0, "done")
    return {
        "metrics": {key: v for key, v in mine.items() if key not in ("fit_seconds", "params")},
        "baseline": found.get("popularity", {}),
        "baselines": {name: found[name] for name in steps if name != algo},
        "fit_seconds": mine["fit_seconds"],
        "n_test_users": int(len(users)),
        "params": mine.get("params", {}),
    }


def _held_out(inter: Interactions, test_ev: pd.DataFrame, split: str, seed: int):
    """Test users (matrix rows, sorted, at most ``EVAL_MAX_USERS``) and their truth: the held-out
    item column (-1 when the item is new to the catalogue) for next-event, a users x items CSR
    of the held-out items for rest-of-session."""
    rows = inter.user_indices(test_ev["user_id"].to_numpy())
    cols = inter.item_indices(test_ev["item_id"].to_numpy())
    known = rows >= 0
    users = np.unique(rows[known])
    if len(users) == 0:
        raise NotEnoughDataError(
            "No held-out event belongs to a user with events in the training part; "
            "load more events per user."
        )
    if len(users) > EVAL_MAX_USERS:
        users = np.sort(np.random.default_rng(seed).choice(users, EVAL_MAX_USERS, replace=False))
    if split == "next-event":
        truth = np.full(inter.matrix.shape[0], -1, dtype=np.int64)
        truth[rows[known]] = cols[known]
        return users, truth[users]
    ok = known & (cols >= 0)
    test = sp.csr_matrix(
        (np.ones(ok.sum(), dtype=np.float32), (rows[ok], cols[ok])), shape=inter.matrix.shape
    )
    test.data[:] = 1.0
    return users, test


def _sequence_scores(recs: np.ndarray, truth, split: str, k: int) -> dict:
    if split == "next-event":
        return evaluation.next_event_metrics(evaluation.ranks_in(recs, truth), k)
    test = (truth > 0).astype(np.float32)
    found = evaluation.ranking_metrics(recs, test, k, None)
    return {
        f"hr@{k}": found[f"hit_rate@{k}"],
        f"mrr@{k}": found["mrr"],
        f"ndcg@{k}": found[f"ndcg@{k}"],
        f"recall@{k}": found[f"recall@{k}"],
    }


def _auto_params(algo, params, train_ev, method, weights, half_life_days, items, seed) -> dict:
    """``params`` with what ``_choose_settings`` chose for SVD's ``weighting`` filled in."""
    found, _ = _choose_settings(
        algo, params, train_ev, method, weights, half_life_days, items, seed
    )
    return found


def _choose_settings(
    algo, params, train_ev, method, weights, half_life_days, items, seed, codes=None, progress=None
) -> tuple[dict, tuple[int, float, float] | None]:
    """For SVD, every setting left open (``weighting`` when not given, and ``rank``, ``reg``,
    ``popularity_reg`` on ``"auto"``) chosen together by NDCG@10 on ONE validation split carved
    from ``train_ev`` (never the test part): ``SVDRecommender.search`` computes one randomized SVD
    per weighting and popularity setting at the largest rank and scores every rank and shrinkage
    from it, on up to ``SEARCH_CELLS`` / n_items validation users. Returns the params (with the
    chosen ``weighting``) and the ``preset`` (rank, reg, popularity_reg, ``SearchStart``) that
    later fits reuse (None when nothing was chosen, or the split is too small: the model then
    validates itself)."""
    if algo != "svd":
        return params, None
    model = make_recommender(algo, **params)
    open_settings = [model.rank, model.reg, model.popularity_reg]
    if "weighting" in params and not any(v in (None, "auto") for v in open_settings):
        return params, None
    try:
        fit_ev, val_ev = evaluation.split_events(train_ev, method, 0.2, seed + 1)
        data = _eval_data(fit_ev, val_ev, weights, half_life_days, seed, codes, True)
    except NotEnoughDataError:
        return params, None
    matrix = data["inter"].matrix
    users = data["users"]
    cap = max(SEARCH_MIN_USERS, int(SEARCH_CELLS // matrix.shape[1]))
    if len(users) > cap:
        users = np.sort(np.random.default_rng(seed).choice(users, cap, replace=False))
    weightings = (params["weighting"],) if "weighting" in params else AUTO_WEIGHTINGS
    scores = model.search(matrix, users, data["test"][users], weightings, progress)
    weighting, rank, reg, pop = best_setting(scores)
    start = SearchStart(model.best_vectors_, data["inter"].item_ids)
    return {**params, "weighting": weighting}, (rank, reg, pop, start)


class SearchStart:
    """The item vectors of the SVD the search chose from (``SVDRecommender.best_vectors_``) and
    the items of its matrix: later fits of similar matrices start their SVD from them."""

    def __init__(self, vectors: np.ndarray, item_ids: np.ndarray) -> None:
        self.vectors, self.item_ids = vectors, item_ids

    def for_items(self, inter: Interactions) -> np.ndarray:
        """The vectors on the item columns of ``inter`` (zero for an item the search did not
        see), placed through its item index."""
        cols = inter.item_indices(self.item_ids)
        out = np.zeros((inter.matrix.shape[1], self.vectors.shape[1]), dtype=np.float32)
        known = cols >= 0
        out[cols[known]] = self.vectors[known]
        return out


def _cross_validate(algo, params, inter, k, folds, seed, items, progress) -> dict:
    seconds: list[float] = []

    def run(name: str, chosen: dict) -> Callable:
        def evaluate(train, test):
            fold = Interactions(train, inter.user_ids, inter.item_ids)
            model, took = _fit(name, chosen, fold, items)
            if name == algo:
                seconds.append(took)
            relevant = evaluation.unseen_relevant(test, train)
            users = np.flatnonzero(np.diff(relevant.indptr) > 0)
            return _score_model(model, {"inter": fold, "test": relevant, "users": users}, k)

        return evaluate

    model_cv = evaluation.cross_validate(run(algo, params), inter.matrix, folds, seed, progress)
    base_cv = evaluation.cross_validate(run("popularity", {}), inter.matrix, folds, seed)
    return {
        "metrics": model_cv["mean"],
        "metrics_std": model_cv["std"],
        "baseline": base_cv["mean"],
        "baseline_std": base_cv["std"],
        "fit_seconds": round(float(np.mean(seconds)), 3),
        "split": "random",
        "folds": folds,
        "k": k,
    }


def _space(algo: str, space: Mapping[str, Any] | None, fixed: dict) -> dict:
    accepted = set(make_recommender(algo).get_params())
    chosen = (
        dict(space)
        if space
        else {
            name: spec
            for name, spec in tuning.RECOMMENDER_SPACES.get(algo, {}).items()
            if name in accepted
        }
    )
    chosen = {name: spec for name, spec in chosen.items() if name not in fixed}
    unknown = sorted(set(chosen) - accepted)
    if unknown:
        raise BadInputError(
            f"{algo} has no parameter {', '.join(unknown)} to search; "
            f"it takes: {', '.join(sorted(accepted))}."
        )
    if not chosen:
        raise BadInputError(
            f"{algo} has nothing to tune; choose another algorithm or give a space."
        )
    return chosen


def _has_times(events: pd.DataFrame) -> bool:
    return "timestamp" in events and events["timestamp"].notna().sum() >= 2


def _fingerprint(table: str, inter: Interactions) -> str:
    return registry.fingerprint(
        table,
        inter.matrix.shape,
        int(inter.matrix.nnz),
        round(float(inter.matrix.sum()), 3),
        inter.now,
    )


# ---------------------------------------------------------------- artifact


def _beside(task: Callable, *args) -> Future:
    """``task(*args)`` started in a thread of its own, for work that needs nothing the fitting
    computes (the reasons' inputs: at 20M events 4 s of single-threaded numpy that would
    otherwise wait for the fits, with one of the two cores idle through much of them)."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(task, *args)
    finally:
        pool.shutdown(wait=False)


def _artifact(model, algo, params, inter, weights, half_life_days, table, items, users, reasons):
    return RecommenderArtifact(
        model=model,
        algo=algo,
        params=dict(params),
        interactions=inter,
        event_weights=weights,
        half_life_days=half_life_days,
        table=table,
        items=items,
        users=users,
        **reasons,
    )


def _attributes(table: str, db) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item and user attributes; without an items table, item columns kept in the events."""
    items = store_events.read_attributes("items", "item_id", db=db)
    if items.empty:
        items = _items_from_events(table, db)
    users = store_events.read_attributes("users", "user_id", db=db)
    return items, users


def _items_from_events(table: str, db) -> pd.DataFrame:
    present = [name for name, _ in store.table_columns(table, db=db)]
    wanted = [c for c in TITLE_COLUMNS + CATEGORY_COLUMNS + PRICE_COLUMNS if c in present]
    if not wanted:
        return pd.DataFrame(index=pd.Index([], name="item_id", dtype=object))
    frame = store_events.read_events(table, columns=["item_id", *wanted], db=db)
    frame = frame[frame["item_id"].notna()]
    frame["item_id"] = frame["item_id"].astype(str)
    return frame.groupby("item_id", sort=False).first()


# ---------------------------------------------------------------- the Train page's flow, as one call

TUNE_SHARE = 0.7


def tune_and_train(
    algo: str = "svd",
    search: str = "none",
    trials: int = 20,
    params: Mapping[str, Any] | None = None,
    event_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    table: str = "events",
    name: str | None = None,
    on_trial: Callable[[dict], None] | None = None,
    db=None,
    progress: Progress = None,
) -> dict:
    """Tune ``algo`` when ``search`` is not ``none`` (``tune_recommender``: ``trials`` settings on a
    validation split, each reported to ``on_trial``), then train it with the best ``params`` found
    on all events and save it (``train_recommender``).

    Returns ``train_recommender``'s result with the popularity ``baseline`` next to ``metrics``
    (both holdout metrics with the same keys), and ``tuning`` (``best_params``, ``best_metrics``,
    ``metric``, ``trials``) when tuned. ``progress`` hears 0..``TUNE_SHARE`` for tuning.
    """
    params = dict(params or {})
    common = {"event_weights": event_weights, "half_life_days": half_life_days, "table": table}
    tuned = None
    if search != "none":
        tuned = tune_recommender(
            algo=algo,
            search=search,
            trials=trials,
            params=params,
            on_trial=on_trial,
            db=db,
            progress=scaled(progress, 0.0, TUNE_SHARE),
            **common,
        )
        params = dict(tuned.get("best_params") or params)
    start = TUNE_SHARE if tuned else 0.0
    trained = train_recommender(
        algo=algo, params=params, name=name, db=db, progress=scaled(progress, start, 1.0), **common
    )
    metrics = dict(trained.get("metrics") or {})
    result = {**trained, "baseline": metrics.pop("baseline", {}), "metrics": metrics}
    if tuned:
        result["tuning"] = {
            k: tuned[k] for k in ("best_params", "best_metrics", "metric", "trials")
        }
    return result


def chosen_settings(params: Mapping[str, Any]) -> str:
    """What a model left on ``auto`` chose for itself, as people read it: ``"rank 512 (hidden
    tastes), shrinkage 3, best-seller damping 0.3, log weights"``; empty when nothing was chosen.
    ``params`` are a saved model's params (``train_recommender``'s ``params``)."""
    parts = []
    if params.get("rank") in (None, "auto") and "rank_" in params:
        parts.append(f"rank {params['rank_']} (hidden tastes)")
    if params.get("reg") in (None, "auto") and "reg_" in params:
        parts.append(f"shrinkage {params['reg_']:g}")
    if params.get("popularity_reg") in (None, "auto") and "popularity_reg_" in params:
        parts.append(f"best-seller damping {params['popularity_reg_']:g}")
    if params.get("weighting"):
        parts.append(f"{params['weighting']} weights")
    return ", ".join(parts)


def event_weight_defaults(present: list[str]) -> dict[str, float]:
    """The event types of ``present`` to weigh, in order (the ones of ``DEFAULT_EVENT_WEIGHTS``
    first, then the others sorted; ratings left out: they weigh their own value), each with its
    default weight (a synonym such as ``addtocart`` takes its type's; an unknown type 1).
    Without ``present``, the default types."""
    names = [str(e) for e in present] or list(DEFAULT_EVENT_WEIGHTS)
    ordered = [e for e in DEFAULT_EVENT_WEIGHTS if e in names]
    ordered += sorted(e for e in set(names) if e not in DEFAULT_EVENT_WEIGHTS)
    return {
        e: float(DEFAULT_EVENT_WEIGHTS.get(canonical_event_type(e), 1.0))
        for e in ordered
        if e != RATING
    }
