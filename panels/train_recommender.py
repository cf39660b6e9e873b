"""The Train page's recommender tab: events table, model family, settings, tuning; then one call
(``training.tune_and_train``) and the result against the popularity baseline."""

from __future__ import annotations

import streamlit as st

import ui
from panels import runs
from personalization.charts import models as charts
from personalization.errors import PersonalizationError

RECOMMENDERS = {
    "svd": "Matrix factorisation (SVD): finds hidden tastes shared by similar customers. "
    "A strong default.",
    "als": "Alternating least squares: matrix factorisation made for clicks and purchases "
    "(implicit feedback).",
    "itemknn": "Item neighbours: 'customers who bought this also bought'. Easy to explain.",
    "ease": "EASE: a linear item-to-item model; often the most accurate on small catalogues.",
    "content": "Content-based: recommends items whose title, category and description resemble "
    "the history.",
    "hybrid": "Hybrid: blends behaviour (factorisation) with item content; helps new items.",
    "popularity": "Popularity: the best-sellers for everyone. The baseline every model must beat.",
    "trending": "Trending: what is popular recently (weighted by recency).",
    "sequence": "Sequence: what a visitor wants next, from the order of their clicks; picks the "
    "best of the sequence models below on the latest events.",
    "recent": "Recently viewed: what the visitor looked at lately, and what resembles it.",
    "transitions": "Transitions: what usually follows the last products clicked.",
    "session-knn": "Similar sessions: sessions like this one vote for their next products.",
    "sasrec": "SASRec: a neural network over the order of clicks (needs PyTorch; slower).",
}
RANK_PARAMS = {"svd": "rank", "als": "factors"}
RANKS = ["auto", 8, 16, 32, 64, 128, 256, 512]
SEARCH_OPTIONS = ("none", "random", "grid", "bayes")


def available_recommenders() -> list[str]:
    """The families the library offers, the described ones first in the order of ``RECOMMENDERS``."""
    from personalization.recommendation.models import ALGORITHMS

    described = [a for a in RECOMMENDERS if a in ALGORITHMS]
    return described + [a for a in ALGORITHMS if a not in RECOMMENDERS]


def event_weight_inputs(table: str) -> dict[str, float]:
    """A number input per event type of ``table`` (five a row), prefilled with its default."""
    from personalization.recommendation import training

    st.caption(
        "How much each kind of action says about a customer's taste. 0 ignores it; ratings use "
        "their own value."
    )
    present = list((ui.profile(table).get("events_per_type") or {}).keys())
    defaults = list(training.event_weight_defaults(present).items())
    weights: dict[str, float] = {}
    for start in range(0, len(defaults), 5):
        for col, (event, weight) in zip(st.columns(5), defaults[start : start + 5], strict=False):
            weights[event] = col.number_input(
                event.replace("_", " "),
                min_value=0.0,
                max_value=100.0,
                value=weight,
                step=1.0,
                key=f"w_{table}_{event}",
                help=f"Weight of one '{event}' event in the customer x item matrix.",
            )
    return weights


def recommender_settings(events: list[str]) -> dict:
    """The widgets of the tab; returns the keyword arguments of ``training.tune_and_train``."""
    left, right = st.columns(2)
    table = left.selectbox(
        "Events table",
        events,
        key="rec_table",
        help="The table of customer actions to learn from.",
    )
    algo = right.selectbox(
        "Model family",
        available_recommenders(),
        key="rec_algo",
        format_func=lambda a: RECOMMENDERS[a].split(":")[0] if a in RECOMMENDERS else a,
        help="\n\n".join(f"**{k}**: {v}" for k, v in RECOMMENDERS.items()),
    )
    st.caption(RECOMMENDERS.get(algo, ""))
    with st.expander("Settings", expanded=False):
        weights = event_weight_inputs(table)
        a, b = st.columns(2)
        rank = a.select_slider(
            "Rank (number of hidden tastes)",
            RANKS,
            value="auto",
            key="rec_rank",
            disabled=algo not in RANK_PARAMS,
            help="How many hidden taste dimensions a factorisation model learns. "
            "'auto' picks the best on held-out data (for SVD together with how strongly "
            "weak tastes and best-sellers are damped).",
        )
        half_life = b.number_input(
            "Half-life of interest (days)",
            min_value=0,
            max_value=3650,
            value=0,
            step=7,
            key="rec_half_life",
            help="Older actions count less: an action this many days old counts half. "
            "0 keeps every action at full weight.",
        )
    params = {RANK_PARAMS[algo]: int(rank)} if rank != "auto" and algo in RANK_PARAMS else {}
    search, trials = runs.search_inputs("rec", SEARCH_OPTIONS)
    return {
        "table": table,
        "algo": algo,
        "params": params,
        "event_weights": weights,
        "half_life_days": half_life or None,
        "search": search,
        "trials": trials,
    }


