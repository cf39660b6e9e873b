"""What a visitor wants next, from the items of a session in the order they were clicked.

- ``next_items(art, session, k)``: the top ``k`` items after one session (item ids, oldest
  first; ids the model does not know are left out and listed in ``attrs["unknown"]``), with a
  reason per item. A sequence model (``SequenceRecommender``) scores the session as a sequence;
  any other recommender scores its items as a new customer's history (a fold-in), so every model
  answers. A session with no known item gets what is popular.
- ``next_for_session(items, k, model_id, db)``: the same on a saved model (embedded use);
  ``latest_session(art, user_id)``: a customer's latest session, to start from.
- ``latest_session_blocks`` / ``export_next_items``: the next items after every user's latest
  session (scored from the user's whole history), streamed in blocks and written with
  ``personalization.export``.

Reasons (``session_reasons``), per recommended item, from the session's last
``CONTEXT_EVENTS`` distinct items, the last weighing 1, the one before 1/2, and so on:
"You just viewed this" / "You viewed this 2 times in this session" for a repeat; "Often viewed
after X" where the model learned that the item follows X (``transitions``); "Because you just
viewed X" (or "viewed X" for an earlier one) where the model finds the two items alike; else
"Popular right now".
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization import export
from personalization.errors import BadInputError
from personalization.recommendation import serving
from personalization.recommendation.artifact import (
    BLOCK_CELLS,
    CATEGORY_COLUMNS,
    PRICE_COLUMNS,
    RecommenderArtifact,
    check_k,
    first_present,
)
from personalization.recommendation.models import SequenceRecommender
from personalization.recommendation.models.base import top_n
from personalization.recommendation.sequences import Sequences

CONTEXT_EVENTS = 5
MAX_SESSION_ITEMS = 200
POPULAR = "Popular right now"
COLUMNS = ("rank", "item_id", "title", "category", "price", "score", "reason")
CATALOGUES_KEPT = 8
_CATALOGUES: dict[int, tuple[weakref.ref, dict[str, np.ndarray]]] = {}


def is_sequence_model(art: RecommenderArtifact) -> bool:
    """True when the artifact's model learned from the order of events."""
    return isinstance(art.model, SequenceRecommender)


def check_session(items: Any) -> list[str]:
    """``items`` as a list of ids (text), oldest first; ``BadInputError`` when it is not a
    list of ids or longer than ``MAX_SESSION_ITEMS``."""
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise BadInputError(
            f"A session must be a list of item ids, oldest first; got {type(items).__name__}."
        )
    ids = [str(i).strip() for i in items if i is not None and str(i).strip()]
    if len(ids) > MAX_SESSION_ITEMS:
        raise BadInputError(
            f"A session holds at most {MAX_SESSION_ITEMS} items; got {len(ids)}. Send the "
            f"latest {MAX_SESSION_ITEMS}."
        )
    return ids


def next_items(
    art: RecommenderArtifact, session: Sequence[Any], k: int = 10, filter_seen: bool = False
) -> pd.DataFrame:
    """The top ``k`` items after ``session`` (item ids, oldest first): ``rank``, ``item_id``,
    ``title``, ``category``, ``price`` (where the items table has them), ``score``, ``reason``.

    Repeats are allowed unless ``filter_seen``. ``attrs``: ``unknown`` (ids left out),
    ``known`` (items used), ``sequence_model`` (bool). Raises ``BadInputError`` for a bad
    session or ``k``.
    """
    k = check_k(k)
    ids = check_session(session)
    cols = art.interactions.item_indices(np.array(ids, dtype=object)) if ids else np.zeros(0)
    cols = np.asarray(cols, dtype=np.int64)
    unknown = [i for i, c in zip(ids, cols, strict=True) if c < 0]
    known = cols[cols >= 0]
    if len(known) == 0:
        frame = popular_items(art, k)
    else:
        hist = session_history(art, known)
        scores = session_scores(art, hist)
        if filter_seen:
            scores[0, known] = -np.inf
        top, values = top_n(scores, min(k, art.n_items))
        keep = top[0] >= 0
        items, values = top[0][keep], values[0][keep]
        reasons = session_reasons(art, [known], items[None, :])[0]
        frame = item_frame(art, items, values, reasons)
    frame.attrs.update(
        unknown=unknown, known=int(len(known)), sequence_model=is_sequence_model(art)
    )
    return frame


