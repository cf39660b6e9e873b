from personalization.recommendation.summary import verdict


def test_the_verdict_says_how_many_times_more_and_what_to_do():
    text = verdict({"recall@10": 0.26, "ndcg@10": 0.2}, {"recall@10": 0.10})
    assert "26%" in text and "2.6x" in text and "worth using" in text
    assert "about as much" in verdict({"recall@10": 0.10}, {"recall@10": 0.10})
    assert "less than" in verdict({"recall@10": 0.05}, {"recall@10": 0.10})
    assert "finds none" in verdict({"recall@10": 0.05}, {"recall@10": 0.0})
    assert verdict({"ndcg@10": 0.2}, {"ndcg@10": 0.1}) is None
