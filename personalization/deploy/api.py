"""The REST service: ``create_app(db)`` builds the FastAPI app that ``serve`` runs.

Endpoints (OpenAPI at ``/docs``): ``GET /health``; ``GET /recommendations/{user_id}?k=10`` and
``POST /recommendations`` (many users); ``GET /similar/{item_id}?k=10``; ``POST /visitor`` (a new
visitor with attributes); ``POST /scores`` (customer rows -> propensity scores with their top SHAP
reasons); ``POST /session`` (a session's item ids -> the next items, with reasons);
``POST /feedback`` (thumbs up or down, click, conversion, stored in DuckDB).

- Access: when ``PERSONALIZATION_API_KEY`` is set (read by ``create_app``), every endpoint but
  ``/docs`` and ``/openapi.json`` needs it in the ``X-API-Key`` header (401 otherwise; compared
  with ``hmac.compare_digest``).
- Input is declared with pydantic models; a bad request gets 422 with a one-line ``detail``
  (and the pydantic ``errors``). Unknown items 404; no model trained yet 503.
- Models: the promoted recommender and classifier, loaded into memory (``deploy.embedded``). A
  request opens no database connection (feedback excepted): recommendations come from the loaded
  artifact, so an ingest writing the file in another process never blocks them. A watcher thread
  looks about once a second whether the file changed (a ``stat``, no connection) and, once it
  has stopped changing for a tick (so an ingest in another process is not kept waiting), reads
  the promoted ids (one read-only connection, waiting at most 0.2 s for a writer). A newly
  promoted model is loaded in that thread (its files' SHA-256 checked, read by
  ``safe_load``, which runs nothing from the file), made to answer once (``probe``) and only then
  swapped in; if any of that fails, the last good one keeps serving and ``/health`` says why
  (``errors``). A model file damaged or replaced after it was loaded changes nothing: the
  service answers from memory and never reads that file again.
- Feedback is queued in memory and written in one short transaction; while another process
  writes, it stays queued (``stored`` false) and the watcher writes it on a later tick.
- Every list served to a user id (``GET`` and ``POST /recommendations``) is logged for monitoring
  (``monitoring.outcomes.log_lists``, source ``service``, one batch per service run) off the
  request path: a request only appends the list to a queue in memory; a writer thread stores the
  queue every ``LIST_LOG_SECONDS`` in one write, stamped with the second the newest list was
  served, and skips its turn while another process is writing the file. While the database is
  busy the queue waits (at most ``MAX_PENDING_LISTS`` lists; older ones are dropped and counted
  in ``/health``).
"""

from __future__ import annotations

import hmac
import os
import threading
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field

from personalization import __version__
from personalization.deploy.embedded import Classifier, Recommender, load_model
from personalization.deploy.responses import fast_json
from personalization.deploy.session_api import router as session_router
from personalization.errors import (
    BadInputError,
    DatabaseBusyError,
    IncompatibleModelError,
    NotFoundError,
    PersonalizationError,
)
from personalization.monitoring.outcomes import log_lists
from personalization.store import serving_log

API_KEY_ENV = "PERSONALIZATION_API_KEY"
API_KEY_HEADER = "X-API-Key"
MAX_K = 100
MAX_USERS = 1000
MAX_ROWS = 200
CHECK_SECONDS = 1.0
LIST_LOG_SECONDS = 10.0
RETRY_FAILED_SECONDS = 30.0
FEEDBACK_WAIT_SECONDS = 0.5
MAX_PENDING_LISTS = 100_000
LOG_SOURCE = "service"
KINDS = ("recommender", "classifier")
PROBE_VISITOR = "\x00probe"  # no real user id: the cold-start list

UserId = Annotated[str, Path(min_length=1, max_length=200, description="a user id (text)")]
ItemId = Annotated[str, Path(min_length=1, max_length=200, description="an item id (text)")]
K = Annotated[int, Query(ge=1, le=MAX_K, description="items in the list")]
KEY_SCHEME = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


