"""Outcome logs, engagement, approval and surveys; accuracy over time; alert rules, the webhook
(a local server in a thread) and the ``monitor`` command's exit code."""

from __future__ import annotations

import contextlib
import io
import json
import random
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest

from personalization import store
from personalization.cli import main
from personalization.errors import BadInputError
from personalization.monitoring import accuracy, alerts, outcomes
from personalization.store import monitoring as store_monitoring


def run(*argv: object) -> tuple[int, dict | None, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])  # every exit code is returned, never raised
    return code, (json.loads(out.getvalue()) if out.getvalue().strip() else None), err.getvalue()


def load_events(db, folder, rows: list[tuple], name: str = "events.csv", mode: str = "replace"):
    from personalization.data import ingest

    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp"])
    frame.to_csv(folder / name, index=False)
    ingest.ingest_file(folder / name, kind="events", mode=mode, db=db)


LISTS = pd.DataFrame(
    {
        "user_id": ["u1", "u1", "u2", "u2", "u3", "u3"],
        "item_id": ["a", "b", "a", "c", "b", "c"],
        "rank": [1, 2, 1, 2, 1, 2],
        "model_id": ["m1"] * 4 + ["m2"] * 2,
        "group": ["treatment"] * 4 + ["control"] * 2,
    }
)


def test_logged_lists_are_matched_to_what_followed(db, tmp_path):
    listed = datetime(2024, 5, 1, 12)
    done = outcomes.log_lists(LISTS, source="api", db=db, logged_at=listed)
    assert done["rows"] == 6
    load_events(
        db,
        tmp_path,
        [
            ("u1", "a", "click", "2024-05-02 10:00:00"),  # clicked
            ("u1", "a", "purchase", "2024-05-03 10:00:00"),  # and bought
            ("u2", "c", "view", "2024-04-30 10:00:00"),  # before the list: not counted
            ("u2", "c", "view", "2024-05-20 10:00:00"),  # after the 7-day horizon
            ("u3", "b", "view", "2024-05-02 10:00:00"),
            ("u3", "z", "purchase", "2024-05-02 10:00:00"),  # an item not listed
        ],
    )
    matched = outcomes.list_outcomes(db=db)
    assert matched["clicked"].sum() == 2 and matched["converted"].sum() == 1
    by_model = outcomes.engagement(matched, by="model_id").set_index("model_id")
    assert by_model.loc["m1", "click_through"] == pytest.approx(1 / 4)
    assert by_model.loc["m1", "conversion"] == pytest.approx(1 / 2)  # u1 of u1, u2
    assert by_model.loc["m2", "click_through"] == pytest.approx(1 / 2)
    by_group = outcomes.engagement(matched, by="group_name").set_index("group_name")
    assert by_group.loc["control", "lists"] == 1
    segments = pd.Series({"u1": "north", "u2": "north", "u3": "south"})
    by_segment = outcomes.engagement(matched, by="segment", segments=segments)
    assert by_segment.set_index("segment").loc["south", "items"] == 2
    weekly = outcomes.engagement(matched, by="window", freq="W")
    assert len(weekly) == 1 and weekly["items"].iloc[0] == 6


def test_log_lists_refuses_missing_columns_and_unknown_groups(db):
    with pytest.raises(BadInputError, match="lack rank"):
        outcomes.log_lists(LISTS.drop(columns="rank"), source="api", db=db)
    with pytest.raises(BadInputError, match="Unknown list group holdout"):
        outcomes.log_lists(LISTS.assign(group="holdout"), source="api", db=db)
    assert store_monitoring.read_log(db=db).empty
    plain = outcomes.log_lists(LISTS.drop(columns="group"), source="api", db=db)
    assert plain["rows"] == 6
    assert set(store_monitoring.read_log(db=db)["group_name"]) == {"treatment"}


def test_thumbs_become_approval_and_surveys_sit_beside_them(db, tmp_path):
    for thumbs in (1, 1, 1, -1):
        store.add_feedback("u1", "a", "m1", thumbs, db=db)
    store.add_feedback("u2", "b", "m2", -1, db=db)
    (tmp_path / "survey.csv").write_text("customer_id,offer_id,score\nu1,o1,4\nu2,o2,2\n")
    assert outcomes.load_survey(tmp_path / "survey.csv", db=db) == {"rows": 2, "mean_score": 3.0}
    table = outcomes.approval(db=db).set_index("model_id")
    assert table.loc["m1", "approval"] == 0.75 and table.loc["m2", "approval"] == 0.0
    assert table.loc["(survey)", "survey_answers"] == 2
    (tmp_path / "bad.csv").write_text("user_id,item_id,score\nu1,a,great\n")
    with pytest.raises(BadInputError, match="must be numbers"):
        outcomes.load_survey(tmp_path / "bad.csv", db=db)
    code, _, err = run("--db", db, "load-survey", tmp_path / "bad.csv")
    assert code == 2 and len(store_monitoring.survey_answers(db=db)) == 2


def test_classifier_accuracy_per_window(classifier_db, tmp_path):
    from personalization.data import ingest

    db, model_id = classifier_db
    customers = store.read_table("customers", db=db)
    months = np.resize(["2024-01-15", "2024-02-15"], len(customers))
    path = tmp_path / "labelled.csv"
    customers.assign(month=months).to_csv(path, index=False)
    ingest.ingest_file(path, kind="customers", table="labelled", db=db)
    table = accuracy.classifier_accuracy("labelled", "month", "M", model_id=model_id, db=db)
    assert table["rows"].sum() == len(customers) and len(table) == 2
    assert table["roc_auc"].between(0.5, 1).all() and table["baseline_auc"].notna().all()
    with pytest.raises(BadInputError, match="lacks nope"):
        accuracy.classifier_accuracy("labelled", "nope", model_id=model_id, db=db)


