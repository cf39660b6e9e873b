"""Scoring a customer table in blocks: the same scores as one pass, row numbers that run on,
progress per block, only the model's columns read."""

from __future__ import annotations

import pandas as pd

from personalization import store
from personalization.propensity import scoring


def test_blocks_give_the_scores_of_one_pass_with_progress(classifier_db, monkeypatch):
    db, model_id = classifier_db
    whole = scoring.score_customers(model_id, db=db)
    monkeypatch.setattr(scoring, "BLOCK_ROWS", 700)  # DuckDB hands out 2,048-row vectors
    seen: list[float] = []
    blocks = scoring.score_customers(model_id, db=db, progress=lambda f, m: seen.append(f))
    pd.testing.assert_frame_equal(whole, blocks)
    assert len(seen) == 2 and seen[-1] == 1.0  # 3,000 customers in blocks of 2,048
    assert blocks["score"].is_monotonic_decreasing


def test_a_table_without_key_numbers_its_rows_across_blocks(classifier_db, monkeypatch):
    db, model_id = classifier_db
    store.execute(
        "CREATE OR REPLACE TABLE anonymous AS SELECT * EXCLUDE (customer_id) FROM customers", db=db
    )
    monkeypatch.setattr(scoring, "BLOCK_ROWS", 700)
    scores = scoring.score_customers(model_id, table="anonymous", db=db)
    assert sorted(scores["row"]) == list(range(3000))
    keyed = scoring.score_customers(model_id, db=db)
    assert sorted(scores["score"]) == sorted(keyed["score"])
