"""The admin page end to end in headless Chromium (Debian's package, driven by playwright) against a real worker,
its admin API and the sandbox. Screenshots are kept as test artifacts: under $KPI_SYNC_ARTIFACTS/admin-page when set,
else under the test's tmp_path (each test prints where)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, create_engine

from sandbox.harness import RunningSandbox
from service.admin.api import create_app
from service.admin.server import AdminServer
from service.report import available_periods
from service.settings import load_settings
from service.worker import Worker
from sync import runs
from sync.cycle import CycleOptions
from sync.runs import RunKind, RunOutcome
from tests.helpers import ADMIN_TOKEN, sandbox_settings, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
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
TOKEN_PROMPT = "Admin token (KPI_SYNC_ADMIN_TOKEN)"
WRONG_HUBSPOT_TOKEN = "pat-na1-wrong0000-0000-0000-0000-000000000000"
FULL = RunKind.of(full=True, reconcile=False)
POLL_MS = 3000  # the page's polling interval: the fake clock runs several of them
# Read at import: the autouse fixture that cleans KPI_* variables runs before each test.
ARTIFACTS_ROOT = os.environ.get("KPI_SYNC_ARTIFACTS")
ARTIFACTS = Path(ARTIFACTS_ROOT).resolve() / "admin-page" if ARTIFACTS_ROOT else None


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


@dataclass
class Served:
    """A running worker with its admin API: the page's URL, the store and the worker."""

    url: str
    engine: Engine
    worker: Worker


@contextmanager
def serving_worker(sb: RunningSandbox, engine: Engine, **overrides: Any) -> Iterator[Served]:
    """A real worker (hourly interval: only the first cycle is scheduled) with its admin API on a free port; waits
    for that first cycle to end."""
    settings = sandbox_settings(sb, str(engine.url), **({"sync_interval_minutes": 60} | overrides))
    worker = Worker(engine, settings)
    server = AdminServer(create_app(engine, settings, worker), "127.0.0.1", 0)
    server.start()
    worker.start()
    try:
        wait_for(lambda: worker.state()["last_outcome"] is not None, timeout=90, what="the first cycle")
        yield Served(server.url, engine, worker)
    finally:
        worker.shutdown()
        server.stop()


@pytest.fixture
def served_worker(sandbox: RunningSandbox, sqlite_store: Engine) -> Iterator[Served]:
    """A healthy worker whose first cycle ended ok."""
    with serving_worker(sandbox, sqlite_store) as served:
        yield served


@pytest.fixture
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where this test's screenshots go."""
    folder = ARTIFACTS or tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots of {request.node.name}: {folder}")
    return folder


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Debian chromium."""
    executable = ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Dialogs:
    """Answers the page's dialogs in order from `answers` (None dismisses; a string is the prompt's answer; True
    accepts a confirm), then accepts prompts with the admin token; records (type, message) of each."""

    answers: list[str | bool | None] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, dialog: Dialog) -> None:
        self.seen.append((dialog.type, dialog.message))
        answer = self.answers.pop(0) if self.answers else (ADMIN_TOKEN if dialog.type == "prompt" else True)
        if answer is None or answer is False:
            dialog.dismiss()
        elif isinstance(answer, str):
            dialog.accept(answer)
        else:
            dialog.accept()

    def prompts(self) -> int:
        return sum(1 for kind, _ in self.seen if kind == "prompt")


def open_page(browser: Browser, url: str, dialogs: Dialogs, *, clock: bool = False, **context: Any) -> Page:
    """A fresh page on the shell; with `clock`, timers run on playwright's fake clock (`page.clock.run_for`)."""
    page = browser.new_context(**context).new_page()
    page.on("dialog", dialogs)
    if clock:
        page.clock.install()
    page.goto(url + "/")
    return page


def show_status(page: Page) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name="Show status").click()
    expect(page.locator("#runs")).to_have_count(1)


