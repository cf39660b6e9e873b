"""Outcome tracking: every exported or served list is logged, and what customers did next is
matched to it.

- ``log_lists``: the one entry point that records lists (the export and the REST service call
  it): user, item, rank, model, group, time and source.
- ``engagement``: click-through (the customer touched a listed item afterwards, any event) and
  conversion (a purchase of it) within a horizon, per model, per group, per segment or per
  time window.
- ``approval``: thumbs up and down (the ``feedback`` table) as approval rates per model; survey
  answers (``load_survey``: a file of user, item or offer, score) beside them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from personalization import store
from personalization.errors import BadInputError
from personalization.recommendation.batch import GROUPS, TREATMENT
from personalization.store import monitoring as store_monitoring

CONVERSION_TYPES = ("purchase",)
HORIZON_DAYS = 7.0
BY = ("model_id", "group_name", "source", "window", "segment")


def log_lists(
    frame: pd.DataFrame,
    source: str,
    db=None,
    batch_id: str | None = None,
    logged_at: datetime | None = None,
) -> dict[str, Any]:
    """Record lists: ``frame`` has ``user_id``, ``item_id``, ``rank``, ``model_id`` and
    optionally ``group`` (default ``treatment``). Returns ``batch_id`` and ``rows`` logged.

    Calls with the same ``batch_id`` add to one batch (an export logs block by block).
    Raises ``BadInputError`` when a column is missing or a group is not treatment / control.
    """
    needed = ["user_id", "item_id", "rank", "model_id"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise BadInputError(
            f"Lists to log lack {', '.join(missing)}; found: {', '.join(map(str, frame.columns))}."
            f" Give user_id, item_id, rank, model_id and group."
        )
    rows = frame[needed].copy()
    rows["group"] = frame["group"] if "group" in frame.columns else TREATMENT
    unknown = sorted(set(rows["group"].dropna().astype(str)) - set(GROUPS))
    if unknown:
        raise BadInputError(f"Unknown list group {', '.join(unknown)}; use treatment or control.")
    batch_id = batch_id or uuid.uuid4().hex[:12]
    count = store_monitoring.append_log(
        rows, batch_id, str(source), logged_at or datetime.now(), db=db
    )
    return {"batch_id": batch_id, "rows": count}


def list_outcomes(
    table: str = "events",
    horizon_days: float = HORIZON_DAYS,
    conversion_types: tuple[str, ...] = CONVERSION_TYPES,
    db=None,
) -> pd.DataFrame:
    """Every logged list row with ``clicked`` and ``converted`` (see the module docstring)."""
    if horizon_days <= 0:
        raise BadInputError(f"The horizon must be a positive number of days; got {horizon_days}.")
    return store_monitoring.log_outcomes(table, conversion_types, horizon_days, db=db)


def engagement(
    outcomes: pd.DataFrame, by: str = "model_id", freq: str = "W", segments: pd.Series | None = None
) -> pd.DataFrame:
    """Click-through and conversion of logged lists grouped ``by`` one of ``BY``.

    Columns: the group key, ``lists`` (customer lists), ``items`` (listed items),
    ``click_through`` (share of listed items touched afterwards), ``conversion`` (share of lists
    with a purchase of a listed item). ``window`` groups by the start of each ``freq`` period of
    ``logged_at``; ``segment`` by ``segments`` (user id -> segment value).
    """
    if by not in BY:
        raise BadInputError(f"Engagement is grouped by one of {', '.join(BY)}; got {by!r}.")
    frame = outcomes.copy()
    if by == "window":
        frame["window"] = frame["logged_at"].dt.to_period(freq).dt.start_time
    if by == "segment":
        known = segments if segments is not None else pd.Series(dtype=object)
        frame["segment"] = frame["user_id"].map(known).fillna("(unknown)").astype(str)
    if frame.empty:
        return pd.DataFrame(columns=[by, "lists", "items", "click_through", "conversion"])
    lists = frame.groupby([by, "batch_id", "user_id"], dropna=False)["converted"].any()
    per_list = lists.groupby(level=0).agg(["size", "mean"])
    items = frame.groupby(by, dropna=False)["clicked"].agg(["size", "mean"])
    return pd.DataFrame(
        {
            by: items.index,
            "lists": per_list["size"].reindex(items.index).to_numpy(),
            "items": items["size"].to_numpy(),
            "click_through": items["mean"].to_numpy(),
            "conversion": per_list["mean"].reindex(items.index).to_numpy(),
        }
    ).reset_index(drop=True)


def approval(db=None) -> pd.DataFrame:
    """Thumbs per model: ``model_id``, ``up``, ``down``, ``approval`` (up / (up + down)), plus
    ``survey_answers`` and ``survey_mean`` from stored survey answers on the same users' items
    (overall, in the row ``model_id`` = ``(survey)`` when there are answers)."""
    thumbs = store.feedback(db=db)
    rows = []
    if len(thumbs):
        thumbs = thumbs.assign(model_id=thumbs["model_id"].fillna("(none)"))
        for model_id, part in thumbs.groupby("model_id", sort=True):
            up, down = int((part["thumbs"] > 0).sum()), int((part["thumbs"] < 0).sum())
            rows.append(
                {
                    "model_id": model_id,
                    "up": up,
                    "down": down,
                    "approval": up / (up + down) if up + down else None,
                    "survey_answers": 0,
                    "survey_mean": None,
                }
            )
    survey = store_monitoring.survey_answers(db=db)
    if len(survey):
        rows.append(
            {
                "model_id": "(survey)",
                "up": 0,
                "down": 0,
                "approval": None,
                "survey_answers": len(survey),
                "survey_mean": float(survey["score"].mean()),
            }
        )
    return pd.DataFrame(
        rows, columns=["model_id", "up", "down", "approval", "survey_answers", "survey_mean"]
    )


def load_survey(path: str | Path, db=None) -> dict[str, Any]:
    """Store the answers of a survey file (CSV): a user column (``user_id``, ``customer_id``,
    ``user``), an item or offer column (``item_id``, ``offer_id``, ``item``, ``offer``) and a
    numeric ``score``. Returns ``rows`` stored and ``mean_score``. Raises ``BadInputError`` for a
    missing column or scores that are not numbers; nothing is stored then."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise BadInputError(f"The survey file {path.name} cannot be read ({exc}).") from None
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    user = next((lowered[c] for c in ("user_id", "customer_id", "user") if c in lowered), None)
    item = next(
        (lowered[c] for c in ("item_id", "offer_id", "item", "offer") if c in lowered), None
    )
    score = lowered.get("score")
    if user is None or item is None or score is None:
        raise BadInputError(
            f"The survey file needs user_id, item_id (or offer_id) and score columns; found: "
            f"{', '.join(map(str, frame.columns))}."
        )
    numbers = pd.to_numeric(frame[score], errors="coerce")
    if numbers.isna().any():
        bad = frame.loc[numbers.isna(), score].head(3).tolist()
        raise BadInputError(f"Survey scores must be numbers; found {bad} in {path.name}.")
    answers = pd.DataFrame({"user_id": frame[user], "item_id": frame[item], "score": numbers})
    rows = store_monitoring.add_survey(answers, source=path.name, db=db)
    return {"rows": rows, "mean_score": float(numbers.mean()) if rows else None}
