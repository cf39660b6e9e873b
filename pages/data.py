"""Data: upload a file, map its columns, load it, read the report, and explore every table."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from personalization.charts import data as charts
from personalization.data import ingest
from personalization.errors import PersonalizationError

NONE = "— not in this file —"
KIND_HELP = {
    "events": "One row per action: who (user), on what (item), what they did (event type), when.",
    "users": "One row per customer with attributes such as device, location or segment.",
    "items": "One row per product with attributes such as title, category or price.",
    "customers": "One row per customer with features and an outcome to predict (e.g. converted).",
}
SEPARATORS = {
    "Detect automatically": None,
    "Comma ,": ",",
    "Semicolon ;": ";",
    "Tab": "\t",
    "Pipe |": "|",
}
TEMP_DIR = Path(tempfile.gettempdir()) / "personalization-uploads"


@st.cache_data(show_spinner="Reading the file…", max_entries=8)
def inspect(path: str, kind: str, sep: str | None, name: str, digest: str) -> ingest.FileInfo:
    """``inspect_file`` once per file content, kind and separator."""
    return ingest.inspect_file(path, kind=kind, sep=sep, source_name=name)


def save_upload(upload) -> tuple[Path, str]:
    """Write the uploaded bytes to a temp file named like the original; return it and its hash."""
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    folder = TEMP_DIR / digest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(upload.name).name
    if not path.exists():
        path.write_bytes(data)
    return path, digest


def mapping_widgets(info: ingest.FileInfo, kind: str, digest: str) -> tuple[dict, dict]:
    """A selectbox per role prefilled from the suggestion, plus constants; returns both dicts.

    A role set to "not in this file" maps to "" so that the library drops its suggestion."""
    roles = ingest.ROLES.get(kind, ())
    mapping: dict[str, str] = {}
    constants: dict[str, str] = {}
    cols = st.columns(3)
    for i, role in enumerate(roles):
        suggested = info.suggested.get(role)
        options = [NONE, *info.columns]
        chosen = cols[i % 3].selectbox(
            role,
            options,
            index=options.index(suggested) if suggested in options else 0,
            key=f"map_{digest}_{kind}_{role}",
            help=ROLE_HELP.get(role),
        )
        mapping[role] = "" if chosen == NONE else chosen
    if kind == "events" and not mapping.get("event_type"):
        rating = ingest.is_rating_column(mapping.get("value") or "")
        constant = st.text_input(
            "Event type for every row",
            value="rating" if rating else "purchase",
            help="This file has no event-type column, so every row gets this type "
            "(for example purchase for an order file, rating for a ratings file).",
            key=f"const_{digest}_event_type",
        )
        if constant.strip():
            constants["event_type"] = constant.strip()
    return mapping, constants


ROLE_HELP = {
    "user_id": "The customer id column.",
    "item_id": "The product (or content) id column.",
    "event_type": "What happened: view, click, add_to_cart, purchase, rating, …",
    "timestamp": "When it happened. Dates, ISO text and Unix seconds are all understood.",
    "value": "A number that goes with the event: a rating, revenue, quantity or dwell time.",
    "session_id": "Groups events of one visit (optional).",
}


def show_report(report: dict) -> None:
    """The ingest report: counts as cards, then the first rejected lines and the flags."""
    st.success(f"Loaded into table **{report['table']}**.", icon=":material/task_alt:")
    cards = st.columns(4)
    for card, key, label in zip(
        cards,
        ("rows_read", "rows_loaded", "rows_rejected", "duplicates_dropped"),
        ("Rows read", "Rows loaded", "Rows rejected", "Duplicates dropped"),
        strict=True,
    ):
        card.metric(label, ui.fmt_int(report.get(key, 0)), help=ui.METRIC_HELP[key])
    if report.get("rejects"):
        st.markdown("**Rejected rows** (first ones; nothing else was left out)")
        st.dataframe(
            pd.DataFrame(report["rejects"]),
            hide_index=True,
            width="stretch",
            column_config={
                "line": st.column_config.NumberColumn("Line in file", format="%d"),
                "reason": st.column_config.TextColumn("Why it was left out", width="large"),
            },
        )
    for note in report.get("notes") or []:
        st.caption(note)
    flagged = {k: v for k, v in (report.get("flagged") or {}).items() if v}
    if flagged:
        lines = ", ".join(f"{ui.fmt_int(v)} {k.replace('_', ' ')}" for k, v in flagged.items())
        st.info(f"Kept but flagged for your attention: {lines}.", icon=":material/flag:")


def upload_section() -> None:
    st.subheader("Load a file")
    upload = st.file_uploader(
        "Drop a CSV, TSV, TXT, gzip or Parquet file",
        type=["csv", "tsv", "txt", "gz", "parquet"],
        help="Column names do not matter: you map them to roles below before anything is stored.",
    )
    left, right = st.columns(2)
    kind = left.selectbox(
        "What does the file hold?",
        ingest.KINDS,
        help=" ".join(f"{k}: {v}" for k, v in KIND_HELP.items()),
    )
    left.caption(KIND_HELP[kind])
    with right.expander("Options"):
        sep = SEPARATORS[st.selectbox("Separator", list(SEPARATORS))]
        ts_format = st.text_input(
            "Timestamp format",
            placeholder="e.g. %d/%m/%Y %H:%M (leave empty to detect)",
            help="Only needed when dates are written in an unusual way.",
        )
        table_name = st.text_input("Table name", value=kind, help="Where the rows are stored.")
        mode = st.radio(
            "If the table already exists",
            ["append", "replace"],
            format_func={"append": "Add these rows", "replace": "Replace its rows"}.get,
            horizontal=True,
            help="Choose replace to swap the sample shop for your own data.",
        )
    if upload is None:
        return
    path, digest = save_upload(upload)
    try:
        info = inspect(str(path), kind, sep, upload.name, digest)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    st.markdown(f"**Preview of {upload.name}** (first rows as read)")
    st.dataframe(info.preview, hide_index=True, width="stretch", height=220)
    for note in info.notes:
        st.caption(note)
    st.markdown(
        "**Map the columns** — the columns we recognised are filled in; pick another column "
        "for any role that is wrong. Columns not mapped are kept as they are."
    )
    mapping, constants = mapping_widgets(info, kind, digest)
    if st.button("Load", type="primary", icon=":material/upload:", key="load_file"):
        slot = st.empty()
        try:
            report = ingest.ingest_file(
                path,
                kind=kind,
                mapping=mapping,
                constants=constants or None,
                sep=sep,
                timestamp_format=ts_format.strip() or None,
                table=table_name.strip() or None,
                mode=mode,
                source_name=upload.name,
                db=ui.db_path(),
                progress=ui.progress_bar(slot, "Loading…"),
            )
        except PersonalizationError as exc:
            slot.empty()
            ui.show_error(exc)
            return
        slot.empty()
        ui.refresh()
        st.session_state["sample_banner"] = False
        st.session_state["last_report"] = (digest, report.to_dict())
    last = st.session_state.get("last_report")
    if last and last[0] == digest:
        show_report(last[1])


def profile_charts(name: str, prof: dict) -> None:
    columns = prof.get("columns")
    rows = int(prof.get("rows", 0))
    st.dataframe(
        columns,
        hide_index=True,
        width="stretch",
        column_config={
            "column": "Column",
            "type": "Type",
            "nulls": st.column_config.NumberColumn("Missing", format="localized"),
            "distinct": st.column_config.NumberColumn(
                "Distinct", format="localized", help="Approximate number of different values."
            ),
            "min": "Smallest",
            "max": "Largest",
        },
    )
    left, right = st.columns(2)
    with left:
        st.markdown("**Missing values per column**")
        st.plotly_chart(charts.nulls_per_column(columns, rows), width="stretch")
    if "events_per_type" not in prof:
        return
    with right:
        st.markdown("**Events per type**")
        st.plotly_chart(charts.events_per_type(prof["events_per_type"]), width="stretch")
    left, right = st.columns(2)
    with left:
        st.markdown("**Events per customer**")
        interactions_chart(prof.get("interactions_per_user") or {})
    with right:
        st.markdown("**Events per day**")
        st.plotly_chart(charts.events_per_day(prof.get("events_per_day")), width="stretch")


def interactions_chart(quantiles: dict) -> None:
    """How active customers are: the typical ones as bars, the extremes in a sentence."""
    names = {"min": "Least active", "p25": "25%", "median": "Median", "p75": "75%", "p90": "90%"}
    shown = {label: quantiles[key] for key, label in names.items() if key in quantiles}
    st.plotly_chart(
        charts.quantile_bars(shown, "Customers ranked by activity", "Events per customer"),
        width="stretch",
    )
    if quantiles:
        st.caption(
            f"Half of the customers have at most {ui.fmt_int(quantiles.get('median'))} events and "
            f"90% at most {ui.fmt_int(quantiles.get('p90'))}; the most active has "
            f"{ui.fmt_int(quantiles.get('max'))} (average {ui.fmt_num(quantiles.get('mean'), 1)})."
        )


def explore_section() -> None:
    st.subheader("Stored tables")
    names = [t["name"] for t in ui.tables()]
    if not names:
        st.info("Nothing is stored yet. Load a file above.", icon=":material/info:")
        return
    name = st.selectbox("Table", names, index=names.index("events") if "events" in names else 0)
    try:
        prof = ui.profile(name)
        first_rows = ui.preview(name, 50)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    facts = st.columns(4)
    facts[0].metric("Rows", ui.fmt_int(prof.get("rows")))
    facts[1].metric("Columns", ui.fmt_int(len(prof.get("columns", []))))
    if "n_users" in prof:
        facts[2].metric("Customers", ui.fmt_int(prof["n_users"]), help=ui.METRIC_HELP["users"])
        facts[3].metric("Products", ui.fmt_int(prof["n_items"]), help=ui.METRIC_HELP["items"])
    preview_tab, profile_tab = st.tabs(["Preview", "Profile"])
    with preview_tab:
        st.dataframe(first_rows, hide_index=True, width="stretch")
    with profile_tab:
        profile_charts(name, prof)


ui.header(
    "Data",
    "Load your own events, customers or products from a file and check their quality. "
    "Nothing is stored until you press Load; a file that cannot be read leaves stored data untouched.",
)
upload_section()
st.divider()
explore_section()
