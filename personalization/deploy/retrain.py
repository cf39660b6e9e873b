"""Retraining that promotes only what is better: a challenger against the champion.

``retrain(kind)`` takes the champion (the promoted model of ``kind``, else the newest) and its
algorithm and settings (for a first recommender: SVD with its defaults), and measures both on the
SAME hold-out of the current data:

- recommenders: the latest events (``HOLDOUT_SHARE`` of them after a time cut-off; a random share
  of user-item pairs without timestamps) are the hold-out; the challenger is the champion's
  settings fitted on the events before it, scored by NDCG@10 on the items new to each user
  (``evaluation.ranking_metrics``); the champion scores the same users from the same histories
  as it is, with the items it does not know counted as misses;
- classifiers: a fresh stratified split of the current table (``HOLDOUT_SHARE`` held out, with
  another seed than the champion's own split); the challenger's settings are fitted on the rest
  and both are scored by ROC-AUC.

A champion that has already seen part of the hold-out (a recommender whose matrix holds hold-out
interactions; a classifier trained on the table as it is now, or before rows were appended to
it, so on most of any split of it)
would be judged on its own training data; it is measured like the challenger instead (its
settings fitted on the part before the hold-out), which for the same settings is the same
figure, and the verdict says so.

The challenger is promoted when its score beats the champion's by at least ``margin``
(absolute: 0.01 = one point of NDCG or AUC), when the champion's data is gone
(``registry.data_state(champion)["current"]`` is False: the table was loaded again with
``--mode replace`` or dropped; rows appended to it are newer data, not gone), when the champion
can no longer be loaded, or when there is no champion. Only then is it trained on all the
current data, saved (``train_recommender`` / ``train_classifier``) and promoted through
``registry.auto_promote``, which obeys holds: a held default is not replaced (the challenger is
then not trained) and a challenger saved with a hold (e.g. a leakage warning) stays a candidate;
either way the run says "held, not promoted" and ``held`` gives the reason. A challenger that
loses is not saved. Every finished run, promoted or not, is recorded
with its figures and why in ``retrain_runs`` (``store.jobs``). A failure leaves the catalog as
it was.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from personalization import evaluation, registry, store
from personalization.errors import BadInputError, NotEnoughDataError, NotFoundError
from personalization.progress import Progress, report, scaled
from personalization.recommendation.interactions import (
    DEFAULT_EVENT_WEIGHTS,
    Interactions,
    build_interactions,
)
from personalization.recommendation.models import make_recommender
from personalization.store import events as store_events
from personalization.store import jobs

KINDS = ("recommender", "classifier")
DEFAULT_MARGIN = 0.01
HOLDOUT_SHARE = 0.2
EVAL_USERS = 5000
K = 10
METRICS = {"recommender": f"ndcg@{K}", "classifier": "roc_auc"}
DEFAULT_RECOMMENDER = "svd"
CLASSIFIER_SETTINGS = (
    "balance", "scaling", "split", "folds", "search", "seed", "table", "target", "positive",
    "exclude",
)  # fmt: skip
SPLIT_SEED_OFFSET = 1


def retrain(
    kind: str,
    margin: float = DEFAULT_MARGIN,
    trigger: str = "manual",
    db=None,
    progress: Progress = None,
) -> dict:
    """Train a challenger of ``kind`` on the current data, measure it against the champion on
    the same hold-out, promote it only when it is better by ``margin`` (or the champion's data
    is gone), and record the run.

    Returns ``champion`` (id or None), ``challenger`` (the saved id, or None when it lost and was
    not saved), ``metric``, ``champion_score``, ``challenger_score``, ``margin``, ``promoted``,
    ``why``, ``held`` (the hold that kept the champion, or None), ``run_id``, ``kind``,
    ``data_table``, ``data_rows``, ``seconds``. Raises
    ``BadInputError`` for an unknown kind or a negative margin, ``NotFoundError`` when there is
    nothing to retrain (no classifier, no events table).
    """
    if kind not in KINDS:
        raise BadInputError(f"--kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    margin = check_margin(margin)
    started = datetime.now()
    clock = time.perf_counter()
    verdict = judge(kind, margin, db, scaled(progress, 0.0, 0.6))
    train = verdict.pop("train")
    challenger, held = None, verdict.pop("champion_held")
    if verdict["promoted"] and not held:
        report(progress, 0.6, "training the challenger on all the current data")
        challenger = train(scaled(progress, 0.6, 0.95))
        held = settle(challenger, verdict["champion"], kind, db)
    if verdict["promoted"] and held:
        verdict["promoted"] = False
        verdict["why"] = f"held, not promoted: {held}; the measurement alone said {verdict['why']}"
    run = {
        "run_id": f"run-{started:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}",
        "kind": kind,
        "started": started,
        "challenger": challenger,
        "metric": METRICS[kind],
        "margin": margin,
        "trigger": trigger,
        **verdict,
    }
    try:
        jobs.record_run(run, db=db)
    except BaseException:
        undo(challenger, verdict["champion"], kind, db)
        raise
    report(progress, 1.0, "done")
    run["started"] = started.isoformat(timespec="seconds")
    return {**run, "held": held, "seconds": round(time.perf_counter() - clock, 3)}


def check_margin(margin: Any) -> float:
    """``margin`` as a float >= 0, or ``BadInputError``."""
    try:
        value = float(margin)
    except (TypeError, ValueError):
        value = float("nan")
    if not value >= 0:
        raise BadInputError(f"--margin must be a number >= 0, like 0.01; got {margin!r}.")
    return value


def champion_of(kind: str, db=None) -> dict | None:
    """The catalog row of the model of ``kind`` the commands use by default, or None."""
    try:
        return registry.resolve(kind=kind, db=db)
    except NotFoundError:
        return None


def decide(
    champion: dict | None,
    scores: tuple[float | None, float],
    margin: float,
    metric: str,
    loaded: str | None,
    seen: str | None,
    db=None,
) -> tuple[bool, str]:
    """Whether the challenger is promoted, and why in a sentence. ``scores`` is (champion's,
    challenger's); ``loaded`` why the champion could not be loaded (None when it was); ``seen``
    how the champion was measured when it had seen the hold-out (None when as it is)."""
    champion_score, challenger_score = scores
    figures = f"challenger {metric} {challenger_score:.4f}"
    if champion is None:
        return True, f"promoted: there was no champion yet ({figures})"
    name = champion["model_id"]
    if loaded:
        return True, f"promoted: the champion {name} cannot be loaded ({loaded}); {figures}"
    state = registry.data_state(champion, db=db)
    figures += f" vs champion {champion_score:.4f}"
    if seen:
        figures += f" ({seen})"
    if state["current"] is False:
        return True, f"promoted: the champion {name}'s data is gone ({state['message']}); {figures}"
    gain = challenger_score - champion_score
    if gain >= margin:
        return True, f"promoted: {figures} is better by {gain:.4f} >= margin {margin:g}"
    return False, (
        f"not promoted: {figures} is not better by the margin {margin:g} (difference "
        f"{gain:+.4f}); {name} stays the champion"
    )


def settle(challenger: str, champion: str | None, kind: str, db=None) -> str | None:
    """Make the saved ``challenger`` the promoted model of ``kind`` through the registry's one
    automatic promotion path (``registry.auto_promote``), which obeys holds; return the hold
    that kept it a candidate (it stays saved, to be looked at), or None. On failure remove it
    and give the champion its place back."""
    try:
        return registry.auto_promote(challenger, db=db)[1]
    except BaseException:
        undo(challenger, champion, kind, db)
        raise


def undo(challenger: str | None, champion: str | None, kind: str, db=None) -> None:
    """Remove a saved ``challenger`` and promote ``champion`` again (the catalog as before)."""
    if challenger:
        registry.delete(challenger, db=db)
    if champion:
        registry.promote(champion, db=db)


# ---------------------------------------------------------------- recommenders


def recommender_settings(info: dict | None) -> dict:
    """``algo``, ``params`` (constructor parameters only: learned values and notes such as
    ``folded_in_from`` left out), ``event_weights``, ``half_life_days`` and ``table`` of the
    champion ``info``; SVD with its defaults on ``events`` without one."""
    if info is None:
        return {
            "algo": DEFAULT_RECOMMENDER,
            "params": {},
            "event_weights": None,
            "half_life_days": None,
            "table": "events",
        }
    saved = dict(info.get("params") or {})
    accepted = make_recommender(info["algo"]).get_params()
    details = info.get("details") or {}
    return {
        "algo": info["algo"],
        "params": {k: v for k, v in saved.items() if k in accepted},
        "event_weights": saved.get("event_weights"),
        "half_life_days": saved.get("half_life_days"),
        "table": details.get("data_table") or saved.get("table") or "events",
    }


def holdout(events: pd.DataFrame, weights: dict, half_life: float | None) -> dict:
    """The hold-out every recommender is measured on: ``train`` (interactions before it),
    ``test`` (binary, rows and columns of ``train``: hold-out items new to each user), the
    evaluated ``users`` (rows with such items, at most ``EVAL_USERS``) and the ``split``."""
    has_times = "timestamp" in events and events["timestamp"].notna().sum() >= 2
    method = "temporal" if has_times else "random"
    train_ev, test_ev = evaluation.split_events(events, method, HOLDOUT_SHARE, 0)
    train = build_interactions(train_ev, weights, half_life)
    present = {str(t) for t in test_ev.get("event_type", pd.Series(dtype=str)).dropna().unique()}
    test_weights = {t: w for t, w in weights.items() if t in present or t in DEFAULT_EVENT_WEIGHTS}
    tested = build_interactions(test_ev, test_weights)
    test = evaluation.align(
        tested.matrix, tested.user_ids, tested.item_ids, train.user_ids, train.item_ids
    )
    test = evaluation.unseen_relevant(test, train.matrix)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if not len(users):
        raise NotEnoughDataError(
            f"The latest {HOLDOUT_SHARE:.0%} of the events hold no user who was seen before them "
            f"and touched an item new to them; load more events before retraining."
        )
    if len(users) > EVAL_USERS:
        users = np.sort(np.random.default_rng(0).choice(users, EVAL_USERS, replace=False))
    return {"train": train, "test": test, "users": users, "split": method}


def item_frame(items: pd.DataFrame, item_ids: np.ndarray) -> pd.DataFrame | None:
    """Item attributes aligned with ``item_ids`` (for content and hybrid), or None."""
    return None if items.empty else items.reindex(pd.Index(item_ids).astype(str))


def score_settings(settings: dict, data: dict, items: pd.DataFrame) -> float:
    """NDCG@K on the hold-out ``data`` of ``settings`` fitted on its train part."""
    train: Interactions = data["train"]
    model = make_recommender(settings["algo"], **settings["params"])
    model.fit(
        train.matrix, item_features=item_frame(items, train.item_ids), age_days=train.age_days
    )
    recs, _ = model.recommend(data["users"], train.matrix, n=min(K, train.matrix.shape[1]))
    return evaluation.ranking_metrics(recs, data["test"], K, data["users"])[f"ndcg@{K}"]


def score_artifact(art: Any, data: dict) -> float:
    """NDCG@K on the hold-out ``data`` of a saved recommender as it is: the evaluated users'
    histories before the hold-out, in the model's own rows and columns (users it has not seen
    after its own), its lists mapped back to the hold-out's items (others count as misses)."""
    train: Interactions = data["train"]
    own = art.interactions
    ids = np.asarray(train.user_ids)[data["users"]]
    extra = ids[~pd.Index(ids).isin(own.user_ids)]
    targets = np.concatenate([np.asarray(own.user_ids, dtype=object), extra.astype(object)])
    rows = evaluation.align(train.matrix, train.user_ids, train.item_ids, targets, own.item_ids)
    positions = pd.Index(targets).get_indexer(ids)
    n = min(K, rows.shape[1])
    recs, _ = art.model.recommend(positions, rows.tocsr(), n=n)
    named = np.asarray(own.item_ids)[np.maximum(recs, 0).ravel()]
    mapped = pd.Index(train.item_ids).get_indexer(named).reshape(recs.shape)
    mapped = np.where(recs >= 0, mapped, -1)
    return evaluation.ranking_metrics(mapped, data["test"], K, data["users"])[f"ndcg@{K}"]


