"""A recommender's offline metrics in words a marketer acts on: how many more of the customers'
next actions it finds than the best-sellers list, and whether that is good.
"""

from __future__ import annotations

from personalization.values import is_number

CLEARLY_BETTER, ABOUT_EVEN = 1.2, 0.95


def share(value: float) -> str:
    """A share as a percentage with a decimal below 10% (0.3%, 6.1%, 24%)."""
    return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"


def clearly_better(metrics: dict, baseline: dict) -> bool | None:
    """Whether ``metrics`` find clearly more than the popularity ``baseline`` (recall at least
    ``CLEARLY_BETTER`` times as high); None when the two cannot be compared."""
    key = next((k for k in metrics if k.startswith("recall@") and k in baseline), None)
    if key is None or not (is_number(metrics[key]) and is_number(baseline[key])):
        return None
    return metrics[key] >= CLEARLY_BETTER * baseline[key] and metrics[key] > 0


def verdict(metrics: dict, baseline: dict) -> str | None:
    """One sentence comparing ``metrics`` with the popularity ``baseline`` (same split, same K):
    recall (the share of held-out actions found) as a ratio, then what to make of it; None when
    the two cannot be compared."""
    key = next((k for k in metrics if k.startswith("recall@") and k in baseline), None)
    if key is None:
        return None
    mine, theirs = metrics[key], baseline[key]
    if not (is_number(mine) and is_number(theirs)):
        return None
    k = key.split("@")[1]
    found = f"its top {k} finds {share(mine)} of what customers went on to use"
    if theirs <= 0:
        return f"{found.capitalize()}; the best-sellers list finds none of it."
    ratio = mine / theirs
    if ratio >= CLEARLY_BETTER:
        return (
            f"{found.capitalize()}: {ratio:.1f}x as much as the best-sellers list ({share(theirs)}). "
            "Personal lists are worth using here."
        )
    if ratio >= ABOUT_EVEN:
        return (
            f"{found.capitalize()}, about as much as the best-sellers list ({share(theirs)}). "
            "Personal lists add little on this data: more history per customer, or another "
            "algorithm, may help."
        )
    return (
        f"{found.capitalize()}, less than the best-sellers list ({share(theirs)}). Use the "
        "best-sellers (the popularity model) until more data comes in, or try another algorithm."
    )
