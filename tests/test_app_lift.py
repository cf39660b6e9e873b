"""AppTest of the Lift page: the full page on the sample data."""

from __future__ import annotations

from tests.conftest import open_page

PAGE = "pages/lift.py"


def test_sample_model_shows_curves_deciles_segments_and_simulator(classifier_db, monkeypatch):
    path, model_id = classifier_db
    at = open_page(monkeypatch, path, PAGE)
    assert not at.exception
    assert at.selectbox(key="lift_model").value == model_id
    labels = [m.label for m in at.metric]
    assert {"Lift in the top 10%", "Conversions", "Profit", "ROI"} <= set(labels)
    assert at.number_input(key="sim_size").value == 3000
    assert len(at.get("plotly_chart")) >= 5
    assert at.dataframe[0].value["bin"].tolist() == list(range(1, 11))
    segment = at.selectbox(key="lift_segment")
    assert (
        segment.options[0].startswith(f"{segment.value} (") and "smallest n=" in segment.options[0]
    )
    assert "segment" in [o.split(" (")[0] for o in segment.options]
    words = " ".join(m.value for m in at.markdown)
    assert "The top 10% by score convert at" in words and "times in 100" in words
    assert any("Customers per group in the test split:" in c.value for c in at.caption)


def test_segment_and_depth_change_the_segment_chart(classifier_db, monkeypatch):
    path, _ = classifier_db
    at = open_page(monkeypatch, path, PAGE)
    at.selectbox(key="lift_segment").set_value("segment").run()
    at.select_slider(key="lift_depth").set_value(50).run()
    assert not at.exception
    assert any("Lift by segment, top 50%" in c.proto.spec for c in at.get("plotly_chart"))


def test_simulator_follows_the_slider_and_the_budget(classifier_db, monkeypatch):
    path, _ = classifier_db
    at = open_page(monkeypatch, path, PAGE)
    at.number_input(key="sim_size").set_value(10000)
    at.slider(key="sim_share").set_value(10).run()
    contacts = next(m for m in at.metric if m.label == "Contacts")
    assert contacts.value == "1,000"
    at.radio(key="sim_mode").set_value("Budget").run()
    at.number_input(key="sim_budget").set_value(500.0).run()
    contacts = next(m for m in at.metric if m.label == "Contacts")
    assert contacts.value == "500"


def test_fewer_bins_shorten_the_decile_table(classifier_db, monkeypatch):
    path, _ = classifier_db
    at = open_page(monkeypatch, path, PAGE)
    at.radio(key="lift_bins").set_value(5).run()
    assert at.dataframe[0].value["bin"].tolist() == [1, 2, 3, 4, 5]