# ---------------------------------------------------------------- request and response bodies


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchRequest(Strict):
    users: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=MAX_USERS, description="user ids (text)"
    )
    k: int = Field(10, ge=1, le=MAX_K)


class VisitorRequest(Strict):
    attributes: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="users-table columns, e.g. {'device': 'mobile'}"
    )
    k: int = Field(10, ge=1, le=MAX_K)


class ScoresRequest(Strict):
    rows: list[dict[str, str | int | float | bool | None]] = Field(
        min_length=1, max_length=MAX_ROWS, description="customers: one dict of columns per row"
    )
    top: int = Field(3, ge=1, le=20, description="reasons per row")


class FeedbackRequest(Strict):
    user_id: str = Field(min_length=1, max_length=200)
    item_id: str = Field(min_length=1, max_length=200)
    action: Literal["thumbs_up", "thumbs_down", "click", "conversion"]
    model_id: str | None = Field(None, max_length=200)


class Item(BaseModel):
    rank: int
    item_id: str
    score: float
    reason: str
    title: str | None = None
    category: str | None = None
    price: float | None = None


class ListOut(BaseModel):
    user: str | None
    known: bool
    model_id: str
    items: list[Item]


class BatchOut(BaseModel):
    model_id: str
    results: list[ListOut]


class SimilarOut(BaseModel):
    item_id: str
    model_id: str
    items: list[Item]


class Reason(BaseModel):
    feature: str
    value: Any
    shap: float
    text: str


class Scored(BaseModel):
    score: float
    decision: bool
    reasons: list[Reason]


class ScoresOut(BaseModel):
    model_id: str
    scores: list[Scored]


class FeedbackOut(BaseModel):
    stored: bool
    pending: int


# ---------------------------------------------------------------- the loaded models


