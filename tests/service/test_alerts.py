"""Alerts to a Slack-compatible webhook: once per failed or stopped condition, once when the last success is stale,
never with a secret in the text, and a webhook that fails never fails the cycle. A real local HTTP receiver."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import Engine
from structlog.testing import capture_logs

from sandbox.harness import RunningSandbox
from service.alerts import AlertConfig, Alerter
from service.metrics import Metrics
from service.settings import effective
from service.worker import Worker
from sync import runs
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.runs import RunKind, RunOutcome
from tests.helpers import cycle, free_port, sandbox_settings, settings_for, wait_for

RULES = Path(__file__).resolve().parents[2] / "docs" / "prometheus-rules.yml"
WRONG_TOKEN = "pat-na1-wrong0000-0000-0000-0000-000000000000"


class Receiver:
    """A webhook on a free local port: records each posted JSON body; answers `status`, after `delay_s`."""

    def __init__(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.posts: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.posts.append(json.loads(self.rfile.read(length)))
                time.sleep(delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/T000/B000/secretpart"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def texts(self) -> list[str]:
        return [str(p["text"]) for p in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def alerter(url: str, *, stale_after_s: float = 7200, secrets: tuple[str, ...] = (), timeout_s: float = 5) -> Alerter:
    return Alerter(AlertConfig(SecretStr(url), stale_after_s, secrets, timeout_s))


@contextmanager
def failing_worker(sb: RunningSandbox, engine: Engine, receiver: Receiver, **overrides: Any) -> Iterator[Worker]:
    """A started worker (hourly: only its first cycle is scheduled) whose cycles fail: HubSpot refuses its token."""
    settings = sandbox_settings(
        sb,
        str(engine.url),
        hubspot_access_token=WRONG_TOKEN,
        sync_interval_minutes=60,
        alert_webhook_url=receiver.url,
        **overrides,
    )
    worker = Worker(engine, settings)
    worker.start()
    try:
        yield worker
    finally:
        worker.shutdown()


def test_a_failing_worker_alerts_once_not_every_cycle(
    sandbox: RunningSandbox, sqlite_store: Engine, receiver: Receiver
) -> None:
    """Two failed cycles in a row (a wrong HubSpot token) post one alert, saying failed, without the token."""
    with failing_worker(sandbox, sqlite_store, receiver) as worker:
        wait_for(lambda: worker.state()["last_outcome"] == "failed", timeout=60, what="the first failed cycle")
        worker.request_resync(CycleOptions(trigger="api"))
        wait_for(lambda: len(failed_runs(sqlite_store)) == 2 and worker.state()["running"] is None, what="2nd cycle")
    assert len(receiver.posts) == 1, receiver.texts()
    assert "failed" in receiver.texts()[0]
    assert WRONG_TOKEN not in receiver.texts()[0]


def failed_cycle(engine: Engine, sb: RunningSandbox, url: str) -> RunSummary:
    """A real cycle that fails: HubSpot refuses the token."""
    settings = settings_for(sb, url, hubspot_access_token=WRONG_TOKEN)
    summary = run_cycle(engine, settings.cycle_config(), CycleOptions(trigger="cli"))
    assert summary.outcome is RunOutcome.FAILED
    return summary


def failed_runs(engine: Engine) -> list[int]:
    return [r.id for r in runs.recent_runs(engine, 10) if r.outcome is RunOutcome.FAILED]


def test_a_success_after_a_failure_says_recovered_once(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str, receiver: Receiver
) -> None:
    """Real cycles failed, ok, ok: one failure alert, one recovery message, then silence."""
    hook = alerter(receiver.url)
    failed = failed_cycle(sqlite_store, sandbox, sqlite_url)
    hook.after_cycle(RunKind.SYNC, failed)
    for _ in range(2):
        ok = cycle(sqlite_store, settings_for(sandbox, sqlite_url))
        assert ok.outcome is RunOutcome.OK
        hook.after_cycle(RunKind.SYNC, ok)
    texts = receiver.texts()
    assert len(texts) == 2, texts
    assert f"run {failed.run_id} failed" in texts[0]
    assert texts[1].startswith("kpi-sync recovered")


def test_a_stopped_cycle_alerts_and_a_later_failure_alerts_again(receiver: Receiver) -> None:
    """Stopped and failed are different conditions: each alerts once when it begins."""
    hook = alerter(receiver.url)
    for run_id, outcome in ((1, RunOutcome.STOPPED), (2, RunOutcome.STOPPED), (3, RunOutcome.FAILED)):
        hook.after_cycle(RunKind.SYNC, RunSummary(run_id, outcome, error="daily limit" if run_id < 3 else "boom"))
    assert receiver.texts() == ["kpi-sync: sync run 1 stopped: daily limit", "kpi-sync: sync run 3 failed: boom"]


def test_secrets_never_reach_the_webhook(receiver: Receiver) -> None:
    """A secret the alerter knows (the HubSpot or admin token) is masked wherever it appears in the text."""
    secret = "pat-na1-11111111-2222-3333-4444-555555555555"
    hook = alerter(receiver.url, secrets=(secret,))
    hook.after_cycle(RunKind.SYNC, RunSummary(4, RunOutcome.FAILED, error=f"refused Bearer {secret} (401)"))
    assert len(receiver.posts) == 1
    assert secret not in json.dumps(receiver.posts)
    assert "******" in receiver.texts()[0]


def test_a_stale_last_success_alerts_once_until_a_success(receiver: Receiver) -> None:
    """Older than the threshold: one alert, however often checked; a success re-arms it."""
    hook = alerter(receiver.url, stale_after_s=7200)
    now = 1_800_000_000.0
    hook.check_stale(now - 7000, now)
    assert receiver.posts == []
    hook.check_stale(now - 7300, now)
    hook.check_stale(now - 9000, now)
    assert len(receiver.posts) == 1
    assert "no successful cycle for 122 min" in receiver.texts()[0]
    hook.after_cycle(RunKind.SYNC, RunSummary(5, RunOutcome.OK))
    hook.check_stale(now - 7300, now)
    assert len(receiver.posts) == 2


def test_a_worker_without_success_alerts_stale(
    sandbox: RunningSandbox, sqlite_store: Engine, receiver: Receiver
) -> None:
    """The worker checks on a timer: with ALERT_STALE_AFTER of 3 s and only failing cycles, the stale alert comes."""
    with failing_worker(sandbox, sqlite_store, receiver, alert_stale_after=0.05):
        wait_for(lambda: any("no successful cycle" in t for t in receiver.texts()), timeout=30, what="stale alert")


@pytest.mark.parametrize("status", [500, 404])
def test_a_refusing_webhook_is_logged_and_reported_false(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str, status: int
) -> None:
    """A webhook answering an error: logged (without its URL), the post reported False, nothing raised."""
    hook_server = Receiver(status=status)
    try:
        hook = alerter(hook_server.url)
        summary = failed_cycle(sqlite_store, sandbox, sqlite_url)
        with capture_logs() as logs:
            hook.after_cycle(RunKind.SYNC, summary)
        assert len(hook_server.posts) == 1
        failed = [e for e in logs if e["event"] == "alert_failed"]
        assert failed == [{"event": "alert_failed", "condition": "failed", "status": status, "log_level": "warning"}]
        assert "secretpart" not in json.dumps(logs)
    finally:
        hook_server.close()


def test_a_hanging_webhook_times_out_and_is_logged() -> None:
    """A webhook that does not answer within the timeout: the post gives up, logs the error type, returns False."""
    slow = Receiver(delay_s=3)
    try:
        hook = alerter(slow.url, timeout_s=0.3)
        with capture_logs() as logs:
            sent = hook.send("kpi-sync: test", condition="failed")
        assert sent is False
        assert [e.get("error_type") for e in logs if e["event"] == "alert_failed"] == ["ReadTimeoutError"]
        assert "secretpart" not in json.dumps(logs)
    finally:
        slow.close()


def test_alert_settings_default_and_mask_the_webhook(sandbox: RunningSandbox, sqlite_url: str) -> None:
    """ALERT_STALE_AFTER defaults to 3 intervals, at least 2 h; the webhook URL (it holds a secret) is masked."""
    hourly = settings_for(sandbox, sqlite_url, sync_interval_minutes=60, alert_webhook_url="https://hooks.example/x/y")
    assert hourly.alert_config().stale_after_s == 3 * 3600
    assert settings_for(sandbox, sqlite_url, sync_interval_minutes=15).alert_config().stale_after_s == 7200
    assert settings_for(sandbox, sqlite_url, alert_stale_after=30).alert_config().stale_after_s == 1800
    assert effective(hourly)["ALERT_WEBHOOK_URL"] == "****** (set)"
    assert sandbox.token in hourly.alert_config().secrets


def test_sample_prometheus_rules_name_only_served_metrics(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """docs/prometheus-rules.yml is valid YAML of rule groups, and each metric its expressions read is one that
    /metrics serves after a real cycle."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    exprs = [str(rule["expr"]) for group in rules["groups"] for rule in group["rules"]]
    assert all(rule["alert"] and rule["annotations"]["summary"] for g in rules["groups"] for rule in g["rules"])
    named = {name for expr in exprs for name in re.findall(r"\bkpi_sync_\w+", expr)}
    metrics = Metrics()
    metrics.observe_cycle(RunKind.SYNC, cycle(sqlite_store, settings_for(sandbox, sqlite_url)), 3.0)
    metrics.observe_budget(10, 500_000)
    metrics.observe_crash()
    served = {s.name for f in text_string_to_metric_families(metrics.render().decode()) for s in f.samples}
    assert len(named) >= 6
    assert named - served == set()


