"""Fold-in updates: new or changed users taken into a trained SVD or ALS model without a retrain.

``update_model`` reads the events the model was trained on (its table) again, rebuilds the
users x items matrix with the model's own event weights, half-life and reference time, and
compares it with the model's matrix over the model's items: users whose row changed (new events,
or events removed) are updated, users the model has never seen who touched at least one of its
items are added (their rows go after the known ones, so known rows keep their place). The model
then folds them in (``fold_in``: ALS solves each user's factors exactly against the fixed item
factors; SVD scores a user by projecting the weighted row through its item factors, so it only
takes the larger matrix on). Items the model has never seen wait for the next retrain; the
hybrid model (``train-recommender --algo hybrid``) recommends them by their attributes meanwhile.

Versioning: the updated model is saved as a NEW model (a new id, the same algorithm and
parameters, ``params["folded_in_from"]`` naming the source) and the source is left as it was.
When the source is the promoted recommender the new version is promoted in its place (so the
commands and the service use the folded-in users at once); a candidate's update stays a
candidate. Nothing is saved when no user changed, and a failure saves nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization import evaluation, registry
from personalization.errors import BadInputError
from personalization.progress import Progress, report
from personalization.recommendation.artifact import RecommenderArtifact
from personalization.recommendation.interactions import Interactions, build_interactions
from personalization.recommendation.reasons import reason_inputs
from personalization.store import events as store_events

FOLDABLE = ("svd", "als")
TOLERANCE = 1e-4
NEW_ITEMS_NOTE = (
    "{n} item(s) the model has never seen wait for the next retrain "
    "(python -m personalization retrain --kind recommender); the hybrid model recommends them by "
    "their attributes meanwhile (train-recommender --algo hybrid)."
)


@dataclass
class FoldInPlan:
    """What a fold-in changes: the new ``interactions`` (known users first, in their old rows,
    then the added users), the ``rows`` to fold in, how many were ``added`` and ``updated``,
    and the ids of the ``new_items`` that wait for a retrain."""

    interactions: Interactions
    rows: np.ndarray
    added: int
    updated: int
    new_items: np.ndarray


def plan_fold_in(
    old: Interactions,
    events: pd.DataFrame,
    event_weights: dict | None = None,
    half_life_days: float | None = None,
) -> FoldInPlan:
    """Compare the current ``events`` with a model's training matrix ``old`` (same weights,
    half-life and reference time ``old.now``) and say which rows change.

    The result's matrix has ``old``'s item columns; rows ``0..len(old.user_ids) - 1`` are the
    known users (their current history; a user whose events are gone gets an empty row), then
    one row per new user with at least one known item, in id order. Raises ``BadInputError``
    (or ``NotEnoughDataError``) for events that cannot be weighed.
    """
    fresh = build_interactions(events, event_weights, half_life_days, now=old.now)
    known_users = pd.Index(old.user_ids)
    new_users = np.asarray(fresh.user_ids)[~pd.Index(fresh.user_ids).isin(known_users)]
    targets = np.concatenate([np.asarray(old.user_ids, dtype=object), new_users.astype(object)])
    matrix = aligned(fresh.matrix, fresh, targets, old.item_ids)
    n_old = len(old.user_ids)
    has_known_items = np.diff(matrix.indptr)[n_old:] > 0
    keep = np.concatenate([np.arange(n_old), n_old + np.flatnonzero(has_known_items)])
    matrix, targets = matrix[keep], targets[keep]
    age = None
    if fresh.age_days is not None:
        age = aligned(fresh.age_days, fresh, targets, old.item_ids, shift=True)
        age = age if age.nnz == matrix.nnz else None
    changed = changed_rows(matrix[:n_old], old.matrix)
    added = np.arange(n_old, len(targets))
    new_items = np.asarray(fresh.item_ids)[~pd.Index(fresh.item_ids).isin(old.item_ids)]
    inter = Interactions(
        matrix=matrix, user_ids=targets, item_ids=old.item_ids, age_days=age, now=old.now
    )
    return FoldInPlan(inter, np.concatenate([changed, added]), len(added), len(changed), new_items)


def aligned(
    matrix: sp.csr_matrix, source: Interactions, users, items, shift: bool = False
) -> sp.csr_matrix:
    """``matrix`` (rows and columns of ``source``) re-indexed onto ``users`` x ``items`` as a
    float32 CSR with sorted indices; ``shift`` keeps stored zeros (ages of 0 days) by adding 1
    before and taking it off after."""
    coo = sp.coo_matrix(matrix)
    data = coo.data + 1.0 if shift else coo.data
    moved = evaluation.align(
        sp.csr_matrix((data, (coo.row, coo.col)), shape=matrix.shape),
        source.user_ids,
        source.item_ids,
        users,
        items,
    )
    out = sp.csr_matrix(moved, dtype=np.float32)
    out.sum_duplicates()
    out.sort_indices()
    if shift:
        out.data = out.data - 1.0
    return out


def changed_rows(new: sp.csr_matrix, old: sp.csr_matrix) -> np.ndarray:
    """Rows (sorted) where ``new`` and ``old`` (same shape) differ: the sum of the absolute
    differences passes ``TOLERANCE`` times the row's total weight (at least 1)."""
    new, old = sp.csr_matrix(new, dtype=np.float64), sp.csr_matrix(old, dtype=np.float64)
    moved = np.asarray(abs(new - old).sum(axis=1)).ravel()
    total = np.asarray(abs(new).sum(axis=1) + abs(old).sum(axis=1)).ravel()
    return np.flatnonzero(moved > TOLERANCE * np.maximum(1.0, total)).astype(np.int64)


