"""The JSON responses of the REST service's routes (``deploy.api``, ``deploy.session_api``)."""

from __future__ import annotations

import json
import time

from fastapi.responses import Response


def fast_json(body: dict, start: float) -> Response:
    """``body`` as JSON (plain values only: no encoder pass) with a ``Server-Timing`` header
    giving the time spent in the handler since ``start`` (``time.perf_counter()``), in ms."""
    spent = (time.perf_counter() - start) * 1000
    return Response(
        content=json.dumps(body, default=str),
        media_type="application/json",
        headers={"Server-Timing": f"app;dur={spent:.3f}"},
    )
