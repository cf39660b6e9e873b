"""What both tabs of the Train page share: the train button, metric cards against a baseline, the
live table of tuning trials, and the earlier runs of a kind (a table, a comparison, promotion)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

import ui
from personalization import registry
from personalization.charts import models as charts
from personalization.errors import PersonalizationError
from personalization.values import is_number

CARDS = {
    "recommender": ("ndcg", "precision", "recall", "hit_rate", "coverage"),
    "classifier": ("roc_auc", "pr_auc", "precision", "recall", "f1"),
}
COMPARED = (*CARDS["recommender"], *CARDS["classifier"], "map")
NEUTRAL_DELTAS = ("recall",)
SEARCHES = {
    "none": "Off: train once with the settings above.",
    "random": "Random: try random settings.",
    "grid": "Grid: try a fixed grid of settings.",
    "bayes": "Bayesian: learns from earlier trials which settings look promising (recommended).",
}


def search_inputs(prefix: str, options: tuple[str, ...]) -> tuple[str, int]:
    """The automatic tuning choice and its number of trials."""
    left, right = st.columns(2)
    search = left.selectbox(
        "Automatic tuning",
        options,
        format_func=lambda s: SEARCHES[s].split(":")[0],
        key=f"{prefix}_search",
        help="\n\n".join(
            f"**{SEARCHES[s].split(':')[0]}**:{SEARCHES[s].split(':', 1)[1]}" for s in options
        ),
    )
    trials = right.slider(
        "Trials",
        5,
        50,
        10,
        key=f"{prefix}_trials",
        disabled=search in ("none", "grid"),
        help="How many settings random or Bayesian tuning tries (a grid tries all of its own). "
        "More trials take longer but may find a better model.",
    )
    return search, trials


def trial_recorder(status: Any, score: str, name: str) -> Callable[[dict], None]:
    """An ``on_trial`` callback that appends each finished trial to a live chart and table in
    ``status``; ``score`` is the trial's score key, ``name`` how the score is shown."""
    rows: list[dict] = []
    chart = status.empty()
    table = status.empty()

    def record(trial: dict) -> None:
        params = ", ".join(f"{k}={_short(v)}" for k, v in (trial.get("params") or {}).items())
        rows.append({"trial": len(rows) + 1, name: trial.get(score), "settings": params})
        frame = pd.DataFrame(rows)
        label = f"{name} on validation (higher is better)"
        figure = charts.trials_figure(frame, value=name, label=label)
        chart.plotly_chart(figure, width="stretch", key=f"trials_{len(rows)}")
        table.dataframe(frame, hide_index=True, width="stretch")

    return record


def train_and_show(
    label: str,
    kind: str,
    run: Callable[[dict], dict],
    show: Callable[[dict], None],
    settings: dict,
    disabled: bool = False,
) -> None:
    """The train button of one tab: run it, keep the result for later reruns, show the latest."""
    if st.button(label, type="primary", key=f"train_{kind}", disabled=disabled):
        try:
            st.session_state[f"{kind}_result"] = run(settings)
        except PersonalizationError as exc:
            ui.show_error(exc)
        ui.refresh()
    if f"{kind}_result" in st.session_state:
        show(st.session_state[f"{kind}_result"])


def standing(result: dict) -> str:
    """Whether the new run is the one every page uses, or how to make it so."""
    why = result.get("why") or ""
    why = f" ({why})" if why else ""
    if result.get("status") == "promoted":
        return f"It is now the model in use on every page{why}."
    return (
        f"The earlier model stays in use{why}; pick this run under *Model to use everywhere* "
        "below to switch." + (f" {result['note']}." if "scores" in result.get("note", "") else "")
    )


