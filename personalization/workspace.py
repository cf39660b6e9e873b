"""A workspace ready to open: an empty database gets the sample shop and its example models.

This is the dashboard's first start, and a library call the command line can make as well. It
sits above ``data`` (which loads the sample tables) and the two model packages (which train on
them); the model packages are imported when training starts, so importing this module is cheap.
"""

from __future__ import annotations

from personalization import store
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
