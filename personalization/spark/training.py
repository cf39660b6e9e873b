"""Training on Spark: the default SVD (``spark.svd``: the local model's randomized SVD with its
matrix products on the cluster) and implicit ALS with Spark MLlib, on the same weighted, decayed
matrix as local training, saved in the product's own artifact format.

The events (a Parquet dataset of ``spark.ingest``, or a DuckDB table) are cut by user across the
cluster and each part is weighed by the library's own ``build_interactions`` (the same event
weights, synonyms, ratings, returns and half-life decay, with ``now`` the latest timestamp of all
the events), so every (user, item) pair gets exactly the weight local training gives it. MLlib's
ALS (``implicitPrefs``: confidence ``1 + alpha * r``) learns the factors on the cluster; they are
stored in the library's ``ALSRecommender`` with the id maps and the matrix, so ``recommend``, the
dashboard and the REST service serve the model in-process like any other.

MLlib scales the regularisation of each user and item by its number of pairs (ALS-WR), so it is
given ``regularization`` divided by the mean number of pairs per user: an average user is
regularised as the local model regularises every user, and ``--param regularization`` means about
the same on both engines (the saved ``regularization_`` folds new users in as locally). Left unset, ``regularization`` and ``alpha`` are chosen from ``GRID``
by NDCG@10 on a validation split carved from the training part, as the local models choose theirs.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization import evaluation, registry, store
from personalization.errors import BadInputError, NotEnoughDataError, NotFoundError
from personalization.recommendation.artifact import RecommenderArtifact, check_k
from personalization.recommendation.interactions import (
    DEFAULT_EVENT_WEIGHTS,
    RATING,
    Interactions,
    build_interactions,
)
from personalization.recommendation.models import ALSRecommender, make_recommender
from personalization.recommendation.models.svd import best_setting
from personalization.recommendation.reasons import reason_inputs
from personalization.recommendation.training import (
    AUTO_WEIGHTINGS,
    EVAL_MAX_USERS,
    MIN_INTERACTIONS,
    SEARCH_CELLS,
    SEARCH_MIN_USERS,
    event_weights_for,
)
from personalization.spark import svd as spark_svd
from personalization.spark.session import spark_session
from personalization.store import events as store_events
from personalization.store import parquet_tables

ALGOS = ("svd", "als")
EVENT_COLUMNS = ("user_id", "item_id", "event_type", "timestamp", "value", "session_id")
PAIR_SCHEMA = "user_id string, item_id string, weight float, age double"
DEFAULTS = {"factors": 64, "regularization": 0.01, "alpha": 1.0, "iterations": 15}
GRID = {"regularization": (0.01, 0.1), "alpha": (1.0, 10.0)}
SPLITS = ("temporal", "random")
QUICK_K = 10


# ---------------------------------------------------------------- the events and their weights


def read_events(spark, table: str, db=None):
    """The events of ``table`` as a Spark frame: its Parquet dataset when ``spark.ingest`` wrote
    one, else the DuckDB table of that name; ``NotFoundError`` when neither exists."""
    record = parquet_tables.parquet_dataset(table, db)
    if record is not None:
        frame = spark.read.parquet(record["path"])
        return frame.select(*[c for c in EVENT_COLUMNS if c in frame.columns])
    if store.table_exists(table, db):
        events = store_events.read_events(table, db=db)
        if "timestamp" in events:
            events["timestamp"] = pd.to_datetime(events["timestamp"])
        return spark.createDataFrame(events)
    raise NotFoundError(
        f"There is no table or Parquet dataset {table!r}; load one with: python -m "
        f"personalization ingest FOLDER --engine spark --table {table}"
    )


def check_weights_known(events, weights: dict) -> None:
    """``BadInputError`` for a weight given to a type neither default nor in the events."""
    present: set[str] = set()
    if not set(weights) - set(DEFAULT_EVENT_WEIGHTS) - {RATING}:
        return
    if "event_type" in events.columns:
        rows = events.select("event_type").where("event_type IS NOT NULL").distinct().collect()
        present = {str(r[0]) for r in rows}
    unknown = sorted(set(weights) - set(DEFAULT_EVENT_WEIGHTS) - {RATING} - present)
    if unknown:
        raise BadInputError(
            f"Weights were given for unknown event types: {', '.join(unknown)}; the events have "
            f"{', '.join(sorted(present)) or 'no event_type column'}. Use one of those names."
        )


def latest_time(events) -> pd.Timestamp | None:
    """The latest timestamp of ``events`` (None without timestamps)."""
    if "timestamp" not in events.columns:
        return None
    found = events.agg({"timestamp": "max"}).collect()[0][0]
    return None if found is None else pd.Timestamp(found)


def weigh_partition(weights: dict, half_life_days: float | None, now):
    """The ``mapInPandas`` function: the events of whole users in, their weighted pairs out
    (``PAIR_SCHEMA``), by the library's ``build_interactions``."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        events = pd.concat(list(batches), ignore_index=True)
        if events.empty:
            return
        present = set()
        if "event_type" in events:
            present = {str(t) for t in events["event_type"].dropna().unique()}
        known = set(DEFAULT_EVENT_WEIGHTS) | {RATING} | present
        mine = {t: w for t, w in weights.items() if t in known}
        try:
            inter = build_interactions(events, mine, half_life_days, now=now)
        except NotEnoughDataError:
            return
        coo = inter.matrix.tocoo()
        age = np.full(coo.nnz, np.nan)
        if inter.age_days is not None:
            age = np.asarray(inter.age_days[coo.row, coo.col], dtype=np.float64).ravel()
        yield pd.DataFrame(
            {
                "user_id": np.asarray(inter.user_ids, dtype=object)[coo.row],
                "item_id": np.asarray(inter.item_ids, dtype=object)[coo.col],
                "weight": coo.data.astype(np.float32),
                "age": age,
            }
        )

    return run


