"""Campaign readouts: treated against control, with intervals, and the size of the next test.

Formulas (standard, written out so a test can check them against a hand count):

- Conversion rates ``p_t = x_t / n_t`` and ``p_c = x_c / n_c``; relative lift ``p_t / p_c - 1``.
- p-value: the two-proportion z-test with the pooled rate ``p = (x_t + x_c) / (n_t + n_c)``,
  ``z = (p_t - p_c) / sqrt(p (1 - p) (1/n_t + 1/n_c))``, two-sided.
- 95% interval of the relative lift by the delta method on the log of the rate ratio:
  ``se = sqrt((1 - p_t) / x_t + (1 - p_c) / x_c)``, ``exp(log(p_t / p_c) +- 1.96 se) - 1``
  (Katz et al. 1978); undefined (None) when either group has no conversion.
- Revenue per customer: the means and the difference with a Welch (normal) 95% interval.
- Sample size per group to detect a relative lift with given power at level alpha (two-sided):
  ``n = (z_a sqrt(2 q (1 - q)) + z_b sqrt(p1 (1 - p1) + p2 (1 - p2)))^2 / (p2 - p1)^2``,
  ``q`` the mean of ``p1`` and ``p2`` (Fleiss).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from personalization import store, values
from personalization.errors import BadInputError
from personalization.recommendation.batch import GROUPS
from personalization.store import monitoring as store_monitoring

Z95 = NormalDist().inv_cdf(0.975)
CONVERSION_TYPES = ("purchase",)
OUTCOME_COLUMNS = ("user_id", "converted")


def group_counts(customers: int, conversions: int) -> dict[str, Any]:
    """``customers``, ``conversions`` and ``rate`` of one group."""
    return {
        "customers": int(customers),
        "conversions": int(conversions),
        "rate": conversions / customers if customers else None,
    }


def compare_rates(n_t: int, x_t: int, n_c: int, x_c: int) -> dict[str, Any]:
    """``treatment``, ``control``, ``lift`` (relative), ``ci_low``, ``ci_high`` (95%, delta
    method) and ``p_value`` (pooled two-proportion z-test) for ``x`` conversions of ``n``."""
    out = {"treatment": group_counts(n_t, x_t), "control": group_counts(n_c, x_c)}
    out.update(lift=None, ci_low=None, ci_high=None, p_value=None)
    if not n_t or not n_c:
        return out
    p_t, p_c = x_t / n_t, x_c / n_c
    pooled = (x_t + x_c) / (n_t + n_c)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    if spread > 0:
        out["p_value"] = math.erfc(abs(p_t - p_c) / spread / math.sqrt(2))
    if p_c > 0:
        out["lift"] = p_t / p_c - 1
    if x_t > 0 and x_c > 0:
        centre = math.log(p_t / p_c)
        se = math.sqrt((1 - p_t) / x_t + (1 - p_c) / x_c)
        out["ci_low"] = math.exp(centre - Z95 * se) - 1
        out["ci_high"] = math.exp(centre + Z95 * se) - 1
    return out


def revenue_difference(treated: np.ndarray, control: np.ndarray) -> dict[str, Any]:
    """Revenue per customer in each group and their difference with a Welch 95% interval."""
    t, c = np.asarray(treated, dtype=float), np.asarray(control, dtype=float)
    out = {
        "treatment_per_customer": float(t.mean()) if len(t) else None,
        "control_per_customer": float(c.mean()) if len(c) else None,
        "difference": None,
        "ci_low": None,
        "ci_high": None,
    }
    if len(t) > 1 and len(c) > 1:
        diff = float(t.mean() - c.mean())
        se = math.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c))
        out.update(difference=diff, ci_low=diff - Z95 * se, ci_high=diff + Z95 * se)
    return out


def sample_size(
    base_rate: float, relative_lift: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Customers per group needed to detect ``relative_lift`` over ``base_rate`` (two-sided)."""
    p1 = float(base_rate)
    p2 = p1 * (1 + float(relative_lift))
    if not 0 < p1 < 1 or not 0 < p2 < 1 or p1 == p2:
        raise BadInputError(
            f"The sample size needs a base rate in (0, 1) and a lift that keeps it there and is "
            f"not 0; got base rate {base_rate}, lift {relative_lift}."
        )
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise BadInputError(f"alpha and power must lie in (0, 1); got {alpha}, {power}.")
    z_a, z_b = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    q = (p1 + p2) / 2
    top = z_a * math.sqrt(2 * q * (1 - q)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(top**2 / (p2 - p1) ** 2)


def read_frame(path: str | Path, what: str) -> pd.DataFrame:
    """A CSV or Parquet file as text columns (a readout's export or outcomes file)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"The {what} file {str(path)!r} does not exist; give its path.")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path).astype("string").astype(object)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise BadInputError(
            f"The {what} file {path.name} cannot be read as CSV ({exc}); give a CSV or Parquet."
        ) from None


def export_groups(export: pd.DataFrame) -> pd.DataFrame:
    """One row per customer of an export file: ``user_id``, ``group``. Raises ``BadInputError``
    when the file has no ``group`` column, unknown groups or customers in both groups."""
    for column in ("user_id", "group"):
        if column not in export.columns:
            raise BadInputError(
                f"The export file has no {column!r} column (found: {', '.join(export.columns)}); "
                f"make it with export-recommendations --control-share 0.1."
            )
    users = export[["user_id", "group"]].dropna().drop_duplicates()
    unknown = sorted(set(users["group"]) - set(GROUPS))
    if unknown:
        raise BadInputError(
            f"The export file has unknown groups {', '.join(unknown)}; expected treatment and "
            f"control, as export-recommendations --control-share writes them."
        )
    if users["user_id"].duplicated().any():
        raise BadInputError(
            "Some customers of the export file are in both groups; use an export file as written."
        )
    return users.reset_index(drop=True)


def outcomes_from_file(path: str | Path, users: pd.DataFrame) -> pd.DataFrame:
    """``user_id``, ``converted`` (bool), ``revenue`` (float or NaN) and any other columns of an
    outcomes file, one row per customer of the export (absent ones count as not converted).
    Raises ``BadInputError`` for missing columns or customers the export does not hold."""
    frame = read_frame(path, "outcomes")
    missing = [c for c in OUTCOME_COLUMNS if c not in frame.columns]
    if missing:
        raise BadInputError(
            f"The outcomes file lacks {', '.join(missing)} (found: {', '.join(frame.columns)}); "
            f"give one row per customer with user_id and converted (yes/no or 1/0)."
        )
    frame = frame.drop_duplicates("user_id", keep="last")
    strangers = frame.loc[~frame["user_id"].isin(users["user_id"]), "user_id"]
    if len(strangers):
        raise BadInputError(
            f"The outcomes file names {len(strangers)} customers the export does not hold "
            f"(e.g. {', '.join(strangers.head(3))}); give outcomes of the exported customers."
        )
    frame["converted"] = values.is_true(frame["converted"].fillna("0"))
    if "revenue" in frame.columns:
        frame["revenue"] = pd.to_numeric(frame["revenue"], errors="coerce")
    out = users.merge(frame, on="user_id", how="left")
    out["converted"] = out["converted"].fillna(False).astype(bool)
    return out


def outcomes_from_events(
    users: pd.DataFrame, since: datetime, table: str = "events", db=None
) -> pd.DataFrame:
    """``user_id``, ``converted`` and ``revenue`` per exported customer from the conversion
    events of ``table`` after ``since``."""
    found = store_monitoring.user_conversions(table, since, CONVERSION_TYPES, db=db)
    out = users.merge(found, on="user_id", how="left")
    out["converted"] = out["conversions"].fillna(0) > 0
    out["revenue"] = out["revenue"].fillna(0.0)
    return out.drop(columns="conversions")


def export_time(path: str | Path, db=None) -> datetime:
    """When an export file was written: its recorded run, else the file's modification time."""
    runs = store_monitoring.export_runs(str(Path(path).resolve()), db=db)
    if len(runs):
        return pd.Timestamp(runs["created"].iloc[0]).to_pydatetime()
    return datetime.fromtimestamp(Path(path).stat().st_mtime)


def readout_table(outcomes: pd.DataFrame, segment: str | None = None) -> dict[str, Any]:
    """The readout of a frame with ``group`` and ``converted`` (and ``revenue``): overall
    ``compare_rates``, ``revenue`` when given, ``segments`` (per value of ``segment``) and
    ``sample_size`` (per group, to detect the observed lift, or 10% when there is none)."""
    counts = outcomes.groupby("group")["converted"].agg(["size", "sum"])
    n_t, x_t = _pair(counts, "treatment")
    n_c, x_c = _pair(counts, "control")
    out = compare_rates(n_t, x_t, n_c, x_c)
    if "revenue" in outcomes.columns and outcomes["revenue"].notna().any():
        money = outcomes["revenue"].fillna(0.0)
        out["revenue"] = revenue_difference(
            money[outcomes["group"] == "treatment"].to_numpy(),
            money[outcomes["group"] == "control"].to_numpy(),
        )
    out["segments"] = []
    if segment:
        if segment not in outcomes.columns:
            raise BadInputError(
                f"No column {segment!r} to split the readout by; found: "
                f"{', '.join(map(str, outcomes.columns))}."
            )
        for value, part in outcomes.groupby(outcomes[segment].fillna("(missing)"), sort=True):
            c = part.groupby("group")["converted"].agg(["size", "sum"])
            out["segments"].append(
                {
                    "segment": str(value),
                    **compare_rates(*_pair(c, "treatment"), *_pair(c, "control")),
                }
            )
    out["sample_size"] = next_test_size(out)
    return out


def next_test_size(result: dict[str, Any], power: float = 0.8) -> dict[str, Any]:
    """Customers per group the next test needs to detect the observed lift (10% when none)."""
    base = result["control"]["rate"]
    lift = result["lift"] if result["lift"] not in (None, 0) else 0.1
    try:
        size = sample_size(base, lift, power=power) if base else None
    except BadInputError:
        size = None
    return {"per_group": size, "base_rate": base, "lift": lift, "power": power, "alpha": 0.05}


def _pair(counts: pd.DataFrame, group: str) -> tuple[int, int]:
    if group not in counts.index:
        return 0, 0
    return int(counts.loc[group, "size"]), int(counts.loc[group, "sum"])


def campaign_readout(
    export: str | Path,
    outcomes: str | Path | None = None,
    segment: str | None = None,
    table: str = "events",
    db=None,
) -> dict[str, Any]:
    """What the ``readout`` command prints for an export file made with a control group: from
    the ``outcomes`` file (``user_id``, ``converted``, optional ``revenue`` and segment columns)
    or, without one, from the conversion events of ``table`` that followed the export.

    ``segment`` is a column of the outcomes file, the export file or the users table. Keys:
    ``treatment``, ``control`` (each ``customers``, ``conversions``, ``rate``), ``lift``,
    ``ci_low``, ``ci_high``, ``p_value``, ``segments``, ``sample_size``, ``source``, and
    ``revenue`` when known. Raises ``BadInputError`` for files without groups, unknown groups or
    customers, and ``NotFoundError`` for a missing events table.
    """
    frame = read_frame(export, "export")
    users = export_groups(frame)
    if outcomes is not None:
        result = outcomes_from_file(outcomes, users)
        source = "outcomes file"
    else:
        since = export_time(export, db)
        result = outcomes_from_events(users, since, table, db)
        source = f"{table} after {since.isoformat(timespec='seconds')}"
    if segment and segment not in result.columns:
        result = attach_segment(result, frame, segment, db)
    return {**readout_table(result, segment), "source": source}


def attach_segment(result: pd.DataFrame, export: pd.DataFrame, segment: str, db) -> pd.DataFrame:
    """``result`` with the ``segment`` column from the export file, else the users table."""
    if segment in export.columns:
        values_of = export[["user_id", segment]].drop_duplicates("user_id")
        return result.merge(values_of, on="user_id", how="left")
    if store.table_exists("users", db) and segment in dict(store.table_columns("users", db)):
        values_of = store.read_table("users", ["user_id", segment], db=db).astype({"user_id": str})
        return result.merge(values_of.drop_duplicates("user_id"), on="user_id", how="left")
    raise BadInputError(
        f"No column {segment!r} in the outcomes file, the export file or the users table; "
        f"name one of them with --segment."
    )
