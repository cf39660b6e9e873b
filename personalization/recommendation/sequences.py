"""Users' events in time order, as compact arrays, for the sequence recommenders.

``Sequences`` holds one row per event, grouped by user (the rows of the interactions matrix) and
ordered by time within each user: the item column, the time in seconds and the event type code;
``user_ptr`` (like a CSR ``indptr``) cuts the events into users and ``session_ptr`` into
sessions. Memory is linear in the events (about 16 bytes an event).

- ``read_sequence_events``: the ordered events of a table with their session numbers (the store
  splits sessions on ``session_id``, or after ``gap_minutes`` without an event).
- ``build_sequences``: those events onto the id maps of an ``Interactions``.
- ``sequences_from_matrix``: a stand-in when only a matrix is given (items ordered by the age
  of their latest event, oldest first; one session per user).
- ``split_last``: each user's last event held out, for validation and the next-event protocol.
- ``recency_weights``: per event, its event-type weight times a decay by how many events
  and hours ago it happened (the repeat signal of every sequence model).
- ``session_readiness`` / ``readiness_of`` / ``check_ready``: whether the events hold sequences
  worth learning from (sessions of two events or more whose times give an order), said before
  training; a sequence model refuses data without them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization.errors import BadInputError, NotEnoughDataError
from personalization.recommendation.interactions import (
    DEFAULT_EVENT_WEIGHTS,
    Interactions,
    canonical_event_type,
)
from personalization.store import sequences as store_sequences

DEFAULT_GAP_MINUTES = store_sequences.DEFAULT_GAP_MINUTES
MIN_USEFUL_LENGTH = 3
MIN_USEFUL_SHARE = 0.2
MIN_MULTI_SESSION_SHARE = 0.1
MIN_ORDERED_SHARE = 0.5


@dataclass
class Sequences:
    """Events grouped by user and ordered by time.

    ``items`` (int32, n_events) item columns; ``seconds`` (float64) Unix seconds, NaN where
    unknown; ``types`` (int16) codes into ``type_names`` (-1: none); ``user_ptr`` (int64,
    n_users + 1) and ``session_ptr`` (int64, n_sessions + 1) event offsets; ``n_items`` the
    catalogue size; ``type_weights`` (float32, one per type name) the weight of each type.
    """

    items: np.ndarray
    seconds: np.ndarray
    types: np.ndarray
    user_ptr: np.ndarray
    session_ptr: np.ndarray
    n_items: int
    type_names: list[str]
    type_weights: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ptr) - 1

    @property
    def n_events(self) -> int:
        return len(self.items)

    def lengths(self) -> np.ndarray:
        """Events per user (int64, n_users)."""
        return np.diff(self.user_ptr)

    def owners(self) -> np.ndarray:
        """The user row of each event (int64, n_events)."""
        return np.repeat(np.arange(self.n_users), self.lengths())

    def session_owners(self) -> np.ndarray:
        """The user row of each session (int64, n_sessions)."""
        return self.owners()[self.session_ptr[:-1]] if self.n_events else np.zeros(0, np.int64)

    def event_weights(self) -> np.ndarray:
        """The event-type weight of each event (1 where the type is unknown), float32."""
        table = np.r_[self.type_weights.astype(np.float32), np.float32(1.0)]
        return table[np.where(self.types >= 0, self.types, len(self.type_weights))]

    def user_item_matrix(self) -> sp.csr_matrix:
        """Users x items CSR of summed event-type weights (what the other models fit on)."""
        matrix = sp.csr_matrix(
            (self.event_weights(), (self.owners(), self.items)),
            shape=(self.n_users, self.n_items),
        )
        matrix.sum_duplicates()
        matrix.data = np.maximum(matrix.data, 1e-3).astype(np.float32)
        return matrix

    def take_users(self, users: np.ndarray) -> Sequences:
        """The sequences of ``users`` (row indices), in that order, as a new ``Sequences``."""
        users = np.asarray(users, dtype=np.int64)
        starts, ends = self.user_ptr[users], self.user_ptr[users + 1]
        return self.take_events(starts, ends)

    def take_events(self, starts: np.ndarray, ends: np.ndarray) -> Sequences:
        """A ``Sequences`` with one user per ``[starts[i], ends[i])`` event range."""
        lengths = np.maximum(ends - starts, 0)
        ptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        index = np.repeat(starts - ptr[:-1], lengths) + np.arange(ptr[-1])
        new_session = np.zeros(len(index), dtype=bool)
        is_start = np.zeros(self.n_events + 1, dtype=bool)
        is_start[self.session_ptr] = True
        new_session[:] = is_start[index]
        new_session[ptr[:-1][lengths > 0]] = True
        session_ptr = np.r_[np.flatnonzero(new_session), len(index)].astype(np.int64)
        return Sequences(
            items=self.items[index],
            seconds=self.seconds[index],
            types=self.types[index],
            user_ptr=ptr,
            session_ptr=session_ptr,
            n_items=self.n_items,
            type_names=self.type_names,
            type_weights=self.type_weights,
        )

    def last_session_starts(self) -> np.ndarray:
        """Event offset where each user's latest session starts (user_ptr[u+1] when empty)."""
        starts = self.session_ptr[:-1]
        owner = self.session_owners()
        out = self.user_ptr[1:].copy()
        out[owner] = starts  # later sessions of a user overwrite earlier ones
        return out