def test_resync_now_asks_for_the_token_and_the_new_run_appears(
    served_worker: Served, browser: Browser, artifacts: Path
) -> None:
    """Click "Resync now", answer the token prompt: the page's run list shows the page-triggered run."""
    from playwright.sync_api import expect

    dialogs = Dialogs()
    page = open_page(browser, served_worker.url, dialogs)
    expect(page.locator("#runs")).to_have_count(0)  # the public shell shows no data
    page.get_by_role("button", name="Resync now").click()
    expect(page.locator("#message")).to_contain_text("Resync")
    page_runs = page.locator("#runs tr[data-run-id]", has_text="page")
    expect(page_runs.first).to_be_visible(timeout=30_000)
    expect(page_runs.first).to_contain_text("ok", timeout=30_000)
    page.screenshot(path=artifacts / "resync.png", full_page=True)
    assert page.evaluate("() => localStorage.length + sessionStorage.length + document.cookie.length") == 0
    assert dialogs.seen == [("prompt", TOKEN_PROMPT)]
    assert any(r.trigger == "page" for r in runs.recent_runs(served_worker.engine, 10))


def test_a_wrong_token_shows_the_refusal_no_data_and_no_second_prompt(
    served_worker: Served, browser: Browser, artifacts: Path
) -> None:
    """A wrong token gets the API's refusal and no panel; the page does not ask again by itself."""
    from playwright.sync_api import expect

    dialogs = Dialogs(answers=["not-the-token"])
    page = open_page(browser, served_worker.url, dialogs, clock=True)
    page.get_by_role("button", name="Show status").click()
    expect(page.locator("#message")).to_contain_text("missing or wrong bearer token")
    expect(page.locator("#panel")).to_be_empty()
    page.screenshot(path=artifacts / "wrong-token.png")
    page.clock.run_for(5 * POLL_MS)
    assert dialogs.prompts() == 1


def test_a_cancelled_prompt_stops_polling_and_never_comes_back_on_a_timer(
    served_worker: Served, browser: Browser
) -> None:
    """Polling with a token, then a write's token prompt cancelled: no prompt re-opens as the polls come due, and
    no panel request goes out without a token."""
    from playwright.sync_api import expect

    dialogs = Dialogs(answers=[ADMIN_TOKEN, None])
    page = open_page(browser, served_worker.url, dialogs, clock=True)
    show_status(page)
    page.get_by_role("button", name="Resync now").click()
    expect(page.locator("#message")).to_have_text("no token entered")
    panel_requests: list[str] = []
    page.on("request", lambda request: panel_requests.append(request.url) if "ui/panel" in request.url else None)
    page.clock.run_for(5 * POLL_MS)
    assert dialogs.prompts() == 2, dialogs.seen
    assert panel_requests == []


