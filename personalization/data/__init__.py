"""Getting data in and knowing what is there; the SQL of each step lives in ``personalization.store``.

- ``ingest``: read a CSV or Parquet file, suggest and apply a column mapping, validate, clean and
  load it into a canonical table (events, users, items, customers) with a report of what was
  loaded, rejected and dropped.
- ``profile``: data-quality profile of a table, the readiness check (is there enough data to
  train each kind of model), and the key figures of the home page.
- ``features``: one row per customer built from the events (recency, frequency, spend, counts
  per event type, dwell, cart abandonment, attributes) with the ``converted`` label.
- ``sample``: the bundled sample shop and loading it (training its example models is
  ``personalization.workspace``'s job).
"""
