"""Retraining that promotes only what is better (``deploy.retrain``), its record in
``retrain_runs`` (``store.jobs``), the schedule (``deploy.schedule``) and the three commands."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import random
from datetime import datetime, timedelta

import pytest

from personalization import registry
from personalization.cli import main
from personalization.data import ingest
from personalization.deploy import retrain as retraining
from personalization.deploy import schedule
from personalization.store import catalog, jobs, loading
from tests.conftest import load_csv

SVD_PARAMS = {"rank": 3, "reg": 0, "popularity_reg": 0, "weighting": "log"}


def events_csv(users: range, first_day: int, seed: int = 0) -> str:
    """Users in 3 groups, each buying 6 of the 10 items of its group over 4 days."""
    rng = random.Random(seed)
    rows = ["user_id,item_id,event_type,timestamp"]
    for user in users:
        group = user % 3
        for n, item in enumerate(rng.sample(range(10 * group, 10 * group + 10), 6)):
            rows.append(f"u{user:03d},i{item:02d},purchase,2024-03-{first_day + n % 4:02d} 10:00")
    return "\n".join(rows) + "\n"


def run(*argv) -> tuple[int, dict | None, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, (json.loads(out.getvalue()) if out.getvalue().strip() else None), err.getvalue()


@pytest.fixture
def shop(db, tmp_path):
    """60 users' events over days 1-4 and an SVD champion trained on them."""
    from personalization.recommendation import training

    load_csv(db, tmp_path, "events", events_csv(range(60), 1))
    return training.train_recommender(algo="svd", params=SVD_PARAMS, db=db)["model_id"]


def append_events(db, tmp_path, users: range, first_day: int, mode: str = "append") -> None:
    """Load more events; the loader tells the catalog whether it appended (what
    store/loading.py does once it passes ``appended=`` to ``record_dataset`` itself)."""
    (tmp_path / "more.csv").write_text(events_csv(users, first_day, seed=7))
    told = functools.partial(catalog.record_dataset, appended=mode == "append")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loading, "record_dataset", told)
        ingest.ingest_file(tmp_path / "more.csv", kind="events", mode=mode, db=db)


def test_decide_promotes_only_by_the_margin():
    champion = {"model_id": "m1", "details": {}}  # data not recorded: current is None
    assert retraining.decide(champion, (0.30, 0.32), 0.01, "ndcg@10", None, None)[0]
    promoted, why = retraining.decide(champion, (0.30, 0.305), 0.01, "ndcg@10", None, None)
    assert not promoted and "not better by the margin 0.01" in why and "m1 stays" in why
    assert retraining.decide(None, (None, 0.1), 0.01, "ndcg@10", None, None)[0]
    promoted, why = retraining.decide(champion, (None, 0.1), 0.01, "x", "damaged", None)
    assert promoted and "cannot be loaded" in why


def test_retrain_on_the_same_data_keeps_the_champion_and_records_why(db, shop):
    code, out, err = run("--db", db, "retrain", "--kind", "recommender")
    assert code == 0, err
    assert {"champion", "challenger", "metric", "promoted", "why"} <= set(out)
    assert out["champion"] == shop and out["challenger"] is None and out["promoted"] is False
    assert out["metric"] == "ndcg@10" and "not promoted" in out["why"]
    assert out["champion_score"] == out["challenger_score"]  # it had seen the hold-out
    assert [m["model_id"] for m in registry.list_models(db=db)] == [shop]
    runs = jobs.list_runs("recommender", db=db)
    assert len(runs) == 1 and runs[0]["why"] == out["why"] and runs[0]["promoted"] is False


