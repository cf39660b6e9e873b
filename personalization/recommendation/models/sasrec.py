"""SASRec (Kang and McAuley 2018): self-attention over a user's latest items, in PyTorch on the CPU.

PyTorch is optional (``pip install -r requirements-deep.txt``): it is imported only inside the
functions here, and without it ``fit`` raises ``BadInputError`` naming that command.

Each user's last ``max_len`` events (item ids, oldest first, left-padded) pass through an item
plus position embedding and ``blocks`` causal self-attention blocks (pre-norm, ``heads`` heads,
a two-layer feed-forward, dropout); the output at every position scores the next item by its dot
product with the item embeddings. Training uses sampled softmax (the true next item against
``negatives`` items drawn uniformly, shared within a batch) with Adam. The last event of every
user is never a training target: it is the validation set for early stopping (MRR@20 of up to
``VALIDATION_USERS`` users, checked after each epoch; ``patience`` epochs without progress stop
it, so does ``max_seconds``, checked after every batch) and for the repeat weight. Inside
``--algo sequence`` it learns once, on the split that every family shares (``learn_split``),
and keeps that network. The learned weights are kept as numpy arrays (``weights_``), so a saved
model loads without running code.
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np

from personalization import config
from personalization.errors import BadInputError
from personalization.recommendation.models.base import (
    check_number,
    cosine_similarity_to,
    pair_dots,
    unit_rows,
)
from personalization.recommendation.models.sequential import (
    VALIDATION_USERS,
    SequenceRecommender,
    mrr_of,
)
from personalization.recommendation.sequences import Sequences, split_last

INSTALL = "pip install -r requirements-deep.txt"
SCORE_BATCH = 512


def torch_available() -> bool:
    """Whether PyTorch can be imported (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def require_torch():
    """The ``torch`` module, or ``BadInputError`` naming the install command."""
    if not torch_available():
        raise BadInputError(
            f"The sasrec recommender needs PyTorch, which is not installed; install it with: "
            f"{INSTALL} (or choose --algo sequence, transitions, session-knn or recent)."
        )
    import torch

    return torch


class SASRecRecommender(SequenceRecommender):
    """Self-attentive sequential recommendation (SASRec), trained with sampled softmax."""

    similarity_kind = "taste"
    refit_after_validation = False

    def __init__(
        self,
        repeat_weight="auto",
        dim: int = 64,
        blocks: int = 2,
        heads: int = 1,
        max_len: int = 50,
        dropout: float = 0.2,
        negatives: int = 256,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        epochs: int = 30,
        patience: int = 2,
        max_seconds: float = 180.0,
        half_life_events: float = 10.0,
        half_life_hours: float | None = 24.0,
        random_state: int = 0,
    ) -> None:
        self.repeat_weight = repeat_weight
        self.dim = dim
        self.blocks = blocks
        self.heads = heads
        self.max_len = max_len
        self.dropout = dropout
        self.negatives = negatives
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.patience = patience
        self.max_seconds = max_seconds
        self.half_life_events = half_life_events
        self.half_life_hours = half_life_hours
        self.random_state = random_state

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("net", None)
        return state

    def validate(self, seqs: Sequences) -> dict[float, float]:
        """Train once (the last events are held out inside ``_learn``) and score each weight of
        ``REPEAT_GRID`` on those same held-out events."""
        self._learn(seqs)
        prefix, users, held = split_last(seqs, VALIDATION_USERS, int(self.random_state) + 1)
        if len(users) == 0:
            return {0.5: 0.0}
        return self.grid_scores(prefix, users, held)

    def _learn(self, seqs: Sequences) -> None:
        inputs, targets = training_windows(seqs, int(self.max_len))
        prefix, users, held = split_last(seqs, VALIDATION_USERS, int(self.random_state) + 1)
        self._train(seqs.n_items, inputs, targets, prefix.take_users(users), held)

    def _learn_validated(self, prefix: Sequences, users: np.ndarray, held: np.ndarray) -> None:
        """Train on every event of ``prefix`` (the held-out ones are already out of it) and
        stop early on ``held``, the split that the other families are scored on."""
        inputs, targets = training_windows(prefix, int(self.max_len), keep_last=True)
        self._train(prefix.n_items, inputs, targets, prefix.take_users(users), held)

    def _train(self, n_items, inputs, targets, val_hist: Sequences, held: np.ndarray) -> None:
        """Epochs of ``run_epoch`` until ``patience`` epochs bring no better MRR@20 on ``held``
        (after ``val_hist``) or ``max_seconds`` have passed (checked after every batch); keeps
        the best epoch's weights."""
        torch = require_torch()
        self._check_sasrec_params()
        torch.manual_seed(int(self.random_state))
        rng = np.random.default_rng(int(self.random_state))
        val_inputs = padded_tails(val_hist, int(self.max_len))
        start = time.perf_counter()
        deadline = start + float(self.max_seconds)
        with torch_threads(torch):
            net = build_net(torch, n_items, self.get_params())
            optimiser = torch.optim.Adam(net.parameters(), lr=float(self.learning_rate))
            best, best_state, stale = -1.0, None, 0
            self.epochs_ = 0
            for _ in range(int(self.epochs)):
                net.train()
                run_epoch(torch, net, optimiser, inputs, targets, n_items, self, rng, deadline)
                self.epochs_ += 1
                score = mrr_of(predict(torch, net, val_inputs), held) if len(held) else 0.0
                if score > best:
                    best, stale = score, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    stale += 1
                if stale >= int(self.patience) or time.perf_counter() >= deadline:
                    break
            if best_state is not None:
                net.load_state_dict(best_state)
            net.eval()
        self.validation_mrr_ = float(best)
        self.train_seconds_ = round(time.perf_counter() - start, 3)
        self.weights_ = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        self.net = net
        self.item_vectors_ = unit_rows(self.weights_["items.weight"][1:])

    def _explore(self, hist: Sequences, users: np.ndarray, weights: np.ndarray) -> np.ndarray:
        torch = require_torch()
        net = self._network(torch)
        with torch_threads(torch):
            logits = predict(torch, net, padded_tails(hist, int(self.max_len)))
        return np.exp(logits - logits.max(axis=1, keepdims=True)) if logits.size else logits

    def _network(self, torch):
        if getattr(self, "net", None) is None:
            net = build_net(torch, self.n_items_, self.get_params())
            net.load_state_dict({k: torch.from_numpy(v) for k, v in self.weights_.items()})
            net.eval()
            self.net = net
        return self.net

    def _item_similarity(self, item_index: int) -> np.ndarray:
        return cosine_similarity_to(self.item_vectors_, item_index)

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        return pair_dots(self.item_vectors_, items, others)

    def similarity_vectors(self) -> np.ndarray:
        return self.item_vectors_

    def _check_sasrec_params(self) -> None:
        for name, low in (("dim", 4), ("blocks", 1), ("heads", 1), ("max_len", 2)):
            check_number(name, getattr(self, name), low, integer=True)
        for name in ("negatives", "batch_size", "epochs", "patience"):
            check_number(name, getattr(self, name), 1, integer=True)
        check_number("dropout", self.dropout, 0.0, 0.9)
        check_number("learning_rate", self.learning_rate, 1e-6, 1.0)
        check_number("max_seconds", self.max_seconds, 0.0)
        if int(self.dim) % int(self.heads):
            raise BadInputError(
                f"dim must be a multiple of heads; got dim={self.dim}, heads={self.heads}."
            )


class torch_threads:
    """Run torch with ``config.blas_threads()`` threads (at least 1), restoring the count."""

    def __init__(self, torch) -> None:
        self.torch = torch

    def __enter__(self) -> None:
        self.before = self.torch.get_num_threads()
        self.torch.set_num_threads(max(1, min(2, config.blas_threads() or 2)))

    def __exit__(self, *exc) -> None:
        self.torch.set_num_threads(self.before)


def build_net(torch, n_items: int, params: dict):
    """The SASRec network (item codes + 1; 0 pads)."""
    nn = torch.nn
    dim, max_len, heads = int(params["dim"]), int(params["max_len"]), int(params["heads"])

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.attention = nn.MultiheadAttention(
                dim, heads, dropout=float(params["dropout"]), batch_first=True
            )
            self.feed = nn.Sequential(
                nn.Linear(dim, dim),
                nn.GELU(),
                nn.Dropout(float(params["dropout"])),
                nn.Linear(dim, dim),
            )
            self.drop = nn.Dropout(float(params["dropout"]))

        def forward(self, x, causal, keep):
            y = self.norm1(x)
            attended, _ = self.attention(y, y, y, attn_mask=causal, need_weights=False)
            x = x + self.drop(attended)
            return (x + self.drop(self.feed(self.norm2(x)))) * keep

    class SASRec(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.items = nn.Embedding(n_items + 1, dim, padding_idx=0)
            self.positions = nn.Embedding(max_len, dim)
            self.blocks = nn.ModuleList([Block() for _ in range(int(params["blocks"]))])
            self.norm = nn.LayerNorm(dim)
            self.drop = nn.Dropout(float(params["dropout"]))
            nn.init.normal_(self.items.weight, std=0.05)

        def forward(self, codes):
            length = codes.shape[1]
            positions = torch.arange(length, device=codes.device)[None, :]
            x = self.drop(self.items(codes) * dim**0.5 + self.positions(positions))
            keep = (codes > 0)[:, :, None].to(x.dtype)
            x = x * keep
            causal = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
            for block in self.blocks:
                x = block(x, causal, keep)
            return self.norm(x)

    return SASRec()


def training_windows(
    seqs: Sequences, max_len: int, keep_last: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-item targets (users x max_len, int64, item code + 1, 0 pads, left-padded)
    from each user's events before the last one (the last is kept for validation), or from all
    of them with ``keep_last``."""
    ends = seqs.user_ptr[1:] if keep_last else seqs.user_ptr[1:] - 1
    ends = np.maximum(ends, seqs.user_ptr[:-1])
    starts = np.maximum(seqs.user_ptr[:-1], ends - max_len - 1)
    length = ends - starts
    keep = length >= 2
    starts, length = starts[keep], length[keep]
    window = np.zeros((len(starts), max_len + 1), dtype=np.int64)
    offset = np.arange(length.sum()) - np.repeat(np.r_[0, np.cumsum(length)[:-1]], length)
    row = np.repeat(np.arange(len(starts)), length)
    col = max_len + 1 - np.repeat(length, length) + offset
    window[row, col] = seqs.items[np.repeat(starts, length) + offset] + 1
    return window[:, :-1], window[:, 1:]


def padded_tails(hist: Sequences, max_len: int) -> np.ndarray:
    """Each history's last ``max_len`` items (code + 1), left-padded with 0 (users x max_len)."""
    ends = hist.user_ptr[1:]
    starts = np.maximum(hist.user_ptr[:-1], ends - max_len)
    length = ends - starts
    out = np.zeros((hist.n_users, max_len), dtype=np.int64)
    offset = np.arange(length.sum()) - np.repeat(np.r_[0, np.cumsum(length)[:-1]], length)
    row = np.repeat(np.arange(hist.n_users), length)
    out[row, max_len - np.repeat(length, length) + offset] = (
        hist.items[np.repeat(starts, length) + offset] + 1
    )
    return out


def run_epoch(
    torch, net, optimiser, inputs, targets, n_items, params, rng, deadline=float("inf")
) -> None:
    """One pass over the windows in random batches, sampled softmax against shared negatives;
    it stops early once ``time.perf_counter()`` passes ``deadline``."""
    order = rng.permutation(len(inputs))
    size, n_neg = int(params.batch_size), int(min(params.negatives, n_items))
    for start in range(0, len(order), size):
        if time.perf_counter() >= deadline:
            break
        batch = order[start : start + size]
        codes = torch.from_numpy(inputs[batch])
        wanted = torch.from_numpy(targets[batch])
        mask = wanted > 0
        if not bool(mask.any()):
            continue
        hidden = net(codes)[mask]
        positive = net.items(wanted[mask])
        sampled = torch.from_numpy(rng.integers(1, n_items + 1, size=n_neg))
        negative_logits = hidden @ net.items(sampled).T
        clash = wanted[mask][:, None] == sampled[None, :]
        negative_logits = negative_logits.masked_fill(clash, float("-inf"))
        logits = torch.cat([(hidden * positive).sum(-1, keepdim=True), negative_logits], dim=1)
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def predict(torch, net, codes: np.ndarray) -> np.ndarray:
    """Scores (rows x n_items, float32) of every item after each row of padded ``codes``."""
    net.eval()
    out = []
    with torch.no_grad():
        table = net.items.weight[1:]
        for start in range(0, len(codes), SCORE_BATCH):
            hidden = net(torch.from_numpy(codes[start : start + SCORE_BATCH]))[:, -1, :]
            out.append((hidden @ table.T).numpy())
    if not out:
        return np.zeros((0, net.items.weight.shape[0] - 1), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)
