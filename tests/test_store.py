"""The store: quoting, short-lived connections, busy handling, catalog."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from personalization import store
from personalization.errors import DatabaseBusyError, NotFoundError


def test_quote_ident_makes_hostile_names_data(db):
    name = 'x"; DROP TABLE events; --'
    store.execute(f"CREATE TABLE {store.quote_ident(name)} (a INTEGER)")
    assert name in store.table_names()
    assert store.count_rows(name) == 0


def test_missing_table_names_the_fix(db):
    with pytest.raises(NotFoundError, match="ingest FILE"):
        store.read_table("events")


def test_reader_waits_for_a_writer_in_the_same_process(db):
    store.execute("CREATE TABLE t (a INTEGER)")

    def hold_write_lock():
        with store.connect() as con:
            con.execute("INSERT INTO t VALUES (1)")
            time.sleep(0.5)

    writer = threading.Thread(target=hold_write_lock)
    writer.start()
    time.sleep(0.1)
    assert store.count_rows("t") in (0, 1)
    writer.join()
    assert store.count_rows("t") == 1


def test_busy_database_gives_a_clear_message(db):
    store.execute("CREATE TABLE t (a INTEGER)")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(20)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseBusyError, match="busy"):
            with store.connect(timeout=0.5):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert store.count_rows("t") == 0


def test_feedback_is_stored(db):
    store.add_feedback("u1", "i9", "rec-1", 1)
    store.add_feedback("u1", "i8", "rec-1", -1)
    frame = store.feedback("rec-1")
    assert sorted(frame["thumbs"]) == [-1, 1]
    assert set(frame["item_id"]) == {"i8", "i9"}
