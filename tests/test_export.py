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


# ---------------------------------------------------------------- control groups and list logging


def test_write_blocks_failing_midway_leaves_no_file(tmp_path):
    from personalization.export import write_blocks

    def blocks():
        yield frame()
        raise RuntimeError("killed")

    for name in ("recs.csv", "recs.parquet"):
        with pytest.raises(RuntimeError, match="killed"):
            write_blocks(blocks(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_control_groups_are_stable_random_and_bounded():
    from personalization.recommendation import batch

    ids = [f"user{n}" for n in range(4000)]
    first = batch.assign_groups(ids, 0.1)
    assert (first == batch.assign_groups(ids, 0.1)).all()
    assert 0.08 < (first == "control").mean() < 0.12
    other = batch.assign_groups(ids, 0.1, salt="spring-campaign")
    assert (other != first).any()
    wider = batch.assign_groups(ids, 0.3)
    assert (wider[first == "control"] == "control").all()  # a larger share keeps the smaller one
    for share in (0, 1, -0.5, "x"):
        with pytest.raises(BadInputError, match="strictly between 0 and 1"):
            batch.check_control_share(share)


def shop_events(folder) -> str:
    import random

    rng = random.Random(2)
    rows = ["user_id,item_id,event_type,timestamp"]
    for user in range(60):
        for item in rng.sample(range(10), 4):
            rows.append(f"u{user:02d},i{item},purchase,2024-03-{rng.randint(1, 28):02d} 10:00:00")
    path = folder / "events.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def trained(db, tmp_path) -> str:
    from personalization.data import ingest
    from personalization.recommendation import training

    ingest.ingest_file(shop_events(tmp_path), kind="events", db=db)
    return training.train_recommender(algo="itemknn", db=db)["model_id"]


def test_export_with_control_share_gives_control_the_best_sellers(db, tmp_path, trained):
    from personalization.recommendation import batch
    from personalization.store import monitoring as store_monitoring

    result = batch.export_recommendations(tmp_path / "a.csv", k=3, control_share=0.25, db=db)
    table = pd.read_csv(tmp_path / "a.csv")
    per_user = table.drop_duplicates("user_id").set_index("user_id")["group"]
    assert result["control_users"] == (per_user == "control").sum() > 0
    assert result["users"] == 60 and result["rows"] == len(table)
    expected = batch.assign_groups(per_user.index, 0.25)
    assert per_user.tolist() == expected.tolist()
    control = table[table["group"] == "control"]
    lists = control.groupby("user_id")["item_id"].apply(tuple)
    assert lists.nunique() == 1 and len(lists.iloc[0]) == 3  # one best-sellers list for all
    assert control["reason"].eq("Popular with all customers").all()
    log = store_monitoring.read_log(db=db)
    assert len(log) == len(table) and set(log["model_id"]) == {trained}
    assert (log.groupby("user_id")["group_name"].first().reindex(per_user.index) == per_user).all()
    runs = store_monitoring.export_runs(db=db)
    assert runs["control_users"].iloc[0] == result["control_users"]
    assert runs["salt"].iloc[0] == result["salt"]
    again = batch.export_recommendations(tmp_path / "b.csv", k=3, control_share=0.25, db=db)
    again_groups = pd.read_csv(tmp_path / "b.csv").drop_duplicates("user_id")
    assert again["control_users"] == result["control_users"]
    assert again_groups.set_index("user_id")["group"].equals(per_user)


def test_export_without_control_logs_treatment_and_a_failed_one_logs_nothing(
    db, tmp_path, trained, monkeypatch
):
    from personalization import export as export_module
    from personalization.recommendation import batch
    from personalization.store import monitoring as store_monitoring

    result = batch.export_recommendations(tmp_path / "plain.csv", k=2, db=db)
    assert "group" not in pd.read_csv(tmp_path / "plain.csv").columns
    assert "control_users" not in result
    assert set(store_monitoring.read_log(db=db)["group_name"]) == {"treatment"}
    before = len(store_monitoring.read_log(db=db))

    def broken(blocks, target):
        for _ in blocks:
            raise RuntimeError("disk full")

    monkeypatch.setattr(export_module, "_write_csv", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        batch.export_recommendations(tmp_path / "broken.csv", k=2, control_share=0.2, db=db)
    assert not (tmp_path / "broken.csv").exists()
    assert len(store_monitoring.read_log(db=db)) == before
    assert len(store_monitoring.export_runs(db=db)) == 1
    with pytest.raises(BadInputError, match="strictly between"):
        batch.export_recommendations(tmp_path / "x.csv", control_share=1.0, db=db)
    assert not (tmp_path / "x.csv").exists()
