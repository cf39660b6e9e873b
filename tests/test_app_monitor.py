"""The Monitor page through AppTest: alerts first, drift between two tables with a distribution
overlay, a readout of an uploaded export and outcomes file, the sample-size calculator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, metric

from personalization.data import ingest


@pytest.fixture
def monitored(db, tmp_path, monkeypatch):
    import streamlit as st

    rng = np.random.default_rng(0)
    for name, shift in (("spring", 0.0), ("autumn", 2.0)):
        frame = pd.DataFrame(
            {"spend": rng.normal(100 + 20 * shift, 20, 300), "device": rng.choice(["m", "d"], 300)}
        )
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        ingest.ingest_file(tmp_path / f"{name}.csv", kind="customers", table=name, db=db)
    st.cache_data.clear()
    monkeypatch.setenv("PERSONALIZATION_DB", str(db))
    return db


def open_monitor():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / "pages" / "monitor.py"), default_timeout=120).run()


def test_alerts_come_first_and_drift_is_shown(monitored):
    at = open_monitor()
    assert not at.exception
    assert [s.value for s in at.subheader][0] == "Alerts"
    assert "rules checked" in at.success[0].value
    at.selectbox(key="drift_reference").set_value("spring")
    at.selectbox(key="drift_current").set_value("autumn").run()
    assert not at.exception
    assert metric(at, "Alert") == "yes"
    assert metric(at, "Features compared") == "2"
    assert at.selectbox(key="drift_feature").value == "spend"  # the most drifted first
    assert len(at.get("plotly_chart")) >= 2


def test_readout_of_uploaded_files_and_sample_size(monitored):
    users = [f"c{n}" for n in range(40)]
    export = pd.DataFrame(
        {
            "user_id": users,
            "rank": 1,
            "item_id": "p1",
            "group": ["control"] * 10 + ["treatment"] * 30,
        }
    )
    result = pd.DataFrame(
        {"user_id": users, "converted": ["yes" if n % 4 else "no" for n in range(40)]}
    )
    at = open_monitor()
    at.file_uploader[1].set_value(("campaign.csv", export.to_csv(index=False).encode(), "text/csv"))
    at.file_uploader[2].set_value(("out.csv", result.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception and not at.error
    assert metric(at, "Treated conversion") == "76.7%"  # 23 of 30
    assert metric(at, "Control conversion") == "70.0%"  # 7 of 10
    assert (
        metric(at, "Customers per group") == "14,193"
    )  # 5% -> 5.75%: (1.96 x 0.3189 + 0.8416 x 0.3189)^2 / 0.0075^2


def test_a_bad_upload_shows_one_error(monitored):
    at = open_monitor()
    at.file_uploader[1].set_value(("plain.csv", b"user_id,item_id\nc1,p1\n", "text/csv")).run()
    assert not at.exception
    assert "--control-share" in at.error[0].value


def test_the_page_runs_on_the_sample_shop_with_a_classifier(classifier_db, monkeypatch):
    import streamlit as st

    from personalization.recommendation import batch, training

    db, _ = classifier_db
    monkeypatch.setenv("PERSONALIZATION_DB", str(db))
    training.train_recommender(algo="popularity", db=db)
    batch.export_recommendations(db.parent / "lists.csv", k=3, control_share=0.2, db=db)
    st.cache_data.clear()
    at = open_monitor()
    assert not at.exception
    assert [s.value for s in at.subheader][:2] == ["Alerts", "Drift"]
    assert len(at.dataframe) >= 2  # what got recommended, approval
    # one table on both sides would be "no drift" by construction: the page asks for two
    assert any("Choose two different tables" in i.value for i in at.info)


def test_an_alert_that_the_recommender_degraded_offers_a_retrain(monitored, tmp_path):
    from datetime import datetime

    from personalization import registry
    from personalization.monitoring import outcomes
    from tests.test_retrain import events_csv

    lists = pd.DataFrame(
        {
            "user_id": ["u001", "u002", "u004"],
            "item_id": ["i01", "i11", "i02"],
            "rank": 1,
            "model_id": "m1",
        }
    )
    for day in (1, 8):
        outcomes.log_lists(lists, source="api", db=monitored, logged_at=datetime(2024, 5, day, 12))
    clicks = [
        f"{u},{i},click,2024-05-02 10:00" for u, i in zip(lists.user_id, lists.item_id, strict=True)
    ]
    (tmp_path / "events.csv").write_text(events_csv(range(60), 1) + "\n".join(clicks) + "\n")
    ingest.ingest_file(tmp_path / "events.csv", kind="events", db=monitored)
    at = open_monitor()
    assert not at.exception
    assert any("Click-through of logged lists fell" in e.value for e in at.error)
    assert [b.key for b in at.button if b.key.startswith("monitor_retrain")] == [
        "monitor_retrain_recommender"
    ]
    assert at.button(key="monitor_retrain_recommender").label == "Retrain the recommender now"
    alerts_shown = [e.value for e in at.error]
    at.button(key="monitor_retrain_recommender").click().run()
    assert not at.exception and [e.value for e in at.error] == alerts_shown
    assert any("promoted: there was no champion yet" in s.value for s in at.success)
    assert registry.resolve(kind="recommender", db=monitored)["status"] == "promoted"


def test_no_retrain_button_without_a_degraded_model(monitored):
    at = open_monitor()
    assert not at.exception
    assert not [b for b in at.button if (b.key or "").startswith("monitor_retrain")]