def read_sequence_events(
    table: str = "events", gap_minutes: float = DEFAULT_GAP_MINUTES, db=None
) -> pd.DataFrame:
    """The events of ``table`` ordered by user and time with a ``session`` number and a
    ``timestamp`` column (``user_id``, ``item_id``, ``event_type``, ``timestamp``, ``seconds``,
    ``session``), ready for ``build_interactions`` and ``build_sequences``."""
    frame = store_sequences.read_sequences(table, gap_minutes, db=db)
    frame["timestamp"] = pd.to_datetime(frame["seconds"], unit="s", errors="coerce")
    return frame


def sessions_from_gaps(frame: pd.DataFrame, gap_minutes: float = DEFAULT_GAP_MINUTES) -> np.ndarray:
    """Session numbers (int64) of an events frame already ordered by user and time: a new
    session at each user's first event or after more than ``gap_minutes`` without one."""
    users = frame["user_id"].astype(str).to_numpy()
    seconds = pd.to_numeric(frame["seconds"], errors="coerce").to_numpy(dtype=np.float64)
    new_user = np.r_[True, users[1:] != users[:-1]]
    gap = np.r_[False, np.diff(seconds) > float(gap_minutes) * 60.0]
    return np.cumsum(new_user | gap) - 1


def build_sequences(
    frame: pd.DataFrame, interactions: Interactions, weights: dict[str, float] | None = None
) -> Sequences:
    """The events of ``frame`` (``read_sequence_events``: ordered by user and time, with a
    ``session``) on the rows and columns of ``interactions``; events of users or items the
    matrix lacks are left out. ``weights`` (event type -> weight) default to
    ``DEFAULT_EVENT_WEIGHTS``; an unknown type weighs 1."""
    for column in ("user_id", "item_id", "session"):
        if column not in frame:
            raise BadInputError(
                f"The sequence events have no column {column!r}; read them with "
                f"read_sequence_events."
            )
    rows = interactions.user_indices(frame["user_id"].to_numpy())
    cols = interactions.item_indices(frame["item_id"].to_numpy())
    keep = (rows >= 0) & (cols >= 0)
    order = np.argsort(rows[keep], kind="stable")
    rows, cols = rows[keep][order], cols[keep][order]
    seconds = _seconds(frame)[keep][order]
    session = frame["session"].to_numpy(dtype=np.int64)[keep][order]
    types, names = _type_codes(frame, keep, order)
    table = {**DEFAULT_EVENT_WEIGHTS, **(weights or {})}
    type_weights = np.array(
        [table.get(n, table.get(canonical_event_type(n), 1.0)) for n in names], dtype=np.float32
    )
    n_users = interactions.matrix.shape[0]
    user_ptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n_users))].astype(np.int64)
    boundary = np.r_[True, (session[1:] != session[:-1]) | (rows[1:] != rows[:-1])]
    session_ptr = np.r_[np.flatnonzero(boundary), len(rows)].astype(np.int64)
    return Sequences(
        items=cols.astype(np.int32),
        seconds=seconds,
        types=types,
        user_ptr=user_ptr,
        session_ptr=session_ptr if len(rows) else np.zeros(1, dtype=np.int64),
        n_items=int(interactions.matrix.shape[1]),
        type_names=names,
        type_weights=type_weights,
    )


