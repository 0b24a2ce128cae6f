"""The admin page end to end in headless Chromium: "Resync now" asks for the token and the new run appears."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox
from service.admin.api import create_app
from service.admin.server import AdminServer
from service.worker import Worker
from sync import runs
from tests.helpers import ADMIN_TOKEN, sandbox_settings

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def ensure_chromium() -> str:
    """Debian's chromium, installed with apt-get if missing; skip (saying why) only where that is impossible."""
    if shutil.which("chromium"):
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip("chromium is not installed and apt-get is not available to install it")
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            pytest.skip(f"cannot install Debian's chromium ({' '.join(command[1:])}): {result.stderr.strip()[-300:]}")
    return CHROMIUM


@pytest.fixture
def served_worker(sandbox: RunningSandbox, sqlite_store: Engine) -> Iterator[tuple[str, Engine]]:
    """A real worker (hourly interval, so only the first cycle is scheduled) with its admin API on a free port."""
    settings = sandbox_settings(sandbox, str(sqlite_store.url), sync_interval_minutes=60)
    worker = Worker(sqlite_store, settings)
    server = AdminServer(create_app(sqlite_store, settings, worker), "127.0.0.1", 0)
    server.start()
    worker.start()
    try:
        yield server.url, sqlite_store
    finally:
        worker.shutdown()
        server.stop()


def test_resync_now_asks_for_the_token_and_the_new_run_appears(served_worker: tuple[str, Engine]) -> None:
    """Click "Resync now", answer the token prompt: the page's run list shows the page-triggered run."""
    executable = ensure_chromium()
    from playwright.sync_api import Dialog, expect, sync_playwright

    url, engine = served_worker
    prompts: list[str] = []

    def answer(dialog: Dialog) -> None:
        prompts.append(dialog.message)
        dialog.accept(ADMIN_TOKEN)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", answer)
            page.goto(url + "/")
            expect(page.locator("#runs")).to_have_count(0)  # the public shell shows no data
            page.get_by_role("button", name="Resync now").click()
            expect(page.locator("#message")).to_contain_text("Resync")
            page_runs = page.locator("#runs tr[data-run-id]", has_text="page")
            expect(page_runs.first).to_be_visible(timeout=30_000)
            expect(page_runs.first).to_contain_text("ok", timeout=30_000)
            assert page.evaluate("() => localStorage.length + sessionStorage.length + document.cookie.length") == 0
        finally:
            browser.close()
    assert prompts == ["Admin token (KPI_SYNC_ADMIN_TOKEN)"]
    assert any(r.trigger == "page" for r in runs.recent_runs(engine, 10))


def test_a_wrong_token_shows_the_refusal_and_no_data(served_worker: tuple[str, Engine]) -> None:
    """A wrong token gets the API's refusal on the page and no panel."""
    executable = ensure_chromium()
    from playwright.sync_api import expect, sync_playwright

    url, _ = served_worker
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", lambda dialog: dialog.accept("not-the-token"))
            page.goto(url + "/")
            page.get_by_role("button", name="Show status").click()
            expect(page.locator("#message")).to_contain_text("missing or wrong bearer token")
            expect(page.locator("#panel")).to_be_empty()
        finally:
            browser.close()
