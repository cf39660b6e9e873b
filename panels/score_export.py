"""Export conversion scores: every customer of a table scored by a conversion model, with the
model's decision, as CSV or Parquet, and how the scores spread beside the threshold."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from personalization import export
from personalization.charts import propensity as charts
from personalization.errors import PersonalizationError
from personalization.propensity import scoring

FORMATS = {"CSV (opens in Excel)": ".csv", "Parquet (for data tools)": ".parquet"}
MIME = {".csv": "text/csv", ".parquet": "application/octet-stream"}
PREVIEW_ROWS = 10


def render(tables: set[str]) -> None:
    """The conversion-scores export: model, table, format, a button, then the chart, a preview
    and the download."""
    model = ui.pick_model(
        "classifier",
        "No conversion model has been trained yet.",
        key="score_export_model",
        help="The model in use (promoted on the Train page) is chosen first.",
    )
    trained_on = (model.get("details") or {}).get("data_table")
    names = sorted(tables)
    left, right = st.columns(2)
    table = left.selectbox(
        "Customers to score",
        names,
        index=names.index(trained_on) if trained_on in names else 0,
        key="score_export_table",
        help="A table with the columns the model was trained on; by default the one it learned from.",
    )
    suffix = FORMATS[right.radio("Format", list(FORMATS), key="score_export_format")]
    settings = (model["model_id"], table, suffix, ui.data_version())
    if st.button("Score and prepare the file", type="primary", icon=":material/build:"):
        slot = st.empty()
        try:
            scores = scoring.score_customers(
                model["model_id"],
                table,
                db=ui.db_path(),
                progress=ui.progress_bar(slot, "Scoring customers…"),
            )
            st.session_state["score_export"] = (settings, scores, file_bytes(scores, suffix))
        except PersonalizationError as exc:
            ui.show_error(exc)
        slot.empty()
    ready = st.session_state.get("score_export")
    if not ready or ready[0] != settings:
        return
    scores = ready[1]
    if scores.empty:
        st.warning(f"{table} has no rows to score.", icon=":material/block:")
        return
    test = (model.get("metrics") or {}).get("test") or {}
    threshold = float(test.get("threshold", 0.5))
    contacts = int(scores["decision"].sum())
    st.success(
        f"{ui.fmt_int(len(scores))} customers scored; {ui.fmt_int(contacts)} "
        f"({ui.fmt_pct(contacts / len(scores))}) are at or above the model's threshold.",
        icon=":material/task_alt:",
    )
    st.plotly_chart(charts.score_histogram(scores["score"], threshold), width="stretch")
    caption = f"The {PREVIEW_ROWS} highest scores (the file holds every customer, highest first)"
    if "row" in scores.columns:
        caption += f"; {table} has no customer id column, so customers are named by row (0 = first)"
    st.caption(caption + ":")
    st.dataframe(scores.head(PREVIEW_ROWS), hide_index=True, width="stretch")
    st.download_button(
        "Download",
        data=ready[2],
        file_name=f"conversion-scores-{table}{suffix}",
        mime=MIME[suffix],
        icon=":material/download:",
        type="primary",
        key="download_scores",
    )


def file_bytes(scores: pd.DataFrame, suffix: str) -> bytes:
    """The scores as a file's bytes (formula-safe CSV or Parquet), written by the library once,
    when the button is pressed (not on every rerun of the page)."""
    with tempfile.TemporaryDirectory(prefix="personalization-scores-") as folder:
        path = export.write_table(scores, Path(folder) / f"scores{suffix}")
        return path.read_bytes()
