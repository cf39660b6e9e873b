"""Lift: how much better than random the conversion model targets, per segment, and what it earns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import ui
from personalization.charts import propensity as mc
from personalization.errors import PersonalizationError
from personalization.propensity import lift, metrics


def outcome_cards(artifact, y: np.ndarray, scores: np.ndarray) -> None:
    deciles = lift.decile_table(y, scores, bins=10)
    top = deciles.iloc[0] if len(deciles) else None
    a, b, c = st.columns(3)
    a.metric(
        "Customers in the test split",
        ui.fmt_int(len(y)),
        help="Customers held out from training; every figure on this page is measured on them.",
    )
    b.metric(
        "Overall conversion rate",
        ui.fmt_pct(lift.overall_rate(artifact)),
        help="What contacting customers at random would convert; the Explain page's average "
        "customer.",
    )
    c.metric(
        "Lift in the top 10%",
        f"{ui.fmt_num(top['lift'] if top is not None else None, 2)}x",
        help=ui.metric_help("lift"),
    )
    test, baseline = (artifact.metrics.get(k) or {} for k in ("test", "baseline"))
    words = [
        w["text"] for w in metrics.metrics_in_words(test, baseline) if w["metric"] == "roc_auc"
    ]
    st.markdown("\n".join(f"- {line}" for line in [lift.lift_in_words(y, scores), *words]))


def curves(y: np.ndarray, scores: np.ndarray) -> None:
    left, right = st.columns(2)
    left.plotly_chart(
        mc.gains_figure(lift.gains_curve(y, scores), title="Cumulative gains"), width="stretch"
    )
    left.caption(
        "Read it as: contacting the top X% of customers by score catches Y% of all conversions. "
        "The dashed line is random targeting."
    )
    right.plotly_chart(
        mc.lift_figure(lift.lift_curve(y, scores), title="Cumulative lift"), width="stretch"
    )
    right.caption("How many times more conversions than random you get when contacting the top X%.")


def decile_section(y: np.ndarray, scores: np.ndarray) -> None:
    st.subheader("Score bins")
    bins = st.radio(
        "Number of bins",
        [5, 10, 20],
        index=1,
        horizontal=True,
        key="lift_bins",
        help="Customers are sorted by score and cut into equal groups; bin 1 holds the highest scores.",
    )
    table = lift.decile_table(y, scores, bins=bins)
    st.plotly_chart(
        mc.decile_figure(table, float(y.mean()), title="Conversion rate per bin"), width="stretch"
    )
    shown = table.assign(rate=table["rate"] * 100, cumulative_gain=table["cumulative_gain"] * 100)
    st.dataframe(
        shown[[c for c in lift.DECILE_COLUMNS if c != "max_score"]],
        hide_index=True,
        width="stretch",
        column_config={
            "bin": st.column_config.NumberColumn("Bin", help="1 = highest scores"),
            "customers": st.column_config.NumberColumn("Customers", format="localized"),
            "conversions": st.column_config.NumberColumn("Conversions", format="localized"),
            "rate": st.column_config.NumberColumn(
                "Conversion rate", format="%.1f%%", help="Share who converted"
            ),
            "lift": st.column_config.NumberColumn(
                "Lift", format="%.2fx", help="Rate over the overall rate"
            ),
            "cumulative_lift": st.column_config.NumberColumn(
                "Cumulative lift", format="%.2fx", help="Lift of bins 1 to this one together"
            ),
            "cumulative_gain": st.column_config.NumberColumn(
                "Conversions caught",
                format="%.0f%%",
                help="Share of all conversions in bins 1 to this one",
            ),
            "min_score": st.column_config.NumberColumn(
                "Lowest score in bin",
                format="%.3f",
                help="Score threshold that selects bins 1 to this one",
            ),
        },
    )


def segment_section(artifact, y: np.ndarray, scores: np.ndarray) -> None:
    st.subheader("Lift by segment")
    choices = lift.segment_choices(artifact.test_frame, exclude=(artifact.key, artifact.target))
    if not choices:
        st.caption("The test split has no column with few distinct values to segment by.")
        return
    left, right = st.columns(2)
    column = left.selectbox(
        "Segment by",
        list(choices),
        format_func=choices.get,
        key="lift_segment",
        help="A customer attribute; each bar is one group of customers. Columns whose "
        "groups all hold enough customers (n, in the test split) come first.",
    )
    depth = right.select_slider(
        "Among the top",
        [10, 20, 30, 50, 100],
        value=20,
        key="lift_depth",
        format_func=lambda d: f"{d}% by score" if d < 100 else "everyone",
        help="Lift of the customers of each segment who fall in the top share of scores.",
    )
    groups = lift.merge_small_groups(artifact.test_frame[column])
    chosen = lift.depth_summary(y, scores, groups.to_numpy(), share=depth / 100)
    st.plotly_chart(
        mc.segment_lift_figure(
            chosen, base_rate=float(y.mean()), title=f"Lift by {column}, top {depth}% of scores"
        ),
        width="stretch",
    )
    sizes = lift.segment_groups(artifact.test_frame[column])
    listed = " · ".join(
        f"{row.segment} {row.customers:,}" + (" (too few to trust)" if row.small else "")
        for row in sizes.itertuples()
    )
    st.caption(
        f"Customers per group in the test split: {listed}. Groups under "
        f"{lift.MIN_GROUP_CUSTOMERS} customers are merged into 'other'. A bar above the dashed "
        "line converts better than random; the whisker is a 95% confidence interval (wide means "
        "too few customers to be sure); n on a bar counts its customers in the top share."
    )


def simulator(y: np.ndarray, scores: np.ndarray, list_size: int) -> None:
    st.subheader("Targeting simulator")
    st.caption(
        "What a campaign to the top of the list would bring, measured on the test split and scaled to "
        "your list size."
    )
    a, b, c, d = st.columns(4)
    size = a.number_input(
        "Customers in your list",
        min_value=1,
        value=max(list_size, 1),
        step=1000,
        key="sim_size",
        help="How many customers the campaign would draw from (default: the model's table); "
        "results are scaled to it.",
    )
    cost = b.number_input(
        "Cost per contact",
        min_value=0.0,
        value=1.0,
        step=0.5,
        key="sim_cost",
        help="What reaching one customer costs (email, postage, discount).",
    )
    value = c.number_input(
        "Value per conversion",
        min_value=0.0,
        value=25.0,
        step=5.0,
        key="sim_value",
        help="Average margin or revenue from one converted customer.",
    )
    mode = d.radio(
        "Limit by",
        ["Share of list", "Budget"],
        key="sim_mode",
        horizontal=True,
        help="Contact a fixed share of the best-scored customers, or as many as a budget pays for.",
    )
    if mode == "Budget":
        budget = st.number_input(
            "Budget",
            min_value=0.0,
            value=float(round(size * cost * 0.2)),
            step=100.0,
            key="sim_budget",
            help="Total money to spend on contacts.",
        )
        share = None
    else:
        budget = None
        share = (
            st.slider(
                "Contact the top N% by score",
                1,
                100,
                20,
                key="sim_share",
                help="The share of your list, best scores first, that gets the campaign.",
            )
            / 100
        )
    campaign = lift.simulate_campaign(y, scores, int(size), cost, value, share=share, budget=budget)
    share, best = campaign["share"], campaign["best"]
    cards(campaign["chosen"], share, size)
    st.plotly_chart(
        mc.profit_figure(campaign["curve"], chosen=share, title="Profit by how deep you go"),
        width="stretch",
    )
    if best is not None and budget is not None:
        st.caption(
            f"Within your budget, the most profitable cut-off is the top **{best['share_contacted']:.0%}** "
            f"(profit {ui.fmt_int(best['profit'])}); grey crosses cost more than the budget."
        )
    elif best is not None:
        st.caption(
            f"The most profitable cut-off is the top **{best['share_contacted']:.0%}** "
            f"(profit {ui.fmt_int(best['profit'])}); beyond it each extra contact costs more than it brings."
        )


def table_rows(name: str, default: int) -> int:
    """Rows of the model's table, or ``default`` when the table is gone."""
    return next((t["rows"] for t in ui.tables() if t["name"] == name), default)


