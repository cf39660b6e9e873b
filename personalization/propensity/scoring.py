"""Scoring customers with a saved propensity model: a whole table, listed or written to a file."""

from __future__ import annotations

import numpy as np
import pandas as pd

from personalization import export, registry, store
from personalization.errors import BadInputError
from personalization.progress import Progress, report

BLOCK_ROWS = 100_000  # customer rows scored at a time


def score_customers(
    model_id: str | None = None, table: str | None = None, db=None, progress: Progress = None
) -> pd.DataFrame:
    """Score every row of ``table`` (default: the table the model was trained on).

    Returns a frame with the key column (or ``row``, the row number, when the table had none),
    ``score`` (P(positive), 0..1) and ``decision`` (score >= the model's threshold), highest first.
    The table is read and scored ``BLOCK_ROWS`` rows at a time, only the columns the model uses:
    memory grows with the scores kept, not with the table's width. Raises ``NotFoundError`` for an
    unknown model or table and ``BadInputError`` when the table lacks feature columns.
    """
    artifact, info = registry.load_model(model_id, kind="classifier", db=db)
    table = table or artifact.table
    found = [name for name, _ in store.table_columns(table, db=db)]
    missing = [c for c in artifact.features if c not in found]
    if missing:
        raise BadInputError(
            f"Table {table!r} lacks columns model {info['model_id']} needs: {', '.join(missing)}; "
            f"found: {', '.join(map(str, found))}. Score a table with the training columns."
        )
    key = artifact.key if artifact.key in found else None
    columns = list(dict.fromkeys([*([key] if key else []), *artifact.features]))
    total, done, parts = max(1, store.count_rows(table, db=db)), 0, []
    for block in store.read_table_blocks(table, columns, BLOCK_ROWS, db=db):
        scores = artifact.predict_proba(block)
        ids = block[key].to_numpy() if key else np.arange(done, done + len(block))
        parts.append(pd.DataFrame({key or "row": ids, "score": scores}))
        done += len(block)
        report(progress, done / total, f"Scored {done:,} of {total:,} customers")
    out = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({key or "row": [], "score": np.empty(0)})
    )
    out["decision"] = out["score"] >= artifact.threshold
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def export_scores(
    out: str,
    model_id: str | None = None,
    table: str | None = None,
    db=None,
    progress: Progress = None,
) -> dict:
    """Write ``score_customers`` to ``out`` (.csv, formula-safe, or .parquet).

    Returns ``path``, ``rows`` and ``contacts`` (rows at or above the threshold).
    """
    scores = score_customers(model_id=model_id, table=table, db=db, progress=progress)
    path = export.write_table(scores, out)
    return {"path": str(path), "rows": len(scores), "contacts": int(scores["decision"].sum())}


def score_table(
    model_id: str | None = None,
    table: str | None = None,
    out: str | None = None,
    db=None,
    progress: Progress = None,
) -> dict:
    """What the ``score`` command prints: with ``out``, ``export_scores``; without, ``rows``,
    ``contacts`` and ``scores`` (the records of ``score_customers``, highest first)."""
    if out:
        return export_scores(out, model_id=model_id, table=table, db=db, progress=progress)
    scores = score_customers(model_id=model_id, table=table, db=db, progress=progress)
    return {
        "rows": len(scores),
        "contacts": int(scores["decision"].sum()),
        "scores": scores.to_dict(orient="records"),
    }
