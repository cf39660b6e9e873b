"""Monitoring and the feedback loop: is the data drifting, are the models still right, did the
lists work.

- ``drift``: per feature PSI and a test by type with effect sizes, SHAP-weighted; score drift and
  what gets recommended.
- ``outcomes``: every exported or served list logged (``log_lists``); click-through, conversion,
  approval and survey answers matched to it.
- ``readout``: treated against control with intervals; the size of the next test.
- ``accuracy``: ROC-AUC and precision, hit rate and NDCG per time window, beside a baseline.
- ``alerts``: the rules, the ``monitor`` check and its webhook.

Control groups are drawn by ``personalization.recommendation.batch`` (the export).
"""
