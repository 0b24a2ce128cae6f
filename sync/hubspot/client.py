"""The one place that knows hubspot-api-client: calls, raw JSON pages, rate limiting, retries, error mapping.

Every request goes through `HubSpotClient._call` on a date-versioned path (`sync.hubspot.paths`): the limiter
slot, a timeout, the SDK's generic `ApiClient.call_api` (its generated API classes only know the numbered paths;
the generic call keeps the SDK's auth, urllib3 pool and error type), the raw body (`_preload_content=False`, ~20x
cheaper than model deserialization), header bookkeeping, and translation of every SDK/urllib3 failure into our
error types. One retry layer (tenacity) sits on top; the SDK's urllib3 retry is off.
"""

from __future__ import annotations

import math
import random
import re
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
import urllib3
from hubspot.crm.objects import ApiClient, Configuration
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from sync.config import HubSpotConfig
from sync.errors import KpiSyncError, RetriableError
from sync.hubspot import wire
from sync.hubspot.constants import LIST_PAGE_SIZE, RETRY_AFTER_MAX_S
from sync.hubspot.decode import Unreadable, decode_body
from sync.hubspot.errors import (
    VALIDATION_ERROR,
    AuthError,
    DailyLimitError,
    HubSpotConnectionError,
    HubSpotDnsError,
    HubSpotRefusedError,
    HubSpotTimeoutError,
    HubSpotTlsError,
    MalformedResponseError,
    RateLimitedError,
    RequestError,
)
from sync.hubspot.paging import Paging
from sync.hubspot.paths import Paths, version_of
from sync.hubspot.ratelimit import ObservedLimits, RateLimiter, latest_daily_resume, next_midnight
from sync.json_fields import counter, whole

log = structlog.get_logger(__name__)

USER_AGENT = "kpi-sync (hubspot-api-client-python)"
CONNECT_TIMEOUT_S = 5.0  # at most: a shorter read timeout (the doctor's) shortens the connect timeout too
DEADLINE_FACTOR = 2.0  # a whole request (connect, answer, body) ends within twice the read timeout, however it trickles
BODY_CHUNK = 65_536
OWNERS_PAGE_SIZE = 500
OWNERS_MAX_PAGES = 200  # 100,000 owners: far beyond any portal; a paging that goes on is HubSpot's loop, not owners
SLOW_SHARE_OF_TIMEOUT = 0.25  # an answer that used a quarter of the read timeout is counted as slow
# Transport failures by type, most specific first; the first entry that any exception of the failure's chain (the
# MaxRetryError's reason, causes and contexts) matches wins. urllib3's NameResolutionError subclasses its
# NewConnectionError, which subclasses ConnectTimeoutError, and a refused connection is a NewConnectionError caused
# by ConnectionRefusedError: so DNS, refused and TLS come before the generic connection error, and that before the
# timeouts, or a closed port would read as a timeout. (The SDK turns urllib3's SSLError into an ApiException without
# a body, then fails on that body: the SSLError is found in the chain.)
TRANSPORT_ERRORS: tuple[tuple[tuple[type[BaseException], ...], type[RetriableError], str], ...] = (
    ((urllib3.exceptions.NameResolutionError, socket.gaierror), HubSpotDnsError, "HubSpot's host name did not resolve"),
    ((ConnectionRefusedError,), HubSpotRefusedError, "HubSpot's host refused the connection"),
    ((urllib3.exceptions.SSLError, ssl.SSLError), HubSpotTlsError, "the TLS handshake with HubSpot failed"),
    ((urllib3.exceptions.NewConnectionError,), HubSpotConnectionError, "connection to HubSpot failed"),
    ((urllib3.exceptions.TimeoutError, TimeoutError), HubSpotTimeoutError, "HubSpot did not answer in time"),
    ((urllib3.exceptions.ProtocolError, ConnectionError), HubSpotConnectionError, "connection to HubSpot failed"),
)


