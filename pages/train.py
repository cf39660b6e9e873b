"""Train: fit a recommender or a conversion model, see how it beats the baseline, compare and
promote runs, and keep the models fresh (retrain now, the schedule, the last retrains). Each
tab's widgets live in ``panels``; training is one library call per tab."""

from __future__ import annotations

import streamlit as st

import ui
from panels import retraining, train_classifier, train_recommender


def table_names(kind: str | None = None) -> list[str]:
    """User tables, or those loaded as ``kind`` (a table named like the kind counts too)."""
    return [t["name"] for t in ui.tables() if kind is None or kind in (t["kind"], t["name"])]


def recommender_tab() -> None:
    events = table_names("events")
    if not events:
        st.info("There are no customer actions (events) to learn from yet.", icon=":material/info:")
        ui.link("pages/data.py", "Load events on the Data page", ":material/arrow_forward:")
        return
    train_recommender.recommender_tab(events)


def classifier_tab() -> None:
    train_classifier.build_features_button()
    tables = [t for t in table_names() if t not in ("events", "items")]
    if not tables:
        st.info(
            "There is no customer table yet: upload one on the Data page or build one from "
            "events above.",
            icon=":material/info:",
        )
        ui.link(
            "pages/data.py", "Load a customer table on the Data page", ":material/arrow_forward:"
        )
        return
    train_classifier.classifier_tab(tables)


ui.header(
    "Train",
    "Teach the workbench your customers: a recommender suggests products to each customer; "
    "a conversion model scores how likely each customer is to buy. Every run is saved; the "
    "promoted one is used on the other pages.",
)
rec_tab, clf_tab, retrain_tab = st.tabs(["Recommender", "Conversion model", "Retraining"])
with rec_tab:
    recommender_tab()
with clf_tab:
    classifier_tab()
with retrain_tab:
    retraining.show()
