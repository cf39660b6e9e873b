"""Sections of dashboard pages too long for one page file, one module per section.

Like the pages, they hold widgets only and call ``personalization`` for everything else; what
every page shares is in ``ui``.

- ``runs``: what both tabs of the Train page share: the train button and its kept result, metric
  cards against a baseline, the live table of tuning trials, and the earlier runs (compare,
  promote).
- ``load_report``: the Data page's report of a load (counts, rejects by reason with the fix).
- ``train_recommender``: the Train page's recommender tab (settings, tune and train, result).
- ``train_classifier``: the Train page's conversion-model tab (customer table, settings, train,
  result with its curves).
"""
