"""Formula neutralisation and the CSV / Parquet writer."""

from __future__ import annotations

import pandas as pd
import pytest

from personalization.errors import BadInputError
from personalization.export import neutralise_formulas, write_table


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "title": ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "Oak Tray", "-12.5", None],
            "score": [-1.0, 2.0, -3.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0],
            "rank": list(range(1, 10)),
        }
    )


def test_formula_cells_get_an_apostrophe_numbers_stay():
    out = neutralise_formulas(frame())
    assert out["title"].tolist()[:6] == ["'=1+2", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tx", "'\rx"]
    assert out["title"].tolist()[6:8] == ["Oak Tray", "-12.5"]
    assert pd.isna(out["title"].iloc[8])
    assert out["score"].tolist() == frame()["score"].tolist()
    assert out["rank"].dtype == frame()["rank"].dtype


def test_input_frame_is_not_changed():
    df = frame()
    neutralise_formulas(df)
    assert df["title"].iloc[0] == "=1+2"


def test_csv_is_neutralised_and_parquet_round_trips(tmp_path):
    csv = write_table(frame(), tmp_path / "out" / "recs.csv")
    back = pd.read_csv(csv)
    assert back["title"].iloc[0] == "'=1+2" and back["score"].iloc[0] == -1.0
    pq = write_table(frame(), tmp_path / "recs.parquet")
    assert pd.read_parquet(pq)["title"].iloc[0] == "=1+2"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "recs.csv", "recs.parquet"]


def test_other_extension_is_bad_input(tmp_path):
    with pytest.raises(BadInputError, match=r"\.csv or \.parquet"):
        write_table(frame(), tmp_path / "recs.xlsx")
    assert list(tmp_path.iterdir()) == []
