"""The bundled sample shop: load it into the database, or only when the database is empty.

The four CSVs in ``sample_data/`` (written by ``sample_data/generate.py``) have columns named after
the roles (``user_id``, ``item_id``, ``event_type``, ``timestamp``, ``value``, ``session_id``), so
they load through the ordinary ingest with no mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from personalization import config, store
from personalization.errors import NotFoundError
from personalization.data.ingest import IngestReport, ingest_file

SAMPLE_FILES = {
    "events": "events.csv",
    "users": "users.csv",
    "items": "items.csv",
    "customers": "customers.csv",
}
Progress = Callable[[float, str], None]


def sample_paths(folder: Path = config.SAMPLE_DATA_DIR) -> dict[str, Path]:
    """``kind -> path`` of each bundled CSV; raises ``NotFoundError`` when one is missing."""
    paths = {kind: folder / name for kind, name in SAMPLE_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise NotFoundError(
            f"The sample data is incomplete: {', '.join(missing)} not found; "
            f"regenerate it with: python sample_data/generate.py"
        )
    return paths


def _scaled(progress: Progress | None, start: float, width: float) -> Progress | None:
    """A progress callback for one step, mapped onto ``[start, start + width]`` of the whole."""
    if progress is None:
        return None
    return lambda fraction, message: progress(start + width * fraction, message)


def load_sample_data(db=None, progress: Progress | None = None) -> list[IngestReport]:
    """Load the sample events, users, items and customers, replacing tables of those names.

    Returns one ``IngestReport`` per table, in the order events, users, items, customers.
    Raises ``NotFoundError`` when a bundled file is missing.
    """
    paths = sample_paths()
    reports = []
    width = 1.0 / len(paths)
    for step, (kind, path) in enumerate(paths.items()):
        if progress is not None:
            progress(step * width, f"Loading sample {kind} from {path.name}")
        reports.append(
            ingest_file(
                path,
                kind=kind,
                mode="replace",
                source_name=f"sample_data/{path.name}",
                db=db,
                progress=_scaled(progress, step * width, width),
            )
        )
    if progress is not None:
        progress(1.0, "Sample data loaded")
    return reports


def train_default_models(db=None, progress: Progress | None = None) -> list[str]:
    """Train the default recommender (SVD, rank chosen on validation) on ``events`` and the
    default conversion model (gradient boosting) on ``customers.converted``; return their ids.

    Both become the promoted models of their kind when they are the first of it.
    """
    from personalization.propensity import classifier
    from personalization.recommendation import training

    rec = training.train_recommender("svd", db=db, progress=_scaled(progress, 0.0, 0.5))
    clf = classifier.train_classifier(
        "customers", target="converted", positive="yes", db=db, progress=_scaled(progress, 0.5, 0.5)
    )
    return [rec["model_id"], clf["model_id"]]


def ensure_sample_data(db=None, progress: Progress | None = None, train: bool = True) -> bool:
    """On an empty database, load the sample shop and (``train``) train the default models on it,
    so that every page opens on a working example. Returns whether it did anything; a database
    that holds any user table is left as it is."""
    if store.table_names(db):
        return False
    load_sample_data(db=db, progress=_scaled(progress, 0.0, 0.3 if train else 1.0))
    if train:
        train_default_models(db=db, progress=_scaled(progress, 0.3, 0.7))
    return True
