"""The Spark engine: the same ``ingest``, ``train-recommender``, ``evaluate-recommender`` and
``export-recommendations`` on Apache Spark, for event logs past one machine.

- ``session``: the optional install check and the one ``SparkSession`` (``--spark-master``,
  settings from ``PERSONALIZATION_SPARK_CONF``).
- ``ingest``: a folder or glob of CSV (.gz) / Parquet files, each cleaned by the library's own
  ingest rules on an executor, into a date-partitioned Parquet dataset beside the database.
- ``training``: the weighted, decayed pairs built on the cluster by the library's own weighting,
  the default SVD (``svd``) or implicit ALS with Spark MLlib, saved as the product's own
  artifact; the same holdout metrics.
- ``svd``: the local SVD's randomized subspace iteration with every product on the executors,
  its settings chosen on a validation split as local training chooses them.
- ``export``: top-k for every user, scored block by block on the executors by the same list code
  and written there as a folder of parts.
- ``profile``: ``profile`` and ``readiness`` of a Parquet dataset.

pyspark is imported when a function runs, never at import: the library works without it.
"""
