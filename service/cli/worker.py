"""The service's commands: `run` (the worker), `resync`, `status` and `check`; attached to `service.cli.main`.

Each builds Settings once and passes them down. Exit codes: 0 ok (or partial: some contacts refused by HubSpot's
validation rules), 1 failed (or unhealthy, for `check`), 2 bad configuration or usage, 3 stopped early. `check`
uses only 0 and 1, since Docker reserves 2 in health checks.
"""

from __future__ import annotations

import json
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import click
import structlog
from sqlalchemy.exc import SQLAlchemyError

from service.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    exit_code,
    fail,
    objects_option,
    open_store_or_exit,
    requester,
    require_token,
    settings_or_exit,
)
from service.health import readiness
from service.lock import cycle_lock
from service.settings import Settings
from service.status import recent_run_views, run_view, status_document
from storage.engine import make_engine
from sync import runs
from sync.cycle import CycleOptions, run_cycle
from sync.refusals import REFUSED_LISTED

REQUEST_TIMEOUT_SECONDS = 15
REFUSED_SHOWN = 20  # refused contacts `kpi-sync status` lists; the status document holds more

log = structlog.get_logger(__name__)


# -- run ------------------------------------------------------------------------------------------------------------
@click.command()
def run() -> None:
    """Run the worker: cycles on SYNC_INTERVAL_MINUTES, the reconcile on RECONCILE_CRON, and the admin API.

    SIGTERM or SIGINT stops it gracefully: the running cycle commits its page and returns, then the scheduler and the
    admin API shut down.
    """
    from service.admin.api import create_app
    from service.admin.server import AdminServer
    from service.worker import Worker

    settings = settings_or_exit()
    require_token(settings)
    engine = open_store_or_exit(settings)
    worker = Worker(engine, settings)
    try:
        server = AdminServer(create_app(engine, settings, worker), settings.admin_host, settings.admin_port)
    except OSError as err:
        fail(f"admin API: cannot listen on {settings.admin_host}:{settings.admin_port} ({err.strerror})", EXIT_FAILED)
    _on_signals(worker.request_stop)
    log.info("admin_api", enabled=settings.kpi_sync_admin_token is not None, host=settings.admin_host)
    try:
        server.start()
    except RuntimeError as err:
        fail(f"admin API: {err}", EXIT_FAILED)
    worker.start()
    try:
        worker.wait()
    finally:
        worker.shutdown()
        server.stop()
        engine.dispose()


def _on_signals(stop: Callable[[], None]) -> None:
    def handle(signum: int, _: FrameType | None) -> None:
        log.info("worker_stopping", signal=signal.Signals(signum).name)
        stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)


# -- resync ---------------------------------------------------------------------------------------------------------
@click.command()
@click.option("--full", is_flag=True, help="Reload the objects in full (list endpoints) instead of searching.")
@click.option(
    "--objects",
    default="",
    callback=objects_option,
    help="Comma-separated object types, e.g. contacts,deals (default: all).",
)
@click.option("--local", is_flag=True, help="Run the cycle in this process (under the cycle lock), not in the worker.")
def resync(full: bool, objects: tuple[str, ...] | None, local: bool) -> None:
    """Ask the running worker for a cycle now (queued once if one runs), or run it here with --local."""
    settings = settings_or_exit()
    if local:
        options = CycleOptions(trigger="cli", full=full, objects=objects, requested_by=requester())
        sys.exit(_resync_local(settings, options))
    sys.exit(_resync_remote(settings, full, objects))


def _resync_local(settings: Settings, options: CycleOptions) -> int:
    require_token(settings)
    engine = open_store_or_exit(settings)
    with cycle_lock(engine) as acquired:
        if not acquired:
            click.echo("busy: another cycle is running; retry later, or resync through the worker", err=True)
            return EXIT_FAILED
        summary = run_cycle(engine, settings.cycle_config(), options)
    click.echo(f"run {summary.run_id}: {summary.outcome.value} ({summary.api_calls} API calls)")
    if summary.error:
        click.echo(f"{summary.outcome.value}: {summary.error}", err=True)
    return exit_code(summary)


def admin_base_url(settings: Settings) -> str:
    """Where the worker's admin API listens: ADMIN_URL, else ADMIN_HOST:ADMIN_PORT (a wildcard host is local)."""
    from service.admin.server import local_url  # uvicorn loads only for commands that talk to the worker

    return settings.admin_url or local_url(settings.admin_host, settings.admin_port)