MESSAGE_CHARS = 200
# What `safe_message` masks: bearer credentials, HubSpot-style keys, and runs of 20+ key characters holding both
# letters and digits (tokens, hashes; a property name has no digit, a record id no letter).
TOKEN_LIKE = (
    re.compile(r"(?i)\bbearer\s+\S+"),
    re.compile(r"(?i)\b(?:pat|na\d|eu\d|ap\d)-[A-Za-z0-9-]{6,}"),
    re.compile(r"(?<![\w+/=.-])(?=[\w+/=.-]*\d)(?=[\w+/=.-]*[A-Za-z])[\w+/=.-]{20,}"),
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # an e-mail address HubSpot echoes back is personal data
)


# The endpoint family of a call kind (its part before the colon): the `family` label of the API metrics.
FAMILIES = {
    "list": "objects",
    "read": "objects",
    "sample": "objects",
    "search": "search",
    "assoc": "associations",
    "update": "writes",
    "upsert": "writes",
    "owners": "owners",
    "pipelines": "pipelines",
    "properties": "properties",
    "schemas": "schemas",
}


def family_of(kind: str) -> str:
    """The endpoint family of a call kind (`search:deals` -> search; `sample:owners` reads owners)."""
    return "owners" if kind == "sample:owners" else FAMILIES.get(kind.partition(":")[0], "other")


@dataclass(frozen=True)
class Page:
    """One page of raw HubSpot objects and the cursor of the next page (None on the last), and the entries too
    deeply nested to read (`sync.hubspot.decode`)."""

    results: list[dict[str, Any]]
    after: str | None
    unreadable: tuple[Unreadable, ...] = ()
    total: int | None = None  # a search answer's `total`: the records matching its query (list answers have none)


