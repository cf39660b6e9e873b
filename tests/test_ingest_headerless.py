"""Files without a header line (a raw clickstream export) and the guess of what a file holds."""

from __future__ import annotations

import gzip

import pytest

from personalization import store
from personalization.data import ingest
from personalization.errors import BadInputError
from tests.conftest import shared_file

RAW = (
    "1,2268318,2520377,pv,1511544070\n"
    "1,2333346,2520771,cart,1511561733\n"
    ",2576651,149192,pv,1511572885\n"  # line 3: no user
    "2,3830808,4181361,buy,1511593493\n"
    "2,2268318,2520377,pv,1511596146\n"
)


def test_a_file_without_header_keeps_its_first_line_and_gets_roles_by_content(db, tmp_path):
    path = tmp_path / "clicks.csv.gz"
    path.write_bytes(gzip.compress(RAW.encode()))
    info = ingest.inspect_file(path)
    assert not info.header and info.columns == [f"column{i}" for i in range(1, 6)]
    assert info.suggested == {
        "user_id": "column1",
        "item_id": "column2",
        "event_type": "column4",
        "timestamp": "column5",
    }
    assert "no header line" in info.notes[0] and "1, 2268318" in info.notes[0]
    assert ingest.guess_kind(info) == "events"
    report = ingest.ingest_file(path, db=db).to_dict()
    assert (report["rows_read"], report["rows_loaded"], report["rows_rejected"]) == (5, 4, 1)
    assert [r["line"] for r in report["rejects"]] == [3]  # file lines: no header to skip
    events = store.read_table("events", db=db)
    assert events["item_id"].tolist()[0] == "2268318"  # the first line is a row
    assert str(events["timestamp"].min()) == "2017-11-24 17:21:10"


def test_column_names_that_are_words_stay_a_header(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("store,2023,2024\nnorth,10,12\n")
    info = ingest.inspect_file(path, kind="customers")
    assert info.header and info.columns == ["store", "2023", "2024"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("user,item,action\nu1,i1,view\n", "events"),
        ("product_id,title\np1,Mug\n", "items"),
        ("customer_id,device\nc1,mobile\n", "users"),
        ("customer_id,device,converted\nc1,mobile,1\n", "customers"),
        ("PageValues,Region,Revenue\n0.0,1,FALSE\n", "customers"),
    ],
)
def test_what_a_file_holds_is_guessed_from_its_columns(tmp_path, text, kind):
    path = tmp_path / "f.csv"
    path.write_text(text)
    assert ingest.guess_kind(ingest.inspect_file(path)) == kind


def test_a_customer_table_loaded_as_events_is_told_to_load_as_customers(db, tmp_path):
    path = tmp_path / "sessions.csv"
    path.write_text("PageValues,Region,Revenue\n0.0,1,FALSE\n3.5,2,TRUE\n")
    with pytest.raises(BadInputError, match="load it as customers"):
        ingest.ingest_file(path, db=db)


def test_the_taobao_clickstream_loads_every_line():
    path = shared_file("clickstream/taobao_userbehavior_head.csv.gz")
    info = ingest.inspect_file(path)
    assert not info.header and info.suggested["timestamp"] == "column5"
