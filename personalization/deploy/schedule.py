"""When to retrain: when the data grew by a set share since the last retrain, or every N days,
whichever comes first; and the loop that checks and runs it.

``schedule_status`` says for one kind whether a retrain is due and why, from the last run
recorded in ``retrain_runs`` (its time and the rows its data table held) and the rows the table
holds now. ``check_once`` runs ``retrain`` for every kind that is due; ``run_scheduler`` repeats
that every ``every_minutes`` until stopped (Ctrl-C, or SIGTERM through the command line) and
returns what it did. A retrain that fails is reported and the loop goes on.

The schedule a marketer sets on the Train page (``save_settings``: growth share, days, margin) is
stored in the database; ``settings`` reads it back (the defaults before one is saved), and the
``scheduler`` command uses it for every flag it is not given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from personalization import registry, store
from personalization.deploy import retrain as retraining
from personalization.errors import BadInputError, NotFoundError, PersonalizationError
from personalization.progress import Progress
from personalization.store import jobs

DEFAULT_GROWTH = 0.2
DEFAULT_DAYS = 7.0
DEFAULT_EVERY_MINUTES = 60.0
KINDS = retraining.KINDS


def check_schedule(growth: float, days: float, every_minutes: float | None = None) -> None:
    """Raise ``BadInputError`` for a growth share, a number of days or minutes that is not > 0."""
    for flag, value in (("--growth", growth), ("--days", days), ("--every-minutes", every_minutes)):
        if value is not None and not (isinstance(value, int | float) and value > 0):
            raise BadInputError(f"{flag} must be a number > 0; got {value!r}.")


def settings(db=None) -> dict:
    """The retraining schedule in use: ``growth``, ``days``, ``margin`` and ``saved`` (when it
    was stored; None: the defaults, nothing stored yet)."""
    stored = jobs.read_schedule(db=db)
    if stored is None:
        return {
            "growth": DEFAULT_GROWTH,
            "days": DEFAULT_DAYS,
            "margin": retraining.DEFAULT_MARGIN,
            "saved": None,
        }
    return stored


def save_settings(growth: float, days: float, margin: float, db=None) -> dict:
    """Store the schedule (see ``settings``) for the dashboard and the ``scheduler`` command;
    returns it. ``BadInputError`` for a growth share or days not > 0, or a margin < 0."""
    check_schedule(growth, days)
    margin = retraining.check_margin(margin)
    jobs.save_schedule(growth, days, margin, db=db)
    return settings(db)


def data_table(kind: str, db=None) -> str | None:
    """The table a retrain of ``kind`` reads: the champion's; ``events`` for a first
    recommender; None when there is no classifier to retrain."""
    try:
        info = registry.resolve(kind=kind, db=db)
    except NotFoundError:
        return "events" if kind == "recommender" else None
    details = info.get("details") or {}
    params = info.get("params") or {}
    default = "events" if kind == "recommender" else "customers"
    return details.get("data_table") or params.get("table") or default


def schedule_status(
    kind: str, growth: float = DEFAULT_GROWTH, days: float = DEFAULT_DAYS, db=None
) -> dict:
    """Whether a retrain of ``kind`` is due, and why.

    Returns ``kind``, ``due`` (bool), ``why`` (a sentence), ``data_table``, ``rows_now``,
    ``rows_then`` (at the last run), ``growth`` (share since then), ``days_since`` (since the
    last run) and ``last_run`` (its catalog row, or None). Due when no run is recorded yet, when
    the table changed by ``growth`` or more (or shrank, or is another table), or when ``days``
    have passed.
    """
    check_schedule(growth, days)
    table = data_table(kind, db)
    out = {"kind": kind, "due": False, "data_table": table, "rows_now": None, "rows_then": None}
    out |= {"growth": None, "days_since": None, "last_run": None}
    if table is None:
        return {**out, "why": f"no {kind} to retrain yet: train one first"}
    if not store.table_exists(table, db=db):
        return {**out, "why": f"no table {table} yet: load data first"}
    out["rows_now"] = rows_now = store.count_rows(table, db=db)
    runs = jobs.list_runs(kind, limit=1, db=db)
    if not runs:
        return {**out, "due": True, "why": f"no {kind} retrain has run yet"}
    last = out["last_run"] = runs[0]
    out["rows_then"] = rows_then = int(last["data_rows"] or 0)
    out["growth"] = grown = (rows_now - rows_then) / max(rows_then, 1)
    out["days_since"] = since = (datetime.now() - last["finished"]).total_seconds() / 86400
    if last["data_table"] != table:
        why = f"the data moved from {last['data_table']} to {table} since the last retrain"
        return {**out, "due": True, "why": why}
    if grown < 0:
        why = f"{table} shrank from {rows_then} to {rows_now} rows since the last retrain"
        return {**out, "due": True, "why": why}
    if grown >= growth:
        why = f"{table} grew by {grown:.0%} since the last retrain (retrain at {growth:.0%})"
        return {**out, "due": True, "why": why}
    if since >= days:
        why = f"{since:.1f} days since the last retrain (retrain every {days:g} days)"
        return {**out, "due": True, "why": why}
    why = (
        f"not due: {table} grew by {grown:.0%} of {growth:.0%}, and {since:.1f} of {days:g} days "
        f"have passed since the last retrain"
    )
    return {**out, "why": why}


def check_once(
    kinds: Sequence[str] = KINDS,
    growth: float = DEFAULT_GROWTH,
    days: float = DEFAULT_DAYS,
    margin: float = retraining.DEFAULT_MARGIN,
    db=None,
    progress: Progress = None,
) -> list[dict]:
    """Check each of ``kinds`` and retrain the ones that are due. One dict per kind:
    ``kind``, ``due``, ``why``, ``ran`` (bool) and ``result`` (``retrain``'s) or ``error``."""
    out = []
    for kind in kinds:
        status = schedule_status(kind, growth, days, db)
        entry = {"kind": kind, "due": status["due"], "why": status["why"], "ran": False}
        if status["due"]:
            try:
                entry["result"] = retraining.retrain(
                    kind, margin, trigger="scheduler", db=db, progress=progress
                )
                entry["ran"] = True
            except PersonalizationError as exc:
                entry["error"] = str(exc)
        out.append(entry)
    return out


def run_scheduler(
    kinds: Sequence[str] = KINDS,
    every_minutes: float = DEFAULT_EVERY_MINUTES,
    growth: float = DEFAULT_GROWTH,
    days: float = DEFAULT_DAYS,
    margin: float = retraining.DEFAULT_MARGIN,
    once: bool = False,
    db=None,
    log: Callable[[dict], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Check (and retrain what is due) every ``every_minutes`` until interrupted, or once.

    Each check's entries go to ``log`` as they come. Returns ``checks`` (how many),
    ``runs`` (the retrains run), ``errors`` (the ones that failed), ``last`` (the last check's
    entries) and ``stopped`` (``"once"`` or ``"interrupted"``). Ctrl-C (``KeyboardInterrupt``)
    stops it cleanly: a retrain cut short saves nothing.
    """
    check_schedule(growth, days, every_minutes)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise BadInputError(f"--kind must be one of {', '.join(KINDS)}; got {unknown[0]!r}.")
    summary: dict = {"checks": 0, "runs": [], "errors": [], "last": [], "stopped": "once"}
    try:
        while True:
            entries = check_once(kinds, growth, days, margin, db)
            summary["checks"] += 1
            summary["last"] = entries
            summary["runs"] += [e["result"] for e in entries if e["ran"]]
            summary["errors"] += [e for e in entries if "error" in e]
            for entry in entries:
                if log is not None:
                    log({"checked": datetime.now().isoformat(timespec="seconds"), **entry})
            if once:
                return summary
            sleep(float(every_minutes) * 60.0)
    except KeyboardInterrupt:
        summary["stopped"] = "interrupted"
        return summary


def overview(
    growth: float | None = None, days: float | None = None, limit: int = 20, db=None
) -> dict:
    """What the dashboard shows: ``settings`` (the stored schedule, see ``settings``; ``growth``
    and ``days`` given here override it), ``schedule`` (one row per kind: ``kind``, ``due``, ``why``,
    ``data_table``, ``rows_now``, ``rows_then``) and ``runs`` (the latest ``limit`` retrains,
    newest first: ``finished``, ``kind``, ``promoted``, ``champion``, ``challenger``,
    ``metric``, ``champion_score``, ``challenger_score``, ``why``, ``trigger``)."""
    stored = settings(db)
    growth = stored["growth"] if growth is None else growth
    days = stored["days"] if days is None else days
    keys = ("kind", "due", "why", "data_table", "rows_now", "rows_then")
    statuses = [schedule_status(kind, growth, days, db) for kind in KINDS]
    schedule = [{k: status[k] for k in keys} for status in statuses]
    columns = (
        "finished", "kind", "promoted", "champion", "challenger", "metric", "champion_score",
        "challenger_score", "why", "trigger",
    )  # fmt: skip
    runs = [{c: run[c] for c in columns} for run in jobs.list_runs(limit=limit, db=db)]
    return {"settings": stored, "schedule": schedule, "runs": runs}
