"""Drift between a reference and a current table: per feature PSI and a test that fits its type,
with an effect size, ranked by drift weighted by the model's SHAP importance.

- Numbers: the two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``); its statistic, the
  largest gap between the two cumulative distributions (0..1), is the effect size. PSI over the
  reference's deciles (missing values a bin of their own).
- Categories (text, yes/no): chi-square on the 2 x K table of counts
  (``scipy.stats.chi2_contingency``); the effect size is Cramer's V (0..1). PSI over the
  categories; beyond ``max_categories`` the rarer ones are lumped as ``(other)``.
- Dates and id-like columns (text, nearly one value per row) are skipped and listed.

PSI = sum((cur - ref) * ln(cur / ref)) over bins, shares floored at ``EPSILON``. A feature's
``drift`` is ``act`` at PSI >= ``psi_act`` (0.25), ``watch`` at >= ``psi_watch`` (0.1), else
``none``; it counts as drifted when its PSI is at least ``watch`` AND its test is significant
(p < ``alpha``): with large samples every test is significant, with small ones PSI is noisy, and
both together are neither. The report alerts when a drifted feature is at ``act`` (with a model:
one among the features that make up ``important_share`` of the SHAP importance) or when the
drifted share reaches ``share``. Each side is sampled to ``max_rows`` rows (a fixed draw), so the
cost stays linear; the report says when it sampled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from personalization import registry, store
from personalization.errors import BadInputError
from personalization.store import monitoring as store_monitoring

EPSILON = 1e-4
MISSING = "(missing)"
OTHER = "(other)"
FEATURE_COLUMNS = (
    "feature",
    "kind",
    "test",
    "statistic",
    "p_value",
    "effect_size",
    "psi",
    "drift",
    "drifted",
)


@dataclass(frozen=True)
class DriftThresholds:
    """What counts as drift: PSI levels, test level, the share of drifted features that alerts,
    PSI bins for numbers, categories kept before lumping, rows per side, and the share of SHAP
    importance whose features count as important."""

    psi_watch: float = 0.1
    psi_act: float = 0.25
    alpha: float = 0.05
    share: float = 0.3
    bins: int = 10
    max_categories: int = 50
    max_rows: int = 100_000
    important_share: float = 0.8

    def __post_init__(self) -> None:
        if not 0 < self.psi_watch <= self.psi_act:
            raise BadInputError(
                f"PSI thresholds need 0 < watch <= act; got watch={self.psi_watch}, "
                f"act={self.psi_act}. Example: 0.1 and 0.25."
            )
        if not 0 < self.alpha < 1 or not 0 < self.share <= 1:
            raise BadInputError(
                f"alpha must lie in (0, 1) and share in (0, 1]; got {self.alpha}, {self.share}."
            )


def psi_numeric(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI of two samples of numbers over the reference's quantile bins (NaN a bin of its own).

    0 for identical distributions; 0.1 is a shift worth watching, 0.25 one to act on.
    """
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    finite = ref[~np.isnan(ref)]
    inner = np.linspace(0, 1, bins + 1)[1:-1]
    edges = np.unique(np.quantile(finite, inner)) if len(finite) else np.empty(0)

    def shares(values: np.ndarray) -> np.ndarray:
        codes = np.where(
            np.isnan(values), len(edges) + 1, np.searchsorted(edges, values, side="right")
        )
        return np.bincount(codes, minlength=len(edges) + 2) / max(1, len(values))

    return psi_from_shares(shares(ref), shares(cur))


