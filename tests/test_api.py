"""The REST service on the small shop of ``conftest.shop_model``: u1..u8 with events on p1..p5,
``newbie`` (mobile) in the users table without events, a popularity model promoted."""

from __future__ import annotations

import os
import time
from datetime import datetime

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from personalization import config, registry
from personalization.deploy.api import create_app
from personalization.recommendation import training
from personalization.store import query_df

USERS = (
    "user_id,device\n"
    + "".join(f"u{i},{'mobile' if i % 2 else 'desktop'}\n" for i in range(1, 9))
    + "newbie,mobile\n"
)
ITEMS = (
    "item_id,title,category,price\n"
    "p1,Copper Pot,kitchen,10\np2,Oak Tray,kitchen,12\np3,Toy Car,toys,5\n"
    "p4,Teddy,toys,7\np5,Tea Towel,kitchen,3\n"
)


@pytest.fixture
def client(shop_model, db):
    with TestClient(create_app(db, watch=False)) as c:
        yield c


def test_health_names_the_promoted_model_and_its_data(client, shop_model):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["models"]["recommender"]["model_id"] == shop_model
    assert body["models"]["recommender"]["n_users"] == 8
    assert body["models"]["recommender"]["data_table"] == "events"
    assert body["uptime_seconds"] >= 0 and body["errors"] == {}


def test_a_known_user_gets_unseen_items_with_reasons(client, shop_model):
    response = client.get("/recommendations/u1", params={"k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == "u1" and body["known"] is True and body["model_id"] == shop_model
    # u1 touched p1..p3 (2 + 1 % 4 items), so only p4 and p5 are left to recommend
    assert [i["item_id"] for i in body["items"]] == ["p4", "p5"]
    assert all(i["reason"] and i["title"] for i in body["items"])
    assert "app;dur=" in response.headers["server-timing"]


def test_unknown_and_attribute_only_users_get_the_cold_start_list(client):
    unknown = client.get("/recommendations/nobody?k=5").json()
    assert unknown["known"] is False and len(unknown["items"]) == 5
    assert unknown["items"][0]["reason"] == "Popular with all customers"
    newbie = client.get("/recommendations/newbie?k=5").json()
    assert newbie["known"] is False and len(newbie["items"]) == 5
    assert newbie["items"][0]["reason"].startswith("Popular with")


def test_batch_similar_and_visitor(client):
    body = client.post("/recommendations", json={"users": ["u1", "nobody", "u1"], "k": 2}).json()
    assert [r["user"] for r in body["results"]] == ["u1", "nobody"]
    assert [len(r["items"]) for r in body["results"]] == [2, 2]
    similar = client.get("/similar/p1?k=2").json()
    assert similar["item_id"] == "p1" and len(similar["items"]) == 2
    assert "p1" not in [i["item_id"] for i in similar["items"]]
    assert similar["items"][0]["reason"] == "Similar to Copper Pot"
    visitor = client.post("/visitor", json={"attributes": {"device": "mobile"}, "k": 3}).json()
    assert visitor["known"] is False and len(visitor["items"]) == 3
    assert client.get("/similar/nope").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("get", "/recommendations/u1?k=0", None, "k"),
        ("get", "/recommendations/u1?k=many", None, "k"),
        ("post", "/recommendations", {"users": [], "k": 3}, "users"),
        ("post", "/recommendations", {"users": ["u1"], "k": 3, "extra": 1}, "extra"),
        ("post", "/visitor", {"attributes": {"planet": "mars"}}, "planet"),
        ("post", "/feedback", {"user_id": "u1", "item_id": "p1", "action": "love"}, "action"),
        ("post", "/scores", {"rows": []}, "rows"),
    ],
)
def test_bad_input_gets_422_with_a_message(client, method, path, body, where):
    response = getattr(client, method)(path, **({"json": body} if body is not None else {}))
    assert response.status_code == 422
    assert where in response.json()["detail"]


