"""Recommendations: what the model suggests for a customer, a brand-new visitor, or a segment."""

from __future__ import annotations

from contextlib import nullcontext

import pandas as pd
import streamlit as st

import ui
from panels import customer_search
from panels import next_items as next_panel
from personalization import store
from personalization.charts import recommender as charts
from personalization.errors import PersonalizationError
from personalization.recommendation import reasons, serving

MAX_FILTERS = 4
SPINNERS = {
    "recommend_for_user": "Finding recommendations…",
    "recommend_for_new_user": "Finding recommendations…",
    "segment_top_items": "Ranking products for the segment…",
    "similar_items": "Finding similar products…",
}


def ask(call: str, *args, **kwargs) -> pd.DataFrame:
    """``serving.<call>(*args, **kwargs)`` on this session's database, cached per data version."""
    with st.spinner(SPINNERS[call]) if call in SPINNERS else nullcontext():
        return cached(call, args, tuple(sorted(kwargs.items())), ui.db_path(), ui.data_version())


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner=False)
def cached(call: str, args: tuple, kwargs: tuple, db: str, version: str) -> pd.DataFrame:
    return getattr(serving, call)(*args, db=db, **dict(kwargs))


def pretty(value: str) -> str:
    """An attribute value as people write it: ``bargain_hunter`` -> ``bargain hunter``."""
    return str(value).replace("_", " ")


def item_table(frame: pd.DataFrame, score: str = "Score", score_help: str = "") -> None:
    """A clean table of items: rank, title, category, score as a bar, reason."""
    shown = ("rank", "item_id", "title", "category", "price", "score", "reason")
    top = float(frame["score"].max()) if "score" in frame and len(frame) else 1.0
    config = {
        "rank": st.column_config.NumberColumn("#", format="%d", width="small"),
        "item_id": st.column_config.TextColumn("Product id"),
        "title": st.column_config.TextColumn("Product", width="medium"),
        "category": st.column_config.TextColumn("Category", width="small"),
        "price": st.column_config.NumberColumn("Price", format="%.2f"),
        "score": st.column_config.ProgressColumn(
            score,
            help=score_help or ui.METRIC_HELP["score"],
            format="%.3f",
            min_value=0.0,
            max_value=max(top, 1e-9),
        ),
        "reason": st.column_config.TextColumn("Why", width="large"),
    }
    columns = [c for c in shown if c in frame]
    st.dataframe(frame[columns], hide_index=True, width="stretch", column_config=config)


def record_feedback(user_id: str, item_id: str, model_id: str, thumbs: int, label: str) -> None:
    try:
        store.add_feedback(user_id, item_id, model_id, thumbs, db=ui.db_path())
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    st.session_state.setdefault("rated", {})[(user_id, item_id, model_id)] = thumbs
    word = "up" if thumbs > 0 else "down"
    st.toast(f"Thanks! Thumbs {word} for “{label}” saved.", icon=f":material/thumb_{word}:")


def recommendation_rows(recs: pd.DataFrame, user_id: str, model_id: str) -> None:
    """One row per recommendation with its score bar, reason and thumbs up/down buttons."""
    top = float(recs["score"].max()) or 1.0
    rated = st.session_state.get("rated", {})
    labels = serving.item_labels(recs)
    for (_, row), label in zip(recs.iterrows(), labels, strict=True):
        item_id = str(row["item_id"])
        with st.container(border=True):
            rank, what, score, why, thumbs = st.columns(
                [0.6, 3.2, 1.6, 3.6, 1.2], vertical_alignment="center"
            )
            rank.markdown(f"**#{int(row['rank'])}**")
            category = row.get("category")
            category = f" · {category}" if isinstance(category, str) and category else ""
            detail = f"{item_id if label != item_id else ''}{category}".removeprefix(" · ")
            what.markdown(f"**{label}**" + (f"  \n:gray[{detail}]" if detail else ""))
            score.progress(
                max(min(float(row["score"]) / top, 1.0), 0.0), text=f"score {row['score']:.3f}"
            )
            why.caption(str(row.get("reason") or ""))
            given = rated.get((user_id, item_id, model_id))
            for column, (word, thumb, tip) in zip(
                thumbs.columns(2), (("up", 1, "Good"), ("down", -1, "Poor")), strict=True
            ):
                column.button(
                    "",
                    icon=f":material/thumb_{word}:",
                    key=f"{word}_{user_id}_{item_id}_{model_id}",
                    help=f"{tip} suggestion",
                    type="primary" if given == thumb else "secondary",
                    on_click=record_feedback,
                    args=(user_id, item_id, model_id, thumb, label),
                )


def show_history(past: pd.DataFrame) -> None:
    """The latest events as people read them: when, what they did, which product."""
    words = past["event_type"].map(lambda t: reasons.EVENT_VERBS.get(t, pretty(t)))
    shown = past.assign(event_type=words)
    order = ("timestamp", "event_type", "title", "category", "value", "item_id")
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_order=[c for c in order if c in shown],
        column_config={
            "timestamp": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"),
            "event_type": "What they did",
            "title": st.column_config.TextColumn("Product", width="large"),
            "category": "Category",
            "value": st.column_config.NumberColumn(
                "Value", format="%.2f", help="Rating or amount, if any."
            ),
            "item_id": "Product id",
        },
    )
    st.caption(
        "Suggestions come from the activity the model was trained on; activity loaded since then "
        "counts after the next training on the Train page."
    )


