"""AppTest of the empty and broken states of the pages that show a model: Recommendations and
Export without events or without a recommender; Explain and Lift without a conversion model, or
with one whose files are gone."""

from __future__ import annotations

import pytest

from personalization import store
from tests.conftest import app_page, load_csv, open_page, shop_events_csv

PAGES = ["pages/explain.py", "pages/lift.py"]
RECOMMENDER_PAGES = ["pages/recommendations.py", "pages/export.py"]


@pytest.mark.parametrize("page", RECOMMENDER_PAGES)
def test_no_events_links_to_the_data_page(db, no_sample, page):
    at = app_page(page)
    assert not at.exception
    assert any("no events" in i.value for i in at.info)


@pytest.mark.parametrize("page", RECOMMENDER_PAGES)
def test_no_model_links_to_the_train_page(db, tmp_path, page):
    load_csv(db, tmp_path, "events", shop_events_csv())
    at = app_page(page)
    assert not at.exception
    assert any("No recommender has been trained yet" in i.value for i in at.info)


@pytest.mark.parametrize("page", PAGES)
def test_without_a_model_the_page_links_to_train(db, monkeypatch, page):
    at = open_page(monkeypatch, db, page)
    assert not at.exception
    assert "No conversion model" in at.info[0].value
    assert at.get("page_link")[0].proto.page == "train"
    assert not at.get("plotly_chart") and not at.metric


@pytest.mark.parametrize("page", PAGES)
def test_a_model_whose_files_are_gone_shows_one_error(db, monkeypatch, page):
    store.insert_model(
        "clf-gone", "classifier", "logreg", None, {}, {}, "x", status="promoted", db=db
    )
    at = open_page(monkeypatch, db, page)
    assert not at.exception
    assert len(at.error) == 1 and "missing" in at.error[0].value


def test_a_model_label_names_its_engine_and_whether_it_is_in_use():
    import ui

    row = {"algo": "svd", "created": "2026-12-01T10:50:12", "status": "promoted", "params": {}}
    assert ui.model_label(row) == "SVD · trained 2026-12-01 10:50 · in use"
    spark = {**row, "status": "candidate", "params": {"engine": "spark"}, "name": "big"}
    assert ui.model_label(spark) == "big · SVD on Spark · trained 2026-12-01 10:50"
