"""The Train page's conversion-model tab: a customer table (or one built from the events), target,
model family and settings; then one call (``train_classifier``) and the result with its curves."""

from __future__ import annotations

from typing import Any

import streamlit as st

import ui
from panels import runs
from personalization import propensity, registry
from personalization.charts import propensity as charts
from personalization.errors import PersonalizationError
from personalization.values import is_number

CLASSIFIERS = {
    "gradient_boosting": "Gradient boosting: many small decision trees; usually the most "
    "accurate. Default.",
    "random_forest": "Random forest: averages many decision trees; robust, little tuning needed.",
    "logreg": "Logistic regression: a weighted sum of the features; the simplest to explain.",
    "mlp": "Neural network (MLP): can find complex patterns; needs more data.",
}
BALANCE = {
    "none": "None: train on the data as it is; the yes/no cut-off is still tuned for the rare "
    "converters (default, usually the best ranking).",
    "class_weight": "Weight the classes: converters count more, so the rare class is not ignored.",
    "smote": "SMOTE: add synthetic converters that resemble real ones before training.",
    "undersample": "Undersample: drop non-converters at random until both classes are as large.",
}
SPLITS = {"70 / 15 / 15": (0.7, 0.15, 0.15), "80 / 10 / 10": (0.8, 0.1, 0.1)}
TABLES = ("customers", "customer_features")
TARGETS = ("converted", "target", "label", "revenue", "churn")
POSITIVES = ("yes", "true", "1", "1.0")


def default_index(options: list[str], preferred: tuple[str, ...]) -> int:
    """Index of the first of ``preferred`` found in ``options`` (any case), else 0."""
    lowered = [str(o).lower() for o in options]
    return next((lowered.index(p) for p in preferred if p in lowered), 0)


def build_features_button() -> None:
    """Build the ``customer_features`` table from the events, and select it."""
    with st.expander("No customer table? Build one from the events"):
        st.caption(
            "Makes one row per customer from their actions (recency, frequency, spend, counts per "
            "action, …) and whether they purchased in the last 30 days, into the table "
            "`customer_features`."
        )
        if st.button("Build customer table", key="build_features"):
            from personalization.data import features

            try:
                with st.spinner("Building customer features…"):
                    built = features.build_customer_features(db=ui.db_path())
                ui.refresh()
                st.session_state["clf_table"] = built["table"]
                st.success(
                    f"Built `{built['table']}`: {ui.fmt_int(built.get('rows'))} customers, "
                    f"{ui.fmt_int(built.get('positives'))} of them bought between "
                    f"{built['cutoff'][:10]} and {built['label_end'][:10]} (the target, "
                    f"`converted`); the features use only what they did before."
                )
                if built.get("dropped"):
                    st.caption(
                        "Left out, as your events have nothing for them (the same for everyone): "
                        + ", ".join(built["dropped"])
                        + "."
                    )
            except PersonalizationError as exc:
                ui.show_error(exc)


def target_inputs(table: str, b: Any, c: Any) -> tuple[str, str | None, list[str]]:
    """Target column (in column ``b``), its value that means yes (in ``c``), and the columns to
    leave out of ``table``."""
    sample = ui.preview(table, 5000)
    columns = list(sample.columns)
    target = b.selectbox(
        "What to predict (target column)",
        columns,
        index=default_index(columns, TARGETS),
        key=f"clf_target_{table}",
        help="The column saying whether the customer converted.",
    )
    values = sorted(sample[target].dropna().astype(str).unique().tolist())[:50]
    positive = c.selectbox(
        "Value that means 'yes'",
        values,
        index=default_index(values, POSITIVES) if values else None,
        key=f"clf_pos_{table}_{target}",
        help="Customers with this value in the target count as converters.",
    )
    exclude = st.multiselect(
        "Leave out columns",
        [x for x in columns if x != target],
        key=f"clf_ex_{table}",
        help="Columns the model must not use, e.g. ids or anything known only after "
        "the conversion (that would be leakage).",
    )
    return target, positive, exclude


def classifier_settings(tables: list[str]) -> dict:
    """The widgets of the tab; returns the keyword arguments of ``train_classifier``."""
    if st.session_state.get("clf_table") not in tables:
        st.session_state["clf_table"] = tables[default_index(tables, TABLES)]
    a, b, c = st.columns(3)
    table = a.selectbox(
        "Customer table",
        tables,
        key="clf_table",
        help="One row per customer, with the columns the model learns from and the outcome.",
    )
    target, positive, exclude = target_inputs(table, b, c)
    d, e = st.columns(2)
    algo = d.selectbox(
        "Model family",
        list(CLASSIFIERS),
        key="clf_algo",
        format_func=lambda a: CLASSIFIERS[a].split(":")[0],
        help="\n\n".join(f"**{k}**: {v}" for k, v in CLASSIFIERS.items()),
    )
    d.caption(CLASSIFIERS[algo])
    balance = e.selectbox(
        "Rare converters",
        list(BALANCE),
        key="clf_balance",
        format_func=lambda b: BALANCE[b].split(":")[0],
        help="\n\n".join(f"**{k}**: {v}" for k, v in BALANCE.items()),
    )
    e.caption(BALANCE[balance])
    with st.expander("Settings", expanded=False):
        f, g = st.columns(2)
        split = f.radio(
            "Train / validation / test split (%)",
            list(SPLITS),
            horizontal=True,
            key="clf_split",
            help="Share of customers used to learn, to pick the threshold, and to grade the "
            "final model on customers it has never seen.",
        )
        folds = g.select_slider(
            "Cross-validation folds",
            [0, 3, 5, 10],
            value=5,
            key="clf_folds",
            help="Retrain this many times on different slices to see how stable the score is. "
            "0 skips it (faster).",
        )
    search, trials = runs.search_inputs("clf", propensity.SEARCHES)
    return {
        "table": table,
        "target": target,
        "positive": positive,
        "exclude": tuple(exclude),
        "algo": algo,
        "balance": balance,
        "split": SPLITS[split],
        "folds": folds,
        "search": search,
        "trials": trials,
    }