def attribute_boxes(attributes: dict[str, list[str]], blank: str, prefix: str) -> dict[str, str]:
    """One select box per attribute (the first ``MAX_FILTERS``); the values chosen, ``blank``
    (nothing chosen) left out."""
    chosen = {}
    boxes = st.columns(max(min(len(attributes), MAX_FILTERS), 1))
    for box, (column, values) in zip(boxes, list(attributes.items())[:MAX_FILTERS], strict=False):
        chosen[column] = box.selectbox(
            pretty(column).capitalize(),
            [blank, *values],
            key=f"{prefix}_{column}",
            format_func=pretty,
        )
    return {column: value for column, value in chosen.items() if value != blank}


def customer_tab(model_id: str, k: int, attributes: dict) -> None:
    user_id = customer_search.pick_user(attributes, attribute_boxes)
    if not user_id:
        st.info(
            "Choose or type a customer id to see their recommendations.", icon=":material/info:"
        )
        return
    filter_seen = st.toggle(
        "Hide products they already interacted with",
        value=True,
        help="Usually on: suggest something new rather than what they already know.",
    )
    rules = serving.ListRules(filter_seen=filter_seen)
    try:
        past = ask("user_history", user_id, limit=20)
        recs = ask("recommend_for_user", user_id, k=k, model_id=model_id, rules=rules)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    with st.expander(f"Recent activity of {user_id} ({len(past)} latest events)", expanded=False):
        if past.empty:
            st.caption(
                "No recorded activity: the suggestions are the favourites of similar customers."
            )
        else:
            show_history(past)
    st.markdown(
        f"**Top {k} for {user_id}** — rate each suggestion with the thumbs; it is saved with the model."
    )
    if recs.empty:
        st.info("The model has nothing new to suggest for this customer.", icon=":material/info:")
        return
    if recs.attrs.get("note"):
        st.caption(recs.attrs["note"])
    recommendation_rows(recs, user_id, model_id)
    st.subheader("Products similar to a suggestion")
    labels = dict(zip(recs["item_id"].astype(str), serving.item_labels(recs), strict=True))
    item_id = st.selectbox("Suggestion", list(labels), format_func=lambda i: labels[i])
    try:
        alike = ask("similar_items", item_id, k=k, model_id=model_id)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    item_table(
        alike, "Similarity", "How alike the two products are for this model (higher = more alike)."
    )


def new_customer_tab(model_id: str, k: int, attributes: dict) -> None:
    st.caption(
        "A visitor with no history yet: choose what you know about them and see what the model "
        "would show first."
    )
    if not attributes:
        st.info(
            "Load a users table with attributes (device, location, segment) on the Data page to "
            "describe a new visitor; without one, new visitors get the best-sellers.",
            icon=":material/info:",
        )
    chosen = attribute_boxes(attributes, "Unknown", "new")
    try:
        recs = ask("recommend_for_new_user", chosen, k=k, model_id=model_id)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    item_table(recs)
    if not recs.empty:
        labelled = recs.assign(label=serving.item_labels(recs))
        st.plotly_chart(charts.recommendation_scores(labelled, label="label"), width="stretch")


def segment_tab(model_id: str, k: int, attributes: dict) -> None:
    st.caption("The products the model ranks highest across everyone in a group of customers.")
    if not attributes:
        st.info(
            "Segments come from the users table; load one on the Data page.", icon=":material/info:"
        )
        ui.link("pages/data.py", "Go to Data", ":material/database:")
        return
    left, right = st.columns(2)
    default = list(attributes).index("segment") if "segment" in attributes else 0
    column = left.selectbox(
        "Group customers by", list(attributes), index=default, key="segment_column"
    )
    value = right.selectbox("Group", attributes[column], key="segment_value", format_func=pretty)
    try:
        recs = ask("segment_top_items", column, value, k=k, model_id=model_id)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    item_table(recs)


ui.header(
    "Recommendations",
    "See what a model suggests to one customer, to a brand-new visitor, to a whole segment, or "
    "after a visitor's clicks in a session, and tell it which suggestions are good with a thumbs "
    "up or down.",
)
tables = ui.table_names_or_stop(
    "events", "There are no events yet, so there is nothing to learn from."
)

left, right = st.columns([3, 1])
model = ui.pick_model(
    "recommender",
    "No recommender has been trained yet.",
    key="recs_model",
    help="The model in use (promoted on the Train page) is chosen first.",
    container=left,
)
k = right.slider("How many suggestions", 3, 50, 10, help="The length of each list (K).")
users = ui.table("users") if "users" in tables else None
attributes = serving.attribute_choices(users) if users is not None else {}

one, new, segment, session = st.tabs(
    ["One customer", "New visitor", "Whole segment", "Next in a session"]
)
with one:
    customer_tab(model["model_id"], k, attributes)
with new:
    new_customer_tab(model["model_id"], k, attributes)
with segment:
    segment_tab(model["model_id"], k, attributes)
with session:
    next_panel.show(model, k)