def next_for_session(
    items: Sequence[Any],
    k: int = 10,
    model_id: str | None = None,
    filter_seen: bool = False,
    db=None,
) -> pd.DataFrame:
    """``next_items`` on the saved recommender ``model_id`` (default: the promoted one)."""
    art, _ = serving.load_artifact(model_id, db=db)
    return next_items(art, items, k, filter_seen)


def latest_session(art: RecommenderArtifact, user_id: Any) -> list[str]:
    """The item ids of ``user_id``'s latest session in the model's training events, oldest
    first (empty for an unknown user or a model without sequences)."""
    row = art.interactions.user_index(str(user_id))
    if row is None or not is_sequence_model(art):
        return []
    seqs = art.model.sequences_
    start, end = seqs.last_session_starts()[row], seqs.user_ptr[row + 1]
    return [str(i) for i in art.interactions.item_ids[seqs.items[start:end]]]


def session_history(art: RecommenderArtifact, items: np.ndarray) -> Sequences:
    """One session of item columns (oldest first) as ``Sequences``, without times or types."""
    items = np.asarray(items, dtype=np.int32)
    return Sequences(
        items=items,
        seconds=np.full(len(items), np.nan),
        types=np.full(len(items), -1, dtype=np.int16),
        user_ptr=np.array([0, len(items)], dtype=np.int64),
        session_ptr=np.array([0, len(items)], dtype=np.int64),
        n_items=art.n_items,
        type_names=[],
        type_weights=np.zeros(0, dtype=np.float32),
    )


def session_scores(
    art: RecommenderArtifact, hist: Sequences, users: np.ndarray | None = None
) -> np.ndarray:
    """Scores (hist.n_users x n_items, float32) after each history of ``hist``. A sequence
    model scores the order (``users``: training rows of the histories, -1 for none); another
    recommender scores each history's items as a new customer's row."""
    model = art.model
    if isinstance(model, SequenceRecommender):
        users = np.full(hist.n_users, -1) if users is None else np.asarray(users)
        return np.asarray(model.score_sequences(hist, users), dtype=np.float32)
    n_train = art.interactions.matrix.shape[0]
    owners = hist.owners()
    rows = sp.csr_matrix(
        (np.ones(hist.n_events, dtype=np.float32), (n_train + owners, hist.items)),
        shape=(n_train + hist.n_users, art.n_items),
    )
    rows.sum_duplicates()
    rows.data = np.log1p(rows.data).astype(np.float32)
    return np.asarray(model.score(n_train + np.arange(hist.n_users), rows), dtype=np.float32)


def popular_items(art: RecommenderArtifact, k: int) -> pd.DataFrame:
    """The ``k`` most popular items of the model, each with the reason ``POPULAR``."""
    popularity = np.asarray(art.model.item_popularity_, dtype=np.float32)
    top, values = top_n(popularity[None, :], min(k, art.n_items))
    keep = top[0] >= 0
    top_value = float(values[0][keep].max()) if keep.any() else 1.0
    scores = values[0][keep] / (top_value or 1.0)
    return item_frame(art, top[0][keep], scores, np.full(int(keep.sum()), POPULAR, dtype=object))


