"""AppTest of the Lift page: empty state, a broken model, and the full page on the sample data."""

from __future__ import annotations

from personalization import store
from tests.conftest import open_page

PAGE = "pages/lift.py"


def test_without_a_model_the_page_links_to_train(db, monkeypatch):
    at = open_page(monkeypatch, db, PAGE)
    assert not at.exception
    assert "No conversion model" in at.info[0].value
    assert at.get("page_link")[0].proto.page == "train"
    assert not at.metric


def test_a_model_whose_files_are_gone_shows_one_error(db, monkeypatch):
    store.insert_model("clf-gone", "classifier", "logreg", None, {}, {}, "x", status="promoted", db=db)
    at = open_page(monkeypatch, db, PAGE)
    assert not at.exception
    assert len(at.error) == 1 and "missing" in at.error[0].value


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
    assert at.selectbox(key="lift_segment").value == "segment"


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