class Models:
    """The promoted models the service answers with, kept fresh by a watcher thread.

    ``refresh`` (also run once at start) reads the promoted ids when the database file changed
    and loads any new one; a model that fails to load is recorded in ``errors`` and retried after
    ``RETRY_FAILED_SECONDS`` while the last good one keeps serving. ``pending`` holds feedback
    not yet written.
    """

    def __init__(
        self, db=None, interval: float = CHECK_SECONDS, log_interval: float = LIST_LOG_SECONDS
    ) -> None:
        self.db = db
        self.interval = interval
        self.log_interval = log_interval
        self.started = time.time()
        self.loaded: dict[str, Recommender | Classifier] = {}
        self.promoted: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.failed: dict[str, tuple[str, float]] = {}
        self.signature: tuple | None = None
        self.seen: tuple | None = None
        self.checked: float | None = None
        self.pending: list[tuple[str, str, str | None, str]] = []
        self.served: list[tuple[int, str, str, list[str]]] = []
        self.lists_dropped = 0
        self.log_batch = uuid.uuid4().hex[:12]
        self.lock = threading.Lock()
        self.refresh_lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.writer: threading.Thread | None = None

    def recommender(self) -> Recommender:
        return self.get("recommender")

    def classifier(self) -> Classifier:
        return self.get("classifier")

    def get(self, kind: str):
        if self.checked is None:
            self.refresh()
        model = self.loaded.get(kind)
        if model is None:
            hint = "train-recommender" if kind == "recommender" else "train-classifier"
            why = self.errors.get(kind) or f"no {kind} is promoted"
            raise HTTPException(
                503,
                f"No {kind} to serve: {why}; train one with: python -m personalization {hint}, "
                f"or make one the default with: python -m personalization promote ID",
            )
        return model

    def refresh(self, force: bool = False, settle: bool = False) -> None:
        """Load newly promoted models; a busy database or a failed load leaves things as they are.

        With ``settle`` (the watcher), a database file that changed since the last look is read
        only once it has stopped changing for one tick: while another process writes (an ingest,
        a training run), the service opens no connection that would make it wait."""
        with self.refresh_lock:
            signature = serving_log.database_signature(self.db)
            changed = signature != self.signature
            if not force and not changed and not self.due_retry():
                return
            if not force and settle and changed and signature != self.seen:
                self.seen = signature  # still changing: look again on the next tick
                return
            self.seen = signature
            try:
                promoted = serving_log.promoted_ids(self.db)
            except DatabaseBusyError:
                return  # a writer holds the file: look again on the next tick
            self.signature, self.checked, self.promoted = signature, time.time(), promoted
            for kind in KINDS:
                self.load(kind, promoted.get(kind))

    def settled(self) -> bool:
        """True unless the database file changed at the watcher's last look and has not been
        read since (another process is probably writing it)."""
        return self.seen == self.signature

    def due_retry(self) -> bool:
        now = time.time()
        return any(now - when >= RETRY_FAILED_SECONDS for _, when in self.failed.values())

    def load(self, kind: str, model_id: str | None) -> None:
        current = self.loaded.get(kind)
        if model_id is None or (current is not None and current.model_id == model_id):
            if current is not None and current.model_id == model_id:
                self.errors.pop(kind, None)
                self.failed.pop(kind, None)
            return
        failed = self.failed.get(kind)
        if failed and failed[0] == model_id and time.time() - failed[1] < RETRY_FAILED_SECONDS:
            return
        try:
            model = load_model(model_id, kind=kind, db=self.db)
            probe(model)
        except Exception as exc:  # any failure keeps the last good model serving
            self.failed[kind] = (model_id, time.time())
            keeps = f"; still serving {current.model_id}" if current is not None else ""
            text = " ".join(str(exc).split())[:300] or type(exc).__name__
            if not isinstance(exc, PersonalizationError):
                text = f"{type(exc).__name__}: {text}"
            self.errors[kind] = f"model {model_id} failed to load: {text}{keeps}"
            return
        self.loaded[kind] = model  # one assignment: requests see the old or the new model
        self.errors.pop(kind, None)
        self.failed.pop(kind, None)

    def add_feedback(self, row: tuple[str, str, str | None, str]) -> bool:
        with self.lock:
            self.pending.append(row)
        return self.flush(FEEDBACK_WAIT_SECONDS)

    def flush(self, timeout: float = FEEDBACK_WAIT_SECONDS) -> bool:
        """Write the queued feedback; True when nothing is left queued."""
        with self.lock:
            rows, self.pending = self.pending, []
        if not rows:
            return True
        try:
            serving_log.record_feedback(rows, db=self.db, timeout=timeout)
        except DatabaseBusyError:
            with self.lock:
                self.pending = rows + self.pending
            return False
        return True

    def note_served(self, user_id: str, model_id: str, items: list[dict]) -> None:
        """Queue one served list for the monitoring log (the request path: one append)."""
        entry = (int(time.time()), user_id, model_id, [row["item_id"] for row in items])
        with self.lock:
            self.served.append(entry)
            if len(self.served) > MAX_PENDING_LISTS:
                del self.served[0]
                self.lists_dropped += 1

    def flush_lists(self) -> bool:
        """Log the queued lists (``log_lists``) in one write, stamped with the second the newest
        was served (so no outcome before a list was shown counts for it); True when nothing is
        left queued. A busy database keeps what was not written queued."""
        with self.lock:
            served, self.served = self.served, []
        if not served:
            return True
        try:
            log_lists(
                served_frame(served),
                LOG_SOURCE,
                db=self.db,
                batch_id=self.log_batch,
                logged_at=datetime.fromtimestamp(max(entry[0] for entry in served)),
            )
        except DatabaseBusyError:
            with self.lock:
                self.served = served + self.served
                excess = len(self.served) - MAX_PENDING_LISTS
                if excess > 0:
                    del self.served[:excess]
                    self.lists_dropped += excess
            return False
        return True

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self.watch, name="model-watcher", daemon=True)
            self.thread.start()
        if self.writer is None:
            self.writer = threading.Thread(target=self.write_lists, name="list-log", daemon=True)
            self.writer.start()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in (self.thread, self.writer):
            if thread is not None:
                thread.join(timeout=5)
        self.thread = self.writer = None
        self.flush(timeout=5.0)
        self.flush_lists()

    def write_lists(self) -> None:
        """The writer thread: log the served lists every ``log_interval`` seconds, in one short
        write, and only while no other process is writing the file (``settled``): an ingest or
        a training run is not kept waiting by the service. A busy database delays this thread
        only, never the model watcher or a request."""
        while not self.stop_event.wait(self.log_interval):
            if not self.settled():
                continue
            try:
                self.flush_lists()
            except Exception as exc:  # the writer must outlive any one bad tick
                self.errors["list_log"] = f"{type(exc).__name__}: {exc}"

    def watch(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                self.refresh(settle=True)
                self.flush()
            except Exception as exc:  # the watcher must outlive any one bad tick
                self.errors["watcher"] = f"{type(exc).__name__}: {exc}"

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok" if "recommender" in self.loaded else "no model",
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started, 1),
            "models": {kind: model.describe() for kind, model in self.loaded.items()},
            "promoted": self.promoted,
            "errors": self.errors,
            "last_check": self.checked,
            "feedback_pending": len(self.pending),
            "lists_pending": len(self.served),
            "lists_dropped": self.lists_dropped,
        }


