"""REST service latency: in process (model loaded), then under load on loopback.

Run by hand: ``python bench/serve.py [--users 200000 --items 20000 --events 1000000]
[--workers 2] [--keep DIR]`` (``--in-process-only`` stops after the first table; ``--keep DIR``
builds the data and models in DIR once and reuses them, each run on a fresh copy).
In a temporary folder it generates events with numpy (users in taste groups, items drawn mostly
from their group's block with a long-tailed popularity), ingests them, trains SVD with fixed
parameters (rank 32, so it is quick) and a second one to promote later. Then, each against a
``serve`` subprocess on 127.0.0.1 (``--workers`` processes, access log off):

1. ``floor``: a bare FastAPI endpoint returning a constant (the framework's own floor);
2. ``top10``: ``GET /recommendations/{user}?k=10`` (95% known users, 5% unknown ones);
3. ``top10 during ingest``: the same while ``ingest --mode append`` writes 20% more events into
   the database from another process;
4. ``top10 during promotion``: the same while another process promotes the second model (the
   service loads it in its watcher thread and swaps it in; the run records when it switched);

First, in this process through the ASGI app (no sockets, one request at a time, the model
loaded): p50/p95 (and the process's CPU time per request, steadier on a busy machine) of a
known user's top-10 with reasons, an unknown user (the cold-start list),
a new visitor (``POST /visitor``) and similar items, beside a bare FastAPI endpoint returning a
fixed list of ten items (the floor), all in the same run (``--in-process-requests`` each).

Then each phase with ``--requests`` requests (20,000) from ``--clients`` (50) concurrent httpx async clients
in this process, bounded by ``--seconds`` per phase; phases 3 and 4 last as long as the writer
needs (at least ``--requests // 4`` requests). Also, one client at a time (2,000 requests) against
the floor and top-10, which is the latency without queueing. Both servers run with
``--workers`` (2) uvicorn worker processes; the client runs on the same machine and takes CPU
from them (on 2 cores it is part of what is measured). Latency is measured by the client
(queueing in the server included); ``server p50/p99`` is the handler's own time from the
``Server-Timing`` header. Prints a table and writes ``bench/out/serve.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personalization import config  # noqa: E402
from personalization.data.ingest import ingest_file  # noqa: E402
from personalization.recommendation import training  # noqa: E402

OUT = ROOT / "bench" / "out" / "serve.json"
EVENT_TYPES = np.array(["view", "click", "add_to_cart", "purchase"])
EVENT_SHARES = np.array([0.6, 0.2, 0.12, 0.08])
SVD_PARAMS = {"rank": 32, "reg": 3.0, "popularity_reg": 0.3, "weighting": "log"}
FIXED_LIST = [
    {"rank": r, "item_id": f"SKU{r}", "score": 1.0 / r, "reason": "Popular with all customers"}
    for r in range(1, 11)
]
FLOOR_APP = f"""
from fastapi import FastAPI
app = FastAPI()
BODY = {{"user": "1", "known": True, "model_id": "fixed", "items": {FIXED_LIST!r}}}
@app.get("/constant")
async def constant():
    return BODY
