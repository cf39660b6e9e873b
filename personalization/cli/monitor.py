"""``drift``, ``readout``, ``monitor`` and ``load-survey``: each one call of
``personalization.monitoring``, imported when the command runs.

``monitor`` exits 3 when an alert fires (for cron): it sets ``args.exit_code = 3`` and ``main``
prints its JSON as for any command, then returns that code.
"""

from __future__ import annotations

from datetime import datetime

from personalization.errors import BadInputError

ALERT_EXIT = 3


def register(sub) -> None:
    p = sub.add_parser("drift", help="per feature PSI and KS / chi-square between two tables")
    p.add_argument("--reference", help="reference table (default with --model: its training data)")
    p.add_argument("--current", required=True, help="current table")
    p.add_argument("--model", help="a classifier: rank features by drift x SHAP importance")
    p.add_argument("--reference-window", metavar="START..END", help="dates of the reference rows")
    p.add_argument("--current-window", metavar="START..END", help="dates of the current rows")
    p.add_argument("--time-column", default="timestamp", help="column the windows cut by")
    p.add_argument("--psi-watch", type=float, default=0.1, help="PSI worth watching (0.1)")
    p.add_argument("--psi-act", type=float, default=0.25, help="PSI to act on (0.25)")
    p.add_argument("--alpha", type=float, default=0.05, help="test level (0.05)")
    p.set_defaults(func=cmd_drift)

    p = sub.add_parser("readout", help="treated vs control of an export, with a 95%% interval")
    p.add_argument("--export", required=True, help="the export file (with a group column)")
    p.add_argument("--outcomes", help="CSV of user_id, converted, optional revenue")
    p.add_argument("--segment", metavar="COL", help="also per value of this column")
    p.add_argument("--table", default="events", help="events table without --outcomes")
    p.set_defaults(func=cmd_readout)

    p = sub.add_parser("monitor", help="check the alert rules; exit 3 when one fires")
    p.add_argument("--webhook", metavar="URL", help="POST the alerts as JSON here")
    p.add_argument("--table", default="events", help="events table (default: events)")
    p.add_argument("--psi-act", type=float, default=0.25)
    p.add_argument("--auc-drop", type=float, default=0.05)
    p.add_argument("--ctr-drop", type=float, default=0.2, help="relative, week on week")
    p.add_argument("--quiet-hours", type=float, default=24.0, help="hours without events")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("load-survey", help="store survey answers (user, item or offer, score)")
    p.add_argument("file", help="CSV with user_id, item_id (or offer_id) and score")
    p.set_defaults(func=cmd_survey)


def parse_window(text: str | None, flag: str) -> tuple[datetime | None, datetime | None] | None:
    """``"2024-01-01..2024-02-01"`` -> (start, end); either side may be empty (open)."""
    if not text:
        return None
    start, sep, end = text.partition("..")
    if not sep:
        raise BadInputError(f"{flag} takes START..END, e.g. 2024-01-01..2024-02-01; got {text!r}.")
    try:
        return tuple(datetime.fromisoformat(p.strip()) if p.strip() else None for p in (start, end))
    except ValueError:
        raise BadInputError(
            f"{flag} {text!r}: dates must be YYYY-MM-DD (or with a time), e.g. 2024-01-01..2024-02-01"
        ) from None


def cmd_drift(args) -> dict:
    from personalization.monitoring import drift

    thresholds = drift.DriftThresholds(
        psi_watch=args.psi_watch, psi_act=args.psi_act, alpha=args.alpha
    )
    return drift.drift_report(
        args.reference,
        args.current,
        model_id=args.model,
        thresholds=thresholds,
        reference_window=parse_window(args.reference_window, "--reference-window"),
        current_window=parse_window(args.current_window, "--current-window"),
        time_column=args.time_column,
        db=args.db,
    )


def cmd_readout(args) -> dict:
    from personalization.monitoring import readout

    return readout.campaign_readout(
        args.export, args.outcomes, segment=args.segment, table=args.table, db=args.db
    )


def cmd_monitor(args) -> dict:
    from personalization.monitoring import alerts

    rules = alerts.AlertRules(
        psi_act=args.psi_act,
        auc_drop=args.auc_drop,
        ctr_drop=args.ctr_drop,
        quiet_hours=args.quiet_hours,
        table=args.table,
    )
    result = alerts.monitor(rules, webhook=args.webhook, db=args.db)
    if result["alerts"]:
        args.exit_code = ALERT_EXIT
    return result


def cmd_survey(args) -> dict:
    from personalization.monitoring import outcomes

    return outcomes.load_survey(args.file, db=args.db)
