"""Train: fit a recommender or a conversion model, see how it beats the baseline, compare and promote runs."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

import ui
from personalization import registry
from personalization.charts import models as mc
from personalization.errors import PersonalizationError
from personalization.recommendation.interactions import DEFAULT_EVENT_WEIGHTS, canonical_event_type

RECOMMENDERS = {
    "svd": "Matrix factorisation (SVD): finds hidden tastes shared by similar customers. A strong default.",
    "als": "Alternating least squares: matrix factorisation made for clicks and purchases (implicit feedback).",
    "itemknn": "Item neighbours: 'customers who bought this also bought'. Easy to explain.",
    "ease": "EASE: a linear item-to-item model; often the most accurate on small catalogues.",
    "content": "Content-based: recommends items whose title, category and description resemble the history.",
    "hybrid": "Hybrid: blends behaviour (factorisation) with item content; helps new items.",
    "popularity": "Popularity: the best-sellers for everyone. The baseline every model must beat.",
    "trending": "Trending: what is popular recently (weighted by recency).",
}
RANK_PARAMS = {"svd": "rank", "als": "factors"}
CLASSIFIERS = {
    "gradient_boosting": "Gradient boosting: many small decision trees; usually the most accurate. Default.",
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
REC_CARDS = ("ndcg", "precision", "recall", "hit_rate", "coverage")
NEUTRAL_DELTAS = ("recall",)
LABELS = {
    "ndcg": "Ranking quality", "precision": "Precision", "recall": "Recall", "hit_rate": "Hit rate",
    "coverage": "Catalogue coverage", "map": "MAP", "roc_auc": "ROC AUC", "pr_auc": "PR AUC", "f1": "F1",
}
CLF_CARDS = ("roc_auc", "pr_auc", "precision", "recall", "f1")
SEARCHES = {
    "none": "Off: train once with the settings above.",
    "random": "Random: try random settings.",
    "grid": "Grid: try a fixed grid of settings.",
    "bayes": "Bayesian: learns from earlier trials which settings look promising (recommended).",
}


def progress_reporter(status) -> Callable[[float, str], None]:
    """A progress callback that moves a bar inside ``status``."""
    bar = status.progress(0.0, text="Starting…")

    def report(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

    return report


def trial_recorder(status, score: str, name: str) -> tuple[Callable[[dict], None], list[dict]]:
    """An ``on_trial`` callback that appends each finished trial to a live table and chart.

    ``score`` names the trial's score key (``value`` for recommenders, ``roc_auc`` for classifiers);
    ``name`` is how the score is shown.
    """
    rows: list[dict] = []
    chart = status.empty()
    table = status.empty()

    def record(trial: dict) -> None:
        params = ", ".join(f"{k}={_short(v)}" for k, v in (trial.get("params") or {}).items())
        rows.append({"trial": len(rows) + 1, name: trial.get(score), "settings": params})
        frame = pd.DataFrame(rows)
        figure = mc.trials_figure(frame, value=name, label=f"{name} on validation (higher is better)")
        chart.plotly_chart(figure, width="stretch", key=f"trials_{len(rows)}")
        table.dataframe(frame, hide_index=True, width="stretch")

    return record, rows


def metric_cards(metrics: dict, baseline: dict, names: tuple[str, ...], baseline_label: str) -> None:
    """One ``st.metric`` per metric, with the difference to the baseline as the delta."""
    keys = [k for n in names for k in metrics if k.split("@")[0] == n]
    if not keys:
        return
    for col, key in zip(st.columns(len(keys)), keys, strict=False):
        value, base = metrics.get(key), baseline.get(key)
        delta = f"{value - base:+.3f} vs {baseline_label}" if _is_num(value) and _is_num(base) else None
        colour = "off" if key in NEUTRAL_DELTAS else "normal"
        col.metric(label(key), ui.fmt_num(value), delta=delta, delta_color=colour, help=ui.metric_help(key))


def label(key: str) -> str:
    """``ndcg@10`` -> ``Ranking quality (NDCG) @10``: a readable card label that keeps the cut-off."""
    name, _, k = key.partition("@")
    return LABELS.get(name, name) + (f" @{k}" if k else "")


def explain_metrics(keys: list[str]) -> None:
    with st.expander("What do these numbers mean?"):
        for key in keys:
            text = ui.metric_help(key)
            if text:
                st.markdown(f"**{label(key)}**: {text}")


def flat_metrics(info: dict) -> dict[str, float]:
    """The headline metrics of a catalog row: the test split of a classifier, the top level otherwise."""
    metrics = info.get("metrics") or {}
    source = metrics.get("test") if isinstance(metrics.get("test"), dict) else metrics
    return {k: float(v) for k, v in source.items() if _is_num(v) and k not in ("rows", "positives")}


def runs_table(runs: list[dict]) -> pd.DataFrame:
    rows = []
    for info in runs:
        row = {"model": info["model_id"], "algorithm": info["algo"], "status": info["status"],
               "name": info.get("name") or "", "trained": (info.get("created") or "")[:16].replace("T", " ")}
        row.update({label(k): round(v, 4) for k, v in flat_metrics(info).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def run_name(info: dict) -> str:
    """A run as people read it, with the end of its id so that two runs of one minute differ."""
    return f"{ui.model_label(info)} ({info['model_id'][-4:]})"


def earlier_runs(kind: str) -> None:
    """The catalog of this kind: a table, a side-by-side comparison, and promotion with one click."""
    st.subheader("Earlier runs")
    runs = ui.models(kind)
    if not runs:
        st.caption("No runs yet: the first model you train is saved and promoted automatically.")
        return
    st.dataframe(runs_table(runs), hide_index=True, width="stretch")
    ids = [r["model_id"] for r in runs]
    by_id = {r["model_id"]: r for r in runs}
    left, right = st.columns([3, 2])
    chosen = left.multiselect(
        "Compare runs", ids, default=ids[:2] if len(ids) >= 2 else ids, key=f"compare_{kind}_{len(ids)}",
        format_func=lambda m: run_name(by_id[m]),
        help="Pick two or more runs to see their metrics side by side.",
    )
    promoted = next((r["model_id"] for r in runs if r["status"] == "promoted"), ids[0])
    target = right.selectbox(
        "Model to use everywhere", ids, index=ids.index(promoted), key=f"promote_{kind}",
        format_func=lambda m: run_name(by_id[m]),
        help="The promoted model is the default on the other pages and in the command line.",
    )
    if right.button("Promote", key=f"promote_btn_{kind}", disabled=target == promoted, type="primary"):
        registry.promote(target, db=ui.db_path())
        ui.refresh()
        st.toast(f"{target} is now the promoted {kind}.")
        st.rerun()
    if len(chosen) >= 2:
        runs_metrics = {run_name(by_id[m]): {label(k): v for k, v in flat_metrics(by_id[m]).items()
                                              if k.split("@")[0] in REC_CARDS + CLF_CARDS + ("map",)}
                        for m in chosen}
        first = next(iter(runs_metrics.values()))
        shared = [k for k in first if all(k in v for v in runs_metrics.values())]
        st.plotly_chart(mc.metric_comparison(runs_metrics, shared, title="Runs side by side"), width="stretch")
    elif chosen:
        st.caption("Pick a second run to compare.")


def table_names(kind: str | None = None) -> list[str]:
    """User tables, or those loaded as ``kind`` (a table named like the kind counts too)."""
    return [t["name"] for t in ui.tables() if kind is None or kind in (t["kind"], t["name"])]


def event_types(table: str) -> list[str]:
    """The event types of ``table`` (from its cached profile), the default ones first; ratings left out."""
    present = list((ui.profile(table).get("events_per_type") or {}).keys())
    if not present:
        return list(DEFAULT_EVENT_WEIGHTS)
    ordered = [e for e in DEFAULT_EVENT_WEIGHTS if e in present] + sorted(
        e for e in present if e not in DEFAULT_EVENT_WEIGHTS
    )
    return [str(e) for e in ordered if e != "rating"]


def default_weight(event: str) -> float:
    """The library's default weight of ``event`` or of the type it is a synonym of."""
    return float(DEFAULT_EVENT_WEIGHTS.get(canonical_event_type(event), 1.0))


