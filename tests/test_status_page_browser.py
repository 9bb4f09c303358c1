"""The status page in a real browser: headless Chromium (Debian's) driven by Playwright,
against `dockyard run` converging real apps on the real engine. What a person sees: the
sign-in, every app Ready, a killed container turning its app Degraded within seconds, a
rollout's batches moving. Screenshots are kept under the test's tmp folder (paths printed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker import DockerClient

from cleanup import remove_app
from controller_fixtures import DockyardRun, dockyard_run
from helpers import REPO_ROOT, TEST_LABELS, unique_name
from manifests import manifest, service, write
from test_status_page import DEVICES, fleet_of, serving_fleet
from waiting import eventually

pytestmark = pytest.mark.engine

CHROMIUM = Path("/usr/bin/chromium")
# No network but loopback: nothing the browser would fetch on its own (updates, sync, QUIC).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HEALTH = {"test": ["CMD", "true"], "interval": "300ms", "retries": 1}
# Seconds a person may wait for the page to show what happened on the engine.
SEEN_WITHIN = 10.0
# A rollout's first batch (stop, start, health, 1 s monitor, 1 s delay) on a busy machine.
ROLLOUT_STEP = 30.0


def web_doc(app: str, version: str) -> str:
    return manifest(
        app,
        [
            service(
                "web",
                env=[{"name": "VERSION", "value": version}],
                replicas=3,
                healthcheck=HEALTH,
                update={"parallelism": 1, "delay": "1s", "monitor": "1s"},
                labels=TEST_LABELS,
            )
        ],
    )


def worker_doc(app: str) -> str:
    return manifest(app, [service("queue", restart="no", labels=TEST_LABELS)])


class Fleet:
    def __init__(self, root: Path, proc: DockyardRun, web: str, worker: str) -> None:
        self.root, self.proc, self.web, self.worker = root, proc, web, worker

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proc.port}/ui/"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, docker_client: DockerClient) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("page")
    web, worker = unique_name("page-web"), unique_name("page-worker")
    write(root / "apps", "web.yaml", web_doc(web, "1"))
    write(root / "apps", "worker.yaml", worker_doc(worker))
    args = [str(root / "apps"), "--listen", "127.0.0.1:0", "--state-dir", str(root / "state")]
    try:
        with dockyard_run(*args, "--interval", "100ms") as proc:
            asyncio.run(eventually(lambda: proc.port is not None and proc.token is not None))
            asyncio.run(eventually(lambda: proc.ready(web) and proc.ready(worker), timeout=60))
            yield Fleet(root, proc, web, worker)
            # Stopped, not killed: a revision record it is writing to the engine gets done.
            proc.signal(signal.SIGTERM)
            proc.wait(timeout=60)
    finally:
        for app in (web, worker):
            remove_app(docker_client, app)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A fresh Chromium profile; Debian's browser, never one `playwright install` fetched."""
    if not CHROMIUM.exists() or shutil.which("chromedriver") is None:
        pytest.fail("chromium is missing: run scripts/ensure-deps.sh (Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def page(fleet: Fleet, browser: Any) -> Iterator[Any]:
    """The page, signed in through its form as a person would."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    # Nothing but the controller is ever asked for: no fonts, scripts or images elsewhere.
    ours = f"http://127.0.0.1:{fleet.proc.port}/"
    foreign: list[str] = []
    tab.on("request", lambda r: r.url.startswith(ours) or foreign.append(r.url))
    tab.goto(fleet.url)
    tab.fill("#token", fleet.proc.token or "")
    tab.click("button[type=submit]")
    tab.wait_for_selector(f'#apps tr[data-app="{fleet.web}"]')
    yield tab
    assert errors == [], f"the page's script failed: {errors}"
    assert foreign == [], f"the page asked another address: {foreign}"
    tab.close()


def screenshot(tab: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def row(tab: Any, app: str) -> Any:
    return tab.locator(f'#apps tr[data-app="{app}"]')


def test_signed_in_the_page_shows_every_app_ready_on_its_host(
    page: Any, fleet: Fleet, browser: Any, tmp_path: Path
):
    for app, containers in ((fleet.web, "3/3"), (fleet.worker, "1/1")):
        page.wait_for_selector(f'#apps tr[data-app="{app}"][data-state="Ready"]')
        assert row(page, app).locator("td.state").inner_text().startswith("Ready")
        assert row(page, app).locator('td[data-host="local"]').inner_text() == containers
    host = page.locator('#hosts tr[data-host="local"] .badge')
    assert host.get_attribute("data-state") == "reachable"
    # The session is a cookie no script can read and no other site can make the browser send.
    cookie = next(c for c in browser.cookies() if c["name"].startswith("dockyard-page-"))
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert fleet.proc.token not in cookie["value"]
    screenshot(page, tmp_path, "ready")


def test_a_killed_container_turns_its_app_degraded_within_seconds(
    page: Any, fleet: Fleet, docker_client: DockerClient, tmp_path: Path
):
    docker_client.containers.get(f"{fleet.worker}-queue-1").kill()  # restart: no stays down
    killed = time.monotonic()
    page.wait_for_selector(
        f'#apps tr[data-app="{fleet.worker}"][data-state="Degraded"]',
        timeout=SEEN_WITHIN * 1000,
    )
    seen = time.monotonic() - killed
    print(f"degraded on the page {seen:.2f}s after the kill")
    state = row(page, fleet.worker).locator("td.state").inner_text()
    assert "Degraded" in state and "exit code 137" in state, state
    assert row(page, fleet.worker).locator('td[data-host="local"]').inner_text() == "0/1"
    # Worst first, and said in the header and the events.
    assert page.locator("#apps tbody tr").first.get_attribute("data-app") == fleet.worker
    assert "1 Degraded" in page.locator("#summary").inner_text()
    page.wait_for_selector(f'#events li[data-type="Warning"]:has-text("app {fleet.worker}")')
    screenshot(page, tmp_path, "degraded")


def test_a_rollout_moves_batch_by_batch_on_the_page(page: Any, fleet: Fleet, tmp_path: Path):
    # Every batch count the page shows is noted as it is drawn, however fast it moves.
    page.evaluate(
        """() => {
          window.seenBatches = [];
          new MutationObserver(() => {
            for (const b of document.querySelectorAll('#rollouts .batch b')) {
              const seen = window.seenBatches;
              if (!seen.includes(b.textContent)) seen.push(b.textContent);
            }
          }).observe(document.getElementById('rollouts'), {childList: true, subtree: true});
        }"""
    )
    write(fleet.root / "apps", "web.yaml", web_doc(fleet.web, "2"))
    card = f'#rollouts .rollout[data-app="{fleet.web}"]'
    page.wait_for_selector(f"{card} .batch", timeout=ROLLOUT_STEP * 1000)
    # Past the first batch, so that the picture shows a bar on its way.
    page.wait_for_function(
        f"""() => {{
          const b = document.querySelector('{card} .batch b');
          return b && !b.textContent.startsWith('0/');
        }}""",
        timeout=ROLLOUT_STEP * 1000,
    )
    text = page.locator(card).inner_text()
    assert "rolling-out" in text and "healthy" in text, text
    shot = screenshot(page, tmp_path, "rollout")
    # The rollout ends: the card goes, the app is Ready at its second revision.
    page.wait_for_selector(f'#apps tr[data-app="{fleet.web}"][data-state="Ready"]', timeout=60_000)
    page.wait_for_selector(card, state="detached")
    seen = page.evaluate("() => window.seenBatches")
    assert len(seen) >= 2 and seen == sorted(seen), f"the batch count did not move: {seen}"
    assert row(page, fleet.web).locator("td.mono").inner_text() == "#2"
    # The picture docs/status-page.md shows: DOCKYARD_DOCS_SCREENSHOT=1 refreshes it.
    if os.environ.get("DOCKYARD_DOCS_SCREENSHOT"):
        shutil.copy(shot, REPO_ROOT / "docs" / "img" / "status-page.png")


def test_an_apps_revisions_say_what_changed(page: Any, fleet: Fleet, tmp_path: Path):
    row(page, fleet.web).click()
    revisions = page.locator("#detail-revisions > li")
    page.wait_for_selector("#detail-revisions > li:has-text('#2')")
    newest = revisions.first.inner_text()
    assert "#2" in newest and "service web: env" in newest and "running now" in newest, newest
    assert "first revision" in revisions.nth(1).inner_text()
    screenshot(page, tmp_path, "revisions")


def test_ten_thousand_devices_read_as_counts_and_pages(browser: Any, tmp_path: Path):
    with serving_fleet(tmp_path, fleet_of(DEVICES)) as server:
        tab = browser.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(f"http://127.0.0.1:{server.port}/ui/?token={server.token}")
        rows = tab.locator("#devices tbody tr[data-device]")
        tab.wait_for_selector("#fleet-section:not([hidden]) #devices tbody tr[data-device]")
        assert tab.locator("#device-total").inner_text() == f"{DEVICES} device(s)"
        assert tab.locator('#device-counts .tile[data-state="offline"] .n').inner_text() == "200"
        assert rows.count() == 50 and rows.first.locator(".badge").inner_text() == "offline"
        first = rows.first.get_attribute("data-device")
        tab.click("#devices-pager button:has-text('Next')")
        tab.wait_for_selector("#devices-pager:has-text('page 2 of')")
        assert rows.first.get_attribute("data-device") != first
        tab.fill("#device-filter", "converging")
        tab.wait_for_selector("#devices-pager:has-text('page 1 of 3')")
        assert {b.inner_text() for b in rows.locator(".badge").all()} == {"converging"}
        assert "port 8080 is taken" in rows.first.inner_text()
        screenshot(tab, tmp_path, "devices")
        tab.close()
        assert errors == [], errors
