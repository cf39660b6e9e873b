"""Who gets a recommendation list on the Export page: everyone, a segment of the users table, or
the customers of an uploaded file of ids."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from personalization.errors import PersonalizationError
from personalization.recommendation import batch, serving


def ids_from_upload(upload) -> list[str]:
    """Customer ids from an uploaded file (``batch.read_user_ids``), read from a temporary copy."""
    folder = Path(tempfile.mkdtemp(prefix="personalization-ids-"))
    try:
        path = folder / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        return batch.read_user_ids(path, source_name=upload.name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def choose_audience(users: pd.DataFrame | None) -> tuple[list[str] | None, str]:
    """Who gets a list: everyone (None), a segment, or uploaded ids; and a word for the file name."""
    options = ["Everyone"]
    if users is not None:
        options.append("A segment")
    options.append("An uploaded list of customers")
    who = st.radio("Who", options, horizontal=True, help="Whose recommendation lists to export.")
    if who == "A segment":
        choices = serving.attribute_choices(users)
        if not choices:
            st.warning("The users table has no column with a handful of values to group by.")
            st.stop()
        columns = list(choices)
        left, right = st.columns(2)
        column = left.selectbox(
            "Group customers by",
            columns,
            index=columns.index("segment") if "segment" in columns else 0,
            key="export_column",
        )
        value = right.selectbox("Group", choices[column], key="export_value")
        ids = serving.users_matching(users, {column: value})["user_id"].astype(str).tolist()
        return ids, f"{column}-{value}"
    if who == "An uploaded list of customers":
        upload = st.file_uploader(
            "A CSV or text file of customer ids",
            type=["csv", "txt", "tsv"],
            help="One id per line under a header; a column called user_id is used if there is one.",
        )
        if upload is None:
            st.info("Upload the list of customers to export.", icon=":material/info:")
            st.stop()
        try:
            return ids_from_upload(upload), Path(upload.name).stem
        except PersonalizationError as exc:
            ui.show_error(exc)
            st.stop()
    return None, "everyone"
