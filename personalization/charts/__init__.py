"""Plotly figure builders for the dashboard: data in, figure out (no streamlit, no storage).

- ``theme``: the palette, the colour of each role, ``style`` / ``style_results`` and small
  helpers every builder shares (``empty_figure``, ``short_text``, ``rows_height``).
- ``data``: the data profile (events per day and per type, missing values, activity quantiles).
- ``recommender``: one customer's recommendation list with its scores.
- ``models``: runs of either model kind side by side, and the trials of a tuning search.
- ``propensity``: how a conversion model ranks (ROC, precision-recall, calibration, gains, lift,
  score bins, segment lift, profit by depth).
- ``explain``: why a conversion model scores as it does (SHAP importance, beeswarm, dependence,
  waterfall).
"""
