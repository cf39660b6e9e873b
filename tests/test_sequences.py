"""Sequence data (store SQL sessions, compact arrays), the next-event split and what the
sequence families learn, on tiny events with known answers."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from personalization import evaluation, store
from personalization.errors import BadInputError
from personalization.recommendation.interactions import build_interactions
from personalization.recommendation.models import make_recommender
from personalization.recommendation.models.recent import RecentRecommender
from personalization.recommendation.models.sasrec import SASRecRecommender, torch_available
from personalization.recommendation.models.sequential import REPEAT_GRID
from personalization.recommendation.models.transitions import TransitionsRecommender
from personalization.recommendation.sequences import (
    build_sequences,
    read_sequence_events,
    split_last,
)


def write_events(db, rows) -> None:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    con = duckdb.connect(str(db))
    con.register("frame", frame)
    con.execute("CREATE TABLE events AS SELECT * FROM frame")
    con.close()


def test_sessions_split_after_the_gap_and_order_by_time(db):
    write_events(
        db,
        [
            ("u1", "c", "view", "2024-01-01 12:00"),
            ("u1", "a", "view", "2024-01-01 10:00"),
            ("u1", "b", "view", "2024-01-01 10:10"),
            ("u2", "a", "view", "2024-01-01 10:00"),
        ],
    )
    frame = store.read_sequences("events", 30, db=db)
    assert frame["item_id"].tolist() == ["a", "b", "c", "a"]
    assert frame["session"].tolist() == [0, 0, 1, 2]
    assert store.read_sequences("events", 180, db=db)["session"].tolist() == [0, 0, 0, 1]


def test_next_event_holds_out_each_users_last_event():
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "c", "c"],
            "item_id": ["x", "y", "x", "p", "q"],
            "timestamp": pd.to_datetime(
                ["2024-01-02", "2024-01-01", "2024-01-01"] * 1 + ["2024-01-01", "2024-01-03"]
            ),
        }
    )
    train, test = evaluation.split_next_event(events)
    assert sorted(zip(test["user_id"], test["item_id"], strict=True)) == [("a", "x"), ("c", "q")]
    assert len(train) == 3
    metrics = evaluation.next_event_metrics(np.array([1, 2, np.inf]), 2)
    assert metrics["hr@2"] == 2 / 3 and metrics["mrr@2"] == 0.5


def test_transitions_learn_what_follows_what(db):
    rows = []
    for user in range(12):
        for step, item in enumerate(["a", "b", "c"]):
            rows.append((f"u{user}", item, "view", f"2024-01-01 10:0{step}"))
    rows.append(("v", "a", "view", "2024-01-01 10:00"))
    write_events(db, rows)
    frame = read_sequence_events("events", db=db)
    inter = build_interactions(frame)
    seqs = build_sequences(frame, inter)
    assert seqs.n_events == len(rows) and len(seqs.session_ptr) - 1 == 13
    model = make_recommender("transitions").fit_sequences(seqs, inter.matrix)
    ids, _ = model.recommend_session(inter.item_indices(["a"]), n=1, filter_seen=True)
    assert inter.item_ids[ids[0]] == "b"
    ids, _ = model.recommend_session(inter.item_indices(["a", "b"]), n=1, filter_seen=True)
    assert inter.item_ids[ids[0]] == "c"


def test_the_explore_part_orders_what_follows_the_repeats(db):
    rows = []
    for user in range(12):
        rows += [(f"u{user}", "ab"[n % 2], "view", f"2024-01-01 10:0{n}") for n in range(6)]
    for user in range(20):  # c and d are the most popular, and never follow a
        rows += [(f"w{user}", "cd"[n % 2], "view", f"2024-01-01 11:0{n}") for n in range(6)]
    write_events(db, rows)
    frame = read_sequence_events("events", db=db)
    inter = build_interactions(frame)
    seqs = build_sequences(frame, inter)
    assert max(REPEAT_GRID) < 1.0  # the strongest learnable weight still lets explore speak
    model = make_recommender("transitions", repeat_weight=max(REPEAT_GRID))
    ids, _ = model.fit_sequences(seqs, inter.matrix).recommend_session(
        inter.item_indices(["a"]), n=2
    )
    assert list(inter.item_ids[ids]) == ["a", "b"]


def chain_sequences(db, users: int = 40, length: int = 6):
    """Each user walks i -> i + 1 (mod 10) from a start of their own: what follows what is
    certain, and co-occurrence alone cannot tell the next item from the previous one."""
    rows = []
    for user in range(users):
        for step in range(length):
            item = f"i{(user + step) % 10}"
            rows.append((f"u{user}", item, "view", f"2024-01-01 10:{step:02d}"))
    write_events(db, rows)
    frame = read_sequence_events("events", db=db)
    inter = build_interactions(frame)
    return build_sequences(frame, inter), inter


def count_learning(monkeypatch, cls, name: str, calls: list) -> None:
    learn = cls._learn

    def counted(self, seqs):
        calls.append((name, seqs.n_events))
        return learn(self, seqs)

    monkeypatch.setattr(cls, "_learn", counted)


@pytest.fixture
def counted_choice(db, monkeypatch):
    """The chain sequences, a ``sequence`` model choosing between recent and transitions, and
    the list of (family, events) each time one of them learns."""
    seqs, inter = chain_sequences(db)
    calls: list = []
    count_learning(monkeypatch, RecentRecommender, "recent", calls)
    count_learning(monkeypatch, TransitionsRecommender, "transitions", calls)
    return seqs, inter, calls, make_recommender("sequence", families="recent,transitions")


def test_the_sequence_choice_shares_one_split_and_learns_each_family_once(counted_choice):
    seqs, inter, calls, model = counted_choice
    model.fit_sequences(seqs, inter.matrix)
    held = 40  # every user has 6 events: one split holds out each user's last one
    assert calls == [
        ("recent", seqs.n_events - held),
        ("transitions", seqs.n_events - held),
        ("transitions", seqs.n_events),  # only the chosen family learns again, on everything
    ]
    assert model.family_ == "transitions"
    assert model.validation_scores_["transitions"] > model.validation_scores_["recent"]
    assert model.repeat_weight_ == model.chosen_.repeat_weight_ < 0.5
    ids, _ = model.recommend_session(inter.item_indices(["i3", "i4"]), n=1, filter_seen=True)
    assert inter.item_ids[ids[0]] == "i5"


def test_a_sequence_choice_made_elsewhere_is_reused_without_validating(counted_choice):
    seqs, inter, calls, model = counted_choice
    model.use_settings("recent", 0.25).fit_sequences(seqs, inter.matrix)
    assert calls == [("recent", seqs.n_events)]
    assert (model.family_, model.repeat_weight_, model.validation_scores_) == ("recent", 0.25, {})
    with pytest.raises(BadInputError, match="family"):
        model.use_settings("gru", 0.5)


@pytest.mark.skipif(not torch_available(), reason="PyTorch is not installed")
def test_sasrec_stops_at_its_time_budget_and_keeps_the_split_network(db, monkeypatch):
    seqs, inter = chain_sequences(db)
    calls: list = []
    count_learning(monkeypatch, SASRecRecommender, "sasrec", calls)
    model = SASRecRecommender(dim=8, blocks=1, batch_size=4, epochs=50, max_seconds=0.0)
    prefix, users, held = split_last(seqs)
    grid = model.learn_split(prefix, users, held)
    assert model.epochs_ == 1 and set(grid) == set(REPEAT_GRID)  # the budget ended the first epoch
    weights = model.weights_["items.weight"].copy()
    model.finish(seqs, inter.matrix, 0.4)
    assert calls == [] and model.repeat_weight_ == 0.4  # learned once, on the split
    assert np.array_equal(model.weights_["items.weight"], weights)
    assert model.recommend_session(inter.item_indices(["i1"]), n=3)[0].shape == (3,)