def test_the_api_key_is_required_when_set(shop_model, db, monkeypatch):
    monkeypatch.setenv("PERSONALIZATION_API_KEY", "s3cret")
    with TestClient(create_app(db, watch=False)) as c:
        assert c.get("/recommendations/u1").status_code == 401
        assert c.get("/health", headers={"X-API-Key": "wrong"}).status_code == 401
        ok = c.get("/recommendations/u1", headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200 and ok.json()["items"]
        assert c.get("/docs").status_code == 200
        assert "/recommendations/{user_id}" in c.get("/openapi.json").json()["paths"]


def test_feedback_is_stored_with_its_action(client, shop_model, db):
    for action in ("thumbs_up", "thumbs_down", "click", "conversion"):
        response = client.post(
            "/feedback", json={"user_id": "u1", "item_id": "p4", "action": action}
        )
        assert response.status_code == 202 and response.json() == {"stored": True, "pending": 0}
    stored = query_df("SELECT * FROM feedback ORDER BY thumbs", db=db)
    assert sorted(stored["action"]) == ["click", "conversion", "thumbs_down", "thumbs_up"]
    assert sorted(stored["thumbs"]) == [-1, 0, 0, 1]
    assert set(stored["model_id"]) == {shop_model}


def test_served_lists_are_logged_for_monitoring_off_the_request_path(shop_model, db):
    with TestClient(create_app(db, watch=False)) as c:
        first = c.get("/recommendations/u1?k=2").json()["items"]
        c.post("/recommendations", json={"users": ["u2", "nobody"], "k": 3})
        c.post("/visitor", json={"attributes": {}, "k": 2})  # no user id: not a customer's list
        assert c.get("/health").json()["lists_pending"] == 3  # queued, not written per request
    logged = query_df(
        "SELECT * FROM recommendation_log ORDER BY user_id, rank", db=db
    )  # written when the service stops (and about once a second while it runs)
    assert set(logged["source"]) == {"service"} and logged["batch_id"].nunique() == 1
    assert sorted(logged["user_id"].unique()) == ["nobody", "u1", "u2"]
    mine = logged[logged["user_id"] == "u1"]
    assert mine["item_id"].tolist() == [row["item_id"] for row in first]
    assert mine["rank"].tolist() == [1, 2] and set(mine["model_id"]) == {shop_model}
    assert set(logged["group_name"]) == {"treatment"}


def test_a_promoted_model_is_picked_up_and_a_broken_one_is_not(client, shop_model, db):
    app_models = client.app.state.models
    newer = training.train_recommender(algo="popularity", db=db)["model_id"]
    registry.promote(newer, db=db)
    app_models.refresh()
    assert client.get("/health").json()["models"]["recommender"]["model_id"] == newer
    assert client.get("/recommendations/u1").json()["model_id"] == newer

    broken = training.train_recommender(algo="popularity", db=db)["model_id"]
    (config.models_dir(db) / broken / registry.MODEL_FILE).write_bytes(b"not a model")
    registry.promote(broken, db=db)
    app_models.refresh()
    health = client.get("/health").json()
    assert health["models"]["recommender"]["model_id"] == newer
    assert broken in health["errors"]["recommender"] and newer in health["errors"]["recommender"]
    assert client.get("/recommendations/u1").status_code == 200


def test_the_watcher_thread_picks_up_a_promotion(shop_model, db):
    newer = training.train_recommender(algo="popularity", db=db)["model_id"]
    app = create_app(db)
    app.state.models.interval = 0.1
    with TestClient(app) as c:
        assert c.get("/health").json()["models"]["recommender"]["model_id"] == shop_model
        registry.promote(newer, db=db)
        deadline = time.time() + 5
        while c.get("/recommendations/u1").json()["model_id"] != newer:
            assert time.time() < deadline, "the promoted model was not picked up"
            time.sleep(0.05)


def test_no_model_answers_503(db):
    with TestClient(create_app(db, watch=False)) as c:
        response = c.get("/recommendations/u1")
        assert response.status_code == 503 and "train-recommender" in response.json()["detail"]
        assert c.get("/health").json()["status"] == "no model"


def test_a_writer_in_another_process_does_not_block_recommendations(client, db):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(4)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        start = time.perf_counter()
        for user in ("u1", "u2", "nobody"):
            assert client.get(f"/recommendations/{user}").status_code == 200
        assert client.get("/similar/p2").status_code == 200
        assert time.perf_counter() - start < 1.0
        queued = client.post(
            "/feedback", json={"user_id": "u2", "item_id": "p5", "action": "click"}
        )
        assert queued.json() == {"stored": False, "pending": 1}
    finally:
        holder.wait(timeout=10)
    assert client.app.state.models.flush() is True
    assert query_df("SELECT action FROM feedback", db=db)["action"].tolist() == ["click"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["serve", "--port", "0"], "--port"), (["serve", "--workers", "0"], "--workers")],
)
def test_serve_refuses_a_bad_port_or_worker_count(argv, message):
    from personalization.cli import CommandLineParser, serve
    from personalization.errors import BadInputError

    parser = CommandLineParser(prog="test")
    parser.add_argument("--db")
    serve.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    with pytest.raises(BadInputError, match=message):
        args.func(args)


