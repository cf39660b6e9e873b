import pandas as pd

from personalization import load_model

model = load_model()  # the promoted recommender; load_model("rec-...") names another
for row in model.recommend("17850", k=10):
    print(row["item_id"], round(row["score"], 3), row["reason"])
print([row["item_id"] for row in model.similar("85123A", k=5)])

clf = load_model(kind="classifier")  # the promoted conversion model
customers = pd.DataFrame({"recency_days": [3, 200], "frequency": [12, 1], "monetary": [540.0, 9.5]})
print(clf.score(customers)[["score", "decision", "reasons"]])
