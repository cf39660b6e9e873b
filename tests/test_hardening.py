"""Hostile and damaged input against a database that holds data and models: the catalog cannot
be overwritten by an ingest, and a damaged model file gives one line naming the model and the
fix, exit 2, never a traceback; everything stored stays exactly as it was."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from personalization import config
from personalization.cli import main
from personalization.recommendation.training import train_recommender


@pytest.fixture(scope="module")
def stocked(classifier_db, tmp_path_factory):
    """The sample shop with a promoted recommender and classifier: (template db, rec, clf)."""
    db, clf = classifier_db
    rec = train_recommender(algo="popularity", db=db)["model_id"]
    return db, rec, clf


@pytest.fixture
def shop(stocked, tmp_path):
    """A private copy of the stocked database and its model files."""
    source, rec, clf = stocked
    target = tmp_path / "shop.duckdb"
    shutil.copy(source, target)
    shutil.copytree(config.models_dir(source), config.models_dir(target))
    return target, rec, clf


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def everything(db) -> dict[str, list]:
    """Every row of every table, sorted, to compare before and after."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {n: sorted(map(repr, con.execute(f'SELECT * FROM "{n}"').fetchall())) for n in names}
    finally:
        con.close()


EVENTS = "user_id,item_id,event_type,timestamp\nu1,p1,view,2024-01-01 10:00:00\n"


@pytest.mark.parametrize(
    ("table", "mode"),
    [
        ("models", "replace"),
        ("feedback", "append"),
        ("datasets", "append"),
        ("Models", "replace"),
        (" models ", "replace"),
        ("duckdb_tables", "replace"),
        ("information_schema", "append"),
    ],
)
def test_ingest_never_writes_into_the_catalog(shop, tmp_path, table, mode):
    db, _, _ = shop
    csv = tmp_path / "events.csv"
    csv.write_text(EVENTS)
    before = everything(db)
    code, out, err = run(
        "--db", str(db), "ingest", str(csv), "--kind", "events", "--table", table, "--mode", mode
    )
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and "--table" in err, err
    assert everything(db) == before
    assert run("--db", str(db), "models")[0] == 0


def damage_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damage_garbage(path):
    path.write_bytes(b"\x00\x01 not a model at all " * 40)


def damage_delete(path):
    path.unlink()


def damage_meta(path):
    (path.parent / "meta.json").write_text("{ not json")


COMMANDS = {
    "recommend": lambda rec, clf, tmp: ["recommend", "--user", "u0001", "--model", rec],
    "export-recommendations": lambda rec, clf, tmp: [
        "export-recommendations",
        "--model",
        rec,
        "--out",
        str(tmp / "out.csv"),
    ],
    "score": lambda rec, clf, tmp: ["score", "--model", clf],
    "explain": lambda rec, clf, tmp: ["explain", "--model", clf],
    "lift": lambda rec, clf, tmp: ["lift", "--model", clf],
}


@pytest.mark.parametrize("damage", [damage_truncate, damage_garbage, damage_delete, damage_meta])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_damaged_model_is_one_line_naming_it_and_the_fix(shop, tmp_path, command, damage):
    db, rec, clf = shop
    argv = COMMANDS[command](rec, clf, tmp_path)
    model = rec if "--model" in argv and argv[argv.index("--model") + 1] == rec else clf
    damage(config.models_dir(db) / model / "model.joblib")
    before = everything(db)
    code, out, err = run("--db", str(db), *argv)
    assert (code, out) == (2, ""), err
    assert len(err.strip().splitlines()) == 1, err
    assert model in err and ("train it again" in err.lower() or "delete-model" in err), err
    assert "Traceback" not in err
    assert everything(db) == before
    assert not (tmp_path / "out.csv").exists()


def big_events_gz(path, rows: int = 250_000) -> bytes:
    import gzip
    import random

    rng = random.Random(0)
    lines = ["user_id,item_id,event_type,timestamp"]
    lines += [
        f"u{rng.randrange(10**6)},p{rng.randrange(10**5)},view,2024-01-0{rng.randrange(1, 9)} 10:00:00"
        for _ in range(rows)
    ]
    data = gzip.compress("\n".join(lines).encode())
    assert len(data) > 1_500_000  # the damage lies past the first MB a sniffer reads
    return data


