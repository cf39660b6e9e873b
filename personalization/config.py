"""Paths and settings.

The database file defaults to ``data/personalization.duckdb`` under the current directory;
``PERSONALIZATION_DB`` overrides it. Model artifacts live in a ``models`` folder beside the
database file, never inside the code checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = Path("data") / "personalization.duckdb"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA_DIR = PROJECT_ROOT / "sample_data"
SHARED_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"


def db_path(override: str | os.PathLike | None = None) -> Path:
    """The DuckDB file to use: ``override``, else ``$PERSONALIZATION_DB``, else the default."""
    if override:
        return Path(override)
    env = os.environ.get("PERSONALIZATION_DB")
    return Path(env) if env else DEFAULT_DB


def models_dir(db: str | os.PathLike | None = None) -> Path:
    """Folder for saved model artifacts, beside the database file."""
    path = db_path(db)
    return path.resolve().parent / f"{path.stem}_models"
