"""A fuzz run of ingest: mutated copies of the sample files (byte flips, truncation, delimiters
and quotes duplicated or removed, random unicode, long fields, no header, CRLF and CR mixes, gzip
of a mutated file, a truncated gzip) each ingested through the command line into a database that
holds data. Every run ends with exit 0 or 2, never a traceback, and a refused file changes
nothing stored. Fixed seed and count: the same cases every run, well under a minute."""

from __future__ import annotations

import contextlib
import gzip
import io
import random
import shutil
from pathlib import Path

import duckdb
import pytest

from personalization.cli import main

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
SEED = 20261201
CASES = 200
HEAD_LINES = 120  # mutate the first lines of each sample file: small files, fast loads

# sample file -> flags of its ingest
SOURCES = {
    "events.csv": ["--kind", "events"],
    "customers.csv": ["--kind", "customers"],
    "items.csv": ["--kind", "items"],
    "users.csv": ["--kind", "users"],
    "online_retail_sample.csv": [
        "--kind",
        "events",
        "--map",
        "user_id=CustomerID",
        "--map",
        "item_id=StockCode",
        "--map",
        "timestamp=InvoiceDate",
        "--map",
        "value=Quantity",
        "--set",
        "event_type=purchase",
        "--table",
        "retail",
    ],
}
UNICODE = ["\u2028", "\u00e9", "\U0001f600", "\u202e", "\ufeff", "\x00", "\u0301", "\ud7ff", "Ω"]


def head(name: str) -> bytes:
    with open(SAMPLE / name, "rb") as f:
        return b"".join(f.readline() for _ in range(HEAD_LINES))


def flip_bytes(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 12)):
        out[rnd.randrange(len(out))] = rnd.randrange(256)
    return bytes(out)


def truncate(rnd: random.Random, data: bytes) -> bytes:
    return data[: rnd.randrange(1, len(data))]


def delimiters(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 10)):
        spots = [i for i, b in enumerate(out) if b in b',"']
        i = rnd.choice(spots)
        if rnd.random() < 0.5:
            del out[i]
        else:
            out.insert(i, rnd.choice(b',"'))
    return bytes(out)


def unicode(rnd: random.Random, data: bytes) -> bytes:
    text = data.decode("utf-8", errors="replace")
    for _ in range(rnd.randint(1, 10)):
        i = rnd.randrange(len(text))
        text = text[:i] + rnd.choice(UNICODE) + text[i:]
    return text.encode("utf-8", errors="surrogatepass")


def long_field(rnd: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    i = rnd.randrange(1, len(lines) - 1)
    size = rnd.choice([10_000, 300_000, 2_500_000])
    cells = lines[i].split(b",")
    cells[rnd.randrange(len(cells))] = b"x" * size
    lines[i] = b",".join(cells)
    return b"\n".join(lines)


def no_header(rnd: random.Random, data: bytes) -> bytes:
    return data.split(b"\n", 1)[1]


def line_ends(rnd: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    return b"".join(line + rnd.choice([b"\n", b"\r\n", b"\r"]) for line in lines)


MUTATIONS = [flip_bytes, truncate, delimiters, unicode, long_field, no_header, line_ends]


def everything(db: Path) -> dict[str, list]:
    """Every row of every table, to compare before and after."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {n: sorted(map(repr, con.execute(f'SELECT * FROM "{n}"').fetchall())) for n in names}
    finally:
        con.close()


def run(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, err.getvalue()


@pytest.fixture(scope="module")
def stocked(tmp_path_factory) -> Path:
    """A database holding the heads of every sample file, loaded once."""
    folder = tmp_path_factory.mktemp("fuzz_base")
    db = folder / "base.duckdb"
    for name, flags in SOURCES.items():
        path = folder / name
        path.write_bytes(head(name))
        assert run("--db", str(db), "ingest", str(path), *flags)[0] == 0
    return db


def cases():
    rnd = random.Random(SEED)
    for n in range(CASES):
        name = rnd.choice(sorted(SOURCES))
        mutation = rnd.choice(MUTATIONS)
        packing = rnd.choice(["plain"] * 4 + ["gzip", "truncated-gzip"])
        yield n, name, mutation, packing, rnd.randrange(2**32)


def test_mutated_sample_files_end_in_exit_0_or_2_and_a_refusal_changes_nothing(stocked, tmp_path):
    db = tmp_path / "fuzz.duckdb"
    shutil.copy(stocked, db)
    before = everything(db)
    failures = []
    for n, name, mutation, packing, seed in cases():
        data = mutation(random.Random(seed), head(name))
        path = tmp_path / f"case{n}_{name}"
        if packing == "plain":
            path.write_bytes(data)
        else:
            packed = gzip.compress(data)
            path = path.with_name(path.name + ".gz")
            path.write_bytes(packed[: len(packed) // 2] if packing == "truncated-gzip" else packed)
        flags = SOURCES[name] + (["--mode", "replace"] if n % 5 == 0 else [])
        what = f"case {n}: {mutation.__name__} of {name} ({packing})"
        try:
            code, err = run("--db", str(db), "ingest", str(path), *flags)
        except Exception as exc:  # a traceback: the bug this run looks for
            failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if code == 0:
            before = everything(db)
        elif code != 2 or len(err.strip().splitlines()) != 1:
            failures.append(f"{what}: exit {code}, stderr {err[:300]!r}")
        elif everything(db) != before:
            failures.append(f"{what}: refused but changed what was stored")
    assert not failures, "\n".join(failures)
