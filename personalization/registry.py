"""Save, load, list and promote models.

An artifact is a folder ``<models_dir>/<model_id>/`` beside the database file holding
``model.joblib`` (the fitted object and whatever it needs to score: id maps, pipelines) and
``meta.json``; the catalog row lives in the DuckDB ``models`` table. Loaded artifacts are kept in
memory (the ``LOADED_MODELS`` most recently used model files, keyed by file and modification time),
the one cache of loaded models for the command line, the pages and serving.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import shutil
import threading
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from personalization import __version__, config, store
from personalization.errors import IncompatibleModelError, NotFoundError
from personalization.store import catalog as store_catalog
from personalization.values import is_number

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = 1
MODEL_FILE, META_FILE = "model.joblib", "meta.json"
KINDS = ("recommender", "classifier")
LOADED_MODELS = 4
RUN_COLUMNS = ("model", "algorithm", "status", "name", "trained", "data")

_LOADED: OrderedDict[tuple, Any] = OrderedDict()
_LOADED_LOCK = threading.Lock()


def new_model_id(kind: str, algo: str) -> str:
    prefix = "rec" if kind == "recommender" else "clf"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{prefix}-{algo}-{stamp}-{secrets.token_hex(2)}"


def fingerprint(*parts: Any) -> str:
    """A short, stable hash of the data a model was trained on (shapes, counts, ids)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode())
    return digest.hexdigest()[:16]


