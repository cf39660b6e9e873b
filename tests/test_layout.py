"""The boundaries of the code base: the library never imports streamlit; only the store talks SQL."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "personalization"


def _py_files(folder: Path):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_library_never_imports_streamlit():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _py_files(LIB)
        if re.search(r"^\s*(import streamlit|from streamlit)", p.read_text(), re.M)
    ]
    assert offenders == []


def test_only_the_store_imports_duckdb():
    pattern = re.compile(r"^\s*(import duckdb|from duckdb)", re.M)
    files = _py_files(LIB) + _py_files(ROOT / "pages") + [ROOT / "app.py"]
    offenders = [
        str(p.relative_to(ROOT))
        for p in files
        if p.exists() and "store" not in p.relative_to(LIB if LIB in p.parents else ROOT).parts
        and pattern.search(p.read_text())
    ]
    assert offenders == []


def test_pages_hold_no_sql():
    sql = re.compile(r"\b(SELECT\s+.+\s+FROM|INSERT\s+INTO|CREATE\s+TABLE)\b", re.I)
    files = _py_files(ROOT / "pages") + [ROOT / "app.py"]
    offenders = [str(p.relative_to(ROOT)) for p in files if p.exists() and sql.search(p.read_text())]
    assert offenders == []


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -r requirements-dev.txt)")
    done = subprocess.run([ruff, "check", "--quiet", str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
