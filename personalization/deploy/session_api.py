"""``POST /session``: what a visitor wants next, from the items of their current session.

A FastAPI ``APIRouter`` that ``deploy.api.create_app`` includes (``app.include_router(router)``);
it answers from the promoted recommender the app has loaded (``app.state.models``), so a request
opens no database connection. The body is ``{"items": ["id", ...], "k": 10}`` (oldest item
first; ids the model does not know are ignored and listed in ``unknown``); the answer holds
``model_id``, ``sequence_model`` (whether the model learned from the order of clicks),
``known``, ``unknown`` and ``items`` (``rank``, ``item_id``, ``score``, ``reason`` and the
item's ``title``, ``category``, ``price`` where known). Bad input gets 422 with one line; no
model trained yet, 503 (the app's handlers).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from personalization.deploy.responses import fast_json
from personalization.recommendation.next_items import MAX_SESSION_ITEMS, next_items
from personalization.recommendation.serving import records

MAX_K = 100

router = APIRouter(tags=["sessions"])


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        max_length=MAX_SESSION_ITEMS, description="the item ids of the session, oldest first"
    )
    k: int = Field(10, ge=1, le=MAX_K, description="items in the list")
    filter_seen: bool = Field(False, description="leave out the session's own items")


class SessionItem(BaseModel):
    rank: int
    item_id: str
    score: float
    reason: str
    title: str | None = None
    category: Any = None
    price: float | None = None


class SessionOut(BaseModel):
    model_id: str
    sequence_model: bool
    known: int
    unknown: list[str]
    items: list[SessionItem]


@router.post(
    "/session",
    summary="the next items after a session's clicks, with reasons",
    responses={200: {"model": SessionOut}},
)
def session(request: Request, body: SessionRequest) -> Response:
    start = time.perf_counter()
    rec = request.app.state.models.recommender()
    frame = next_items(rec.artifact, body.items, body.k, body.filter_seen)
    answer = {
        "model_id": rec.model_id,
        "sequence_model": bool(frame.attrs.get("sequence_model")),
        "known": int(frame.attrs.get("known", 0)),
        "unknown": list(frame.attrs.get("unknown", [])),
        "items": records(frame),
    }
    return fast_json(answer, start)
