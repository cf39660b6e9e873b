"""Finding a customer by the start of their id, most active first (the Recommendations page)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

import ui
from personalization.errors import PersonalizationError
from personalization.store import events as store_events

MAX_CHOICES = 500


def find_customers(prefix: str, chosen: dict[str, str]) -> pd.DataFrame:
    return cached_search(prefix, tuple(sorted(chosen.items())), ui.db_path(), ui.data_version())


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner=False, max_entries=64)
def cached_search(prefix: str, chosen: tuple, db: str, version: str) -> pd.DataFrame:
    return store_events.search_users(prefix, dict(chosen), limit=MAX_CHOICES, db=db)


def pick_user(attributes: dict[str, list[str]], attribute_boxes: Callable) -> str | None:
    """Choose a customer: type the start of an id (and narrow by attributes, when a users table
    has them); the matches come most active first, so the default is a real, busy customer.

    A link with ``?user=ID`` opens the page on that customer.
    """
    left, right = st.columns([1, 2])
    prefix = left.text_input(
        "Find a customer",
        placeholder="Start of a customer id",
        key="customer_prefix",
        help="Type the first characters of an id; the most active customers come first.",
    ).strip()
    chosen = attribute_boxes(attributes, "Any", "filter") if attributes else {}
    try:
        found = find_customers(prefix, chosen)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return None
    labels = {
        str(row.user_id): f"{row.user_id} · {ui.fmt_int(row.events)} events · last "
        f"{ui.fmt_date(row.last_seen)}"
        for row in found.itertuples(index=False)
    }
    linked = st.query_params.get("user")
    if linked and linked not in labels:
        labels = {linked: f"{linked} (from the link)", **labels}
    if not labels:
        what = f"starts with “{prefix}”" if prefix else "has any events"
        right.warning(
            f"No customer id {what}{' in the chosen group' if chosen else ''}. Clear the search "
            "or the filters.",
            icon=":material/search_off:",
        )
        return None
    options = list(labels)
    return right.selectbox(
        f"Customer ({len(options):,}{'+' if len(found) >= MAX_CHOICES else ''} found, most "
        "active first)",
        options,
        index=options.index(linked) if linked in options else 0,
        format_func=labels.get,
        key=f"customer_{prefix}",
    )
