"""Profiles, readiness and overview on tiny tables with known answers."""

from __future__ import annotations

import pytest

from personalization.data import profile
from personalization.data.ingest import ingest_file
from personalization.errors import NotFoundError


def events_csv(tmp_path, users, items, repeat=True):
    """``users`` x ``items`` grid of views (every user sees every item) when ``repeat``."""
    lines = ["user_id,item_id,event_type,timestamp,value"]
    for u in range(users):
        for i in range(items if repeat else 1):
            lines.append(
                f"u{u},i{(u + i) % max(items, 1)},{'view' if i else 'purchase'},"
                f"2024-01-0{1 + i % 3} 10:00:00,{i}"
            )
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def customers_csv(tmp_path, yes, no):
    rows = [f"{i},{'yes' if i < yes else 'no'},{i % 2}" for i in range(yes + no)]
    path = tmp_path / "customers.csv"
    path.write_text("id,converted,flag\n" + "\n".join(rows) + "\n")
    return path


def test_profile_of_events(db, tmp_path):
    ingest_file(events_csv(tmp_path, users=4, items=3), db=db)
    p = profile.profile_table("events", db=db)
    assert p["rows"] == 12
    assert p["events_per_type"] == {"view": 8, "purchase": 4}
    assert (p["n_users"], p["n_items"]) == (4, 3)
    assert p["interactions_per_user"]["median"] == 3.0
    assert [str(d.date()) for d in p["date_range"]] == ["2024-01-01", "2024-01-03"]
    assert list(p["events_per_day"]["events"]) == [4, 4, 4]
    cols = p["columns"].set_index("column")
    assert cols.loc["session_id", "nulls"] == 12
    assert cols.loc["value", "min"] == "0.0" and cols.loc["value", "max"] == "2.0"
    assert cols.loc["user_id", "distinct"] == 4


def test_profile_of_a_missing_table(db):
    with pytest.raises(NotFoundError, match="no table 'nope'"):
        profile.profile_table("nope", db=db)


def test_readiness_on_an_empty_database(db):
    r = profile.readiness(db=db)
    assert r["can_recommend"] is False and r["can_classify"] is False
    messages = " ".join(c["message"] for c in r["checks"] if not c["ok"])
    assert "--kind events" in messages and "--kind customers" in messages


def test_readiness_says_what_is_missing(db, tmp_path):
    ingest_file(events_csv(tmp_path, users=5, items=3), db=db)
    ingest_file(customers_csv(tmp_path, yes=5, no=30), kind="customers", db=db)
    r = profile.readiness(db=db)
    failed = {c["check"]: c["message"] for c in r["checks"] if not c["ok"]}
    assert set(failed) == {"recommender: users", "recommender: items", "classifier: classes"}
    assert failed["recommender: users"].startswith("5 users (need at least 20)")
    assert "no: 30" in failed["classifier: classes"] and "yes: 5" in failed["classifier: classes"]


def test_readiness_when_there_is_enough(db, tmp_path):
    ingest_file(events_csv(tmp_path, users=25, items=12), db=db)
    ingest_file(customers_csv(tmp_path, yes=20, no=25), kind="customers", db=db)
    r = profile.readiness(db=db)
    assert r["can_recommend"] and r["can_classify"]
    assert r["target"] == {"table": "customers", "column": "converted"}


def test_overview(db, tmp_path):
    assert profile.overview(db=db)["n_events"] == 0
    ingest_file(events_csv(tmp_path, users=4, items=3), db=db)
    o = profile.overview(db=db)
    assert (o["n_events"], o["n_users"], o["n_items"], o["n_models"]) == (12, 4, 3, 0)
    assert o["tables"] == [{"name": "events", "kind": "events", "rows": 12}]
    assert o["date_range"] is not None
