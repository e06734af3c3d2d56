"""The dashboard under /ui: tokens and cookies, what each page shows, acting as admin, escaping."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from repomend.backends.scripted import ScriptedBackend
from server import adapters
from server.app import create_app
from server.db.models import TrainingRun, TrainingState
from tests.support.dashboard import Seeded, seed_dashboard
from tests.support.server_client import ADMIN, USER


@pytest.fixture
def dashboard_settings(server_settings):
    """No engine to convert adapters for: the registry only copies them."""
    return server_settings.model_copy(update={"engine": "openai", "openai_model": "base-model"})


def started(settings, tmp_path: Path, hostile: bool = False) -> tuple[TestClient, Seeded]:
    app = create_app(settings, ScriptedBackend([]))
    client = TestClient(app, follow_redirects=False)
    client.__enter__()
    seeded = seed_dashboard(app.state.repomend.sessions, settings, tmp_path / "seed", hostile=hostile)
    return client, seeded


@pytest.fixture
def ui(dashboard_settings, tmp_path):
    client, seeded = started(dashboard_settings, tmp_path)
    try:
        yield client, seeded
    finally:
        client.__exit__(None, None, None)


def pages(seeded: Seeded) -> list[str]:
    """Every kind of page, with ids that exist."""
    first, unfixed = seeded.repair_ids[0], seeded.repair_ids[2]
    return [
        "/ui",
        "/ui/repositories/stats",
        "/ui/repositories/geo",
        "/ui/repositories/stats/adapters/v1",
        "/ui/repositories/stats/adapters/v2",
        "/ui/repairs",
        "/ui/repairs?repository=stats&status=fixed&verdict=accepted&page=1",
        f"/ui/repairs/{first}",
        f"/ui/repairs/{unfixed}",
        "/ui/jobs",
        "/ui/jobs?repository=stats",
        *[f"/ui/jobs/{job}" for job in seeded.jobs.values()],
        "/ui/engine",
    ]


def form_key(html: str) -> str:
    found = re.search(r'name="key" value="([0-9a-f]+)"', html)
    assert found, "the page has no acting form"
    return found.group(1)


# -- who may look ----------------------------------------------------------------------------------


def test_no_page_is_served_without_a_valid_token(ui):
    client, seeded = ui
    extra = [
        "/ui/repositories/stats/adapters/v2/pass_at.png",
        f"/ui/jobs/{seeded.jobs['succeeded']}/live",
        "/ui/engine/live",
        "/ui/repositories/nope",
    ]
    for url in [*pages(seeded), *extra]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "repomend_ui=forged"}):
            response = client.get(url, headers=headers)
            assert response.status_code == 401, (url, headers)
            assert 'action="/ui/login"' in response.text
            assert "/tmp" not in response.text and "Stats.mean" not in response.text, url
        refused = client.get(url + ("&" if "?" in url else "?") + "token=wrong")
        assert refused.status_code == 401 and "that token is not valid" in refused.text
    for action in ("/ui/repositories/stats/adapters/v1/activate", "/ui/repositories/stats/adapters/rollback"):
        assert client.post(action, data={"key": "x"}).status_code == 401
    assert client.get("/ui/static/style.css").status_code == 200, "the stylesheet holds no data"
    assert client.get("/ui/static/../app.py").status_code == 404


def test_a_token_given_once_becomes_an_httponly_cookie(ui):
    client, _ = ui
    response = client.get("/ui/repairs?token=user-secret&status=fixed")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/repairs?status=fixed", "the token leaves the address"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "user-secret" not in cookie, "the cookie holds a keyed hash, not the token"
    listed = client.get("/ui/repairs?status=fixed")  # the client now sends the cookie
    assert listed.status_code == 200 and "Stats.mean" in listed.text
    assert 'id="role">read-only' in listed.text

    client.cookies.clear()
    login = client.post("/ui/login", data={"token": "admin-secret", "next": "/ui/repositories/stats"})
    assert login.status_code == 303 and login.headers["location"] == "/ui/repositories/stats"
    page = client.get("/ui/repositories/stats")
    assert page.status_code == 200 and 'id="role">admin' in page.text
    assert client.post("/ui/login", data={"token": "nope"}).status_code == 401
    offsite = client.post("/ui/login", data={"token": "admin-secret", "next": "https://elsewhere.example/"})
    assert offsite.headers["location"] == "/ui"
    client.post("/ui/logout")
    client.cookies.clear()
    assert client.get("/ui").status_code == 401


def test_the_user_token_reads_every_page_but_cannot_act(ui, dashboard_settings):
    client, seeded = ui
    for url in pages(seeded):
        response = client.get(url, headers=USER)
        assert response.status_code == 200, url
        assert 'name="key"' not in response.text, f"{url} offers an action to the user token"
    response = client.post("/ui/repositories/stats/adapters/v1/activate", headers=USER, data={"key": "x"})
    assert response.status_code == 403 and "admin token" in response.text
    job = seeded.jobs["queued"]
    assert client.post(f"/ui/jobs/{job}/cancel", headers=USER, data={"key": "x"}).status_code == 403
    with client.app.state.repomend.sessions() as session:
        assert adapters.active_adapter(session, "stats").label == "v2"
        assert session.get(TrainingRun, job).state is TrainingState.QUEUED


# -- acting ----------------------------------------------------------------------------------------


def test_the_admin_activates_rolls_back_and_cancels(ui):
    client, seeded = ui
    page = client.get("/ui/repositories/stats/adapters/v1", headers=ADMIN)
    key = form_key(page.text)
    assert 'id="activate"' in page.text

    back = "/ui/repositories/stats/adapters/v1"
    done = client.post(
        "/ui/repositories/stats/adapters/v1/activate", headers=ADMIN, data={"key": key, "next": back}
    )
    assert done.status_code == 303 and done.headers["location"] == back
    shown = client.get(back, headers=ADMIN)
    assert "activated v1: `stats` now uses v1" in shown.text
    assert 'id="adapter-active">active' in shown.text
    assert "activated v1" not in client.get(back, headers=ADMIN).text, "a notice shows once"

    client.post("/ui/repositories/stats/adapters/rollback", headers=ADMIN, data={"key": key, "next": back})
    repository = client.get("/ui/repositories/stats", headers=ADMIN).text
    assert 'id="active-adapter">v2' in repository
    assert "rollback v1 → v2" in repository and "(rolled back)" in repository

    refused = client.post("/ui/repositories/stats/adapters/v7/activate", headers=ADMIN, data={"key": key})
    assert refused.status_code == 303
    assert (
        "not changed: `stats` has no adapter v7" in client.get("/ui/repositories/stats", headers=ADMIN).text
    )

    job = seeded.jobs["queued"]
    client.post(f"/ui/jobs/{job}/cancel", headers=ADMIN, data={"key": key})
    shown = client.get(f"/ui/jobs/{job}", headers=ADMIN).text
    assert "cancelled before it started" in shown and 'id="cancel"' not in shown


def test_acting_needs_the_pages_form_key_and_the_same_origin(ui):
    client, _ = ui
    key = form_key(client.get("/ui/repositories/stats", headers=ADMIN).text)
    url = "/ui/repositories/stats/adapters/v1/activate"
    assert client.post(url, headers=ADMIN, data={"key": "0" * 64}).status_code == 403
    other_site = {**ADMIN, "Origin": "https://elsewhere.example"}
    assert client.post(url, headers=other_site, data={"key": key}).status_code == 403
    with client.app.state.repomend.sessions() as session:
        assert adapters.active_adapter(session, "stats").label == "v2"


# -- what the pages show ---------------------------------------------------------------------------


def test_the_pages_show_what_is_stored(ui):
    client, seeded = ui
    overview = client.get("/ui", headers=USER).text
    assert "stats" in overview and "geo" in overview and 'class="active-adapter">v2' in overview
    assert "-m pytest" in overview and 'id="fix-chart"' in overview and "<polyline" in overview

    repairs = client.get("/ui/repairs", headers=USER).text
    assert repairs.count('class="repair-link"') == 50 and "page 1 of 2" in repairs and "80 in all" in repairs
    fixed = client.get("/ui/repairs?status=fixed&repository=stats", headers=USER).text
    assert "unfixed" not in re.sub(r"<select.*?</select>", "", fixed, flags=re.S)

    first = client.get(f"/ui/repairs/{seeded.repair_ids[0]}", headers=USER).text
    assert 'id="fix-type">off by one' in first
    assert '<span class="add">+    return sum(self.xs) / len(self.xs)</span>' in first
    assert 'id="repair-verdict"><span class="badge v-rejected">rejected' in first
    unfixed = client.get(f"/ui/repairs/{seeded.repair_ids[2]}", headers=USER).text
    assert "Last attempt (not applied)" in unfixed and "assert 3.3 == 2.5" in unfixed

    v2 = client.get("/ui/repositories/stats/adapters/v2", headers=USER).text
    assert "<th>Pass@5</th>" in v2 and "55.0%" in v2 and 'id="pass-at-png"' in v2
    png = client.get("/ui/repositories/stats/adapters/v2/pass_at.png", headers=USER)
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    v1 = client.get("/ui/repositories/stats/adapters/v1", headers=USER).text
    assert 'id="pass-at-chart"' in v1, "without the PNG the curve is drawn from the report"
    assert client.get("/ui/repositories/stats/adapters/v1/pass_at.png", headers=USER).status_code == 404

    job = client.get(f"/ui/jobs/{seeded.jobs['succeeded']}", headers=USER).text
    assert "train_loss=0.41" in job and "step line 29" in job and "the gate promoted it" in job
    live = client.get(f"/ui/jobs/{seeded.jobs['queued']}/live", headers=USER).json()
    assert live["state"] == "queued" and live["finished"] is False and set(live["steps"]) >= {"sft", "gate"}

    engine = client.get("/ui/engine", headers=USER).text
    assert 'id="engine-model">scripted' in engine
    assert "at most 5 turns × 1 answer<" in engine, "the server's own turns and samples"
    assert re.search(r"<td>\d+\.\d</td></tr>", engine), "tokens per second from the stored attempts"

    assert client.get("/ui/repairs/999999", headers=USER).status_code == 404
    assert client.get("/ui/repairs?status=bogus", headers=USER).status_code == 422


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") if tag == "a" else None
        if href and href.startswith("/ui") and not href.startswith("/ui/static"):
            self.links.add(href)


def test_hostile_text_is_escaped_on_every_page(dashboard_settings, tmp_path):
    """Method names, paths, diffs, test ids, log lines, reasons, model names with markup in them."""
    client, seeded = started(dashboard_settings, tmp_path, hostile=True)
    try:
        seen: set[str] = set()
        queue = pages(seeded)
        escaped_on = 0
        while queue:
            url = queue.pop()
            path = urlsplit(url).path
            if url in seen or path.endswith(".png"):
                continue
            seen.add(url)
            response = client.get(url, headers=ADMIN)
            assert response.status_code == 200, url
            assert "<script>alert" not in response.text, f"{url} lets markup through"
            escaped_on += "&lt;script&gt;alert" in response.text
            parser = _Links()
            parser.feed(response.text)
            queue += [link for link in parser.links if link not in seen]
        assert len(seen) >= 15
        assert escaped_on >= len(seen) - 2, "the hostile text does reach (nearly) every page"
    finally:
        client.__exit__(None, None, None)
