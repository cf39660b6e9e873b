"""Recommendations: what the model suggests for a customer, a brand-new visitor, or a segment."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from personalization import store
from personalization.charts import theme
from personalization.errors import PersonalizationError
from personalization.recommendation import serving

MAX_CHOICES = 2000
MAX_ATTRIBUTE_VALUES = 50
ITEM_LABELS = ("title", "name", "description")
EVENT_WORDS = {
    "view": "viewed",
    "click": "clicked",
    "add_to_cart": "added to cart",
    "remove_from_cart": "removed from cart",
    "purchase": "bought",
    "rating": "rated",
}


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner="Finding recommendations…")
def for_user(user_id: str, k: int, model_id: str, filter_seen: bool, db: str, version: str):
    return serving.recommend_for_user(
        user_id, k=k, model_id=model_id, filter_seen=filter_seen, db=db
    )


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner=False)
def history(user_id: str, db: str, version: str) -> pd.DataFrame:
    return serving.user_history(user_id, limit=20, db=db)


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner="Finding similar products…")
def similar(item_id: str, k: int, model_id: str, db: str, version: str) -> pd.DataFrame:
    return serving.similar_items(item_id, k=k, model_id=model_id, db=db)


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner="Finding recommendations…")
def for_new_user(attributes: tuple, k: int, model_id: str, db: str, version: str):
    return serving.recommend_for_new_user(dict(attributes), k=k, model_id=model_id, db=db)


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner="Ranking products for the segment…")
def for_segment(column: str, value: str, k: int, model_id: str, db: str, version: str):
    return serving.segment_top_items(column, value, k=k, model_id=model_id, db=db)


def pretty(value: str) -> str:
    """An attribute value as people write it: ``bargain_hunter`` -> ``bargain hunter``."""
    return str(value).replace("_", " ")


def item_label(row: pd.Series) -> str:
    for column in ITEM_LABELS:
        if column in row and isinstance(row[column], str) and row[column]:
            return row[column]
    return str(row["item_id"])


def attribute_columns(users: pd.DataFrame) -> dict[str, list[str]]:
    """Columns of the users table with few distinct values (device, location, segment, …)."""
    out: dict[str, list[str]] = {}
    for column in users.columns:
        if column == "user_id":
            continue
        values = users[column].dropna()
        distinct = values.astype(str).unique()
        if 1 < len(distinct) <= MAX_ATTRIBUTE_VALUES:
            out[column] = sorted(distinct)
    return out


def item_table(frame: pd.DataFrame, extra: dict | None = None) -> None:
    """A clean table of items: rank, title, category, score as a bar, reason."""
    shown = [c for c in ("rank", "item_id", "title", "category", "price", "score", "reason") if c in frame]
    top = float(frame["score"].max()) if "score" in frame and len(frame) else 1.0
    config = {
        "rank": st.column_config.NumberColumn("#", format="%d", width="small"),
        "item_id": st.column_config.TextColumn("Product id"),
        "title": st.column_config.TextColumn("Product", width="medium"),
        "category": st.column_config.TextColumn("Category", width="small"),
        "price": st.column_config.NumberColumn("Price", format="%.2f"),
        "score": st.column_config.ProgressColumn(
            "Score", help=ui.METRIC_HELP["score"], format="%.3f", min_value=0.0, max_value=max(top, 1e-9)
        ),
        "reason": st.column_config.TextColumn("Why", width="large"),
        **(extra or {}),
    }
    st.dataframe(frame[shown], hide_index=True, width="stretch", column_config=config)


def record_feedback(user_id: str, item_id: str, model_id: str, thumbs: int, label: str) -> None:
    try:
        store.add_feedback(user_id, item_id, model_id, thumbs, db=ui.db_path())
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    st.session_state.setdefault("rated", {})[(user_id, item_id, model_id)] = thumbs
    word = "up" if thumbs > 0 else "down"
    icon = ":material/thumb_up:" if thumbs > 0 else ":material/thumb_down:"
    st.toast(f"Thanks! Thumbs {word} for “{label}” saved.", icon=icon)


def recommendation_rows(recs: pd.DataFrame, user_id: str, model_id: str) -> None:
    """One row per recommendation with its score bar, reason and thumbs up/down buttons."""
    top = float(recs["score"].max()) or 1.0
    rated = st.session_state.get("rated", {})
    for _, row in recs.iterrows():
        label = item_label(row)
        with st.container(border=True):
            rank, what, score, why, thumbs = st.columns(
                [0.6, 3.2, 1.6, 3.6, 1.2], vertical_alignment="center"
            )
            rank.markdown(f"**#{int(row['rank'])}**")
            category = row.get("category")
            category = f" · {category}" if isinstance(category, str) and category else ""
            what.markdown(f"**{label}**  \n:gray[{row['item_id']}{category}]")
            share = max(min(float(row["score"]) / top, 1.0), 0.0)
            score.progress(share, text=f"score {row['score']:.3f}")
            why.caption(str(row.get("reason") or ""))
            given = rated.get((user_id, str(row["item_id"]), model_id))
            up, down = thumbs.columns(2)
            args = (user_id, str(row["item_id"]), model_id)
            up.button(
                "",
                icon=":material/thumb_up:",
                key=f"up_{user_id}_{row['item_id']}_{model_id}",
                help="Good suggestion",
                type="primary" if given == 1 else "secondary",
                on_click=record_feedback,
                args=(*args, 1, label),
            )
            down.button(
                "",
                icon=":material/thumb_down:",
                key=f"down_{user_id}_{row['item_id']}_{model_id}",
                help="Poor suggestion",
                type="primary" if given == -1 else "secondary",
                on_click=record_feedback,
                args=(*args, -1, label),
            )


def show_history(past: pd.DataFrame) -> None:
    """The latest events as people read them: when, what they did, which product."""
    shown = past.assign(event_type=past["event_type"].map(lambda t: EVENT_WORDS.get(t, pretty(t))))
    order = [c for c in ("timestamp", "event_type", "title", "category", "value", "item_id") if c in shown]
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_order=order,
        column_config={
            "timestamp": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"),
            "event_type": "What they did",
            "title": st.column_config.TextColumn("Product", width="large"),
            "category": "Category",
            "value": st.column_config.NumberColumn("Value", format="%.2f", help="Rating or amount, if any."),
            "item_id": "Product id",
        },
    )
    st.caption(
        "Suggestions come from the activity the model was trained on; activity loaded since then "
        "counts after the next training on the Train page."
    )


def pick_user(users: pd.DataFrame | None, attributes: dict[str, list[str]]) -> str | None:
    """Choose a customer: filter by attributes (if a users table exists), then pick or type an id.

    A link with ``?user=ID`` opens the page on that customer.
    """
    choices = users
    if users is not None and attributes:
        filters = st.columns(min(len(attributes), 4))
        for i, (column, values) in enumerate(list(attributes.items())[:4]):
            chosen = filters[i].selectbox(
                pretty(column).capitalize(), ["Any", *values], key=f"filter_{column}", format_func=pretty
            )
            if chosen != "Any":
                choices = choices[choices[column].astype(str) == chosen]
    options = choices["user_id"].astype(str).head(MAX_CHOICES).tolist() if choices is not None else []
    linked = st.query_params.get("user")
    if linked and linked not in options:
        options.insert(0, linked)
    return st.selectbox(
        "Customer id",
        options,
        index=options.index(linked) if linked else (0 if options else None),
        accept_new_options=True,
        placeholder="Type a customer id",
        key="customer",
        help="Pick from the list (narrowed by the filters) or type any customer id.",
    )


def customer_tab(model_id: str, k: int, users: pd.DataFrame | None, attributes: dict) -> None:
    user_id = pick_user(users, attributes)
    if not user_id:
        st.info("Choose or type a customer id to see their recommendations.", icon=":material/info:")
        return
    filter_seen = st.toggle(
        "Hide products they already interacted with", value=True,
        help="Usually on: suggest something new rather than what they already know.",
    )
    version = ui.data_version()
    try:
        past = history(user_id, ui.db_path(), version)
        recs = for_user(user_id, k, model_id, filter_seen, ui.db_path(), version)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    with st.expander(f"Recent activity of {user_id} ({len(past)} latest events)", expanded=False):
        if past.empty:
            st.caption("No recorded activity: the suggestions are the favourites of similar customers.")
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
    labels = {str(r["item_id"]): item_label(r) for _, r in recs.iterrows()}
    item_id = st.selectbox("Suggestion", list(labels), format_func=lambda i: labels[i])
    try:
        alike = similar(item_id, k, model_id, ui.db_path(), version)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    item_table(alike, {"score": st.column_config.ProgressColumn(
        "Similarity", format="%.3f", min_value=0.0,
        max_value=max(float(alike["score"].max()) if len(alike) else 1.0, 1e-9),
        help="How alike the two products are for this model (higher = more alike)."),
    })


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
    chosen: dict[str, str] = {}
    cols = st.columns(max(min(len(attributes), 4), 1))
    for i, (column, values) in enumerate(list(attributes.items())[:4]):
        value = cols[i].selectbox(
            pretty(column).capitalize(), ["Unknown", *values], key=f"new_{column}", format_func=pretty
        )
        if value != "Unknown":
            chosen[column] = value
    try:
        recs = for_new_user(tuple(sorted(chosen.items())), k, model_id, ui.db_path(), ui.data_version())
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    item_table(recs)
    if not recs.empty:
        labelled = recs.assign(label=[item_label(r) for _, r in recs.iterrows()])
        st.plotly_chart(theme.recommendation_scores(labelled, label="label"), width="stretch")


def segment_tab(model_id: str, k: int, attributes: dict) -> None:
    st.caption("The products the model ranks highest across everyone in a group of customers.")
    if not attributes:
        st.info("Segments come from the users table; load one on the Data page.", icon=":material/info:")
        ui.link("pages/data.py", "Go to Data", ":material/database:")
        return
    left, right = st.columns(2)
    default = list(attributes).index("segment") if "segment" in attributes else 0
    column = left.selectbox("Group customers by", list(attributes), index=default, key="segment_column")
    value = right.selectbox("Group", attributes[column], key="segment_value", format_func=pretty)
    try:
        recs = for_segment(column, value, k, model_id, ui.db_path(), ui.data_version())
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    item_table(recs)


ui.header(
    "Recommendations",
    "See what a model suggests to one customer, to a brand-new visitor, or to a whole segment, "
    "and tell it which suggestions are good with a thumbs up or down.",
)
tables = ui.table_names_or_stop("events", "There are no events yet, so there is nothing to learn from.")

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
attributes = attribute_columns(users) if users is not None else {}

one, new, segment = st.tabs(["One customer", "New visitor", "Whole segment"])
with one:
    customer_tab(model["model_id"], k, users, attributes)
with new:
    new_customer_tab(model["model_id"], k, attributes)
with segment:
    segment_tab(model["model_id"], k, attributes)
