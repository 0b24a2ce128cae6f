"""Point a peer's `requests` traffic at the sandbox: rewrite HubSpot's host at the transport layer.

Imported by the launchers, which run inside each peer's own virtualenv, so this file uses only the standard
library and `requests` (both peers depend on it). Nothing in the peers' installed files is changed: the
rewrite happens in `requests.adapters.HTTPAdapter.send`, below every session subclass (Airbyte's CDK uses a
`requests_cache.CachedSession`, the Singer tap a plain `requests.Session` and module-level `requests.post`).

Environment:
- `SANDBOX_URL` (required): the sandbox base URL, e.g. `http://127.0.0.1:8080`.
- `PEER_REQUEST_LOG` (optional): a file that gets one JSON line per request sent (method, path with query,
  status, seconds), used to list the endpoints a peer calls.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, SupportsIndex
from urllib.parse import urlsplit

import requests.adapters

HUBSPOT_HOSTS = (
    "https://api.hubapi.com",
    "http://api.hubapi.com",
    "https://api.hubspot.com",
    "https://api.hubapi.eu",
    "https://api-eu1.hubapi.com",
)


def install(sandbox_url: str | None = None, log_path: str | None = None) -> str:
    """Patch `HTTPAdapter.send` so HubSpot URLs go to the sandbox; return the sandbox URL in use."""
    base = (sandbox_url or os.environ["SANDBOX_URL"]).rstrip("/")
    log_file = log_path or os.environ.get("PEER_REQUEST_LOG")
    lock = threading.Lock()
    original = requests.adapters.HTTPAdapter.send

    def send(
        self: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        url = request.url or ""
        for host in HUBSPOT_HOSTS:
            if url.startswith(host + "/") or url == host:
                request.url = base + url[len(host) :]
                break
        started = time.monotonic()
        status: int | str = "error"
        try:
            response = original(self, request, *args, **kwargs)
            status = response.status_code
            return response
        finally:
            if log_file:
                parts = urlsplit(request.url or "")
                line = {
                    "m": request.method,
                    "p": parts.path,
                    "q": parts.query[:2000],
                    "s": status,
                    "t": round(time.monotonic() - started, 4),
                }
                with lock, open(log_file, "a", encoding="utf-8") as out:
                    out.write(json.dumps(line) + "\n")

    requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]
    return base


def scale_sleep(factor: float | None = None) -> float:
    """Multiply every `time.sleep` by `factor` (default `$PEER_TIME_SCALE`, 1.0 = unchanged); return it."""
    scale = factor if factor is not None else float(os.environ.get("PEER_TIME_SCALE") or 1.0)
    if scale != 1.0:
        original = time.sleep

        def sleep(seconds: float | SupportsIndex) -> None:
            original(max(0.0, float(seconds)) * scale)

        time.sleep = sleep
    return scale
