"""Helpers for sandbox tests: an SDK client on a sandbox, a plain-HTTP request, and checks that a raw body
deserialises through an SDK model without losing a key.

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
from hubspot import HubSpot

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


ANCHOR_MS = 1_790_000_000_000  # a fixed "now" for generated history: exports are comparable across runs


def make_client(sb: RunningSandbox, token: str | None = None) -> HubSpot:
    """A hubspot-api-client 12 client pointed at the sandbox."""
    return HubSpot(access_token=token or sb.token, host=sb.base_url)


def assert_lossless(model: Any, raw: Any, path: str = "$") -> None:
    """Every key of the raw JSON is an attribute of the SDK model (nothing dropped when deserialising)."""
    if isinstance(raw, list):
        for i, (m, r) in enumerate(zip(model, raw, strict=True)):
            assert_lossless(m, r, f"{path}[{i}]")
        return
    if not isinstance(raw, dict) or not hasattr(model, "attribute_map"):
        return
    by_json = {json_key: attr for attr, json_key in model.attribute_map.items()}
    for key, value in raw.items():
        assert key in by_json, f"{path}.{key} is not in {type(model).__name__}"
        inner = getattr(model, by_json[key])
        if isinstance(inner, dict):
            for k, v in value.items():
                assert_lossless(inner[k], v, f"{path}.{key}.{k}")
        else:
            assert_lossless(inner, value, f"{path}.{key}")
