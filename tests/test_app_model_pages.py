"""AppTest of the pages that show a conversion model (Explain, Lift): without one, and with one
whose files are gone."""

from __future__ import annotations

import pytest

from personalization import store
from tests.conftest import open_page

PAGES = ["pages/explain.py", "pages/lift.py"]


@pytest.mark.parametrize("page", PAGES)
def test_without_a_model_the_page_links_to_train(db, monkeypatch, page):
    at = open_page(monkeypatch, db, page)
    assert not at.exception
    assert "No conversion model" in at.info[0].value
    assert at.get("page_link")[0].proto.page == "train"
    assert not at.get("plotly_chart") and not at.metric


@pytest.mark.parametrize("page", PAGES)
def test_a_model_whose_files_are_gone_shows_one_error(db, monkeypatch, page):
    store.insert_model("clf-gone", "classifier", "logreg", None, {}, {}, "x", status="promoted", db=db)
    at = open_page(monkeypatch, db, page)
    assert not at.exception
    assert len(at.error) == 1 and "missing" in at.error[0].value
