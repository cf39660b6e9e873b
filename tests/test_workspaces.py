"""Sample shop and own data never mix: two databases, a switch in the sidebar, and a command line
that loads the sample only when asked (``load-sample``)."""

from __future__ import annotations

import shutil

from personalization import config, store, workspace
from personalization.cli import main
from tests.conftest import app_page

EVENTS = "user_id,item_id,event_type,timestamp\nc1,i1,view,2024-01-01 10:00\nc2,i2,view,2024-01-02 10:00\n"


def test_the_sample_has_its_own_database_beside_the_users(db):
    assert config.sample_db_path() == db.parent / "sample_shop.duckdb"
    assert not workspace.has_own_data()
    (db.parent / "e.csv").write_text(EVENTS)
    assert main(["ingest", str(db.parent / "e.csv"), "--kind", "events"]) == 0
    assert workspace.has_own_data()
    assert not config.sample_db_path().exists()  # the command line never loads the sample


def test_first_start_opens_the_sample_and_my_data_stays_empty(db, monkeypatch, _sample_template):
    def fake_first_start(db=None, progress=None):  # the sample shop, without training models
        if store.table_names(db):
            return False
        shutil.copyfile(_sample_template, db)
        return True

    monkeypatch.setattr(workspace, "ensure_sample_data", fake_first_start)
    at = app_page()
    assert not at.exception
    assert at.session_state["workspace"] == "sample"
    assert any("sample shop" in s.value for s in at.success)
    assert set(store.table_names(config.sample_db_path())) >= {"events", "users", "items"}
    assert store.table_names(db) == []  # nothing of the sample in the user's database
    at.session_state["workspace"] = "mine"
    at.run()
    assert not at.exception
    assert any("No data is loaded yet" in i.value for i in at.info)  # My data: empty, no sample


def test_a_session_opens_my_data_when_it_holds_some(db, no_sample):
    (db.parent / "e.csv").write_text(EVENTS)
    assert main(["ingest", str(db.parent / "e.csv"), "--kind", "events"]) == 0
    at = app_page()
    assert not at.exception
    assert at.session_state["workspace"] == "mine"
    assert not config.sample_db_path().exists()


def test_a_busy_database_is_a_waiting_state_not_an_error(db, no_sample, monkeypatch):
    from personalization.errors import DatabaseBusyError

    (db.parent / "e.csv").write_text(EVENTS)
    assert main(["ingest", str(db.parent / "e.csv"), "--kind", "events"]) == 0
    import ui

    def busy():
        raise DatabaseBusyError("busy", path=str(db), holder="PID 1: ingest big.csv")

    monkeypatch.setattr(ui, "tables", busy)
    at = app_page("pages/recommendations.py")
    assert not at.exception and not at.error
    assert any("Waiting" in i.value and "PID 1" in i.value for i in at.info)
