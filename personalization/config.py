"""Paths and settings: the one place that reads the environment, when a setting is needed.

- ``db_path()``: the database file; ``data/personalization.duckdb`` under the current directory
  unless ``PERSONALIZATION_DB`` (or an explicit override) names another.
- ``sample_db_path()``: the bundled sample shop's own database, beside the user's one
  (``sample_shop.duckdb``; ``PERSONALIZATION_SAMPLE_DB`` overrides): sample and own data never mix.
- ``models_dir()``: model artifacts live in a ``<db name>_models`` folder beside the database
  file, never inside the code checkout.
- ``memory_limit()``: how much memory DuckDB may use before it spills to disk; half of the
  machine's memory (or of the container's limit) unless ``PERSONALIZATION_MEMORY_LIMIT`` (e.g.
  ``4GB``, ``512MB``) says otherwise.
- ``threads()`` / ``blas_threads()``: how many threads native code (OpenMP in scikit-learn, BLAS
  in the recommenders) may use; 1 unless ``PERSONALIZATION_THREADS`` /
  ``PERSONALIZATION_BLAS_THREADS`` say otherwise.

Settings are read on every call, never at import, so a test or a long-running process that
changes the environment is heard at once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_DB = Path("data") / "personalization.duckdb"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA_DIR = PROJECT_ROOT / "sample_data"
SAMPLE_DB_NAME = "sample_shop.duckdb"


def db_path(override: str | os.PathLike | None = None) -> Path:
    """The DuckDB file to use: ``override``, else ``$PERSONALIZATION_DB``, else the default."""
    if override:
        return Path(override)
    env = os.environ.get("PERSONALIZATION_DB")
    return Path(env) if env else DEFAULT_DB


def sample_db_path(db: str | os.PathLike | None = None) -> Path:
    """The sample shop's own database: ``$PERSONALIZATION_SAMPLE_DB``, else ``sample_shop.duckdb``
    beside the user's database file (``db_path(db)``), so the two never mix."""
    env = os.environ.get("PERSONALIZATION_SAMPLE_DB")
    return Path(env) if env else db_path(db).parent / SAMPLE_DB_NAME


def models_dir(db: str | os.PathLike | None = None) -> Path:
    """Folder for saved model artifacts, beside the database file."""
    path = db_path(db)
    return path.resolve().parent / f"{path.stem}_models"


def memory_limit() -> str:
    """DuckDB's ``memory_limit``: ``$PERSONALIZATION_MEMORY_LIMIT`` when it reads as a size
    (``4GB``, ``512 MiB``), else half of the machine's memory or of its container's limit."""
    given = (os.environ.get("PERSONALIZATION_MEMORY_LIMIT") or "").strip()
    if re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", given, flags=re.IGNORECASE):
        return given
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        total = min(total, int(Path("/sys/fs/cgroup/memory.max").read_text()))
    except (OSError, ValueError):  # no cgroup v2 limit ("max") or not Linux
        pass
    return f"{max(total // 2 // 2**20, 256)}MiB"


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
