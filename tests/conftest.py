"""Shared fixtures: a fresh database file per test, paths to bundled and shared data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    """A fresh, empty DuckDB file; PERSONALIZATION_DB points at it for the test."""
    path = tmp_path / "test.duckdb"
    monkeypatch.setenv("PERSONALIZATION_DB", str(path))
    return path


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data folder is not part of the project)")
    return path


@pytest.fixture(scope="session")
def _sample_template(tmp_path_factory) -> Path:
    """The bundled sample shop loaded once per test session (no models)."""
    from personalization.data import sample

    path = tmp_path_factory.mktemp("sample_template") / "sample.duckdb"
    sample.load_sample_data(db=path)
    return path


@pytest.fixture(scope="module")
def sample_db(_sample_template, tmp_path_factory) -> Path:
    """A private copy of the loaded sample shop for one test module."""
    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    shutil.copyfile(_sample_template, path)
    return path


@pytest.fixture(scope="module")
def classifier_db(sample_db) -> tuple[Path, str]:
    """The sample shop with one small conversion model (logistic regression): path and model id."""
    from personalization.propensity.training import train_classifier

    result = train_classifier(
        table="customers", target="converted", positive="yes", algo="logreg", folds=0, db=sample_db
    )
    return sample_db, result["model_id"]


def open_page(monkeypatch, db: Path, page: str | None = None, timeout: float = 120):
    """Run ``app.py`` on ``db`` through AppTest, with no cached data from earlier tests and
    without the first-start sample load, and switch to ``page`` (e.g. ``"pages/train.py"``)."""
    import streamlit as st

    from personalization import workspace

    st.cache_data.clear()  # a fresh session: no data version cached by an earlier test
    monkeypatch.setenv("PERSONALIZATION_DB", str(db))
    monkeypatch.setattr(workspace, "ensure_sample_data", lambda db=None, progress=None: False)
    return app_page(page, timeout)


@pytest.fixture
def no_sample(monkeypatch):
    """Keep the first-start sample load out of a test that needs an empty database."""
    from personalization import workspace

    monkeypatch.setattr(workspace, "ensure_sample_data", lambda db=None, progress=None: False)


def load_csv(db: Path, folder: Path, kind: str, text: str) -> None:
    """Write ``text`` to ``folder/<kind>.csv`` and ingest it as a table of that kind."""
    from personalization.data import ingest

    path = folder / f"{kind}.csv"
    path.write_text(text)
    ingest.ingest_file(path, kind=kind, db=db)


def copy_database(source: Path, target: Path) -> None:
    """Copy a database file and its saved models, so a test can change the copy freely."""
    from personalization import config

    shutil.copy(source, target)
    shutil.copytree(config.models_dir(source), config.models_dir(target))


def shop_events_csv() -> str:
    """Eight customers (u1..u8) with 2-5 views and purchases of p1..p5, as an events CSV."""
    rows = ["user_id,item_id,event_type,timestamp"]
    for user in range(1, 9):
        for n, item in enumerate(("p1", "p2", "p3", "p4", "p5")[: 2 + user % 4]):
            rows.append(
                f"u{user},{item},{'purchase' if n % 2 else 'view'},2024-03-0{1 + n} 10:00:00"
            )
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def _small_shop(request, tmp_path_factory) -> tuple[Path, str]:
    """``shop_events_csv`` with the test module's ``USERS`` and ``ITEMS`` tables and a popularity
    model, built once per module: the folder of ``shop.duckdb`` and the model id."""
    from personalization.recommendation import training

    folder = tmp_path_factory.mktemp("shop")
    db = folder / "shop.duckdb"
    load_csv(db, folder, "events", shop_events_csv())
    load_csv(db, folder, "users", request.module.USERS)
    load_csv(db, folder, "items", request.module.ITEMS)
    return folder, training.train_recommender(algo="popularity", db=db)["model_id"]


@pytest.fixture
def shop_model(_small_shop, db) -> str:
    """A private copy of the module's small shop in ``db``; returns its popularity model's id."""
    folder, model_id = _small_shop
    copy_database(folder / "shop.duckdb", db)
    return model_id


def app_page(page: str | None = None, timeout: float = 60):
    """AppTest of ``app.py`` on ``$PERSONALIZATION_DB`` as it is, switched to ``page`` (e.g.
    ``"pages/export.py"``) when given."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout).run()
    return at.switch_page(page).run() if page else at


def metric(at, label: str) -> str:
    """The shown value of the AppTest metric card labelled ``label``."""
    return next(m.value for m in at.metric if m.label == label)