def _resync_remote(settings: Settings, full: bool, objects: Sequence[str] | None) -> int:
    if settings.kpi_sync_admin_token is None:
        fail(
            "configuration error: KPI_SYNC_ADMIN_TOKEN: not set (needed to reach the worker; or use --local)",
            EXIT_CONFIG,
        )
    base = admin_base_url(settings)
    body = json.dumps({"full": full, "objects": list(objects) if objects else None}).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is validated as http(s) by Settings
        f"{base}/resync?trigger=cli",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {settings.kpi_sync_admin_token.get_secret_value()}",
        },
    )
    try:
        with NO_REDIRECTS.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as err:
        with err:  # the answer's connection is closed whatever it said
            detail = _detail(err)
        if 300 <= err.code < 400:  # the admin token is never sent on to wherever a redirect points
            fail(f"the worker at {base} answered a redirect (HTTP {err.code}); point ADMIN_URL at it", EXIT_FAILED)
        code = EXIT_CONFIG if err.code in (401, 403) else EXIT_FAILED
        fail(f"the worker refused the resync: HTTP {err.code} {detail}", code)
    except json.JSONDecodeError:
        fail(f"the worker at {base} answered something that is not JSON; is ADMIN_URL the worker?", EXIT_FAILED)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        fail(f"worker not reachable at {base} ({reason}); is `kpi-sync run` running? (or use --local)", EXIT_FAILED)
    if not isinstance(answer, dict) or answer.get("state") not in ("started", "queued"):
        fail(f"the worker at {base} did not say the resync started or was queued; nothing was asked", EXIT_FAILED)
    queued = " behind the running cycle" if answer.get("state") == "queued" else ""
    click.echo(f"resync {answer.get('state')}{queued}")
    return EXIT_OK


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the HTTP error it is, never followed with the admin token."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects())


def _detail(err: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(err.read()).get("detail", ""))
    except (ValueError, AttributeError, OSError):
        return ""


# -- status ---------------------------------------------------------------------------------------------------------
@click.command()
@click.option("--limit", default=15, show_default=True, help="How many runs to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the status document (as GET /status) as JSON.")
@click.option("--run", "run_id", type=click.IntRange(min=1), default=None, help="One run in detail (GET /runs/ID).")
def status(limit: int, as_json: bool, run_id: int | None) -> None:
    """Print the run history, the pull cursors and today's API spend; or, with --run, one run in detail."""
    settings = settings_or_exit()
    engine = open_store_or_exit(settings)
    if run_id is not None:
        found = runs.get_run(engine, run_id)
        if found is None:
            fail(f"no run {run_id}", EXIT_FAILED)
        view = run_view(found)
        click.echo(json.dumps(view, indent=2, default=str) if as_json else render_run(view))
        return
    document = status_document(engine, settings, None)
    history = recent_run_views(engine, limit)
    if as_json:
        click.echo(json.dumps({**document, "runs": history}, indent=2, default=str))
        return
    click.echo(render_status(document, history))


def render_status(document: dict[str, Any], history: Sequence[dict[str, Any]]) -> str:
    """The status as aligned text tables."""
    runs_table = _aligned(
        ("id", "kind", "trigger", "outcome", "started (UTC)", "secs", "api", "pulled", "written", "error"),
        [
            (
                r["id"],
                r["kind"],
                r["trigger"],
                r["shown_outcome"],
                (r["started_at_iso"] or "")[:19],
                "" if r["duration_s"] is None else f"{r['duration_s']:.1f}",
                r["api_calls"],
                r["pulled"],
                r["written"],
                (r.get("error") or "")[:60],
            )
            for r in history
        ],
    )
    cursors = _aligned(
        ("object", "phase", "read up to (UTC)", "updated (UTC)"),
        [
            (c["object_type"], c["phase"], (c["high_water_iso"] or "-")[:19], (c["updated_at_iso"] or "-")[:19])
            for c in document["cursors"]
        ],
    )
    budget = document["api_budget"]
    ready = "ready" if document["ready"] else f"not ready: {document['ready_reason']}"
    return "\n".join(
        [
            "Runs",
            runs_table,
            "",
            "Cursors",
            cursors,
            "",
            *_refused(document["refused"]),
            f"API calls today: {budget['used_today']} of {budget['daily_budget']} (since {budget['day_started_at']})",
            ready,
        ]
    )


def _refused(refused: dict[str, Any]) -> list[str]:
    """The "Refused by HubSpot" section: how many contacts wait, and the first REFUSED_SHOWN with HubSpot's message."""
    total, listed = refused["total"], refused["listed"][:REFUSED_SHOWN]
    if not total:
        return ["Refused by HubSpot: none", ""]
    rows = [(r["contact_id"], (r["refused_at_iso"] or "")[:19], r["message"]) for r in listed]
    more = [f"... and {total - len(listed)} more (kpi-sync status --json lists up to {REFUSED_LISTED})"]
    return [
        f"Refused by HubSpot: {total} contact(s) wait until their values change or the back-off passes",
        _aligned(("contact", "refused (UTC)", "HubSpot's message"), rows),
        *(more if total > len(listed) else []),
        "",
    ]


def _aligned(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(v) for v in header], *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines if rows else [*lines, "(none)"])


