"""``models``, ``promote`` and ``delete-model``: the model catalog; ``load-sample``: the bundled
sample shop in its own database (the only way the command line loads it)."""

from __future__ import annotations

import argparse

from personalization.cli import LibraryChoices

KEYS = ("model_id", "kind", "algo", "name", "status", "metrics", "params", "created")
KINDS = LibraryChoices("personalization.registry", "KINDS")


def register(sub) -> None:
    """Add the catalog commands to ``sub`` (the subparsers of ``build_parser``)."""
    p = sub.add_parser("models", help="list trained models, newest first")
    p.add_argument(
        "--kind", choices=KINDS, metavar="KIND", help="only this kind of model: %(choices)s"
    )
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("promote", help="make a model the default of its kind")
    p.add_argument("model_id", metavar="ID", help="the model's id, as `models` lists it")
    p.set_defaults(func=cmd_promote)
    p = sub.add_parser("delete-model", help="delete a model and its files")
    p.add_argument("model_id", metavar="ID", help="the model's id, as `models` lists it")
    p.set_defaults(func=cmd_delete)
    p = sub.add_parser(
        "load-sample",
        help="load the bundled sample shop and its example models into their own database "
        "(sample_shop.duckdb beside --db); your own data is never touched",
    )
    p.set_defaults(func=cmd_load_sample)


def catalog_row(info: dict) -> dict:
    """The catalog entry ``info`` reduced to the keys the command line prints (``KEYS``)."""
    return {k: info.get(k) for k in KEYS}


def cmd_models(args: argparse.Namespace) -> dict:
    from personalization import registry

    rows = []
    for info in registry.list_models(kind=args.kind, db=args.db):
        state = registry.data_state(info, db=args.db)
        rows.append(
            {**catalog_row(info), "data_current": state["current"], "data": state["message"]}
        )
    return {"models": rows}


def cmd_promote(args: argparse.Namespace) -> dict:
    from personalization import registry

    info = registry.promote(args.model_id, db=args.db)
    return {"models": [catalog_row(info)], "promoted": info["model_id"]}


def cmd_delete(args: argparse.Namespace) -> dict:
    from personalization import registry

    registry.delete(args.model_id, db=args.db)
    return {"deleted": args.model_id}


def cmd_load_sample(args: argparse.Namespace) -> dict:
    from personalization import workspace

    return workspace.load_sample(db=args.db)
