"""Shared helpers for every dashboard page: layout, empty states, errors, cached loaders, formats.

Pages stay thin: read widgets, call ``personalization`` (through the cached loaders here when the
result is reused across reruns), render. The API:

- ``header(title, intro)``: page title and a one-paragraph explanation.
- ``empty_state(message, page_path, label)``: say what is missing, link the page that fixes it, stop.
- ``link(page_path, label, icon)``: a ``st.page_link`` that is left out while the page file is absent.
- ``show_error(exc)``: one ``st.error`` with the message of a ``PersonalizationError``.
- ``progress_bar(container)``: a bar in ``container`` and the progress callable that moves it.
- ``cancel_button(container, key)``: a Cancel button for the long work that follows it;
  ``cancelled(key)``: whether it was clicked (the work then stopped at its next progress report);
  ``show_cancelled(what, finished)``: say so.
- Workspaces: ``WORKSPACES`` (the sample shop, in a database of its own, and the user's own
  data); ``workspace()`` the one open in this session, ``is_sample()``, ``open_workspace(name)``;
  ``db_path()``: the database file of the open workspace.
- ``data_version()``: a token that changes whenever tables or models change; ``refresh()`` after a
  page writes (ingest, train, promote) so the next read sees it at once.
- Cached loaders (all keyed by database path and data version): ``tables()``, ``overview()``,
  ``readiness()``, ``profile(table)``, ``preview(table, limit)``, ``table(name, columns)``,
  ``models(kind)``. ``load_model(model_id)`` goes to ``registry.load_model``, which keeps the
  recently used artifacts in memory (the library's one cache of loaded models).
- ``model_label(model)``: a catalog row as a readable one-line label (for selectboxes);
  ``pick_model(kind, ...)``: a select box of the trained models of a kind.
- Formats: ``fmt_int``, ``fmt_pct``, ``fmt_num``, ``fmt_date``.
- ``METRIC_HELP`` / ``metric_help(name)``: one-sentence explanations of metrics for
  non-specialists; ``metric_label(key)``: a metric key as a card label.

Library modules that pull in heavy dependencies are imported where they are used, so that a page
that does not need them starts quickly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import streamlit as st

from personalization import config, registry, store
from personalization.errors import PersonalizationError
from personalization.store import parquet_tables

__all__ = [
    "METRIC_HELP",
    "WORKSPACES",
    "cancel_button",
    "cancelled",
    "show_cancelled",
    "data_version",
    "db_path",
    "empty_state",
    "fmt_date",
    "fmt_int",
    "fmt_num",
    "fmt_pct",
    "header",
    "is_sample",
    "open_workspace",
    "link",
    "load_model",
    "loaded_tables",
    "metric_help",
    "metric_label",
    "model_label",
    "models",
    "overview",
    "pick_model",
    "preview",
    "profile",
    "progress_bar",
    "readiness",
    "refresh",
    "show_error",
    "table",
    "table_names_or_stop",
    "tables",
    "workspace",
]

ROOT = Path(__file__).resolve().parent
CACHE_TTL_SECONDS = 600
VERSION_TTL_SECONDS = 5

METRIC_HELP: dict[str, str] = {
    "events": "Every recorded action of a customer: a view, a click, a purchase, a rating.",
    "users": "Distinct customers (user ids) seen in the events.",
    "items": "Distinct products or contents (item ids) seen in the events.",
    "rows_read": "Lines of the file that were read, the header not counted.",
    "rows_loaded": "Rows now stored in the table and ready to use.",
    "rows_rejected": "Rows left out because a required value was missing or unreadable; "
    "the table below says which line and why.",
    "duplicates_dropped": "Rows identical in every column to an earlier row; kept once.",
    "precision": "Of the items we recommended, the share the customer went on to use.",
    "recall": "Of the items the customer went on to use, the share we had recommended.",
    "ndcg": "Like precision, but a hit near the top of the list counts more (0 to 1, higher is better).",
    "map": "Mean average precision: rewards putting the right items early in the list (0 to 1).",
    "hit_rate": "Share of customers for whom at least one recommended item was right.",
    "coverage": "Share of the catalogue that appears in anyone's recommendations.",
    "novelty": "How unusual the recommended items are; higher means fewer best-sellers.",
    "roc_auc": "How well the model ranks converters above non-converters: 0.5 is a coin toss, "
    "1.0 is perfect.",
    "pr_auc": "Precision averaged over every cut-off; compare it with the conversion rate.",
    "f1": "Balance of precision and recall at the chosen threshold (0 to 1).",
    "threshold": "Score above which a customer is counted as a likely converter.",
    "lift": "How many times more conversions than contacting customers at random.",
    "score": "How strongly the model suggests the item for this customer; "
    "compare scores within one list, not across models.",
}


METRIC_LABELS: dict[str, str] = {
    "ndcg": "Ranking quality",
    "precision": "Precision",
    "recall": "Recall",
    "hit_rate": "Hit rate",
    "coverage": "Catalogue coverage",
    "map": "MAP",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "f1": "F1",
}


def metric_help(name: str) -> str | None:
    """The plain explanation of a metric; ``precision@10`` finds ``precision``."""
    key = name.split("@")[0].lower()
    return METRIC_HELP.get(key)


def metric_label(key: str) -> str:
    """``ndcg@10`` -> ``Ranking quality @10``: a readable card label that keeps the cut-off."""
    name, _, k = key.partition("@")
    return METRIC_LABELS.get(name, name) + (f" @{k}" if k else "")


def header(title: str, intro: str) -> None:
    """The page title with a short explanation of what the page is for."""
    st.title(title)
    st.caption(intro)


def empty_state(message: str, page_path: str, label: str) -> NoReturn:
    """Say what is missing, link to the page that fixes it, and stop the page."""
    st.info(message, icon=":material/info:")
    link(page_path, label, ":material/arrow_forward:")
    st.stop()


def link(page_path: str, label: str, icon: str | None = None) -> None:
    """Link to another page (path relative to the project, e.g. ``pages/data.py``) if it exists."""
    if (ROOT / page_path).exists():
        st.page_link(page_path, label=label, icon=icon)


def show_error(exc: PersonalizationError) -> None:
    """Show a library error as one readable message (only the family the library raises); a
    database busy with another writer is a waiting state with a retry, not an error."""
    from personalization.errors import DatabaseBusyError

    if isinstance(exc, DatabaseBusyError):
        who = f" ({exc.holder})" if exc.holder else ""
        st.info(
            f"Waiting: another program{who} is writing to this database. Nothing is wrong and "
            "nothing was changed; this page can read again as soon as it finishes.",
            icon=":material/hourglass_top:",
        )
        if st.button("Try again", icon=":material/refresh:", key=f"busy_retry_{id(exc)}"):
            refresh()
            st.rerun()
        return
    st.error(str(exc), icon=":material/error:")


def progress_bar(container: Any = st, text: str = "Starting…") -> Callable[[float, str], None]:
    """A progress bar in ``container`` and the callable (``fraction`` 0..1, message) that moves
    it: the ``progress`` argument of the library's long functions."""
    bar = container.progress(0.0, text=text)

    def move(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

    return move


def cancel_button(container: Any, key: str, label: str = "Cancel") -> None:
    """A button in ``container`` that cancels the long work started right after it.

    Streamlit stops a running script at its next call (a progress report) when a widget is
    used, and starts a new run: clicking this button stops the work there (the library's long
    functions write what they keep only at their end, in one step) and ``cancelled(key)`` tells
    the new run so, once. Show the button before the work starts."""
    container.button(
        label, key=key, icon=":material/cancel:", on_click=_mark_cancelled, args=(key,)
    )


def _mark_cancelled(key: str) -> None:
    st.session_state[f"{key}__cancelled"] = True


def cancelled(key: str) -> bool:
    """Whether the ``cancel_button`` of ``key`` was clicked since this was last asked."""
    return bool(st.session_state.pop(f"{key}__cancelled", False))


def show_cancelled(what: str, finished: str | None = None) -> None:
    """Say that ``what`` (e.g. "The training") was cancelled and nothing was stored, or, when
    it had ``finished`` (its result's id) before the click was seen, that it was kept."""
    if finished:
        st.info(
            f"{what} had already finished when you cancelled it: it is saved as {finished}.",
            icon=":material/info:",
        )
        return
    st.info(
        f"{what} was cancelled before it finished; nothing was stored and everything is as it was.",
        icon=":material/cancel:",
    )


WORKSPACES = {"sample": "Sample shop", "mine": "My data"}


def workspace() -> str:
    """The workspace open in this session: ``sample`` or ``mine``. A new session opens the user's
    own data when there is some, else the sample shop."""
    if st.session_state.get("workspace") not in WORKSPACES:
        from personalization import workspace as library

        st.session_state["workspace"] = "mine" if library.has_own_data() else "sample"
    return st.session_state["workspace"]


def is_sample() -> bool:
    return workspace() == "sample"


def open_workspace(name: str) -> None:
    """Switch this session to the workspace ``name`` (``sample`` or ``mine``)."""
    if name not in WORKSPACES:
        raise ValueError(f"workspace must be one of {sorted(WORKSPACES)}")
    st.session_state["workspace"] = name
    refresh()


def db_path() -> str:
    """The database file of the open workspace, as an absolute path string (a cache key)."""
    path = config.sample_db_path() if is_sample() else config.db_path()
    return str(path.resolve())


def refresh() -> None:
    """Forget the data version so the next read sees what a page has just written."""
    _version.clear()


def data_version() -> str:
    """A token that changes when a table, a dataset or a model changes (re-read every few seconds)."""
    return _version(db_path())


@st.cache_data(ttl=VERSION_TTL_SECONDS, show_spinner=False)
def _version(db: str) -> str:
    tables_now = store.list_tables(db=db) + parquet_tables.parquet_datasets(db=db)
    models_now = [(m["model_id"], m["status"]) for m in registry.list_models(db=db)]
    loaded = store.datasets(db=db)
    stamps = loaded["ingested_at"].astype(str).tolist() if len(loaded) else []
    return registry.fingerprint(tables_now, models_now, stamps)


def tables() -> list[dict]:
    """Every user table: ``name``, ``kind``, ``rows``."""
    return _tables(db_path(), data_version())


def loaded_tables() -> list[dict]:
    """What the Home page lists: the tables, then the Parquet datasets of ``--engine spark``
    (their kind says so; the pages read tables only)."""
    spark = [
        {"name": d["table_name"], "kind": f"{d['kind']} (Parquet, Spark)", "rows": d["rows"]}
        for d in _parquet_datasets(db_path(), data_version())
    ]
    return tables() + spark


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _parquet_datasets(db: str, version: str) -> list[dict]:
    return parquet_tables.parquet_datasets(db=db)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _tables(db: str, version: str) -> list[dict]:
    return store.list_tables(db=db)


def overview() -> dict:
    """Key figures for the home page (see ``personalization.data.profile.overview``)."""
    return _overview(db_path(), data_version())


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner="Reading the database…")
def _overview(db: str, version: str) -> dict:
    from personalization.data import profile

    return profile.overview(db=db)


