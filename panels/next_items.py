"""The Recommendations page's "Next in a session" tab: a few products typed or picked as a
visitor's session, the model's next products with a reason each, and whether the data holds
sequences a sequence model can learn from."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

import ui
from personalization.errors import PersonalizationError
from personalization.recommendation import next_items, sequences
from personalization.recommendation.models import SEQUENCE_ALGORITHMS

PICKABLE = 100


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner=False)
def readiness(db: str, version: str) -> dict:
    return sequences.sequence_readiness(db=db)


def show_readiness() -> None:
    """Three figures and a sentence: are there sessions, how long, ordered in time."""
    try:
        found = readiness(ui.db_path(), ui.data_version())
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    with st.expander("Does the data hold browsing sequences?", expanded=not found["ready"]):
        one, two, three = st.columns(3)
        one.metric(
            "Sessions with 2+ events",
            ui.fmt_pct(found["share_sessions_2plus"]),
            help="A session ends after 30 minutes without an event (or where session_id changes).",
        )
        two.metric("Median session length", ui.fmt_num(found["median_session_events"], 1))
        three.metric(
            "Steps ordered in time",
            ui.fmt_pct(found["ordered_share"]),
            help="Of two events in a row in one session, how often the second has a later time.",
        )
        (st.success if found["ready"] else st.warning)(found["why"])


def session_ids(typed: str, picked: list[str]) -> list[str]:
    """Typed ids (commas, spaces or new lines between them) then picked ones, oldest first."""
    return [t for t in re.split(r"[,\s]+", typed.strip()) if t] + list(picked)


def show(model: dict, k: int) -> None:
    """The tab: ``model`` is the catalog row chosen on the page, ``k`` the list length."""
    st.caption(
        "What a visitor is likely to want next, from the products they clicked in this "
        "session, in order. Type product ids or pick a few popular ones."
    )
    show_readiness()
    if model["algo"] not in SEQUENCE_ALGORITHMS:
        st.info(
            f"This model ({model['algo']}) sees a visitor's products as a bag, not in order. For "
            "what comes next in a session, train one with the algorithm “sequence” on the Train "
            "page; until then this model answers from the session's products.",
            icon=":material/info:",
        )
    try:
        art, _ = ui.load_model(model["model_id"])
        popular = next_items.popular_items(art, PICKABLE)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    labels = dict(zip(popular["item_id"], popular["title"], strict=True))
    customer = st.text_input(
        "Start from a customer's latest session (customer id, optional)",
        key="session_customer",
        disabled=model["algo"] not in SEQUENCE_ALGORITHMS,
        help="A customer id: their latest session (clicks without a 30-minute pause) starts the "
        "list. Needs a sequence model, which keeps each customer's order of clicks.",
    ).strip()
    earlier = next_items.latest_session(art, customer) if customer else []
    if customer and not earlier:
        st.warning(f"The model has no session of customer {customer!r}.")
    typed = st.text_input(
        "Product ids of the session, oldest first",
        key="session_typed",
        placeholder="e.g. " + ", ".join(list(labels)[:2]),
    )
    picked = st.multiselect(
        "…or pick products (in the order clicked)",
        list(labels),
        key="session_picked",
        format_func=lambda i: f"{labels[i]} ({i})" if labels[i] != i else i,
    )
    session = earlier + session_ids(typed, picked)
    if not session:
        st.info("Type or pick at least one product to see what comes next.", icon=":material/info:")
        return
    filter_seen = st.toggle("Hide the session's own products", value=False, key="session_seen")
    try:
        found = next_items.next_items(art, session, k, filter_seen)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    if found.attrs.get("unknown"):
        st.warning(
            f"Not in the model's catalogue, left out: {', '.join(found.attrs['unknown'][:10])}"
        )
    if found.empty:
        st.info("The model has nothing to suggest after this session.", icon=":material/info:")
        return
    st.markdown(f"**Next {len(found)} after {len(session)} clicks**")
    table(found)


def table(frame: pd.DataFrame) -> None:
    shown = [c for c in ("rank", "item_id", "title", "category", "score", "reason") if c in frame]
    st.dataframe(
        frame[shown],
        hide_index=True,
        width="stretch",
        column_config={
            "rank": st.column_config.NumberColumn("#", format="%d", width="small"),
            "item_id": "Product id",
            "title": st.column_config.TextColumn("Product", width="medium"),
            "category": "Category",
            "score": st.column_config.NumberColumn("Score", format="%.3f"),
            "reason": st.column_config.TextColumn("Why", width="large"),
        },
    )
