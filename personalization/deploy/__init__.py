"""Putting models to work outside the dashboard.

- ``api``: the REST service (FastAPI), ``create_app(db)``; run by ``python -m personalization serve``.
- ``embedded``: ``load_model`` and its ``Recommender`` / ``Classifier`` wrappers, for use from
  Python (``from personalization import load_model``).
"""
