"""Each bad input gets one clear BadInputError naming the file, and earlier data stays intact."""

from __future__ import annotations

import gzip

import pytest

from personalization import store
from personalization.data.ingest import ingest_file
from personalization.errors import BadInputError

GOOD = "user_id,item_id,event_type,timestamp\n1,A,view,2024-01-01 10:00:00\n2,B,click,2024-01-02\n"


@pytest.fixture
def loaded(db, tmp_path):
    """A database holding two good events; tests check they survive a failed ingest."""
    path = tmp_path / "good.csv"
    path.write_text(GOOD)
    ingest_file(path, db=db)
    return db


def fails(loaded, path, match, **kwargs):
    before = store.read_table("events", db=loaded)
    with pytest.raises(BadInputError, match=match):
        ingest_file(path, db=loaded, **kwargs)
    after = store.read_table("events", db=loaded)
    assert after.equals(before)
    assert store.list_tables(db=loaded) == [{"name": "events", "kind": "events", "rows": 2}]


@pytest.mark.parametrize("mode", ["append", "replace"])
def test_empty_file(loaded, tmp_path, mode):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    fails(loaded, path, r"empty\.csv is empty", mode=mode)


def test_header_without_rows(loaded, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("user_id,item_id,event_type\n")
    fails(
        loaded,
        path,
        r"header\.csv has a header \(user_id, item_id, event_type\) but no rows",
        mode="replace",
    )


def test_wrong_delimiter_suggests_sep(loaded, tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("user_id;item_id;event_type\n1;A;view\n2;B;view\n")
    fails(
        loaded,
        path,
        r"semi\.csv: every line lands in one column with --sep ','.*--sep ';'",
        sep=",",
    )


def test_missing_role_lists_columns_and_suggests_map(loaded, tmp_path):
    path = tmp_path / "norole.csv"
    path.write_text("who,what,kind\n1,A,view\n")
    fails(
        loaded,
        path,
        r"norole\.csv has no column for user_id.*found: who, what, kind; "
        r"map one with --map user_id=COLUMN",
    )


@pytest.mark.parametrize(
    ("header", "kind"), [("user_id,device,city", "users"), ("item_id,title,category", "items")]
)
def test_attributes_loaded_as_events_suggest_their_kind(loaded, tmp_path, header, kind):
    path = tmp_path / f"{kind}.csv"
    path.write_text(f"{header}\n1,a,b\n")
    fails(
        loaded,
        path,
        rf"needed in an events table\).*if it describes {kind} rather than events, "
        rf"load it with --kind {kind}",
    )


def test_missing_event_type_suggests_set(loaded, tmp_path):
    path = tmp_path / "buys.csv"
    path.write_text("user_id,item_id\n1,A\n")
    fails(loaded, path, r"--set event_type=purchase")


def test_binary_file_renamed_csv(loaded, tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(bytes(range(256)) * 20)
    fails(loaded, path, r"photo\.csv is not a text CSV file")


def test_excel_file_renamed_csv(loaded, tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    fails(loaded, path, r"sheet\.csv is not a CSV file: it looks like a zip archive")


def test_gzip_without_gz_suffix(loaded, tmp_path):
    path = tmp_path / "packed.csv"
    path.write_bytes(gzip.compress(GOOD.encode()))
    fails(loaded, path, r"packed\.csv is gzip-compressed.*rename it to end in \.csv\.gz")


def test_all_timestamps_unparseable(loaded, tmp_path):
    path = tmp_path / "when.csv"
    path.write_text("user_id,item_id,event_type,timestamp\n1,A,view,soon\n2,B,view,later\n")
    fails(
        loaded,
        path,
        r"when\.csv: no value of the timestamp column 'timestamp'.*'(soon|later)'"
        r".*--timestamp-format",
        mode="replace",
    )


def test_some_timestamps_unparseable_are_rejected_per_row(loaded, tmp_path):
    path = tmp_path / "some.csv"
    path.write_text("user_id,item_id,event_type,timestamp\n3,A,view,2024-01-01\n4,B,view,soon\n")
    report = ingest_file(path, db=loaded)
    assert report.rows_loaded == 1
    assert report.rejects == [
        {"line": 3, "reason": "timestamp (column 'timestamp') is not a date/time: soon"}
    ]


def test_duplicate_column_names(loaded, tmp_path):
    path = tmp_path / "dupes.csv"
    path.write_text("user_id,item_id,event_type,item_id\n1,A,view,B\n")
    fails(loaded, path, r"dupes\.csv has duplicate column names: 'item_id'; rename them")


def test_every_row_rejected(loaded, tmp_path):
    path = tmp_path / "noids.csv"
    path.write_text("user_id,item_id,event_type\n,A,view\n,B,view\n")
    fails(loaded, path, r"noids\.csv: no row could be loaded.*missing user_id", mode="replace")


def test_messages_name_the_source_name(loaded, tmp_path):
    path = tmp_path / "tmp123.csv"
    path.write_text("")
    fails(loaded, path, r"^upload\.csv is empty", source_name="upload.csv")


def test_quotes_semicolons_and_sql_in_names(loaded, tmp_path):
    path = tmp_path / "evil.csv"
    path.write_text(
        '"user_id","item_id","event_type","a""b;c","\'); DROP TABLE events; --"\n9,Z,view,1,2\n'
    )
    report = ingest_file(path, db=loaded)
    assert report.rows_loaded == 1
    cols = [c for c, _ in store.table_columns("events", db=loaded)]
    assert cols[-2:] == ['a"b;c', "'); DROP TABLE events; --"]
    assert store.count_rows("events", db=loaded) == 3