def test_times_are_relative_in_the_viewers_time_zone_with_the_exact_time_on_hover(
    served_worker: Served, browser: Browser, artifacts: Path
) -> None:
    """A viewer in Tokyo sees the run's start as "… ago" and, on hover, the exact time in Tokyo's zone."""
    from playwright.sync_api import expect

    page = open_page(browser, served_worker.url, Dialogs(), timezone_id="Asia/Tokyo", locale="en-US")
    show_status(page)
    started = page.locator("#runs tr[data-run-id] time").first
    expect(started).to_have_text(re.compile(r"^(just now|\d+ min ago)$"))
    assert "GMT+9" in str(started.get_attribute("title"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*", str(started.get_attribute("datetime")))
    page.screenshot(path=artifacts / "relative-times.png", full_page=True)


def test_a_message_clears_after_a_few_seconds(served_worker: Served, browser: Browser) -> None:
    """ "Resync started." is shown, then gone a few seconds later (not left standing)."""
    from playwright.sync_api import expect

    page = open_page(browser, served_worker.url, Dialogs(), clock=True)
    page.get_by_role("button", name="Resync now").click()
    expect(page.locator("#message")).to_contain_text("Resync")
    page.clock.run_for(10_000)
    expect(page.locator("#message")).to_have_text("")


def test_a_full_reload_asks_for_confirmation_first(served_worker: Served, browser: Browser, artifacts: Path) -> None:
    """With "full reload" ticked, "Resync now" asks to confirm: declined, nothing starts and no token is asked;
    confirmed, the full reload runs."""
    from playwright.sync_api import expect

    dialogs = Dialogs(answers=[False])
    page = open_page(browser, served_worker.url, dialogs)
    page.get_by_label("full reload").check()
    page.get_by_role("button", name="Resync now").click()
    expect(page.locator("#message")).to_have_text("Full reload not started.")
    page.screenshot(path=artifacts / "full-reload-declined.png")
    assert [kind for kind, _ in dialogs.seen] == ["confirm"]
    assert "full reload" in dialogs.seen[0][1]
    assert all(r.kind is not FULL for r in runs.recent_runs(served_worker.engine, 10))
    page.get_by_role("button", name="Resync now").click()
    wait_for(lambda: any(r.kind is FULL for r in runs.recent_runs(served_worker.engine, 10)), what="a full run")
    assert [kind for kind, _ in dialogs.seen] == ["confirm", "confirm", "prompt"]


def test_a_banner_says_the_last_cycle_failed(
    sandbox: RunningSandbox, sqlite_store: Engine, browser: Browser, artifacts: Path
) -> None:
    """A worker whose cycle failed (HubSpot refused its token): the panel opens with a banner saying so."""
    from playwright.sync_api import expect

    with serving_worker(sandbox, sqlite_store, hubspot_access_token=WRONG_HUBSPOT_TOKEN) as served:
        assert served.worker.state()["last_outcome"] == RunOutcome.FAILED.value
        page = open_page(browser, served.url, Dialogs())
        show_status(page)
        expect(page.locator("#banner")).to_contain_text("failed: HubSpot rejected HUBSPOT_ACCESS_TOKEN")
        page.screenshot(path=artifacts / "banner-failed.png", full_page=True)


def test_a_banner_says_the_worker_is_paused_by_the_daily_limit(
    sandbox: RunningSandbox, sqlite_store: Engine, browser: Browser, artifacts: Path
) -> None:
    """HubSpot's daily limit already spent: the worker pauses, and the banner says until when."""
    from playwright.sync_api import expect

    sandbox.settings(throttle=True, daily_limit=1_000, daily_used=1_000)
    with serving_worker(sandbox, sqlite_store) as served:
        assert served.worker.state()["paused_until"] is not None
        page = open_page(browser, served.url, Dialogs())
        show_status(page)
        banner = page.locator("#banner")
        expect(banner).to_contain_text("Paused: HubSpot's daily API limit was reached")
        expect(banner.locator("time")).to_have_text(re.compile(r"^in \d+ (min|h)$"))
        page.screenshot(path=artifacts / "banner-paused.png", full_page=True)


def test_the_period_selector_shows_one_months_kpis(served_worker: Served, browser: Browser) -> None:
    """The selector offers the months the aggregates hold; choosing one shows that month's KPI tables."""
    from playwright.sync_api import expect

    months = available_periods(served_worker.engine)
    assert months, "the sandbox's activity spans months, or the selector has nothing to offer"
    page = open_page(browser, served_worker.url, Dialogs())
    show_status(page)
    expect(page.locator("#kpis h2")).to_have_text("KPIs per rep (all time)")
    expect(page.locator("#period option")).to_have_count(1 + len(months))
    page.locator("#period").select_option(months[-1])
    expect(page.locator("#kpis h2")).to_have_text(f"KPIs per rep ({months[-1]})")


def test_on_a_phone_tables_scroll_inside_their_box(served_worker: Served, browser: Browser, artifacts: Path) -> None:
    """At a phone's width the page itself does not scroll sideways: wide tables scroll inside their box."""
    from playwright.sync_api import expect

    phone: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    page = open_page(browser, served_worker.url, Dialogs(), **phone)
    show_status(page)
    expect(page.locator("#kpis")).to_be_visible()
    page.screenshot(path=artifacts / "phone.png", full_page=True)
    widths = page.evaluate(
        """() => ({page: document.documentElement.scrollWidth, view: window.innerWidth,
                   boxes: Array.from(document.querySelectorAll('.scroll')).filter(b => b.scrollWidth > b.clientWidth)
                     .length})"""
    )
    assert widths["page"] <= widths["view"], widths
    assert widths["boxes"] > 0, "some table is wider than a phone: it scrolls in its box"


def test_a_hidden_tab_does_not_poll(served_worker: Served, browser: Browser) -> None:
    """Hidden, the page sends no request however many polls come due; visible again, it refreshes at once."""
    page = open_page(browser, served_worker.url, Dialogs(), clock=True)
    show_status(page)
    panel_requests: list[str] = []
    page.on("request", lambda request: panel_requests.append(request.url) if "ui/panel" in request.url else None)
    page.clock.run_for(POLL_MS + 100)
    assert len(panel_requests) == 1, "a visible tab polls (or the hidden case below proves nothing)"
    set_visibility(page, "hidden")
    page.clock.run_for(5 * POLL_MS)
    assert len(panel_requests) == 1
    with page.expect_request(lambda request: "ui/panel" in request.url):
        set_visibility(page, "visible")


def set_visibility(page: Page, state: str) -> None:
    """What the browser does when the tab is hidden or shown again (headless Chromium keeps every tab visible)."""
    page.evaluate(
        """state => {
             Object.defineProperty(document, 'visibilityState', {value: state, configurable: true});
             Object.defineProperty(document, 'hidden', {value: state === 'hidden', configurable: true});
             document.dispatchEvent(new Event('visibilitychange'));
           }""",
        state,
    )


def test_clicking_a_run_shows_its_detail(served_worker: Served, browser: Browser, artifacts: Path) -> None:
    """A click on a run row fetches GET /runs/{id} and shows its options, counts and error in a detail box."""
    from playwright.sync_api import expect

    page = open_page(browser, served_worker.url, Dialogs())
    show_status(page)
    first = runs.recent_runs(served_worker.engine, 1)[0]
    page.locator(f'#runs tr[data-run-id="{first.id}"]').click()
    detail = page.locator("#run-detail")
    expect(detail).to_be_visible()
    expect(detail.locator("h2")).to_have_text(f"Run #{first.id} ({first.kind.value}, {first.outcome.value})")
    expect(detail).to_contain_text('"outcomes"')  # the API section of the stored counts
    page.screenshot(path=artifacts / "run-detail.png", full_page=True)


def has_cancel_route() -> bool:
    """Whether this tree's admin API has `POST /runs/{id}/cancel` (the progress branch adds it)."""
    settings = load_settings(database_url="sqlite://", kpi_sync_admin_token=ADMIN_TOKEN)
    app = create_app(create_engine("sqlite://"), settings)
    return "/runs/{run_id}/cancel" in app.openapi()["paths"]


@pytest.mark.skipif(not has_cancel_route(), reason="POST /runs/{id}/cancel is not in this tree yet (progress branch)")
def test_a_running_run_shows_its_progress_and_cancel_stops_it(
    sandbox: RunningSandbox, sqlite_store: Engine, browser: Browser, artifacts: Path
) -> None:
    """A first load held after a page of contacts: its row shows the live progress and a Cancel button; Cancel (with
    the token) asks the API to stop it, and the run ends stopped (cancelled)."""
    from playwright.sync_api import expect

    from tests.helpers import PauseAt, cycle_in_thread  # type: ignore[attr-defined,unused-ignore]

    settings = sandbox_settings(sandbox, str(sqlite_store.url), writeback_enabled=False)
    pause = PauseAt("contacts")
    server = AdminServer(create_app(sqlite_store, settings), "127.0.0.1", 0)
    server.start()
    try:
        with cycle_in_thread(sqlite_store, settings.cycle_config(), CycleOptions(), [pause]) as done:
            assert pause.reached.wait(60)
            dialogs = Dialogs()
            page = open_page(browser, server.url, dialogs)
            show_status(page)
            running = page.locator("#runs tr[data-run-id]", has_text="running")
            expect(running.locator(".progress")).to_contain_text("pull contacts")
            page.screenshot(path=artifacts / "running.png", full_page=True)
            running.get_by_role("button", name="Cancel").click()
            expect(page.locator("#message")).to_contain_text("Cancel requested")
            pause.release.set()
            wait_for(lambda: bool(done), timeout=60, what="the cancelled cycle to end")
    finally:
        server.stop()
    assert (done[0].outcome, done[0].error) == (RunOutcome.STOPPED, "cancelled")
    assert dialogs.prompts() == 2, "Show status and Cancel (a write) each asked for the token"
