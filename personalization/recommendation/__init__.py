"""Recommendations: from events to a saved model and to lists with a reason beside each item.

- ``interactions``: events -> a weighted, optionally time-decayed users x items CSR matrix and
  its id maps (``Interactions``, ``build_interactions``).
- ``models``: the recommender families behind one interface (``models.base.Recommender``: ``fit``,
  ``recommend``, ``similar_items``, ``item_similarity``, ``explain``), one file per family.
- ``artifact``: ``RecommenderArtifact``, the saved model with its matrix, attributes and the data
  behind the reasons; the item columns that hold a title, a category or a price.
- ``training``: train, evaluate and tune a family on the events in the store; save it.
- ``serving``: the one public API for lists: a user, a new visitor, a segment, many users,
  similar items.
- ``reasons``: the readable reason of each recommended item, and the data it needs beside the
  model (``reason_inputs``, built at training).
- ``batch``: lists for many users written to a CSV or Parquet file.
"""
