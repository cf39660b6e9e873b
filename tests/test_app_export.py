"""AppTest of the Export page: preview, a segment, an uploaded list, a safe CSV, Parquet (empty states: test_app_model_pages)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from panels import score_export
from personalization.propensity import scoring
from personalization.recommendation import batch
from personalization.recommendation.serving import ListRules
from tests.conftest import app_page, open_page

ROOT = Path(__file__).resolve().parent.parent
PAGE = "pages/export.py"
ITEMS = (
    "item_id,title,category\n"
    'p1,"=HYPERLINK(""http://x"")",toys\np2,Blue Boot,shoes\np3,Green Mug,kitchen\np4,Pan,kitchen\np5,Ball,toys\n'
)
USERS = "user_id,segment\n" + "".join(
    f"u{i},{'family' if i < 5 else 'chef'}\n" for i in range(1, 9)
)


def exported(at: AppTest) -> bytes:
    """The bytes handed to the page's download button (the browser test fetches the real file)."""
    assert at.get("download_button")
    return at.session_state["export"][1]["data"]


def who(at: AppTest):
    """The audience choice (the page's first radio chooses what to export)."""
    return next(r for r in at.radio if r.label == "Who")


def test_everyone_as_a_formula_safe_csv(shop_model, db):
    at = app_page(PAGE)
    assert not at.exception
    first = at.dataframe[0].value
    assert set(first["user_id"]) <= {f"u{i}" for i in range(1, 9)}
    assert {"title", "category"} <= set(first.columns)
    next(b for b in at.button if b.label == "Prepare the file").click().run()
    assert not at.exception
    frame = pd.read_csv(io.BytesIO(exported(at)), dtype=str)
    rules = ListRules(item_columns=("title", "category"))
    expected = batch.recommendations_for_users(k=10, model_id=shop_model, rules=rules, db=db)
    assert len(frame) == len(expected)
    assert set(frame["user_id"]) == set(expected["user_id"])
    users = expected["user_id"].nunique()
    assert len(at.success) == 1
    assert at.success[0].value.startswith(f"{len(expected)} rows for {users} customers are ready (")
    titles = set(frame.loc[frame["item_id"] == "p1", "title"])
    assert titles <= {'\'=HYPERLINK("http://x")'}


def test_a_segment_as_parquet(shop_model, db):
    at = app_page(PAGE)
    who(at).set_value("A segment").run()
    at.selectbox(key="export_column").set_value("segment")
    at.selectbox(key="export_value").set_value("chef").run()
    at.radio(key="export_format").set_value("Parquet (for data tools)").run()
    next(b for b in at.button if b.label == "Prepare the file").click().run()
    assert not at.exception
    frame = pd.read_parquet(io.BytesIO(exported(at)))
    expected = batch.recommendations_for_users(
        ["u5", "u6", "u7", "u8"], k=10, model_id=shop_model, db=db
    )
    assert (
        frame[["user_id", "item_id"]].values.tolist()
        == expected[["user_id", "item_id"]].values.tolist()
    )


def test_an_uploaded_list_and_a_bad_one(shop_model):
    at = app_page(PAGE)
    who(at).set_value("An uploaded list of customers").run()
    at.file_uploader[0].set_value(("vip.csv", b"user_id\nu1\nu2\n", "text/csv")).run()
    assert not at.exception
    assert set(at.dataframe[0].value["user_id"]) == {"u1", "u2"}
    at.file_uploader[0].set_value(("vip.csv", b"user_id\nnobody\n", "text/csv")).run()
    assert not at.exception
    assert len(at.error) == 1
    assert "nobody" in at.error[0].value


def test_a_large_export_stays_on_disk_and_is_read_at_download(shop_model, db):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["large_export_rows"] = 5
    at = at.run().switch_page("pages/export.py").run()
    next(b for b in at.button if b.label == "Prepare the file").click().run()
    assert not at.exception and at.get("download_button")
    result = at.session_state["export"][1]
    assert "data" not in result
    frame = pd.read_csv(result["path"], dtype=str)
    expected = batch.recommendations_for_users(k=10, model_id=shop_model, db=db)
    assert len(frame) == result["rows"] == len(expected) > 5
    assert list(frame.columns) == [
        "user_id",
        "rank",
        "item_id",
        "score",
        "reason",
        "title",
        "category",
    ]
    shutil.rmtree(Path(result["path"]).parent)


def test_rules_leave_out_a_category(shop_model, db):
    at = app_page(PAGE)
    at.multiselect[1].set_value(["toys"]).run()
    assert not at.exception
    assert not set(at.dataframe[0].value["category"]) & {"toys"}
    next(b for b in at.button if b.label == "Prepare the file").click().run()
    frame = pd.read_csv(io.BytesIO(exported(at)), dtype=str)
    assert len(frame) > 0 and "toys" not in set(frame["category"])


def test_cancel_stops_the_export_and_leaves_no_file(shop_model, db, monkeypatch):
    """Cancel makes Streamlit stop the run at the export's next progress report: no file is
    kept (its temporary folder is removed) and the next run says it was cancelled."""
    import tempfile

    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    real = batch.export_recommendations
    folders: list[Path] = []

    def stopped_midway(path, progress=None, **kwargs):
        folders.append(Path(path).parent)

        def report(fraction, message):
            progress(fraction, message)
            if fraction > 0:  # what Streamlit raises at a progress report after a click
                raise StopException()

        return real(path, progress=report, **kwargs)

    monkeypatch.setattr(batch, "export_recommendations", stopped_midway)
    at = app_page(PAGE)
    next(b for b in at.button if b.label == "Prepare the file").click().run()
    assert not at.exception
    assert folders and not folders[0].exists()
    assert folders[0].parent == Path(tempfile.gettempdir())
    assert "export" not in at.session_state
    assert not at.get("download_button")
    at.session_state["cancel_export__cancelled"] = True  # what the button's on_click sets
    at.run()
    assert any("cancelled before it finished" in i.value for i in at.info)
    at.run()
    assert not any("cancelled" in i.value for i in at.info)


def test_conversion_scores_for_every_customer(classifier_db, monkeypatch):
    db, model_id = classifier_db
    at = open_page(monkeypatch, db, PAGE)
    at.radio(key="export_what").set_value("Conversion scores").run()
    assert not at.exception
    assert at.selectbox(key="score_export_table").value == "customers"
    next(b for b in at.button if b.label == "Score and prepare the file").click().run()
    assert not at.exception
    scores = scoring.score_customers(model_id, "customers", db=db)
    assert at.success[0].value.startswith(f"{len(scores):,} customers scored; ")
    assert len(at.get("plotly_chart")) == 1
    assert at.dataframe[0].value["score"].is_monotonic_decreasing
    assert at.get("download_button")
    ready = at.session_state["score_export"][1]
    written = pd.read_csv(io.BytesIO(score_export.file_bytes(ready, ".csv")))
    assert len(written) == len(scores) and written["score"].is_monotonic_decreasing
    assert list(written.columns) == list(scores.columns)