def metric_cards(
    metrics: dict, baseline: dict, names: tuple[str, ...], baseline_label: str
) -> None:
    """One ``st.metric`` per metric, with the difference to the baseline as the delta."""
    keys = [k for n in names for k in metrics if k.split("@")[0] == n]
    if not keys:
        return
    for col, key in zip(st.columns(len(keys)), keys, strict=False):
        value, base = metrics.get(key), baseline.get(key)
        numbers = is_number(value) and is_number(base)
        delta = f"{value - base:+.3f} vs {baseline_label}" if numbers else None
        col.metric(
            ui.metric_label(key),
            ui.fmt_num(value),
            delta=delta,
            delta_color="off" if key in NEUTRAL_DELTAS else "normal",
            help=ui.metric_help(key),
        )


def explain_metrics(keys: list[str]) -> None:
    """An expander with the plain explanation of each metric in ``keys``."""
    with st.expander("What do these numbers mean?"):
        for key in keys:
            text = ui.metric_help(key)
            if text:
                st.markdown(f"**{ui.metric_label(key)}**: {text}")


def earlier_runs(kind: str) -> None:
    """The catalog of this kind: a table, a side-by-side comparison, and promotion with one click."""
    st.subheader("Earlier runs")
    runs = ui.models(kind)
    if not runs:
        st.caption("No runs yet: the first model you train is saved and promoted automatically.")
        return
    table = registry.runs_table(runs, db=ui.db_path())
    st.dataframe(table.rename(columns=_metric_columns(table)), hide_index=True, width="stretch")
    ids = [r["model_id"] for r in runs]
    by_id = {r["model_id"]: r for r in runs}
    left, right = st.columns([3, 2])
    alike = [m for m in ids if by_id[m].get("data_fingerprint") == runs[0].get("data_fingerprint")]
    chosen = left.multiselect(
        "Compare runs",
        ids,
        default=alike[:2],
        key=f"compare_{kind}_{len(ids)}",
        format_func=lambda m: run_name(by_id[m]),
        help="Pick two or more runs to see their metrics side by side.",
    )
    promoted = next((r["model_id"] for r in runs if r["status"] == "promoted"), ids[0])
    target = right.selectbox(
        "Model to use everywhere",
        ids,
        index=ids.index(promoted),
        key=f"promote_{kind}",
        format_func=lambda m: run_name(by_id[m]),
        help="The promoted model is the default on the other pages and in the command line.",
    )
    promote = right.button(
        "Promote", key=f"promote_btn_{kind}", disabled=target == promoted, type="primary"
    )
    if promote:
        registry.promote(target, db=ui.db_path())
        ui.refresh()
        st.toast(f"{target} is now the promoted {kind}.")
        st.rerun()
    fingerprints = {by_id[m].get("data_fingerprint") for m in chosen}
    if len(chosen) >= 2 and len(fingerprints) > 1:
        st.info(
            "These runs were trained on different data, so their scores cannot be compared; "
            "pick runs trained on the same data (the *data* column says which are current).",
            icon=":material/compare_arrows:",
        )
    elif len(chosen) >= 2:
        compare_runs([by_id[m] for m in chosen])
    elif chosen:
        st.caption("Pick a second run to compare.")


def compare_runs(runs: list[dict]) -> None:
    """Grouped bars of the headline metrics that every run in ``runs`` has."""
    metrics = {
        run_name(info): {
            ui.metric_label(k): v
            for k, v in registry.headline_metrics(info).items()
            if k.split("@")[0] in COMPARED
        }
        for info in runs
    }
    first = next(iter(metrics.values()))
    shared = [k for k in first if all(k in v for v in metrics.values())]
    figure = charts.metric_comparison(metrics, shared, title="Runs side by side")
    st.plotly_chart(figure, width="stretch")


def run_name(info: dict) -> str:
    """A run as people read it, with the end of its id so that two runs of one minute differ."""
    return f"{ui.model_label(info)} ({info['model_id'][-4:]})"


def _metric_columns(table: pd.DataFrame) -> dict[str, str]:
    return {c: ui.metric_label(c) for c in table.columns if c not in registry.RUN_COLUMNS}


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