def test_an_unreachable_webhook_is_logged_and_reported_false() -> None:
    """Nobody listens at the webhook's port: the post fails at once, logged by error type, never raised."""
    hook = alerter(f"http://127.0.0.1:{free_port()}/hook/secretpart")
    with capture_logs() as logs:
        assert hook.send("kpi-sync: test", condition="stale") is False
    assert [e.get("error_type") for e in logs if e["event"] == "alert_failed"] == ["NewConnectionError"]
    assert "secretpart" not in json.dumps(logs)


def test_the_stale_check_is_not_the_next_scheduled_run(
    sandbox: RunningSandbox, sqlite_store: Engine, receiver: Receiver
) -> None:
    """The check that runs every minute is not shown as the next cycle: an hourly worker's next run is an hour on
    (its nightly reconcile set twelve hours away, so the wall clock cannot bring it closer)."""
    far = f"0 {(datetime.now(UTC).hour + 12) % 24} * * *"
    with failing_worker(sandbox, sqlite_store, receiver, reconcile_cron=far) as worker:
        wait_for(lambda: worker.state()["last_outcome"] is not None, timeout=60, what="the first cycle")
        next_run = datetime.fromisoformat(str(worker.next_run_at()))
    assert next_run - datetime.now(UTC) > timedelta(minutes=50)