def psi_from_shares(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two vectors of bin shares (each summing to 1); shares floored at ``EPSILON``."""
    ref = np.maximum(np.asarray(reference, dtype=float), EPSILON)
    cur = np.maximum(np.asarray(current, dtype=float), EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def category_counts(
    reference: pd.Series, current: pd.Series, max_categories: int = 50
) -> pd.DataFrame:
    """Counts per category (rows) in the reference and the current sample (columns ``reference``,
    ``current``); missing is ``(missing)``, categories past the ``max_categories`` most common of
    the reference are lumped as ``(other)``."""
    ref = reference.astype(object).where(reference.notna(), MISSING).astype(str)
    cur = current.astype(object).where(current.notna(), MISSING).astype(str)
    keep = ref.value_counts().index[:max_categories]
    ref = ref.where(ref.isin(keep), OTHER)
    cur = cur.where(cur.isin(keep), OTHER)
    return pd.DataFrame({"reference": ref.value_counts(), "current": cur.value_counts()}).fillna(0)


def feature_drift(
    reference: pd.Series, current: pd.Series, thresholds: DriftThresholds | None = None
) -> dict[str, Any]:
    """Drift of one feature (``FEATURE_COLUMNS``): the test by type, its statistic and p-value,
    the effect size, PSI and the drift level."""
    from scipy import stats

    t = thresholds or DriftThresholds()
    if is_numeric(reference) and is_numeric(current):
        ref, cur = reference.astype(float).to_numpy(), current.astype(float).to_numpy()
        ref_ok, cur_ok = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
        if len(ref_ok) and len(cur_ok):
            result = stats.ks_2samp(ref_ok, cur_ok)
            statistic, p_value = float(result.statistic), float(result.pvalue)
        else:
            statistic, p_value = 0.0, 1.0
        kind, test, effect = "number", "ks", statistic
        value = psi_numeric(ref, cur, t.bins)
    else:
        counts = category_counts(reference, current, t.max_categories)
        kind, test = "category", "chi2"
        if len(counts) < 2:
            statistic, p_value, effect = 0.0, 1.0, 0.0
        else:
            chi2, p_value, _, _ = stats.chi2_contingency(counts.to_numpy().T, correction=False)
            statistic, p_value = float(chi2), float(p_value)
            effect = float(np.sqrt(statistic / max(1.0, counts.to_numpy().sum())))
        shares = counts / counts.sum().clip(lower=1)
        value = psi_from_shares(shares["reference"].to_numpy(), shares["current"].to_numpy())
    level = "act" if value >= t.psi_act else "watch" if value >= t.psi_watch else "none"
    return {
        "feature": str(reference.name),
        "kind": kind,
        "test": test,
        "statistic": statistic,
        "p_value": p_value,
        "effect_size": effect,
        "psi": value,
        "drift": level,
        "drifted": bool(level != "none" and p_value < t.alpha),
    }


def is_numeric(series: pd.Series) -> bool:
    """True for numbers (not yes/no flags)."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def skipped_columns(frame: pd.DataFrame, max_categories: int = 50) -> dict[str, str]:
    """Columns no drift test fits, with why: dates, and text with nearly one value per row."""
    out = {}
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            out[str(column)] = "a date"
        elif not is_numeric(series) and not pd.api.types.is_bool_dtype(series):
            distinct = series.nunique()
            if distinct > max_categories and distinct > 0.5 * max(1, series.notna().sum()):
                out[str(column)] = "looks like an id"
    return out


def compare_frames(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    thresholds: DriftThresholds | None = None,
    importance: pd.Series | None = None,
) -> pd.DataFrame:
    """Drift of every shared column (``FEATURE_COLUMNS``, plus ``importance`` and
    ``weighted_drift`` = PSI x importance), most drifted first (by ``weighted_drift``).

    ``importance`` (feature -> mean |SHAP|) is normalised to sum 1; without it every feature
    weighs the same. Raises ``BadInputError`` when the two frames have different columns or
    either is empty.
    """
    t = thresholds or DriftThresholds()
    check_same_columns(reference, current)
    skipped = skipped_columns(reference, t.max_categories)
    rows = [
        feature_drift(reference[c], current[c], t)
        for c in reference.columns
        if str(c) not in skipped
    ]
    table = pd.DataFrame(rows, columns=list(FEATURE_COLUMNS))
    if importance is not None and importance.sum() > 0:
        weights = (importance / importance.sum()).reindex(table["feature"]).fillna(0.0)
    else:
        weights = pd.Series(1.0 / max(1, len(table)), index=table["feature"])
    table["importance"] = weights.to_numpy()
    table["weighted_drift"] = table["psi"] * table["importance"]
    table = table.sort_values(["weighted_drift", "psi"], ascending=False, kind="stable")
    table = table.reset_index(drop=True)
    table.attrs["skipped"] = skipped
    return table


def check_same_columns(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    """``BadInputError`` naming the columns one side lacks, or an empty side."""
    ref, cur = [str(c) for c in reference.columns], [str(c) for c in current.columns]
    only_ref = [c for c in ref if c not in cur]
    only_cur = [c for c in cur if c not in ref]
    if only_ref or only_cur:
        raise BadInputError(
            f"The reference and current data have different columns (only in reference: "
            f"{', '.join(only_ref) or 'none'}; only in current: {', '.join(only_cur) or 'none'}); "
            f"compare tables loaded from files of the same layout."
        )
    for name, frame in (("reference", reference), ("current", current)):
        if len(frame) == 0:
            raise BadInputError(
                f"The {name} data has no rows; choose a table or window that holds some."
            )


def summarise(
    table: pd.DataFrame, thresholds: DriftThresholds | None = None, weighted: bool = False
) -> dict[str, Any]:
    """``drifted_share`` (share of the compared features that drifted), ``important`` (features
    making up ``important_share`` of the importance; all without a model) and ``alert``."""
    t = thresholds or DriftThresholds()
    if weighted:
        order = table.sort_values("importance", ascending=False, kind="stable")
        before = order["importance"].cumsum() - order["importance"]
        important = set(order.loc[before < t.important_share, "feature"])
    else:
        important = set(table["feature"])
    share = float(table["drifted"].mean()) if len(table) else 0.0
    acted = table["drifted"] & (table["drift"] == "act") & table["feature"].isin(important)
    return {
        "drifted_share": share,
        "important": sorted(important),
        "alert": bool(acted.any() or share >= t.share),
    }


def sample(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """At most ``rows`` rows of ``frame``, a fixed draw."""
    return frame.sample(rows, random_state=0) if len(frame) > rows else frame


def drift_report(
    reference: str | None = None,
    current: str | None = None,
    model_id: str | None = None,
    thresholds: DriftThresholds | None = None,
    reference_window: tuple[datetime | None, datetime | None] | None = None,
    current_window: tuple[datetime | None, datetime | None] | None = None,
    time_column: str = "timestamp",
    db=None,
) -> dict[str, Any]:
    """What the ``drift`` command prints: ``features`` (each ``FEATURE_COLUMNS``, ``importance``,
    ``weighted_drift``), ``drifted_share``, ``alert``, ``skipped``, ``sampled`` and, with a
    classifier ``model_id``, ``scores`` (the drift of its predicted scores) and ``model_id``.

    ``reference`` and ``current`` name tables; a window ``(start, end)`` keeps the rows whose
    ``time_column`` lies in it (two windows of one events table compare two periods). With a
    classifier and no ``reference``, the reference is the data it was trained on. Raises
    ``BadInputError`` for different columns or an empty side, ``NotFoundError`` for unknown
    tables or models.
    """
    t = thresholds or DriftThresholds()
    artifact = None
    if model_id is not None:
        artifact, info = registry.load_model(model_id, kind="classifier", db=db)
        model_id = info["model_id"]
    if current is None:
        raise BadInputError("Name the current data: --current TABLE")
    ref = load_side(reference, reference_window, time_column, "reference", artifact, db)
    cur = load_side(current, current_window, time_column, "current", None, db)
    sampled = len(ref) > t.max_rows or len(cur) > t.max_rows
    ref, cur = sample(ref, t.max_rows), sample(cur, t.max_rows)
    importance = None
    if artifact is not None:
        missing = [c for c in artifact.features if c not in cur.columns]
        if missing:
            raise BadInputError(
                f"The current data lacks columns model {model_id} needs: {', '.join(missing)}; "
                f"compare a table with the training columns."
            )
        check_same_columns(ref[artifact.features], cur[artifact.features])
        importance = shap_importance(artifact)
        ref, cur = ref[artifact.features], cur[artifact.features]
    table = compare_frames(ref, cur, t, importance)
    out = {
        "features": table.to_dict(orient="records"),
        **summarise(table, t, weighted=importance is not None),
        "skipped": table.attrs["skipped"],
        "sampled": sampled,
        "thresholds": asdict(t),
    }
    if artifact is not None:
        scores = feature_drift(
            pd.Series(artifact.predict_proba(ref), name="score"),
            pd.Series(artifact.predict_proba(cur), name="score"),
            t,
        )
        out.update(model_id=model_id, scores=scores)
    return out


def load_side(
    table: str | None,
    window: tuple[datetime | None, datetime | None] | None,
    time_column: str,
    name: str,
    artifact: Any,
    db,
) -> pd.DataFrame:
    """One side of a comparison: a table, a window of one, or a classifier's training data."""
    if table is None:
        if artifact is None:
            raise BadInputError(f"Name the {name} data: --{name} TABLE (or give --model)")
        return pd.concat(
            [artifact.train_sample, artifact.test_frame[artifact.features]], ignore_index=True
        )
    if window is None or window == (None, None):
        return store.read_table(table, db=db)
    frame = store_monitoring.read_window(table, time_column, window[0], window[1], db=db)
    if len(frame) == 0:
        start, end = (w.isoformat() if w is not None else "open" for w in window)
        raise BadInputError(
            f"The {name} window {start} .. {end} of {table!r} holds no rows; choose dates "
            f"where {table!r} has data."
        )
    return frame


def features_frame(report: dict[str, Any]) -> pd.DataFrame:
    """The ``features`` of a ``drift_report`` as a table (``FEATURE_COLUMNS`` first)."""
    table = pd.DataFrame(report["features"])
    if table.empty:
        return pd.DataFrame(columns=[*FEATURE_COLUMNS, "importance", "weighted_drift"])
    return table


def feature_values(table: str, feature: str, rows: int = 20_000, db=None) -> pd.Series:
    """One column of ``table``, at most ``rows`` of it (a fixed draw), for a distribution chart."""
    frame = store.read_table(table, [feature], db=db)
    return sample(frame, rows)[feature]


def shap_importance(artifact: Any, sample_rows: int = 500) -> pd.Series:
    """Mean |SHAP| per original feature of a classifier (``propensity.shap.global_importance``)."""
    from personalization.propensity.shap import global_importance

    table = global_importance(artifact, sample=sample_rows)
    return pd.Series(table["mean_abs_shap"].to_numpy(), index=table["feature"])


def recommendation_drift(log: pd.DataFrame, thresholds: DriftThresholds | None = None) -> dict:
    """What gets recommended, per logged batch (oldest first): ``batches`` with ``batch_id``,
    ``logged_at``, ``lists``, ``items`` (distinct), ``coverage`` (distinct items over every item
    ever listed), ``top_item_share`` (share of lists holding the most listed item) and ``psi``
    of the item distribution against the batch before (None for the first)."""
    t = thresholds or DriftThresholds()
    if log.empty:
        return {"batches": []}
    every = log["item_id"].nunique()
    order = log.groupby("batch_id")["logged_at"].min().sort_values()
    rows, previous = [], None
    for batch_id, when in order.items():
        part = log[log["batch_id"] == batch_id]
        lists = part["user_id"].nunique()
        psi = None
        if previous is not None:
            counts = category_counts(previous["item_id"], part["item_id"], t.max_categories)
            shares = counts / counts.sum().clip(lower=1)
            psi = psi_from_shares(shares["reference"].to_numpy(), shares["current"].to_numpy())
        rows.append(
            {
                "batch_id": batch_id,
                "logged_at": when,
                "lists": int(lists),
                "items": int(part["item_id"].nunique()),
                "coverage": float(part["item_id"].nunique() / max(1, every)),
                "top_item_share": float(part["item_id"].value_counts().iloc[0] / max(1, lists)),
                "psi": psi,
            }
        )
        previous = part
    return {"batches": rows}


def logged_recommendation_drift(db=None) -> pd.DataFrame:
    """``recommendation_drift`` of every logged batch, as a table (empty without logs)."""
    batches = recommendation_drift(store_monitoring.read_log(db=db))["batches"]
    columns = ["batch_id", "logged_at", "lists", "items", "coverage", "top_item_share", "psi"]
    return pd.DataFrame(batches, columns=columns)
