"""Export: recommendation lists for everyone, a segment or a list of customers, as CSV or Parquet.

The file is always scored and written block by block to a temporary file with a progress bar.
A small file (up to ``LARGE_EXPORT_ROWS`` rows) is then kept in the session for an instant
download; a large one stays on disk and the download button reads it only when clicked, so the
page never holds hundreds of megabytes across reruns. ``st.session_state["large_export_rows"]``
overrides the limit (the tests use it to take the large-file path on a small shop).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from panels import audience as audience_panel
from panels import score_export
from personalization import values
from personalization.errors import PersonalizationError
from personalization.recommendation import batch, serving

PREVIEW_USERS = 5
FORMATS = {"CSV (opens in Excel)": ".csv", "Parquet (for data tools)": ".parquet"}
MIME = {".csv": "text/csv", ".parquet": "application/octet-stream"}
LARGE_EXPORT_ROWS = 50_000


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner="Preparing a preview…")
def preview(
    users: tuple[str, ...], k: int, model_id: str, rules: serving.ListRules, db: str, version: str
):
    return batch.recommendations_for_users(list(users), k=k, model_id=model_id, rules=rules, db=db)


def choose_filters(items: pd.DataFrame | None) -> dict:
    """Business rules for every list: hide what was bought, leave out categories, stock only."""
    with st.expander("Rules for the lists", icon=":material/filter_alt:"):
        left, right = st.columns(2)
        filters: dict = {
            "filter_seen": left.toggle(
                "Leave out products they already interacted with",
                value=True,
                help="Usually on: suggest something new rather than what they already know.",
            )
        }
        if items is None:
            return filters
        if "category" in items:
            categories = sorted(items["category"].dropna().astype(str).unique())
            filters["exclude_categories"] = tuple(
                right.multiselect(
                    "Leave out categories",
                    categories,
                    help="No product of these categories is suggested.",
                )
            )
        flags = [c for c in items.columns if c != "item_id" and values.is_flag(items[c])]
        if flags:
            only = left.selectbox(
                "Only products where this is true",
                ["(no rule)", *flags],
                index=1 + flags.index("in_stock") if "in_stock" in flags else 0,
                help="For example in_stock: never suggest what cannot be bought.",
            )
            if only != "(no rule)":
                filters["only_if"] = only
    return filters


def run_export(
    suffix: str, k: int, model_id: str, users: list[str] | None, rules: serving.ListRules
) -> dict:
    """Score and write block by block to a temp file under a progress bar; a small file's bytes
    are kept (and the file removed), a large file's path is kept for reading at download time."""
    folder = Path(tempfile.mkdtemp(prefix="personalization-export-"))
    slot, stop = st.empty(), st.empty()
    ui.cancel_button(stop, "cancel_export")
    try:
        result = batch.export_recommendations(
            folder / f"recommendations{suffix}",
            k=k,
            model_id=model_id,
            users=users,
            rules=rules,
            db=ui.db_path(),
            progress=ui.progress_bar(slot, "Scoring customers…"),
        )
    except BaseException:  # an error, or Cancel (Streamlit stops the run at a progress report)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        slot.empty()
        stop.empty()
    path = Path(result["path"])
    if result["rows"] <= st.session_state.get("large_export_rows", LARGE_EXPORT_ROWS):
        result["data"] = path.read_bytes()
        shutil.rmtree(folder, ignore_errors=True)
    result["megabytes"] = (
        len(result["data"]) / 1e6 if "data" in result else path.stat().st_size / 1e6
    )
    return result


def file_reader(path: str):
    """A function the download button calls when clicked: the file's bytes, read then."""
    return lambda: Path(path).read_bytes()


def forget_old_file() -> None:
    old = st.session_state.pop("export", None)
    if old and "data" not in old[1]:
        shutil.rmtree(Path(old[1]["path"]).parent, ignore_errors=True)


ui.header(
    "Export",
    "Download recommendation lists to load into your email tool, ad platform or spreadsheet: one row "
    "per customer and suggestion, with its rank, score and reason. Or every customer's conversion "
    "score, to pick whom to contact.",
)
what = st.radio(
    "What to export",
    ["Recommendation lists", "Conversion scores"],
    horizontal=True,
    key="export_what",
    help="Conversion scores: every customer's chance to convert from a conversion model.",
)
if what == "Conversion scores":
    score_export.render(ui.table_names_or_stop())
    st.stop()