def cards(row: pd.Series, share: float, size: int) -> None:
    cols = st.columns(6)
    cols[0].metric(
        "Contacts", ui.fmt_int(row["contacted"]), help=f"The top {share:.0%} of {size:,} customers."
    )
    cols[1].metric(
        "Conversions",
        ui.fmt_int(row["expected_conversions"]),
        help="Conversions seen at this depth on the test split, scaled to your list.",
    )
    cols[2].metric(
        "Revenue", ui.fmt_int(row["revenue"]), help="Expected conversions x value per conversion."
    )
    cols[3].metric("Cost", ui.fmt_int(row["cost"]), help="Contacts x cost per contact.")
    cols[4].metric("Profit", ui.fmt_int(row["profit"]), help="Revenue minus cost.")
    cols[5].metric(
        "ROI", ui.fmt_pct(row["roi"], 0), help="Profit per unit spent: 100% doubles the money."
    )


ui.header(
    "Lift",
    "How much better than random the conversion model picks customers to contact, in which "
    "segments it works best, and what a campaign to the top of the list would earn.",
)
try:
    model_id = ui.pick_model(
        "classifier",
        "No conversion model has been trained yet. Train one to see how well it targets.",
        key="lift_model",
        help="Figures are computed on the model's test split: customers it never saw while learning.",
    )["model_id"]
    artifact, info = ui.load_model(model_id)
    y_test, test_scores = (
        np.asarray(artifact.y_test, dtype=float),
        np.asarray(artifact.test_scores, dtype=float),
    )
    if not len(y_test) or y_test.sum() == 0:
        ui.empty_state(
            "This model's test split has no converters, so lift cannot be measured. "
            "Train again on more data.",
            "pages/train.py",
            "Train a conversion model",
        )
    outcome_cards(artifact, y_test, test_scores)
    curves(y_test, test_scores)
    decile_section(y_test, test_scores)
    segment_section(artifact, y_test, test_scores)
    simulator(y_test, test_scores, table_rows(artifact.table, len(y_test)))
except PersonalizationError as exc:
    ui.show_error(exc)
