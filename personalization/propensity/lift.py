"""Lift, gains and targeting economics of a propensity score.

Inputs are a binary outcome ``y_true`` (1 = converted; booleans and 0/1 accepted) and ``scores``
(higher = more likely to convert) of the same length. Customers are ranked by score, highest
first; ties keep their input order, so the result is deterministic. Bin 1 holds the highest
scores. Empty inputs give empty tables with the documented columns. Every function is pure
except ``model_lift``, which reads a saved model's test split (what the ``lift`` command prints).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from personalization import registry
from personalization.errors import BadInputError
from personalization.values import MIN_GROUP_CUSTOMERS, segment_columns

DECILE_COLUMNS = [
    "bin",
    "customers",
    "conversions",
    "rate",
    "lift",
    "cumulative_lift",
    "cumulative_gain",
    "min_score",
    "max_score",
]
SEGMENT_COLUMNS = [
    "segment",
    "bin",
    "customers",
    "conversions",
    "rate",
    "ci_low",
    "ci_high",
    "lift",
    "cumulative_lift",
    "cumulative_gain",
]
SIMULATION_COLUMNS = [
    "share_contacted",
    "contacted",
    "min_score",
    "expected_conversions",
    "revenue",
    "cost",
    "profit",
    "roi",
    "within_budget",
    "best",
]
MISSING_SEGMENT = "(missing)"
OTHER_SEGMENT = "other"


def overall_rate(artifact) -> float:
    """The real conversion rate of a saved classifier's test split (0..1): the "overall
    conversion rate" of the Lift page and the "average customer" of the Explain page."""
    y = np.asarray(artifact.y_test, dtype=float)
    return float(y.mean()) if len(y) else 0.0


