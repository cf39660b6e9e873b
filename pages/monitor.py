"""Monitor: alerts first, then drift, metrics over time, feedback and campaign readouts.

Every figure comes from ``personalization.monitoring`` (the same calls as the ``drift``,
``readout`` and ``monitor`` commands); charts from ``personalization.charts.monitoring``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

import ui
from panels import retraining
from personalization.charts import monitoring as charts
from personalization.errors import PersonalizationError
from personalization.monitoring import accuracy, alerts, drift, outcomes, readout


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner="Checking the alert rules…")
def alert_check(db: str, version: str) -> dict:
    return alerts.check_alerts(db=db)


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner="Comparing the tables…")
def drift_check(reference: str, current: str, model_id: str | None, db: str, version: str) -> dict:
    return drift.drift_report(reference, current, model_id=model_id, db=db)


@st.cache_data(ttl=ui.CACHE_TTL_SECONDS, show_spinner=False)
def feature_values(table: str, feature: str, db: str, version: str):
    return drift.feature_values(table, feature, db=db)


def saved(upload, folder: str, name: str) -> Path:
    """An uploaded file written into ``folder`` as ``name`` plus its own extension."""
    path = Path(folder) / (name + Path(upload.name).suffix.lower())
    path.write_bytes(upload.getvalue())
    return path


def alert_section(db: str, version: str) -> None:
    st.subheader("Alerts")
    found = alert_check(db, version)
    for item in found["alerts"]:
        st.error(item["message"], icon=":material/warning:")
    if not found["alerts"]:
        st.success(
            f"No alert: {len(found['checked'])} of {len(alerts.RULES)} rules checked.",
            icon=":material/check_circle:",
        )
    if found["skipped"]:
        st.caption(
            "Not checked: " + "; ".join(f"{rule} ({why})" for rule, why in found["skipped"].items())
        )
    for kind in alerts.degraded_kinds(found["alerts"]):
        if retraining.retrain_now(kind, key=f"monitor_retrain_{kind}", trigger="monitor"):
            alert_check.clear()


def drift_section(db: str, version: str, names: list[str]) -> None:
    st.subheader("Drift")
    st.caption(
        "PSI per feature between a reference and a current table, with a Kolmogorov-Smirnov test "
        "for numbers and chi-square for categories. PSI 0.1 is worth watching, 0.25 calls for "
        "action; a feature counts as drifted when its test agrees."
    )
    if len(names) < 2:
        st.info("Load two tables of the same layout (e.g. two periods) to compare them.")
        return
    left, middle, right = st.columns(3)
    reference = left.selectbox("Reference table", names, key="drift_reference")
    current = middle.selectbox("Current table", names, key="drift_current")
    classifiers = [m["model_id"] for m in ui.models("classifier")]
    model_id = right.selectbox(
        "Weight by the SHAP importance of",
        [None, *classifiers],
        format_func=lambda m: "no model" if m is None else m,
        key="drift_model",
    )
    if reference == current:
        st.info(
            "Choose two different tables: the data the model learned from (reference) and the "
            "newest data (current), e.g. last quarter's customers and this month's.",
            icon=":material/compare_arrows:",
        )
        return
    try:
        report = drift_check(reference, current, model_id, db, version)
    except PersonalizationError as exc:
        ui.show_error(exc)
        return
    a, b, c = st.columns(3)
    a.metric("Features compared", ui.fmt_int(len(report["features"])))
    b.metric("Drifted share", ui.fmt_pct(report["drifted_share"]))
    c.metric("Alert", "yes" if report["alert"] else "no")
    table = drift.features_frame(report)
    st.plotly_chart(charts.drift_figure(table, title="Drift per feature"), width="stretch")
    st.dataframe(table, hide_index=True, width="stretch")
    if table.empty:
        return
    feature = st.selectbox("Distributions of", table["feature"].tolist(), key="drift_feature")
    numeric = table.set_index("feature").loc[feature, "kind"] == "number"
    st.plotly_chart(
        charts.overlay_figure(
            feature_values(reference, feature, db, version),
            feature_values(current, feature, db, version),
            numeric=bool(numeric),
            title=f"{feature}: reference and current",
        ),
        width="stretch",
    )


def timeline_section(db: str) -> None:
    st.subheader("Metrics over time")
    lists, recommender, classifier = st.tabs(["Logged lists", "Recommender", "Classifier"])
    with lists:
        try:
            weekly = outcomes.engagement(outcomes.list_outcomes(db=db), by="window", freq="W")
        except PersonalizationError as exc:
            st.info(str(exc))
        else:
            st.plotly_chart(
                charts.timeline_figure(
                    weekly,
                    "window",
                    {"click_through": "Click-through", "conversion": "Conversion"},
                    "Share",
                    title="What customers did with the lists, per week",
                ),
                width="stretch",
            )
        st.caption("What got recommended, per logged batch (PSI against the batch before):")
        st.dataframe(drift.logged_recommendation_drift(db=db), hide_index=True, width="stretch")
    with recommender:
        try:
            table = accuracy.recommender_accuracy(db=db)
        except PersonalizationError as exc:
            st.info(str(exc))
        else:
            st.plotly_chart(
                charts.timeline_figure(
                    table,
                    "window",
                    {
                        "hit_rate": "Hit rate",
                        "ndcg": "NDCG",
                        "baseline_hit_rate": "Hit rate (popularity baseline)",
                        "baseline_ndcg": "NDCG (popularity baseline)",
                    },
                    "At 10",
                    title="Promoted recommender per week",
                ),
                width="stretch",
            )
    with classifier:
        column = st.text_input("Time column of the labelled table", key="accuracy_time")
        try:
            table = accuracy.classifier_accuracy(time_column=column or None, db=db)
        except PersonalizationError as exc:
            st.info(str(exc))
        else:
            st.plotly_chart(
                charts.timeline_figure(
                    table.astype({"window": str}),
                    "window",
                    {
                        "roc_auc": "ROC-AUC",
                        "precision": "Precision",
                        "baseline_auc": "Test ROC-AUC",
                    },
                    "Score",
                    title="Promoted classifier per window",
                ),
                width="stretch",
            )


def feedback_section(db: str) -> None:
    st.subheader("Feedback and approval")
    table = outcomes.approval(db=db)
    st.plotly_chart(charts.approval_figure(table, title="Thumbs per model"), width="stretch")
    st.dataframe(table, hide_index=True, width="stretch")
    upload = st.file_uploader("Survey answers (user_id, item_id or offer_id, score)", type="csv")
    if upload is not None and st.button("Store the answers", key="survey_store"):
        try:
            with tempfile.TemporaryDirectory() as folder:
                done = outcomes.load_survey(saved(upload, folder, "survey"), db=db)
        except PersonalizationError as exc:
            ui.show_error(exc)
        else:
            st.success(f"Stored {done['rows']} answers (mean score {done['mean_score']:.2f}).")


def readout_section(db: str) -> None:
    st.subheader("Campaign readout")
    st.caption(
        "Treated customers against the control group of an export made with a control share: "
        "from an outcomes file, or from the purchases that followed the export."
    )
    left, right = st.columns(2)
    export = left.file_uploader("Export file (with a group column)", type=["csv", "parquet"])
    result_file = right.file_uploader("Outcomes (user_id, converted, revenue)", type="csv")
    segment = st.text_input("Split by column (optional)", key="readout_segment")
    if export is not None:
        try:
            with tempfile.TemporaryDirectory() as folder:
                result = readout.campaign_readout(
                    saved(export, folder, "export"),
                    saved(result_file, folder, "outcomes") if result_file is not None else None,
                    segment=segment or None,
                    db=db,
                )
        except PersonalizationError as exc:
            ui.show_error(exc)
        else:
            show_readout(result)
    st.markdown("**Sample size for the next test**")
    a, b, c = st.columns(3)
    base = a.number_input("Control conversion rate", 0.001, 0.999, 0.05, format="%.3f")
    lift = b.number_input("Lift to detect (relative)", 0.01, 5.0, 0.15, format="%.2f")
    power = c.number_input("Power", 0.5, 0.99, 0.8, format="%.2f")
    try:
        size = readout.sample_size(base, lift, power=power)
    except PersonalizationError as exc:
        ui.show_error(exc)
    else:
        st.metric("Customers per group", ui.fmt_int(size))


def show_readout(result: dict) -> None:
    a, b, c, d = st.columns(4)
    a.metric("Treated conversion", ui.fmt_pct(result["treatment"]["rate"]))
    b.metric("Control conversion", ui.fmt_pct(result["control"]["rate"]))
    c.metric(
        "Lift",
        ui.fmt_pct(result["lift"]),
        help=f"95% interval {ui.fmt_pct(result['ci_low'])} to {ui.fmt_pct(result['ci_high'])}",
    )
    d.metric("p-value", ui.fmt_num(result["p_value"]))
    st.plotly_chart(charts.readout_figure(result, title="Lift with its 95% interval"))
    st.caption(
        f"{ui.fmt_int(result['treatment']['customers'])} treated and "
        f"{ui.fmt_int(result['control']['customers'])} control customers; outcomes from "
        f"{result['source']}. The next test needs about "
        f"{ui.fmt_int(result['sample_size']['per_group'])} customers per group."
    )


ui.header(
    "Monitor",
    "Is the data drifting, are the models still right, and did the lists work? Alerts first.",
)
db, version = ui.db_path(), ui.data_version()
alert_section(db, version)
drift_section(db, version, [t["name"] for t in ui.tables()])
timeline_section(db)
feedback_section(db)
readout_section(db)
