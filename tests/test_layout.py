"""The shape of the code base, checked from its source: the library never imports streamlit;
only the store talks SQL; no private name crosses a module; every package imports only downward
and no two packages import each other; ruff finds nothing and the format is ruff's."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "personalization"

# Each top-level unit of the library and its layer: a unit imports only units of its own layer or
# lower ones (the shape in the README's Layout section).
LAYERS = {
    "__init__": 0,
    "errors": 0,
    "config": 0,
    "progress": 0,
    "values": 0,
    "store": 1,
    "export": 2,
    "safe_load": 1,
    "registry": 2,
    "evaluation": 2,
    "tuning": 2,
    "charts": 2,
    "data": 3,
    "recommendation": 4,
    "propensity": 4,
    "workspace": 5,
    "deploy": 6,
    "monitoring": 6,
    "engines": 6,
    "spark": 6,
    "cli": 7,
    "__main__": 7,
}


def py_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


DASHBOARD = py_files(ROOT / "pages") + py_files(ROOT / "panels") + [ROOT / "app.py", ROOT / "ui.py"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import of the library, nested ones too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "personalization":
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    out.append((sub if is_module(sub) else node.module, a.name, node.lineno))
        elif isinstance(node, ast.Import):
            out += [
                (a.name, None, node.lineno)
                for a in node.names
                if a.name.split(".")[0] == "personalization"
            ]
    return out


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def is_module(dotted: str) -> bool:
    path = ROOT / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_library_never_imports_streamlit():
    offenders = [
        str(p.relative_to(ROOT))
        for p in py_files(LIB)
        if re.search(r"^\s*(import streamlit|from streamlit)", p.read_text(), re.M)
    ]
    assert offenders == []


def test_only_the_store_imports_duckdb():
    pattern = re.compile(r"^\s*(import duckdb|from duckdb)", re.M)
    files = [p for p in py_files(LIB) if "store" not in p.relative_to(LIB).parts]
    files += DASHBOARD
    offenders = [str(p.relative_to(ROOT)) for p in files if pattern.search(p.read_text())]
    assert offenders == []


def test_pages_hold_no_sql():
    sql = re.compile(r"\b(SELECT\s+.+\s+FROM|INSERT\s+INTO|CREATE\s+TABLE)\b", re.I)
    files = DASHBOARD
    offenders = [str(p.relative_to(ROOT)) for p in files if sql.search(p.read_text())]
    assert offenders == []


def test_no_private_name_crosses_a_module():
    files = py_files(LIB) + DASHBOARD
    offenders = []
    for path in files:
        tree = ast.parse(path.read_text())
        aliases = {}
        for module, name, line in imports(path):
            if name is None:
                continue
            if name.startswith("_") and not name.startswith("__"):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {module}.{name}")
            if module.endswith(f".{name}"):
                aliases[name] = module
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                offenders.append(
                    f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}"
                )
    assert offenders == []


def test_every_unit_of_the_library_has_a_layer():
    units = {unit(module_name(p)) for p in py_files(LIB)}
    assert units - set(LAYERS) == set(), "add the new package to LAYERS and to the README's Layout"


# The one import that goes up: ``from personalization import load_model`` (embedded use), made
# inside the package's ``__getattr__`` on first use, so importing the package stays cheap.
LAZY_EXPORTS = {("__init__", "personalization.deploy.embedded")}


def test_imports_only_go_downward():
    offenders = []
    for path in py_files(LIB):
        here = unit(module_name(path))
        for module, _, line in imports(path):
            there = unit(module)
            if (here, module) in LAZY_EXPORTS:
                continue
            if there != here and LAYERS.get(there, 99) > LAYERS.get(here, 99):
                offenders.append(
                    f"{path.relative_to(ROOT)}:{line} ({here}) imports {module} ({there})"
                )
    assert offenders == []


def test_no_two_packages_import_each_other():
    edges: dict[str, set[str]] = {}
    for path in py_files(LIB):
        here = unit(module_name(path))
        edges.setdefault(here, set()).update(
            unit(m) for m, _, _ in imports(path) if unit(m) not in (here, "__init__")
        )

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(u for u in edges if reaches(u, u, {u}))
    assert cycles == []


def test_pages_stay_thin():
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in py_files(ROOT / "pages")
    }
    assert {name: n for name, n in sizes.items() if n > 300} == {}


def ruff(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("ruff")
    if binary is None:
        pytest.skip("ruff is not installed (pip install -r requirements-dev.txt)")
    return subprocess.run([binary, *args, str(ROOT)], capture_output=True, text=True)


def test_ruff_finds_nothing():
    done = ruff("check", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_is_applied():
    done = ruff("format", "--check", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