def render_run(view: dict[str, Any]) -> str:
    """One run in detail: what was asked and by whom, how it ended, per-object counts, phases, calls by endpoint,
    faults and the contacts HubSpot refused (the data of `GET /runs/{id}`)."""
    counts, options = view["counts"], view.get("options") or {}
    pull, api, push = counts["pull"], counts["api"], counts["push"]
    asked = ", ".join(f"{k}={_shown(v)}" for k, v in options.items()) or "(not recorded: an older run)"
    took = "" if view["duration_s"] is None else f"   ({view['duration_s']:.1f} s)"
    lines = [
        f"Run {view['id']}: {view['kind']}, {view['shown_outcome']}",
        f"  started   {view['started_at_iso'] or '-'}   finished {view['finished_at_iso'] or '-'}{took}",
        f"  trigger   {view['trigger']}",
        f"  options   {asked}",
    ]
    if view.get("error"):
        lines.append(f"  error     {view['error']}")
    if view.get("cancel_requested_at_iso"):
        lines.append(f"  cancel requested {view['cancel_requested_at_iso']}")
    if view.get("progress") and view["outcome"] in ("running", "stopped", "failed"):  # where it is, or stopped
        p = view["progress"]
        total = f" of ~{p['total']}" if p.get("total") is not None else ""
        where = f"{p['phase']} {p['object'] or ''}".strip()
        lines.append(f"  reached   {where}: {p['records']}{total} records, {p['calls']} calls")
    live = (view.get("progress") or {}).get("objects", {}) if view["outcome"] == "running" else {}
    if live:  # a running run's counts are written when it ends: show what its progress says so far
        pull = {
            "fetched": {k.split(":", 1)[1]: o["records"] for k, o in live.items() if k.startswith("pull:")},
            "changed": {},
            "archived": {},
            "pages": {k: o["pages"] for k, o in live.items() if k.startswith("pull:")},
        }
    names = sorted({*pull["fetched"], *(k.split(":", 1)[1] for k in pull["pages"])})
    rows = [
        (
            n,
            pull["fetched"].get(n, 0),
            pull["changed"].get(n, 0),
            pull["archived"].get(n, 0),
            sum(v for k, v in pull["pages"].items() if k.endswith(f":{n}")),
        )
        for n in names
    ]
    phases = [(n, f"{p['seconds']:.1f}", f"{p['peak_rss_mb']:.0f}") for n, p in counts["phases"].items()]
    calls = sorted(api["calls"].items(), key=lambda kv: (-kv[1], kv[0]))
    return "\n".join(
        [
            *lines,
            "",
            "Objects",
            _aligned(("object", "fetched", "changed", "archived", "pages"), rows),
            "",
            "Phases",
            _aligned(("phase", "seconds", "peak MB"), phases),
            "",
            f"API calls: {api['total']} (retries {api['retries']})",
            _aligned(("endpoint", "calls"), calls),
            "",
            "Faults: " + (", ".join(f"{k} {n}" for k, n in sorted(api["faults"].items())) or "none"),
            f"Written: {push['contacts_written']} contacts, {push['values_written']} values;"
            f" refused {push['refused_total']}, held back {push['held']}",
            *(f"  refused {cid}: {msg}" for cid, msg in list(push["refused"].items())[:REFUSED_SHOWN]),
        ]
    )


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "all" if value is None else str(value)


# -- cancel ---------------------------------------------------------------------------------------------------------
@click.command()
@click.argument("run_id", type=click.IntRange(min=1), required=False)
def cancel(run_id: int | None) -> None:
    """Cancel a running cycle (by default the one running now): it stops after the page in flight and is recorded
    as stopped (cancelled); the next cycle resumes from there. Exit 0 when the request is stored, 1 when there is no
    such run or it is not running."""
    settings = settings_or_exit()
    engine = open_store_or_exit(settings)
    try:
        found = runs.request_cancel(engine, run_id)
    except runs.CancelError as err:
        fail(f"nothing to cancel: {err}", EXIT_FAILED)
    click.echo(f"cancel requested for run {found.id} ({found.kind.value}); it stops after the page in flight")


# -- check ----------------------------------------------------------------------------------------------------------
@click.command()
def check() -> None:
    """Health check for containers: exit 0 when the database answers and the last cycle did not fail, else 1."""
    settings = settings_or_exit(config_exit=EXIT_FAILED)
    try:
        engine = make_engine(settings.database_url)  # no migration: a probe must not change the schema
    except SQLAlchemyError as err:
        fail(f"unhealthy: database unreachable ({type(err).__name__})", EXIT_FAILED)
    try:
        ready = readiness(engine)
    finally:
        engine.dispose()
    if not ready.ready:
        detail = f": {ready.detail[:200]}" if ready.detail else ""
        fail(f"unhealthy: {ready.reason}{detail}", EXIT_FAILED)
    click.echo("ok")


COMMANDS: list[click.Command] = [run, resync, status, cancel, check]