def seen_holdout(art: Any, data: dict) -> int:
    """How many hold-out interactions the saved recommender ``art`` was trained on."""
    train: Interactions = data["train"]
    own = art.interactions
    known = evaluation.align(own.matrix, own.user_ids, own.item_ids, train.user_ids, train.item_ids)
    return int(data["test"].multiply(known > 0).nnz)


def measure_recommender(champion: dict | None, db=None, progress: Progress = None) -> dict:
    """The recommender challenger and champion on the same hold-out (see ``judge``)."""
    from personalization.recommendation import training

    settings = recommender_settings(champion)
    table = settings["table"]
    report(progress, 0.05, f"reading {table}")
    events = store_events.read_events(table, db=db)
    weights = {**DEFAULT_EVENT_WEIGHTS, **(settings["event_weights"] or {})}
    report(progress, 0.2, "splitting off the latest events as the hold-out")
    data = holdout(events, weights, settings["half_life_days"])
    items = store_events.read_attributes("items", "item_id", db=db)
    report(progress, 0.3, f"measuring the challenger ({settings['algo']})")
    challenger_score = score_settings(settings, data, items)
    champion_score, loaded, seen = None, None, None
    if champion is not None:
        report(progress, 0.7, f"measuring the champion {champion['model_id']}")
        champion_score, loaded, seen = measure_champion(champion, data, challenger_score, db)

    def train(step: Progress) -> str:
        return training.train_recommender(
            algo=settings["algo"],
            params=settings["params"],
            event_weights=settings["event_weights"],
            half_life_days=settings["half_life_days"],
            table=table,
            name="retrain challenger",
            db=db,
            progress=step,
        )["model_id"]

    return {
        "table": table,
        "scores": (champion_score, challenger_score),
        "loaded": loaded,
        "seen": seen,
        "train": train,
    }


