"""Home: what is loaded, the key figures, and what to do next."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from personalization.charts import data as charts
from personalization.errors import PersonalizationError

ui.header(
    "Personalization Workbench",
    "Turn your shop's clicks and purchases into product recommendations and conversion scores. "
    "This page shows what data is loaded and what to do next.",
)

if ui.is_sample() and st.session_state.get("sample_banner"):
    with st.container(border=True):
        st.success(
            "This is the bundled **sample shop** (a fictional store with 90 days of activity), with "
            "a recommender and a conversion model trained on it, so you can try everything right "
            "away. It lives in a database of its own: to use your own data, open the **Data** "
            "page and upload a file; it goes into **My data** (switch in the sidebar), and the "
            "sample stays as it is.",
            icon=":material/storefront:",
        )
        if st.button("Got it, hide this", key="hide_banner"):
            st.session_state["sample_banner"] = False
            st.rerun()

try:
    facts = ui.overview()
    ready = ui.readiness()
except PersonalizationError as exc:
    ui.show_error(exc)
    st.stop()

if not facts.get("tables"):
    ui.empty_state(
        "No data is loaded yet. Upload a file of events (who did what, on which product, when) to begin.",
        "pages/data.py",
        "Go to Data to upload a file",
    )

date_range = facts.get("date_range") or (None, None)
st.subheader("Key figures")
cards = st.columns(3)
cards[0].metric("Events", ui.fmt_int(facts.get("n_events")), help=ui.METRIC_HELP["events"])
cards[1].metric("Customers", ui.fmt_int(facts.get("n_users")), help=ui.METRIC_HELP["users"])
cards[2].metric("Products", ui.fmt_int(facts.get("n_items")), help=ui.METRIC_HELP["items"])
cards = st.columns(3)
with cards[0]:
    first_day, last_day = date_range
    days = None
    if first_day is not None:
        days = (pd.Timestamp(last_day).normalize() - pd.Timestamp(first_day).normalize()).days + 1
    st.metric(
        "Period covered",
        f"{ui.fmt_int(days)} days" if days else "–",
        help="From the first to the last day with a recorded event.",
    )
    st.caption(f"{ui.fmt_date(first_day)} → {ui.fmt_date(last_day)}")
cards[1].metric(
    "Models trained",
    ui.fmt_int(facts.get("n_models", 0)),
    help="Recommenders and conversion models saved so far, on the Train page.",
)
cards[2].metric(
    "Models in use",
    ui.fmt_int(sum(m["status"] == "promoted" for m in ui.models())),
    help="Promoted models: the ones the Recommendations, Export, Explain and Lift pages use.",
)

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Activity per day")
    per_day = None
    if "events" in {t["name"] for t in ui.tables()}:
        per_day = ui.profile("events").get("events_per_day")
    st.plotly_chart(charts.events_per_day(per_day), width="stretch")

with right:
    st.subheader("Loaded tables")
    loaded = pd.DataFrame(ui.loaded_tables())
    st.dataframe(
        loaded[["name", "kind", "rows"]],
        hide_index=True,
        width="stretch",
        column_config={
            "name": st.column_config.TextColumn("Table"),
            "kind": st.column_config.TextColumn("Kind"),
            "rows": st.column_config.NumberColumn("Rows", format="localized"),
        },
    )

st.subheader("Ready to go?")
st.caption("Each check says what is there and, when something is missing, what to do about it.")
goals = st.columns(2, gap="large")
for column, (prefix, title, ok) in zip(
    goals,
    (
        ("recommender", "To recommend products", ready.get("can_recommend")),
        ("classifier", "To predict who converts", ready.get("can_classify")),
    ),
    strict=True,
):
    with column, st.container(border=True):
        mark = ":green[:material/check_circle:]" if ok else ":orange[:material/pending:]"
        st.markdown(f"{mark} **{title}**: {'ready' if ok else 'not yet'}")
        for check in ready.get("checks", []):
            kind, _, name = check["check"].partition(": ")
            if kind != prefix:
                continue
            icon = ":green[:material/check:]" if check["ok"] else ":orange[:material/close:]"
            st.markdown(f"{icon} {name.replace('_', ' ').capitalize()}: {check['message']}")

st.subheader("Next steps")
STEPS = [
    (
        "pages/data.py",
        "Load or inspect data",
        ":material/database:",
        "Upload your own files or check quality.",
        True,
    ),
    (
        "pages/train.py",
        "Train a model",
        ":material/model_training:",
        "Teach a recommender or a conversion model.",
        bool(ready.get("can_recommend") or ready.get("can_classify")),
    ),
    (
        "pages/recommendations.py",
        "See recommendations",
        ":material/recommend:",
        "What each customer would be shown.",
        bool(ui.models("recommender")),
    ),
    (
        "pages/export.py",
        "Export lists",
        ":material/download:",
        "Download lists for your email or ad tool.",
        bool(ui.models("recommender")),
    ),
]
available = [step for step in STEPS if step[4]]
for column, (path, label, icon, hint, _) in zip(st.columns(len(STEPS)), available, strict=False):
    with column, st.container(border=True):
        ui.link(path, label, icon)
        st.caption(hint)