def session_reasons(
    art: RecommenderArtifact, sessions: list[np.ndarray], recs: np.ndarray
) -> np.ndarray:
    """A reason (text) for each recommended item ``recs[r, j]`` (-1: none) after the session
    ``sessions[r]`` (item columns, oldest first); same shape as ``recs``, object dtype."""
    out = np.full(recs.shape, POPULAR, dtype=object)
    rows, slots, partners, weights, last = _context_pairs(sessions, recs)
    if len(rows) == 0:
        return out
    items = recs[rows, slots]
    model = getattr(art.model, "chosen_", art.model)
    follows = getattr(model, "transitions_", None)
    after = np.asarray(follows[partners, items]).ravel() if follows is not None else np.zeros(0)
    alike = art.model.item_similarity(partners, items)
    titles = catalogue(art)["title"]
    for evidence, kind in ((alike, "alike"), (after, "after")):
        if len(evidence) == 0:
            continue
        strength = np.where(evidence > 0, evidence * weights, 0.0)
        best = _best_per_slot(rows, slots, strength, recs.shape)
        for (r, j), index in best.items():
            partner = partners[index]
            word = "just viewed" if partner == last[r] else "viewed"
            out[r, j] = (
                f"Often viewed after {titles[partner]}"
                if kind == "after"
                else f"Because you {word} {titles[partner]}"
            )
    _repeat_reasons(sessions, recs, out)
    return out


def _context_pairs(sessions: list[np.ndarray], recs: np.ndarray):
    """Flat arrays over (row, slot, context item): row, slot, the context item, its weight,
    and each row's last item."""
    rows, slots, partners, weights = [], [], [], []
    last = np.full(len(sessions), -1, dtype=np.int64)
    for r, session in enumerate(sessions):
        session = np.asarray(session, dtype=np.int64)
        if len(session) == 0:
            continue
        last[r] = session[-1]
        recent = list(dict.fromkeys(session[::-1].tolist()))[:CONTEXT_EVENTS]
        for j in np.flatnonzero(recs[r] >= 0):
            rows += [r] * len(recent)
            slots += [j] * len(recent)
            partners += recent
            weights += [0.5**p for p in range(len(recent))]
    as_int = [np.asarray(a, dtype=np.int64) for a in (rows, slots, partners)]
    keep = as_int[2] != recs[as_int[0], as_int[1]] if len(as_int[0]) else np.zeros(0, bool)
    return (
        as_int[0][keep],
        as_int[1][keep],
        as_int[2][keep],
        np.asarray(weights, dtype=np.float32)[keep],
        last,
    )


def _best_per_slot(rows, slots, strength, shape) -> dict[tuple[int, int], int]:
    """For each (row, slot) with positive evidence, the index of its strongest pair."""
    flat = rows * shape[1] + slots
    order = np.lexsort((-strength, flat))
    first = np.r_[True, flat[order][1:] != flat[order][:-1]]
    best = order[first]
    best = best[strength[best] > 0]
    return {(int(rows[i]), int(slots[i])): int(i) for i in best}


def _repeat_reasons(sessions: list[np.ndarray], recs: np.ndarray, out: np.ndarray) -> None:
    for r, session in enumerate(sessions):
        counts = pd.Series(np.asarray(session, dtype=np.int64)).value_counts()
        last = int(session[-1]) if len(session) else -1
        for j in np.flatnonzero(recs[r] >= 0):
            seen = int(counts.get(int(recs[r, j]), 0))
            if not seen:
                continue
            if int(recs[r, j]) == last:
                out[r, j] = "You just viewed this"
            elif seen > 1:
                out[r, j] = f"You viewed this {seen} times in this session"
            else:
                out[r, j] = "You viewed this earlier in this session"


def item_frame(
    art: RecommenderArtifact, items: np.ndarray, scores: np.ndarray, reasons: np.ndarray
) -> pd.DataFrame:
    """``COLUMNS`` for item columns ``items`` (best first) with their scores and reasons."""
    items = np.asarray(items, dtype=np.int64)
    found = catalogue(art)
    frame = pd.DataFrame(
        {
            "rank": np.arange(1, len(items) + 1),
            "item_id": found["item_id"][items],
            "title": found["title"][items],
            "score": np.asarray(scores, dtype=float).round(6),
            "reason": np.asarray(reasons, dtype=object),
        }
    )
    for name in ("category", "price"):
        if name in found:
            frame[name] = found[name][items]
    return frame[[c for c in COLUMNS if c in frame]]