def train_classifier_run(settings: dict) -> dict:
    """Train and save, with the progress (and the tuning trials) in a status box."""
    from personalization.propensity.training import train_classifier

    tuning = settings["search"] != "none"
    with st.status("Training the conversion model…", expanded=True) as status:
        progress = ui.progress_bar(status)
        stop = status.empty()
        ui.cancel_button(stop, "cancel_clf")
        on_trial = runs.trial_recorder(status, "roc_auc", "ROC AUC") if tuning else None
        st.session_state["clf_saved"] = None
        result = train_classifier(**settings, db=ui.db_path(), progress=progress, on_trial=on_trial)
        st.session_state["clf_saved"] = result["model_id"]
        stop.empty()
        status.update(label=f"Saved as {result['model_id']}", state="complete", expanded=tuning)
    return result


def classifier_curves(model_id: str) -> None:
    """ROC, precision-recall and calibration of the model on its test split."""
    artifact, _ = ui.load_model(model_id)
    y, scores = artifact.y_test, artifact.test_scores
    if len(set(map(int, y))) < 2:
        st.caption("The test split holds only one class, so no curves can be drawn.")
        return
    left, mid, right = st.columns(3)
    left.plotly_chart(charts.roc_figure(y, scores, title="Ranking quality (ROC)"), width="stretch")
    mid.plotly_chart(charts.pr_figure(y, scores, title="Precision vs recall"), width="stretch")
    right.plotly_chart(
        charts.calibration_figure(y, scores, title="Are the probabilities honest?"),
        width="stretch",
    )
    st.caption(
        "ROC: the further above the dashed line, the better the model separates buyers from "
        "non-buyers. Precision-recall: how pure the target list stays as you reach more buyers. "
        "Calibration: on the diagonal, a predicted 20% means 20% really convert."
    )


def leakage_section(result: dict) -> None:
    """Each flagged column loudly, with one-click ways out: exclude it and retrain with the same
    settings, or keep the model (the column is known before the outcome) and promote it."""
    flagged = result.get("leakage") or []
    if not flagged or result.get("leakage_kept"):
        return
    for finding in flagged:
        column = finding["column"]
        st.error(finding["message"], icon=":material/report:")
        if st.button(f"Exclude {column} and retrain", key=f"clf_exclude_{column}", type="primary"):
            settings = dict(result["settings"])
            settings["exclude"] = tuple(dict.fromkeys([*settings.get("exclude", ()), column]))
            try:
                st.session_state["clf_result"] = train_classifier_run(settings)
            except PersonalizationError as exc:
                ui.show_error(exc)
                return
            ui.refresh()
            st.rerun()
    if st.button("Keep it (it is known before the outcome)", key=f"clf_keep_{result['model_id']}"):
        registry.promote(result["model_id"], db=ui.db_path())
        st.session_state["clf_result"] = {**result, "status": "promoted", "leakage_kept": True}
        ui.refresh()
        st.rerun()


def show_classifier_result(result: dict) -> None:
    """The saved run: leakage flags, warnings, its cards against no model in plain words,
    cross-validation, its curves."""
    leakage_section(result)
    for warning in result.get("warnings") or []:
        st.warning(warning, icon=":material/warning:")
    held = result.get("leakage") and result.get("status") != "promoted"
    standing = (
        "It is NOT in use until you answer the leakage question above."
        if held
        else runs.standing(result)
    )
    st.success(f"Saved **{result['model_id']}** ({result.get('algo', '')}). " + standing)
    metrics = result.get("metrics") or {}
    test, baseline = metrics.get("test") or {}, metrics.get("baseline") or {}
    cards = runs.CARDS["classifier"]
    runs.metric_cards(test, baseline, cards, "no model")
    words = result.get("metrics_in_words") or []
    if words:
        st.markdown("\n".join(f"- {w['text']}" for w in words))
    st.caption(
        "Compared with no model: ranking customers at random (ROC AUC 0.5) and contacting "
        "everyone (precision = the conversion rate, recall = 100%, so a lower recall is expected)."
    )
    cv = result.get("cv") or {}
    if is_number(cv.get("roc_auc_mean")):
        st.caption(
            f"Cross-validation ROC AUC: {ui.fmt_num(cv['roc_auc_mean'])} ± "
            f"{ui.fmt_num(cv.get('roc_auc_std'))} (a small ± means the model is stable)."
        )
    classifier_curves(result["model_id"])
    runs.explain_metrics([k for k in test if k in cards or k == "threshold"])


def classifier_tab(tables: list[str]) -> None:
    """The whole tab after the build button; ``tables`` are the candidate customer tables."""
    settings = classifier_settings(tables)
    if ui.cancelled("cancel_clf"):
        ui.show_cancelled("The training", st.session_state.get("clf_saved"))
    runs.train_and_show(
        "Train conversion model",
        "clf",
        train_classifier_run,
        show_classifier_result,
        settings,
        disabled=settings["positive"] is None,
    )
    runs.earlier_runs("classifier")
