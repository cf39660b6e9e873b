from personalization.recommendation.summary import clearly_better, verdict


def test_the_verdict_says_how_many_times_more_and_what_to_do():
    text = verdict({"recall@10": 0.26, "ndcg@10": 0.2}, {"recall@10": 0.10})
    assert "26%" in text and "2.6x" in text and "worth using" in text
    assert "about as much" in verdict({"recall@10": 0.10}, {"recall@10": 0.10})
    assert "less than" in verdict({"recall@10": 0.05}, {"recall@10": 0.10})
    assert "finds none" in verdict({"recall@10": 0.05}, {"recall@10": 0.0})
    assert verdict({"ndcg@10": 0.2}, {"ndcg@10": 0.1}) is None


def test_small_shares_keep_a_decimal_and_clearly_better_says_when_to_look_elsewhere():
    text = verdict({"recall@10": 0.003}, {"recall@10": 0.003})
    assert "0.3%" in text and "about as much" in text
    assert clearly_better({"recall@10": 0.26}, {"recall@10": 0.10}) is True
    assert clearly_better({"recall@10": 0.003}, {"recall@10": 0.003}) is False
    assert clearly_better({"ndcg@10": 0.2}, {"ndcg@10": 0.1}) is None
