"""A running service keeps answering from its last good model when a model file is damaged or
replaced by a crafted pickle, and nothing in such a file runs.

The shop of ``conftest.shop_model`` (u1..u8 on p1..p5, a popularity model promoted). Every
attack is checked against the FastAPI app in process: answers stay 200 from the loaded model,
``/health`` names the model that failed and the one still served, and the marker files the
crafted pickles would create do not appear.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time

import joblib
import pytest
from fastapi.testclient import TestClient

from personalization import config, registry, safe_load
from personalization.deploy import embedded
from personalization.deploy.api import create_app
from personalization.errors import IncompatibleModelError
from personalization.recommendation import training
from personalization.store import catalog as store_catalog

USERS = "user_id,device\n" + "".join(
    f"u{i},{'mobile' if i % 2 else 'desktop'}\n" for i in range(1, 9)
)
ITEMS = (
    "item_id,title,category,price\n"
    "p1,Copper Pot,kitchen,10\np2,Oak Tray,kitchen,12\np3,Toy Car,toys,5\n"
    "p4,Teddy,toys,7\np5,Tea Towel,kitchen,3\n"
)


class RunsACommand:
    """Pickles as a call of ``os.system``: loading it unrestricted creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class WritesAFile:
    """Pickles as a call of a *class* of a trusted package, ``numpy.memmap``, whose constructor
    creates (or truncates) the file it is given: a class that does I/O, not a function."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import numpy as np

        return (np.memmap, (self.marker, "uint8", "w+", 0, (1,)))


def model_file(db, model_id):
    return config.models_dir(db) / model_id / registry.MODEL_FILE


def forge_hash(db, model_id) -> None:
    """Record the SHA-256 of the file now on disk, as someone who can write the catalog could."""
    details = registry.resolve(model_id, db=db)["details"]
    details["files"][registry.MODEL_FILE] = hashlib.sha256(
        model_file(db, model_id).read_bytes()
    ).hexdigest()
    store_catalog.update_model_details(model_id, details, db=db)


def new_model(db) -> str:
    return training.train_recommender(algo="popularity", db=db)["model_id"]


def served(client) -> tuple[str, list[str]]:
    response = client.get("/recommendations/u1?k=3")
    assert response.status_code == 200
    body = response.json()
    return body["model_id"], [item["item_id"] for item in body["items"]]


@pytest.fixture
def client(shop_model, db):
    with TestClient(create_app(db, watch=False)) as c:
        yield c


def test_the_loaded_models_file_damaged_or_crafted_afterwards_changes_nothing(
    client, shop_model, db, tmp_path
):
    before = served(client)
    assert before[0] == shop_model
    models = client.app.state.models
    path = model_file(db, shop_model)

    path.write_bytes(b"\x80\x04garbage")
    models.refresh(force=True)
    assert served(client) == before

    marker = tmp_path / "ran"
    joblib.dump({"model": RunsACommand(marker)}, path)
    forge_hash(db, shop_model)
    models.refresh(force=True)
    assert served(client) == before
    health = client.get("/health").json()
    assert health["models"]["recommender"]["model_id"] == shop_model and health["errors"] == {}
    # a fresh load of that file (a restart) refuses it before anything in it runs
    with pytest.raises(IncompatibleModelError, match="nothing in it was run"):
        embedded.load_model(shop_model, db=db)
    assert not marker.exists()


@pytest.mark.parametrize("attack", ["damaged", "command", "file write", "hash not forged"])
def test_a_newer_model_with_a_bad_file_is_refused_and_the_last_good_one_serves(
    client, shop_model, db, tmp_path, attack
):
    before = served(client)
    newer = new_model(db)
    marker = tmp_path / "ran"
    path = model_file(db, newer)
    if attack == "damaged":
        path.write_bytes(path.read_bytes()[:100])
        forge_hash(db, newer)
    elif attack == "hash not forged":
        joblib.dump({"model": RunsACommand(marker)}, path)
    else:
        payload = RunsACommand(marker) if attack == "command" else WritesAFile(marker)
        joblib.dump({"model": payload}, path)
        forge_hash(db, newer)
    registry.promote(newer, db=db)
    client.app.state.models.refresh()

    assert served(client) == before
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["promoted"]["recommender"] == newer
    assert health["models"]["recommender"]["model_id"] == shop_model
    error = health["errors"]["recommender"]
    assert newer in error and f"still serving {shop_model}" in error
    assert not marker.exists()


def test_a_model_that_loads_but_cannot_answer_is_not_swapped_in(client, shop_model, db):
    """A readable artifact of the wrong shape (saved through the registry, hashes true) fails
    its first list at load time, in the watcher, not in a request."""
    before = served(client)
    artifact, _ = registry.load_model(shop_model, db=db)
    broken = pickle.loads(pickle.dumps(artifact))
    broken.model = None
    bad = registry.save_model(broken, "recommender", "popularity", {}, {}, "fp", db=db)
    registry.promote(bad, db=db)
    client.app.state.models.refresh()
    assert served(client) == before
    error = client.get("/health").json()["errors"]["recommender"]
    assert bad in error and f"still serving {shop_model}" in error


def test_the_watcher_keeps_the_last_good_model_and_takes_the_next_good_one(shop_model, db):
    app = create_app(db)
    app.state.models.interval = 0.05
    with TestClient(app) as c:
        before = served(c)
        broken = new_model(db)
        model_file(db, broken).write_bytes(b"not a model")
        registry.promote(broken, db=db)
        deadline = time.time() + 5
        while broken not in c.get("/health").json()["errors"].get("recommender", ""):
            assert time.time() < deadline, "the failed load was not reported"
            time.sleep(0.05)
        assert served(c) == before
        good = new_model(db)
        registry.promote(good, db=db)
        while served(c)[0] != good:
            assert time.time() < deadline + 5, "the next good model was not picked up"
            time.sleep(0.05)
        assert "recommender" not in c.get("/health").json()["errors"]


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("numpy", "memmap"),
        ("numpy.testing._private.utils", "subprocess.Popen"),
        ("personalization.__main__", "main"),
        ("pandas", "HDFStore"),
        ("pandas", "ExcelWriter"),
        ("scipy.io", "netcdf_file"),
    ],
)
def test_the_loader_refuses_classes_that_touch_files_or_processes(tmp_path, module, name):
    path = tmp_path / "crafted.joblib"
    mod, attr = module.encode(), name.encode()
    path.write_bytes(
        b"\x80\x04"
        + pickle.SHORT_BINUNICODE
        + bytes([len(mod)])
        + mod
        + pickle.SHORT_BINUNICODE
        + bytes([len(attr)])
        + attr
        + pickle.STACK_GLOBAL
        + pickle.EMPTY_TUPLE
        + pickle.REDUCE
        + pickle.STOP
    )
    with pytest.raises(safe_load.UntrustedModelError):
        safe_load.load_artifact(path)