def weighted_pairs(events, weights: dict, half_life_days: float | None, now=None):
    """Spark frame of the positive (user, item) pairs of ``events`` with their summed, decayed
    weight and the age in days of their latest event before ``now`` (``latest_time(events)``,
    given by the caller: each part would otherwise take its own) (``PAIR_SCHEMA``)."""
    parts = max(1, events.sparkSession.sparkContext.defaultParallelism)
    by_user = events.repartition(parts, "user_id")
    return by_user.mapInPandas(weigh_partition(weights, half_life_days, now), PAIR_SCHEMA)


def collect_interactions(pairs, now=None) -> Interactions:
    """The pairs gathered into the library's ``Interactions`` (rows and columns sorted by id)."""
    frame = pairs.toPandas()
    users, user_ids = pd.factorize(frame["user_id"].astype(object), sort=True)
    items, item_ids = pd.factorize(frame["item_id"].astype(object), sort=True)
    shape = (len(user_ids), len(item_ids))
    matrix = sp.csr_matrix(
        (frame["weight"].to_numpy(np.float32), (users, items)), shape=shape, dtype=np.float32
    )
    matrix.sort_indices()
    age = None
    if frame["age"].notna().any():
        ages = sp.csr_matrix(
            (frame["age"].fillna(0).to_numpy(np.float32) + 1, (users, items)), shape=shape
        )
        age = matrix.copy()
        age.data = np.asarray(ages[matrix.nonzero()], dtype=np.float32).ravel() - 1
    return Interactions(
        matrix=matrix,
        user_ids=np.asarray(user_ids, dtype=object),
        item_ids=np.asarray(item_ids, dtype=object),
        age_days=age,
        now=now,
    )


