from __future__ import annotations

import json

import pytest

from personalization import config, registry
from personalization.errors import IncompatibleModelError, NotFoundError


def test_save_load_promote_roundtrip(db):
    first = registry.save_model({"w": [1, 2]}, "recommender", "svd", {"rank": 8}, {"ndcg@10": 0.3}, "fp")
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
    with pytest.raises(IncompatibleModelError, match="Train it again"):
        registry.load_model(model_id)