"""


def write_events(path: Path, users: int, items: int, events: int, seed: int) -> None:
    """Events of ``users`` in 100 taste groups: 80% of each user's events fall in their group's
    block of items, 20% anywhere; popularity within a block is long-tailed (Zipf-like)."""
    rng = np.random.default_rng(seed)
    groups = 100
    block = max(1, items // groups)
    user = rng.integers(0, users, events)
    in_group = rng.random(events) < 0.8
    rank = np.minimum(rng.zipf(1.3, events) - 1, block - 1)
    item = (
        np.where(in_group, (user % groups) * block + rank, rng.integers(0, items, events)) % items
    )
    start = np.datetime64("2024-01-01T00:00:00")
    frame = pd.DataFrame(
        {
            "user_id": user.astype(str),
            "item_id": np.char.add("SKU", item.astype(str)),
            "event_type": EVENT_TYPES[rng.choice(len(EVENT_TYPES), events, p=EVENT_SHARES)],
            "timestamp": start + rng.integers(0, 90 * 86400, events).astype("timedelta64[s]"),
        }
    )
    frame.to_parquet(path, index=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args_list: list[str], env: dict, port: int, path: str) -> subprocess.Popen:
    """A uvicorn subprocess; returns once ``path`` answers 200 (or raises after 120 s)."""
    import httpx

    proc = subprocess.Popen(args_list, env=env, cwd=ROOT)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the server did not answer within 120 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def load(
    port: int,
    paths: list[str],
    requests: int,
    clients: int,
    seconds: float,
    while_running: subprocess.Popen | None = None,
    watch_for: str | None = None,
) -> dict:
    """``requests`` GETs (cycling over ``paths``) from ``clients`` concurrent clients, bounded
    by ``seconds``; with ``while_running``, go on until that process ends (at least
    ``requests // 4``). Returns latency percentiles (ms), errors, rate; with ``watch_for``, the
    seconds until a response first contained that text."""
    import httpx

    latencies: list[float] = []
    server: list[float] = []
    errors: dict[str, int] = {}
    seen_at: list[float] = []
    count = 0
    begin = time.perf_counter()
    deadline = begin + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    def more() -> bool:
        if time.perf_counter() > deadline:
            return False
        if while_running is not None:
            return while_running.poll() is None or count < requests // 4
        return count < requests

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal count
        while more():
            path = paths[count % len(paths)]
            count += 1
            start = time.perf_counter()
            try:
                response = await http.get(path)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
                timing = response.headers.get("server-timing", "")
                if timing.startswith("app;dur="):
                    server.append(float(timing[8:]) / 1000)
                if watch_for and not seen_at and watch_for in response.text:
                    seen_at.append(time.perf_counter() - begin)
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
    ) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    wall = time.perf_counter() - begin
    out = {
        "requests": len(latencies) + sum(v for k, v in errors.items() if not k.isdigit()),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": round(wall, 2),
        "per_second": round(len(latencies) / wall, 1),
        **percentiles("", latencies),
        **percentiles("server_", server),
    }
    if watch_for is not None:
        out["switched_after_s"] = round(seen_at[0], 2) if seen_at else None
    return out


def floor_app():
    """A bare FastAPI app whose one endpoint returns a fixed list (the framework's floor)."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/constant")
    async def constant() -> dict:
        return {"user": "1", "known": True, "model_id": "fixed", "items": FIXED_LIST}

    return app


async def time_calls(app, calls: list[tuple[str, str, dict | None]], repeat: int) -> dict:
    """Latency (ms) of ``calls`` (method, path, json), each made ``repeat`` times one after the
    other through ``app`` in this process; ``server_`` figures from ``Server-Timing``."""
    import httpx

    latencies, server, cpu, errors = [], [], [], 0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        for method, path, body in calls[:20]:  # warm-up, not reported
            await http.request(method, path, json=body)
        for i in range(repeat):
            method, path, body = calls[i % len(calls)]
            start, used = time.perf_counter(), time.process_time()
            response = await http.request(method, path, json=body)
            latencies.append(time.perf_counter() - start)
            cpu.append(time.process_time() - used)
            errors += response.status_code != 200
            timing = response.headers.get("server-timing", "")
            if timing.startswith("app;dur="):
                server.append(float(timing[8:]) / 1000)
    return {
        "requests": repeat,
        "errors": errors,
        **percentiles("", latencies),
        **percentiles("server_", server),
        **percentiles("cpu_", cpu),
    }


def in_process(db: Path, users: int, repeat: int) -> dict:
    """The in-process table: each endpoint beside the floor, in this run."""
    from personalization.deploy.api import create_app

    app = create_app(db, watch=False)
    app.state.models.refresh(force=True)
    rec = app.state.models.recommender()
    rng = np.random.default_rng(3)
    known = rec.artifact.interactions.user_ids[rng.integers(0, rec.n_users, 500)].astype(str)
    items = rec.artifact.interactions.item_ids[rng.integers(0, rec.n_items, 500)].astype(str)
    cases = {
        "floor (fixed list)": (floor_app(), [("GET", "/constant", None)]),
        "known user top-10": (app, [("GET", f"/recommendations/{u}?k=10", None) for u in known]),
        "unknown user top-10": (
            app,
            [("GET", f"/recommendations/new-{i}?k=10", None) for i in range(500)],
        ),
        "new visitor top-10": (app, [("POST", "/visitor", {"attributes": {}, "k": 10})]),
        "similar items top-10": (app, [("GET", f"/similar/{i}?k=10", None) for i in items]),
    }
    out = {
        name: asyncio.run(time_calls(target, calls, repeat))
        for name, (target, calls) in cases.items()
    }
    out["lists_queued_for_log"] = len(app.state.models.served)
    return out


def print_in_process(table: dict) -> None:
    print("in process, one at a time (ms) | p50 | p95 | p99 | server p50 | server p95 | cpu p50")
    for name, p in table.items():
        if isinstance(p, dict):
            cells = (name, p.get("p50_ms"), p.get("p95_ms"), p.get("p99_ms"),
                     p.get("server_p50_ms", "-"), p.get("server_p95_ms", "-"),
                     p.get("cpu_p50_ms"))  # fmt: skip
            print(" | ".join(str(c) for c in cells))


def percentiles(prefix: str, values: list[float]) -> dict:
    if not values:
        return {}
    ms = np.asarray(values) * 1000
    return {
        f"{prefix}p50_ms": round(float(np.percentile(ms, 50)), 2),
        f"{prefix}p95_ms": round(float(np.percentile(ms, 95)), 2),
        f"{prefix}p99_ms": round(float(np.percentile(ms, 99)), 2),
        f"{prefix}max_ms": round(float(ms.max()), 2),
    }


def build(folder: Path, db: Path, args) -> dict:
    """Events, ingest and two SVD models in ``folder``; what was built and how long it took."""
    out: dict = {}
    start = time.perf_counter()
    write_events(folder / "events.parquet", args.users, args.items, args.events, seed=0)
    write_events(folder / "more.parquet", args.users, args.items, args.events // 5, seed=1)
    ingest_file(folder / "events.parquet", kind="events", db=db)
    out["ingest_s"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    first = training.train_recommender(algo="svd", params=SVD_PARAMS, db=db)
    out["train_s"] = round(time.perf_counter() - start, 1)
    second = training.train_recommender(algo="svd", params=SVD_PARAMS | {"rank": 24}, db=db)
    out["model"] = {k: first[k] for k in ("model_id", "n_users", "n_items", "nnz")}
    out["second"] = second["model_id"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120.0, help="limit per phase")
    parser.add_argument("--in-process-requests", type=int, default=2000)
    parser.add_argument("--in-process-only", action="store_true")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (both servers)")
    parser.add_argument(
        "--keep", help="build the data in this folder and keep it; a later run reuses it"
    )
    parser.add_argument(
        "--db", help="an existing database with a promoted recommender (skips data)"
    )
    args = parser.parse_args()
    if args.db:
        table = in_process(Path(args.db), args.users, args.in_process_requests)
        print_in_process(table)
        return
    result: dict = {"config": vars(args) | {"svd": SVD_PARAMS}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / "serve.duckdb"
        ready = folder / "ready.json"
        if args.keep and ready.exists():  # built by an earlier run with --keep: reuse
            built = json.loads(ready.read_text())
        else:
            built = build(folder, db, args)
            ready.write_text(json.dumps(built))
        result.update({k: v for k, v in built.items() if k != "second"})
        second = built["second"]
        if args.keep:  # the load phases change the database: run them on a copy
            work = Path(tmp)
            shutil.copy(db, work / db.name)
            shutil.copytree(config.models_dir(db), config.models_dir(work / db.name))
            shutil.copy(folder / "more.parquet", work / "more.parquet")
            folder, db = work, work / db.name
        print(f"data ready: {result}", flush=True)
        result["in_process"] = in_process(db, args.users, args.in_process_requests)
        print_in_process(result["in_process"])
        if args.in_process_only:
            OUT.parent.mkdir(parents=True, exist_ok=True)
            OUT.write_text(json.dumps(result, indent=2))
            return

        rng = np.random.default_rng(2)
        ids = rng.integers(0, args.users, 5000).astype(str).tolist()
        ids[::20] = [f"new-visitor-{i}" for i in range(len(ids[::20]))]
        top10 = [f"/recommendations/{u}?k=10" for u in ids]
        env = dict(os.environ, PERSONALIZATION_DB=str(db), PYTHONPATH=str(ROOT))
        env.pop("PERSONALIZATION_API_KEY", None)
        python = [sys.executable, "-m"]
        # both servers through ``personalization.cli.serve.run`` (the ``serve`` command's), which
        # binds the socket with Nagle's algorithm off (plain ``uvicorn --workers 2`` adds ~40 ms
        # to every keep-alive request on Linux: uvicorn issue #3149)
        floor_run = "from personalization.cli.serve import run; import sys; " \
            "run('floor_app:app', '127.0.0.1', int(sys.argv[1]), int(sys.argv[2]), 'warning')"  # fmt: skip
        phases = {}

        port = free_port()
        (folder / "floor_app.py").write_text(FLOOR_APP)
        floor_env = dict(env, PYTHONPATH=f"{folder}{os.pathsep}{ROOT}")
        server = start_server(
            [sys.executable, "-c", floor_run, str(port), str(args.workers)],
            floor_env,
            port,
            "/constant",  # fmt: skip
        )
        try:
            phases["floor, 1 client"] = asyncio.run(load(port, ["/constant"], 2000, 1, 60))
            phases["floor"] = asyncio.run(
                load(port, ["/constant"], args.requests, args.clients, args.seconds)
            )
        finally:
            stop(server)

        port = free_port()
        server = start_server(
            [*python, "personalization", "--db", str(db), "serve", "--port", str(port),
             "--workers", str(args.workers), "--log-level", "warning"],
            env, port, "/health",
        )  # fmt: skip
        try:
            asyncio.run(load(port, top10[:500], 500, 10, 30))  # warm-up, not reported
            phases["top10, 1 client"] = asyncio.run(load(port, top10, 2000, 1, 60))
            phases["top10"] = asyncio.run(load(port, top10, args.requests, args.clients, 300))
            ingest = subprocess.Popen(
                [*python, "personalization", "--db", str(db), "ingest",
                 str(folder / "more.parquet"), "--kind", "events", "--mode", "append"],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            begin = time.perf_counter()
            phases["top10 during ingest"] = asyncio.run(
                load(port, top10, args.requests, args.clients, args.seconds, while_running=ingest)
            )
            ingest.wait()
            phases["top10 during ingest"]["writer_s"] = round(time.perf_counter() - begin, 2)
            phases["top10 during ingest"]["writer_exit"] = ingest.returncode
            promote = subprocess.Popen(
                [*python, "personalization", "--db", str(db), "promote", second],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            phases["top10 during promotion"] = asyncio.run(
                load(port, top10, args.requests, args.clients, args.seconds, watch_for=second)
            )
            promote.wait()
            phases["top10 during promotion"]["writer_exit"] = promote.returncode
            import httpx

            health = httpx.get(f"http://127.0.0.1:{port}/health").json()
            result["served_after"] = health["models"]["recommender"]["model_id"]
            result["health_errors"] = health["errors"]
        finally:
            stop(server)
    result["phases"] = phases
    print_table(phases)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(f"wrote {OUT}")


def print_table(phases: dict) -> None:
    head = ("phase", "requests", "errors", "req/s", "p50 ms", "p99 ms", "server p50", "server p99")
    print(" | ".join(head))
    for name, p in phases.items():
        cells = (
            name,
            p.get("requests"),
            p.get("errors"),
            p.get("per_second"),
            p.get("p50_ms"),
            p.get("p99_ms"),
            p.get("server_p50_ms", "-"),
            p.get("server_p99_ms", "-"),
        )
        print(" | ".join(str(c) for c in cells))


if __name__ == "__main__":
    main()