tables = ui.table_names_or_stop(
    "events", "There are no events yet, so there is nothing to recommend from."
)

model = ui.pick_model(
    "recommender",
    "No recommender has been trained yet.",
    key="export_model",
    help="The model in use (promoted on the Train page) is chosen first.",
)
users_table = ui.table("users") if "users" in tables else None
audience, audience_name = audience_panel.choose_audience(users_table)
items_table = ui.table("items") if "items" in tables else None
item_options = [c for c in items_table.columns if c != "item_id"] if items_table is not None else []
left, mid, right = st.columns(3)
k = left.slider(
    "Suggestions per customer", 1, 50, 10, help="K: how many products each customer gets."
)
columns = mid.multiselect(
    "Product columns to include",
    item_options,
    default=[c for c in ("title", "category") if c in item_options],
    help="Besides the product id, rank, score and reason.",
)
fmt = right.radio(
    "Format",
    list(FORMATS),
    key="export_format",
    help="CSV cells that look like formulas are made safe.",
)
suffix = FORMATS[fmt]
rules = serving.ListRules(
    **choose_filters(items_table), item_columns=tuple(columns), only_item_columns=True
)

if audience is not None and not audience:
    st.warning("No customers match this choice; pick another group or upload another list.")
    st.stop()
if audience is None:
    st.markdown(
        f"**Preview** — the lists of {PREVIEW_USERS} customers; the file holds every customer."
    )
else:
    st.markdown(
        f"**Preview** — the lists of the first {PREVIEW_USERS} of the "
        f"{ui.fmt_int(len(audience))} chosen customers."
    )
if audience is None:
    pool = ui.preview("events", 500)["user_id"].astype(str).unique().tolist()
else:
    pool = audience
try:
    shown = preview(
        tuple(pool[:PREVIEW_USERS]), k, model["model_id"], rules, ui.db_path(), ui.data_version()
    )
except PersonalizationError as exc:
    ui.show_error(exc)
    st.stop()
if shown.empty:
    st.warning(
        "These customers get no suggestion with these settings: the rules leave no product to "
        "suggest. Loosen them (hide fewer categories, drop the in-stock rule, or let customers "
        "see what they already bought).",
        icon=":material/block:",
    )
st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    column_order=[c for c in shown.columns if c not in ("score", "reason")] + ["score", "reason"],
    column_config={
        "user_id": "Customer id",
        "rank": st.column_config.NumberColumn("#", format="%d"),
        "item_id": "Product id",
        "score": st.column_config.NumberColumn(
            "Score", format="%.3f", help=ui.METRIC_HELP["score"]
        ),
        "reason": st.column_config.TextColumn("Why", width="large"),
        "title": "Product",
        "category": "Category",
        "price": st.column_config.NumberColumn("Price", format="%.2f"),
    },
)

settings = (model["model_id"], audience_name, k, rules, suffix, ui.data_version())
if ui.cancelled("cancel_export"):
    ui.show_cancelled("Preparing the file")
if st.button("Prepare the file", type="primary", icon=":material/build:", key="prepare_export"):
    forget_old_file()
    try:
        result = run_export(suffix, k, model["model_id"], audience, rules)
        st.session_state["export"] = (settings, result)
    except PersonalizationError as exc:
        ui.show_error(exc)
ready = st.session_state.get("export")
if ready and ready[0] == settings and not ready[1]["rows"]:
    st.warning(
        "The file would be empty: no customer got a suggestion with these settings. "
        + (
            "The rules above leave no product to suggest: loosen them (hide fewer categories, "
            "drop the in-stock rule) or turn off *Hide what each customer already bought*."
            if shown.empty
            else "Check the chosen customers: none of them is known to the model."
        ),
        icon=":material/block:",
    )
elif ready and ready[0] == settings:
    result = ready[1]
    st.success(
        f"{ui.fmt_int(result['rows'])} rows for {ui.fmt_int(result['users'])} customers are ready "
        f"({result['megabytes']:,.1f} MB).",
        icon=":material/task_alt:",
    )
    st.download_button(
        "Download",
        data=result["data"] if "data" in result else file_reader(result["path"]),
        file_name=f"recommendations-{audience_name}-top{k}{suffix}",
        mime=MIME[suffix],
        icon=":material/download:",
        type="primary",
        key="download_export",
    )
