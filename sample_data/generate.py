"""Generate the bundled sample shop: events, users, items and customers of a fictional store.

Run ``python sample_data/generate.py`` to rewrite the four CSVs beside this file. The output is
deterministic (one fixed numpy seed), so regenerating gives byte-identical files.

Planted structure (see README.md): users have a latent taste (category affinities and four style
factors) that drives which items they view, so low-rank models beat popularity; segments prefer
categories; item popularity is long-tailed; a view -> click -> add_to_cart -> purchase funnel with
cart abandonment that is worse on mobile; brand-new items with no events; a few users with no
events; and a ``converted`` target in customers.csv drawn from a noisy logistic model of recency,
engagement and device.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20260930
END = pd.Timestamp("2026-09-30 23:59:59")
DAYS = 90
OUT_DIR = Path(__file__).resolve().parent

CATEGORIES: dict[str, dict[str, list[str]]] = {
    "kitchen": {
        "nouns": [
            "Tea Towel",
            "Chef Knife",
            "Cutting Board",
            "Mixing Bowl",
            "Coffee Mug",
            "Saucepan",
            "Teapot",
            "Apron",
            "Spice Jar",
            "Colander",
        ],
        "adjs": [
            "Linen",
            "Bamboo",
            "Ceramic",
            "Cast Iron",
            "Stainless",
            "Stoneware",
            "Enamel",
            "Copper",
        ],
        "brands": ["Hearth & Co", "Copperleaf", "Larder Lane", "Panfield"],
        "words": [
            "for everyday cooking",
            "dishwasher safe",
            "a chef's favourite for the kitchen",
            "ideal for baking and prep",
            "built for busy kitchens",
            "easy to clean after meals",
        ],
    },
    "apparel": {
        "nouns": [
            "T-Shirt",
            "Hoodie",
            "Denim Jacket",
            "Wool Sweater",
            "Chino Trousers",
            "Summer Dress",
            "Rain Coat",
            "Polo Shirt",
            "Flannel Shirt",
            "Cardigan",
        ],
        "adjs": [
            "Organic Cotton",
            "Merino",
            "Slim Fit",
            "Relaxed",
            "Oversized",
            "Classic",
            "Striped",
            "Vintage",
        ],
        "brands": ["Northwear", "Thread & Loom", "Urban Fold", "Maple Stitch"],
        "words": [
            "a soft fabric that fits true to size",
            "machine washable clothing",
            "a wardrobe staple for every season",
            "tailored cut and breathable weave",
            "layer it for casual style",
            "sustainably sourced fabric",
        ],
    },
    "footwear": {
        "nouns": [
            "Trail Running Shoe",
            "Leather Boot",
            "Canvas Sneaker",
            "Sandal",
            "Slipper",
            "Loafer",
            "Hiking Boot",
            "Court Shoe",
            "Ankle Boot",
            "Walking Shoe",
        ],
        "adjs": [
            "Waterproof",
            "Lightweight",
            "Suede",
            "Cushioned",
            "All-Terrain",
            "Everyday",
            "Retro",
            "Breathable",
        ],
        "brands": ["Stride Lab", "Cobble & Sole", "Pathmark", "Heelwise"],
        "words": [
            "a cushioned sole for all-day comfort",
            "grippy outsole on wet ground",
            "true to size with a roomy toe box",
            "supportive heel for long walks",
            "a shoe that breaks in quickly",
            "durable stitching and laces",
        ],
    },
    "outdoor": {
        "nouns": [
            "Tent",
            "Sleeping Bag",
            "Camping Stove",
            "Headlamp",
            "Backpack",
            "Water Bottle",
            "Trekking Pole",
            "Hammock",
            "Cooler Box",
            "Picnic Blanket",
        ],
        "adjs": [
            "Ultralight",
            "2-Person",
            "Insulated",
            "Rugged",
            "Packable",
            "Alpine",
            "Weatherproof",
            "Family",
        ],
        "brands": ["Ridgeline", "Campfire Supply", "Wildtrail", "Summit Gear"],
        "words": [
            "packs small for camping trips",
            "weatherproof for the trail",
            "built for hiking and the outdoors",
            "tested in alpine conditions",
            "light enough for long treks",
            "a camping essential for the family",
        ],
    },
    "home_decor": {
        "nouns": [
            "Throw Pillow",
            "Table Lamp",
            "Wall Clock",
            "Scented Candle",
            "Picture Frame",
            "Vase",
            "Wool Rug",
            "Mirror",
            "Plant Pot",
            "Curtain",
        ],
        "adjs": [
            "Velvet",
            "Rattan",
            "Marble",
            "Minimalist",
            "Boho",
            "Glass",
            "Terracotta",
            "Nordic",
        ],
        "brands": ["Nest & Nook", "Casa Linda", "Lumen Home", "Oakhaven"],
        "words": [
            "adds warmth to the living room",
            "a calm accent for your home decor",
            "handcrafted interior detail",
            "pairs with any bedroom style",
            "a cosy touch for the sofa corner",
            "gallery-worthy home styling",
        ],
    },
    "beauty": {
        "nouns": [
            "Face Serum",
            "Hand Cream",
            "Lip Balm",
            "Shampoo",
            "Body Lotion",
            "Sheet Mask",
            "Eye Cream",
            "Bath Salts",
            "Hair Oil",
            "Sunscreen",
        ],
        "adjs": [
            "Rose",
            "Argan",
            "Vitamin C",
            "Unscented",
            "Aloe",
            "Charcoal",
            "Lavender",
            "Hydrating",
        ],
        "brands": ["Glow Theory", "Petal & Pure", "Skinfolk", "Aurelle"],
        "words": [
            "gentle skincare for sensitive skin",
            "hydrating formula with natural oils",
            "dermatologist tested and vegan",
            "a self-care ritual for the evening",
            "nourishes skin and hair",
            "cruelty-free beauty essential",
        ],
    },
    "electronics": {
        "nouns": [
            "Wireless Earbuds",
            "Bluetooth Speaker",
            "Phone Charger",
            "Smart Watch",
            "USB-C Cable",
            "Power Bank",
            "Desk Lamp",
            "Keyboard",
            "Webcam",
            "Headphones",
        ],
        "adjs": [
            "Noise-Cancelling",
            "Fast-Charge",
            "Compact",
            "Portable",
            "Ergonomic",
            "HD",
            "Slim",
            "Wireless",
        ],
        "brands": ["Voltix", "Pixelcraft", "Soundwave", "Chargely"],
        "words": [
            "long battery life and bluetooth pairing",
            "charges your phone and laptop fast",
            "crisp audio for music and calls",
            "plug-and-play with USB-C devices",
            "a smart gadget for the home office",
            "two-year warranty on electronics",
        ],
    },
    "toys": {
        "nouns": [
            "Building Blocks",
            "Jigsaw Puzzle",
            "Plush Bear",
            "Board Game",
            "Wooden Train",
            "Kite",
            "Art Set",
            "Dollhouse",
            "Toy Car",
            "Science Kit",
        ],
        "adjs": [
            "Wooden",
            "Classic",
            "Educational",
            "Giant",
            "Mini",
            "Rainbow",
            "Magnetic",
            "Glow-in-the-Dark",
        ],
        "brands": ["Playbright", "Tiny Tinker", "Wonderbox", "Kidsmith"],
        "words": [
            "fun for kids and the whole family",
            "encourages creative play and learning",
            "safe for children over three",
            "a favourite game for rainy days",
            "builds motor skills through play",
            "a gift that kids love",
        ],
    },
}
CATEGORY_PRICE = {
    "kitchen": 18,
    "apparel": 35,
    "footwear": 70,
    "outdoor": 55,
    "home_decor": 30,
    "beauty": 14,
    "electronics": 45,
    "toys": 22,
}
SEGMENTS = ["bargain_hunter", "loyal", "new", "browser"]
SEGMENT_SHARE = [0.25, 0.2, 0.2, 0.35]
SEGMENT_CATEGORIES = {
    "bargain_hunter": ["toys", "kitchen", "beauty"],
    "loyal": ["footwear", "apparel", "home_decor"],
    "new": ["electronics", "apparel"],
    "browser": ["home_decor", "outdoor", "electronics"],
}
SEGMENT_SESSIONS = {"bargain_hunter": 8.0, "loyal": 14.0, "new": 4.0, "browser": 10.0}
SEGMENT_VIEWS = {"bargain_hunter": 3.0, "loyal": 3.0, "new": 3.0, "browser": 5.0}
SEGMENT_CART = {"bargain_hunter": 0.0, "loyal": 0.5, "new": -0.2, "browser": -0.8}
SEGMENT_RECENCY = {"bargain_hunter": 12.0, "loyal": 4.0, "new": 8.0, "browser": 14.0}
DEVICES = ["mobile", "desktop", "tablet"]
DEVICE_SHARE = [0.55, 0.33, 0.12]
DEVICE_BUY = {"mobile": -0.8, "desktop": 0.3, "tablet": -0.2}
CITIES = ["London", "Berlin", "Paris", "Madrid", "Amsterdam", "Milan"]
CITY_SHARE = [0.28, 0.22, 0.17, 0.13, 0.11, 0.09]
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55+"]
AGE_SHARE = [0.16, 0.31, 0.25, 0.16, 0.12]
N_STYLE = 4
CONVERSION_RATE = 0.125


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def seconds(values: np.ndarray) -> np.ndarray:
    """Durations in seconds as numpy timedeltas, to add to datetime64 arrays."""
    return pd.to_timedelta(values, unit="s").to_numpy()


def make_items(rng: np.random.Generator, n_items: int, n_new: int) -> pd.DataFrame:
    """Items with title, category, brand, price, stock, description and the date they were added."""
    names = list(CATEGORIES)
    category = np.array(names)[np.arange(n_items) % len(names)]
    rng.shuffle(category)
    rows = []
    for cat in names:
        spec = CATEGORIES[cat]
        combos = [(a, n) for a in spec["adjs"] for n in spec["nouns"] if a not in n]
        count = int((category == cat).sum())
        for idx in rng.choice(len(combos), size=count, replace=False):
            adj, noun = combos[idx]
            brand = spec["brands"][rng.integers(len(spec["brands"]))]
            words = rng.choice(spec["words"], size=2, replace=False)
            price = CATEGORY_PRICE[cat] * np.exp(0.45 * rng.standard_normal())
            rows.append(
                {
                    "title": f"{adj} {noun}",
                    "category": cat,
                    "brand": brand,
                    "price": round(max(np.floor(price), 2) + 0.99, 2),
                    "description": f"{adj} {noun.lower()} by {brand}, {words[0]}; {words[1]}.",
                }
            )
    items = pd.DataFrame(rows).sample(frac=1.0, random_state=int(rng.integers(2**31)))
    items.insert(0, "item_id", [f"p{i:03d}" for i in range(1, len(items) + 1)])
    items["in_stock"] = np.where(rng.random(len(items)) < 0.9, "true", "false")
    age_days = rng.integers(DAYS + 10, 700, size=len(items))
    new_rows = rng.choice(len(items), size=n_new, replace=False)
    age_days[new_rows] = rng.integers(0, 4, size=n_new)
    is_new = np.isin(np.arange(len(items)), new_rows)
    items["in_stock"] = np.where(is_new, "true", items["in_stock"])
    added = END.normalize() - pd.to_timedelta(age_days, unit="D")
    items["added_date"] = added.strftime("%Y-%m-%d")
    return items.reset_index(drop=True)


def make_users(rng: np.random.Generator, n_users: int) -> pd.DataFrame:
    """Users with device, location, segment, age band and sign-up date."""
    segment = rng.choice(SEGMENTS, size=n_users, p=SEGMENT_SHARE)
    tenure = rng.integers(DAYS + 1, 3 * 365, size=n_users)
    is_new = segment == "new"
    tenure[is_new] = rng.integers(1, DAYS, size=int(is_new.sum()))
    signup = END.normalize() - pd.to_timedelta(tenure, unit="D")
    return pd.DataFrame(
        {
            "user_id": [f"u{i:04d}" for i in range(1, n_users + 1)],
            "device": rng.choice(DEVICES, size=n_users, p=DEVICE_SHARE),
            "location": rng.choice(CITIES, size=n_users, p=CITY_SHARE),
            "segment": segment,
            "age_band": rng.choice(AGE_BANDS, size=n_users, p=AGE_SHARE),
            "signup_date": signup.strftime("%Y-%m-%d"),
        }
    )


def taste_scores(rng: np.random.Generator, users: pd.DataFrame, items: pd.DataFrame) -> np.ndarray:
    """Users x items affinity from a low-rank model: category affinities plus style factors."""
    names = list(CATEGORIES)
    cat_onehot = (items["category"].to_numpy()[:, None] == np.array(names)[None, :]).astype(float)
    item_style = rng.standard_normal((len(items), N_STYLE))
    prior = np.array(
        [[1.6 if c in SEGMENT_CATEGORIES[s] else 0.0 for c in names] for s in users["segment"]]
    )
    user_cat = prior + 1.1 * rng.standard_normal((len(users), len(names)))
    user_style = 0.9 * rng.standard_normal((len(users), N_STYLE))
    affinity = user_cat @ cat_onehot.T + user_style @ item_style.T
    cheap = -np.log(items["price"].to_numpy() / 30.0)
    affinity += np.outer((users["segment"] == "bargain_hunter").to_numpy() * 0.8, cheap)
    return affinity


def item_popularity(rng: np.random.Generator, n_items: int) -> np.ndarray:
    """Long-tailed base popularity (log scale): a Zipf-like curve over a random item order."""
    ranks = rng.permutation(n_items) + 1
    return -0.9 * np.log(ranks)


def choice_probabilities(
    affinity: np.ndarray, popularity: np.ndarray, eligible: np.ndarray
) -> np.ndarray:
    """Softmax over items per user; items not eligible (brand-new) get zero."""
    logits = 1.6 * affinity + popularity[None, :]
    logits[:, ~eligible] = -np.inf
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def session_times(
    rng: np.random.Generator, users: pd.DataFrame, silent: np.ndarray
) -> pd.DataFrame:
    """One row per session: user row, start time. Users in ``silent`` get none."""
    start = END.normalize() - pd.Timedelta(days=DAYS - 1)
    signup = pd.to_datetime(users["signup_date"])
    first_day = np.maximum(((signup - start).dt.days).to_numpy(), 0)
    mean_sessions = users["segment"].map(SEGMENT_SESSIONS).to_numpy()
    counts = 1 + rng.poisson(mean_sessions * np.exp(0.6 * rng.standard_normal(len(users)) - 0.18))
    counts[silent] = 0
    recency = rng.exponential(users["segment"].map(SEGMENT_RECENCY).to_numpy())
    last_day = np.maximum(first_day, DAYS - 1 - np.minimum(recency, DAYS - 1).astype(int))
    user_rows = np.repeat(np.arange(len(users)), counts)
    lo, hi = first_day[user_rows], last_day[user_rows]
    day = lo + np.floor(rng.random(len(user_rows)) * (hi - lo + 1)).astype(int)
    is_last = np.r_[user_rows[1:] != user_rows[:-1], True]
    day[is_last] = hi[is_last]
    hour = rng.choice(24, size=len(user_rows), p=hour_profile())
    offset = hour * 3600 + rng.integers(0, 3600, size=len(user_rows))
    when = start + pd.to_timedelta(day, unit="D") + pd.to_timedelta(offset, unit="s")
    sessions = pd.DataFrame({"user_row": user_rows, "start": when})
    sessions = sessions.sort_values("start", kind="stable")
    sessions["session_id"] = [f"s{i:05d}" for i in range(1, len(sessions) + 1)]
    return sessions.reset_index(drop=True)


def hour_profile() -> np.ndarray:
    """Share of sessions per hour of day: quiet nights, a lunch bump, an evening peak."""
    shape = np.array(
        [
            1,
            0.6,
            0.4,
            0.3,
            0.3,
            0.5,
            1,
            2,
            3,
            3.5,
            3.5,
            4,
            5,
            4.5,
            3.5,
            3.5,
            3.8,
            4.5,
            5.5,
            7,
            7.5,
            6.5,
            4,
            2,
        ]
    )
    return shape / shape.sum()


def draw_views(
    rng: np.random.Generator,
    users: pd.DataFrame,
    sessions: pd.DataFrame,
    probs: np.ndarray,
    categories: np.ndarray,
) -> pd.DataFrame:
    """Viewed items per session: a session focuses on one category drawn from the user's taste.

    Each view comes from the focus category with probability 0.7, else from the user's whole
    taste; items are drawn by inverse CDF on the user's row of ``probs`` (users x items).
    """
    user_of_session = sessions["user_row"].to_numpy()
    n_views = 1 + rng.poisson(users["segment"].map(SEGMENT_VIEWS).to_numpy()[user_of_session])
    names = list(CATEGORIES)
    cat_index = np.array([names.index(c) for c in categories])
    order = np.argsort(cat_index, kind="stable")
    cdf = np.cumsum(probs[:, order], axis=1)
    bounds = np.searchsorted(cat_index[order], np.arange(len(names) + 1))
    below = np.hstack([np.zeros((len(cdf), 1)), cdf])[:, bounds]
    mass = np.diff(below, axis=1)
    focus = (np.cumsum(mass[user_of_session], axis=1) < rng.random((len(sessions), 1))).sum(axis=1)
    focus = np.minimum(focus, len(names) - 1)

    session_row = np.repeat(np.arange(len(sessions)), n_views)
    user = user_of_session[session_row]
    cat = focus[session_row]
    draw = rng.random(len(session_row))
    in_focus = rng.random(len(session_row)) < 0.7
    target = np.where(in_focus, below[user, cat] + draw * mass[user, cat], draw * cdf[user, -1])
    flat = (cdf + 2.0 * np.arange(len(cdf))[:, None]).ravel()
    position = np.searchsorted(flat, target + 2.0 * user, side="right") - user * cdf.shape[1]
    item_row = order[np.clip(position, 0, cdf.shape[1] - 1)]
    step = np.arange(len(session_row)) - np.repeat(np.cumsum(n_views) - n_views, n_views)
    return pd.DataFrame({"session_row": session_row, "item_row": item_row, "step": step})


def merge_repeat_purchases(
    views: pd.DataFrame, bought: np.ndarray, revenue: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One purchase per item and session: repeats add their revenue to the first and vanish."""
    rows = np.flatnonzero(bought)
    keys = pd.DataFrame(
        {
            "session": views["session_row"].to_numpy()[rows],
            "item": views["item_row"].to_numpy()[rows],
            "row": rows,
            "revenue": revenue[rows],
        }
    )
    grouped = keys.groupby(["session", "item"], sort=False).agg(
        row=("row", "first"), revenue=("revenue", "sum")
    )
    merged = np.zeros_like(bought)
    merged[grouped["row"].to_numpy()] = True
    total = revenue.copy()
    total[grouped["row"].to_numpy()] = grouped["revenue"].round(2).to_numpy()
    return merged, total


