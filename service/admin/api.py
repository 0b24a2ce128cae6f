"""The admin HTTP API and page (FastAPI), served by `kpi-sync run` next to the scheduler.

Open: `/healthz` (liveness), `/readyz` (readiness, for probes: says ready or not and a reason, no data),
`/metrics` (Prometheus), `/openapi.json`, and the page shell `/`. Everything else needs
`Authorization: Bearer $KPI_SYNC_ADMIN_TOKEN`, compared in constant time: a missing or wrong token is 401; with no
token configured those endpoints answer 403 "disabled" - never open.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Path, Query, Request, Security, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from service.admin.guard import MAX_BODY_BYTES, TokenFirst, token_refusal
from service.admin.page import render_doctor, render_panel, shell
from service.cli.common import parse_objects
from service.doctor import run_doctor
from service.health import readiness
from service.metrics import CONTENT_TYPE, Metrics
from service.report import available_periods, kpi_report
from service.settings import Settings
from service.status import recent_run_views, run_view, status_document
from sync import runs
from sync.cycle import CycleOptions
from sync.hubspot.constants import OBJECT_TYPES

PERIOD = re.compile(r"^(all|\d{4}-(0[1-9]|1[0-2]))$")
_NAME = "|".join(OBJECT_TYPES)
# One object type, or several comma-separated (`?objects=contacts,deals`, what curl and the CLI send).
OBJECTS_PATTERN = rf"^ *({_NAME}) *(, *({_NAME}) *)*$"
MAX_RUN_ID = 2**63 - 1  # run ids are BIGINT: a larger number is no run, not a database error
NO_STORE = {"Cache-Control": "no-store"}
# Module level: FastAPI resolves the dependency's (string) annotations in the module's namespace.
BEARER = HTTPBearer(auto_error=False, description="KPI_SYNC_ADMIN_TOKEN")
PAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", **NO_STORE}
# Non-JSON answers, documented by media type. (A route whose response_class is HTML would document its JSON
# errors as text/html too: such routes use the plain Response class and declare their 200 here.)
HTML_ANSWER = {"description": "Server-rendered, escaped HTML", "content": {"text/html": {"schema": {"type": "string"}}}}
METRICS_ANSWER = {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}

ObjectNames = list[Annotated[str, Field(pattern=OBJECTS_PATTERN)]]


class WorkerHandle(Protocol):
    """What the API needs from the running worker (`service.worker.Worker`)."""

    metrics: Metrics

    def request_resync(self, options: CycleOptions) -> dict[str, Any]:
        """Start or queue a manual cycle."""

    def state(self) -> dict[str, Any]:
        """Running, pending, paused, next run."""


class Problem(BaseModel):
    """Why a request was refused or could not be served."""

    detail: str


class Ready(BaseModel):
    """The readiness probe's answer: no data, only ready or not and a generic reason."""

    ready: bool
    reason: str


class ResyncBody(BaseModel):
    """A manual resync: every object incrementally by default. Unknown fields are refused (422): a `dry_run` the API
    does not offer must not start a real cycle (dry runs are `kpi-sync sync --dry-run`)."""

    model_config = ConfigDict(extra="forbid")

    full: bool = Field(default=False, description="Reload the objects in full (list endpoints) instead of searching")
    objects: ObjectNames | None = Field(default=None, description=f"Subset of {', '.join(OBJECT_TYPES)}; default all")


class ResyncAccepted(BaseModel):
    """What happened to a resync request."""

    state: str = Field(description="started (runs now), queued (runs after the running cycle) or stopping")
    request: dict[str, Any] | None
    running: dict[str, Any] | None = None
    pending: dict[str, Any] | None = None
    paused_until: str | None = None
    next_run_at: str | None = None


# What every protected endpoint may answer besides its own result (documented, so clients and fuzzers know).
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or wrong bearer token"},
    403: {"model": Problem, "description": "Admin API disabled: KPI_SYNC_ADMIN_TOKEN is not set"},
    503: {"model": Problem, "description": "Database unreachable"},
}


def create_app(engine: Engine, settings: Settings, worker: WorkerHandle | None = None) -> FastAPI:
    """The admin app over `engine`; `worker` is None where no scheduler runs (resync then answers 503)."""
    app = FastAPI(
        title="kpi-sync admin API",
        version="1",
        description=__doc__,
        docs_url=None,  # Swagger UI would load scripts from a CDN; the OpenAPI document is at /openapi.json
        redoc_url=None,
    )
    metrics = worker.metrics if worker is not None else Metrics()
    app.include_router(_open_routes(engine, metrics))
    expected, require_admin = _guard(settings)
    admin = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)], responses=ADMIN_RESPONSES)
    _resync_route(admin, worker)
    _history_routes(admin, engine)
    _status_routes(admin, engine, settings, worker)
    _doctor_routes(admin, settings)
    app.include_router(admin)
    # Outermost first: the admin routes refuse a wrong token before their body is read (FastAPI reads a body
    # before it runs the routes' dependencies), then every body is capped (413). See service.admin.guard.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY_BYTES)
    app.add_middleware(TokenFirst, expected_token=expected, protected=admin)

    @app.exception_handler(SQLAlchemyError)
    def database_down(_: Any, exc: SQLAlchemyError) -> JSONResponse:
        return JSONResponse({"detail": f"database error ({type(exc).__name__})"}, status_code=503)

    return app


def _guard(settings: Settings) -> tuple[bytes, Callable[[HTTPAuthorizationCredentials | None], None]]:
    """The configured token and the admin routes' dependency (which also documents the bearer scheme)."""
    configured = settings.kpi_sync_admin_token
    expected = configured.get_secret_value().encode() if configured is not None else b""

    def require_admin(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]) -> None:
        refusal = token_refusal(expected, f"Bearer {credentials.credentials}" if credentials is not None else None)
        if refusal is not None:
            raise refusal

    return expected, require_admin


