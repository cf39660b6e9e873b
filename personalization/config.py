"""Paths and settings: the one place that reads the environment, when a setting is needed.

- ``db_path()``: the database file; ``data/personalization.duckdb`` under the current directory
  unless ``PERSONALIZATION_DB`` (or an explicit override) names another.
- ``models_dir()``: model artifacts live in a ``<db name>_models`` folder beside the database
  file, never inside the code checkout.
- ``threads()`` / ``blas_threads()``: how many threads native code (OpenMP in scikit-learn, BLAS
  in the recommenders) may use; 1 unless ``PERSONALIZATION_THREADS`` /
  ``PERSONALIZATION_BLAS_THREADS`` say otherwise.

Settings are read on every call, never at import, so a test or a long-running process that
changes the environment is heard at once.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = Path("data") / "personalization.duckdb"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA_DIR = PROJECT_ROOT / "sample_data"


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


def threads() -> int:
    """Threads for native code of the conversion models (>= 1; ``$PERSONALIZATION_THREADS``)."""
    return _positive_int("PERSONALIZATION_THREADS")


def blas_threads() -> int:
    """Threads for BLAS inside the recommenders (>= 1; ``$PERSONALIZATION_BLAS_THREADS``)."""
    return _positive_int("PERSONALIZATION_BLAS_THREADS")


def _positive_int(name: str, default: int = 1) -> int:
    """``$name`` as a whole number of 1 or more; ``default`` when unset, empty, 0 or unreadable."""
    try:
        value = int(os.environ.get(name) or 0)
    except ValueError:
        return default
    return value if value >= 1 else default