def sequences_from_matrix(
    user_items: sp.csr_matrix, age_days: sp.csr_matrix | None = None
) -> Sequences:
    """A stand-in for real sequences: each user's items once, the oldest (largest
    ``age_days``) first, ties by column; one session per user; weights as event types."""
    user_items = sp.csr_matrix(user_items)
    n_users = user_items.shape[0]
    counts = np.diff(user_items.indptr)
    owner = np.repeat(np.arange(n_users), counts)
    age = np.zeros(user_items.nnz) if age_days is None else sp.csr_matrix(age_days).data
    if len(age) != user_items.nnz:
        age = np.zeros(user_items.nnz)
    order = np.lexsort((user_items.indices, -age, owner))
    weight = np.asarray(user_items.data[order], dtype=np.float32)
    names, codes = np.unique(weight, return_inverse=True)
    session_ptr = np.r_[user_items.indptr[:-1][counts > 0], user_items.nnz].astype(np.int64)
    return Sequences(
        items=user_items.indices[order].astype(np.int32),
        seconds=-age[order] * 86400.0,
        types=codes.astype(np.int16),
        user_ptr=user_items.indptr.astype(np.int64),
        session_ptr=session_ptr,
        n_items=int(user_items.shape[1]),
        type_names=[f"weight {w:g}" for w in names],
        type_weights=names.astype(np.float32),
    )


def split_last(
    seqs: Sequences, max_users: int | None = None, seed: int = 0
) -> tuple[Sequences, np.ndarray, np.ndarray]:
    """Hold out the last event of the users with two or more (at most ``max_users`` of them,
    chosen at random). Returns the remaining sequences (same users), those users (sorted rows)
    and the item of each held-out event."""
    lengths = seqs.lengths()
    users = np.flatnonzero(lengths >= 2)
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    ends = seqs.user_ptr[1:].copy()
    ends[users] -= 1
    held = seqs.items[seqs.user_ptr[users + 1] - 1]
    return seqs.take_events(seqs.user_ptr[:-1], ends), users, held.astype(np.int64)


def recency_weights(
    seqs: Sequences, half_life_events: float = 10.0, half_life_hours: float | None = 24.0
) -> np.ndarray:
    """Per event (float32): its type weight x ``0.5 ** (events after it / half_life_events)``
    x ``0.5 ** (hours before the user's last event / half_life_hours)`` (no time decay where
    times are unknown or ``half_life_hours`` is None)."""
    owner = seqs.owners()
    position = np.arange(seqs.n_events) - seqs.user_ptr[owner]
    after = seqs.lengths()[owner] - 1 - position
    weight = seqs.event_weights() * np.exp2(-after / float(half_life_events))
    if half_life_hours is not None and seqs.n_events:
        last = seqs.seconds[np.maximum(seqs.user_ptr[1:] - 1, 0)][owner]
        hours = np.nan_to_num((last - seqs.seconds) / 3600.0, nan=0.0).clip(0, None)
        weight = weight * np.exp2(-hours / float(half_life_hours))
    return weight.astype(np.float32)


def history_matrix(seqs: Sequences, weights: np.ndarray) -> sp.csr_matrix:
    """Users x items CSR of ``weights`` (one per event) summed per user and item."""
    matrix = sp.csr_matrix(
        (weights.astype(np.float32), (seqs.owners(), seqs.items)),
        shape=(seqs.n_users, seqs.n_items),
    )
    matrix.sum_duplicates()
    return matrix


def sequence_stats(frame: pd.DataFrame) -> dict:
    """How long sequences and sessions are in an ordered events frame with ``user_id`` and
    ``session``: ``n_sessions``, ``median_user_events``, ``median_session_events``,
    ``share_sessions_2plus``, ``repeat_share`` (events on an item the user had before) and
    ``useful`` (median user history >= ``MIN_USEFUL_LENGTH`` and at least
    ``MIN_USEFUL_SHARE`` of sessions with two events or more)."""
    if frame.empty:
        return {"n_sessions": 0, "useful": False}
    per_user = frame.groupby("user_id", sort=False).size()
    per_session = frame.groupby("session", sort=False).size()
    repeat = frame.duplicated(subset=["user_id", "item_id"]).mean()
    out = {
        "n_sessions": int(len(per_session)),
        "median_user_events": float(per_user.median()),
        "median_session_events": float(per_session.median()),
        "share_sessions_2plus": float((per_session >= 2).mean()),
        "repeat_share": float(repeat),
    }
    out["useful"] = bool(
        out["median_user_events"] >= MIN_USEFUL_LENGTH
        and out["share_sessions_2plus"] >= MIN_USEFUL_SHARE
    )
    return out


