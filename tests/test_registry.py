from __future__ import annotations

import hashlib
import json
import os

import joblib
import pytest

from personalization import config, registry, store
from personalization.errors import IncompatibleModelError, NotFoundError


def test_save_load_promote_roundtrip(db):
    first = registry.save_model(
        {"w": [1, 2]}, "recommender", "svd", {"rank": 8}, {"ndcg@10": 0.3}, "fp"
    )
    second = registry.save_model({"w": [3]}, "recommender", "als", {}, {}, "fp")
    assert registry.resolve(kind="recommender")["model_id"] == first  # the first is promoted
    registry.promote(second)
    artifact, info = registry.load_model(kind="recommender")
    assert artifact == {"w": [3]} and info["model_id"] == second and info["status"] == "promoted"
    assert {m["model_id"] for m in registry.list_models()} == {first, second}
    assert (config.models_dir(db) / first / "model.joblib").exists()


def test_unknown_model_and_empty_catalog_say_what_to_do(db):
    with pytest.raises(NotFoundError, match="train-classifier"):
        registry.load_model(kind="classifier")
    with pytest.raises(NotFoundError, match="no model 'nope'"):
        registry.load_model("nope")


def test_incompatible_format_is_refused(db):
    model_id = registry.save_model([1], "classifier", "logreg", {}, {}, "fp")
    meta_path = config.models_dir(db) / model_id / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 999
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IncompatibleModelError, match="(?i)train it again"):
        registry.load_model(model_id)


def test_a_loaded_model_is_read_once_and_again_when_its_file_changes(db):
    model_id = registry.save_model({"w": [1]}, "classifier", "logreg", {}, {}, "fp")
    first, _ = registry.load_model(model_id)
    assert registry.load_model(model_id)[0] is first
    path = config.models_dir(db) / model_id / "model.joblib"
    joblib.dump({"w": [2]}, path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))
    with pytest.raises(IncompatibleModelError, match="changed after it was saved"):
        registry.load_model(model_id)  # read again, and refused: not the file that was saved


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_file_whose_hash_was_forged_still_runs_nothing(db, tmp_path):
    """Two locks: the SHA-256 recorded in the catalog, and a loader that resolves only trusted
    classes. With the hash forged too, the loader alone refuses before anything runs."""
    model_id = registry.save_model({"w": [1]}, "classifier", "logreg", {}, {}, "fp")
    path = config.models_dir(db) / model_id / "model.joblib"
    marker = tmp_path / "ran"
    joblib.dump({"model": Exploit(marker)}, path)
    info = registry.resolve(model_id)
    info["details"]["files"]["model.joblib"] = hashlib.sha256(path.read_bytes()).hexdigest()
    with store.connect() as con:
        con.execute(
            "UPDATE models SET details = ? WHERE model_id = ?",
            [json.dumps(info["details"]), model_id],
        )
    with pytest.raises(IncompatibleModelError, match="nothing in it was run"):
        registry.load_model(model_id)
    assert not marker.exists()