def truncated(data: bytes) -> bytes:
    return data[: len(data) * 3 // 4]


def corrupted(data: bytes) -> bytes:
    damaged = bytearray(data)
    for i in range(len(data) * 3 // 4, len(data) * 3 // 4 + 64):
        damaged[i] ^= 0x5A
    return bytes(damaged)


@pytest.mark.parametrize("damage", [truncated, corrupted])
def test_a_damaged_gzip_is_refused_whole(shop, tmp_path, damage):
    db, _, _ = shop
    path = tmp_path / "events.csv.gz"
    path.write_bytes(damage(big_events_gz(path)))
    before = everything(db)
    code, out, err = run("--db", str(db), "ingest", str(path), "--kind", "events")
    assert (code, out) == (2, ""), err
    assert len(err.strip().splitlines()) == 1 and "gzip" in err, err
    assert everything(db) == before


def test_a_huge_field_is_one_line_of_bad_input(shop, tmp_path):
    db, _, _ = shop
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,event_type,timestamp,note\n"
        f"u1,p1,view,2024-01-01 10:00:00,{'x' * 3_000_000}\n"
        "u2,p2,view,2024-01-01 11:00:00,ok\n"
    )
    before = everything(db)
    code, out, err = run("--db", str(db), "ingest", str(path), "--kind", "events")
    assert (code, out) == (2, ""), err
    assert len(err.strip().splitlines()) == 1 and "2 MB" in err, err[:300]
    assert everything(db) == before


def test_leading_zeros_late_in_a_file_are_kept_as_text(db, tmp_path):
    from personalization.data.ingest import ingest_file
    from personalization.store import read_table

    rows = [f"{i},{10000 + i},{i % 90}" for i in range(1, 60_001)]
    rows += ["0042,01234,30", "007,00501,40"]
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,area,age\n" + "\n".join(rows) + "\n")
    report = ingest_file(path, kind="customers", db=db)
    assert report.rows_loaded == 60_002
    assert any("area" in note and "leading zeros" in note for note in report.notes)
    table = read_table("customers", db=db)
    tail = table.tail(2).astype(str).to_dict("records")
    assert tail == [
        {"customer_id": "0042", "area": "01234", "age": "30"},
        {"customer_id": "007", "area": "00501", "age": "40"},
    ]
    assert table["age"].dtype.kind == "i"  # a count without leading zeros stays a number


def test_a_workbook_renamed_parquet_is_one_line_without_sql(shop, tmp_path):
    import zipfile

    db, _, _ = shop
    path = tmp_path / "events.parquet"
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
    before = everything(db)
    code, out, err = run("--db", str(db), "ingest", str(path), "--kind", "events")
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and "Parquet" in err
    assert "SELECT" not in err and "LINE 1" not in err, err
    assert everything(db) == before


def dated_events(extra: str = "") -> str:
    rows = [
        f"u{i},p{i % 7},view,{i % 12 + 1:02d}/{i % 11 + 1:02d}/2024 10:00\n" for i in range(1200)
    ]
    return "user_id,item_id,event_type,timestamp\n" + "".join(rows) + extra


def test_dates_that_read_both_ways_are_refused_with_the_flag_to_choose(shop, tmp_path):
    db, _, _ = shop
    path = tmp_path / "events.csv"
    path.write_text(dated_events())
    before = everything(db)
    code, out, err = run("--db", str(db), "ingest", str(path), "--kind", "events")
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and "--timestamp-format" in err, err
    assert "12/01/2024 10:00 is 01 December 2024 or 12 January 2024" in err
    assert everything(db) == before


@pytest.mark.parametrize(
    ("late", "expected"),
    [("13/01/2024 10:00", "2024-11-12"), ("01/13/2024 10:00", "2024-12-11")],
)
def test_one_late_date_settles_day_and_month_for_the_whole_column(db, tmp_path, late, expected):
    from personalization import store
    from personalization.data.ingest import ingest_file

    path = tmp_path / "events.csv"
    path.write_text(dated_events(f"u9999,p1,view,{late}\n"))
    assert ingest_file(path, kind="events", db=db).rows_loaded == 1201
    latest = store.query_rows("SELECT CAST(max(timestamp) AS DATE)::VARCHAR FROM events", db=db)
    assert latest == [(expected,)]


class Exploit:
    """A pickle that runs a shell command when an unrestricted loader reads it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_crafted_model_file_runs_nothing(shop, tmp_path, command):
    import joblib

    db, rec, clf = shop
    argv = COMMANDS[command](rec, clf, tmp_path)
    model = rec if argv[argv.index("--model") + 1] == rec else clf
    marker = tmp_path / "ran"
    joblib.dump({"model": Exploit(marker)}, config.models_dir(db) / model / "model.joblib")
    code, out, err = run("--db", str(db), *argv)
    assert not marker.exists()
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and "nothing in it was run" in err, err
    assert model in err and "changed after it was saved" in err  # its SHA-256 no longer matches


# --------------------------------------------------------------------------- wide appends (item 6)

MEASURE = """
import resource, sys, time
from personalization.cli import main
started = time.monotonic()
code = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(code, time.monotonic() - started, peak, file=sys.stderr)
"""


def write_customers(path, rows: int, columns: int = 0, start: int = 0) -> None:
    """``customer_id`` (c<start>, ...) with ``columns`` feature columns f0.. (or three narrow
    ones when 0)."""
    head = [f"f{j}" for j in range(columns)] if columns else ["age", "segment", "spend"]
    lines = ["customer_id," + ",".join(head)]
    for i in range(start, start + rows):
        cells = [str((i * (j + 3)) % 97) for j in range(columns)] or [
            str(20 + i % 50),
            f"s{i % 7}",
            f"{i % 1000 / 10}",
        ]
        lines.append(f"c{i}," + ",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def measured(db, csv, *extra: str) -> tuple[int, float, int]:
    """Exit code, seconds and peak RSS (KiB) of one ingest run in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, "--db", str(db), "ingest", str(csv), "--kind", "customers"]
        + list(extra),
        capture_output=True,
        text=True,
        cwd=config.PROJECT_ROOT,
        timeout=120,
    )
    code, seconds, peak = done.stderr.strip().splitlines()[-1].split()
    return int(code), float(seconds), int(peak)