def test_after_appended_events_the_champion_is_measured_and_the_margin_decides(db, tmp_path, shop):
    append_events(db, tmp_path, range(40, 90), 6)
    assert registry.data_state(registry.resolve(shop, db=db), db=db)["newer_rows"] == 300
    strict = retraining.retrain("recommender", margin=0.05, db=db)
    assert not strict["promoted"] and strict["challenger"] is None and strict["held"] is None
    assert "data is gone" not in strict["why"] and "was trained on" not in strict["why"]
    gain = strict["challenger_score"] - strict["champion_score"]
    assert 0 < gain < 0.05 and f"difference {gain:+.4f}" in strict["why"]
    assert "not better by the margin 0.05" in strict["why"]
    assert registry.resolve(kind="recommender", db=db)["model_id"] == shop
    out = retraining.retrain("recommender", margin=gain / 2, db=db)
    assert out["promoted"] and out["challenger"] not in (None, shop)
    assert f"is better by {gain:.4f} >= margin" in out["why"]
    assert registry.resolve(kind="recommender", db=db)["model_id"] == out["challenger"]
    runs = jobs.list_runs("recommender", db=db)
    assert [r["promoted"] for r in runs] == [True, False] and runs[1]["why"] == strict["why"]


def test_after_a_replace_the_champion_data_is_gone_and_the_challenger_wins(db, tmp_path, shop):
    append_events(db, tmp_path, range(40, 90), 6, mode="replace")
    out = retraining.retrain("recommender", db=db)
    assert out["promoted"] and out["challenger"] not in (None, shop)
    assert "data is gone" in out["why"] and "loaded again (replaced)" in out["why"]
    assert registry.resolve(kind="recommender", db=db)["model_id"] == out["challenger"]
    again = retraining.retrain("recommender", db=db)
    assert not again["promoted"] and again["champion"] == out["challenger"]


def test_a_held_champion_is_not_replaced_by_a_retrain(db, tmp_path, shop):
    append_events(db, tmp_path, range(40, 90), 6, mode="replace")
    registry.set_hold(shop, "campaign running until Friday", db=db)
    code, out, err = run("--db", db, "retrain", "--kind", "recommender")
    assert code == 0, err
    assert out["promoted"] is False and out["challenger"] is None
    assert out["held"] == f"the default {shop} is held (campaign running until Friday)"
    assert out["why"].startswith("held, not promoted: the default") and "data is gone" in out["why"]
    assert [m["model_id"] for m in registry.list_models(db=db)] == [shop]
    assert jobs.list_runs("recommender", db=db)[0]["why"] == out["why"]


def test_a_held_challenger_stays_a_candidate(db, shop):
    leaky = registry.save_model([1], "recommender", "svd", {}, {}, "fp", hold="leakage: x", db=db)
    assert retraining.settle(leaky, shop, "recommender", db=db) == "it is held (leakage: x)"
    assert registry.resolve(leaky, db=db)["status"] == "candidate"
    assert registry.resolve(kind="recommender", db=db)["model_id"] == shop


def test_a_failed_retrain_leaves_the_catalog_as_it_was(db, tmp_path, shop, monkeypatch):
    append_events(db, tmp_path, range(40, 90), 6, mode="replace")

    def broken(run, db=None):
        raise RuntimeError("disk full")

    monkeypatch.setattr(jobs, "record_run", broken)
    with pytest.raises(RuntimeError):
        retraining.retrain("recommender", db=db)
    models = registry.list_models(db=db)
    assert [(m["model_id"], m["status"]) for m in models] == [(shop, "promoted")]


def test_retrain_classifier_on_the_same_table_ties(db, tmp_path):
    from personalization.propensity.training import train_classifier

    rng = random.Random(1)
    rows = ["customer_id,visits,device,converted"]
    for n in range(120):
        visits = rng.randint(0, 10)
        rows.append(f"C{n:03d},{visits},{('a', 'b')[n % 2]},{'yes' if visits > 5 else 'no'}")
    load_csv(db, tmp_path, "customers", "\n".join(rows) + "\n")
    champion = train_classifier(
        table="customers", target="converted", positive="yes", algo="logreg", folds=0, db=db
    )["model_id"]
    out = retraining.retrain("classifier", db=db)
    assert out["metric"] == "roc_auc" and out["champion"] == champion
    assert not out["promoted"] and out["challenger_score"] > 0.8


def test_retrain_refuses_bad_input(db):
    code, _, err = run("--db", db, "retrain", "--kind", "classifier")
    assert code == 2 and "train-classifier" in err and len(err.strip().splitlines()) == 1
    code, _, err = run("--db", db, "retrain", "--kind", "recommender", "--margin", "-1")
    assert code == 2 and "--margin" in err


