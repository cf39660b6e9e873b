"""Any text survives the CSV export cell for cell, and no line of a cell reaches a spreadsheet
as a formula: random cells (line breaks of every kind, quotes, delimiters, formula starts,
unicode, long text) written by ``write_table`` and read back by Python's csv module and DuckDB."""

from __future__ import annotations

import csv
import re

import duckdb
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personalization.export import LINE_BREAKS, PLAIN_NUMBER, neutralise_formulas, write_table

ALPHABET = st.sampled_from(list(LINE_BREAKS) + list("=+-@\t\"',; aZ09é€\u00a0") + ["🙂"])
CELL = st.one_of(st.none(), st.text(ALPHABET, max_size=12), st.text(max_size=300))
COLUMNS = ("user_id", "item_id", "title")


def expected(frame: pd.DataFrame) -> list[list[str]]:
    safe = neutralise_formulas(frame)
    return [["" if v is None else v for v in row] for row in safe.itertuples(index=False)]


def unsafe_lines(cell: str) -> list[str]:
    return [
        line
        for line in re.split(f"[{LINE_BREAKS}]", cell)
        if line[:1] in ("=", "+", "-", "@", "\t") and not PLAIN_NUMBER.match(line)
    ]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(CELL, CELL, CELL), min_size=1, max_size=8))
def test_random_cells_round_trip_through_csv_and_duckdb(tmp_path, rows):
    frame = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    path = write_table(frame, tmp_path / "cells.csv")
    want = expected(frame)

    with open(path, newline="", encoding="utf-8") as handle:
        read = list(csv.reader(handle))
    assert read[0] == list(COLUMNS)
    assert read[1:] == want

    con = duckdb.connect()
    back = con.execute(
        "SELECT * FROM read_csv(?, header = true, all_varchar = true, delim = ',', quote = '\"',"
        " escape = '\"', auto_detect = false, columns = {'user_id': 'VARCHAR',"
        " 'item_id': 'VARCHAR', 'title': 'VARCHAR'})",
        [str(path)],
    ).fetchall()
    assert [["" if v is None else v for v in row] for row in back] == want

    for row in read[1:]:
        for cell in row:
            assert not unsafe_lines(cell), cell


def test_a_carriage_return_cell_stays_in_its_row(tmp_path):
    frame = pd.DataFrame({"user_id": ["u1", "u2"], "title": ["\r", "=1+2"]})
    path = write_table(frame, tmp_path / "cr.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["user_id", "title"], ["u1", "'\r"], ["u2", "'=1+2"]]
    raw = path.read_bytes()
    assert b'"\'\r"' in raw  # the lone carriage return is quoted, not a row end


def test_formula_after_a_line_break_is_neutralised_numbers_are_not():
    frame = pd.DataFrame({"title": ["Oak\n=HYPERLINK(1)", "a\u2028@cmd", "x\n-12.5", "ok\nfine"]})
    assert neutralise_formulas(frame)["title"].tolist() == [
        "Oak\n'=HYPERLINK(1)",
        "a\u2028'@cmd",
        "x\n-12.5",
        "ok\nfine",
    ]


def test_repeated_cells_are_each_neutralised_and_other_values_kept():
    frame = pd.DataFrame(
        {
            "title": ["=SUM(1)", "Oak", "=SUM(1)", None, "-3", "=SUM(1)", float("nan"), 7],
            "string": pd.array(["@x", "y", "@x", None, "y", "+1", "@x", "a\n=b"], dtype="string"),
        }
    )
    safe = neutralise_formulas(frame)
    assert safe["title"].tolist()[:6] == ["'=SUM(1)", "Oak", "'=SUM(1)", None, "-3", "'=SUM(1)"]
    assert pd.isna(safe["title"][6]) and safe["title"][7] == 7
    assert safe["string"].tolist()[:3] == ["'@x", "y", "'@x"] and pd.isna(safe["string"][3])
    assert safe["string"].tolist()[4:] == ["y", "+1", "'@x", "a\n'=b"]
    untouched = pd.DataFrame({"id": ["u1", "u2", "u1"], "n": [1.5, -2.0, 3.0]})
    assert neutralise_formulas(untouched).equals(untouched)
