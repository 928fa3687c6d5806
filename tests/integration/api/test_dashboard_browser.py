"""The dashboard in a real browser: Debian's Chromium driven by Playwright over loopback."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, sync_playwright

from tests.integration.store.values import resolved_incident
from tests.servers.process import require_binary
from vanguard.api import create_app
from vanguard.netutil import free_port, wait_for_port
from vanguard.store import AuditLog, IncidentRepo, default_store_url, open_store

pytestmark = pytest.mark.integration

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[str]:
    """The API with one resolved incident, served by uvicorn in a thread."""
    store = open_store(default_store_url(tmp_path))
    with store.session() as session:
        resolved_incident(IncidentRepo(session), AuditLog(session), "inc-full")
    port = free_port()
    config = uvicorn.Config(
        create_app(store), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for_port("127.0.0.1", port, timeout_s=15)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.fixture
def page() -> Iterator[Page]:
    chromium = require_binary("chromium", Path("/usr/bin/chromium"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser.new_page(viewport={"width": 1200, "height": 900})
        finally:
            browser.close()


def test_a_person_finds_the_incident_reads_its_story_and_checks_the_audit(
    dashboard: str, page: Page, tmp_path: Path
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.goto(dashboard + "/")
    page.get_by_role("link", name="inc-full").click()
    page.wait_for_url("**/incidents/inc-full")
    assert page.locator("h1").inner_text().startswith("inc-full")
    headings = page.locator("h2").all_inner_texts()
    assert headings[:6] == ["Alert", "Diagnosis", "Decision", "Actions", "Verification", "Outcome"]
    assert "leak <script>x()</script>" in page.locator("h1 + p").inner_text()
    assert dialogs == []
    assert (
        "cannot be undone" in page.locator("dd", has_text="a restart cannot be undone").inner_text()
    )
    plots = page.locator("svg")
    assert plots.count() == 2
    for index in range(2):
        box = plots.nth(index).bounding_box()
        assert box is not None
        assert box["width"] > 500
        assert box["height"] > 100
    shot = tmp_path / "incident.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.get_by_role("link", name="Audit").click()
    page.wait_for_url("**/audit")
    assert "2 entries, chain intact" in page.locator("body").inner_text()