def train_recommender_run(settings: dict) -> dict:
    """Tune (when asked), then fit on all events and save, with the progress in a status box."""
    from personalization.recommendation import training

    tuning = settings["search"] != "none"
    with st.status("Training the recommender…", expanded=True) as status:
        status.write(
            f"Tuning: trying {settings['trials']} settings (best so far in blue), then measuring "
            "the best on held-out actions against the popularity baseline and fitting it on all data"
            if tuning
            else "Measuring on held-out actions against the popularity baseline, then fitting on "
            "all data"
        )
        progress = ui.progress_bar(status)
        stop = status.empty()
        ui.cancel_button(stop, "cancel_rec")
        on_trial = (
            runs.trial_recorder(status, "value", "Ranking quality (NDCG@10)") if tuning else None
        )
        st.session_state["rec_saved"] = None
        result = training.tune_and_train(
            **settings, on_trial=on_trial, db=ui.db_path(), progress=progress
        )
        st.session_state["rec_saved"] = result["model_id"]
        stop.empty()
        status.update(label=f"Saved as {result['model_id']}", state="complete", expanded=tuning)
    return result


def show_recommender_result(result: dict) -> None:
    """The saved run: what it is, what it chose, its cards and bars against popularity."""
    from personalization.recommendation import summary, training

    st.success(
        f"Saved **{result['model_id']}** ({result['algo']}, {ui.fmt_int(result.get('n_users'))} "
        f"customers, {ui.fmt_int(result.get('n_items'))} items, "
        f"{ui.fmt_num(result.get('fit_seconds'), 1)} s). " + runs.standing(result)
    )
    chosen = training.chosen_settings(result.get("params") or {})
    if chosen:
        st.caption(f"Chosen on held-out data: {chosen}.")
    metrics, baseline = result["metrics"], result["baseline"]
    if metrics.get("note"):
        st.info(
            f"The model is saved, but could not be measured: {metrics['note']}",
            icon=":material/info:",
        )
        return
    said = summary.verdict(metrics, baseline)
    if said:
        st.markdown(f"**In short:** {said}")
    if summary.clearly_better(metrics, baseline) is False:
        suggest_sequences(result)
    cards = runs.CARDS["recommender"]
    runs.metric_cards(metrics, baseline, cards, "popularity")
    shown = [k for k in metrics if k.split("@")[0] in cards]
    compared = {f"{result['algo']} (this run)": metrics, "Popularity baseline": baseline}
    title = "This model against best-sellers for everyone"
    st.plotly_chart(charts.metric_comparison(compared, shown, title=title), width="stretch")
    runs.explain_metrics(shown)


def suggest_sequences(result: dict) -> None:
    """When a model that sees customers as bags of items does no better than best-sellers on
    events that hold browsing sessions, point to the sequence models."""
    from personalization.recommendation import sequences
    from personalization.recommendation.models import SEQUENCE_ALGORITHMS

    if result["algo"] in SEQUENCE_ALGORITHMS:
        return
    try:
        ready = sequences.sequence_readiness(result.get("table") or "events", db=ui.db_path())
    except PersonalizationError:
        return
    if ready.get("ready"):
        st.info(
            f"These events hold browsing sessions: {ready['share_sessions_2plus']:.0%} of "
            f"{ui.fmt_int(ready['sessions'])} sessions have two clicks or more. A sequence model "
            "predicts what a visitor wants next from the order of their clicks: choose Model "
            "family → Sequence above and train again.",
            icon=":material/timeline:",
        )


def recommender_tab(events: list[str]) -> None:
    """The whole tab; ``events`` are the tables of customer actions (at least one)."""
    settings = recommender_settings(events)
    if ui.cancelled("cancel_rec"):
        ui.show_cancelled("The training", st.session_state.get("rec_saved"))
    runs.train_and_show(
        "Train recommender", "rec", train_recommender_run, show_recommender_result, settings
    )
    runs.earlier_runs("recommender")