def test_a_wide_append_costs_about_what_a_fresh_load_costs(tmp_path):
    narrow, wide = tmp_path / "narrow.csv", tmp_path / "wide.csv"
    write_customers(narrow, 20_000)
    write_customers(wide, 3_000, columns=300, start=10**6)
    fresh_db, append_db = tmp_path / "fresh.duckdb", tmp_path / "append.duckdb"
    assert measured(append_db, narrow)[0] == 0
    code_f, fresh_s, fresh_kb = measured(fresh_db, wide)
    code_a, append_s, append_kb = measured(append_db, wide)
    assert (code_f, code_a) == (0, 0)
    assert append_s < 3 * fresh_s + 1, (fresh_s, append_s)
    assert append_kb < 2 * fresh_kb, (fresh_kb, append_kb)
    con = duckdb.connect(str(append_db), read_only=True)
    try:
        assert con.execute(
            "SELECT count(*), count(age), count(f299), sum(f7) FILTER (WHERE customer_id = 'c1000001') "
            "FROM customers"
        ).fetchone() == (23_000, 20_000, 3_000, (1_000_001 * 10) % 97)
        assert con.execute("SELECT age, f0 FROM customers WHERE customer_id = 'c5'").fetchone() == (
            25,
            None,
        )
        assert con.execute("SELECT rows FROM datasets").fetchone() == (23_000,)
    finally:
        con.close()


def test_a_widening_far_beyond_the_file_is_refused_up_front(tmp_path, monkeypatch):
    from personalization.store import loading

    monkeypatch.setattr(loading, "WIDEN_MAX_EMPTY_CELLS", 10_000)
    db, narrow, wide = tmp_path / "w.duckdb", tmp_path / "narrow.csv", tmp_path / "wide.csv"
    write_customers(narrow, 2_000)
    write_customers(wide, 10, columns=50, start=10**6)
    assert run("--db", str(db), "ingest", str(narrow), "--kind", "customers")[0] == 0
    before = everything(db)
    code, out, err = run("--db", str(db), "ingest", str(wide), "--kind", "customers")
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1, err
    assert "50 columns" in err and "2,000 stored rows" in err and "--table customers_more" in err
    assert everything(db) == before


def test_running_out_of_memory_is_one_line_and_stores_nothing(tmp_path, monkeypatch):
    db, narrow, wide = tmp_path / "m.duckdb", tmp_path / "narrow.csv", tmp_path / "wide.csv"
    write_customers(narrow, 2_000)
    write_customers(wide, 2_000, columns=300, start=10**6)
    assert run("--db", str(db), "ingest", str(narrow), "--kind", "customers")[0] == 0
    before = everything(db)
    monkeypatch.setenv("PERSONALIZATION_MEMORY_LIMIT", "16MB")
    code, out, err = run("--db", str(db), "ingest", str(wide), "--kind", "customers")
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1, err
    assert "into customers" in err and "PERSONALIZATION_MEMORY_LIMIT" in err and "16MB" in err
    monkeypatch.delenv("PERSONALIZATION_MEMORY_LIMIT")
    assert everything(db) == before
    assert not list(tmp_path.glob(".m-staging-*"))


def test_the_memory_limit_is_half_the_machine_unless_set(monkeypatch):
    monkeypatch.delenv("PERSONALIZATION_MEMORY_LIMIT", raising=False)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = int(config.memory_limit().removesuffix("MiB"))
    assert 0 < limit <= total // 2 // 2**20
    monkeypatch.setenv("PERSONALIZATION_MEMORY_LIMIT", "3GB")
    assert config.memory_limit() == "3GB"
    monkeypatch.setenv("PERSONALIZATION_MEMORY_LIMIT", "plenty")
    assert config.memory_limit().endswith("MiB")


def test_a_rebuilt_table_keeps_every_row_in_order_with_types_widened(tmp_path, monkeypatch):
    from personalization.store import loading

    monkeypatch.setattr(loading, "ALTER_MAX_COLUMNS", 0)  # rebuild even for one new column
    db, first, second = tmp_path / "r.duckdb", tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("customer_id,age,spend\nc1,30,1.5\nc2,41,2.5\n")
    second.write_text("customer_id,age,city\nc3,n/a,Oslo\nc4,52,Rome\n")
    assert run("--db", str(db), "ingest", str(first), "--kind", "customers")[0] == 0
    code, _, err = run("--db", str(db), "ingest", str(second), "--kind", "customers")
    assert code == 0, err
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT * FROM customers").fetchall() == [
            ("c1", "30", 1.5, None),
            ("c2", "41", 2.5, None),
            ("c3", "n/a", None, "Oslo"),
            ("c4", "52", None, "Rome"),
        ]
        assert con.execute("SELECT rows FROM datasets").fetchone() == (4,)
    finally:
        con.close()
