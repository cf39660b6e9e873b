"""Personalization Workbench: the Streamlit entry point (``streamlit run app.py``).

Sets up the page, offers two workspaces in the sidebar (the bundled sample shop, in a database of
its own, and the user's own data), loads the sample shop into its own database the first time it is
opened, and groups the pages in the sidebar. A page whose file is not there is left out.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import streamlit as st

import ui
from personalization import workspace
from personalization.errors import PersonalizationError

HERE = Path(__file__).resolve().parent
SECTIONS = {
    "Get started": [
        ("pages/home.py", "Home", ":material/home:"),
        ("pages/data.py", "Data", ":material/database:"),
        ("pages/train.py", "Train", ":material/model_training:"),
    ],
    "Use": [
        ("pages/recommendations.py", "Recommendations", ":material/recommend:"),
        ("pages/export.py", "Export", ":material/download:"),
    ],
    "Insight": [
        ("pages/explain.py", "Explain", ":material/lightbulb:"),
        ("pages/lift.py", "Lift", ":material/trending_up:"),
        ("pages/monitor.py", "Monitor", ":material/monitor_heart:"),
    ],
}


@st.cache_resource(show_spinner=False)
def first_start(db: str) -> dict:
    """Once per process and database file: load the sample shop into an empty database and train
    the example models, in a background thread so that a closed tab cannot cut it short.

    Returns the shared state ``done``, ``loaded``, ``fraction``, ``message``, ``error``.
    """
    state = {"done": False, "loaded": False, "fraction": 0.0, "message": "Starting…", "error": None}

    def report(fraction: float, message: str) -> None:
        state.update(fraction=min(max(fraction, 0.0), 1.0), message=message)

    def work() -> None:
        try:
            state["loaded"] = workspace.ensure_sample_data(db=db, progress=report)
        except PersonalizationError as exc:
            state["error"] = exc
        finally:
            state["done"] = True

    threading.Thread(target=work, name="first-start", daemon=True).start()
    return state


def wait_for_first_start(db: str) -> bool:
    """Show the first start's progress until it is done; True when it loaded the sample."""
    state = first_start(db)
    if not state["done"]:
        time.sleep(0.3)
    if not state["done"]:
        st.progress(state["fraction"], text=f"First start: {state['message']}")
        st.caption(
            "Loading the bundled sample shop and training two example models (a few seconds)."
        )
        time.sleep(1.0)
        st.rerun()
    if state["error"] is not None:
        ui.show_error(state["error"])
    return state["loaded"]


def workspace_switch() -> None:
    """The sidebar's choice of workspace; a change reopens the page on the other database."""
    current = ui.workspace()
    with st.sidebar:
        choice = st.segmented_control(
            "Workspace",
            list(ui.WORKSPACES),
            default=current,
            format_func=ui.WORKSPACES.get,
            key=f"workspace_choice_{current}",
            help="The sample shop and your own data live in two separate databases and never "
            "mix. Files you upload always go into My data.",
        )
        if choice and choice != current:
            ui.open_workspace(choice)
            st.rerun()
        if current == "sample":
            st.caption("Trying the bundled sample shop. Upload a file on **Data** to use your own.")
        else:
            st.caption(f"Your own data: `{Path(ui.db_path()).name}`")


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

page = st.navigation(build_navigation())  # the sidebar shows the real pages during the first load
workspace_switch()
if (
    ui.is_sample()
    and wait_for_first_start(ui.db_path())
    and "sample_banner" not in st.session_state
):
    st.session_state["sample_banner"] = True
    ui.refresh()
page.run()