def measure_champion(
    champion: dict, data: dict, challenger_score: float, db=None
) -> tuple[float | None, str | None, str | None]:
    """(score, why it could not be loaded, how it was measured when it had seen the hold-out)."""
    try:
        art, _ = registry.load_model(champion["model_id"], kind="recommender", db=db)
    except BadInputError as exc:
        return None, str(exc).split(";")[0], None
    seen = seen_holdout(art, data)
    if seen:
        total = int(data["test"].nnz)
        return (
            challenger_score,
            None,
            (
                f"the champion was trained on {seen} of the hold-out's {total} interactions, so its "
                f"settings were measured fitted on the events before the hold-out, like the challenger"
            ),
        )
    return score_artifact(art, data), None, None


# ---------------------------------------------------------------- classifiers


def classifier_settings(info: dict) -> dict:
    """The champion classifier's training settings (``CLASSIFIER_SETTINGS``), ``algo`` and its
    model ``params`` (what its search chose, or nothing)."""
    saved = dict(info.get("params") or {})
    settings = {k: saved.get(k) for k in CLASSIFIER_SETTINGS}
    settings["algo"] = info["algo"]
    settings["params"] = {k: v for k, v in saved.items() if k not in CLASSIFIER_SETTINGS}
    settings["exclude"] = list(settings["exclude"] or [])
    return settings


