"""The Data page's load report: counts as cards, attributes given, rejects by reason with the fix,
then the rejected lines."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from personalization.data import ingest

TEXT = st.column_config.TextColumn


def show(report: dict) -> None:
    """The ingest report: counts as cards, attributes, rejects by reason, then the lines."""
    st.success(f"Loaded into table **{report['table']}**.", icon=":material/task_alt:")
    cards = st.columns(4)
    for card, key, label in zip(
        cards,
        ("rows_read", "rows_loaded", "rows_rejected", "duplicates_dropped"),
        ("Rows read", "Rows loaded", "Rows rejected", "Duplicates dropped"),
        strict=True,
    ):
        card.metric(label, ui.fmt_int(report.get(key, 0)), help=ui.METRIC_HELP[key])
    if ingest.describe_attributes(report):
        st.info(ingest.describe_attributes(report), icon=":material/label:")
    if report.get("reject_summary"):
        st.markdown("**What was left out or flagged, and what to do**")
        rows = st.column_config.NumberColumn("Rows", format="localized")
        config = {"reason": "Reason", "rows": rows, "fix": TEXT("What to do", width="large")}
        st.dataframe(pd.DataFrame(report["reject_summary"]), hide_index=True, column_config=config)
    if report.get("rejects"):
        with st.expander("Rejected lines (the first ones; the table above counts them all)"):
            line = st.column_config.NumberColumn("Line in file", format="%d")
            why = TEXT("Why it was left out", width="large")
            config = {"line": line, "reason": why}
            st.dataframe(pd.DataFrame(report["rejects"]), hide_index=True, column_config=config)
    for note in report.get("notes") or []:
        st.caption(note)
