"""Scoring customers with a saved propensity model: a whole table, listed or written to a file."""

from __future__ import annotations

import numpy as np
import pandas as pd

from personalization import export, registry, store
from personalization.errors import BadInputError


def score_customers(model_id: str | None = None, table: str | None = None, db=None) -> pd.DataFrame:
    """Score every row of ``table`` (default: the table the model was trained on).

    Returns a frame with the key column (or ``row``, the row number, when the table had none),
    ``score`` (P(positive), 0..1) and ``decision`` (score >= the model's threshold), highest first.
    Raises ``NotFoundError`` for an unknown model or table and ``BadInputError`` when the table
    lacks feature columns.
    """
    artifact, info = registry.load_model(model_id, kind="classifier", db=db)
    table = table or artifact.table
    frame = store.read_table(table, db=db)
    missing = [c for c in artifact.features if c not in frame.columns]
    if missing:
        raise BadInputError(
            f"Table {table!r} lacks columns model {info['model_id']} needs: {', '.join(missing)}; "
            f"found: {', '.join(map(str, frame.columns))}. Score a table with the training columns."
        )
    key = artifact.key if artifact.key in frame.columns else None
    scores = artifact.predict_proba(frame) if len(frame) else np.empty(0)
    out = pd.DataFrame(
        {
            key or "row": frame[key].to_numpy() if key else np.arange(len(frame)),
            "score": scores,
            "decision": scores >= artifact.threshold,
        }
    )
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def export_scores(out: str, model_id: str | None = None, table: str | None = None, db=None) -> dict:
    """Write ``score_customers`` to ``out`` (.csv, formula-safe, or .parquet).

    Returns ``path``, ``rows`` and ``contacts`` (rows at or above the threshold).
    """
    scores = score_customers(model_id=model_id, table=table, db=db)
    path = export.write_table(scores, out)
    return {"path": str(path), "rows": len(scores), "contacts": int(scores["decision"].sum())}


def score_table(
    model_id: str | None = None, table: str | None = None, out: str | None = None, db=None
) -> dict:
    """What the ``score`` command prints: with ``out``, ``export_scores``; without, ``rows``,
    ``contacts`` and ``scores`` (the records of ``score_customers``, highest first)."""
    if out:
        return export_scores(out, model_id=model_id, table=table, db=db)
    scores = score_customers(model_id=model_id, table=table, db=db)
    return {
        "rows": len(scores),
        "contacts": int(scores["decision"].sum()),
        "scores": scores.to_dict(orient="records"),
    }
