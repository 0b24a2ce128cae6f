"""`kpi-sync doctor`: the connection check a new user runs before the first cycle.

In a few seconds and a handful of calls (each tried once, with a short timeout) it checks the HubSpot base URL, the
Service Key, each scope kpi-sync needs by the smallest call that needs it, the API version, the property group and
the twelve `kpi_*` properties against their definitions, custom objects, the portal's rate limits and the database,
and returns a list of typed `Check`s; every failure carries its fix. It writes nothing, neither to HubSpot nor to
the store, so the write scopes are named but not verified.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from service.settings import Settings
from storage.probe import StoreProblem, probe_store
from sync.config import HubSpotConfig
from sync.errors import ConfigError, KpiSyncError
from sync.hubspot.client import HubSpotClient
from sync.hubspot.errors import (
    AuthError,
    DailyLimitError,
    HubSpotConnectionError,
    HubSpotDnsError,
    HubSpotRefusedError,
    HubSpotTimeoutError,
    HubSpotTlsError,
    RateLimitedError,
    RequestError,
)
from sync.properties import CONTACT_PROPERTIES, PROPERTY_GROUP_DEF, SNAPSHOT_OBJECT, differences

DEFAULT_TIMEOUT_S = 5.0
KEY_PAGE = "HubSpot > Settings > Integrations > Service Keys"


class CheckStatus(StrEnum):
    """How one check came out: only FAIL makes the doctor exit 1."""

    OK = "ok"
    FAIL = "fail"
    INFO = "info"
    SKIPPED = "skipped"

    @property
    def mark(self) -> str:
        """The checklist's mark."""
        return "FAIL" if self is CheckStatus.FAIL else self.value


@dataclass(frozen=True)
class Check:
    """One line of the checklist: what was checked, how it came out, what was found and, for a failure, the fix."""

    name: str
    status: CheckStatus
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"name": self.name, "status": self.status.value, "detail": self.detail, "fix": self.fix}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        """Back from the JSON form."""
        return cls(str(data["name"]), CheckStatus(data["status"]), str(data["detail"]), str(data.get("fix") or ""))


