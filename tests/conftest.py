"""Shared fixtures: a fresh database file per test, paths to bundled and shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    """A fresh, empty DuckDB file; PERSONALIZATION_DB points at it for the test."""
    path = tmp_path / "test.duckdb"
    monkeypatch.setenv("PERSONALIZATION_DB", str(path))
    return path


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data folder is not part of the project)")
    return path