def event_weight_inputs(table: str) -> dict[str, float]:
    st.caption("How much each kind of action says about a customer's taste. 0 ignores it; ratings use their own value.")
    types = event_types(table)
    weights: dict[str, float] = {}
    for start in range(0, len(types), 5):
        for col, event in zip(st.columns(5), types[start:start + 5], strict=False):
            weights[event] = col.number_input(
                event.replace("_", " "), min_value=0.0, max_value=100.0, value=default_weight(event),
                step=1.0, key=f"w_{table}_{event}",
                help=f"Weight of one '{event}' event in the customer x item matrix.",
            )
    return weights


def recommender_settings() -> dict:
    events = table_names("events")
    left, right = st.columns(2)
    table = left.selectbox("Events table", events, key="rec_table", help="The table of customer actions to learn from.")
    algo = right.selectbox(
        "Model family", available_recommenders(), key="rec_algo",
        format_func=lambda a: RECOMMENDERS[a].split(":")[0] if a in RECOMMENDERS else a,
        help="\n\n".join(f"**{k}**: {v}" for k, v in RECOMMENDERS.items()),
    )
    st.caption(RECOMMENDERS.get(algo, ""))
    params: dict = {}
    with st.expander("Settings", expanded=False):
        weights = event_weight_inputs(table)
        a, b = st.columns(2)
        rank = a.select_slider(
            "Rank (number of hidden tastes)", ["auto", 8, 16, 32, 64, 128, 256, 512], value="auto", key="rec_rank",
            disabled=algo not in RANK_PARAMS,
            help="How many hidden taste dimensions a factorisation model learns. "
                 "'auto' picks the best on held-out data (for SVD together with how strongly "
                 "weak tastes and best-sellers are damped).",
        )
        half_life = b.number_input(
            "Half-life of interest (days)", min_value=0, max_value=3650, value=0, step=7, key="rec_half_life",
            help="Older actions count less: an action this many days old counts half. "
                 "0 keeps every action at full weight.",
        )
    if rank != "auto" and algo in RANK_PARAMS:
        params[RANK_PARAMS[algo]] = int(rank)
    search, trials = search_inputs("rec", ("none", "random", "grid", "bayes"))
    return {"table": table, "algo": algo, "params": params, "event_weights": weights,
            "half_life_days": half_life or None, "search": search, "trials": trials}


