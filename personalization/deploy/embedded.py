"""Models used from Python, in memory: ``load_model`` and its two wrappers.

```python
from personalization import load_model
model = load_model()                      # the promoted recommender (or load_model("rec-..."))
model.recommend("17850", k=10)            # [{"rank", "item_id", "score", "reason", ...}, ...]
model.similar("85123A", k=10)
clf = load_model(kind="classifier")
clf.score(frame)                          # frame + score, decision, reasons
```

``Recommender`` answers from what the loaded artifact holds (the training matrix, id maps, item
and user attributes), through the one serving API (``serving.ListMaker``), so a call opens no
database connection: a user the model has no events for gets what is popular among users with
the same attributes (from the model's copy of the users table), and an unknown user what is
popular overall (``known`` is False for both). The REST service (``deploy.api``) uses the same
wrappers. ``Classifier`` scores a frame and names each row's strongest SHAP contributions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from personalization import registry, values
from personalization.errors import BadInputError, NotFoundError
from personalization.recommendation import serving

KINDS = ("recommender", "classifier")
MAKERS_KEPT = 16
DEFAULT_REASONS = 3


def load_model(model_id: str | None = None, kind: str | None = None, db=None):
    """A model to call from Python: ``Recommender`` or ``Classifier``.

    ``model_id`` names one (its kind comes from the catalog); without it, the promoted model of
    ``kind`` (default ``"recommender"``). Raises ``NotFoundError`` for an unknown model or when
    none of the kind is trained, ``IncompatibleModelError`` for files that fail their checks,
    ``BadInputError`` for another ``kind``.
    """
    if kind is not None and kind not in KINDS:
        raise BadInputError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    if model_id:
        kind = registry.resolve(model_id, kind, db=db)["kind"]
    if (kind or "recommender") == "recommender":
        artifact, info = serving.load_artifact(model_id, db=db)
        return Recommender(artifact, info, db)
    artifact, info = registry.load_model(model_id, kind="classifier", db=db)
    if not hasattr(artifact, "predict_proba") or not hasattr(artifact, "features"):
        raise NotFoundError(f"Model {info['model_id']} is not a classifier artifact.")
    return Classifier(artifact, info)


class Recommender:
    """A loaded recommender: ``recommend``, ``recommend_many``, ``visitor``, ``similar``,
    ``next_items``.

    ``model_id`` and ``info`` (the catalog row) say which model it is. Lists are lists of dicts
    with ``rank``, ``item_id``, ``score``, ``reason`` and the item's ``title``, ``category`` and
    ``price`` where the items table has them. Safe to share between threads.
    """

    def __init__(self, artifact, info: dict, db=None) -> None:
        self.artifact = artifact
        self.info = info
        self.db = db
        self.model_id: str = info["model_id"]
        self._makers: dict[int, serving.ListMaker] = {}
        self._lock = threading.Lock()
        users = artifact.users
        keys = set(values.segment_columns(users)) if not users.empty else set()
        self._segment_keys = [c for c in users.columns if c in keys]

    def __repr__(self) -> str:
        return f"<Recommender {self.model_id}: {self.n_users} users x {self.n_items} items>"

    @property
    def n_users(self) -> int:
        return int(self.artifact.interactions.matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.artifact.n_items)

    def knows(self, user_id: Any) -> bool:
        """True when the model has events of ``user_id``."""
        return self.artifact.interactions.user_index(str(user_id)) is not None

    def recommend(self, user_id: Any, k: int = 10) -> list[dict[str, Any]]:
        """Top ``k`` items for ``user_id`` with reasons; a user without events gets the cold-start
        list (popular with users of the same attributes, else with everyone)."""
        uid = str(user_id)
        segment = None if self.knows(uid) else self.segments(np.array([uid], dtype=object))[uid]
        return self.maker(k).user_records(uid, segment)

    def recommend_many(self, user_ids: Iterable[Any], k: int = 10) -> dict[str, list[dict]]:
        """``{user_id: list}`` for many users at once, scored in blocks (ids as text, in order)."""
        ids = np.array(list(dict.fromkeys(str(u) for u in user_ids)), dtype=object)
        if len(ids) == 0:
            return {}
        frame = self.maker(k).for_users(ids, self.segments(ids))
        out: dict[str, list[dict]] = {uid: [] for uid in ids}
        for row in serving.records(frame):
            out[row.pop("user_id")].append(row)
        return out

    def visitor(self, attributes: Mapping[str, Any] | None = None, k: int = 10) -> list[dict]:
        """What is popular among users with ``attributes`` (device, location, ...), relaxed until
        enough users match; ``BadInputError`` for an attribute the users table lacks."""
        return self.maker(k).segment_records(dict(attributes or {}))

    def similar(self, item_id: Any, k: int = 10) -> list[dict[str, Any]]:
        """The ``k`` items most similar to ``item_id`` by the model, with "Similar to X"
        (``serving.ListMaker.similar``). An item the model has no events for is matched by its
        attributes (read from the items table of the model's database)."""
        return self.maker(k).similar_records(item_id, db=self.db)

    def next_items(
        self, items: Iterable[Any], k: int = 10, filter_seen: bool = False
    ) -> list[dict[str, Any]]:
        """The next ``k`` items after a session's item ids (oldest first), with reasons
        (``recommendation.next_items``)."""
        from personalization.recommendation.next_items import next_items

        return serving.records(next_items(self.artifact, list(items), k, filter_seen))

    def maker(self, k: int) -> serving.ListMaker:
        """The ``ListMaker`` of lists of ``k`` items under the default rules, built once."""
        maker = self._makers.get(k)
        if maker is None:
            maker = serving.ListMaker(self.artifact, k)
            with self._lock:
                if len(self._makers) >= MAKERS_KEPT:
                    self._makers.clear()
                self._makers[k] = maker
        return maker

    def segments(self, user_ids: np.ndarray) -> dict[str, dict]:
        """Segment attributes (at most ``serving.MAX_SEGMENT_ATTRIBUTES``) of each id without
        events, from the model's copy of the users table; {} for an id not in it."""
        rows = self.artifact.interactions.user_indices(user_ids)
        users = self.artifact.users
        out: dict[str, dict] = {}
        for uid in user_ids[rows < 0]:
            picked: dict[str, Any] = {}
            if uid in users.index:
                row = users.loc[uid]
                if isinstance(row, pd.DataFrame):
                    row = row.iloc[0]
                picked = {c: row[c] for c in self._segment_keys if not pd.isna(row[c])}
            out[uid] = dict(list(picked.items())[: serving.MAX_SEGMENT_ATTRIBUTES])
        return out

    def describe(self) -> dict[str, Any]:
        """What /health says of it: id, algorithm, sizes, the table and when it was trained."""
        details = self.info.get("details") or {}
        return {
            "model_id": self.model_id,
            "algo": self.info.get("algo"),
            "created": self.info.get("created"),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "data_table": details.get("data_table") or getattr(self.artifact, "table", None),
        }


class Classifier:
    """A loaded conversion model: ``score`` a frame of customers, with reasons (SHAP)."""

    def __init__(self, artifact, info: dict) -> None:
        self.artifact = artifact
        self.info = info
        self.model_id: str = info["model_id"]

    def __repr__(self) -> str:
        return f"<Classifier {self.model_id}: {len(self.features)} features>"

    @property
    def features(self) -> list[str]:
        """The columns a frame to score needs."""
        return list(self.artifact.features)

    def score(self, frame: pd.DataFrame, top: int = DEFAULT_REASONS) -> pd.DataFrame:
        """``frame`` with ``score`` (P(positive), 0..1), ``decision`` (score >= the model's
        threshold) and ``reasons`` (the ``top`` strongest contributions in words, e.g.
        "last active 3 days ago (+0.21); spent 540.00 (+0.10)"). Raises ``BadInputError`` when
        feature columns are missing."""
        explained = self.explain(frame, top)
        out = frame.copy()
        out["score"] = [row["score"] for row in explained]
        out["decision"] = [row["decision"] for row in explained]
        out["reasons"] = [
            "; ".join(f"{r['text']} ({r['shap']:+.2f})" for r in row["reasons"])
            for row in explained
        ]
        return out

    def explain(self, frame: pd.DataFrame, top: int = DEFAULT_REASONS) -> list[dict[str, Any]]:
        """Per row: ``score``, ``decision`` and ``reasons``, a list of the ``top`` contributions
        by size (``feature``, ``value``, ``shap`` in the model's output space, ``text``)."""
        from personalization.propensity.explain import describe
        from personalization.propensity.shap import explain_frame

        if not isinstance(top, int) or isinstance(top, bool) or top < 1:
            raise BadInputError(f"top must be a whole number >= 1; got {top!r}.")
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise BadInputError(
                f"The rows lack columns model {self.model_id} needs: {', '.join(missing)}; "
                f"send every feature it was trained on: {', '.join(self.features)}."
            )
        if len(frame) == 0:
            return []
        art = self.artifact
        rows = frame[self.features].reset_index(drop=True).infer_objects()
        scores = np.asarray(art.predict_proba(rows), dtype=float)
        explanation = explain_frame(art, rows)
        shap = explanation.shap[self.features].to_numpy(dtype=float)
        out = []
        for i in range(len(rows)):
            order = np.argsort(-np.abs(shap[i]), kind="stable")[:top]
            reasons = []
            for j in order:
                feature = self.features[j]
                value = rows.iloc[i][feature]
                reasons.append(
                    {
                        "feature": feature,
                        "value": None if pd.isna(value) else _plain(value),
                        "shap": float(shap[i, j]),
                        "text": describe(feature, value),
                    }
                )
            out.append(
                {
                    "score": float(scores[i]),
                    "decision": bool(scores[i] >= art.threshold),
                    "reasons": reasons,
                }
            )
        return out

    def describe(self) -> dict[str, Any]:
        """What /health says of it: id, algorithm, features, threshold, table, when trained."""
        details = self.info.get("details") or {}
        return {
            "model_id": self.model_id,
            "algo": self.info.get("algo"),
            "created": self.info.get("created"),
            "features": self.features,
            "threshold": float(self.artifact.threshold),
            "data_table": details.get("data_table") or getattr(self.artifact, "table", None),
        }


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
