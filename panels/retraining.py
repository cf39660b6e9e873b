"""The retraining panel of the Train page: the schedule (set it, see what is due and why), the last
runs and their verdicts, and a button that runs one retrain now with a progress bar.
``retrain_now`` is the same button for other pages (the Monitor page's, under an alert)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from personalization.deploy import retrain, schedule
from personalization.errors import PersonalizationError

CRON = (
    "# every hour: retrain what is due (the schedule saved above)\n"
    "0 * * * *  cd /path/to/project && python -m personalization scheduler --once "
    ">> retrain.log 2>&1"
)
KIND_LABELS = {"recommender": "Recommender", "classifier": "Conversion model"}


def retrain_now(
    kind: str, key: str, trigger: str, margin: float | None = None, label: str = ""
) -> dict | None:
    """A button that retrains ``kind`` now (by ``margin``; None: the saved schedule's) with a
    progress bar and says the verdict: green when the challenger was promoted, blue when the
    champion stays (and why). The run, or None."""
    text = label or f"Retrain the {KIND_LABELS[kind].lower()} now"
    if not st.button(text, key=key, type="primary", icon=":material/autorenew:"):
        return None
    move = ui.progress_bar(text="Measuring the champion and a challenger on the same hold-out…")
    try:
        if margin is None:
            margin = schedule.settings(db=ui.db_path())["margin"]
        result = retrain.retrain(kind, margin, trigger=trigger, db=ui.db_path(), progress=move)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return None
    ui.refresh()
    (st.success if result["promoted"] else st.info)(result["why"])
    return result


def schedule_inputs(saved: dict) -> tuple[float, float, float]:
    left, middle, right = st.columns(3)
    growth = left.slider(
        "Retrain when the data grew by",
        0.05,
        1.0,
        float(saved["growth"]),
        0.05,
        format="%.2f",
        key="schedule_growth",
        help="The share of rows added to the model's table since the last retrain.",
    )
    days = middle.number_input(
        "…or every N days",
        1.0,
        365.0,
        float(saved["days"]),
        1.0,
        key="schedule_days",
        help="Retrain at least this often, even when little data was added.",
    )
    margin = right.number_input(
        "Margin",
        0.0,
        0.5,
        float(saved["margin"]),
        0.005,
        format="%.3f",
        key="schedule_margin",
        help="How much better (NDCG@10 or ROC-AUC, absolute) a challenger must be to replace "
        "the model in use.",
    )
    return growth, days, margin


def show() -> None:
    """The schedule (set and seen), the last runs and a retrain-now button."""
    st.subheader("Retraining")
    st.caption(
        "A challenger is trained on the current data with the champion's settings, both are "
        "measured on the same recent hold-out, and the challenger replaces the champion only "
        "when it is better by the margin (or the champion's data was replaced). A model on hold "
        "is never replaced by a retrain."
    )
    db = ui.db_path()
    try:
        saved = schedule.settings(db=db)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    growth, days, margin = schedule_inputs(saved)
    if st.button("Save the schedule", key="schedule_save", icon=":material/save:"):
        try:
            saved = schedule.save_settings(growth, days, margin, db=db)
        except PersonalizationError as exc:
            ui.show_error(exc)
        else:
            st.success(
                f"Saved: retrain when the data grew by {saved['growth']:.0%} or every "
                f"{saved['days']:g} days, promoting only by a margin of {saved['margin']:g}."
            )
    st.caption(
        "The scheduler uses the saved schedule"
        + (f" (saved {saved['saved']:%Y-%m-%d %H:%M})." if saved["saved"] else ": the defaults.")
    )
    kind = st.selectbox(
        "Retrain",
        retrain.KINDS,
        format_func=KIND_LABELS.get,
        key="retrain_kind",
        help="Which model in use to retrain on the data now loaded; the new one replaces it "
        "only when it is better by the margin.",
    )
    retrain_now(kind, key="retrain_now", trigger="dashboard", margin=margin)
    try:
        state = schedule.overview(growth, days, db=db)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    st.markdown("**What is due**")
    st.dataframe(pd.DataFrame(state["schedule"]), hide_index=True, width="stretch")
    st.markdown("**Last runs**")
    if state["runs"]:
        st.dataframe(pd.DataFrame(state["runs"]), hide_index=True, width="stretch")
    else:
        st.info("No retrain has run yet.")
    with st.expander("Run it on a schedule"):
        st.code(CRON, language="bash")
        st.caption("Or keep `python -m personalization scheduler` running (Ctrl-C stops it).")