def simulate_funnel(
    rng: np.random.Generator,
    users: pd.DataFrame,
    items: pd.DataFrame,
    sessions: pd.DataFrame,
    views: pd.DataFrame,
    affinity: np.ndarray,
) -> pd.DataFrame:
    """Turn views into the event log: clicks, carts, removals, purchases and ratings."""
    user_row = sessions["user_row"].to_numpy()[views["session_row"]]
    item_row = views["item_row"].to_numpy()
    aff = affinity[user_row, item_row]
    aff = (aff - aff.mean()) / aff.std()
    segment = users["segment"].to_numpy()[user_row]
    device = users["device"].to_numpy()[user_row]
    price = items["price"].to_numpy()[item_row]
    n = len(views)
    dwell = np.round(22 * np.exp(0.35 * aff + 0.6 * rng.standard_normal(n))) + 2
    clicked = rng.random(n) < sigmoid(-0.7 + 0.9 * aff)
    cart_logit = -1.3 + 0.8 * aff + pd.Series(segment).map(SEGMENT_CART).to_numpy()
    carted = clicked & (rng.random(n) < sigmoid(cart_logit))
    buy_logit = 0.4 + pd.Series(device).map(DEVICE_BUY).to_numpy() + 0.4 * aff
    buy_logit += np.where(segment == "bargain_hunter", -0.5 * np.log(price / 30.0), 0.0)
    bought = carted & (rng.random(n) < sigmoid(buy_logit))
    quantity = rng.choice([1, 2, 3], size=n, p=[0.85, 0.12, 0.03])
    discount = np.where(segment == "bargain_hunter", rng.uniform(0.8, 0.95, size=n), 1.0)
    revenue = np.round(price * quantity * discount, 2)
    bought, revenue = merge_repeat_purchases(views, bought, revenue)
    removed = carted & ~bought & (rng.random(n) < 0.4)
    rated = bought & (rng.random(n) < 0.35)
    stars = np.clip(np.round(3.4 + 1.0 * aff + 0.8 * rng.standard_normal(n)), 1, 5).astype(int)

    session_start = sessions["start"].to_numpy()[views["session_row"]]
    t_view = session_start + seconds(views["step"].to_numpy() * 75 + rng.integers(5, 60, size=n))
    t_click = t_view + seconds(np.minimum(dwell, 60) * 0.5 + 1)
    t_cart = t_click + seconds(rng.integers(10, 90, size=n))
    session_len = views.groupby("session_row")["step"].transform("max").to_numpy() * 75 + 240
    t_end = session_start + seconds(session_len)
    t_remove = t_cart + seconds(rng.integers(20, 200, size=n))
    t_rate = t_end + seconds(rng.integers(1, 12 * 86400, size=n))
    rated &= t_rate <= END.to_datetime64()

    user_id = users["user_id"].to_numpy()[user_row]
    item_id = items["item_id"].to_numpy()[item_row]
    session_id = sessions["session_id"].to_numpy()[views["session_row"]]
    parts = [
        (np.ones(n, bool), "view", t_view, dwell.astype(int).astype(str)),
        (clicked, "click", t_click, np.full(n, "")),
        (carted, "add_to_cart", t_cart, np.full(n, "")),
        (removed, "remove_from_cart", t_remove, np.full(n, "")),
        (bought, "purchase", t_end, np.char.mod("%.2f", revenue)),
        (rated, "rating", t_rate, stars.astype(str)),
    ]
    frames = [
        pd.DataFrame(
            {
                "user_id": user_id[m],
                "item_id": item_id[m],
                "event_type": kind,
                "timestamp": t[m],
                "value": v[m],
                "session_id": session_id[m],
            }
        )
        for m, kind, t, v in parts
    ]
    events = pd.concat(frames, ignore_index=True)
    events = events[events["timestamp"] <= END]
    events = events.sort_values(["timestamp", "session_id"], kind="stable")
    events["timestamp"] = events["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return events.drop_duplicates().reset_index(drop=True)


def engagement_features(users: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Per-user engagement figures from the event log, as of the last day of the log."""
    ts = pd.to_datetime(events["timestamp"])
    recent = ts > END - pd.Timedelta(days=30)
    value = pd.to_numeric(events["value"], errors="coerce")
    kind = events["event_type"]
    by_user = events["user_id"]

    def count(mask: pd.Series) -> pd.Series:
        return by_user[mask].value_counts()

    feats = pd.DataFrame(index=users["user_id"])
    feats["sessions_30d"] = events[recent].groupby("user_id")["session_id"].nunique()
    feats["page_views_30d"] = count(recent & (kind == "view"))
    views, buys_mask = kind == "view", kind == "purchase"
    feats["avg_dwell_seconds"] = value[views].groupby(by_user[views]).mean().round(1)
    feats["cart_adds_30d"] = count(recent & (kind == "add_to_cart"))
    carts, buys = count(kind == "add_to_cart"), count(kind == "purchase")
    abandon = 1 - buys.reindex(carts.index, fill_value=0) / carts
    feats["cart_abandon_rate"] = abandon.clip(0, 1).round(3)
    last_visit = ts.groupby(by_user).max().dt.normalize()
    feats["days_since_last_visit"] = (END.normalize() - last_visit).dt.days
    feats["purchases_90d"] = buys
    feats["revenue_90d"] = value[buys_mask].groupby(by_user[buys_mask]).sum().round(2)
    for col in ("sessions_30d", "page_views_30d", "cart_adds_30d", "purchases_90d"):
        feats[col] = feats[col].fillna(0).astype(int)
    feats["revenue_90d"] = feats["revenue_90d"].fillna(0.0)
    feats["days_since_last_visit"] = feats["days_since_last_visit"].astype("Int64")
    return feats


def conversion_logit(customers: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Log-odds of converting: recency, engagement, email and device, plus unobserved noise."""
    recency = customers["days_since_last_visit"].fillna(DAYS).to_numpy(float)
    sessions = np.log1p(customers["sessions_30d"].to_numpy(float))
    carts = np.log1p(customers["cart_adds_30d"].to_numpy(float))
    bought = (customers["purchases_90d"].to_numpy(float) > 0).astype(float)
    emails = customers["email_opens"].to_numpy(float)
    device = customers["device"].map({"mobile": -0.9, "desktop": 0.0, "tablet": -0.4}).to_numpy()
    discount = (customers["discount_used"] == "yes").to_numpy(float)
    signal = (
        -0.15 * recency
        + 0.9 * sessions
        + 0.7 * carts
        + 0.8 * bought
        + 0.2 * emails
        + 1.5 * device
        + 0.5 * discount
    )
    return signal + 0.6 * rng.standard_normal(len(customers))


def intercept_for_rate(logit: np.ndarray, rate: float) -> float:
    """The shift of ``logit`` that makes the mean probability equal ``rate`` (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sigmoid(logit + mid).mean() < rate else (lo, mid)
    return (lo + hi) / 2


def make_customers(
    rng: np.random.Generator, users: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """One row per user: attributes, engagement features, email and discount, and ``converted``."""
    feats = engagement_features(users, events).reset_index(drop=True)
    attributes = users.drop(columns="signup_date").rename(columns={"user_id": "customer_id"})
    customers = pd.concat([attributes, feats], axis=1)
    segment = customers["segment"]
    email_rate = segment.map({"bargain_hunter": 3.0, "loyal": 5.0, "new": 2.0, "browser": 1.5})
    customers["email_opens"] = rng.poisson(email_rate.to_numpy())
    discount_p = np.where(segment == "bargain_hunter", 0.75, 0.2)
    customers["discount_used"] = np.where(rng.random(len(customers)) < discount_p, "yes", "no")
    logit = conversion_logit(customers, rng)
    probability = sigmoid(logit + intercept_for_rate(logit, CONVERSION_RATE))
    customers["converted"] = np.where(rng.random(len(customers)) < probability, "yes", "no")
    blanks = rng.random(len(customers)) < 0.02
    customers.loc[blanks, "avg_dwell_seconds"] = np.nan
    return customers


def pick_silent_users(rng: np.random.Generator, users: pd.DataFrame, count: int) -> np.ndarray:
    """Mark ``count`` new users who signed up in the last days and have no events yet.

    Sets their ``signup_date`` in place; returns a boolean mask over the users.
    """
    silent = np.zeros(len(users), bool)
    new_users = np.flatnonzero(users["segment"] == "new")
    silent[rng.choice(new_users, size=min(count, len(new_users)), replace=False)] = True
    days_ago = rng.integers(0, 3, size=int(silent.sum()))
    signup = END.normalize() - pd.to_timedelta(days_ago, unit="D")
    users.loc[silent, "signup_date"] = signup.strftime("%Y-%m-%d")
    return silent


def generate(
    n_users: int = 3000,
    n_items: int = 300,
    n_new_items: int = 12,
    n_silent_users: int = 15,
    seed: int = SEED,
) -> dict[str, pd.DataFrame]:
    """Build the four tables. Deterministic for a given seed and sizes.

    Returns ``{"events", "users", "items", "customers"}`` as DataFrames of text-ready values.
    """
    rng = np.random.default_rng(seed)
    items = make_items(rng, n_items, n_new_items)
    users = make_users(rng, n_users)
    affinity = taste_scores(rng, users, items)
    popularity = item_popularity(rng, n_items)
    eligible = pd.to_datetime(items["added_date"]) < END.normalize() - pd.Timedelta(days=DAYS)
    probs = choice_probabilities(affinity, popularity, eligible.to_numpy())
    silent = pick_silent_users(rng, users, n_silent_users)
    sessions = session_times(rng, users, silent)
    views = draw_views(rng, users, sessions, probs, items["category"].to_numpy())
    events = simulate_funnel(rng, users, items, sessions, views, affinity)
    customers = make_customers(rng, users, events)
    missing_age = rng.random(n_users) < 0.02
    users.loc[missing_age, "age_band"] = np.nan
    customers.loc[missing_age, "age_band"] = np.nan
    return {"events": events, "users": users, "items": items, "customers": customers}


def write(tables: dict[str, pd.DataFrame], out_dir: Path = OUT_DIR) -> dict[str, Path]:
    """Write each table to ``out_dir/<name>.csv`` with Unix line endings; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in tables.items():
        path = out_dir / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        paths[name] = path
    return paths


def main(argv: list[str] | None = None) -> None:
    out_dir = Path(argv[0]) if argv else OUT_DIR
    for path in write(generate(), out_dir).values():
        print(f"{path}: {sum(1 for _ in path.open()) - 1} rows, {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
