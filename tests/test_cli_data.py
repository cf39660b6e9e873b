"""The ingest, tables, profile and readiness commands through personalization.cli.main."""

from __future__ import annotations

import json

from personalization.cli import main
from tests.conftest import shared_file


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_ingest_prints_the_contract_keys(db, tmp_path, capsys):
    path = tmp_path / "buys.csv"
    path.write_text("CustomerID;StockCode;Qty\n1.0;A;2\n1.0;A;2\n;B;1\n")
    code, out, _ = run(
        capsys,
        "--db",
        str(db),
        "ingest",
        str(path),
        "--map",
        "user_id=CustomerID",
        "--set",
        "event_type=purchase",
        "--sep",
        ";",
        "--table",
        "buys",
    )
    assert code == 0
    assert {
        "table",
        "rows_read",
        "rows_loaded",
        "rows_rejected",
        "duplicates_dropped",
        "rejects",
    } <= set(out)
    assert (
        out["table"],
        out["rows_read"],
        out["rows_loaded"],
        out["rows_rejected"],
        out["duplicates_dropped"],
    ) == ("buys", 3, 1, 1, 1)
    assert out["rejects"] == [{"line": 4, "reason": "missing user_id (column 'CustomerID')"}]
    code, out, _ = run(capsys, "--db", str(db), "tables")
    assert out == {"tables": [{"name": "buys", "kind": "events", "rows": 1}]}


def test_bad_input_exits_2_with_one_line(db, tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("")
    code, out, err = run(capsys, "--db", str(db), "ingest", str(path))
    assert code == 2 and out is None
    assert err.startswith("error: empty.csv is empty") and err.count("\n") == 1
    code, _, err = run(capsys, "--db", str(db), "ingest", str(path), "--map", "user_id")
    assert code == 2 and "--map takes KEY=VALUE" in err
    code, _, err = run(capsys, "--db", str(db), "profile", "nope")
    assert code == 2 and "no table 'nope'" in err


def test_profile_and_readiness(db, tmp_path, capsys):
    path = tmp_path / "e.csv"
    path.write_text(
        "user_id,item_id,event_type,timestamp\n1,A,view,2024-01-01\n1,B,view,2024-01-02\n"
    )
    run(capsys, "--db", str(db), "ingest", str(path), "--kind", "events", "--mode", "replace")
    code, out, _ = run(capsys, "--db", str(db), "profile", "events")
    assert code == 0 and out["rows"] == 2 and out["n_users"] == 1
    assert out["columns"][0]["column"] == "user_id"
    assert out["events_per_day"][0]["events"] == 1
    code, out, _ = run(capsys, "--db", str(db), "readiness")
    assert code == 0 and out["can_recommend"] is False
    assert any("need at least 20" in c["message"] for c in out["checks"])


def test_real_online_shoppers_through_the_cli(db, capsys):
    path = shared_file("online-shoppers/online_shoppers_intention.csv")
    code, out, _ = run(capsys, "--db", str(db), "ingest", str(path), "--kind", "customers")
    assert code == 0
    counts = (out["rows_read"], out["rows_loaded"], out["duplicates_dropped"])
    assert counts == (12_330, 12_205, 125)


def test_profile_takes_the_table_as_a_flag_too(db, tmp_path, capsys):
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,event_type,timestamp\n1,A,view,2024-01-01\n")
    run(capsys, "--db", str(db), "ingest", str(path))
    code, out, _ = run(capsys, "--db", str(db), "profile", "--table", "events")
    assert code == 0 and out["rows"] == 1
    code, _, err = run(capsys, "--db", str(db), "profile")
    assert code == 2 and err.startswith("error: profile takes one table") and err.count("\n") == 1


def test_ingest_maps_attributes_and_summarises_rejects(db, tmp_path, capsys):
    path = tmp_path / "orders.csv"
    path.write_text(
        "CustomerID,StockCode,Description,UnitPrice,Country\n"
        "c1,A,Mug,2.5,France\n,B,Cup,1.0,Spain\n,C,Jug,3.0,Spain\n"
    )
    argv = ["--db", str(db), "ingest", str(path), "--set", "event_type=purchase"]
    code, out, _ = run(capsys, *argv, "--table", "plain")
    assert code == 0 and "items_updated" not in out and "users_updated" not in out
    assert "--map title=Description" in out["notes"][-1]
    assert out["reject_summary"][0]["rows"] == 2
    assert out["reject_summary"][0]["reason"] == "missing customer id (column 'CustomerID')"
    code, out, _ = run(
        capsys, *argv, "--map", "title=Description", "--map", "price=UnitPrice",
        "--map", "country=Country",
    )  # fmt: skip
    assert code == 0 and (out["items_updated"], out["users_updated"]) == (1, 1)
    assert out["mapping"]["title"] == "Description"
    code, out, _ = run(capsys, "--db", str(db), "tables")
    assert {t["name"]: t["kind"] for t in out["tables"]} == {
        "events": "events",
        "items": "items",
        "plain": "events",
        "users": "users",
    }
