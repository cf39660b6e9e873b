"""Putting models to work outside the dashboard.

- ``api``: the REST service (FastAPI), ``create_app(db)``; run by ``python -m personalization serve``.
- ``embedded``: ``load_model`` and its ``Recommender`` / ``Classifier`` wrappers, for use from
  Python (``from personalization import load_model``).
- ``session_api``: ``POST /session``, the next items after a session's clicks (included by ``api``).
- ``responses``: the JSON response every route answers with (timing header included).
- ``update``: fold new users into an SVD or ALS model; ``retrain``: champion vs challenger;
  ``schedule``: when to retrain.
"""
