"""The retraining panel of the Train page: the schedule (what is due and why), the last runs and
their verdicts, and a button that runs one retrain now with a progress bar."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from personalization.deploy import retrain, schedule
from personalization.errors import PersonalizationError

CRON = (
    "# every hour: retrain what is due (events grew by 20% or 7 days passed)\n"
    "0 * * * *  cd /path/to/project && python -m personalization scheduler --once "
    "--growth 0.2 --days 7 >> retrain.log 2>&1"
)


def show() -> None:
    """The schedule, the last runs and a retrain-now button."""
    st.subheader("Retraining")
    st.caption(
        "A challenger is trained on the current data with the champion's settings, both are "
        "measured on the same recent hold-out, and the challenger replaces the champion only "
        "when it is better by the margin (or the champion's data is gone)."
    )
    left, middle, right = st.columns(3)
    growth = left.slider("Retrain when the data grew by", 0.05, 1.0, 0.2, 0.05, format="%.2f")
    days = middle.number_input("…or every N days", 1.0, 365.0, 7.0, 1.0)
    margin = right.number_input("Margin", 0.0, 0.5, 0.01, 0.005, format="%.3f")
    try:
        state = schedule.overview(growth, days, db=ui.db_path())
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    plan = pd.DataFrame(state["schedule"])
    st.dataframe(plan, hide_index=True, width="stretch")
    kind = st.selectbox("Kind", retrain.KINDS, key="retrain_kind")
    if st.button("Retrain now", key="retrain_now", type="primary"):
        move = ui.progress_bar(text="Measuring the champion and a challenger…")
        try:
            result = retrain.retrain(
                kind, margin, trigger="dashboard", db=ui.db_path(), progress=move
            )
        except PersonalizationError as exc:
            ui.show_error(exc)
        else:
            ui.refresh()
            (st.success if result["promoted"] else st.info)(result["why"])
            state = schedule.overview(growth, days, db=ui.db_path())
    st.markdown("**Last runs**")
    if state["runs"]:
        st.dataframe(pd.DataFrame(state["runs"]), hide_index=True, width="stretch")
    else:
        st.info("No retrain has run yet.")
    with st.expander("Run it on a schedule"):
        st.code(CRON, language="bash")
        st.caption("Or keep `python -m personalization scheduler` running (Ctrl-C stops it).")