def check_enough(inter: Interactions) -> None:
    n_users, n_items = inter.matrix.shape
    if inter.matrix.nnz < MIN_INTERACTIONS or n_users < 2 or n_items < 2:
        raise NotEnoughDataError(
            f"Too few interactions to train a recommender: {inter.matrix.nnz} user-item "
            f"interactions ({n_users} users, {n_items} items); at least {MIN_INTERACTIONS} "
            f"between 2 or more users and items are needed. Load more events."
        )


# ---------------------------------------------------------------- ALS on the cluster


def fit_als(spark, pairs, inter: Interactions, params: dict) -> tuple[ALSRecommender, float]:
    """MLlib implicit ALS on ``pairs`` (indexed by ``inter``'s id maps); the factors in the
    library's ``ALSRecommender``, and the seconds the fit took."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    chosen = {**DEFAULTS, **params}
    model = make_recommender("als", **chosen)
    users = spark.createDataFrame(
        pd.DataFrame({"user_id": inter.user_ids, "u": np.arange(len(inter.user_ids))})
    )
    items = spark.createDataFrame(
        pd.DataFrame({"item_id": inter.item_ids, "i": np.arange(len(inter.item_ids))})
    )
    indexed = pairs.join(F.broadcast(users), "user_id").join(F.broadcast(items), "item_id")
    per_user = inter.matrix.nnz / max(1, inter.matrix.shape[0])
    blocks = max(1, spark.sparkContext.defaultParallelism)
    als = ALS(
        rank=int(model.factors),
        maxIter=int(model.iterations),
        regParam=float(model.regularization) / per_user,
        numUserBlocks=blocks,
        numItemBlocks=blocks,
        alpha=float(model.alpha),
        implicitPrefs=True,
        userCol="u",
        itemCol="i",
        ratingCol="weight",
        seed=int(model.random_state or 0),
        coldStartStrategy="drop",
    )
    start = time.perf_counter()
    fitted = als.fit(indexed)
    user_factors = factor_array(fitted.userFactors.toPandas(), len(inter.user_ids), model.factors)
    item_factors = factor_array(fitted.itemFactors.toPandas(), len(inter.item_ids), model.factors)
    seconds = time.perf_counter() - start
    matrix = inter.matrix
    model.n_users_, model.n_items_ = matrix.shape
    model.item_popularity_ = np.asarray(matrix.sum(axis=0), dtype=np.float32).ravel()
    model.user_factors_ = user_factors
    model.item_factors_ = item_factors
    model.regularization_ = float(model.regularization)
    model.alpha_ = float(model.alpha)
    return model, seconds


def factor_array(frame: pd.DataFrame, n: int, k: int) -> np.ndarray:
    """MLlib's ``(id, features)`` rows as an (n, k) float32 array (zero rows for absent ids)."""
    out = np.zeros((n, int(k)), dtype=np.float32)
    if len(frame):
        out[frame["id"].to_numpy()] = np.stack(frame["features"].to_numpy()).astype(np.float32)
    return out


# ---------------------------------------------------------------- holdout evaluation


def split_events(events, split: str, test_size: float, seed: int):
    """Train and test Spark frames: ``temporal`` (events at or after the ``1 - test_size`` time
    quantile, linear as pandas computes it, are the test part) or ``random`` (a seeded hash of
    the user-item pair puts ``test_size`` of the pairs, with all their events, in test)."""
    from pyspark.sql import functions as F

    if split not in SPLITS:
        raise BadInputError(
            f"--engine spark evaluates with --split {' or '.join(SPLITS)}; got {split!r}."
        )
    if not 0 < float(test_size) < 1:
        raise BadInputError(f"test_size must be between 0 and 1; got {test_size!r}.")
    if split == "random":
        draw = F.abs(F.xxhash64("user_id", "item_id", F.lit(int(seed)))) % 1_000_000
        in_test = draw < F.lit(int(float(test_size) * 1_000_000))
        return events.where(~in_test), events.where(in_test)
    if "timestamp" not in events.columns:
        raise NotEnoughDataError("A temporal split needs event timestamps; use --split random.")
    micros = F.unix_micros(F.col("timestamp").cast("timestamp"))
    stats = events.select(
        F.count(micros).alias("n"),
        F.percentile(micros, F.lit(1 - float(test_size))).alias("cut"),
    ).collect()[0]
    if stats["n"] < 2:
        raise NotEnoughDataError(
            "A temporal split needs event timestamps; found none. Use --split random."
        )
    in_test = F.coalesce(micros >= F.lit(stats["cut"]), F.lit(False))
    return events.where(~in_test), events.where(in_test)