def session_readiness(session: np.ndarray, seconds: np.ndarray) -> dict:
    """Whether events hold usable sequences. ``session`` (ints, one per event) numbers the
    sessions, the events of a session adjacent and in order; ``seconds`` their times (NaN:
    unknown).

    Returns ``events``, ``sessions``, ``share_sessions_2plus`` (0..1), ``median_session_events``,
    ``timed_share`` (events with a time), ``ordered_share`` (of the pairs of consecutive events
    in one session, those whose second event has a strictly later time), ``ready`` (sessions of
    2+ events are at least ``MIN_MULTI_SESSION_SHARE`` and ordered pairs at least
    ``MIN_ORDERED_SHARE``) and ``why`` (one sentence: what was found and what to do).
    """
    session = np.asarray(session)
    seconds = np.asarray(seconds, dtype=np.float64)
    n = len(session)
    starts = np.r_[True, session[1:] != session[:-1]] if n else np.zeros(0, dtype=bool)
    lengths = np.diff(np.r_[np.flatnonzero(starts), n])
    inside = ~starts[1:]
    pairs = int(inside.sum())
    later = int((np.diff(seconds)[inside] > 0).sum()) if pairs else 0
    out = {
        "events": int(n),
        "sessions": int(len(lengths)),
        "share_sessions_2plus": float((lengths >= 2).mean()) if len(lengths) else 0.0,
        "median_session_events": float(np.median(lengths)) if len(lengths) else 0.0,
        "timed_share": float(np.isfinite(seconds).mean()) if n else 0.0,
        "ordered_share": later / pairs if pairs else 0.0,
    }
    out["ready"], out["why"] = _verdict(out)
    return out


def _verdict(found: dict) -> tuple[bool, str]:
    share, ordered = found["share_sessions_2plus"], found["ordered_share"]
    if found["events"] == 0:
        return False, "There are no events to order; load a clickstream first."
    if found["timed_share"] == 0:
        return False, (
            "The events have no timestamps, so the order of clicks is unknown; load the "
            "events with a time column (--map timestamp=COLUMN) or use a model such as svd."
        )
    if share < MIN_MULTI_SESSION_SHARE:
        return False, (
            f"Only {share:.0%} of sessions have two events or more (median "
            f"{found['median_session_events']:g} per session): there is no sequence to learn "
            f"what comes next from; use a model such as svd, or a longer session gap "
            f"(--param session_gap=MINUTES)."
        )
    if ordered < MIN_ORDERED_SHARE:
        return False, (
            f"Only {ordered:.0%} of the events in a session come later than the one before "
            f"(many share one timestamp, as in one time per invoice): the order of clicks is "
            f"unknown; use a model such as svd."
        )
    return True, (
        f"{share:.0%} of {found['sessions']} sessions have two events or more (median "
        f"{found['median_session_events']:g}) and {ordered:.0%} of their steps are ordered in "
        f"time: ready for a sequence model."
    )


def readiness_of(seqs: Sequences) -> dict:
    """``session_readiness`` of ``Sequences``."""
    session = np.repeat(np.arange(len(seqs.session_ptr) - 1), np.diff(seqs.session_ptr))
    return session_readiness(session, seqs.seconds)


def sequence_readiness(
    table: str = "events", gap_minutes: float = DEFAULT_GAP_MINUTES, db=None
) -> dict:
    """``session_readiness`` of the events of ``table`` (sessions split on ``session_id`` or
    after ``gap_minutes`` without an event), plus ``table`` and ``gap_minutes``."""
    frame = store_sequences.read_sequences(table, gap_minutes, db=db)
    found = session_readiness(
        frame["session"].to_numpy(dtype=np.int64),
        pd.to_numeric(frame["seconds"], errors="coerce").to_numpy(dtype=np.float64),
    )
    return {"table": table, "gap_minutes": float(gap_minutes), **found}


def check_ready(seqs: Sequences) -> dict:
    """``readiness_of(seqs)``, or ``NotEnoughDataError`` with its ``why`` when not ready."""
    found = readiness_of(seqs)
    if not found["ready"]:
        raise NotEnoughDataError(f"No sequences to learn from: {found['why']}")
    return found


def _seconds(frame: pd.DataFrame) -> np.ndarray:
    if "seconds" in frame:
        return pd.to_numeric(frame["seconds"], errors="coerce").to_numpy(dtype=np.float64)
    if "timestamp" in frame:
        stamps = pd.to_datetime(frame["timestamp"], errors="coerce")
        values = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
        return np.where(stamps.isna().to_numpy(), np.nan, values)
    return np.full(len(frame), np.nan)


def _type_codes(frame: pd.DataFrame, keep: np.ndarray, order: np.ndarray):
    if "event_type" not in frame:
        return np.full(int(keep.sum()), -1, dtype=np.int16), []
    codes, names = pd.factorize(frame["event_type"].to_numpy()[keep][order])
    return codes.astype(np.int16), [str(n) for n in names]