def readiness() -> dict:
    """``can_recommend``, ``can_classify`` and the checks (see ``personalization.data.profile.readiness``)."""
    return _readiness(db_path(), data_version())


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _readiness(db: str, version: str) -> dict:
    from personalization.data import profile

    return profile.readiness(db=db)


def profile(table_name: str) -> dict:
    """The data-quality profile of one table (see ``personalization.data.profile.profile_table``)."""
    return _profile(table_name, db_path(), data_version())


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner="Profiling the table…")
def _profile(table_name: str, db: str, version: str) -> dict:
    from personalization.data import profile

    return profile.profile_table(table_name, db=db)


def preview(table_name: str, limit: int = 20) -> pd.DataFrame:
    """The first ``limit`` rows of a table."""
    return _read(table_name, None, limit, db_path(), data_version())


def table(name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A whole table (or some of its columns); meant for small tables such as users and items."""
    return _read(name, tuple(columns) if columns else None, None, db_path(), data_version())


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _read(
    name: str, columns: tuple[str, ...] | None, limit: int | None, db: str, version: str
) -> pd.DataFrame:
    return store.read_table(name, columns=columns, limit=limit, db=db)


def models(kind: str | None = None) -> list[dict]:
    """Catalog rows of the trained models of ``kind``, newest first."""
    return _models(kind, db_path(), data_version())


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _models(kind: str | None, db: str, version: str) -> list[dict]:
    return registry.list_models(kind=kind, db=db)


def load_model(model_id: str) -> tuple[Any, dict]:
    """A model artifact and its catalog row (``registry.load_model``: read from disk once, then
    kept in memory while it is among the recently used)."""
    with st.spinner("Loading the model…"):
        return registry.load_model(model_id, db=db_path())


def model_label(model: dict) -> str:
    """A catalog row as people read it: ``My model · SVD · trained 2026-11-29 15:29 · in use``
    (``SVD on Spark`` for a model trained with ``--engine spark``)."""
    parts = [model["name"]] if model.get("name") else []
    algo = str(model["algo"])
    algo = algo.upper() if len(algo) <= 4 else algo.replace("_", " ").capitalize()
    if (model.get("params") or {}).get("engine") == "spark":
        algo += " on Spark"
    parts.append(algo)
    parts.append(f"trained {(model.get('created') or '')[:16].replace('T', ' ')}")
    if model.get("status") == "promoted":
        parts.append("in use")
    return " · ".join(parts)


def table_names_or_stop(require: str | None = None, missing: str = "") -> set[str]:
    """Names of the stored tables; shows the library's error and stops when the database cannot
    be read, and an empty state linking to the Data page when table ``require`` is missing."""
    try:
        names = {t["name"] for t in tables()}
    except PersonalizationError as exc:
        show_error(exc)
        st.stop()
    if require and require not in names:
        empty_state(missing, "pages/data.py", f"Load {require} on the Data page")
    return names


def pick_model(kind: str, empty_message: str, key: str, help: str, container: Any = st) -> dict:
    """A select box of the trained models of ``kind``, the promoted one first; when there is
    none, an empty state linking to the Train page (which stops the page)."""
    runs = models(kind)
    if not runs:
        what = "recommender" if kind == "recommender" else "conversion model"
        empty_state(empty_message, "pages/train.py", f"Train a {what}")
    by_id = {r["model_id"]: r for r in sorted(runs, key=lambda r: r["status"] != "promoted")}
    label = "Model" if kind == "recommender" else "Conversion model"
    chosen = container.selectbox(
        label,
        list(by_id),
        key=key,
        help=help,
        format_func=lambda m: f"{model_label(by_id[m])} ({m[-4:]})",
    )
    model_data_note(by_id[chosen], container)
    return by_id[chosen]


def model_data_note(model: dict, container: Any = st) -> None:
    """Under a model choice: what data the model was trained on, and a warning when that data has
    changed since (retrain it on the Train page)."""
    state = _data_state(model["model_id"], db_path(), data_version())
    if state["current"] is False:
        container.warning(
            f"This model is out of date: {state['message']}. Its suggestions come from the "
            "earlier data; train a new one on the Train page.",
            icon=":material/update:",
        )
    elif state.get("newer_rows"):
        container.info(
            f"Newer data is available: this model was {state['message']}. Retrain it on the "
            "Train page (Retraining tab).",
            icon=":material/update:",
        )
    elif state["table"]:
        container.caption(f"Trained on the data now in **{state['table']}**.")


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _data_state(model_id: str, db: str, version: str) -> dict:
    return registry.data_state(registry.resolve(model_id, db=db), db=db)


def fmt_int(value: Any) -> str:
    """``1234567`` -> ``1,234,567``; missing -> ``–``."""
    if _missing(value):
        return "–"
    return f"{int(round(float(value))):,}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A share in 0..1 as a percentage: ``0.1234`` -> ``12.3%``."""
    if _missing(value):
        return "–"
    return f"{float(value) * 100:,.{digits}f}%"


def fmt_num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals and thousands separators."""
    if _missing(value):
        return "–"
    return f"{float(value):,.{digits}f}"


def fmt_date(value: Any) -> str:
    """A date or timestamp as ``2024-03-01``."""
    if _missing(value):
        return "–"
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value)) or (isinstance(value, float) and math.isinf(value))
    except (TypeError, ValueError):
        return False


def _leave_pages_folder_mode() -> None:
    """Hand a session that Streamlit opened on ``pages/x.py`` back to ``app.py``'s navigation.

    A fresh server treats the ``pages/`` folder as the old automatic multipage layout until
    ``st.navigation`` has run once, so a bookmarked ``/data`` opened first would show bare file
    names and skip ``app.py``. Turning that mode off and rerunning lets ``app.py`` lay out the app.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_folder_mode()