def eval_data(train_ev, test_ev, weights: dict, half_life_days, seed: int) -> dict:
    """As local evaluation: the train interactions (decayed to the train part's latest time) and
    the binary test matrix of items new to each user, for up to ``EVAL_MAX_USERS`` users."""
    now = latest_time(train_ev)
    pairs = weighted_pairs(train_ev, weights, half_life_days, now).cache()
    inter = collect_interactions(pairs, now)
    check_enough(inter)
    tested = collect_interactions(weighted_pairs(test_ev, weights, None, now))
    test = evaluation.align(
        tested.matrix, tested.user_ids, tested.item_ids, inter.user_ids, inter.item_ids
    )
    test = evaluation.unseen_relevant(test, inter.matrix)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if len(users) == 0:
        raise NotEnoughDataError(
            "The test part has no user who is in the training part and touched an item new to "
            "them there; use a larger --test-size or --split random."
        )
    if len(users) > EVAL_MAX_USERS:
        users = np.sort(np.random.default_rng(seed).choice(users, EVAL_MAX_USERS, replace=False))
    return {"inter": inter, "pairs": pairs, "test": test, "users": users}


def score_model(model, data: dict, k: int) -> dict:
    """The library's metrics of ``model`` on ``data`` (``eval_data``)."""
    inter, users = data["inter"], data["users"]
    recs, _ = model.recommend(
        users, inter.matrix, n=min(k, inter.matrix.shape[1]), filter_seen=True
    )
    return evaluation.evaluate_recs(recs, data["test"], inter.matrix, k, users)


def fit_model(spark, algo, pairs, inter, params, preset=None):
    """``algo`` fitted on the cluster: (model, seconds)."""
    if algo == "svd":
        return spark_svd.fit_svd(spark, inter, params, preset)
    return fit_als(spark, pairs, inter, params)


def holdout(
    spark, algo, train_ev, test_ev, weights, half_life_days, params, k, seed, preset=None
) -> dict:
    """Fit on the train part on the cluster, score on the test part beside popularity."""
    data = eval_data(train_ev, test_ev, weights, half_life_days, seed)
    n_items = data["inter"].matrix.shape[1]
    if k > n_items:
        data["pairs"].unpersist()
        raise BadInputError(
            f"k={k} is larger than the catalogue of {n_items} items; metrics at k would be "
            f"meaningless. Use -k {n_items} or less."
        )
    try:
        model, seconds = fit_model(spark, algo, data["pairs"], data["inter"], params, preset)
    finally:
        data["pairs"].unpersist()
    baseline = make_recommender("popularity").fit(data["inter"].matrix)
    return {
        "metrics": score_model(model, data, k),
        "baseline": score_model(baseline, data, k),
        "fit_seconds": round(seconds, 3),
        "n_test_users": int(len(data["users"])),
        "params": public_params(model),
    }


def choose_params(spark, train_ev, split, weights, half_life_days, params, seed) -> dict:
    """``params`` with ``regularization`` and ``alpha``, when left unset, chosen from ``GRID`` by
    NDCG@10 on a validation split of ``train_ev`` (the test part is never seen)."""
    open_ = [name for name in GRID if name not in params]
    if not open_:
        return params
    fit_ev, val_ev = split_events(train_ev, split, 0.2, seed + 1)
    data = eval_data(fit_ev, val_ev, weights, half_life_days, seed)
    scores = {}
    try:
        for values in itertools.product(*(GRID[name] for name in open_)):
            trial = {**params, **dict(zip(open_, values, strict=True))}
            model, _ = fit_als(spark, data["pairs"], data["inter"], trial)
            scores[values] = score_model(model, data, QUICK_K)[f"ndcg@{QUICK_K}"]
    finally:
        data["pairs"].unpersist()
    best = max(scores, key=scores.get)
    return {**params, **dict(zip(open_, best, strict=True))}