def test_the_watcher_waits_for_the_file_to_settle_before_it_connects(shop_model, db, monkeypatch):
    """While another process keeps writing (the file changes at every look), the service opens
    no connection: it reads the promoted ids, and logs lists, once the file has stopped changing."""
    from personalization.deploy import api

    models = api.Models(db)
    models.refresh(force=True)
    reads = []
    real = api.serving_log.promoted_ids
    monkeypatch.setattr(api.serving_log, "promoted_ids", lambda db: reads.append(1) or real(db))
    for step in range(3):  # a writer at work: a new size or time at every tick
        os.utime(db, ns=(time.time_ns(), time.time_ns() + step + 1))
        models.refresh(settle=True)
        assert reads == [] and not models.settled()
    models.refresh(settle=True)  # unchanged since the last look: read once
    assert reads == [1] and models.settled()
    models.refresh(settle=True)
    assert reads == [1]


def test_served_lists_are_written_in_one_write_stamped_with_the_newest(shop_model, db):
    from personalization.deploy import api

    models = api.Models(db)
    models.served = [
        (1_700_000_000, "u1", shop_model, ["p4"]),
        (1_700_000_007, "u2", shop_model, ["p5", "p4"]),
    ]
    assert models.flush_lists() is True and models.served == []
    logged = query_df("SELECT user_id, rank, logged_at FROM recommendation_log", db=db)
    assert len(logged) == 3 and logged["logged_at"].nunique() == 1
    assert logged["logged_at"].iloc[0] == pd.Timestamp(datetime.fromtimestamp(1_700_000_007))


def test_serve_binds_its_socket_as_tcp_so_nagle_is_off_with_several_workers():
    """uvicorn binds the socket of ``--workers 2`` with protocol 0, so asyncio leaves Nagle's
    algorithm on and every keep-alive request waits ~40 ms (uvicorn issue #3149)."""
    import socket

    import uvicorn

    from personalization.cli.serve import tcp_socket

    config = uvicorn.Config("personalization.deploy.api:create_app", port=0, workers=2)
    sock = tcp_socket(config)
    try:
        assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[1] > 0
    finally:
        sock.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_keeps_idle_connections_longer_than_client_pools(monkeypatch, workers):
    """With uvicorn's 5 s keep-alive, a client pool that also keeps connections 5 s (httpx) or
    longer (a proxy) reuses one the server is closing and gets a ReadError."""
    import uvicorn
    import uvicorn.supervisors

    from personalization.cli import serve

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setattr(serve, "tcp_socket", lambda config: None)

    class Supervisor:
        def __init__(self, config, sockets):
            seen["timeout_keep_alive"] = config.timeout_keep_alive

        def run(self):
            pass

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    serve.run("personalization.deploy.api:create_app", "127.0.0.1", 0, workers, factory=True)
    assert seen["timeout_keep_alive"] > 60