def test_recommender_accuracy_per_window_beside_popularity(db, tmp_path):
    from personalization.recommendation import training

    rng = random.Random(3)
    rows = []
    for user in range(40):  # two tastes: even users like a-e, odd ones f-j
        items = "abcde" if user % 2 == 0 else "fghij"
        for item in rng.sample(items, 3):
            rows.append((f"u{user}", item, "purchase", "2024-03-01 10:00:00"))
    load_events(db, tmp_path, rows)
    model_id = training.train_recommender(algo="itemknn", db=db)["model_id"]
    later = []
    for user in range(40):
        items = "abcde" if user % 2 == 0 else "fghij"
        week = "2024-04-02" if user < 20 else "2024-04-09"
        later += [(f"u{user}", item, "view", f"{week} 10:00:00") for item in items]
    load_events(db, tmp_path, later, name="later.csv", mode="append")
    table = accuracy.recommender_accuracy(k=2, model_id=model_id, since="2024-03-15", db=db)
    assert len(table) == 2 and table["users"].sum() == 40
    assert (table["hit_rate"] == 1.0).all()
    assert (table["ndcg"] >= table["baseline_ndcg"]).all()
    with pytest.raises(BadInputError, match="No events"):
        accuracy.recommender_accuracy(model_id=model_id, since="2030-01-01", db=db)


class Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Hook.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()
    server.server_close()


def test_quiet_events_fire_and_reach_the_webhook(db, tmp_path, webhook):
    load_events(db, tmp_path, [("u1", "a", "view", "2024-05-01 10:00:00")])
    now = datetime(2024, 5, 3, 10)
    result = alerts.monitor(alerts.AlertRules(quiet_hours=24), webhook=webhook, db=db, now=now)
    fired = [a for a in result["alerts"] if a["rule"] == "no_events"]
    assert fired and fired[0]["value"] == pytest.approx(48.0) and fired[0]["threshold"] == 24
    assert result["webhook"]["delivered"] is True
    assert Hook.received[0]["alerts"][0]["rule"] == "no_events"
    assert "drift" in result["skipped"]  # no classifier in this database
    calm = alerts.check_alerts(alerts.AlertRules(quiet_hours=72), db=db, now=now)
    assert calm["alerts"] == [] and "no_events" in calm["checked"]


def test_a_webhook_that_is_down_is_reported_and_monitoring_goes_on(db, tmp_path):
    load_events(db, tmp_path, [("u1", "a", "view", "2024-05-01 10:00:00")])
    server = HTTPServer(("127.0.0.1", 0), Hook)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    code, out, err = run("--db", db, "monitor", "--webhook", f"http://127.0.0.1:{port}/x")
    assert code == 3, err
    assert out["alerts"][0]["rule"] == "no_events" and out["webhook"]["delivered"] is False
    assert set(out["alerts"][0]) == {"rule", "value", "threshold", "message"}
    code, _, err = run("--db", db, "monitor", "--webhook", "ftp://example.org/x")
    assert code == 2 and "http(s)" in err


def test_click_through_drop_fires_week_on_week(db, tmp_path):
    first, second = datetime(2024, 5, 1, 12), datetime(2024, 5, 8, 12)
    outcomes.log_lists(LISTS, source="api", db=db, logged_at=first)
    outcomes.log_lists(LISTS, source="api", db=db, logged_at=second)
    clicks = [
        (u, i, "click", "2024-05-02 10:00:00")
        for u, i in zip(LISTS.user_id, LISTS.item_id, strict=False)
    ]
    clicks.append(("u1", "a", "click", "2024-05-09 10:00:00"))
    load_events(db, tmp_path, clicks)
    now = datetime(2024, 5, 9, 12)
    found = alerts.check_click_through(alerts.AlertRules(), db=db, now=now)
    assert found[0]["rule"] == "click_through_drop"
    assert found[0]["value"] == pytest.approx(1 - 1 / 6)


def test_auc_and_drift_rules_on_a_replaced_table(classifier_db, tmp_path):
    from personalization.data import ingest

    db, _ = classifier_db
    now = datetime.now() + timedelta(hours=1)
    calm = alerts.check_alerts(alerts.AlertRules(quiet_hours=1e9), db=db, now=now)
    assert {"drift", "auc_drop"} <= set(calm["checked"])
    assert not [a for a in calm["alerts"] if a["rule"] in ("drift", "auc_drop")]
    customers = store.read_table("customers", db=db)
    flipped = customers.copy()
    flipped["converted"] = np.where(customers["converted"] == "yes", "no", "yes")
    numbers = flipped.select_dtypes("number").columns.drop("customer_id", errors="ignore")
    flipped[numbers] = flipped[numbers] * 3 + 5
    path = tmp_path / "customers.csv"
    flipped.to_csv(path, index=False)
    ingest.ingest_file(path, kind="customers", db=db)
    found = alerts.check_alerts(alerts.AlertRules(quiet_hours=1e9), db=db, now=now)
    rules = {a["rule"] for a in found["alerts"]}
    assert {"drift", "auc_drop"} <= rules


def test_the_alerts_that_say_a_model_degraded_name_its_kind():
    def fired(*rules):
        return [alerts.alert(rule, 1.0, 0.5, "m") for rule in rules]

    assert alerts.degraded_kinds(fired("no_events")) == []
    assert alerts.degraded_kinds(fired("click_through_drop", "drift", "auc_drop")) == [
        "classifier",
        "recommender",
    ]
    assert alerts.degraded_kinds([]) == []