def measure_classifier(champion: dict | None, db=None, progress: Progress = None) -> dict:
    """The classifier challenger and champion on the same hold-out (see ``judge``)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from personalization.propensity import training
    from personalization.propensity.columns import choose_columns
    from personalization.propensity.pipelines import predict_positive, scoring_pipeline
    from personalization.propensity.target import check_target_column, resolve_target

    if champion is None:
        raise NotFoundError(
            "There is no classifier to retrain; train one first with: python -m personalization "
            "train-classifier --table customers --target COLUMN"
        )
    s = classifier_settings(champion)
    table = s["table"] or "customers"
    report(progress, 0.05, f"reading {table}")
    frame = store.read_table(table, db=db)
    check_target_column(table, s["target"], frame.columns)
    frame, y, _, _ = resolve_target(frame, s["target"], s["positive"], True)
    columns = choose_columns(frame, s["target"], s["exclude"])
    seed = int(s["seed"] or 0) + SPLIT_SEED_OFFSET
    try:
        fit_rows, test_rows = train_test_split(
            np.arange(len(y)), test_size=HOLDOUT_SHARE, stratify=y, random_state=seed
        )
    except ValueError as exc:
        raise NotEnoughDataError(
            f"{table} is too small for a stratified hold-out of {HOLDOUT_SHARE:.0%} ({exc}); "
            f"add rows before retraining."
        ) from exc
    X = frame[columns["features"]]
    spec = {
        "algo": s["algo"],
        "numeric": columns["numeric"],
        "categorical": columns["categorical"],
        "balance": s["balance"] or "none",
        "scaling": s["scaling"] or "standard",
        "seed": int(s["seed"] or 0),
    }
    report(progress, 0.3, f"measuring the challenger ({s['algo']})")
    fitted = training.fit_pipeline(spec, s["params"], X.iloc[fit_rows], y[fit_rows])
    scores = predict_positive(scoring_pipeline(fitted), X.iloc[test_rows])
    challenger_score = float(roc_auc_score(y[test_rows], scores))
    report(progress, 0.7, f"measuring the champion {champion['model_id']}")
    champion_score, loaded, seen = challenger_score, None, None
    state = registry.data_state(champion, db=db)
    if state["current"] is False:
        try:
            art, _ = registry.load_model(champion["model_id"], kind="classifier", db=db)
            proba = art.predict_proba(frame.iloc[test_rows])
            champion_score = float(roc_auc_score(y[test_rows], proba))
        except (BadInputError, KeyError) as exc:
            champion_score, loaded = None, str(exc).split(";")[0]
    else:
        then = f" before {state['newer_rows']:,} rows were added" if state["newer_rows"] else ""
        seen = (
            f"the champion was trained on {table}{then}, so on most rows of any split of it; "
            f"its settings were measured fitted on the rest, like the challenger"
        )

    def train(step: Progress) -> str:
        return training.train_classifier(
            table=table,
            target=s["target"],
            positive=s["positive"],
            exclude=s["exclude"],
            algo=s["algo"],
            balance=spec["balance"],
            split=s["split"] or (0.7, 0.15, 0.15),
            folds=int(s["folds"] if s["folds"] is not None else 5),
            search=s["search"] or "none",
            seed=spec["seed"],
            scaling=spec["scaling"],
            name="retrain challenger",
            drop_missing_target=True,
            db=db,
            progress=step,
        )["model_id"]

    return {
        "table": table,
        "scores": (champion_score, challenger_score),
        "loaded": loaded,
        "seen": seen,
        "train": train,
    }


MEASURES = {"recommender": measure_recommender, "classifier": measure_classifier}


def judge(kind: str, margin: float, db=None, progress: Progress = None) -> dict:
    """The verdict on a challenger of ``kind`` (see the module docstring): ``champion``,
    ``champion_score``, ``challenger_score``, ``promoted``, ``why``, ``data_table``,
    ``data_rows``, ``champion_held`` (the hold on the default that keeps it, or None) and
    ``train``: a callable ``train(progress) -> model id`` that trains and saves the challenger
    on all the data."""
    champion = champion_of(kind, db)
    measured = MEASURES[kind](champion, db, progress)
    promoted, why = decide(
        champion,
        measured["scores"],
        margin,
        METRICS[kind],
        measured["loaded"],
        measured["seen"],
        db,
    )
    champion_score, challenger_score = measured["scores"]
    held = None
    if champion is not None and champion["status"] == "promoted" and registry.hold_of(champion):
        held = registry.held_default(champion)
    return {
        "champion": None if champion is None else champion["model_id"],
        "champion_score": champion_score,
        "challenger_score": challenger_score,
        "promoted": promoted,
        "why": why,
        "data_table": measured["table"],
        "data_rows": store.count_rows(measured["table"], db=db),
        "champion_held": held,
        "train": measured["train"],
    }
