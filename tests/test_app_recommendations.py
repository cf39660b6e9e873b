"""AppTest of the Recommendations page: a customer's list, thumbs, similar items, new visitor, segment."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from personalization import store
from personalization.recommendation import next_items, serving, training
from tests.conftest import app_page, load_csv

ROOT = Path(__file__).resolve().parent.parent
PAGE = "pages/recommendations.py"
ITEMS = "item_id,title,category\np1,Red Kite,toys\np2,Blue Boot,shoes\np3,Green Mug,kitchen\np4,Pan,kitchen\np5,Ball,toys\n"
USERS = (
    "user_id,device,segment\n"
    + "".join(
        f"u{i},{'mobile' if i % 2 else 'desktop'},{'family' if i < 5 else 'chef'}\n"
        for i in range(1, 9)
    )
    + "u9,mobile,family\n"
)


def open_customer(user_id: str):
    """The page with ``user_id`` found by typing its id and chosen among the matches."""
    at = app_page(PAGE)
    at.text_input(key="customer_prefix").set_value(user_id).run()
    at.selectbox(key=f"customer_{user_id}").set_value(user_id).run()
    assert not at.exception
    return at


def test_customers_are_found_by_id_prefix_most_active_first(shop_model, db):
    at = app_page(PAGE)
    busiest = store.query_rows(
        "SELECT user_id FROM events GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1"
    )[0][0]
    assert at.selectbox(key="customer_").value == busiest  # a real customer, never a made-up one
    at.text_input(key="customer_prefix").set_value("U").run()  # any case
    found = at.selectbox(key="customer_U").options
    assert found and all(label.startswith("u") and "events" in label for label in found)
    at.text_input(key="customer_prefix").set_value("zz").run()
    assert not at.exception
    assert any("No customer id starts with" in w.value for w in at.warning)


def test_a_customers_list_with_thumbs_up_stored(shop_model, db):
    at = open_customer("u1")
    expected = serving.recommend_for_user("u1", k=10, model_id=shop_model, db=db)
    ups = [b for b in at.button if b.key and b.key.startswith("up_")]
    assert len(ups) == len(expected)
    ups[0].click().run()
    assert not at.exception
    saved = store.feedback(db=db)
    assert saved[["user_id", "item_id", "model_id", "thumbs"]].values.tolist() == [
        ["u1", expected["item_id"].iloc[0], shop_model, 1]
    ]
    assert any("Thumbs up" in t.value for t in at.toast)


def test_history_shows_only_this_customer_newest_first_in_plain_words(shop_model, db):
    at = open_customer("u1")
    history = at.dataframe[0].value
    assert set(history["user_id"]) == {"u1"} and len(history) == 3
    assert history["timestamp"].is_monotonic_decreasing
    assert set(history["event_type"]) <= {"viewed", "bought"}
    assert any("next training" in c.value for c in at.caption)


def test_similar_items_new_visitor_and_segment(shop_model, db):
    at = open_customer("u1")
    frames = [d.value for d in at.dataframe]
    similar = serving.similar_items(
        serving.recommend_for_user("u1", model_id=shop_model, db=db)["item_id"].iloc[0],
        k=10,
        model_id=shop_model,
        db=db,
    )
    assert any(list(f["item_id"]) == list(similar["item_id"]) for f in frames)
    segment = serving.segment_top_items("segment", "chef", k=10, model_id=shop_model, db=db)
    at.selectbox(key="segment_column").set_value("segment")
    at.selectbox(key="segment_value").set_value("chef").run()
    assert not at.exception
    assert any(list(d.value["item_id"]) == list(segment["item_id"]) for d in at.dataframe)


def test_an_unknown_customer_is_one_message(shop_model):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["user"] = "nobody"
    at.run().switch_page("pages/recommendations.py").run()
    assert not at.exception
    assert len(at.error) == 1
    assert "nobody" in at.error[0].value


def test_next_in_a_session_lists_items_with_reasons_and_says_the_data_lacks_sequences(
    shop_model, db
):
    at = app_page(PAGE)
    assert any("at least one product" in i.value for i in at.info)  # the empty state
    assert any("0% of sessions" in w.value for w in at.warning)  # a day between any two events
    at.text_input(key="session_typed").set_value("p1, nope").run()
    assert not at.exception
    expected = next_items.next_for_session(["p1", "nope"], k=10, model_id=shop_model, db=db)
    shown = [d.value for d in at.dataframe if "reason" in d.value]
    assert any(list(f["item_id"]) == list(expected["item_id"]) for f in shown)
    assert any("nope" in w.value for w in at.warning)


def test_next_in_a_session_from_a_sequence_model(db, tmp_path):
    rows = ["user_id,item_id,event_type,timestamp"]
    for user in range(10):
        rows += [f"v{user},{item},view,2024-01-01 10:0{n}:00" for n, item in enumerate("xyz")]
    load_csv(db, tmp_path, "events", "\n".join(rows) + "\n")
    training.train_recommender(algo="transitions", db=db)
    at = app_page(PAGE)
    assert any("ready for a sequence model" in s.value for s in at.success)
    at.multiselect(key="session_picked").select("x").run()
    at.toggle(key="session_seen").set_value(True).run()
    assert not at.exception
    found = [d.value for d in at.dataframe if "reason" in d.value][-1]
    assert found["item_id"].iloc[0] == "y"
    assert found["reason"].iloc[0] == "Often viewed after x"