@dataclass
class ApiStats:
    """What the client spent and suffered: calls by kind, HTTP statuses, faults by kind, retries."""

    calls: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)  # requests by API version ("2026-09", "numbered")
    statuses: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    # "family status" -> requests (`search 200`, `objects 429`, `objects timeout` where no status came back)
    outcomes: Counter[str] = field(default_factory=Counter)
    # (family, seconds) per request, for the latency histogram; not stored with the run
    latencies: list[tuple[str, float]] = field(default_factory=list, compare=False)
    peak_in_flight: int = 0  # most requests awaiting an answer at one moment
    in_flight: int = field(default=0, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, section: str, key: str, n: int = 1) -> None:
        """`n` more of `key` in a counter section ("calls", "versions", "statuses", "faults", "outcomes"): requests
        in flight on several threads count into one record, so the read-add-write is locked."""
        with self._lock:
            counts: Counter[str] = getattr(self, section)
            counts[key] += n

    def latency(self, family: str, seconds: float) -> None:
        """One request's latency (thread-safe, as `count`)."""
        with self._lock:
            self.latencies.append((family, seconds))

    def began(self) -> None:
        """A request left (thread-safe): one more in flight."""
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def ended(self) -> None:
        """A request was answered or failed (thread-safe)."""
        with self._lock:
            self.in_flight -= 1

    def count_retry(self) -> None:
        """One more retry (thread-safe, as `count`)."""
        with self._lock:
            self.retries += 1

    def __deepcopy__(self, memo: dict[int, Any]) -> ApiStats:
        """A copy of the counts and latencies (a new lock, not a copy of this one)."""
        copied = ApiStats.from_json(self.to_json())
        with self._lock:
            copied.latencies = list(self.latencies)
        return copied

    @property
    def total(self) -> int:
        """All requests sent, retries included."""
        return sum(self.calls.values())

    def to_json(self) -> dict[str, Any]:
        """The `api` section of a run's stored counts (`total` is derived: read back from `calls`)."""
        return {
            "total": self.total,
            "calls": dict(self.calls),
            "versions": dict(self.versions),
            "statuses": dict(self.statuses),
            "faults": dict(self.faults),
            "retries": self.retries,
            "outcomes": dict(self.outcomes),
            "peak_in_flight": self.peak_in_flight,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApiStats:
        """Read back `to_json` (missing or odd entries read as zero)."""
        return cls(
            calls=counter(data.get("calls")),
            versions=counter(data.get("versions")),
            statuses=counter(data.get("statuses")),
            faults=counter(data.get("faults")),
            retries=whole(data.get("retries")),
            outcomes=counter(data.get("outcomes")),
            peak_in_flight=whole(data.get("peak_in_flight")),
        )


@dataclass(frozen=True)
class BatchResult:
    """Outcome of a batch write: ids HubSpot accepted, and per-input errors (id -> category, and its message)."""

    accepted: list[dict[str, Any]]
    errors: dict[str, str]
    unattributed_errors: int = 0
    messages: dict[str, str] = field(default_factory=dict)  # id -> HubSpot's message, made safe (`safe_message`)


def _body_of(exc: Any) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    if raw is None:
        resp = getattr(exc, "http_resp", None)
        raw = getattr(resp, "data", None)
    try:
        parsed = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _headers_of(exc: Any) -> Mapping[str, str]:
    headers = getattr(exc, "headers", None)
    return dict(headers) if headers else {}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """HubSpot's `Retry-After` in seconds; None when absent, or not a finite non-negative number (logged: the caller
    then falls back to its own wait)."""
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except ValueError:
                seconds = math.nan
            if math.isfinite(seconds) and seconds >= 0:
                return seconds
            log.warning("hubspot_retry_after_ignored", value=str(value)[:40], reason="not a finite number >= 0")
            return None
    return None


def _bounded_wait(wait: float | None) -> float | None:
    """A short wait as asked, at most `RETRY_AFTER_MAX_S` (a longer one is logged as capped)."""
    if wait is not None and wait > RETRY_AFTER_MAX_S:
        log.warning("hubspot_retry_after_capped", asked_s=wait, capped_s=RETRY_AFTER_MAX_S)
        return RETRY_AFTER_MAX_S
    return wait


def _daily_resume(wait: float | None, timezone: str) -> float:
    """When a DAILY stop ends: after HubSpot's `Retry-After`, else at the portal's next midnight; never later than
    that midnight plus a margin."""
    now = time.time()
    latest = latest_daily_resume(now, timezone)
    if not wait:
        return next_midnight(now, timezone)
    if now + wait > latest:
        log.warning("hubspot_daily_resume_capped", asked_s=wait, resume_at=latest)
        return latest
    return now + wait


def translate(exc: BaseException, *, timezone: str = "UTC") -> KpiSyncError:
    """Map an SDK or urllib3 exception to our error types. Messages never contain headers, tokens or bodies.

    `timezone` is the portal's: a DAILY 429 without `Retry-After` resumes at its next midnight. A short-policy 429
    without `Retry-After` carries no wait: the client asks its limiter when the window frees."""
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        return _translate_status(status, _body_of(exc), _headers_of(exc), timezone=timezone)
    chain = _chain(exc)
    for types, error, message in TRANSPORT_ERRORS:
        found = next((e for e in chain if isinstance(e, types)), None)
        if found is not None:
            return error(f"{message} ({type(found).__name__})")
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason  # what went wrong on the (only) attempt
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return RetriableError(f"HTTP transport error ({type(exc).__name__})")
    if isinstance(exc, orjson.JSONDecodeError | ValueError | TypeError):
        return MalformedResponseError("HubSpot sent a body that is not the JSON we expect")
    return RetriableError(f"unexpected client failure ({type(exc).__name__})")


def _chain(exc: BaseException) -> list[BaseException]:
    """The failure and what lies under it: a MaxRetryError's reason, then causes and contexts (loops cut)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        reason = current.reason if isinstance(current, urllib3.exceptions.MaxRetryError) else None
        current = reason or current.__cause__ or current.__context__
    return out


def _translate_status(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str], *, timezone: str
) -> KpiSyncError:
    category = str(body.get("category") or body.get("errorType") or "")
    message = safe_message(body.get("message"))
    if status == 401:
        return AuthError(
            f"HubSpot rejected HUBSPOT_ACCESS_TOKEN (401 {category}): check or rotate the token",
            status=401,
            category=category or None,
        )
    if status == 403:
        scopes = _required_scopes(body)
        hint = f"; required scopes: {', '.join(scopes)}" if scopes else ""
        return AuthError(
            f"HUBSPOT_ACCESS_TOKEN lacks a permission (403 {category}){hint}",
            status=403,
            category=category or None,
            scopes=tuple(scopes),
        )
    if status == 429:
        policy = str(body.get("policyName") or "")
        wait = _retry_after(headers)
        if policy == "DAILY":
            resume = _daily_resume(wait, timezone)
            return DailyLimitError("HubSpot's daily API limit is reached", resume_at=resume)
        wait = _bounded_wait(wait)
        return RateLimitedError(f"rate limited ({policy or 'unknown policy'})", status=429, wait_seconds=wait)
    if status >= 500 or status in (423, 477):
        wait = _bounded_wait(_retry_after(headers))
        return RetriableError(f"HubSpot answered {status}", status=status, wait_seconds=wait)
    refused = _refused_inputs(body, message) if category == VALIDATION_ERROR else {}
    return RequestError(
        f"HubSpot refused the request ({status} {category}): {message}",
        status=status,
        category=category or None,
        refused=refused,
    )


def _refused_inputs(body: Mapping[str, Any], fallback: str) -> dict[str, str]:
    """The inputs a 400 VALIDATION_ERROR names (`errors[].context.ids`), each with its own message or the body's."""
    refused: dict[str, str] = {}
    for err in body.get("errors") or []:
        if isinstance(err, dict):
            for i in _error_ids(err):
                refused[i] = safe_message(err.get("message")) or fallback
    return refused


def safe_message(text: object) -> str:
    """HubSpot's message made fit to store and show: one line, token-like text masked (a message can echo the
    values written), at most `MESSAGE_CHARS` characters."""
    line = " ".join(str(text or "").split())
    for pattern in TOKEN_LIKE:
        line = pattern.sub("***", line)
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "\u2026"


def _required_scopes(body: Mapping[str, Any]) -> list[str]:
    scopes: list[str] = []
    for err in body.get("errors") or []:
        if isinstance(err, dict):
            for values in (err.get("context") or {}).values():
                if isinstance(values, list):
                    scopes.extend(str(v) for v in values)
    return scopes


@dataclass
class _Slot:
    """One request's rate-limit slot: taken at `at`, moved to when the request was written (`wire.on_send`), then
    to when HubSpot counted it at the latest (`RateLimiter.answered`)."""

    limiter: RateLimiter
    search: bool
    at: float
    written: bool = False

    def leaving(self) -> None:
        self.at = self.limiter.sent(self.at, search=self.search)
        self.written = True

    def answered(self) -> None:
        if self.written:  # a request never written never reached HubSpot: its slot keeps the time it was taken
            self.at = self.limiter.answered(self.at, search=self.search)


class HubSpotClient:
    """Typed, rate-limited, retried access to the HubSpot endpoints kpi-sync uses."""

    def __init__(
        self, config: HubSpotConfig, limiter: RateLimiter | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        sdk_config = Configuration(host=config.base_url)
        sdk_config.access_token = config.token.get_secret_value()  # sent as a Bearer token (Service Key or OAuth)
        sdk_config.retries = False  # one retry layer: ours
        # urllib3 keeps at most this many connections per host: at least one per request in flight, or the extra
        # requests would open a connection each and close it after (urllib3 warns "pool is full").
        sdk_config.connection_pool_maxsize = max(config.max_in_flight, sdk_config.connection_pool_maxsize or 0)
        self._api = ApiClient(sdk_config)
        wire.install(self._api.rest_client.pool_manager)  # each request's slot counts from when it is written
        self._api.user_agent = USER_AGENT
        self.paths = Paths(config.api_version)
        self._timeout = (min(CONNECT_TIMEOUT_S, config.timeout_seconds), config.timeout_seconds)
        self._deadline_s = config.timeout_seconds * DEADLINE_FACTOR
        self._slow_s = config.timeout_seconds * SLOW_SHARE_OF_TIMEOUT
        self.limiter = limiter or RateLimiter(
            config.rate_limit_per_10s,
            config.search_per_second,
            config.daily_budget,
            timezone=config.timezone,
        )
        self._max_attempts = config.max_retries + 1
        self.max_in_flight = config.max_in_flight  # requests the pull and the write-back keep in flight at once
        self._slots = threading.BoundedSemaphore(config.max_in_flight)  # ... and never more, from however many threads
        self._token_refused: AuthError | None = None
        self._sleep = sleep
        self.stats = ApiStats()

    # -- transport ---------------------------------------------------------------------------------------------
    def _call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        search: bool = False,
    ) -> tuple[int, Any]:
        """One request with retries; returns (status, parsed JSON)."""
        retrying = Retrying(
            retry=retry_if_exception_type(RetriableError),
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
            before_sleep=self._count_retry,
        )
        for attempt in retrying:
            with attempt:
                return self._once(kind, method, path, query, body, search=search)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self, kind: str, method: str, path: str, query: Sequence[tuple[str, Any]], body: Any, *, search: bool
    ) -> tuple[int, Any]:
        if self._token_refused is not None:  # a 401 on another thread: the token is bad for every request
            raise AuthError(str(self._token_refused), status=401, category=self._token_refused.category)
        with self._slots:
            slot = _Slot(self.limiter, search, self.limiter.acquire(search=search))
            self.stats.began()
            try:
                with wire.on_send(slot.leaving):
                    return self._send(kind, method, path, query, body, search=search, slot=slot)
            finally:
                self.stats.ended()
                slot.answered()

    def _send(
        self,
        kind: str,
        method: str,
        path: str,
        query: Sequence[tuple[str, Any]],
        body: Any,
        *,
        search: bool,
        slot: _Slot,
    ) -> tuple[int, Any]:
        self.stats.count("calls", kind)
        self._count_version(method, path)
        started = time.monotonic()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            resp = self._api.call_api(
                path,
                method,
                query_params=list(query),
                header_params=headers,
                body=body,
                auth_settings=["oauth2"],
                collection_formats={"properties": "multi", "associations": "multi"},
                _preload_content=False,
                _request_timeout=self._timeout,
            )
            raw = _read_body(resp, started + self._deadline_s)
            headers = dict(resp.headers)
            status = int(resp.status)
            resp.release_conn()
        except Exception as exc:  # every SDK/urllib3 failure becomes one of ours, right here
            if getattr(exc, "status", None):
                self._note_slow(started)  # an answer, if an unwelcome one (a timeout is counted as such)
            err = translate(exc, timezone=self.limiter.timezone)
            self._record_outcome(kind, self._record_failure(err, exc), started)
            if isinstance(err, RateLimitedError):
                self._hold_window(err, search)
            elif isinstance(err, DailyLimitError):
                self.limiter.daily_refused(err.resume_at)  # one daily budget for every request in flight
            elif isinstance(err, AuthError) and err.status == 401:
                self._token_refused = err
            raise err from exc
        self._note_slow(started)
        self.stats.count("statuses", str(status))
        self._record_outcome(kind, str(status), started)
        self.limiter.observe(headers, sent_at=slot.at)
        return status, self._decoded(raw)

    def _decoded(self, raw: bytes) -> Any:
        """The body as JSON (`sync.hubspot.decode`): invalid UTF-8 and lone surrogates reach the record checks,
        entries nested too deep are counted here and stand as `Unreadable` in `results`."""
        try:
            body = decode_body(raw)
        except MalformedResponseError:
            self.stats.count("faults", "malformed")
            raise
        if unreadable := len(_unreadable(body)):
            self.stats.count("faults", "unreadable", unreadable)
        return body

    def _count_version(self, method: str, path: str) -> None:
        version = version_of(path)
        self.stats.count("versions", version)
        if version == "numbered":  # HubSpot stops supporting these in 2027: say which one, every time
            log.warning("hubspot_numbered_call", method=method, path=path)

    def _hold_window(self, err: RateLimitedError, search: bool) -> None:
        """A 429 of a short policy holds the window it hit: for HubSpot's `Retry-After`, else until the limiter
        sees the window's oldest call leave it (usually well under a window); the retry waits as long."""
        if err.wait_seconds is None:
            err.wait_seconds = self.limiter.refused(search=search)
        else:
            self.limiter.pause(err.wait_seconds, search=search)

    def _note_slow(self, started: float) -> None:
        if time.monotonic() - started > self._slow_s:
            self.stats.count("faults", "slow")

    def _record_outcome(self, kind: str, status: str, started: float) -> None:
        family = family_of(kind)
        self.stats.count("outcomes", f"{family} {status}")
        self.stats.latency(family, time.monotonic() - started)

    def _record_failure(self, err: KpiSyncError, exc: BaseException) -> str:
        """Count a failed request; returns its status, or the fault kind where no status came back."""
        status = getattr(exc, "status", None)
        if isinstance(status, int) and status > 0:
            self.stats.count("statuses", str(status))
            if status == 429:
                self.stats.count("faults", "429")
            elif status >= 500:
                self.stats.count("faults", "5xx")
            return str(status)
        if isinstance(err, RetriableError):
            fault = "timeout" if isinstance(err, HubSpotTimeoutError) else "connection"
            self.stats.count("faults", fault)
            return fault
        return "error"

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = getattr(exc, "wait_seconds", None)
        backoff = min(30.0, 0.25 * 2 ** (state.attempt_number - 1)) * (0.5 + random.random())
        return max(float(asked), 0.05) if asked is not None else backoff

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.count_retry()
        exc = state.outcome.exception() if state.outcome else None
        log.debug("hubspot_retry", attempt=state.attempt_number, error=str(exc))

    # -- reads -------------------------------------------------------------------------------------------------
    def list_page(
        self,
        object_type: str,
        properties: Sequence[str],
        associations: Sequence[str] = (),
        after: str | None = None,
        archived: bool = False,
    ) -> Page:
        """One page (100) of the list endpoint, associations inline where asked."""
        query: list[tuple[str, Any]] = [("limit", LIST_PAGE_SIZE), ("properties", list(properties))]
        query.append(("archived", "true" if archived else "false"))
        if associations:
            query.append(("associations", list(associations)))
        if after:
            query.append(("after", after))
        _, body = self._call(f"list:{object_type}", "GET", self.paths.objects(object_type), query=query)
        return _bounded_page(body, LIST_PAGE_SIZE, f"list:{object_type}")

    def search_page(self, object_type: str, body: Mapping[str, Any]) -> Page:
        """One page of a search request."""
        path = self.paths.search(object_type)
        _, parsed = self._call(f"search:{object_type}", "POST", path, body=dict(body), search=True)
        limit = body.get("limit")
        return _bounded_page(parsed, limit, f"search:{object_type}") if isinstance(limit, int) else _page(parsed)

    def association_batch(
        self, from_type: str, to_type: str, inputs: Sequence[tuple[str, str | None]]
    ) -> list[tuple[str, list[str], str | None]]:
        """v4 batch read: for each (id, after) input, (id, linked ids, next cursor or None). No links = empty."""
        payload = {"inputs": [{"id": i, "after": a} if a else {"id": i} for i, a in inputs]}
        path = self.paths.association_batch_read(from_type, to_type)
        _, body = self._call(f"assoc:{from_type}->{to_type}", "POST", path, body=payload)
        out = []
        for result in _list(body, "results"):
            source = str(_dict(result.get("from")).get("id", ""))
            linked = [str(t["toObjectId"]) for t in result.get("to") or [] if isinstance(t, dict) and "toObjectId" in t]
            after = _dict(_dict(result.get("paging")).get("next")).get("after")
            out.append((source, linked, str(after) if after else None))
        return out

    def missing_ids(self, object_type: str, ids: Sequence[str]) -> set[str]:
        """Which of up to 100 record ids HubSpot no longer has (one batch read asking for no properties)."""
        payload = {"inputs": [{"id": i} for i in ids], "properties": ["hs_object_id"]}
        _, body = self._call(f"read:{object_type}", "POST", self.paths.batch(object_type, "read"), body=payload)
        found = {str(r.get("id")) for r in _list(body, "results") if isinstance(r, dict)}
        return set(ids) - found

    def read_page(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> Page:
        """Up to 100 records by id, with these properties (one batch read); ids HubSpot no longer has are absent."""
        payload = {"inputs": [{"id": i} for i in ids], "properties": list(properties)}
        _, body = self._call(f"read:{object_type}", "POST", self.paths.batch(object_type, "read"), body=payload)
        return _bounded_page(body, len(ids), f"read:{object_type}")

    def owners(self, archived: bool) -> Iterator[Page]:
        """Every owner (active or archived), one page at a time; HubSpotLoopError when the paging repeats a cursor
        or does not end."""
        after: str | None = None
        paging = Paging("owners", max_pages=OWNERS_MAX_PAGES)
        while True:
            query: list[tuple[str, Any]] = [("limit", OWNERS_PAGE_SIZE), ("archived", "true" if archived else "false")]
            if after:
                query.append(("after", after))
            _, body = self._call("owners", "GET", self.paths.owners(), query=query)
            page = _bounded_page(body, OWNERS_PAGE_SIZE, "owners")
            paging.advance(page.after)
            yield page
            if not page.after:
                return
            after = page.after

    def pipelines(self, object_type: str = "deals") -> list[dict[str, Any]]:
        """All pipelines of an object type with their stages."""
        _, body = self._call("pipelines", "GET", self.paths.pipelines(object_type))
        return _list(body, "results")

    def sample(self, object_type: str) -> list[dict[str, Any]]:
        """At most one record of a type, no properties asked: the smallest call that needs the type's read scope."""
        query = [("limit", 1), ("archived", "false")]
        _, body = self._call(f"sample:{object_type}", "GET", self.paths.objects(object_type), query=query)
        return _list(body, "results")

    def sample_owners(self) -> list[dict[str, Any]]:
        """At most one owner: the smallest call that needs the owners read scope."""
        _, body = self._call("sample:owners", "GET", self.paths.owners(), query=[("limit", 1)])
        return _list(body, "results")

    @property
    def observed_limits(self) -> ObservedLimits:
        """The portal's rate limits as HubSpot's headers last told them (empty before any answer)."""
        return self.limiter.observed()

    # -- writes and schema -------------------------------------------------------------------------------------
    def batch_update(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Batch update of up to 100 records; a 207 yields per-input errors instead of an exception."""
        path = self.paths.batch(object_type, "update")
        _, body = self._call(f"update:{object_type}", "POST", path, body={"inputs": list(inputs)})
        return self._counted_batch(body)

    def batch_upsert(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Batch upsert (by a unique id property) of up to 100 records."""
        path = self.paths.batch(object_type, "upsert")
        _, body = self._call(f"upsert:{object_type}", "POST", path, body={"inputs": list(inputs)})
        return self._counted_batch(body)

    def _counted_batch(self, body: Any) -> BatchResult:
        result = _batch_result(body)
        if result.errors or result.unattributed_errors:
            self.stats.count("faults", "partial")  # a 207: some inputs refused, the rest applied
        return result

    def property_groups(self, object_type: str) -> list[dict[str, Any]]:
        """Property groups of an object type."""
        _, body = self._call("properties", "GET", self.paths.property_groups(object_type))
        return _list(body, "results")

    def create_property_group(self, object_type: str, group: Mapping[str, Any]) -> bool:
        """Create a group; False when it already exists (409)."""
        return self._create("properties", self.paths.property_groups(object_type), group)

    def properties(self, object_type: str) -> list[dict[str, Any]]:
        """Property definitions of an object type."""
        _, body = self._call("properties", "GET", self.paths.properties(object_type))
        return _list(body, "results")

    def create_property(self, object_type: str, definition: Mapping[str, Any]) -> bool:
        """Create a property; False when it already exists (409)."""
        return self._create("properties", self.paths.properties(object_type), definition)

    def schemas(self) -> list[dict[str, Any]]:
        """Custom object schemas; AuthError when the portal has no custom objects (403)."""
        _, body = self._call("schemas", "GET", self.paths.schemas())
        return _list(body, "results")

    def create_schema(self, schema: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create a custom object schema; None when it already exists (409)."""
        try:
            _, body = self._call("schemas", "POST", self.paths.schemas(), body=dict(schema))
        except RequestError as err:
            if err.status == 409:
                return None
            raise
        return body if isinstance(body, dict) else None

    def _create(self, kind: str, path: str, definition: Mapping[str, Any]) -> bool:
        try:
            self._call(kind, "POST", path, body=dict(definition))
        except RequestError as err:
            if err.status == 409:
                return False
            raise
        return True


def _read_body(resp: Any, deadline: float) -> bytes:
    """The answer's body, read before `deadline` (monotonic): urllib3's timeouts bound each read, not the whole
    body, so a body that trickles in a byte at a time would otherwise keep the request alive for ever."""
    chunks: list[bytes] = []
    while chunk := resp.read1(BODY_CHUNK):
        chunks.append(chunk)
        if time.monotonic() > deadline:
            resp.close()  # the connection is mid-answer: never back to the pool
            raise TimeoutError("HubSpot's answer did not arrive within the request's deadline")
    return b"".join(chunks)


def _bounded_page(body: Any, limit: int, what: str) -> Page:
    """A page that has no more results than the `limit` asked for (more is a malformed answer)."""
    page = _page(body)
    if len(page.results) > limit:
        raise MalformedResponseError(f"{what}: HubSpot sent {len(page.results)} results for a limit of {limit}")
    return page


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(body: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get(key, []), list):
        raise MalformedResponseError(f"HubSpot response lacks a '{key}' list")
    return [item for item in body.get(key, []) if isinstance(item, dict)]


def _page(body: Any) -> Page:
    results = _list(body, "results")
    after = _dict(_dict(body.get("paging")).get("next")).get("after")
    total = body.get("total")
    counted = total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None
    return Page(results, str(after) if after not in (None, "") else None, _unreadable(body), counted)


def _unreadable(body: Any) -> tuple[Unreadable, ...]:
    entries = body.get("results") if isinstance(body, dict) else None
    return tuple(e for e in entries if isinstance(e, Unreadable)) if isinstance(entries, list) else ()


def _batch_result(body: Any) -> BatchResult:
    accepted = _list(body, "results")
    errors: dict[str, str] = {}
    messages: dict[str, str] = {}
    unattributed = 0
    for err in _list(body, "errors") if isinstance(body, dict) and "errors" in body else []:
        ids = _error_ids(err)
        if not ids:
            unattributed += 1
        for i in ids:
            errors[i] = str(err.get("category") or "ERROR")
            messages[i] = safe_message(err.get("message"))
    return BatchResult(accepted, errors, unattributed, messages)


def _error_ids(err: Mapping[str, Any]) -> list[str]:
    context = _dict(err.get("context"))
    ids = context.get("ids") or context.get("id") or []
    if isinstance(ids, str):
        ids = [ids]
    found = [str(i) for i in ids if i is not None] if isinstance(ids, list) else []
    if err.get("id"):
        found.append(str(err["id"]))
    return found