def search_inputs(prefix: str, options: tuple[str, ...]) -> tuple[str, int]:
    left, right = st.columns(2)
    search = left.selectbox(
        "Automatic tuning", options, format_func=lambda s: SEARCHES[s].split(":")[0], key=f"{prefix}_search",
        help="\n\n".join(f"**{SEARCHES[s].split(':')[0]}**:{SEARCHES[s].split(':', 1)[1]}" for s in options),
    )
    trials = right.slider("Trials", 5, 50, 10, key=f"{prefix}_trials", disabled=search in ("none", "grid"),
                          help="How many settings random or Bayesian tuning tries (a grid tries all of its own). "
                               "More trials take longer but may find a better model.")
    return search, trials


def available_recommenders() -> list[str]:
    """The families the library offers, the described ones first in the order of ``RECOMMENDERS``."""
    from personalization.recommendation.models import ALGORITHMS

    return [a for a in RECOMMENDERS if a in ALGORITHMS] + [a for a in ALGORITHMS if a not in RECOMMENDERS]


def train_recommender_run(settings: dict) -> dict:
    """Tune (when asked), then fit on all events and save; the result carries holdout metrics and baseline."""
    from personalization.recommendation import training

    common = {"event_weights": settings["event_weights"], "half_life_days": settings["half_life_days"],
              "table": settings["table"], "db": ui.db_path()}
    params = dict(settings["params"])
    with st.status("Training the recommender…", expanded=True) as status:
        if settings["search"] != "none":
            status.write(f"Tuning: trying {settings['trials']} settings, best so far in blue")
            record, _ = trial_recorder(status, "value", "Ranking quality (NDCG@10)")
            tuned = training.tune_recommender(
                algo=settings["algo"], search=settings["search"], trials=settings["trials"], params=params,
                on_trial=record, progress=progress_reporter(status), **common,
            )
            params = dict(tuned.get("best_params") or params)
        status.write("Measuring on held-out actions against the popularity baseline, then fitting on all data")
        trained = training.train_recommender(
            algo=settings["algo"], params=params, progress=progress_reporter(status), **common
        )
        status.update(label=f"Saved as {trained['model_id']}", state="complete",
                      expanded=settings["search"] != "none")
    metrics = dict(trained.get("metrics") or {})
    return {**trained, "baseline": metrics.pop("baseline", {}), "metrics": metrics}


def show_recommender_result(result: dict) -> None:
    st.success(f"Saved **{result['model_id']}** ({result['algo']}, {ui.fmt_int(result.get('n_users'))} customers, "
               f"{ui.fmt_int(result.get('n_items'))} items, {ui.fmt_num(result.get('fit_seconds'), 1)} s). "
               + standing(result))
    chosen = chosen_settings(result.get("params") or {})
    if chosen:
        st.caption(f"Chosen on held-out data: {chosen}.")
    metrics, baseline = result["metrics"], result["baseline"]
    if metrics.get("note"):
        st.info(f"The model is saved, but could not be measured: {metrics['note']}", icon=":material/info:")
        return
    metric_cards(metrics, baseline, REC_CARDS, "popularity")
    shown = [k for k in metrics if k.split("@")[0] in REC_CARDS]
    runs = {f"{result['algo']} (this run)": metrics, "Popularity baseline": baseline}
    st.plotly_chart(mc.metric_comparison(runs, shown, title="This model against best-sellers for everyone"),
                    width="stretch")
    explain_metrics(shown)


