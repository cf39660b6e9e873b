"""Two workspaces that never mix: the bundled sample shop, in a database of its own
(``config.sample_db_path()``), and the user's own data (``config.db_path()``).

``ensure_sample_data`` fills an empty database with the sample shop and its example models: the
dashboard's first start does it to the sample database only, and the command line only when asked
(``load-sample``, through ``load_sample``); ``has_own_data`` tells whether the user's database holds
any data yet. It
sits above ``data`` (which loads the sample tables) and the two model packages (which train on
them); the model packages are imported when training starts, so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path

from personalization import config, store
from personalization.data.sample import load_sample_data
from personalization.progress import Progress, report, scaled

LOAD_SHARE = 0.3


def train_default_models(db=None, progress: Progress = None) -> list[str]:
    """Train the default recommender (SVD, rank chosen on validation) on ``events`` and the
    default conversion model (gradient boosting) on ``customers.converted``; return their ids.

    Both become the promoted models of their kind when they are the first of it.
    """
    from personalization.propensity.training import train_classifier
    from personalization.recommendation import training

    rec = training.train_recommender("svd", db=db, progress=scaled(progress, 0.0, 0.5))
    clf = train_classifier(
        "customers", target="converted", positive="yes", db=db, progress=scaled(progress, 0.5, 1.0)
    )
    report(progress, 1.0, "Example models trained")
    return [rec["model_id"], clf["model_id"]]


def ensure_sample_data(db=None, progress: Progress = None, train: bool = True) -> bool:
    """On an empty database, load the sample shop and (``train``) train the default models on it,
    so that every page opens on a working example. Returns whether it did anything; a database
    that holds any user table is left as it is. ``progress`` hears fractions 0..1 in order."""
    if store.table_names(db):
        return False
    load_sample_data(db=db, progress=scaled(progress, 0.0, LOAD_SHARE if train else 1.0))
    if train:
        train_default_models(db=db, progress=scaled(progress, LOAD_SHARE, 1.0))
    return True


def load_sample(db=None, progress: Progress = None) -> dict:
    """Load the sample shop into its own database (beside ``db``, the user's) unless it is there
    already; ``db`` (the sample database's path), ``loaded`` (whether it loaded now), ``tables``
    and ``models`` (ids)."""
    path = config.sample_db_path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    loaded = ensure_sample_data(db=path, progress=progress)
    from personalization import registry

    return {
        "db": str(path.resolve()),
        "loaded": loaded,
        "tables": store.list_tables(db=path),
        "models": [m["model_id"] for m in registry.list_models(db=path)],
    }


def has_own_data(db=None) -> bool:
    """Whether the user's database exists and holds a table of data or a model."""
    path = Path(config.db_path(db))
    return path.exists() and bool(store.table_names(path) or store.list_models(db=path))
