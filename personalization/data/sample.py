"""The bundled sample shop: its four CSVs, and loading them into the database.

The four CSVs in ``sample_data/`` (written by ``sample_data/generate.py``) have columns named after
the roles (``user_id``, ``item_id``, ``event_type``, ``timestamp``, ``value``, ``session_id``), so
they load through the ordinary ingest with no mapping. Training the example models on them is
``personalization.workspace``'s job.
"""

from __future__ import annotations

from pathlib import Path

from personalization import config
from personalization.data.ingest import IngestReport, ingest_file
from personalization.errors import NotFoundError
from personalization.progress import Progress, report, scaled

SAMPLE_FILES = {
    "events": "events.csv",
    "users": "users.csv",
    "items": "items.csv",
    "customers": "customers.csv",
}


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


def load_sample_data(db=None, progress: Progress = None) -> list[IngestReport]:
    """Load the sample events, users, items and customers, replacing tables of those names.

    Returns one ``IngestReport`` per table, in the order events, users, items, customers.
    Raises ``NotFoundError`` when a bundled file is missing.
    """
    paths = sample_paths()
    reports = []
    width = 1.0 / len(paths)
    for step, (kind, path) in enumerate(paths.items()):
        start = step * width
        report(progress, start, f"Loading sample {kind} from {path.name}")
        reports.append(
            ingest_file(
                path,
                kind=kind,
                mode="replace",
                source_name=f"sample_data/{path.name}",
                db=db,
                progress=scaled(progress, start, start + width),
            )
        )
    report(progress, 1.0, "Sample data loaded")
    return reports