def check_inputs(y_true: Sequence, scores: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` as 0/1 floats and ``scores`` as floats; raise ``BadInputError`` when unusable."""
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if len(y) != len(s):
        raise BadInputError(
            f"y_true and scores must have the same length; got {len(y)} and {len(s)}. "
            f"Pass one score per customer."
        )
    if np.isnan(y).any() or not np.isin(y, (0.0, 1.0)).all():
        found = sorted(set(np.unique(y[~np.isnan(y)]).tolist()))[:5]
        raise BadInputError(
            f"y_true must hold 0 and 1 only (1 = converted); found values {found}"
            f"{' and missing values' if np.isnan(y).any() else ''}. Encode the outcome as 0/1."
        )
    if np.isnan(s).any():
        raise BadInputError(
            f"scores hold {int(np.isnan(s).sum())} missing values; score every customer first."
        )
    return y, s


def rank_order(scores: np.ndarray) -> np.ndarray:
    """Positions of the customers from the highest score to the lowest (stable on ties)."""
    return np.argsort(-scores, kind="stable")


def assign_bins(scores: Sequence, bins: int = 10) -> np.ndarray:
    """Bin 1..``bins`` of each customer by rank (bin 1 = highest scores), near-equal sizes.

    With fewer customers than ``bins``, each customer gets a bin of its own.
    """
    s = np.asarray(scores, dtype=float).ravel()
    if bins < 1:
        raise BadInputError(f"bins must be at least 1; got {bins}.")
    out = np.zeros(len(s), dtype=int)
    for number, part in enumerate(
        np.array_split(rank_order(s), min(bins, max(len(s), 1))), start=1
    ):
        out[part] = number
    return out


def decile_table(y_true: Sequence, scores: Sequence, bins: int = 10) -> pd.DataFrame:
    """One row per score bin (bin 1 = highest scores).

    Columns: ``bin``, ``customers``, ``conversions``, ``rate`` (0..1), ``lift`` (rate over the
    overall rate; NaN when nobody converted), ``cumulative_lift`` (bins 1..b together),
    ``cumulative_gain`` (share 0..1 of all conversions caught in bins 1..b), ``min_score``,
    ``max_score``.
    """
    y, s = check_inputs(y_true, scores)
    if not len(y):
        return pd.DataFrame(columns=DECILE_COLUMNS)
    frame = pd.DataFrame({"bin": assign_bins(s, bins), "y": y, "score": s})
    table = summarise_bins(frame, y.mean(), y.sum())
    extremes = frame.groupby("bin")["score"].agg(min_score="min", max_score="max").reset_index()
    return table.merge(extremes, on="bin")[DECILE_COLUMNS]


def summarise_bins(frame: pd.DataFrame, base_rate: float, total: float) -> pd.DataFrame:
    """Counts, rates and cumulative figures per ``bin`` of a frame with columns ``bin``, ``y``."""
    table = (
        frame.groupby("bin")["y"]
        .agg(customers="size", conversions="sum")
        .reset_index()
        .sort_values("bin")
        .reset_index(drop=True)
    )
    table["customers"] = table["customers"].astype(int)
    table["conversions"] = table["conversions"].astype(int)
    table["rate"] = table["conversions"] / table["customers"]
    base = base_rate if base_rate > 0 else np.nan
    table["lift"] = table["rate"] / base
    cum_rate = table["conversions"].cumsum() / table["customers"].cumsum()
    table["cumulative_lift"] = cum_rate / base
    table["cumulative_gain"] = table["conversions"].cumsum() / total if total > 0 else np.nan
    return table


def wilson_interval(successes: np.ndarray, trials: np.ndarray, z: float = 1.96):
    """Wilson score interval (default 95%) of a rate; ``(low, high)`` arrays in 0..1."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def segment_lift(
    y_true: Sequence, scores: Sequence, segments: Sequence, bins: int = 10, max_segments: int = 50
) -> pd.DataFrame:
    """Lift per segment and score bin, with 95% Wilson intervals for the rate.

    Bins are those of the whole list (bin 1 = the overall top scores), so a segment's bin-1 row
    counts its customers among the overall top ``1/bins``. ``lift`` and ``cumulative_lift``
    divide by the OVERALL conversion rate, so segments are comparable; ``cumulative_gain`` is the
    share of the segment's own conversions caught in bins 1..b. Missing segment values become
    ``"(missing)"``; empty (segment, bin) cells are left out. More than ``max_segments``
    distinct values (a numeric or id column) is a ``BadInputError``.

    Columns: ``segment``, ``bin``, ``customers``, ``conversions``, ``rate``, ``ci_low``,
    ``ci_high``, ``lift``, ``cumulative_lift``, ``cumulative_gain``.
    """
    y, s = check_inputs(y_true, scores)
    labels = pd.Series(segments, dtype=object).reset_index(drop=True)
    if len(labels) != len(y):
        raise BadInputError(
            f"segments must have one value per customer; got {len(labels)} for {len(y)} scores."
        )
    if not len(y):
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    distinct = labels.nunique(dropna=False)
    if distinct > max_segments:
        raise BadInputError(
            f"The segment column has {distinct} distinct values (at most {max_segments} make "
            f"readable segments); choose a categorical column such as a device or a region."
        )
    frame = pd.DataFrame(
        {
            "segment": labels.where(labels.notna(), MISSING_SEGMENT).astype(str),
            "bin": assign_bins(s, bins),
            "y": y,
        }
    )
    parts = []
    for name, group in frame.groupby("segment", sort=True):
        table = summarise_bins(group, y.mean(), group["y"].sum())
        table.insert(0, "segment", name)
        parts.append(table)
    out = pd.concat(parts, ignore_index=True)
    out["ci_low"], out["ci_high"] = wilson_interval(out["conversions"], out["customers"])
    return out[SEGMENT_COLUMNS]


def gains_curve(y_true: Sequence, scores: Sequence, points: int = 101) -> pd.DataFrame:
    """Cumulative gains at ``points`` evenly spaced shares of the ranked list, from 0 to 1.

    Columns: ``share_contacted`` (0..1), ``contacted``, ``conversions`` (caught so far),
    ``share_conversions`` (0..1; NaN when nobody converted), ``random`` (= share_contacted, the
    gain of random targeting).
    """
    y, s = check_inputs(y_true, scores)
    contacted = cut_points(len(y), points)
    caught = np.concatenate([[0.0], np.cumsum(y[rank_order(s)])])[contacted]
    total = y.sum()
    share = contacted / len(y) if len(y) else np.zeros(len(contacted))
    return pd.DataFrame(
        {
            "share_contacted": share,
            "contacted": contacted,
            "conversions": caught.astype(int),
            "share_conversions": caught / total if total > 0 else np.nan,
            "random": share,
        }
    )


def lift_curve(y_true: Sequence, scores: Sequence, points: int = 100) -> pd.DataFrame:
    """Cumulative lift at ``points`` evenly spaced shares of the ranked list (first share > 0).

    Columns: ``share_contacted`` (0..1], ``contacted``, ``rate`` (conversion rate of the
    contacted), ``lift`` (that rate over the overall rate; NaN when nobody converted).
    """
    y, s = check_inputs(y_true, scores)
    if not len(y):
        return pd.DataFrame(columns=["share_contacted", "contacted", "rate", "lift"])
    contacted = np.unique(np.maximum(cut_points(len(y), points + 1)[1:], 1))
    caught = np.cumsum(y[rank_order(s)])[contacted - 1]
    rate = caught / contacted
    base = y.mean()
    return pd.DataFrame(
        {
            "share_contacted": contacted / len(y),
            "contacted": contacted,
            "rate": rate,
            "lift": rate / base if base > 0 else np.nan,
        }
    )


def cut_points(n: int, points: int) -> np.ndarray:
    """``points`` (at least 2) contact counts from 0 to ``n``, rounded, without repeats."""
    return np.unique(np.round(np.linspace(0, n, max(points, 2))).astype(int))


def targeting_simulation(
    y_true: Sequence,
    scores: Sequence,
    cost_per_contact: float,
    value_per_conversion: float,
    budget: float | None = None,
    steps: int = 20,
) -> pd.DataFrame:
    """Economics of contacting the top of the list, at ``steps`` evenly spaced cut-offs.

    Expected conversions at a cut-off are those observed among the contacted in ``y_true``
    (typically the model's test split). With a ``budget``, the largest list it pays for is added
    as a cut-off of its own, and cut-offs costing more are marked ``within_budget = False``.
    ``best`` marks the most profitable cut-off within budget (the smallest one on ties).

    Columns: ``share_contacted`` (0..1), ``contacted``, ``min_score`` (the score threshold),
    ``expected_conversions``, ``revenue``, ``cost``, ``profit``, ``roi`` (profit / cost; NaN at
    no cost), ``within_budget``, ``best``. Raises ``BadInputError`` for a negative cost, value or
    budget.
    """
    y, s = check_inputs(y_true, scores)
    for name, amount in (
        ("cost_per_contact", cost_per_contact),
        ("value_per_conversion", value_per_conversion),
        ("budget", budget),
    ):
        if amount is not None and amount < 0:
            raise BadInputError(f"{name} must be zero or more; got {amount}.")
    if not len(y):
        return pd.DataFrame(columns=SIMULATION_COLUMNS)
    contacted = cut_points(len(y), steps + 1)[1:]
    affordable = None
    if budget is not None:
        affordable = (
            len(y) if cost_per_contact == 0 else int(min(budget // cost_per_contact, len(y)))
        )
        contacted = np.unique(np.append(contacted, affordable)) if affordable > 0 else contacted
    order = rank_order(s)
    conversions = np.cumsum(y[order])[contacted - 1]
    cost = contacted * float(cost_per_contact)
    revenue = conversions * float(value_per_conversion)
    profit = revenue - cost
    within = contacted <= affordable if affordable is not None else np.ones(len(contacted), bool)
    table = pd.DataFrame(
        {
            "share_contacted": contacted / len(y),
            "contacted": contacted,
            "min_score": s[order][contacted - 1],
            "expected_conversions": conversions.astype(int),
            "revenue": revenue,
            "cost": cost,
            "profit": profit,
            "roi": np.divide(profit, cost, out=np.full(len(cost), np.nan), where=cost > 0),
            "within_budget": within,
            "best": False,
        }
    )
    if within.any():
        table.loc[table["profit"].where(within).idxmax(), "best"] = True
    return table


def depth_summary(
    y_true: Sequence, scores: Sequence, segments: Sequence, share: float, bins: int = 10
) -> pd.DataFrame:
    """Per segment, its customers among the top ``share`` (0..1] of all scores together: the
    ``segment_lift`` bins 1..``round(share * bins)`` (at least bin 1) added up.

    Columns: ``segment``, ``customers``, ``conversions``, ``rate`` (0..1), ``lift`` (rate over the
    overall rate; NaN when nobody converted), ``ci_low``, ``ci_high`` (95% Wilson); segments with
    nobody that deep are left out; highest lift first.
    """
    y, _ = check_inputs(y_true, scores)
    table = segment_lift(y_true, scores, segments, bins=bins)
    last_bin = max(int(round(share * bins)), 1)
    top = table[table["bin"] <= last_bin]
    top = top.groupby("segment")[["customers", "conversions"]].sum().reset_index()
    top = top[top["customers"] > 0]
    top["rate"] = top["conversions"] / top["customers"]
    base_rate = float(y.mean()) if len(y) else 0.0
    top["lift"] = top["rate"] / base_rate if base_rate > 0 else np.nan
    top["ci_low"], top["ci_high"] = wilson_interval(top["conversions"], top["customers"])
    return top.sort_values("lift", ascending=False)


def segment_choices(frame: pd.DataFrame, exclude: Sequence[str | None] = ()) -> dict[str, str]:
    """The columns of ``frame`` that make sensible segments, best first (``values.segment_columns``:
    columns whose groups are all large enough come first), each with a label that shows its
    groups and the customers of its smallest one, and whether small groups are merged into
    ``other`` (``merge_small_groups``): ``{"device": "device (3 groups, smallest n=41)"}``.
    """
    out = {}
    for column in segment_columns(frame, exclude=tuple(exclude)):
        counts = frame[column].dropna().astype(str).value_counts()
        merged = segment_groups(frame[column].dropna())
        label = f"{column} ({len(counts)} groups, smallest n={int(counts.min()):,}"
        if len(merged) < len(counts):
            label += f"; under {MIN_GROUP_CUSTOMERS} merged into {OTHER_SEGMENT}"
        out[column] = label + ")"
    return out


def merge_small_groups(values: Sequence, min_group: int = MIN_GROUP_CUSTOMERS) -> pd.Series:
    """Segment labels with every group of fewer than ``min_group`` customers merged into
    ``"other"`` (missing values become ``"(missing)"`` first); big groups keep their label. A
    single small group is left as it is (merging it alone would only rename it)."""
    labels = pd.Series(values, dtype=object).reset_index(drop=True)
    labels = labels.where(labels.notna(), MISSING_SEGMENT).astype(str)
    counts = labels.value_counts()
    small = counts[counts < min_group].index
    if len(small) < 2:
        return labels
    return labels.where(~labels.isin(small), OTHER_SEGMENT)


def segment_groups(values: Sequence, min_group: int = MIN_GROUP_CUSTOMERS) -> pd.DataFrame:
    """Customers per group of ``merge_small_groups(values)``, biggest first: ``segment``,
    ``customers`` and ``small`` (True when the group, ``other`` included, still holds fewer than
    ``min_group``: its figures are too thin to trust)."""
    counts = merge_small_groups(values, min_group).value_counts()
    return pd.DataFrame(
        {
            "segment": counts.index.astype(str),
            "customers": counts.to_numpy(dtype=int),
            "small": counts.to_numpy() < min_group,
        }
    )


def lift_in_words(y_true: Sequence, scores: Sequence, share: float = 0.1) -> str:
    """The top ``share`` of the scores in plain words: "The top 10% by score convert at 52%, 3.4
    times the overall 15%; they hold 34% of all conversions." Empty input or no conversion says
    so."""
    y, s = check_inputs(y_true, scores)
    if not len(y) or y.sum() == 0:
        return "Nobody in the test split converted, so lift cannot be measured."
    depth = max(int(round(share * len(y))), 1)
    top = y[rank_order(s)][:depth]
    rate, base = float(top.mean()), float(y.mean())
    return (
        f"The top {share:.0%} by score convert at {rate:.0%}, {rate / base:.1f} times the overall "
        f"{base:.0%} (random targeting gets 1.0 times); they hold {top.sum() / y.sum():.0%} of "
        f"all conversions."
    )


def simulated_cut(
    y_true: Sequence,
    scores: Sequence,
    share: float,
    cost_per_contact: float,
    value_per_conversion: float,
    list_size: int,
) -> pd.Series:
    """Contacting the top ``share`` (0..1) of a list of ``list_size`` customers: the conversion
    rate seen at that depth of ``(y_true, scores)``, applied to ``round(share * list_size)``
    contacts.

    A row like ``targeting_simulation``'s: ``contacted``, ``expected_conversions``, ``revenue``,
    ``cost``, ``profit``, ``roi`` (NaN at no cost), ``min_score`` and ``share_contacted``.
    """
    y, _ = check_inputs(y_true, scores)
    table = targeting_simulation(
        y_true, scores, cost_per_contact, value_per_conversion, steps=len(y)
    )
    depth = max(int(round(share * len(y))), 1)
    row = table.iloc[(table["contacted"] - depth).abs().argmin()].copy()
    rate = row["expected_conversions"] / row["contacted"]
    row["contacted"] = max(int(round(share * list_size)), 1)
    row["expected_conversions"] = rate * row["contacted"]
    row["revenue"] = row["expected_conversions"] * value_per_conversion
    row["cost"] = row["contacted"] * cost_per_contact
    row["profit"] = row["revenue"] - row["cost"]
    row["roi"] = row["profit"] / row["cost"] if row["cost"] > 0 else np.nan
    return row


def simulate_campaign(
    y_true: Sequence,
    scores: Sequence,
    list_size: int,
    cost_per_contact: float,
    value_per_conversion: float,
    share: float | None = None,
    budget: float | None = None,
    steps: int = 50,
) -> dict:
    """A campaign to the top of a list of ``list_size`` customers, measured on ``(y_true, scores)``
    (the test split) and scaled to the list: contact the top ``share`` (0..1], or, with
    ``budget``, as many as it pays for.

    Returns ``share`` (of the list contacted), ``chosen`` (``simulated_cut`` at that share),
    ``curve`` (``targeting_simulation`` at ``steps`` cut-offs with money scaled to the list) and
    ``best`` (the curve's most profitable row within budget, or None). A share of 0 still
    contacts one customer. Raises ``BadInputError`` when neither ``share`` nor ``budget`` is
    given, or for a share outside [0, 1].
    """
    if budget is not None:
        share = min(budget / cost_per_contact / list_size, 1.0) if cost_per_contact > 0 else 1.0
    if share is None or not 0 <= share <= 1:
        raise BadInputError(f"share must be between 0 and 1, or give a budget; got {share}.")
    y, _ = check_inputs(y_true, scores)
    scale = list_size / max(len(y), 1)
    curve = targeting_simulation(
        y_true,
        scores,
        cost_per_contact * scale,
        value_per_conversion * scale,
        budget=budget,
        steps=steps,
    )
    best = curve[curve["best"]].iloc[0] if len(curve) and curve["best"].any() else None
    chosen = simulated_cut(y_true, scores, share, cost_per_contact, value_per_conversion, list_size)
    return {"share": share, "chosen": chosen, "curve": curve, "best": best}


def model_lift(
    model_id: str | None = None, segment: str | None = None, bins: int = 10, db=None
) -> dict:
    """What the ``lift`` command prints: ``model_id`` and ``rows``, the ``decile_table`` of the
    saved classifier's test split (``segment`` = ``"all"``), or its ``segment_lift`` by the
    column ``segment``. Raises ``BadInputError`` for a column the test split lacks and
    ``NotFoundError`` for an unknown model."""
    artifact, info = registry.load_model(model_id, kind="classifier", db=db)
    if segment is None:
        table = decile_table(artifact.y_test, artifact.test_scores, bins=bins)
        table.insert(0, "segment", "all")
    else:
        if segment not in artifact.test_frame.columns:
            raise BadInputError(
                f"--segment {segment!r} is not a column of {artifact.table!r}; columns: "
                f"{', '.join(map(str, artifact.test_frame.columns))}."
            )
        table = segment_lift(
            artifact.y_test, artifact.test_scores, artifact.test_frame[segment], bins=bins
        )
    return {"model_id": info["model_id"], "rows": table.to_dict(orient="records")}