def save_model(
    artifact: Any,
    kind: str,
    algo: str,
    params: dict,
    metrics: dict,
    data_fingerprint: str,
    name: str | None = None,
    db=None,
    *,
    data_table: str | None = None,
    hold: str | None = None,
) -> str:
    """Write ``artifact`` to disk and add its catalog row; return the new model id.

    The row's ``details`` record the table the model was trained on (``data_table``, else the
    artifact's ``table`` or ``params["table"]``) and what it held then, ``hold`` (a reason not to
    promote it, such as a leakage warning) and the SHA-256 of every file, checked before each load.
    The model is promoted when it is the first of its kind, or when the promoted one was trained
    on data that is no longer there (its table replaced or dropped; appended rows are newer data,
    not gone) and no hold forbids it (``promotion_block``); otherwise it is a candidate.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    model_id = new_model_id(kind, algo)
    folder = config.models_dir(db) / model_id
    folder.mkdir(parents=True, exist_ok=False)
    table = data_table or getattr(artifact, "table", None) or (params or {}).get("table")
    try:
        import joblib  # here, not at the top: commands that only list models start faster

        joblib.dump(artifact, folder / MODEL_FILE)
        meta = {
            "model_id": model_id,
            "kind": kind,
            "algo": algo,
            "params": params,
            "format_version": FORMAT_VERSION,
            "library_version": __version__,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        details = {
            "data_table": table,
            "data_stamp": store.table_stamp(table, db=db) if table else None,
            "hold": hold,
            "files": {name: _sha256(folder / name) for name in (MODEL_FILE, META_FILE)},
        }
        status, why = _status_of_new(kind, hold, db)
        details["promotion"] = why
        store.insert_model(
            model_id,
            kind,
            algo,
            name,
            params,
            metrics,
            data_fingerprint,
            status="candidate",
            details=details,
            db=db,
        )
        if status == "promoted":
            store.set_promoted(model_id, kind, db=db)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(Exception):
            store.delete_model(model_id, db=db)
        raise
    return model_id


def _status_of_new(kind: str, hold: str | None, db) -> tuple[str, str]:
    """Whether a new model of ``kind`` becomes the default, and why, in a sentence."""
    models = store.list_models(kind=kind, db=db)
    if hold:
        return "candidate", f"not promoted: {hold}"
    if not models:
        return "promoted", f"the first {kind}, so it is the default"
    champion = next((m for m in models if m["status"] == "promoted"), None)
    if champion is None:
        return "promoted", f"no {kind} was the default"
    if hold_of(champion):
        return "candidate", f"not promoted: {held_default(champion)}"
    state = data_state(champion, db=db)
    if state["current"] is False:
        return "promoted", (
            f"it replaces {champion['model_id']}, which was trained on data no longer loaded "
            f"({state['message']})"
        )
    if state["newer_rows"]:
        return "candidate", (
            f"{champion['model_id']} stays the default: it was trained on the same table before "
            f"{state['newer_rows']:,} rows were added; compare them, or let retrain decide"
        )
    return "candidate", f"{champion['model_id']} stays the default (trained on the same data)"


def hold_of(info: dict) -> str | None:
    """The hold on the catalog row ``info`` (a reason its standing must not change by itself),
    or None."""
    return (info.get("details") or {}).get("hold") or None


def held_default(champion: dict) -> str:
    return f"the default {champion['model_id']} is held ({hold_of(champion)})"


def set_hold(model_id: str, reason: str | None, db=None) -> dict:
    """Hold ``model_id`` with ``reason``, or release it with None; its new catalog row.

    A held model keeps its standing against every automatic promotion (``auto_promote``: a new
    model at save, a retrain, a fold-in): a held candidate is not promoted, a held default is
    not replaced. ``promote`` by hand still works.
    """
    info = resolve(model_id, db=db)
    details = {**(info.get("details") or {}), "hold": (reason or "").strip() or None}
    store_catalog.update_model_details(info["model_id"], details, db=db)
    return resolve(model_id, db=db)


def promotion_block(info: dict, db=None) -> str | None:
    """Why the catalog row ``info`` may not be promoted automatically (its own hold, or a hold
    on the default of its kind), or None when it may."""
    if info["status"] == "promoted":
        return None
    if hold_of(info):
        return f"it is held ({hold_of(info)})"
    try:
        champion = resolve(kind=info["kind"], db=db)
    except NotFoundError:
        return None
    if champion["status"] == "promoted" and champion["model_id"] != info["model_id"]:
        if hold_of(champion):
            return held_default(champion)
    return None


def auto_promote(model_id: str, db=None) -> tuple[bool, str | None]:
    """Promote ``model_id`` unless a hold forbids it (see ``promotion_block``): the one path of
    every automatic promotion. Returns (whether it is the default now, why not or None)."""
    info = resolve(model_id, db=db)
    block = promotion_block(info, db=db)
    if block:
        return False, block
    if info["status"] != "promoted":
        store.set_promoted(info["model_id"], info["kind"], db=db)
    return True, None


def data_state(info: dict, db=None) -> dict:
    """Whether the data ``info`` (a catalog row) was trained on is still loaded.

    ``current`` is True when every row it was trained on is still there (``newer_rows`` > 0 when
    rows were appended since: newer data is available, the model is still comparable and a
    fold-in or retrain candidate), False when that data is gone (its table was loaded again with
    ``--mode replace``, or dropped) and None for a model saved before this was recorded.
    ``table`` names the table; ``message`` says it in plain words. Stamps recorded before
    generations were kept (see ``store.table_stamp``) count any change as gone.
    """
    details = info.get("details") or {}
    table, stamp = details.get("data_table"), details.get("data_stamp")
    out = {"current": None, "table": table, "newer_rows": 0}
    if not table or not stamp:
        return {**out, "message": "what it was trained on is not recorded"}
    now = store.table_stamp(table, db=db)
    if now is None:
        message = f"it was trained on the table {table}, which is no longer there"
        return {**out, "current": False, "message": message}
    then_parts, now_parts = store_catalog.stamp_parts(stamp), store_catalog.stamp_parts(now)
    if then_parts and now_parts and then_parts[0] == now_parts[0] and now_parts[1] > then_parts[1]:
        newer = now_parts[1] - then_parts[1]
        message = (
            f"trained on the data in {table}; {newer:,} newer rows were added since "
            f"(a fold-in or a retrain can learn from them)"
        )
        return {**out, "current": True, "newer_rows": newer, "message": message}
    if now != stamp:
        told = now_parts and not now_parts[0].startswith(store_catalog.UNTOLD)
        again = "loaded again (replaced)" if then_parts and told else "loaded again or added to"
        message = f"{table} has been {again} since it was trained"
        return {**out, "current": False, "message": message}
    return {**out, "current": True, "message": f"trained on the data now in {table}"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(model_id: str | None = None, kind: str | None = None, db=None) -> tuple[Any, dict]:
    """An artifact and its catalog row; without ``model_id``, the promoted one of ``kind``.

    The artifact is read from disk once and then shared (treat it as read-only) while it is among
    the ``LOADED_MODELS`` most recently used; files rewritten on disk are read again. Raises
    ``NotFoundError`` for an unknown model or missing files, ``IncompatibleModelError`` for one
    saved by a version this one cannot read ("train it again").
    """
    info = resolve(model_id, kind, db=db)
    folder = config.models_dir(db) / info["model_id"]
    key = (
        str(folder.resolve()),
        *(_mtime(folder / name) for name in (MODEL_FILE, META_FILE)),
    )
    with _LOADED_LOCK:
        if key in _LOADED:
            _LOADED.move_to_end(key)
            return _LOADED[key], info
    artifact = _read_artifact(folder, info)
    with _LOADED_LOCK:
        _LOADED[key] = artifact
        while len(_LOADED) > LOADED_MODELS:
            _LOADED.popitem(last=False)
    return artifact, info


def _read_artifact(folder: Path, info: dict) -> Any:
    model_id = info["model_id"]
    fix = f"train it again, or remove it with: python -m personalization delete-model {model_id}"
    meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
    if not meta_path.exists() or not model_path.exists():
        raise NotFoundError(f"The files of model {model_id} are missing from {folder}; {fix}")
    _check_files(folder, info, fix)
    try:
        meta = json.loads(meta_path.read_text())
        version = meta.get("format_version")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise IncompatibleModelError(
            f"Model {model_id} is damaged: its meta.json cannot be read ({_first_line(exc)}); {fix}"
        ) from exc
    if version != FORMAT_VERSION:
        raise IncompatibleModelError(
            f"Model {model_id} was saved in format {version} by "
            f"version {meta.get('library_version')}; this version reads format {FORMAT_VERSION}. "
            f"Train it again with this version."
        )
    from personalization import safe_load  # joblib's unpickler, only when a model is read

    try:
        return safe_load.load_artifact(model_path)
    except safe_load.UntrustedModelError as exc:
        raise IncompatibleModelError(
            f"Model {model_id} was not loaded: {exc}, so the file was not written by this "
            f"workbench and nothing in it was run; remove it with: "
            f"python -m personalization delete-model {model_id}"
        ) from exc
    except Exception as exc:  # any damage or an older layout: one message, never a traceback
        raise IncompatibleModelError(
            f"Model {model_id} cannot be read by this version (damaged, or saved before a change "
            f"of the library: {type(exc).__name__}: {_first_line(exc)}); {fix}"
        ) from exc


def _check_files(folder: Path, info: dict, fix: str) -> None:
    """Refuse files whose SHA-256 differs from the one recorded when the model was saved."""
    model_id = info["model_id"]
    recorded = (info.get("details") or {}).get("files")
    if not recorded:
        raise IncompatibleModelError(
            f"Model {model_id} was saved before model files were checked, so it is not loaded; "
            f"{fix}"
        )
    for name, digest in recorded.items():
        if _sha256(folder / name) != digest:
            raise IncompatibleModelError(
                f"Model {model_id} was not loaded: its file {name} changed after it was saved "
                f"(SHA-256 differs), so nothing in it was run; {fix}"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no detail"


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


def resolve(model_id: str | None = None, kind: str | None = None, db=None) -> dict:
    """The catalog row of ``model_id``, or of the promoted (else newest) model of ``kind``."""
    if model_id:
        info = store.get_model(model_id, db=db)
        if info is None:
            known = ", ".join(m["model_id"] for m in store.list_models(kind=kind, db=db)[:5])
            raise NotFoundError(
                f"There is no model {model_id!r}; known models: {known or 'none yet'}. "
                f"List them with: python -m personalization models"
            )
        if kind and info["kind"] != kind:
            raise NotFoundError(f"Model {model_id} is a {info['kind']}, not a {kind}.")
        return info
    models = store.list_models(kind=kind, db=db)
    if not models:
        what = kind or "model"
        hint = "train-recommender" if kind == "recommender" else "train-classifier"
        raise NotFoundError(
            f"No {what} has been trained yet; train one with: python -m personalization {hint}"
        )
    promoted = [m for m in models if m["status"] == "promoted"]
    return promoted[0] if promoted else models[0]


def standing(model_id: str, db=None) -> dict:
    """``status`` of a just-saved model, ``why`` it is (or is not) the default, and for a
    candidate a ``note`` on how to use it; when it beats the default on the same data and the
    same validation, the note suggests promoting it."""
    info = resolve(model_id, db=db)
    why = (info.get("details") or {}).get("promotion") or ""
    if info["status"] == "promoted":
        return {"status": "promoted", "why": why}
    current = resolve(kind=info["kind"], db=db)
    better = better_than(info, current)
    note = (
        f"{model_id} is a candidate: without --model, the commands use the promoted "
        f"{info['kind']} {current['model_id']}. Use --model {model_id}, or make it the default "
        f"with: python -m personalization promote {model_id}"
    )
    if better:
        note = f"{better}; promote it with: python -m personalization promote {model_id}"
    return {"status": info["status"], "why": why, "note": note}


def better_than(info: dict, other: dict) -> str | None:
    """A sentence when ``info`` scores higher than ``other`` on the same data and validation
    (same data fingerprint, same headline metric and split); None otherwise."""
    if info["model_id"] == other["model_id"] or info.get("data_fingerprint") != other.get(
        "data_fingerprint"
    ):
        return None
    mine, theirs = headline_metrics(info), headline_metrics(other)
    for key in ("ndcg@10", "roc_auc", *sorted(mine)):
        if key in mine and key in theirs and _split(info) == _split(other):
            if mine[key] > theirs[key]:
                return (
                    f"{info['model_id']} scores {key} {mine[key]:.3f} against "
                    f"{theirs[key]:.3f} for the default {other['model_id']} on the same data"
                )
            return None
    return None


def _split(info: dict) -> Any:
    metrics = info.get("metrics") or {}
    return metrics.get("split"), metrics.get("k")


def list_models(kind: str | None = None, db=None) -> list[dict]:
    """Catalog rows (``model_id``, ``kind``, ``algo``, ``name``, ``params``, ``metrics``,
    ``status``, ``created``, ...) of every model or of ``kind``, newest first."""
    return store.list_models(kind=kind, db=db)


def headline_metrics(info: dict) -> dict[str, float]:
    """The numbers a run is judged by, from its catalog row: a classifier's test-split metrics,
    a recommender's holdout metrics (``ndcg@10``, ...); counts and notes left out."""
    metrics = info.get("metrics") or {}
    source = metrics.get("test") if isinstance(metrics.get("test"), dict) else metrics
    return {
        k: float(v) for k, v in source.items() if is_number(v) and k not in ("rows", "positives")
    }