def test_schedule_is_due_by_growth_or_days(db, tmp_path, shop):
    assert schedule.schedule_status("recommender", db=db)["due"]  # never retrained
    retraining.retrain("recommender", db=db)
    status = schedule.schedule_status("recommender", growth=0.2, days=7, db=db)
    assert not status["due"] and status["why"].startswith("not due")
    append_events(db, tmp_path, range(60, 80), 6)  # 120 more rows on 360: 33%
    status = schedule.schedule_status("recommender", growth=0.2, days=7, db=db)
    assert status["due"] and "grew by 33%" in status["why"]
    assert not schedule.schedule_status("recommender", growth=0.5, days=7, db=db)["due"]
    last = jobs.list_runs("recommender", db=db)[0]
    old = {**last, "run_id": "old", "finished": datetime.now() - timedelta(days=8)}
    jobs.delete_run(last["run_id"], db=db)
    jobs.record_run({**old, "data_rows": 480}, db=db)
    status = schedule.schedule_status("recommender", growth=0.5, days=7, db=db)
    assert status["due"] and "days since the last retrain" in status["why"]


def test_scheduler_once_and_a_clean_stop(db, shop):
    code, out, err = run("--db", db, "scheduler", "--once", "--kind", "recommender")
    assert code == 0, err
    assert out["checks"] == 1 and out["stopped"] == "once" and len(out["runs"]) == 1
    assert out["last"][0]["ran"] and out["last"][0]["why"] == "no recommender retrain has run yet"

    def interrupt(seconds):
        raise KeyboardInterrupt

    done = schedule.run_scheduler(("recommender",), every_minutes=1, db=db, sleep=interrupt)
    assert done["stopped"] == "interrupted" and done["checks"] == 1 and done["runs"] == []
    code, _, err = run("--db", db, "scheduler", "--once", "--growth", "0")
    assert code == 2 and "--growth" in err


def test_the_panel_shows_the_schedule_and_runs_a_retrain(db, shop):
    from streamlit.testing.v1 import AppTest

    def app():
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path.cwd()))
        from panels import retraining

        retraining.show()

    at = AppTest.from_function(app, default_timeout=60).run()
    assert not at.exception
    assert "no recommender retrain has run yet" in at.dataframe[0].value["why"].tolist()
    assert any("No retrain has run yet" in i.value for i in at.info)
    at.button(key="retrain_now").click().run()
    assert not at.exception
    assert any("not promoted" in i.value for i in at.info)
    runs = at.dataframe[-1].value
    assert runs["kind"].tolist() == ["recommender"] and runs["trigger"].tolist() == ["dashboard"]


def test_the_schedule_is_saved_once_and_used_by_the_scheduler(db, tmp_path, shop):
    assert schedule.settings(db=db)["saved"] is None
    code, out, err = run("--db", db, "scheduler", "--save", "--growth", "0.5", "--days", "30")
    assert code == 0, err
    assert {k: out["schedule"][k] for k in ("growth", "days", "margin")} == {
        "growth": 0.5,
        "days": 30.0,
        "margin": 0.01,
    }
    assert jobs.list_runs(db=db) == []  # saving runs nothing
    retraining.retrain("recommender", db=db)
    append_events(db, tmp_path, range(50, 70), 6)  # 33% more: due at 0.2, not at the saved 0.5
    code, out, err = run("--db", db, "scheduler", "--once", "--kind", "recommender")
    assert code == 0, err
    assert out["runs"] == [] and out["last"][0]["due"] is False and "50%" in out["last"][0]["why"]
    code, out, err = run(
        "--db", db, "scheduler", "--once", "--kind", "recommender", "--growth", "0.2"
    )
    assert code == 0 and out["last"][0]["ran"], out["errors"]  # a flag overrides the saved schedule
    code, _, err = run("--db", db, "scheduler", "--save", "--margin", "-1")
    assert code == 2 and "--margin" in err
    assert schedule.settings(db=db)["growth"] == 0.5  # the bad save changed nothing
