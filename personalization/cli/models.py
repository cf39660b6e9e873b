"""``models``, ``promote`` and ``delete-model``: the model catalog."""

from __future__ import annotations

from personalization import registry

KEYS = ("model_id", "kind", "algo", "name", "status", "metrics", "params", "created")


def register(sub) -> None:
    p = sub.add_parser("models", help="list trained models, newest first")
    p.add_argument("--kind", choices=registry.KINDS, help="only recommenders or classifiers")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("promote", help="make a model the default of its kind")
    p.add_argument("model_id")
    p.set_defaults(func=cmd_promote)
    p = sub.add_parser("delete-model", help="delete a model and its files")
    p.add_argument("model_id")
    p.set_defaults(func=cmd_delete)


def _row(info: dict) -> dict:
    return {k: info.get(k) for k in KEYS}


def cmd_models(args) -> dict:
    return {"models": [_row(m) for m in registry.list_models(kind=args.kind, db=args.db)]}


def cmd_promote(args) -> dict:
    info = registry.promote(args.model_id, db=args.db)
    return {"models": [_row(info)], "promoted": info["model_id"]}


def cmd_delete(args) -> dict:
    registry.delete(args.model_id, db=args.db)
    return {"deleted": args.model_id}
