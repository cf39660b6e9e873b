"""The busy database: a command that finds the file locked says at once on stderr that it waits
and for what, then runs when the lock frees, or fails after the wait with one line and exit 2;
an ingest locks the file only for its final copy, so other commands run while it reads."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import time

import duckdb
import pytest

from personalization import store
from personalization.cli import main
from personalization.data import ingest
from personalization.errors import DatabaseBusyError
from personalization.store import core

HOLD = (
    "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
    "print('ready', flush=True); time.sleep(float(sys.argv[2])); c.close()"
)


@contextlib.contextmanager
def writer_holding(db, seconds: float):
    """Another process holding ``db`` for writing for ``seconds``; yields its process."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_a_command_says_it_waits_then_runs_when_the_lock_frees(db):
    store.execute("CREATE TABLE t (a INTEGER)")
    with writer_holding(db, 1.5) as holder:
        started = time.monotonic()
        code, out, err = run("--db", str(db), "tables")
        waited = time.monotonic() - started
    assert code == 0, err
    assert '"tables"' in out and waited >= 0.5
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("waiting: ")
    assert str(db) in lines[0] and f"PID {holder.pid}" in lines[0], lines[0]


def test_a_command_that_waits_too_long_fails_with_one_line_and_exit_2(db, monkeypatch):
    store.execute("CREATE TABLE t (a INTEGER)")
    monkeypatch.setattr(core, "BUSY_TIMEOUT_SECONDS", 2.0)
    with writer_holding(db, 30) as holder:
        code, out, err = run("--db", str(db), "tables")
        with pytest.raises(DatabaseBusyError) as caught:
            store.list_tables(db)
    assert (code, out) == (2, "")
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("waiting: "), err
    assert lines[1].startswith("error: ") and "busy" in lines[1] and "Try again" in lines[1]
    assert caught.value.path == str(db) and caught.value.holder.startswith(f"PID {holder.pid}")
    assert store.count_rows("t", db) == 0


def test_a_short_wait_stays_silent(db, capsys):
    store.execute("CREATE TABLE t (a INTEGER)")
    with writer_holding(db, 30), pytest.raises(DatabaseBusyError):
        with store.connect(db, timeout=0.3):
            pass
    assert capsys.readouterr().err == ""


def test_an_ingest_locks_the_file_only_for_its_final_copy(db, tmp_path):
    """While the file is read and cleaned, another process reads the database and this process
    writes to it without waiting; the load then appends after that write."""
    store.execute("CREATE TABLE notes (a INTEGER)")
    csv = tmp_path / "events.csv"
    csv.write_text(
        "user_id,item_id,event_type,timestamp\n"
        + "".join(f"u{i},p{i % 7},view,2024-01-0{1 + i % 9} 10:00:00\n" for i in range(500))
    )
    seen: list[str] = []

    def during(fraction: float, message: str) -> None:
        if message == "converting values":
            reader = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                    "print(c.execute('SELECT count(*) FROM notes').fetchone()[0])",
                    str(db),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            seen.append(reader.stdout.strip() or reader.stderr)
            with store.connect(db, timeout=0.2) as con:
                con.execute("INSERT INTO notes VALUES (7)")

    result = ingest.ingest_file(csv, kind="events", db=db, progress=during)
    assert seen == ["0"]
    assert result.rows_loaded == 500
    assert store.count_rows("notes", db) == 1 and store.count_rows("events", db) == 500
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT rows FROM datasets WHERE table_name = 'events'").fetchone() == (
            500,
        )
    finally:
        con.close()
