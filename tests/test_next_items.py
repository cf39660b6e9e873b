"""Next items after a session: readiness of the data, the refusal of data without sequences, the
list with its reasons (embedded and over REST), and the export after every user's latest session."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from personalization.cli import sequence as cli_sequence
from personalization.deploy.api import create_app
from personalization.deploy.session_api import router
from personalization.errors import BadInputError, NotEnoughDataError
from personalization.recommendation import next_items, sequences, serving, training
from tests.conftest import copy_database, load_csv

ITEMS = "item_id,title,category\na,Apron,kitchen\nb,Bowl,kitchen\nc,Cup,kitchen\nd,Dice,toys\n"


def clicks_csv() -> str:
    """Twelve visitors who each view a, then b, then c a minute apart; one views d twice."""
    rows = ["user_id,item_id,event_type,timestamp"]
    for user in range(12):
        for step, item in enumerate("abc"):
            rows.append(f"u{user},{item},view,2024-01-0{1 + user % 3} 10:0{step}:00")
    rows += ["z,d,view,2024-01-01 09:00:00", "z,d,view,2024-01-01 09:01:00"]
    return "\n".join(rows) + "\n"


def invoices_csv() -> str:
    """Retail invoices: many items of one invoice share one timestamp (no order of clicks)."""
    rows = ["user_id,item_id,event_type,timestamp"]
    for user in range(10):
        for item in "abcd":
            rows.append(f"c{user},{item},purchase,2024-02-0{1 + user % 5} 12:00:00")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def _clicks(tmp_path_factory):
    """``clicks_csv`` and ``ITEMS`` loaded and a transitions model trained, once per module."""
    folder = tmp_path_factory.mktemp("clicks")
    db = folder / "clicks.duckdb"
    load_csv(db, folder, "events", clicks_csv())
    load_csv(db, folder, "items", ITEMS)
    return db, training.train_recommender(algo="transitions", db=db)["model_id"]


@pytest.fixture
def clicks(_clicks, db):
    """A private copy of the clicks database in ``db`` and its transitions model id."""
    source, model = _clicks
    copy_database(source, db)
    return db, model


def test_readiness_counts_sessions_and_order():
    session = np.array([0, 0, 0, 1, 2, 2])
    seconds = np.array([1.0, 2.0, 3.0, 9.0, 20.0, 20.0])
    found = sequences.session_readiness(session, seconds)
    assert found["sessions"] == 3 and found["share_sessions_2plus"] == pytest.approx(2 / 3)
    assert found["median_session_events"] == 2.0
    assert found["ordered_share"] == pytest.approx(2 / 3)  # 1->2, 2->3 later; 20->20 a tie
    assert found["ready"] and "ready" in found["why"]
    ties = sequences.session_readiness(np.array([0, 0, 0, 1, 1]), np.full(5, 7.0))
    assert not ties["ready"] and "order" in ties["why"] and ties["ordered_share"] == 0.0
    single = sequences.session_readiness(np.arange(5), np.arange(5.0))
    assert not single["ready"] and "0% of sessions" in single["why"]
    untimed = sequences.session_readiness(np.zeros(4), np.full(4, np.nan))
    assert not untimed["ready"] and "no timestamps" in untimed["why"]


def test_invoices_are_refused_by_a_sequence_model_with_the_reason(db, tmp_path):
    load_csv(db, tmp_path, "events", invoices_csv())
    found = sequences.sequence_readiness("events", db=db)
    assert found["share_sessions_2plus"] == 1.0 and found["ordered_share"] == 0.0
    assert not found["ready"]
    with pytest.raises(NotEnoughDataError, match="one timestamp"):
        training.train_recommender(algo="sequence", db=db)
    assert training.train_recommender(algo="popularity", db=db)["model_id"]


def test_next_items_follow_the_session_with_reasons(clicks):
    db, model = clicks
    after_a = next_items.next_for_session(["a"], k=3, model_id=model, filter_seen=True, db=db)
    assert after_a["item_id"].iloc[0] == "b"
    assert after_a["reason"].iloc[0] == "Often viewed after Apron"
    assert after_a["title"].iloc[0] == "Bowl" and after_a.attrs["sequence_model"]
    after_ab = next_items.next_for_session(["a", "b", "zz"], k=4, model_id=model, db=db)
    assert after_ab.attrs["unknown"] == ["zz"] and after_ab.attrs["known"] == 2
    reasons = dict(zip(after_ab["item_id"], after_ab["reason"], strict=True))
    assert reasons["c"] == "Often viewed after Bowl"
    assert reasons["b"] == "You just viewed this"
    assert list(after_ab["rank"]) == list(range(1, len(after_ab) + 1))


def test_a_session_of_unknown_items_gets_the_popular_ones(clicks):
    db, model = clicks
    found = next_items.next_for_session(["nope"], k=2, model_id=model, db=db)
    assert len(found) == 2 and set(found["reason"]) == {next_items.POPULAR}
    with pytest.raises(BadInputError, match="list of item ids"):
        next_items.next_for_session("a", model_id=model, db=db)
    with pytest.raises(BadInputError, match="k must be"):
        next_items.next_for_session(["a"], k=0, model_id=model, db=db)


def test_a_model_without_order_still_answers_from_the_session_items(clicks):
    db, _ = clicks
    model = training.train_recommender(algo="itemknn", db=db)["model_id"]
    found = next_items.next_for_session(["a"], k=2, model_id=model, filter_seen=True, db=db)
    assert not found.attrs["sequence_model"]
    assert set(found["item_id"]) == {"b", "c"}  # what goes with a, never d
    assert all(r.startswith("Because you just viewed Apron") for r in found["reason"])


def test_export_lists_the_next_items_after_each_latest_session(clicks, tmp_path):
    db, model = clicks
    out = tmp_path / "next.csv"
    result = next_items.export_next_items(out, k=2, model_id=model, db=db)
    frame = pd.read_csv(out, dtype=str)
    assert result["users"] == 13 and result["rows"] == len(frame) == 26
    first = frame[frame["user_id"] == "u0"]
    assert first["session_items"].iloc[0] == "a b c" and first["item_id"].iloc[0] == "c"
    z = frame[frame["user_id"] == "z"]
    assert z["item_id"].iloc[0] == "d" and z["reason"].iloc[0] == "You just viewed this"
    popular = training.train_recommender(algo="popularity", db=db)["model_id"]
    with pytest.raises(BadInputError, match="sequence model"):
        next_items.export_next_items(tmp_path / "no.csv", model_id=popular, db=db)
    assert not (tmp_path / "no.csv").exists()


def test_rest_session_route(clicks):
    db, model = clicks
    app = create_app(db, watch=False)
    app.include_router(router)
    with TestClient(app) as client:
        answer = client.post("/session", json={"items": ["a", "x"], "k": 3, "filter_seen": True})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_id"] == model and body["unknown"] == ["x"]
        assert body["items"][0]["item_id"] == "b"
        assert body["items"][0]["reason"] == "Often viewed after Apron"
        bad = client.post("/session", json={"items": "a", "k": 3})
        assert bad.status_code == 422
        assert client.post("/session", json={"items": [], "k": 500}).status_code == 422


def test_latest_session_and_the_commands(clicks, tmp_path):
    db, model = clicks
    art, _ = serving.load_artifact(model, db=db)
    assert next_items.latest_session(art, "u0") == ["a", "b", "c"]
    assert next_items.latest_session(art, "z") == ["d", "d"]
    assert next_items.latest_session(art, "nobody") == []
    parser = argparse.ArgumentParser()
    cli_sequence.register(parser.add_subparsers())

    def call(*argv):
        args = parser.parse_args([str(a) for a in argv])
        args.db = db
        return args.func(args)

    ready = call("sequence-readiness")
    assert ready["ready"] and ready["sessions"] == 13
    listed = call("next-items", "--item", "a", "--item", "b", "-k", "1", "--filter-seen")
    assert [i["item_id"] for i in listed["items"]] == ["c"] and listed["unknown"] == []
    out = call("export-next-items", "--out", tmp_path / "n.parquet", "-k", "1")
    assert out["rows"] == 13 and len(pd.read_parquet(out["path"])) == 13


def test_the_export_scores_the_whole_history_so_an_earlier_item_comes_back(db, tmp_path):
    rows = clicks_csv().splitlines()[1:]
    rows += ["y,d,view,2024-01-03 08:00:00", "y,d,view,2024-01-03 08:01:00"]
    rows += ["y,a,view,2024-01-03 10:00:00"]  # a new session two hours later
    load_csv(db, tmp_path, "events", "user_id,item_id,event_type,timestamp\n" + "\n".join(rows))
    params = {"repeat_weight": 0.7}
    model = training.train_recommender(algo="transitions", params=params, db=db)["model_id"]
    out = tmp_path / "next.csv"
    next_items.export_next_items(out, k=4, model_id=model, db=db)
    y = pd.read_csv(out, dtype=str).query("user_id == 'y'")
    assert set(y["session_items"]) == {"a"}  # the latest session is shown
    assert list(y["item_id"][:2]) == ["d", "a"]  # d, viewed twice before it, comes back first