def probe(model: Recommender | Classifier) -> None:
    """Make the answers a request would ask of a just-loaded ``model`` once (a known user's and
    an unknown visitor's top-10 with reasons, or what ``/health`` says of a classifier), so that
    a file that loads but cannot answer fails here, in the watcher, and is never swapped in."""
    model.describe()
    if isinstance(model, Recommender):
        users = model.artifact.interactions.user_ids
        if len(users):
            model.recommend(str(users[0]), 10)
        model.recommend(PROBE_VISITOR, 10)


def served_frame(served: list[tuple[int, str, str, list[str]]]) -> pd.DataFrame:
    """``user_id``, ``item_id``, ``rank``, ``model_id`` rows of queued lists (for ``log_lists``)."""
    lengths = [len(items) for _, _, _, items in served]
    return pd.DataFrame(
        {
            "user_id": np.repeat([user for _, user, _, _ in served], lengths),
            "item_id": [item for _, _, _, items in served for item in items],
            "rank": np.concatenate([np.arange(1, n + 1) for n in lengths] or [[]]).astype(int),
            "model_id": np.repeat([model for _, _, model, _ in served], lengths),
        }
    )


# ---------------------------------------------------------------- the app


def create_app(db=None, api_key: str | None = None, watch: bool = True) -> FastAPI:
    """The service over database ``db`` (default: ``$PERSONALIZATION_DB``).

    ``api_key`` defaults to ``$PERSONALIZATION_API_KEY`` (none: open). ``watch`` runs the
    thread that picks up newly promoted models while the app runs (its lifespan).
    """
    models = Models(db)
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        models.refresh(force=True)
        if watch:
            models.start()
        yield
        models.stop()

    async def check_key(given: Annotated[str | None, Security(KEY_SCHEME)] = None) -> None:
        if key is not None and not hmac.compare_digest((given or "").encode(), key.encode()):
            raise HTTPException(
                401,
                f"Missing or wrong API key: send it in the {API_KEY_HEADER} header.",
                headers={"WWW-Authenticate": "APIKey"},
            )

    app = FastAPI(
        title="Personalization workbench",
        version=__version__,
        description="Recommendations with reasons, propensity scores with SHAP reasons, feedback.",
        lifespan=lifespan,
        dependencies=[Depends(check_key)],
    )
    app.state.models = models
    add_error_handlers(app)
    app.include_router(session_router)

    @app.get("/health", summary="models loaded, their data, uptime")
    async def health() -> dict:
        return models.health()

    @app.get(
        "/recommendations/{user_id}",
        summary="top-k items for one user, with reasons",
        responses={200: {"model": ListOut}},
    )
    async def recommendations(user_id: UserId, k: K = 10) -> Response:
        start = time.perf_counter()
        rec = models.recommender()
        items = rec.recommend(user_id, k)
        models.note_served(user_id, rec.model_id, items)
        return fast_json(listing(user_id, rec, items), start)

    @app.post(
        "/recommendations",
        summary="top-k items for many users",
        responses={200: {"model": BatchOut}},
    )
    async def many(request: BatchRequest) -> Response:
        start = time.perf_counter()
        rec = models.recommender()
        lists = rec.recommend_many(request.users, request.k)
        for uid, items in lists.items():
            models.note_served(uid, rec.model_id, items)
        results = [listing(uid, rec, items) for uid, items in lists.items()]
        return fast_json({"model_id": rec.model_id, "results": results}, start)

    @app.get(
        "/similar/{item_id}",
        summary="the items most similar to one item",
        responses={200: {"model": SimilarOut}},
    )
    def similar(item_id: ItemId, k: K = 10) -> Response:
        start = time.perf_counter()
        rec = models.recommender()
        body = {"item_id": item_id, "model_id": rec.model_id, "items": rec.similar(item_id, k)}
        return fast_json(body, start)

    @app.post(
        "/visitor",
        summary="a list for a new visitor from their attributes",
        responses={200: {"model": ListOut}},
    )
    async def visitor(request: VisitorRequest) -> Response:
        start = time.perf_counter()
        rec = models.recommender()
        items = rec.visitor(request.attributes, request.k)
        body = {"user": None, "known": False, "model_id": rec.model_id, "items": items}
        body["attributes"] = request.attributes
        return fast_json(body, start)

    @app.post(
        "/scores",
        summary="propensity scores with their top SHAP reasons",
        responses={200: {"model": ScoresOut}},
    )
    def scores(request: ScoresRequest) -> Response:
        start = time.perf_counter()
        clf = models.classifier()
        frame = pd.DataFrame.from_records(request.rows)
        body = {"model_id": clf.model_id, "scores": clf.explain(frame, request.top)}
        return fast_json(body, start)

    @app.post("/feedback", status_code=202, summary="thumbs up or down, a click, a conversion")
    def feedback(request: FeedbackRequest) -> FeedbackOut:
        model_id = request.model_id
        if model_id is None and "recommender" in models.loaded:
            model_id = models.loaded["recommender"].model_id
        stored = models.add_feedback((request.user_id, request.item_id, model_id, request.action))
        return FeedbackOut(stored=stored, pending=len(models.pending))

    return app


def listing(user_id: str, rec: Recommender, items: list[dict]) -> dict[str, Any]:
    """The JSON of one user's list, like the ``recommend`` command's plus ``model_id``."""
    return {"user": user_id, "known": rec.knows(user_id), "model_id": rec.model_id, "items": items}


def add_error_handlers(app: FastAPI) -> None:
    """422 with a one-line ``detail`` for bad input; 404 for unknown ids; 503 for a model that
    cannot be loaded or a database that stays busy."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        lines = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
            for e in errors[:3]
        ]
        return JSONResponse(
            status_code=422,
            content={"detail": "; ".join(lines), "errors": jsonable_encoder(errors)},
        )

    @app.exception_handler(PersonalizationError)
    async def refused(request: Request, exc: PersonalizationError) -> JSONResponse:
        if isinstance(exc, IncompatibleModelError | DatabaseBusyError):
            status = 503
        elif isinstance(exc, NotFoundError):
            status = 404
        elif isinstance(exc, BadInputError):
            status = 422
        else:
            status = 500
        return JSONResponse(status_code=status, content={"detail": " ".join(str(exc).split())})
