"""Models used from Python (``personalization.deploy.embedded``) and the README's example
(``tests/embedded_example.py``), on a tiny shop made here: two tastes of five items each
(ids like the UCI retail data: users 17850.., items 85123A..) and a customers table whose
conversions follow frequency and recency."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import personalization
from personalization import registry
from personalization.data.ingest import ingest_file
from personalization.deploy import embedded
from personalization.errors import BadInputError, NotFoundError
from personalization.propensity.training import train_classifier
from personalization.recommendation import training

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tests" / "embedded_example.py"
HOME = ["85123A", "71053", "84406B", "84029G", "84029E"]
PARTY = ["22752", "21730", "22633", "22632", "84879"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("embedded")
    db = folder / "shop.duckdb"
    rows = []
    for group, items in (("178", HOME), ("130", PARTY)):
        for u in range(12):
            for j in range(3):
                rows.append(
                    (f"{group}{50 + u}", items[(u + j) % 5], "purchase", f"2024-03-0{j + 1}")
                )
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp"])
    events.to_csv(folder / "events.csv", index=False)
    ingest_file(folder / "events.csv", kind="events", db=db)
    training.train_recommender(algo="itemknn", db=db)

    rng = np.random.default_rng(0)
    n = 300
    frequency = rng.integers(1, 20, n)
    recency = rng.integers(1, 365, n)
    logit = 0.3 * frequency - 0.01 * recency - 1.5 + rng.normal(0, 1.5, n)
    customers = pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "recency_days": recency,
            "frequency": frequency,
            "monetary": np.round(frequency * rng.gamma(2.0, 20.0, n), 2),
            "converted": np.where(logit > 0, "yes", "no"),
        }
    )
    customers.to_csv(folder / "customers.csv", index=False)
    ingest_file(folder / "customers.csv", kind="customers", db=db)
    trained = train_classifier(
        table="customers", target="converted", positive="yes", algo="logreg", folds=0, db=db
    )
    registry.promote(trained["model_id"], db=db)  # the service serves promoted models only
    return db


def test_a_recommender_lists_unseen_items_of_the_users_taste(shop):
    model = embedded.load_model(db=shop)
    assert isinstance(model, embedded.Recommender)
    items = model.recommend("17850", k=2)  # bought 85123A, 71053, 84406B
    assert [row["rank"] for row in items] == [1, 2]
    assert {row["item_id"] for row in items} <= {"84029G", "84029E"}
    assert all(isinstance(row["score"], float) and row["reason"] for row in items)
    cold = model.recommend("99999", k=3)
    assert len(cold) == 3 and cold[0]["reason"] == "Popular with all customers"
    assert not model.knows("99999") and model.knows("17850")


def test_similar_items_stay_in_their_group_and_a_model_is_named_by_id(shop):
    model = embedded.load_model(db=shop)
    again = embedded.load_model(model.model_id, db=shop)
    assert again.model_id == model.model_id
    similar = again.similar("85123A", k=4)
    assert {row["item_id"] for row in similar} == set(HOME) - {"85123A"}
    assert similar[0]["reason"].startswith("Similar to")
    many = model.recommend_many(["17850", "13050"], k=1)
    assert list(many) == ["17850", "13050"] and many["13050"][0]["item_id"] in PARTY


def test_a_classifier_scores_a_frame_with_reasons(shop):
    clf = embedded.load_model(kind="classifier", db=shop)
    assert isinstance(clf, embedded.Classifier)
    frame = pd.DataFrame(
        {"recency_days": [3, 300], "frequency": [18, 1], "monetary": [900.0, 5.0], "x": [1, 2]}
    )
    scored = clf.score(frame, top=2)
    assert list(scored.columns) == [*frame.columns, "score", "decision", "reasons"]
    assert scored["score"].iloc[0] > 0.5 > scored["score"].iloc[1]
    assert scored["reasons"].str.count(";").tolist() == [1, 1]
    assert "frequency" in scored["reasons"].iloc[0]
    with pytest.raises(BadInputError, match="frequency"):
        clf.score(frame.drop(columns="frequency"))


def test_bad_kinds_and_unknown_models_are_refused(shop):
    with pytest.raises(BadInputError, match="kind must be one of"):
        embedded.load_model(kind="oracle", db=shop)
    with pytest.raises(NotFoundError, match="no model"):
        embedded.load_model("rec-nope", db=shop)


def test_scores_endpoint_returns_scores_with_reasons(shop):
    from fastapi.testclient import TestClient

    from personalization.deploy.api import create_app

    rows = [{"recency_days": 3, "frequency": 18, "monetary": 900.0}]
    with TestClient(create_app(shop, watch=False)) as c:
        body = c.post("/scores", json={"rows": rows, "top": 2}).json()
        assert body["scores"][0]["score"] > 0.5 and len(body["scores"][0]["reasons"]) == 2
        assert body["scores"][0]["reasons"][0]["feature"] in rows[0]
        bad = c.post("/scores", json={"rows": [{"recency_days": 3}]})
        assert bad.status_code == 422 and "frequency" in bad.json()["detail"]


def test_the_readme_example_runs(shop, monkeypatch, capsys):
    if not hasattr(personalization, "load_model"):
        pytest.skip("personalization/__init__.py does not offer load_model yet")
    monkeypatch.setenv("PERSONALIZATION_DB", str(shop))
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "84029G" in out and "reasons" in out


def test_the_readme_quotes_the_example():
    readme = (ROOT / "README.md").read_text()
    if "from personalization import load_model" not in readme:
        pytest.skip("the README has no embedded-use section yet")
    assert EXAMPLE.read_text().strip() in readme
