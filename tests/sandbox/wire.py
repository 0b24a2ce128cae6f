"""Plain-HTTP helpers for sandbox tests: send a request, and deserialise a raw body through an SDK model.

hubspot-api-client 12 hard-codes the numbered paths, so date-versioned calls go over plain HTTP and their bodies
are then read through the same generated models the SDK would use.
"""

from __future__ import annotations

import importlib
import urllib.error
import urllib.request
from types import SimpleNamespace
from typing import Any

import orjson

from sandbox.harness import RunningSandbox


def call(sb: RunningSandbox, path: str, body: Any = None, method: str | None = None) -> tuple[int, Any]:
    """Send an authorised request; return the status and the decoded JSON body."""
    data = orjson.dumps(body) if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the local sandbox URL
        sb.base_url + path,
        data=data,
        method=method or ("POST" if data else "GET"),
        headers={"Authorization": f"Bearer {sb.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local sandbox URL
            return response.status, orjson.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, orjson.loads(err.read() or b"null")


def sdk_model(package: str, type_name: str, raw: Any) -> Any:
    """`raw` deserialised as the SDK does it, e.g. `sdk_model("hubspot.crm.objects", "SimplePublicObject", body)`."""
    api_client = importlib.import_module(package).ApiClient()
    return api_client.deserialize(SimpleNamespace(data=orjson.dumps(raw)), type_name)
