"""Start a sandbox in-process for tests, the demo and benchmarks: `with run_sandbox(seed=1) as sb: ...`.

The returned `RunningSandbox` has the base URL and token for the HubSpot client, direct access to the portal,
and a small stdlib-only client for the operator API.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from sandbox.app import SandboxApp
from sandbox.config import DEFAULT_TOKEN, SandboxOptions, Settings
from sandbox.faults import FaultConfig
from sandbox.generate import GenerateOptions, generate
from sandbox.operator import describe
from sandbox.portal import Portal
from sandbox.server import ServerThread
from sandbox.validation import ValidationRules

BIG_SIZES = ("medium", "large")


class SandboxClient:
    """The operator API of a sandbox serving on `base_url` (in this process or another), plus its token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = orjson.dumps(body) if body is not None else None
        url = self.base_url + path
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - local URL
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - local URL
            return orjson.loads(response.read())

    def stats(self) -> dict[str, Any]:
        """GET /_sandbox/stats: counts by route, status, object, fault, API family (`by_family`, `by_version`,
        `numbered_routes`)."""
        return dict(self._call("GET", "/_sandbox/stats"))

    def reset_stats(self) -> None:
        """POST /_sandbox/stats/reset."""
        self._call("POST", "/_sandbox/stats/reset")

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """PUT /_sandbox/faults (replaces; no arguments disables all faults)."""
        return dict(self._call("PUT", "/_sandbox/faults", faults))

    def set_validation(self, **rules: Any) -> dict[str, Any]:
        """PUT /_sandbox/validation: `mode` ("batch" | "per_input"), `required`, `refuse` (no arguments clears)."""
        return dict(self._call("PUT", "/_sandbox/validation", rules))

    def validation(self) -> dict[str, Any]:
        """GET /_sandbox/validation."""
        return dict(self._call("GET", "/_sandbox/validation"))

    def settings(self, **changes: Any) -> dict[str, Any]:
        """PUT /_sandbox/settings with `changes` (GET when none)."""
        if not changes:
            return dict(self._call("GET", "/_sandbox/settings"))
        return dict(self._call("PUT", "/_sandbox/settings", changes))

    def simulate(self, minutes: float = 60, seed: int = 0) -> dict[str, Any]:
        """POST /_sandbox/simulate."""
        return dict(self._call("POST", "/_sandbox/simulate", {"minutes": minutes, "seed": seed}))

    def bulk_import(self, object_type: str = "contacts", count: int = 1_000, mode: str = "create") -> dict[str, Any]:
        """POST /_sandbox/bulk-import."""
        return dict(self._call("POST", "/_sandbox/bulk-import", {"object": object_type, "count": count, "mode": mode}))

    def merge(self, object_type: str, primary_id: int | str, merged_id: int | str) -> dict[str, Any]:
        """POST /_sandbox/merge: merge `merged_id` into `primary_id` (contacts or deals); the survivor, in full."""
        body = {"object": object_type, "primary": int(primary_id), "merged": int(merged_id)}
        return dict(self._call("POST", "/_sandbox/merge", body))

    def export(self, object_type: str) -> list[dict[str, Any]]:
        """GET /_sandbox/export/{type}: the ground truth, archived records included."""
        return list(self._call("GET", f"/_sandbox/export/{object_type}"))

    def summary(self) -> dict[str, Any]:
        """GET /_sandbox/portal."""
        return dict(self._call("GET", "/_sandbox/portal"))


class RunningSandbox(SandboxClient):
    """A sandbox serving in a background thread of this process, with direct access to its portal."""

    def __init__(self, app: SandboxApp, server: ServerThread) -> None:
        super().__init__(server.url, app.options.token)
        self.app = app
        self.server = server
        self.portal = app.portal

    def describe(self) -> str:
        """A short human summary of what this sandbox serves (for the demo)."""
        return describe(self.app.context, self.base_url)


def build_options(**options: Any) -> SandboxOptions:
    """SandboxOptions from keyword arguments; settings keys (e.g. `index_lag_ms`) and fault keys
    (e.g. `rate_429`, `fault_seed`) may be given flat. `seed` is the portal's seed; `validation` may be the
    operator API's JSON (`{"mode": "per_input", "required": [...], "refuse": [...]}`)."""
    settings_keys = set(Settings.__dataclass_fields__)
    fault_keys = set(FaultConfig.__dataclass_fields__) - {"retry_after", "seed"}
    settings = {k: options.pop(k) for k in list(options) if k in settings_keys}
    faults = {k: options.pop(k) for k in list(options) if k in fault_keys}
    if options.get("fault_seed") is not None:
        faults["seed"] = options["fault_seed"]
    options.pop("fault_seed", None)
    if isinstance(options.get("validation"), dict):
        options["validation"] = ValidationRules.from_json(options["validation"])
    base = SandboxOptions(**options)
    if settings:
        merged = replace(base.settings)
        merged.update(settings)
        base.settings = merged
    if faults:
        base.faults = FaultConfig.from_json({**base.faults.to_json(), **faults})
    return base


def build_app(options: SandboxOptions, data_dir: Path | None = None) -> SandboxApp:
    """Generate the portal described by `options` and wrap it in an app (no server yet)."""
    path = None
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / f"portal-{options.size}-{options.seed}.sqlite3"
        path.unlink(missing_ok=True)
    portal = Portal(path, options.settings.index_lag_ms)
    generate(
        portal, GenerateOptions(options.seed, options.size, options.contacts, options.engagements, options.anchor_ms)
    )
    return SandboxApp(portal, options)


@contextmanager
def run_sandbox(**options: Any) -> Iterator[RunningSandbox]:
    """Generate a portal, serve it on a free port in a background thread, and stop it on exit.

    Options are `SandboxOptions` fields plus flat settings/fault keys, e.g.
    `run_sandbox(seed=7, contacts=300, index_lag_ms=0, throttle=True, daily_limit=5, rate_429=0.1)`.
    Medium and large portals go to a temporary file unless `data_dir` is given.
    """
    opts = build_options(**options)
    with tempfile.TemporaryDirectory(prefix="sandbox-") as tmp:
        data_dir = opts.data_dir or (Path(tmp) if opts.size in BIG_SIZES else None)
        app = build_app(opts, data_dir)
        server = ServerThread(app, opts.host, opts.port)
        server.start()
        try:
            yield RunningSandbox(app, server)
        finally:
            server.stop()
            app.portal.close()


@contextmanager
def run_sandbox_process(
    *cli_args: str, token: str = DEFAULT_TOKEN, ready_timeout_s: float = 1_800
) -> Iterator[SandboxClient]:
    """Serve a sandbox from a separate Python process (`python -m sandbox <cli_args>`), e.g. for benchmarks that
    must measure the client's memory alone; stops it (SIGTERM) on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [sys.executable, "-m", "sandbox", "--port", str(port), "--token", token, *cli_args]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)  # noqa: S603 - our own interpreter and module
    client = SandboxClient(f"http://127.0.0.1:{port}", token)
    try:
        _wait_until_serving(client, process, ready_timeout_s)
        yield client
    finally:
        process.terminate()
        process.wait(timeout=60)


def _wait_until_serving(client: SandboxClient, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox process exited with code {process.returncode} before serving")
        try:
            client.summary()
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the sandbox did not serve within {timeout_s:.0f} s")
