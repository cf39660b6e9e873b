"""AppTest of the Explain page: SHAP views on the sample data."""

from __future__ import annotations

from tests.conftest import open_page

PAGE = "pages/explain.py"


def test_sample_model_shows_importance_beeswarm_dependence_and_a_customer(
    classifier_db, monkeypatch
):
    path, model_id = classifier_db
    at = open_page(monkeypatch, path, PAGE)
    assert not at.exception
    assert at.selectbox(key="explain_model").value == model_id
    assert len(at.get("plotly_chart")) == 4
    assert "the chance from" in at.info[0].value
    chance = next(m for m in at.metric if m.label == "Predicted chance to convert")
    assert chance.value.endswith("%") and "vs average" in chance.proto.delta
    assert "log-odds" not in at.info[0].value and "SHAP" not in at.info[0].value
    top = at.selectbox(key="explain_customer").value
    assert top == at.selectbox(key="explain_customer").options[0]


def test_the_average_customer_is_the_overall_rate_of_the_lift_page(classifier_db, monkeypatch):
    from tests.conftest import metric

    path, _ = classifier_db
    explain_page = open_page(monkeypatch, path, PAGE)
    lift_page = open_page(monkeypatch, path, "pages/lift.py")
    average = metric(explain_page, "Average customer")
    assert average == metric(lift_page, "Overall conversion rate")
    assert average.endswith("%") and float(average.rstrip("%")) > 0


def test_importance_bars_match_the_library_global_importance(classifier_db, monkeypatch):
    import json

    from personalization import registry
    from personalization.propensity import explain

    path, model_id = classifier_db
    at = open_page(monkeypatch, path, PAGE)
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    expected = explain.global_importance(registry.load_model(model_id, db=path)[0], sample=500)
    assert bars["y"][::-1][:3] == expected["feature"].head(3).tolist()
    shares = expected["mean_abs_shap"] / expected["mean_abs_shap"].sum()
    assert bars["text"][::-1][0] == f"{shares.iloc[0]:.0%}"
    assert at.selectbox(key="explain_feature").options[0] == expected["feature"].iloc[0]


def test_the_customer_helpers_change_the_customer(classifier_db, monkeypatch):
    path, _ = classifier_db
    at = open_page(monkeypatch, path, PAGE)
    first = at.selectbox(key="explain_customer").value
    options = at.selectbox(key="explain_customer").options
    at.selectbox(key="explain_customer").set_value(options[5]).run()
    assert at.selectbox(key="explain_customer").value == options[5]
    at.button(key="explain_top").click().run()
    assert at.selectbox(key="explain_customer").value == first
    feature = at.selectbox(key="explain_feature").options[-1]
    at.selectbox(key="explain_feature").set_value(feature).run()
    assert not at.exception