def train_and_show(label: str, kind: str, run: Callable[[dict], dict], show: Callable[[dict], None],
                   settings: dict, disabled: bool = False) -> None:
    """The train button of one tab: run it, keep the result for later reruns, show the latest."""
    if st.button(label, type="primary", key=f"train_{kind}", disabled=disabled):
        try:
            st.session_state[f"{kind}_result"] = run(settings)
        except PersonalizationError as exc:
            ui.show_error(exc)
        ui.refresh()
    if f"{kind}_result" in st.session_state:
        show(st.session_state[f"{kind}_result"])


def recommender_tab() -> None:
    if not table_names("events"):
        st.info("There are no customer actions (events) to learn from yet.", icon=":material/info:")
        st.page_link("pages/data.py", label="Load events on the Data page", icon=":material/arrow_forward:")
        return
    settings = recommender_settings()
    train_and_show("Train recommender", "rec", train_recommender_run, show_recommender_result, settings)
    earlier_runs("recommender")


def default_index(options: list[str], preferred: tuple[str, ...]) -> int:
    lowered = [str(o).lower() for o in options]
    return next((lowered.index(p) for p in preferred if p in lowered), 0)


def build_features_button() -> None:
    with st.expander("No customer table? Build one from the events"):
        st.caption("Makes one row per customer from their actions (recency, frequency, spend, counts per action, "
                   "…) and whether they purchased in the last 30 days, into the table `customer_features`.")
        if st.button("Build customer table", key="build_features"):
            from personalization.data import features

            try:
                with st.spinner("Building customer features…"):
                    built = features.build_customer_features(db=ui.db_path())
                ui.refresh()
                st.session_state["clf_table"] = built["table"]
                st.success(f"Built `{built['table']}`: {ui.fmt_int(built.get('rows'))} customers, "
                           f"{ui.fmt_int(built.get('positives'))} converted.")
            except PersonalizationError as exc:
                ui.show_error(exc)


def classifier_settings(tables: list[str]) -> dict:
    if st.session_state.get("clf_table") not in tables:
        st.session_state["clf_table"] = tables[default_index(tables, ("customers", "customer_features"))]
    a, b, c = st.columns(3)
    table = a.selectbox("Customer table", tables, key="clf_table",
                        help="One row per customer, with the columns the model learns from and the outcome.")
    sample = ui.preview(table, 5000)
    columns = list(sample.columns)
    target = b.selectbox("What to predict (target column)", columns,
                         index=default_index(columns, ("converted", "target", "label", "revenue", "churn")),
                         key=f"clf_target_{table}", help="The column saying whether the customer converted.")
    values = sorted(sample[target].dropna().astype(str).unique().tolist())[:50]
    positive = c.selectbox("Value that means 'yes'", values,
                           index=default_index(values, ("yes", "true", "1", "1.0")) if values else None,
                           key=f"clf_pos_{table}_{target}",
                           help="Customers with this value in the target count as converters.")
    exclude = st.multiselect("Leave out columns", [x for x in columns if x != target], key=f"clf_ex_{table}",
                             help="Columns the model must not use, e.g. ids or anything known only after "
                                  "the conversion (that would be leakage).")
    d, e = st.columns(2)
    algo = d.selectbox("Model family", list(CLASSIFIERS), key="clf_algo",
                       format_func=lambda a: CLASSIFIERS[a].split(":")[0],
                       help="\n\n".join(f"**{k}**: {v}" for k, v in CLASSIFIERS.items()))
    d.caption(CLASSIFIERS[algo])
    balance = e.selectbox("Rare converters", list(BALANCE), key="clf_balance",
                          format_func=lambda b: BALANCE[b].split(":")[0],
                          help="\n\n".join(f"**{k}**: {v}" for k, v in BALANCE.items()))
    e.caption(BALANCE[balance])
    with st.expander("Settings", expanded=False):
        f, g = st.columns(2)
        split = f.radio("Train / validation / test split (%)", list(SPLITS), horizontal=True, key="clf_split",
                        help="Share of customers used to learn, to pick the threshold, and to grade the final "
                             "model on customers it has never seen.")
        folds = g.select_slider("Cross-validation folds", [0, 3, 5, 10], value=5, key="clf_folds",
                                help="Retrain this many times on different slices to see how stable the score is. "
                                     "0 skips it (faster).")
    search, trials = search_inputs("clf", ("none", "grid", "bayes"))
    return {"table": table, "target": target, "positive": positive, "exclude": tuple(exclude), "algo": algo,
            "balance": balance, "split": SPLITS[split], "folds": folds, "search": search, "trials": trials}