def choose_settings(spark, algo, train_ev, split, weights, half_life_days, params, seed):
    """What was left open, chosen on a validation split of ``train_ev``: ALS's ``GRID``, or for
    SVD the weighting, rank, reg and popularity_reg (as local training's ``_choose_settings``:
    one split, a coordinate search with the SVDs on the cluster). Returns (params, preset)."""
    if algo != "svd":
        return choose_params(spark, train_ev, split, weights, half_life_days, params, seed), None
    if not spark_svd.open_settings(params):
        return params, None
    try:
        fit_ev, val_ev = split_events(train_ev, split, 0.2, seed + 1)
        data = eval_data(fit_ev, val_ev, weights, half_life_days, seed)
    except NotEnoughDataError:
        return params, None
    data["pairs"].unpersist()
    matrix, users = data["inter"].matrix, data["users"]
    cap = max(SEARCH_MIN_USERS, int(SEARCH_CELLS // matrix.shape[1]))
    if len(users) > cap:
        users = np.sort(np.random.default_rng(seed).choice(users, cap, replace=False))
    weightings = (params["weighting"],) if "weighting" in params else AUTO_WEIGHTINGS
    scores = spark_svd.search(spark, matrix, users, data["test"][users], params, weightings)
    weighting, rank, reg, pop = best_setting(scores)
    preset = (rank, reg, pop)
    return {**params, "weighting": weighting}, preset


LEARNED = (("rank_", int), ("reg_", float), ("popularity_reg_", float))


def public_params(model) -> dict:
    """The model's plain parameters and learned choices (as local training saves them)."""
    plain = (str, int, float, bool, tuple, list)
    out = {k: v for k, v in model.get_params().items() if v is None or isinstance(v, plain)}
    for name, kind in LEARNED:
        if hasattr(model, name):
            out[name] = kind(getattr(model, name))
    return out


# ---------------------------------------------------------------- the commands


def check_algo(algo: str, params: dict) -> None:
    if algo not in ALGOS:
        raise BadInputError(
            f"--engine spark trains {', '.join(ALGOS)}; got --algo {algo}. Use --algo als, or "
            f"the local engine for {algo}."
        )
    make_recommender(algo, **params)
    if algo == "svd":
        spark_svd.check_params(params)


def train_recommender(
    algo: str = "svd",
    params: Mapping[str, Any] | None = None,
    event_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    table: str = "events",
    name: str | None = None,
    master: str | None = None,
    db=None,
) -> dict:
    """``training.train_recommender`` on Spark: a quick holdout (temporal 80/20 when there are
    timestamps, else random) choosing what was left open and measuring beside popularity, then
    ``algo`` on every event (the SVD of ``spark.svd`` or MLlib's ALS), saved as the library's
    ``SVDRecommender`` or ``ALSRecommender`` artifact. Returns the same keys
    (``model_id``, ``status``, ``algo``, ``params``, ``n_users``, ``n_items``, ``nnz``,
    ``fit_seconds``, ``metrics``) and ``engine``."""
    params = dict(params or {})
    check_algo(algo, params)
    weights = event_weights_for(event_weights)
    spark = spark_session(master)
    events = read_events(spark, table, db).cache()
    try:
        check_weights_known(events, weights)
        now = latest_time(events)
        metrics, params, preset = quick_metrics(
            spark, algo, events, weights, half_life_days, params, now
        )
        pairs = weighted_pairs(events, weights, half_life_days, now).cache()
        inter = collect_interactions(pairs, now)
        check_enough(inter)
        model, seconds = fit_model(spark, algo, pairs, inter, params, preset)
        pairs.unpersist()
        reduced = reason_events(events)
    finally:
        events.unpersist()
    items = store_events.read_attributes("items", "item_id", db=db)
    users = store_events.read_attributes("users", "user_id", db=db)
    artifact = RecommenderArtifact(
        model=model,
        algo=algo,
        params=dict(params),
        interactions=inter,
        event_weights=weights,
        half_life_days=half_life_days,
        table=table,
        items=items,
        users=users,
        metrics=metrics,
        **reason_inputs(reduced, inter, weights),
    )
    saved = {
        **public_params(model),
        "event_weights": weights,
        "half_life_days": half_life_days,
        "engine": "spark",
    }
    stamp = registry.fingerprint(
        table, inter.matrix.shape, int(inter.matrix.nnz), round(float(inter.matrix.sum()), 3), now
    )
    model_id = registry.save_model(artifact, "recommender", algo, saved, metrics, stamp, name, db)
    return {
        "model_id": model_id,
        **registry.standing(model_id, db=db),
        "algo": algo,
        "params": saved,
        "n_users": int(inter.matrix.shape[0]),
        "n_items": int(inter.matrix.shape[1]),
        "nnz": int(inter.matrix.nnz),
        "fit_seconds": round(seconds, 3),
        "metrics": metrics,
        "engine": "spark",
    }


def quick_metrics(spark, algo, events, weights, half_life_days, params, now):
    """Holdout metrics at 10 (temporal 80/20 with timestamps, else random), the params and the
    SVD preset (rank, reg, popularity_reg) the final fit reuses (None for ALS)."""
    split = "temporal" if now is not None else "random"
    preset = None
    try:
        train_ev, test_ev = split_events(events, split, 0.2, 0)
        params, preset = choose_settings(
            spark, algo, train_ev, split, weights, half_life_days, params, 0
        )
        result = holdout(
            spark, algo, train_ev, test_ev, weights, half_life_days, params, QUICK_K, 0, preset
        )
    except NotEnoughDataError as exc:
        return {"note": f"no holdout metrics: {exc}"}, params, preset
    metrics = {**result["metrics"], "baseline": result["baseline"], "split": split}
    return metrics, params, preset


def reason_events(events) -> pd.DataFrame:
    """One row per (user, item, event type) with its latest time: all ``reason_inputs`` needs."""
    from pyspark.sql import functions as F

    keys = [c for c in ("user_id", "item_id", "event_type") if c in events.columns]
    if "timestamp" not in events.columns:
        return events.select(*keys).distinct().toPandas()
    return events.groupBy(*keys).agg(F.max("timestamp").alias("timestamp")).toPandas()


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
    master: str | None = None,
    db=None,
) -> dict:
    """``training.evaluate_recommender`` on Spark (one temporal or random split; the same
    metrics code). Returns ``metrics``, ``baseline``, ``fit_seconds``, ``n_test_users``,
    ``params``, ``split``, ``test_size``, ``k`` and ``engine``."""
    params = dict(params or {})
    check_algo(algo, params)
    k = check_k(k)
    if folds:
        raise BadInputError("--engine spark evaluates one split; drop --folds.")
    weights = event_weights_for(event_weights)
    spark = spark_session(master)
    events = read_events(spark, table, db).cache()
    try:
        check_weights_known(events, weights)
        train_ev, test_ev = split_events(events, split, test_size, seed)
        params, preset = choose_settings(
            spark, algo, train_ev, split, weights, half_life_days, params, seed
        )
        result = holdout(
            spark, algo, train_ev, test_ev, weights, half_life_days, params, k, seed, preset
        )
    finally:
        events.unpersist()
    return {**result, "split": split, "test_size": test_size, "k": k, "engine": "spark"}