def runs_table(runs: list[dict], db=None) -> pd.DataFrame:
    """One row per catalog row in ``runs``: ``RUN_COLUMNS`` (``trained`` as ``YYYY-MM-DD HH:MM``;
    ``data``: "current" or "earlier data", see ``data_state``) and then each headline metric
    (rounded to 4 decimals; missing where a run lacks it)."""
    rows = []
    for info in runs:
        current = data_state(info, db=db)["current"]
        row = {
            "model": info["model_id"],
            "algorithm": info["algo"],
            "status": info["status"],
            "name": info.get("name") or "",
            "trained": (info.get("created") or "")[:16].replace("T", " "),
            "data": {True: "current", False: "earlier data"}.get(current, "not recorded"),
        }
        row.update({k: round(v, 4) for k, v in headline_metrics(info).items()})
        rows.append(row)
    import pandas as pd

    return pd.DataFrame(rows, columns=None if rows else list(RUN_COLUMNS))


def promote(model_id: str, db=None) -> dict:
    """Make ``model_id`` the one its kind's commands and pages use by default; its new row."""
    info = resolve(model_id, db=db)
    store.set_promoted(model_id, info["kind"], db=db)
    return resolve(model_id, db=db)


def delete(model_id: str, db=None) -> None:
    """Remove ``model_id`` from the catalog and its files from disk."""
    info = resolve(model_id, db=db)
    store.delete_model(info["model_id"], db=db)
    shutil.rmtree(config.models_dir(db) / info["model_id"], ignore_errors=True)
