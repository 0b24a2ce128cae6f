"""Alerts to a Slack-compatible webhook (`ALERT_WEBHOOK_URL`, JSON `{"text": ...}`): a cycle that failed or stopped,
and a last success older than `ALERT_STALE_AFTER`.

One alert per condition: the alerter remembers what it last reported and says nothing more until the condition
changes (a success clears it, with one "recovered" message). A webhook that fails or hangs is logged and never fails
the cycle; the request has a bounded timeout and no retry. Secrets given to the alerter never appear in the text.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
import urllib3
from pydantic import SecretStr

from sync.cycle import RunSummary
from sync.runs import RunKind, RunOutcome

log = structlog.get_logger(__name__)

TIMEOUT_S = 5.0
ERROR_CHARS = 300
MASK = "******"
STALE = "stale"


@dataclass(frozen=True)
class AlertConfig:
    """Where alerts go and when a last success counts as stale; `secrets` are masked out of every text."""

    webhook_url: SecretStr | None
    stale_after_s: float
    secrets: tuple[str, ...] = ()
    timeout_s: float = TIMEOUT_S


class Alerter:
    """Posts one alert per condition; `after_cycle` after every cycle, `check_stale` on a timer."""

    def __init__(self, config: AlertConfig) -> None:
        self.config = config
        self._mutex = threading.Lock()
        self._cycle_condition: str | None = None  # the outcome last alerted on (failed, stopped), None when fine
        self._stale = False

    @property
    def enabled(self) -> bool:
        """Whether a webhook is configured."""
        return bool(self.config.webhook_url and self.config.webhook_url.get_secret_value())

    def after_cycle(self, kind: RunKind, summary: RunSummary) -> None:
        """A failed or stopped cycle alerts once, until a cycle ends ok or partial (which says it recovered)."""
        outcome = summary.outcome
        with self._mutex:
            before = self._cycle_condition
            if outcome in (RunOutcome.FAILED, RunOutcome.STOPPED):
                self._cycle_condition = outcome.value
            elif outcome in (RunOutcome.OK, RunOutcome.PARTIAL):
                self._cycle_condition, self._stale = None, False
        if outcome.value == before or outcome is RunOutcome.RUNNING:
            return
        if outcome in (RunOutcome.FAILED, RunOutcome.STOPPED):
            error = f": {summary.error[:ERROR_CHARS]}" if summary.error else ""
            self.send(f"kpi-sync: {kind.value} run {summary.run_id} {outcome.value}{error}", condition=outcome.value)
        elif before is not None:
            self.send(f"kpi-sync recovered: {kind.value} run {summary.run_id} ended {outcome.value}", condition="ok")

    def check_stale(self, last_success_s: float, now_s: float | None = None) -> None:
        """Alert once when the last success (epoch seconds) is older than `stale_after_s`."""
        age = (time.time() if now_s is None else now_s) - last_success_s
        with self._mutex:
            if age <= self.config.stale_after_s or self._stale:
                return
            self._stale = True
        minutes = self.config.stale_after_s / 60
        self.send(
            f"kpi-sync: no successful cycle for {age / 60:.0f} min (alert after {minutes:g} min)", condition=STALE
        )

    def send(self, text: str, *, condition: str) -> bool:
        """Post `text` (secrets masked); False, logged, when the webhook is not set or the post failed."""
        for secret in self.config.secrets:
            if secret:
                text = text.replace(secret, MASK)
        if not self.enabled or self.config.webhook_url is None:
            return False
        body: dict[str, Any] = {"text": text}
        try:  # a pool per alert (they are rare): no connection left open between them
            with urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=self.config.timeout_s)) as pool:
                answer = pool.request(
                    "POST",
                    self.config.webhook_url.get_secret_value(),
                    body=orjson.dumps(body),
                    headers={"Content-Type": "application/json"},
                )
        except urllib3.exceptions.HTTPError as exc:  # the URL holds the webhook's secret: log the type only
            log.warning("alert_failed", condition=condition, error_type=type(exc).__name__)
            return False
        if answer.status >= 300:
            log.warning("alert_failed", condition=condition, status=answer.status)
            return False
        log.info("alert_sent", condition=condition)
        return True