def _open_routes(engine: Engine, metrics: Metrics) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process serves requests")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: database reachable and the last cycle did not fail (503 otherwise)",
        responses={200: {"model": Ready}, 503: {"model": Ready, "description": "Not ready; `reason` says why"}},
    )
    def readyz() -> JSONResponse:
        ready = readiness(engine)
        code = status.HTTP_200_OK if ready.ready else status.HTTP_503_SERVICE_UNAVAILABLE
        return JSONResponse({"ready": ready.ready, "reason": ready.reason}, status_code=code, headers=NO_STORE)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response, responses={200: METRICS_ANSWER})
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @router.get("/", include_in_schema=False, response_class=HTMLResponse)
    def page() -> HTMLResponse:
        html, policy = shell()
        return HTMLResponse(html, headers={**PAGE_HEADERS, "Content-Security-Policy": policy})

    return router


def _resync_route(router: APIRouter, worker: WorkerHandle | None) -> None:
    @router.post(
        "/resync",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=ResyncAccepted,
        summary="Run a cycle now, or queue it once behind the running one",
        responses={
            400: {"model": Problem, "description": "The body is not readable JSON"},
            503: {"model": Problem, "description": "No worker in this process, or it is shutting down"},
        },
    )
    def resync(
        request: Request,
        body: Annotated[ResyncBody | None, Body()] = None,
        full: Annotated[bool | None, Query(description="Overrides the body's `full`")] = None,
        objects: Annotated[ObjectNames | None, Query(description="Overrides the body's objects")] = None,
        trigger: Annotated[str, Query(pattern="^(api|page|cli)$")] = "api",
    ) -> dict[str, Any]:
        options = _resync_options(body or ResyncBody(), full, objects, trigger)
        options = replace(options, requested_by=request.client.host if request.client else None)
        if worker is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no worker runs in this process")
        answer = worker.request_resync(options)
        if answer.get("state") == "stopping":
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the worker is shutting down")
        return answer


def _history_routes(router: APIRouter, engine: Engine) -> None:
    @router.get("/runs", summary="Run history, newest first")
    def list_runs(limit: Annotated[int, Query(ge=1, le=500)] = 20) -> list[dict[str, Any]]:
        return recent_run_views(engine, limit)

    @router.get("/runs/{run_id}", summary="One run", responses={404: {"model": Problem, "description": "No such run"}})
    def one_run(run_id: Annotated[int, Path(ge=1, le=MAX_RUN_ID)]) -> dict[str, Any]:
        found = runs.get_run(engine, run_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id}")
        return run_view(found)

    @router.post(
        "/runs/{run_id}/cancel",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Cancel a running run: it stops after the page in flight, recorded as stopped (cancelled)",
        responses={
            404: {"model": Problem, "description": "No such run"},
            409: {"model": Problem, "description": "The run is not running (it ended, or never started here)"},
        },
    )
    def cancel_run(run_id: Annotated[int, Path(ge=1, le=MAX_RUN_ID)]) -> dict[str, Any]:
        try:
            return run_view(runs.request_cancel(engine, run_id))
        except runs.CancelError as err:
            code = status.HTTP_409_CONFLICT if err.found else status.HTTP_404_NOT_FOUND
            raise HTTPException(code, str(err)) from None


def _status_routes(router: APIRouter, engine: Engine, settings: Settings, worker: WorkerHandle | None) -> None:
    @router.get("/status", summary="Last cycle, cursors, API budget, next run")
    def service_status() -> dict[str, Any]:
        return status_document(engine, settings, worker.state() if worker else None)

    @router.get("/kpis", summary="The KPI report (per owner, team and portal)")
    def kpis(period: Annotated[str, Query(pattern=PERIOD.pattern, description="YYYY-MM or all")] = "all") -> Any:
        return _report(engine, period)

    @router.get("/ui/panel", response_class=Response, responses={200: HTML_ANSWER}, summary="Page panel")
    def panel(period: Annotated[str, Query(pattern=PERIOD.pattern, description="YYYY-MM or all")] = "all") -> Response:
        document = status_document(engine, settings, worker.state() if worker else None)
        report = _report(engine, period)
        html = render_panel(document, recent_run_views(engine, 20), report, available_periods(engine))
        return HTMLResponse(html, headers=PAGE_HEADERS)


def _doctor_routes(router: APIRouter, settings: Settings) -> None:
    @router.get("/doctor", summary="Connection check: HubSpot URL, key, scopes, properties, rate limits, database")
    def doctor() -> dict[str, Any]:
        return run_doctor(settings).as_dict()

    @router.get("/ui/doctor", response_class=Response, responses={200: HTML_ANSWER}, summary="Page checklist")
    def doctor_panel() -> HTMLResponse:
        return HTMLResponse(render_doctor(run_doctor(settings).as_dict()), headers=PAGE_HEADERS)


def _report(engine: Engine, period: str) -> Any:
    return json.loads(kpi_report(engine, period, "json"))


def _resync_options(body: ResyncBody, full: bool | None, objects: list[str] | None, trigger: str) -> CycleOptions:
    """One request's cycle options: the query's `full` and `objects` override the body's. The names were checked
    against OBJECTS_PATTERN (the documented schema); the CLI's parser splits them, so both read a list alike."""
    chosen = objects if objects is not None else body.objects
    try:
        names = parse_objects(chosen or [])
    except ValueError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(err)) from None
    return CycleOptions(trigger=trigger, full=body.full if full is None else full, objects=names)
