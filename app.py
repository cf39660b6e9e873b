"""Personalization Workbench: the Streamlit entry point (``streamlit run app.py``).

Sets up the page, loads the bundled sample shop on the first start with an empty database, and
groups the pages in the sidebar. A page whose file is not there is left out, so the app always runs.
"""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

import ui
from personalization import sample
from personalization.errors import PersonalizationError

HERE = Path(__file__).resolve().parent
SECTIONS = {
    "Overview": [("pages/home.py", "Home", ":material/home:")],
    "Data": [("pages/data.py", "Data", ":material/database:")],
    "Models": [("pages/train.py", "Train", ":material/model_training:")],
    "Use": [
        ("pages/recommendations.py", "Recommendations", ":material/recommend:"),
        ("pages/export.py", "Export", ":material/download:"),
    ],
    "Insight": [
        ("pages/explain.py", "Explain", ":material/lightbulb:"),
        ("pages/lift.py", "Lift", ":material/trending_up:"),
    ],
}


@st.cache_resource
def sample_checks() -> tuple[threading.Lock, dict[str, bool]]:
    """Per process: a lock and, per database file, whether the sample shop was loaded into it."""
    return threading.Lock(), {}


def load_sample_once(db: str) -> bool:
    """Load the sample data into an empty database, once per process and database file."""
    lock, checked = sample_checks()
    with lock:
        if db not in checked:
            slot = st.empty()
            with st.spinner("First start: loading the bundled sample shop and training two example models…"):
                checked[db] = sample.ensure_sample_data(
                    db=db, progress=lambda f, msg: slot.progress(min(max(f, 0.0), 1.0), text=msg)
                )
            slot.empty()
    return checked[db]


def build_navigation() -> dict[str, list[st.Page]]:
    nav: dict[str, list[st.Page]] = {}
    for section, pages in SECTIONS.items():
        found = [
            st.Page(path, title=title, icon=icon, default=path == "pages/home.py")
            for path, title, icon in pages
            if (HERE / path).exists()
        ]
        if found:
            nav[section] = found
    return nav


st.set_page_config(
    page_title="Personalization Workbench",
    page_icon=":material/auto_awesome:",
    layout="wide",
)

try:
    if load_sample_once(ui.db_path()) and "sample_banner" not in st.session_state:
        st.session_state["sample_banner"] = True
        ui.refresh()
except PersonalizationError as exc:
    ui.show_error(exc)

st.navigation(build_navigation()).run()
