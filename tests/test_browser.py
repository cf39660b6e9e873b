"""The whole journey in a real browser: home, upload on Data, train, recommendations, a thumbs-up,
an export download, Explain and Lift. Each page's screenshot goes to ``screenshots/``.

Runs ``streamlit run app.py`` on a free loopback port with a fresh database (the sample shop loads
on first start) and drives Debian's chromium with Playwright; skipped where chromium is absent.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TRAIN_TIMEOUT_MS = 300_000
PAGE_TIMEOUT_MS = 90_000
# "My data": a real shop's invoices (UCI Online Retail, 300 customers), not the sample shop
UPLOAD = ROOT / "sample_data" / "online_retail_sample.csv"
SAMPLE_TITLES = ROOT / "sample_data" / "items.csv"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (CI installs Debian's chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"streamlit exited with {proc.returncode}; see its log beside the database"
            )
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    port = free_port()
    env = {**os.environ, "PERSONALIZATION_DB": str(folder / "journey.duckdb")}
    log = (folder / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def page(app_url):
    SHOTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(
            viewport={"width": 1400, "height": 1600}, accept_downloads=True
        )
        tab = context.new_page()
        tab.set_default_timeout(PAGE_TIMEOUT_MS)
        yield tab
        context.close()
        browser.close()


def settle(tab) -> None:
    """Wait until the script has finished running (no 'Running…' status widget)."""
    tab.wait_for_timeout(1000)
    tab.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=TRAIN_TIMEOUT_MS,
    )
    tab.wait_for_timeout(300)


def shoot(tab, name: str) -> None:
    settle(tab)
    assert tab.locator('[data-testid="stException"]').count() == 0, f"{name}: a traceback is shown"
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def saved(tab) -> None:
    """Wait for the Train page's green "Saved …" message of the run just started."""
    tab.locator('[data-testid="stAlertContentSuccess"]', has_text="Saved").first.wait_for(
        timeout=TRAIN_TIMEOUT_MS
    )


def visit(tab, app_url: str, path: str) -> None:
    tab.goto(f"{app_url}/{path}")
    tab.wait_for_selector('[data-testid="stAppViewContainer"]')
    settle(tab)


def test_home_after_first_start(page, app_url):
    visit(page, app_url, "")
    page.get_by_text("Key figures").wait_for()
    page.get_by_text("sample shop", exact=False).first.wait_for()
    shoot(page, "01-home")


def test_train_a_conversion_model_on_the_sample(page, app_url):
    visit(page, app_url, "train")
    page.get_by_role("tab", name="Conversion model").click()
    settle(page)
    page.locator(".st-key-train_clf button").click()
    saved(page)
    shoot(page, "02-train-conversion")


def test_explain_and_lift(page, app_url):
    visit(page, app_url, "explain")
    page.get_by_role("heading", name="Explain").first.wait_for()
    shoot(page, "03-explain")
    visit(page, app_url, "lift")
    page.get_by_role("heading", name="Lift").first.wait_for()
    shoot(page, "04-lift")


def test_my_own_file_goes_into_my_data(page, app_url):
    visit(page, app_url, "data")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(UPLOAD))
    page.get_by_text("Map the columns").wait_for()
    settle(page)
    page.locator(".st-key-load_file button").click()
    page.get_by_text("Rows loaded").wait_for(timeout=TRAIN_TIMEOUT_MS)
    settle(page)
    cards = page.locator('[data-testid="stMetric"]')
    assert "Rows read" in cards.first.inner_text()
    assert "5,974" in cards.first.inner_text()
    shoot(page, "05-data-report")


def test_train_a_recommender_on_my_data(page, app_url):
    visit(page, app_url, "train")  # a new session: it opens My data, which now holds the file
    page.locator(".st-key-train_rec button").click()
    saved(page)
    shoot(page, "06-train-recommender")


def test_recommendations_come_from_my_data(page, app_url):
    visit(page, app_url, "recommendations")
    page.get_by_text("Top 10 for", exact=False).wait_for()
    text = page.locator('[data-testid="stMain"]').inner_text()
    sample_titles = [line.split(",")[1] for line in SAMPLE_TITLES.read_text().splitlines()[1:40]]
    assert not [t for t in sample_titles if t in text], "a sample-shop product is shown"
    shoot(page, "07-recommendations")
    page.locator('[class*="st-key-up_"] button').first.click()
    page.get_by_text("Thumbs up", exact=False).first.wait_for()
    shoot(page, "08-thumbs-up")


def test_export_download_of_my_data(page, app_url, tmp_path):
    visit(page, app_url, "export")
    page.locator(".st-key-prepare_export button").click()
    page.get_by_text("are ready", exact=False).wait_for(timeout=TRAIN_TIMEOUT_MS)
    with page.expect_download() as download:
        page.locator(".st-key-download_export button").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("user_id,rank,item_id,score,reason")
    users = {line.split(",")[0] for line in lines[1:]}
    assert len(users) >= 250 and not any(u.startswith("u0") for u in users)  # no sample ids
    shoot(page, "09-export")


def test_a_conversion_model_on_my_data_explained(page, app_url):
    visit(page, app_url, "train")
    page.get_by_role("tab", name="Conversion model").click()
    settle(page)
    page.get_by_text("No customer table? Build one from the events").click()
    page.locator(".st-key-build_features button").click()
    built = page.locator('[data-testid="stAlertContentSuccess"]', has_text="Built")
    built.wait_for(timeout=TRAIN_TIMEOUT_MS)
    assert "customer_features" in built.inner_text()
    settle(page)
    page.locator(".st-key-train_clf button").click()
    saved(page)
    shoot(page, "10-train-conversion-my-data")
    for path, heading in (("explain", "Explain"), ("lift", "Lift")):
        visit(page, app_url, path)
        page.get_by_role("heading", name=heading).first.wait_for()
        text = page.locator('[data-testid="stMain"]').inner_text()
        assert "Trained on the data now in customer_features" in text
        assert "page_views_30d" not in text and "avg_dwell_seconds" not in text  # sample columns
        shoot(page, f"11-{path}-my-data")
