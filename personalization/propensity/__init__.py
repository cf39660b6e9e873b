"""Conversion propensity: who is likely to convert, how well the model knows it, and why.

- ``target``: the outcome column and its positive value, however it is stored.
- ``columns``: which columns become features (numeric, categorical), the key, and the leakage guard.
- ``pipelines``: preparation, model families, resampling; scoring with a fitted pipeline.
- ``artifact``: ``ClassifierArtifact``, the saved model with its test split.
- ``training``: split, cross-validation, parameter search (through ``personalization.tuning``),
  ``train_classifier``.
- ``metrics``: decision threshold, split figures, confusion matrix, calibration, baseline.
- ``scoring``: scoring a whole table with a saved model, listed or written to a file.
- ``shap``: SHAP values as tidy tables (per row, per feature, overall importance).
- ``explain``: one customer explained in words, the customers to pick from, the ``explain`` report.
- ``lift``: lift, gains, segment lift and campaign economics of the scores; the ``lift`` report.

The choices every entry point offers (model families, imbalance handling, scaling, searches) are
named here, so that the command line can list them without importing scikit-learn.
"""

CLASSIFIERS = ("logreg", "random_forest", "gradient_boosting", "mlp")
BALANCES = ("none", "class_weight", "smote", "undersample")
SCALINGS = ("standard", "minmax")
SEARCHES = ("none", "grid", "bayes")