def catalogue(art: RecommenderArtifact) -> dict[str, np.ndarray]:
    """Per item column of the model: ``item_id``, ``title`` (the id where there is none) and,
    where the items table has them, ``category`` and ``price``; worked out once per loaded
    artifact (the last ``CATALOGUES_KEPT``)."""
    kept = _CATALOGUES.get(id(art))
    if kept is not None and kept[0]() is art:
        return kept[1]
    ids = art.interactions.item_ids.astype(str)
    found = {"item_id": ids.astype(object), "title": art.titles(np.arange(len(ids)))}
    found["title"] = found["title"].astype(object)
    rows = art.items.index.astype(str).get_indexer(ids) if len(art.items) else None
    for name, choices in (("category", CATEGORY_COLUMNS), ("price", PRICE_COLUMNS)):
        column = first_present(art.items, choices)
        if column is not None and rows is not None:
            values = art.items[column].to_numpy(dtype=object)
            found[name] = np.where(rows >= 0, values[np.maximum(rows, 0)], None)
    while len(_CATALOGUES) >= CATALOGUES_KEPT:
        _CATALOGUES.pop(next(iter(_CATALOGUES)))
    _CATALOGUES[id(art)] = (weakref.ref(art), found)
    return found


def latest_session_blocks(
    art: RecommenderArtifact, k: int = 10, filter_seen: bool = False
) -> Iterator[pd.DataFrame]:
    """Blocks of ``user_id``, ``session_items`` (the latest session's ids, oldest first, joined
    by spaces) and ``COLUMNS``: the next items after every user's latest session, scored from
    the user's whole history as the model stored it (recent events weigh most, and an item of
    an earlier session can come back as a repeat); the reasons and ``filter_seen`` use the latest
    session. Needs a sequence model (its training sequences hold the sessions); ``BadInputError``
    otherwise."""
    k = check_k(k)
    if not is_sequence_model(art):
        raise BadInputError(
            f"Model {art.algo} has no sessions; next-item lists need a sequence model: "
            f"python -m personalization train-recommender --algo sequence"
        )
    seqs = art.model.sequences_
    starts, ends = seqs.last_session_starts(), seqs.user_ptr[1:]
    users = np.flatnonzero(ends > starts)
    n = min(k, art.n_items)
    step = max(1, BLOCK_CELLS // max(1, art.n_items))
    for begin in range(0, len(users), step):
        block = users[begin : begin + step]
        hist = seqs.take_events(starts[block], ends[block])
        scores = session_scores(art, seqs.take_users(block), block)
        sessions = np.split(hist.items.astype(np.int64), hist.user_ptr[1:-1])
        if filter_seen:
            owner = hist.owners()
            scores[owner, hist.items] = -np.inf
        top, values = top_n(scores, n)
        yield _block_frame(art, block, sessions, top, values)


def _block_frame(art, block, sessions, top, values) -> pd.DataFrame:
    reasons = session_reasons(art, sessions, top)
    valid = top >= 0
    owner = np.nonzero(valid)[0]
    frame = item_frame(art, top[valid], values[valid], reasons[valid])
    frame["rank"] = np.broadcast_to(np.arange(1, top.shape[1] + 1), top.shape)[valid]
    item_ids = art.interactions.item_ids
    said = np.array([" ".join(item_ids[s].astype(str)) for s in sessions], dtype=object)
    frame.insert(0, "session_items", said[owner])
    frame.insert(0, "user_id", art.interactions.user_ids[block][owner].astype(str))
    return frame


def export_next_items(
    out: str | Path,
    k: int = 10,
    model_id: str | None = None,
    filter_seen: bool = False,
    db=None,
) -> dict:
    """Write the next items after every user's latest session to ``out`` (.csv, formula-safe,
    or .parquet) with ``export.write_blocks``. Returns ``path``, ``rows``, ``users``,
    ``model_id``."""
    art, info = serving.load_artifact(model_id, db=db)
    users: set[str] = set()

    def counted() -> Iterator[pd.DataFrame]:
        for block in latest_session_blocks(art, k, filter_seen):
            users.update(block["user_id"].unique())
            yield block

    path, rows = export.write_blocks(counted(), out)
    return {"path": str(path), "rows": int(rows), "users": len(users), "model_id": info["model_id"]}
