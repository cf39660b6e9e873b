"""AppTest of the Train page: empty state, errors, and training both kinds of model through the buttons."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from personalization import registry, store
from tests.conftest import open_page

PAGE = "pages/train.py"


def labels(at: AppTest) -> list[str]:
    return [m.label for m in at.metric]


def test_without_data_both_tabs_link_to_the_data_page(db, monkeypatch):
    at = open_page(monkeypatch, db, PAGE)
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Recommender", "Conversion model", "Retraining"]
    assert any("No retrain has run yet" in i.value for i in at.info)
    assert any("no customer actions" in i.value for i in at.info)
    assert any("no customer table" in i.value for i in at.info)
    assert {p.proto.page for p in at.get("page_link")} == {"data"}
    assert "train_rec" not in [b.key for b in at.button]


def test_sample_defaults_are_prefilled(sample_db, monkeypatch):
    at = open_page(monkeypatch, sample_db, PAGE)
    assert not at.exception
    assert at.selectbox(key="rec_table").value == "events"
    assert at.selectbox(key="clf_table").value == "customers"
    assert at.selectbox(key="clf_target_customers").value == "converted"
    assert at.selectbox(key="clf_pos_customers_converted").value == "yes"
    assert at.select_slider(key="rec_rank").value == "auto"
    assert at.selectbox(key="rec_algo").value == "svd"
    assert at.number_input(key="w_events_purchase").value == 8.0
    assert at.number_input(key="w_events_view").value == 1.0
    widgets = [
        *at.selectbox,
        *at.number_input,
        *at.select_slider,
        *at.slider,
        *at.radio,
        *at.multiselect,
    ]
    assert widgets and all(w.help for w in widgets)


def test_training_a_classifier_shows_cards_curves_and_the_run(sample_db, monkeypatch):
    at = open_page(monkeypatch, sample_db, PAGE)
    at.selectbox(key="clf_algo").set_value("logreg")
    at.select_slider(key="clf_folds").set_value(0)
    at.button(key="train_clf").click().run()
    assert not at.exception
    assert not at.error
    assert {"ROC AUC", "PR AUC", "Precision", "Recall", "F1"} <= set(labels(at))
    auc = next(m for m in at.metric if m.label == "ROC AUC")
    assert "vs no model" in auc.proto.delta
    assert len(at.get("plotly_chart")) >= 3
    assert not any("customer_id" in w.value for w in at.warning)  # the key: no warning
    runs = registry.list_models("classifier", db=sample_db)
    assert runs and runs[0]["algo"] == "logreg"


def test_training_a_recommender_compares_it_with_popularity(sample_db, monkeypatch):
    at = open_page(monkeypatch, sample_db, PAGE)
    at.selectbox(key="rec_algo").set_value("popularity")
    at.button(key="train_rec").click().run()
    assert not at.exception
    assert not at.error
    assert "Ranking quality @10" in labels(at)
    assert any("vs popularity" in (m.proto.delta or "") for m in at.metric)
    assert registry.list_models("recommender", db=sample_db)


def test_a_default_svd_says_what_it_chose_and_whether_it_is_in_use(sample_db, monkeypatch):
    at = open_page(monkeypatch, sample_db, PAGE)
    at.button(key="train_rec").click().run(timeout=120)
    assert not at.exception and not at.error
    assert any(c.value.startswith("Chosen on held-out data: rank ") for c in at.caption)
    newest = registry.list_models("recommender", db=sample_db)[0]
    saved = next(s.value for s in at.success if s.value.startswith("Saved"))
    assert newest["model_id"] in saved
    in_use = "It is the model in use on every page." in saved
    assert in_use == (newest["status"] == "promoted")
    assert in_use or "Model to use everywhere" in saved


def test_a_target_with_one_value_shows_the_library_message(db, monkeypatch):
    store.execute(
        "CREATE TABLE customers AS SELECT range::VARCHAR AS customer_id, range AS x, 'no' AS converted "
        "FROM range(40)",
        db=db,
    )
    at = open_page(monkeypatch, db, PAGE)
    at.select_slider(key="clf_folds").set_value(0)
    at.button(key="train_clf").click().run()
    assert not at.exception
    assert len(at.error) == 1


def test_promote_makes_another_run_the_default(sample_db, monkeypatch):
    from personalization.propensity.training import train_classifier

    for algo in ("logreg", "logreg"):
        train_classifier(
            table="customers", target="converted", positive="yes", algo=algo, folds=0, db=sample_db
        )
    at = open_page(monkeypatch, sample_db, PAGE)
    runs = registry.list_models("classifier", db=sample_db)
    other = next(r["model_id"] for r in runs if r["status"] != "promoted")
    at.selectbox(key="promote_classifier").set_value(other).run()
    at.button(key="promote_btn_classifier").click().run()
    assert not at.exception
    assert registry.resolve(kind="classifier", db=sample_db)["model_id"] == other
    at.multiselect(key=f"compare_classifier_{len(runs)}").set_value(
        [r["model_id"] for r in runs[:2]]
    ).run()
    assert any(c.proto.spec and "Runs side by side" in c.proto.spec for c in at.get("plotly_chart"))


def test_a_tuning_run_lists_its_trials(sample_db, monkeypatch):
    at = open_page(monkeypatch, sample_db, PAGE)
    at.selectbox(key="clf_algo").set_value("logreg")
    at.select_slider(key="clf_folds").set_value(0)
    at.selectbox(key="clf_search").set_value("grid")
    at.button(key="train_clf").click().run()
    assert not at.exception and not at.error
    trials = next(d.value for d in at.dataframe if "ROC AUC" in d.value.columns)
    assert len(trials) >= 2 and trials["trial"].tolist() == list(range(1, len(trials) + 1))


def test_a_tuned_recommender_lists_its_trials_and_is_trained_with_the_best(sample_db, monkeypatch):
    at = open_page(monkeypatch, sample_db, PAGE)
    at.selectbox(key="rec_algo").set_value("itemknn")
    at.selectbox(key="rec_search").set_value("random").run()
    at.slider(key="rec_trials").set_value(5)
    at.button(key="train_rec").click().run(timeout=180)
    assert not at.exception and not at.error
    trials = next(d.value for d in at.dataframe if "Ranking quality (NDCG@10)" in d.value.columns)
    assert trials["trial"].tolist() == [1, 2, 3, 4, 5]
    assert "vs popularity" in next(
        m.proto.delta for m in at.metric if m.label == "Ranking quality @10"
    )
    newest = registry.list_models("recommender", db=sample_db)[0]
    assert newest["algo"] == "itemknn" and newest["model_id"] in at.success[0].value


def test_building_a_customer_table_from_events_selects_it(sample_db, monkeypatch):
    at = open_page(monkeypatch, sample_db, PAGE)
    at.button(key="build_features").click().run()
    assert not at.exception and not at.error
    assert at.selectbox(key="clf_table").value == "customer_features"
    assert at.selectbox(key="clf_target_customer_features").value == "converted"


def test_the_retraining_tab_saves_the_schedule_and_retrains_with_progress(
    db, tmp_path, monkeypatch
):
    from personalization.deploy import schedule
    from personalization.recommendation import training
    from personalization.store import jobs
    from tests.conftest import load_csv
    from tests.test_retrain import SVD_PARAMS, events_csv

    load_csv(db, tmp_path, "events", events_csv(range(60), 1))
    champion = training.train_recommender(algo="svd", params=SVD_PARAMS, db=db)["model_id"]
    at = open_page(monkeypatch, db, PAGE)
    assert not at.exception
    assert at.slider(key="schedule_growth").value == 0.2  # the defaults before one is saved
    at.slider(key="schedule_growth").set_value(0.3)
    at.number_input(key="schedule_days").set_value(14.0)
    at.button(key="schedule_save").click().run()
    assert not at.exception
    assert any("grew by 30% or every 14 days" in s.value for s in at.success)
    assert {k: schedule.settings(db=db)[k] for k in ("growth", "days")} == {
        "growth": 0.3,
        "days": 14,
    }
    at.button(key="retrain_now").click().run()
    assert not at.exception and not at.error
    assert any(i.value.startswith("not promoted") and champion in i.value for i in at.info)
    runs = at.dataframe[-1].value
    assert runs["trigger"].tolist() == ["dashboard"] and runs["promoted"].tolist() == [False]
    assert jobs.list_runs(db=db)[0]["margin"] == 0.01
    again = open_page(monkeypatch, db, PAGE)
    assert again.slider(key="schedule_growth").value == 0.3  # read back from the database
