"""Alerts: the rules a scheduler checks, and the webhook that hears about them.

Rules (``AlertRules`` holds their thresholds; each check that cannot run says why in ``skipped``):

- ``drift``: a feature among the important ones of the promoted classifier (see
  ``drift.summarise``) drifted at the ``act`` level between the data it was trained on and its
  table now.
- ``auc_drop``: the promoted classifier's ROC-AUC on its table now is more than ``auc_drop``
  below its test ROC-AUC.
- ``click_through_drop``: click-through of the lists logged in the latest week fell by more than
  ``ctr_drop`` (relative) against the week before.
- ``no_events``: the newest event is more than ``quiet_hours`` old.

An alert is ``rule``, ``value``, ``threshold`` and ``message``. ``send_webhook`` posts them as JSON;
a webhook that is down is reported in the result and never stops the checks.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from personalization import registry
from personalization.errors import BadInputError, NotFoundError
from personalization.store import monitoring as store_monitoring

RULES = ("drift", "auc_drop", "click_through_drop", "no_events")
# the rules that say a model degraded, and the kind of model a retrain would replace
RETRAIN_KIND = {
    "drift": "classifier",
    "auc_drop": "classifier",
    "click_through_drop": "recommender",
}
WEBHOOK_TIMEOUT = 5.0


@dataclass(frozen=True)
class AlertRules:
    """Thresholds of the rules: PSI at which drift acts, ROC-AUC drop, relative click-through
    drop, hours without events; the events table."""

    psi_act: float = 0.25
    auc_drop: float = 0.05
    ctr_drop: float = 0.2
    quiet_hours: float = 24.0
    table: str = "events"

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name != "table" and not value > 0:
                raise BadInputError(f"Alert threshold {name} must be above 0; got {value}.")


def alert(rule: str, value: float, threshold: float, message: str) -> dict[str, Any]:
    return {"rule": rule, "value": value, "threshold": threshold, "message": message}


def degraded_kinds(found: list[dict]) -> list[str]:
    """The kinds of model (``recommender``, ``classifier``) that alerts in ``found`` say have
    degraded, so that retraining them is the next step; in ``RETRAIN_KIND`` order, once each."""
    fired = {a["rule"] for a in found}
    return list(dict.fromkeys(kind for rule, kind in RETRAIN_KIND.items() if rule in fired))


def check_drift(rules: AlertRules, db=None, now: datetime | None = None) -> list[dict]:
    from personalization.monitoring.drift import DriftThresholds, drift_report

    info = registry.resolve(None, "classifier", db=db)
    artifact, _ = registry.load_model(info["model_id"], kind="classifier", db=db)
    t = DriftThresholds(psi_watch=min(0.1, rules.psi_act), psi_act=rules.psi_act)
    report = drift_report(None, artifact.table, info["model_id"], t, db=db)
    important = set(report["important"])
    return [
        alert(
            "drift",
            f["psi"],
            rules.psi_act,
            f"Feature {f['feature']!r} of model {info['model_id']} drifted (PSI {f['psi']:.2f}, "
            f"{f['test']} p={f['p_value']:.2g}) since training; retrain it on recent data.",
        )
        for f in report["features"]
        if f["drifted"] and f["drift"] == "act" and f["feature"] in important
    ]


def check_auc(rules: AlertRules, db=None, now: datetime | None = None) -> list[dict]:
    from personalization.monitoring.accuracy import classifier_accuracy

    info = registry.resolve(None, "classifier", db=db)
    table = classifier_accuracy(model_id=info["model_id"], db=db)
    auc, base = table["roc_auc"].iloc[0], table["baseline_auc"].iloc[0]
    if auc is None or base is None or pd.isna(auc) or pd.isna(base):
        raise NotFoundError("the classifier's table has one class only, or no test ROC-AUC")
    if base - auc <= rules.auc_drop:
        return []
    return [
        alert(
            "auc_drop",
            float(base - auc),
            rules.auc_drop,
            f"ROC-AUC of {info['model_id']} fell from {base:.3f} (test) to {auc:.3f} on its "
            f"table now; retrain it.",
        )
    ]


def check_click_through(rules: AlertRules, db=None, now: datetime | None = None) -> list[dict]:
    from personalization.monitoring.outcomes import engagement, list_outcomes

    weekly = engagement(list_outcomes(rules.table, db=db), by="window", freq="W")
    if len(weekly) < 2:
        raise NotFoundError("fewer than two weeks of logged lists")
    before, last = weekly["click_through"].iloc[-2], weekly["click_through"].iloc[-1]
    drop = (before - last) / before if before > 0 else 0.0
    if drop <= rules.ctr_drop:
        return []
    return [
        alert(
            "click_through_drop",
            float(drop),
            rules.ctr_drop,
            f"Click-through of logged lists fell {drop:.0%} week on week ({before:.1%} to "
            f"{last:.1%}); check the promoted recommender and the events feed.",
        )
    ]


def check_quiet(rules: AlertRules, db=None, now: datetime | None = None) -> list[dict]:
    newest = store_monitoring.last_event_time(rules.table, db=db)
    if newest is None:
        raise NotFoundError(f"the table {rules.table!r} is empty")
    hours = ((now or datetime.now()) - pd.Timestamp(newest).to_pydatetime()).total_seconds() / 3600
    if hours <= rules.quiet_hours:
        return []
    return [
        alert(
            "no_events",
            float(hours),
            rules.quiet_hours,
            f"No events in {rules.table!r} for {quiet_for(hours)} (newest {newest}); check the "
            f"feed that loads them (a one-off historical file never gets newer: then this alert "
            f"can be ignored).",
        )
    ]


def quiet_for(hours: float) -> str:
    """``hours`` in words: "30 hours", "12 days", "14 years"."""
    if hours < 48:
        return f"{hours:.0f} hours"
    days = hours / 24
    return f"{days:,.0f} days" if days < 730 else f"{days / 365.25:.0f} years"


CHECKS: dict[str, Callable[..., list[dict]]] = {
    "drift": check_drift,
    "auc_drop": check_auc,
    "click_through_drop": check_click_through,
    "no_events": check_quiet,
}


def check_alerts(
    rules: AlertRules | None = None, db=None, now: datetime | None = None
) -> dict[str, Any]:
    """Run every rule: ``alerts`` (those that fired), ``checked`` (rules that ran) and
    ``skipped`` (rule -> why it could not run: no model, no table, too little data)."""
    rules = rules or AlertRules()
    out: dict[str, Any] = {"alerts": [], "checked": [], "skipped": {}}
    for name, check in CHECKS.items():
        try:
            out["alerts"] += check(rules, db=db, now=now)
            out["checked"].append(name)
        except BadInputError as exc:
            out["skipped"][name] = str(exc).split("\n")[0]
    return out


def send_webhook(url: str, payload: dict, timeout: float = WEBHOOK_TIMEOUT) -> dict[str, Any]:
    """POST ``payload`` as JSON to ``url`` (http or https). Returns ``url``, ``delivered`` and
    ``status`` or ``error``; never raises for a server that is down or answers an error."""
    if not url.lower().startswith(("http://", "https://")):
        raise BadInputError(f"--webhook must be an http(s) URL; got {url!r}.")
    body = json.dumps(payload, default=str).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return {"url": url, "delivered": True, "status": response.status}
    except urllib.error.HTTPError as exc:
        return {"url": url, "delivered": False, "status": exc.code, "error": str(exc)}
    except (urllib.error.URLError, OSError) as exc:
        return {"url": url, "delivered": False, "error": str(getattr(exc, "reason", exc))}


def monitor(
    rules: AlertRules | None = None,
    webhook: str | None = None,
    db=None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What the ``monitor`` command prints: ``check_alerts``, and with ``webhook`` and at least
    one alert, ``webhook`` (the delivery report of ``send_webhook``)."""
    if webhook is not None and not webhook.lower().startswith(("http://", "https://")):
        raise BadInputError(f"--webhook must be an http(s) URL; got {webhook!r}.")
    out = check_alerts(rules, db=db, now=now)
    if webhook and out["alerts"]:
        payload = {"source": "personalization monitor", "time": now or datetime.now(), **out}
        out["webhook"] = send_webhook(webhook, payload)
    return out
