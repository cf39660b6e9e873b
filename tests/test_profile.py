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


def test_a_second_profile_reads_no_rows_until_the_data_changes(db, tmp_path, monkeypatch):
    from personalization import store
    from personalization.store import profiling

    ingest_file(events_csv(tmp_path, users=4, items=3), db=db)
    profile.clear_cache()
    scans = []
    real = profiling.event_stats
    monkeypatch.setattr(
        profiling, "event_stats", lambda table, db=None: scans.append(table) or real(table, db)
    )
    first = profile.profile_table("events", db=db)
    first["rows"] = -1  # what a caller does to its copy stays there
    again = profile.profile_table("events", db=db)
    assert (again["rows"], len(scans)) == (12, 1)
    # feedback (like a trained model) goes to the catalog and changes no table: still remembered
    store.add_feedback("u1", "i1", "m1", 1, db=db)
    assert profile.profile_table("events", db=db)["rows"] == 12 and len(scans) == 1
    more = tmp_path / "more"
    more.mkdir()
    ingest_file(events_csv(more, users=6, items=1, repeat=False), db=db)  # an append
    fresh = profile.profile_table("events", db=db)
    assert (fresh["rows"], fresh["n_users"], len(scans)) == (18, 6, 2)
    ingest_file(events_csv(more, users=6, items=1, repeat=False), mode="replace", db=db)
    assert profile.profile_table("events", db=db)["rows"] == 6 and len(scans) == 3


def test_readiness_and_overview_follow_a_new_load(db, tmp_path):
    profile.clear_cache()
    assert profile.overview(db=db)["n_events"] == 0
    assert not profile.readiness(db=db)["can_recommend"]
    ingest_file(events_csv(tmp_path, users=25, items=12), db=db)
    assert profile.overview(db=db)["n_events"] == 300
    assert profile.readiness(db=db)["can_recommend"]


def test_a_table_changed_outside_an_ingest_is_profiled_again(db, tmp_path):
    from personalization import store

    ingest_file(events_csv(tmp_path, users=4, items=3), db=db)
    assert profile.profile_table("events", db=db)["rows"] == 12
    store.execute("DELETE FROM events WHERE user_id = ?", ["u1"], db=db)
    assert profile.profile_table("events", db=db)["rows"] == 9


def test_readiness_counts_an_events_table_without_timestamps(db, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id\n" + "".join(f"u{i},i{i % 3}\n" for i in range(6)))
    ingest_file(path, kind="users", table="events", db=db)
    checks = {c["check"]: c for c in profile.readiness(db=db)["checks"]}
    assert checks["recommender: users"]["message"].startswith("6 users")
    assert checks["recommender: items"]["message"].startswith("3 items")


def test_readiness_says_when_the_spark_engine_takes_over():
    assert "one machine" in profile.scale_advice(1_000_000)
    assert "--engine spark" in profile.scale_advice(profile.LOCAL_EVENTS + 1)