def train_classifier_run(settings: dict) -> dict:
    from personalization.propensity import classifier

    with st.status("Training the conversion model…", expanded=True) as status:
        on_trial = trial_recorder(status, "roc_auc", "ROC AUC")[0] if settings["search"] != "none" else None
        result = classifier.train_classifier(
            **settings, db=ui.db_path(), progress=progress_reporter(status), on_trial=on_trial
        )
        status.update(label=f"Saved as {result['model_id']}", state="complete",
                      expanded=settings["search"] != "none")
    return result


def classifier_curves(model_id: str) -> None:
    artifact, _ = ui.load_model(model_id)
    y, scores = artifact.y_test, artifact.test_scores
    if len(set(map(int, y))) < 2:
        st.caption("The test split holds only one class, so no curves can be drawn.")
        return
    left, mid, right = st.columns(3)
    left.plotly_chart(mc.roc_figure(y, scores, title="Ranking quality (ROC)"), width="stretch")
    mid.plotly_chart(mc.pr_figure(y, scores, title="Precision vs recall"), width="stretch")
    right.plotly_chart(mc.calibration_figure(y, scores, title="Are the probabilities honest?"), width="stretch")
    st.caption("ROC: the further above the dashed line, the better the model separates buyers from non-buyers. "
               "Precision-recall: how pure the target list stays as you reach more buyers. "
               "Calibration: on the diagonal, a predicted 20% means 20% really convert.")


def chosen_settings(params: dict) -> str:
    """What the model chose for itself ("rank 512, shrinkage 3, best-seller damping 0.3")."""
    parts = []
    if params.get("rank") in (None, "auto") and "rank_" in params:
        parts.append(f"rank {params['rank_']} (hidden tastes)")
    if params.get("reg") in (None, "auto") and "reg_" in params:
        parts.append(f"shrinkage {params['reg_']:g}")
    if params.get("popularity_reg") in (None, "auto") and "popularity_reg_" in params:
        parts.append(f"best-seller damping {params['popularity_reg_']:g}")
    if "weighting" in params and params.get("weighting"):
        parts.append(f"{params['weighting']} weights")
    return ", ".join(parts)


def standing(result: dict) -> str:
    """Whether the new run is the one every page uses, or how to make it so."""
    if result.get("status") == "promoted":
        return "It is the model in use on every page."
    return "The earlier model stays in use; pick this run under *Model to use everywhere* below to switch."


def show_classifier_result(result: dict) -> None:
    for warning in result.get("warnings") or []:
        st.warning(warning, icon=":material/warning:")
    st.success(f"Saved **{result['model_id']}** ({result.get('algo', '')}). " + standing(result))
    metrics = result.get("metrics") or {}
    test, baseline = metrics.get("test") or {}, metrics.get("baseline") or {}
    metric_cards(test, baseline, CLF_CARDS, "no model")
    st.caption("Compared with no model: ranking customers at random (ROC AUC 0.5) and contacting everyone "
               "(precision = the conversion rate, recall = 100%, so a lower recall is expected).")
    cv = result.get("cv") or {}
    if _is_num(cv.get("roc_auc_mean")):
        st.caption(f"Cross-validation ROC AUC: {ui.fmt_num(cv['roc_auc_mean'])} ± {ui.fmt_num(cv.get('roc_auc_std'))} "
                   "(a small ± means the model is stable).")
    classifier_curves(result["model_id"])
    explain_metrics([k for k in test if k in CLF_CARDS or k == "threshold"])


def classifier_tab() -> None:
    build_features_button()
    tables = [t for t in table_names() if t not in ("events", "items")]
    if not tables:
        st.info("There is no customer table yet: upload one on the Data page or build one from events above.",
                icon=":material/info:")
        st.page_link("pages/data.py", label="Load a customer table on the Data page", icon=":material/arrow_forward:")
        return
    settings = classifier_settings(tables)
    train_and_show("Train conversion model", "clf", train_classifier_run, show_classifier_result, settings,
                   disabled=settings["positive"] is None)
    earlier_runs("classifier")


def _is_num(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


ui.header("Train", "Teach the workbench your customers: a recommender suggests products to each customer; "
                   "a conversion model scores how likely each customer is to buy. Every run is saved; the "
                   "promoted one is used on the other pages.")
rec_tab, clf_tab = st.tabs(["Recommender", "Conversion model"])
with rec_tab:
    recommender_tab()
with clf_tab:
    classifier_tab()
