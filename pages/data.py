"""Data: upload a file, map its columns, load it, read the report, and explore every table."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from panels import load_report
from personalization.charts import data as charts
from personalization.data import ingest
from personalization.errors import PersonalizationError

NONE = "— not in this file —"
SEPARATORS = {"Detect automatically": None, "Comma ,": ",", "Semicolon ;": ";", "Tab": "\t"}
SEPARATORS["Pipe |"] = "|"
TEMP_DIR = Path(tempfile.gettempdir()) / "personalization-uploads"


@st.cache_data(show_spinner="Reading the file…", max_entries=8)
def inspect(path: str, kind: str, sep: str | None, name: str, digest: str) -> ingest.FileInfo:
    """``inspect_file`` once per file content, kind and separator."""
    return ingest.inspect_file(path, kind=kind, sep=sep, source_name=name)


def guess_kind(path: Path, name: str, digest: str) -> str:
    """What the uploaded file most likely holds (events when it cannot be read: the preview
    below then says why)."""
    try:
        return ingest.guess_kind(inspect(str(path), "events", None, name, digest))
    except PersonalizationError:
        return "events"


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


def pick_columns(info: ingest.FileInfo, labels: dict[str, str], key: str) -> dict[str, str]:
    """A selectbox per role or attribute (name -> label), prefilled from the suggestion.

    One set to "not in this file" maps to "" so that the library drops its suggestion."""
    mapping: dict[str, str] = {}
    cols = st.columns(3)
    for i, (name, label) in enumerate(labels.items()):
        options = [NONE, *info.columns]
        chosen = cols[i % 3].selectbox(
            label,
            options,
            options.index(info.suggested.get(name, NONE)),
            key=f"{key}_{name}",
            help=ingest.ROLE_HELP.get(name),
        )
        mapping[name] = "" if chosen == NONE else chosen
    return mapping


def event_type_for_all(mapping: dict[str, str], digest: str) -> dict[str, str]:
    """A constant event type when the file has no event-type column."""
    constant = st.text_input(
        "Event type for every row",
        value="rating" if ingest.is_rating_column(mapping.get("value") or "") else "purchase",
        help="This file has no event-type column, so every row gets this type "
        "(for example purchase for an order file, rating for a ratings file).",
        key=f"const_{digest}_event_type",
    )
    return {"event_type": constant.strip()} if constant.strip() else {}


def attribute_widgets(info: ingest.FileInfo, digest: str) -> dict[str, str]:
    """Product and customer attributes of an events file, those found pre-filled and explained."""
    labels = ingest.ATTRIBUTE_LABELS
    found = [f"{labels[n]}: **{c}**" for n, c in info.suggested.items() if n in labels]
    if found:
        st.info(
            f"This file also describes products and customers ({', '.join(found)}). They are "
            "filled in below: product names then show in recommendation lists and reasons "
            "(“Because you bought …”) instead of codes.",
            icon=":material/label:",
        )
    with st.expander("Product and customer attributes", expanded=bool(found)):
        return pick_columns(info, ingest.ATTRIBUTE_LABELS, f"attr_{digest}")


def date_order(choice: dict) -> str:
    """The day/month radio for dates that read both ways; returns the chosen format."""
    st.warning(
        f"The dates in **{choice['column']}** read both day-first and month-first, and no date "
        "settles which. Choose the order, then press Load again.",
        icon=":material/event:",
    )
    st.dataframe(pd.DataFrame(choice["examples"]), hide_index=True)
    label = st.radio("The file writes dates", list(choice["choices"]), key="date_order")
    return choice["choices"][label]


def options(kind: str) -> tuple[str | None, str, str, str]:
    """Separator, timestamp format, table name and mode, from the Options expander."""
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
    return sep, ts_format, table_name, mode


def upload_section() -> None:
    st.subheader("Load a file")
    upload = st.file_uploader(
        "Drop a CSV, TSV, TXT, gzip or Parquet file",
        type=["csv", "tsv", "txt", "gz", "parquet"],
        help="Column names do not matter: you map them to roles below before anything is stored.",
    )
    path, digest = save_upload(upload) if upload is not None else (None, "none")
    guessed = guess_kind(path, upload.name, digest) if upload is not None else "events"
    left, right = st.columns(2)
    kind = left.selectbox(
        "What does the file hold?",
        ingest.KINDS,
        index=ingest.KINDS.index(guessed),
        key=f"kind_{digest}",
        help=" ".join(f"{k}: {v}" for k, v in ingest.KIND_HELP.items()),
    )
    guess_note = " Guessed from the file's columns." if upload is not None else ""
    left.caption(ingest.KIND_HELP[kind] + guess_note)
    with right.expander("Options"):
        sep, ts_format, table_name, mode = options(kind)
    if upload is None:
        return
    try:
        info = inspect(str(path), kind, sep, upload.name, digest)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    st.markdown(f"**Preview of {upload.name}** (first rows as read)")
    st.dataframe(info.preview, hide_index=True, width="stretch", height=220)
    for note in info.notes:
        st.info(note, icon=":material/info:")
    st.markdown(
        "**Map the columns** — the columns we recognised are filled in; pick another column "
        "for any role that is wrong. Columns not mapped are kept as they are."
    )
    mapping = pick_columns(info, {r: r for r in ingest.ROLES[kind]}, f"map_{digest}_{kind}")
    constants = {}
    if kind == "events":
        if not mapping.get("event_type"):
            constants = event_type_for_all(mapping, digest)
        mapping.update(attribute_widgets(info, digest))
    choice = st.session_state.get("date_choice")
    if choice and choice["digest"] == digest:
        ts_format = date_order(choice)
    if st.button("Load", type="primary", icon=":material/upload:", key="load_file"):
        if ui.is_sample():
            ui.open_workspace("mine")
            st.info("Your file goes into My data; the sample shop stays as it was.")
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
        except ingest.AmbiguousDatesError as exc:
            st.session_state["date_choice"] = dict(ingest.date_order_choice(exc), digest=digest)
            st.rerun()
        except PersonalizationError as exc:
            slot.empty()
            ui.show_error(exc)
            return
        slot.empty()
        ui.refresh()
        st.session_state["sample_banner"] = False
        st.session_state.pop("date_choice", None)
        st.session_state["last_report"] = (digest, report.to_dict())
    last = st.session_state.get("last_report")
    if last and last[0] == digest:
        load_report.show(last[1])


def profile_charts(name: str, prof: dict) -> None:
    columns = prof.get("columns")
    number = st.column_config.NumberColumn
    config = {
        "column": "Column",
        "type": "Type",
        "nulls": number("Missing", format="localized"),
        "distinct": number("Distinct", format="localized", help="Approximate distinct values."),
        "min": "Smallest",
        "max": "Largest",
    }
    st.dataframe(columns, hide_index=True, width="stretch", column_config=config)
    left, right = st.columns(2)
    left.markdown("**Missing values per column**")
    left.plotly_chart(charts.nulls_per_column(columns, int(prof.get("rows", 0))), width="stretch")
    if "events_per_type" not in prof:
        return
    right.markdown("**Events per type**")
    right.plotly_chart(charts.events_per_type(prof["events_per_type"]), width="stretch")
    left, right = st.columns(2)
    with left:
        st.markdown("**Events per customer**")
        interactions_chart(prof.get("interactions_per_user") or {})
    right.markdown("**Events per day**")
    right.plotly_chart(charts.events_per_day(prof.get("events_per_day")), width="stretch")


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