def update_model(model_id: str | None = None, db=None, progress: Progress = None) -> dict:
    """Fold the users with new or changed events into the SVD or ALS recommender ``model_id``
    (default: the promoted recommender).

    Returns ``model_id`` (the new version, or ``model_id`` itself when nothing changed),
    ``source_model``, ``status``, ``saved`` (bool), ``users_added``, ``users_updated``,
    ``items_waiting`` (items the model has never seen), ``fold_seconds`` (the model step),
    ``seconds`` (the whole update) and ``note``. Raises ``BadInputError`` for a model of
    another family or kind, ``NotFoundError`` for an unknown model or a missing events table.
    """
    start = time.perf_counter()
    model_id = registry.resolve(model_id, kind="recommender", db=db)["model_id"]
    report(progress, 0.05, f"loading {model_id}")
    art, info = registry.load_model(model_id, kind="recommender", db=db)
    if info["algo"] not in FOLDABLE or not hasattr(art.model, "fold_in"):
        raise BadInputError(
            f"update folds users into svd or als recommenders; {model_id} is a {info['algo']} "
            f"model. Retrain it instead: python -m personalization retrain --kind recommender"
        )
    report(progress, 0.15, f"reading {art.table}")
    events = store_events.read_events(art.table, db=db)
    report(progress, 0.35, "finding new and changed users")
    plan = plan_fold_in(art.interactions, events, art.event_weights, art.half_life_days)
    note = NEW_ITEMS_NOTE.format(n=len(plan.new_items)) if len(plan.new_items) else ""
    result = {
        "source_model": model_id,
        "users_added": plan.added,
        "users_updated": plan.updated,
        "items_waiting": int(len(plan.new_items)),
    }
    if not len(plan.rows):
        return {
            "model_id": model_id,
            **result,
            "status": info["status"],
            "saved": False,
            "fold_seconds": 0.0,
            "seconds": round(time.perf_counter() - start, 3),
            "note": " ".join(
                ["No user has new or changed events; nothing was saved.", note]
            ).strip(),
        }
    report(progress, 0.5, f"folding in {len(plan.rows)} users")
    model = copy.deepcopy(art.model)
    fold_start = time.perf_counter()
    model.fold_in(plan.rows, plan.interactions.matrix)
    fold_seconds = time.perf_counter() - fold_start
    report(progress, 0.7, "saving the new version")
    updated = dataclasses.replace(
        art,
        model=model,
        interactions=plan.interactions,
        **reason_inputs(events, plan.interactions, art.event_weights),
    )
    new_id = save_version(updated, info, db)
    return {
        "model_id": new_id,
        **result,
        **registry.standing(new_id, db=db),
        "saved": True,
        "fold_seconds": round(fold_seconds, 4),
        "seconds": round(time.perf_counter() - start, 3),
        "note": " ".join([f"Saved as {new_id}, folded in from {model_id}.", note]).strip(),
    }


def save_version(art: RecommenderArtifact, info: dict, db=None) -> str:
    """Save ``art`` as a new version of the model ``info`` (a catalog row); it takes the
    source's place as the promoted recommender when the source was promoted and is not held
    (``registry.auto_promote``). Returns its id;
    on any failure nothing new is left in the catalog."""
    source = info["model_id"]
    promoted = info["status"] == "promoted"
    matrix = art.interactions.matrix
    new_id = registry.save_model(
        art,
        "recommender",
        info["algo"],
        {**(info.get("params") or {}), "folded_in_from": source},
        info.get("metrics") or {},
        registry.fingerprint(
            art.table, matrix.shape, int(matrix.nnz), round(float(matrix.sum()), 3), source
        ),
        name=f"fold-in of {source}",
        db=db,
        data_table=art.table,
        hold=None if promoted else f"folded in from the candidate {source}",
    )
    try:
        if promoted:
            registry.auto_promote(new_id, db=db)  # a held source keeps its place
    except BaseException:
        registry.delete(new_id, db=db)
        if promoted:
            registry.promote(source, db=db)
        raise
    return new_id