@dataclass(frozen=True)
class DoctorReport:
    """Every check in order, and the HubSpot calls they spent."""

    checks: tuple[Check, ...]
    hubspot_calls: int = 0

    @property
    def ok(self) -> bool:
        """No check failed."""
        return all(c.status is not CheckStatus.FAIL for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (what `--format json` prints and `GET /doctor` answers)."""
        return {"ok": self.ok, "hubspot_calls": self.hubspot_calls, "checks": [c.as_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DoctorReport:
        """Back from the JSON form."""
        return cls(tuple(Check.from_dict(c) for c in data["checks"]), int(data.get("hubspot_calls", 0)))

    def text(self) -> str:
        """The checklist: one line per check with its mark, an indented `fix:` line under each failure."""
        lines = []
        for check in self.checks:
            lines.append(f"{check.status.mark:<8}{check.name}: {check.detail}")
            if check.fix:
                lines.append(f"{'':<8}  fix: {check.fix}")
        failed = sum(c.status is CheckStatus.FAIL for c in self.checks)
        verdict = "ready for the first cycle" if not failed else f"{failed} check(s) failed"
        lines.append(f"{verdict} ({self.hubspot_calls} HubSpot calls)")
        return "\n".join(lines)


def run_doctor(settings: Settings, timeout_s: float = DEFAULT_TIMEOUT_S) -> DoctorReport:
    """Run every check against the configured HubSpot portal and database; change nothing in either."""
    checks, calls = _hubspot_checks(settings, timeout_s)
    checks.append(database_check(settings.database_url, timeout_s))
    return DoctorReport(tuple(checks), calls)


# -- HubSpot ---------------------------------------------------------------------------------------------------
# The scope checks, in order: name, the scope(s) HubSpot names, and what kpi-sync reads with it.
SCOPES: tuple[tuple[str, str, str], ...] = (
    ("contacts read", "crm.objects.contacts.read", "contacts, and calls, meetings, notes and tasks"),
    ("emails read", "crm.objects.contacts.read, sales-email-read", "sales emails and their content"),
    ("deals read", "crm.objects.deals.read", "deals and their pipelines"),
    ("owners read", "crm.objects.owners.read", "the reps (owners)"),
    ("property schema read", "crm.schemas.contacts.read", "the contact property group and the kpi_* properties"),
)
# HubSpot documents that without sales-email-read it redacts email content rather than refusing: only a refusal is
# seen here, so an answer does not prove the scope.
EMAIL_CAVEAT = " (unless HubSpot redacts email bodies without sales-email-read instead of refusing: not visible here)"
HUBSPOT_CHECKS = (
    "HubSpot URL",
    "Service Key",
    "API version",
    *(f"scope: {name}" for name, _, _ in SCOPES),
    f"property group {PROPERTY_GROUP_DEF['name']}",
    "kpi_* properties",
    "write scopes",
    "custom objects",
    "rate limits",
)


class _CannotGoOnError(Exception):
    """An earlier check failed in a way that makes the rest of the HubSpot checks meaningless."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _hubspot_checks(settings: Settings, timeout_s: float) -> tuple[list[Check], int]:
    try:
        config = settings.hubspot_config()
    except ConfigError:
        missing = Check(
            "Service Key",
            CheckStatus.FAIL,
            "HUBSPOT_ACCESS_TOKEN is not set",
            f"create a Service Key in {KEY_PAGE} and set HUBSPOT_ACCESS_TOKEN to it",
        )
        return [missing, *_skipped(HUBSPOT_CHECKS, {"Service Key"}, "no Service Key to check")], 0
    # One attempt per check, soon given up: the doctor reports in seconds what a cycle would retry for a minute.
    config = replace(config, max_retries=0, timeout_seconds=min(timeout_s, config.timeout_seconds))
    client = HubSpotClient(config)
    checks: list[Check] = []
    try:
        for check in _probe(client, config, settings):
            checks.append(check)
    except _CannotGoOnError as stop:
        checks.extend(_skipped(HUBSPOT_CHECKS, {c.name for c in checks}, stop.reason))
    return checks, client.stats.total


def _skipped(names: Sequence[str], done: set[str], reason: str) -> list[Check]:
    return [Check(name, CheckStatus.SKIPPED, reason) for name in names if name not in done]


def _probe(client: HubSpotClient, config: HubSpotConfig, settings: Settings) -> Iterator[Check]:
    """The HubSpot checks in order; raises _CannotGoOnError when the rest cannot run."""
    url, version = config.base_url, config.api_version
    started = time.monotonic()
    first: KpiSyncError | None = None
    try:
        client.sample("contacts")
    except (HubSpotConnectionError, HubSpotTimeoutError) as err:
        yield _unreachable(err, url, config.timeout_seconds)
        raise _CannotGoOnError("no connection to HubSpot") from None
    except KpiSyncError as err:
        first = err
    yield Check("HubSpot URL", CheckStatus.OK, f"{url} answered in {(time.monotonic() - started) * 1000:.0f} ms")
    yield from _key_and_version(first, version)
    yield _scope_check(SCOPES[0], first)
    yield _scope_check(SCOPES[1], _attempt(lambda: client.sample("emails")))
    yield _scope_check(SCOPES[2], _attempt(lambda: client.sample("deals")) or _attempt(client.pipelines))
    yield _scope_check(SCOPES[3], _attempt(client.sample_owners))
    groups: list[dict[str, Any]] = []
    properties: list[dict[str, Any]] = []
    failed = _attempt(lambda: groups.extend(client.property_groups("contacts")))
    failed = failed or _attempt(lambda: properties.extend(client.properties("contacts")))
    yield _scope_check(SCOPES[4], failed)
    if failed is None:
        yield _group_check(groups)
        yield from _property_checks(properties)
    else:
        reason = "the contact properties could not be read"
        yield from _skipped((f"property group {PROPERTY_GROUP_DEF['name']}", "kpi_* properties"), set(), reason)
    yield _write_check(settings, properties if failed is None else None)
    yield _custom_objects_check(client, settings)
    yield _rate_limit_check(client, config)


def _attempt(call: Callable[[], object]) -> KpiSyncError | None:
    """Run one probe call; the error it raised, or None. A lost connection stops the remaining checks."""
    try:
        call()
    except (HubSpotConnectionError, HubSpotTimeoutError) as err:
        raise _CannotGoOnError(f"the connection to HubSpot failed meanwhile ({err})") from None
    except KpiSyncError as err:
        return err
    return None


def _unreachable(err: KpiSyncError, url: str, timeout_s: float) -> Check:
    """The base URL did not answer: name the cause, with the URL."""
    host_fix = "check HUBSPOT_BASE_URL (HubSpot's API is https://api.hubapi.com)"
    causes: tuple[tuple[type[KpiSyncError], str, str], ...] = (
        (HubSpotDnsError, f"the host name of {url} does not resolve (DNS)", f"{host_fix} and this machine's DNS"),
        (
            HubSpotRefusedError,
            f"{url} refused the connection (nothing listens on that port)",
            f"{host_fix}; is a proxy or firewall in the way?",
        ),
        (
            HubSpotTlsError,
            f"the TLS handshake with {url} failed",
            f"{host_fix}: https on HubSpot's port 443; behind a TLS-intercepting proxy, trust its certificate",
        ),
        (
            HubSpotTimeoutError,
            f"{url} did not answer within {timeout_s:g} s",
            "check the network, proxy and firewall between this machine and HubSpot; then status.hubspot.com",
        ),
    )
    for error_type, detail, fix in causes:
        if isinstance(err, error_type):
            return Check("HubSpot URL", CheckStatus.FAIL, detail, fix)
    return Check("HubSpot URL", CheckStatus.FAIL, f"the connection to {url} failed ({err})", host_fix)


def _key_and_version(first: KpiSyncError | None, version: str) -> Iterator[Check]:
    """The first call's answer tells whether the key is accepted and the configured API version is served."""
    if isinstance(first, AuthError) and first.status == 401:
        yield Check(
            "Service Key",
            CheckStatus.FAIL,
            f"HubSpot rejected the Service Key (401 {first.category or 'INVALID_AUTHENTICATION'})",
            f"copy the key again from {KEY_PAGE} into HUBSPOT_ACCESS_TOKEN, or rotate it there",
        )
        raise _CannotGoOnError("HubSpot rejected the Service Key")
    if first is not None and not isinstance(first, AuthError):
        if isinstance(first, RequestError) and first.status == 404:
            yield Check("Service Key", CheckStatus.SKIPPED, "the API version did not answer")
            yield Check(
                "API version",
                CheckStatus.FAIL,
                f"the {version} paths answered 404: {version} is not served at this URL",
                "check HUBSPOT_BASE_URL (https://api.hubapi.com) and HUBSPOT_API_VERSION (2026-09 or 2026-03)",
            )
            raise _CannotGoOnError(f"API version {version} is not served")
        yield Check("Service Key", CheckStatus.FAIL, f"HubSpot did not answer the check: {first}", _why_not(first))
        raise _CannotGoOnError("HubSpot did not answer the first check")
    yield Check("Service Key", CheckStatus.OK, "HubSpot accepted the key")
    yield Check("API version", CheckStatus.OK, f"{version} answers (HUBSPOT_API_VERSION)")


def _why_not(err: KpiSyncError) -> str:
    if isinstance(err, DailyLimitError):
        return "the portal's daily API limit is spent; try after its midnight"
    if isinstance(err, RateLimitedError):
        return "HubSpot rate limited the check; try again in a minute"
    return "try again in a few minutes; if it lasts, see status.hubspot.com"


def _scope_check(scope: tuple[str, str, str], err: KpiSyncError | None) -> Check:
    name, needed, what = scope
    if err is None:
        caveat = EMAIL_CAVEAT if "sales-email-read" in needed else ""
        return Check(f"scope: {name}", CheckStatus.OK, f"granted ({needed}): kpi-sync can read {what}{caveat}")
    if isinstance(err, AuthError) and err.status == 403:
        lacking = ", ".join(err.scopes) or needed
        return Check(
            f"scope: {name}",
            CheckStatus.FAIL,
            f"the Service Key lacks {lacking} (403 {err.category or 'MISSING_SCOPES'}); kpi-sync reads {what} with it",
            f"add the scope {lacking} to the key in {KEY_PAGE}, then run kpi-sync doctor again",
        )
    return Check(f"scope: {name}", CheckStatus.FAIL, f"HubSpot refused the check: {err}", _why_not(err))


def _group_check(groups: list[dict[str, Any]]) -> Check:
    name = str(PROPERTY_GROUP_DEF["name"])
    if any(g.get("name") == name for g in groups):
        return Check(f"property group {name}", CheckStatus.OK, "present")
    return Check(f"property group {name}", CheckStatus.INFO, "missing: the first write-back creates it")


def _property_checks(found: list[dict[str, Any]]) -> Iterator[Check]:
    """One summary line, and a failure per `kpi_*` property that exists with another definition."""
    existing = {str(p.get("name")): p for p in found}
    missing, matching = [], 0
    for wanted in CONTACT_PROPERTIES:
        have = existing.get(wanted["name"])
        if have is None:
            missing.append(wanted["name"])
            continue
        problems = differences(have, wanted)
        if not problems:
            matching += 1
            continue
        yield Check(
            f"property {wanted['name']}",
            CheckStatus.FAIL,
            f"exists with another definition ({'; '.join(problems)}); kpi-sync never overwrites it",
            f"rename or delete the property {wanted['name']} in HubSpot (kpi-sync then creates its own), "
            "or give it the definition kpi-sync needs",
        )
    total = len(CONTACT_PROPERTIES)
    if missing:
        detail = f"{matching} of {total} present; missing (the first write-back creates them): {', '.join(missing)}"
        yield Check("kpi_* properties", CheckStatus.INFO, detail)
    else:
        yield Check("kpi_* properties", CheckStatus.OK, f"{matching} of {total} present as kpi-sync defines them")


def _write_check(settings: Settings, properties: list[dict[str, Any]] | None) -> Check:
    if not settings.writeback_enabled:
        return Check("write scopes", CheckStatus.INFO, "write-back is off (WRITEBACK_ENABLED=false): none needed")
    names = {str(p.get("name")) for p in properties or []}
    creates = properties is None or any(p["name"] not in names for p in CONTACT_PROPERTIES)
    needed = "crm.objects.contacts.write" + (" and crm.schemas.contacts.write" if creates else "")
    return Check(
        "write scopes",
        CheckStatus.INFO,
        f"not verified: HubSpot has no harmless write to try, and the doctor writes nothing. "
        f"Write-back needs {needed}; the first write-back shows whether they are granted",
    )


def _custom_objects_check(client: HubSpotClient, settings: Settings) -> Check:
    if not (settings.writeback_enabled and settings.writeback_snapshots):
        return Check("custom objects", CheckStatus.INFO, "snapshots are off (WRITEBACK_SNAPSHOTS=false)")
    schemas: list[dict[str, Any]] = []
    err = _attempt(lambda: schemas.extend(client.schemas()))
    if isinstance(err, AuthError):
        lacking = ", ".join(err.scopes) or "crm.schemas.custom.read"
        detail = f"not available ({lacking} refused): snapshots off, KPI properties still written"
        return Check("custom objects", CheckStatus.INFO, detail)
    if err is not None:
        return Check("custom objects", CheckStatus.INFO, f"not checked: {err}")
    if any(s.get("name") == SNAPSHOT_OBJECT for s in schemas):
        return Check("custom objects", CheckStatus.INFO, f"available: snapshots on ({SNAPSHOT_OBJECT} exists)")
    detail = f"available: snapshots on (the first write-back creates {SNAPSHOT_OBJECT}; needs crm.schemas.custom.write)"
    return Check("custom objects", CheckStatus.INFO, detail)


def _rate_limit_check(client: HubSpotClient, config: HubSpotConfig) -> Check:
    seen = client.observed_limits
    parts = []
    if seen.max_per_window is not None:
        window = f"{(seen.window_ms or 10_000) / 1000:g} s"
        parts.append(f"{seen.max_per_window} calls per {window} (X-HubSpot-RateLimit-Max)")
        if config.rate_limit_per_10s > seen.max_per_window:
            parts.append(f"kpi-sync keeps to it, not to HUBSPOT_RATE_LIMIT_PER_10S={config.rate_limit_per_10s}")
    if seen.daily_remaining is not None:
        of = f" of {seen.daily:,}" if seen.daily is not None else ""
        parts.append(f"{seen.daily_remaining:,}{of} daily calls left (X-HubSpot-RateLimit-Daily-Remaining)")
    if not parts:
        return Check("rate limits", CheckStatus.INFO, "HubSpot sent no rate-limit headers")
    return Check("rate limits", CheckStatus.INFO, "; ".join(parts))


# -- database --------------------------------------------------------------------------------------------------
DATABASE_FIXES = {
    StoreProblem.DNS: "check the host name in DATABASE_URL",
    StoreProblem.REFUSED: "start the database server, or fix the host and port in DATABASE_URL",
    StoreProblem.TIMEOUT: "check the host and port in DATABASE_URL and the firewall between here and the server",
    StoreProblem.AUTH: "check the user and password in DATABASE_URL (and the server's pg_hba.conf)",
    StoreProblem.NO_DATABASE: "create the database (e.g. createdb), or fix its name in DATABASE_URL",
    StoreProblem.NO_ACCESS: "GRANT CONNECT ON DATABASE to the user, or use the database's owner in DATABASE_URL",
    StoreProblem.UNWRITABLE: "point DATABASE_URL at a place this user may write, or grant the user write access",
    StoreProblem.OTHER: "check DATABASE_URL",
}


def database_check(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Check:
    """The store at DATABASE_URL: reachable and writable, its schema's state; the password never shown."""
    found = probe_store(url, timeout_s)
    if found.problem is not None:
        return Check("database", CheckStatus.FAIL, f"{found.url}: {found.detail}", DATABASE_FIXES[found.problem])
    if found.revision is None:
        schema = "no schema yet: the first start creates it"
    elif found.revision == found.head:
        schema = "schema up to date"
    else:
        schema = f"schema at {found.revision}: the next start migrates it to {found.head}"
    return Check("database", CheckStatus.OK, f"{found.url}: {found.detail}; {schema}")
