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
    table = shap.importance(points)
    left, right = st.columns(2)
    left.plotly_chart(mc.shap_bar(table, title="Feature importance"), width="stretch")
    left.caption("How much each feature moves the score on average, in either direction.")
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
    average = shap.as_probability(result["base_value"], result["output_space"])
    a, b = st.columns(2)
    a.metric(
        "Predicted chance to convert",
        ui.fmt_pct(result["probability"]),
        delta=f"{(result['probability'] - average) * 100:+.1f} pts vs average",
        help="The model's probability that this customer converts.",
    )
    b.metric(
        "Average customer",
        ui.fmt_pct(average),
        help="Where every explanation starts: the model's output for an average customer.",
    )
    st.info(result["sentence"], icon=":material/lightbulb:")
    st.plotly_chart(
        mc.waterfall_figure(
            result["contributions"],
            result["base_value"],
            result["prediction"],
            output_space=result["output_space"],
            title="From the average customer to this one",
        ),
        width="stretch",
    )
    units = (
        "percentage points of the chance (0.10 = 10 points)"
        if result["output_space"] == "probability"
        else "log-odds, the model's own units: compare their sizes rather than read them as percentages"
    )
    st.caption(
        f"Red bars raise the chance, blue bars lower it; the values after '=' are this customer's. "
        f"The numbers in the sentence and on the bars are {units}."
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
