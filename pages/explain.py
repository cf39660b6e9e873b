"""Explain: which features drive the conversion model overall, and why one customer scores as they do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import ui
from personalization.charts import explain as mc
from personalization.errors import PersonalizationError
from personalization.propensity import explain, shap

SAMPLE_SIZES = [200, 500, 1000, 2000]


@st.cache_data(show_spinner="Computing SHAP values for a sample of customers…", max_entries=16)
def swarm(model_id: str, db: str, sample: int) -> pd.DataFrame:
    """SHAP per (customer, feature) of a sample; importance and dependence are read from it, so the
    model is explained once per model and sample size."""
    return shap.beeswarm_data(ui.load_model(model_id)[0], sample=sample)


@st.cache_data(show_spinner="Explaining this customer…", max_entries=64)
def customer(model_id: str, db: str, key: str) -> dict:
    return explain.explain_customer(ui.load_model(model_id)[0], key, db=db)


def global_section(points: pd.DataFrame) -> pd.DataFrame:
    st.subheader("What drives conversion overall")
    table = explain.with_shares(shap.importance(points))
    left, right = st.columns(2)
    left.plotly_chart(mc.share_bar(table, title="Share of the explanation"), width="stretch")
    left.caption(
        "Each column's share of everything that moves customers' chances away from the average, "
        "in either direction; the shares add up to 100%. Columns are the ones of your table "
        "(a text column's values count as one column)."
    )
    right.plotly_chart(mc.beeswarm(points, title="Effect per customer"), width="stretch")
    right.caption(
        "One dot per customer. Right of the line raises the score, left lowers it; red dots have a high "
        "value of the feature, blue a low one (grey: a category)."
    )
    return table


def dependence_section(points: pd.DataFrame, features: list[str]) -> None:
    st.subheader("How one feature changes the score")
    feature = st.selectbox(
        "Feature",
        features,
        key="explain_feature",
        help="Features are listed from the most to the least important.",
    )
    one = points[points["feature"] == feature][["value", "shap"]]
    st.plotly_chart(
        mc.dependence_figure(one, feature, title=f"Effect of {feature}"), width="stretch"
    )
    st.caption(
        "Each dot is a customer: the feature's value (across) and how much it raised or lowered that "
        "customer's score (up or down)."
    )


def pick_customer(artifact) -> str:
    keys = explain.customer_choices(artifact)
    if st.session_state.get("explain_customer") not in keys:
        st.session_state["explain_customer"] = keys[0]
    left, mid, right = st.columns([3, 1, 1])
    mid.button(
        "Highest score",
        key="explain_top",
        width="stretch",
        on_click=lambda: st.session_state.update(explain_customer=keys[0]),
    )
    right.button(
        "Random customer",
        key="explain_random",
        width="stretch",
        on_click=lambda: st.session_state.update(
            explain_customer=str(np.random.default_rng().choice(keys))
        ),
    )
    label = f"Customer ({artifact.key})" if artifact.key else "Customer (row of the test split)"
    return left.selectbox(
        label,
        keys,
        key="explain_customer",
        help="Customers the model never saw while learning (its test split), from the highest "
        "score down; type to search.",
    )


def customer_section(model_id: str, artifact) -> None:
    st.subheader("Why this customer scores as they do")
    key = pick_customer(artifact)
    result = customer(model_id, ui.db_path(), key)
    average = result["average_rate"]
    a, b = st.columns(2)
    a.metric(
        "Predicted chance to convert",
        ui.fmt_pct(result["chance"]),
        delta=f"{(result['chance'] - average) * 100:+.1f} pts vs average",
        help="The model's probability that this customer converts.",
    )
    b.metric(
        "Average customer",
        ui.fmt_pct(average),
        help="The share of the test customers who really converted: the same rate as the Lift "
        "page's overall conversion rate. Every explanation starts from it.",
    )
    calibration = result["calibration"]
    if calibration["skewed"]:
        st.warning(calibration["message"], icon=":material/balance:")
    else:
        st.caption(calibration["message"])
    st.info(result["sentence"], icon=":material/lightbulb:")
    st.plotly_chart(
        mc.chance_waterfall(
            result["steps"],
            average,
            result["model_average"],
            result["chance"],
            title="From the average customer to this one",
        ),
        width="stretch",
    )
    st.caption(
        "Red bars raise the chance, blue bars lower it, in percentage points; the values after "
        "'=' are this customer's. Columns are added biggest first, so 'from A to B' depends on "
        "that order while the size of each step does not. Computed with SHAP on the chance "
        "itself, against 50 test customers spread over all scores."
    )


ui.header(
    "Explain",
    "Why the conversion model scores customers the way it does: the features that matter "
    "most overall, how each one moves the score, and the reasons behind one customer's score.",
)
try:
    model_id = ui.pick_model(
        "classifier",
        "No conversion model has been trained yet. Train one to see what drives conversion.",
        key="explain_model",
        help="The promoted model is chosen by default.",
    )["model_id"]
    artifact, info = ui.load_model(model_id)
    hold = (info.get("details") or {}).get("hold")
    if hold and str(hold).startswith("leakage") and info.get("status") != "promoted":
        st.warning(
            f"This model is on hold ({hold}): the column it names may be recorded after the "
            "outcome, so the explanation below may lean on it. Answer it on the Train page.",
            icon=":material/report:",
        )
    sample = st.select_slider(
        "Customers to explain",
        SAMPLE_SIZES,
        value=500,
        key="explain_sample",
        help="More customers give steadier pictures but take longer the first time.",
    )
    points = swarm(model_id, ui.db_path(), sample)
    table = global_section(points)
    dependence_section(points, table["feature"].astype(str).tolist())
    customer_section(model_id, artifact)
except PersonalizationError as exc:
    ui.show_error(exc)
