"""The dashboard in a real browser: Debian's chromium driven by Selenium against a real `repomend serve`.

The database is seeded before the server starts, including a retraining job whose "worker" is a
sleeping process: the server adopts it at start-up like any live worker, cancelling it from the page
signals that process, and the server settles the job when it is gone. Screenshots of every step are
saved under the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from repomend.settings import Settings
from server.db.engine import default_database_url, make_engine, session_factory
from server.db.models import TrainingRun
from server.retraining import runs
from tests.support.dashboard import STATUS_CYCLE, Seeded, seed_dashboard
from tests.support.model import StubServer
from tests.support.serve import RunningServe, serve_process
from tests.support.server_client import ADMIN_TOKEN, USER_TOKEN

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
WAIT_SECONDS = 30.0


def browser_binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    if os.geteuid() != 0:
        pytest.skip(
            "needs Debian's chromium and chromium-driver (scripts/system-deps.sh installs them as root)"
        )
    pytest.fail("chromium or chromedriver is missing: run scripts/system-deps.sh (it installs them as root)")


def settings_for(data_dir: Path) -> Settings:
    """What the served process reads from its environment (tests.support.serve)."""
    return Settings(data_dir=data_dir, engine="openai", openai_model="base-model", _env_file=None)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """Stands in for a retraining worker: alive until the job is cancelled."""
    process = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


@pytest.fixture
def served(tmp_path: Path, sleeper: subprocess.Popen) -> Iterator[tuple[RunningServe, Seeded]]:
    seeded: list[Seeded] = []

    def prepare(data_dir: Path) -> None:
        settings = settings_for(data_dir)
        engine = make_engine(default_database_url(settings))
        try:
            sessions = session_factory(engine)
            seeded.append(seed_dashboard(sessions, settings, tmp_path / "seed", running_job_pid=sleeper.pid))
        finally:
            engine.dispose()

    stub = StubServer()
    stub.start()
    try:
        with serve_process(stub.base_url, tmp_path / "serve", prepare=prepare) as running:
            yield running, seeded[0]
    finally:
        stub.stop()


@pytest.fixture
def browser(tmp_path: Path):
    chromium, driver_path = browser_binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


class Pages:
    """What the test does in the browser, with a screenshot after each step."""

    def __init__(self, driver, base_url: str, folder: Path) -> None:
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.base_url, self.folder, self.by = driver, base_url, folder, By
        # A page that replaces an element (the notice after an action, a reload) while a wait reads it
        # leaves a stale reference: the wait looks it up again rather than failing.
        self.wait = WebDriverWait(
            driver, WAIT_SECONDS, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
        )
        self.shots: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def find(self, css: str):
        return self.wait.until(lambda d: d.find_element(self.by.CSS_SELECTOR, css))

    def all(self, css: str) -> list:
        return self.driver.find_elements(self.by.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.find(css).text

    def click(self, css: str) -> None:
        self.find(css).click()

    def click_link(self, text: str) -> None:
        self.wait.until(lambda d: d.find_element(self.by.LINK_TEXT, text)).click()

    def until_text(self, css: str, wanted: str) -> None:
        self.wait.until(lambda d: wanted in d.find_element(self.by.CSS_SELECTOR, css).text)

    def shot(self, name: str) -> Path:
        path = self.folder / f"{len(self.shots) + 1:02d}-{name}.png"
        assert self.driver.save_screenshot(str(path)), path
        self.shots.append(path)
        return path


def test_dashboard_in_chromium(served, browser, tmp_path: Path, sleeper: subprocess.Popen):
    server, seeded = served
    ui = Pages(browser, server.base_url, tmp_path / "screenshots")

    # Not logged in: the login form, and nothing of the data.
    ui.open("/ui/repositories/stats")
    ui.find("#token")
    assert "Stats.mean" not in browser.page_source
    ui.shot("login")
    ui.find("#token").send_keys(ADMIN_TOKEN)
    ui.click("#login")

    # Back where it was asked for, as admin (once the redirect has landed); then the overview.
    ui.until_text("h1", "stats")
    assert ui.text("h1") == "stats"
    ui.click("#nav-overview")
    rows = ui.all("#repositories tbody tr")
    assert [r.find_element(ui.by.CSS_SELECTOR, ".repository-link").text for r in rows] == ["geo", "stats"]
    assert "v2" in rows[1].text and "-m pytest" in rows[1].text
    assert ui.text("#role") == "admin"
    ui.shot("overview")

    # repositories -> repair
    ui.click_link("stats")
    assert ui.text("#active-adapter") == "v2"
    assert "base model" in ui.text("#rates-by-adapter") and "v1" in ui.text("#rates-by-adapter")
    assert ui.all("#fix-chart polyline"), "the fix-rate chart is drawn"
    ui.shot("repository")
    shown = [int(a.text) for a in ui.all("#repairs-table .repair-link")]
    assert shown == sorted(shown, reverse=True) and len(shown) == 10, "the newest ten"
    fixed = max(i for i in shown if STATUS_CYCLE[(i - 1) % len(STATUS_CYCLE)] == "fixed")
    ui.click(f'#repairs-table a[href="/ui/repairs/{fixed}"]')
    assert "Stats.mean" in ui.text("#repair-target")
    assert ui.text("#repair-status") == "fixed" and ui.text("#fix-type")
    assert "+    return" in ui.text("#diff")
    ui.shot("repair")

    # repair -> adapter: activate v1, then roll back to v2
    ui.click("#crumb-repository")
    ui.click('#adapters a[href$="/adapters/v1"]')
    assert "Pass@5" in ui.text("#evaluation")
    ui.find("#pass-at-chart")  # v1's evaluation wrote no PNG: the curve is drawn from its report
    ui.shot("adapter-v1")
    ui.click("#activate")
    ui.until_text("#notice", "`stats` now uses v1")
    assert ui.text("#adapter-active") == "active"
    ui.shot("adapter-v1-activated")
    ui.click("#rollback")
    ui.until_text("#notice", "rolled back: `stats` now uses v2")
    assert not ui.all("#adapter-active")
    with server.http(admin=True) as http:
        assert http.get("/v1/admin/repositories/stats/adapters").json()["active"] == "v2"
    ui.shot("adapter-v1-rolled-back")
    ui.open("/ui/repositories/stats/adapters/v2")
    image = ui.find("#pass-at-png")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
    ui.shot("adapter-v2-with-plot")

    # adapter -> job: live progress, then cancel
    ui.click("#crumb-repository")
    job = seeded.jobs["running"]
    ui.click(f'#jobs a[href="/ui/jobs/{job}"]')
    assert ui.text("#job-state") == "running" and ui.text("#job-step") == "sft"
    advance(server, job, 0.62, "sft: step 12 of 20, loss 0.48")  # what the worker writes
    ui.until_text("#log", "sft: step 12 of 20, loss 0.48")  # shown without reloading the page
    ui.wait.until(lambda d: d.find_element(ui.by.CSS_SELECTOR, '[data-field="percent"]').text == "62%")
    ui.shot("job-running")
    ui.click("#cancel")
    ui.until_text("#notice", f"asked job {job} to stop")
    sleeper.wait(WAIT_SECONDS)  # the server signalled the worker's process group
    ui.until_text("#job-state", "cancelled")  # the server settled it; the page reloaded itself
    assert not ui.all("#cancel")
    ui.shot("job-cancelled")

    # The user token looks but cannot act.
    browser.delete_all_cookies()
    ui.open(f"/ui/repositories/stats/adapters/v1?token={USER_TOKEN}")
    assert "token=" not in browser.current_url
    assert ui.text("#role") == "read-only" and not ui.all("#activate") and not ui.all("#rollback")
    ui.shot("read-only")
    assert "token=..." in server.log.read_text() and USER_TOKEN not in server.log.read_text()

    logged = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    errors = [e for e in logged if "status of 401" not in e["message"]]  # the login page's own status
    assert errors == [], errors
    assert len(ui.shots) == 11 and all(p.stat().st_size > 5000 for p in ui.shots)


def advance(server: RunningServe, run_id: int, progress: float, line: str) -> None:
    engine = create_engine(server.database_url)
    try:
        with Session(engine) as session:
            run = session.get(TrainingRun, run_id)
            assert run is not None
            run.progress = progress
            session.commit()
            runs.append_log(session, run, line)
    finally:
        engine.dispose()