def test_a_new_model_replaces_a_default_trained_on_data_no_longer_there(db, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("customer_id,x,y\nc1,1,0\nc2,2,1\n")
    from personalization.data.ingest import ingest_file

    ingest_file(csv, kind="customers", db=db)
    first = registry.save_model([1], "classifier", "logreg", {"table": "customers"}, {}, "fp")
    same = registry.save_model([2], "classifier", "logreg", {"table": "customers"}, {}, "fp")
    assert registry.resolve(kind="classifier")["model_id"] == first
    assert registry.data_state(registry.resolve(first))["current"] is True
    ingest_file(csv, kind="customers", mode="replace", db=db)
    assert registry.data_state(registry.resolve(first))["current"] is False
    held = registry.save_model(
        [3], "classifier", "logreg", {"table": "customers"}, {}, "fp", hold="leakage: y"
    )
    assert registry.resolve(kind="classifier")["model_id"] == first
    assert registry.resolve(held)["details"]["promotion"] == "not promoted: leakage: y"
    new = registry.save_model([4], "classifier", "logreg", {"table": "customers"}, {}, "fp")
    info = registry.resolve(kind="classifier")
    assert info["model_id"] == new and first in info["details"]["promotion"]
    assert registry.resolve(same)["status"] == "candidate"


def test_headline_metrics_and_the_runs_table():
    rec = {
        "model_id": "rec-1",
        "algo": "svd",
        "status": "promoted",
        "name": None,
        "created": "2026-01-02T03:04:05",
        "metrics": {"ndcg@10": 0.31234567, "split": "temporal", "baseline": {"ndcg@10": 0.1}},
    }
    clf = {
        "model_id": "clf-1",
        "algo": "logreg",
        "status": "candidate",
        "name": "mine",
        "created": None,
        "metrics": {"test": {"roc_auc": 0.8, "rows": 100, "f1": float("nan")}},
    }
    assert registry.headline_metrics(rec) == {"ndcg@10": 0.31234567}
    assert registry.headline_metrics(clf) == {"roc_auc": 0.8}
    table = registry.runs_table([rec, clf])
    assert list(table.columns) == [*registry.RUN_COLUMNS, "ndcg@10", "roc_auc"]
    assert table.loc[0, "trained"] == "2026-01-02 03:04" and table.loc[0, "ndcg@10"] == 0.3123
    assert table.loc[1, "name"] == "mine"
    assert list(registry.runs_table([]).columns) == list(registry.RUN_COLUMNS)


def test_settings_are_read_from_the_environment_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONALIZATION_DB", str(tmp_path / "shop.duckdb"))
    assert config.models_dir() == tmp_path / "shop_models"
    monkeypatch.setenv("PERSONALIZATION_THREADS", "3")
    monkeypatch.delenv("PERSONALIZATION_BLAS_THREADS", raising=False)
    assert (config.threads(), config.blas_threads()) == (3, 1)
    for unusable in ("0", "", "many"):
        monkeypatch.setenv("PERSONALIZATION_THREADS", unusable)
        assert config.threads() == 1


@pytest.mark.parametrize(
    "old_module", ["personalization.rec_artifact", "personalization.propensity"]
)
def test_a_model_saved_before_the_layout_move_is_refused_with_retrain(db, old_module):
    """Saved artifacts name their classes by module; those of the flat layout are gone."""
    import sys
    import types

    fake = types.ModuleType(old_module)
    artifact_class = type("Artifact", (), {"__module__": old_module})
    fake.Artifact = artifact_class
    sys.modules[old_module] = fake
    try:
        model_id = registry.save_model(artifact_class(), "recommender", "svd", {}, {}, "fp")
    finally:
        del sys.modules[old_module]
    with pytest.raises(IncompatibleModelError, match=f"{model_id}.*train it again"):
        registry.load_model(model_id)


def told_load(monkeypatch, db, path, mode: str) -> None:
    """Ingest ``path`` with ``mode``, the loader telling the catalog whether it appended (what
    store/loading.py does once it passes ``appended=`` to ``record_dataset`` itself)."""
    import functools

    from personalization.data.ingest import ingest_file
    from personalization.store import catalog, loading

    told = functools.partial(catalog.record_dataset, appended=mode == "append")
    with monkeypatch.context() as patch:
        patch.setattr(loading, "record_dataset", told)
        ingest_file(path, kind="customers", mode=mode, db=db)


def test_the_stamp_keeps_its_generation_through_appends_only(db):
    from personalization.store import catalog

    with store.connect() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    assert store.table_stamp("t") == "rows|1"  # no ingest recorded it
    catalog.record_dataset("t", "customers", "a.csv", "h1", 1, {}, appended=False)
    first = catalog.stamp_parts(store.table_stamp("t"))
    catalog.record_dataset("t", "customers", "b.csv", "h2", 3, {}, appended=True)
    assert catalog.stamp_parts(store.table_stamp("t")) == (first[0], 3)
    catalog.record_dataset("t", "customers", "c.csv", "h3", 2, {}, appended=False)
    replaced = catalog.stamp_parts(store.table_stamp("t"))
    assert replaced[0] != first[0] and replaced[1] == 2
    catalog.record_dataset("t", "customers", "d.csv", "h4", 2, {})  # the loader did not say
    assert catalog.stamp_parts(store.table_stamp("t"))[0].startswith(catalog.UNTOLD)
    assert catalog.stamp_parts("2024-01-01T00:00:00|h|3") is None
    assert store.datasets().iloc[0]["generation"].startswith(catalog.UNTOLD)


def test_an_append_is_newer_data_and_a_replace_is_data_gone(db, tmp_path, monkeypatch):
    csv = tmp_path / "c.csv"
    csv.write_text("customer_id,x,y\nc1,1,0\nc2,2,1\n")
    more = tmp_path / "more.csv"
    more.write_text("customer_id,x,y\nc3,3,0\nc4,4,1\nc5,5,1\n")
    told_load(monkeypatch, db, csv, "replace")
    first = registry.save_model([1], "classifier", "logreg", {"table": "customers"}, {}, "fp")
    told_load(monkeypatch, db, more, "append")
    state = registry.data_state(registry.resolve(first))
    assert state["current"] is True and state["newer_rows"] == 3
    assert "3 newer rows were added" in state["message"]
    after_append = registry.save_model([2], "classifier", "logreg", {"table": "customers"}, {}, "f")
    assert registry.resolve(kind="classifier")["model_id"] == first  # no promotion by an append
    why = registry.resolve(after_append)["details"]["promotion"]
    assert first in why and "3 rows were added" in why
    assert registry.runs_table(registry.list_models())["data"].tolist() == ["current", "current"]
    told_load(monkeypatch, db, csv, "replace")
    state = registry.data_state(registry.resolve(first))
    assert state["current"] is False and "loaded again (replaced)" in state["message"]
    new = registry.save_model([3], "classifier", "logreg", {"table": "customers"}, {}, "fp")
    assert registry.resolve(kind="classifier")["model_id"] == new


def test_a_hold_keeps_a_model_where_it_stands_against_every_automatic_promotion(db):
    first = registry.save_model([1], "classifier", "logreg", {"table": "gone_table"}, {}, "fp")
    details = {**registry.resolve(first)["details"], "data_stamp": "rows|9"}
    with store.connect() as con:  # trained on a table that is gone
        con.execute(
            "UPDATE models SET details = ? WHERE model_id = ?", [json.dumps(details), first]
        )
    assert registry.data_state(registry.resolve(first))["current"] is False
    held = registry.set_hold(first, "kept by the marketing team")
    assert registry.hold_of(held) == "kept by the marketing team"
    second = registry.save_model([2], "classifier", "logreg", {}, {}, "fp", data_table="x")
    assert registry.resolve(kind="classifier")["model_id"] == first
    assert (
        "is held (kept by the marketing team)" in registry.resolve(second)["details"]["promotion"]
    )
    assert registry.auto_promote(second) == (
        False,
        f"the default {first} is held (kept by the marketing team)",
    )
    leaky = registry.save_model([3], "classifier", "logreg", {}, {}, "fp", hold="leakage: y")
    registry.set_hold(first, None)
    assert registry.auto_promote(leaky) == (False, "it is held (leakage: y)")
    assert registry.auto_promote(second) == (True, None)
    assert registry.resolve(kind="classifier")["model_id"] == second
    registry.promote(leaky)  # by hand, a hold does not stop it
    assert registry.resolve(kind="classifier")["model_id"] == leaky
