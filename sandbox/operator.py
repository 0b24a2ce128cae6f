"""The operator API under `/_sandbox/`: stats, faults, settings, simulated activity, bulk imports, ground-truth
export and a portal summary. No auth, never counted, never faulted."""

from __future__ import annotations

from typing import Any

import orjson

from sandbox.clock import iso, now_ms
from sandbox.context import Context
from sandbox.faults import FaultConfig
from sandbox.merge import merge_records
from sandbox.objtypes import STANDARD
from sandbox.records import render_full
from sandbox.routing import Request, Response, Router
from sandbox.simulate import bulk_import, simulate
from sandbox.validation import ValidationRules

EXPORT_PAGE = 2_000


def get_stats(ctx: Context, req: Request) -> Response:
    """Exact request counts by route template, status, object type, injected fault and API family.

    `by_family` counts "numbered" (v1-v4 paths) and "dated" (date-versioned) calls, `by_version` the dated ones per
    version, and `numbered_routes` each numbered call as "METHOD template" (or the raw path when unrouted).
    """
    return Response(200, ctx.stats.snapshot())


def reset_stats(ctx: Context, req: Request) -> Response:
    """Zero the counters."""
    ctx.stats.reset()
    return Response(200, ctx.stats.snapshot())


def get_faults(ctx: Context, req: Request) -> Response:
    """The fault configuration in force."""
    return Response(200, ctx.faults.config.to_json())


def put_faults(ctx: Context, req: Request) -> Response:
    """Replace the fault configuration (`{}` disables every fault)."""
    ctx.faults.configure(FaultConfig.from_json(req.json_object()))
    return Response(200, ctx.faults.config.to_json())


def get_validation(ctx: Context, req: Request) -> Response:
    """The write-validation rules in force on 2026-09 paths."""
    return Response(200, ctx.validation.to_json())


def put_validation(ctx: Context, req: Request) -> Response:
    """Replace the write-validation rules (`{}` clears them): `{"mode", "required": [...], "refuse": [...]}`."""
    ctx.validation = ValidationRules.from_json(req.json_object())
    return Response(200, ctx.validation.to_json())


def delete_validation(ctx: Context, req: Request) -> Response:
    """Clear the write-validation rules."""
    ctx.validation = ValidationRules()
    return Response(200, ctx.validation.to_json())


def settings_json(ctx: Context) -> dict[str, Any]:
    """Settings plus the daily counter and when it resets (the portal's midnight, UTC)."""
    return {
        **ctx.settings.to_json(),
        "daily_used": ctx.limiter.daily_used,
        "daily_limit_effective": ctx.settings.daily(),
        "daily_resets_at": iso(ctx.limiter.day_ends_ms),
    }


def get_settings(ctx: Context, req: Request) -> Response:
    """Current settings."""
    return Response(200, settings_json(ctx))


def put_settings(ctx: Context, req: Request) -> Response:
    """Change the given settings (others keep their value); `daily_used` sets today's call count."""
    changes = req.json_object()
    daily_used = changes.pop("daily_used", None)
    for derived in ("daily_limit_effective", "daily_resets_at"):
        changes.pop(derived, None)
    ctx.settings.update(changes)
    ctx.portal.index_lag_ms = ctx.settings.index_lag_ms
    if daily_used is not None:
        ctx.limiter.set_daily_used(int(daily_used))
    return Response(200, settings_json(ctx))


def post_simulate(ctx: Context, req: Request) -> Response:
    """Advance the portal by `minutes` of activity (`seed` makes the choice of records repeatable)."""
    body = req.json_object()
    return Response(200, simulate(ctx.portal, float(body.get("minutes", 60)), int(body.get("seed", 0))))


def post_bulk_import(ctx: Context, req: Request) -> Response:
    """Create or update `count` records of `object` sharing one modification timestamp."""
    body = req.json_object()
    return Response(
        200,
        bulk_import(
            ctx.portal,
            str(body.get("object", "contacts")),
            int(body.get("count", 1_000)),
            str(body.get("mode", "create")),
            int(body.get("seed", 0)),
        ),
    )


def post_merge(ctx: Context, req: Request) -> Response:
    """Merge record `merged` of `object` into `primary`, as a user merging duplicates does; answer the survivor."""
    body = req.json_object()
    ot = ctx.object_type(str(body.get("object", "contacts")))
    row = merge_records(ctx.portal, ot, int(body["primary"]), int(body["merged"]), now_ms())
    return Response(200, render_full(ot, row))


def export(ctx: Context, req: Request) -> Response:
    """Every record of a type, archived included, with all properties and its contact/deal associations.

    `?format=jsonl` gives JSON lines instead of one JSON list.
    """
    ot = ctx.portal.resolve(req.params["type"])
    if ot is None:
        raise ValueError(f"unknown object type '{req.params['type']}'")
    targets = [STANDARD[n] for n in ("contacts", "deals") if n != ot.name]
    lines: list[bytes] = []
    after = 0
    while True:
        rows = ctx.portal.query(
            f"SELECT id, created, updated, archived, archived_at, props FROM {ot.table}"
            " WHERE id >= ? ORDER BY id LIMIT ?",
            (after, EXPORT_PAGE),
        )
        if not rows:
            break
        ids = [r[0] for r in rows]
        links = {t.name: ctx.portal.associated(ot, ids, t) for t in targets}
        for row in rows:
            record = render_full(ot, row)
            record["associations"] = {name: [str(i) for i in linked.get(row[0], [])] for name, linked in links.items()}
            lines.append(orjson.dumps(record))
        after = rows[-1][0] + 1
    if req.q_str("format") == "jsonl":
        return Response(200, b"\n".join(lines) + (b"\n" if lines else b""))
    return Response(200, b"[" + b",".join(lines) + b"]")


def portal_summary(ctx: Context, req: Request) -> Response:
    """Counts per object type (live and archived), seed, size and generation time."""
    return Response(200, summary(ctx))


def summary(ctx: Context) -> dict[str, Any]:
    """The portal summary as a dict (also printed by the CLI)."""
    meta = ctx.portal.meta
    counts = {
        ot.name: {"live": ctx.portal.count(ot, False), "archived": ctx.portal.count(ot, True)}
        for ot in ctx.portal.types()
    }
    return {
        "seed": meta.seed,
        "size": meta.size,
        "anchor": iso(meta.anchor_ms),
        "generation_seconds": meta.generation_seconds,
        "storage": meta.path,
        "counts": counts,
        "owners": len(ctx.portal.directory.owners),
        "custom_objects": ctx.settings.custom_objects,
    }


def describe(ctx: Context, base_url: str) -> str:
    """A short human summary of what a sandbox serves (used by the CLI and the demo)."""
    info = summary(ctx)
    counts = ", ".join(
        f"{name} {c['live']:,}" + (f" (+{c['archived']:,} archived)" if c["archived"] else "")
        for name, c in info["counts"].items()
    )
    s = ctx.settings
    throttle = f"throttled ({s.tier}, time scale {s.time_scale})" if s.throttle else "unthrottled"
    return "\n".join(
        [
            f"HubSpot sandbox on {base_url}  (token: {ctx.options.token})",
            f"  portal: seed {info['seed']}, size {info['size']}, generated in {info['generation_seconds']} s,"
            f" history up to {info['anchor']}",
            f"  records: {counts}",
            f"  owners: {info['owners']}; search index lag {s.index_lag_ms} ms; {throttle};"
            f" custom objects {'on' if s.custom_objects else 'off'}",
            f"  operator API: {base_url}/_sandbox/stats | /faults | /settings | /simulate | /bulk-import"
            " | /validation | /merge | /export/{type} | /portal",
        ]
    )


def register(router: Router) -> None:
    """Add the operator routes."""
    router.add("GET", "/_sandbox/stats", get_stats, kind="operator")
    router.add("POST", "/_sandbox/stats/reset", reset_stats, kind="operator")
    router.add("GET", "/_sandbox/faults", get_faults, kind="operator")
    router.add("PUT", "/_sandbox/faults", put_faults, kind="operator")
    router.add("GET", "/_sandbox/validation", get_validation, kind="operator")
    router.add("PUT", "/_sandbox/validation", put_validation, kind="operator")
    router.add("DELETE", "/_sandbox/validation", delete_validation, kind="operator")
    router.add("GET", "/_sandbox/settings", get_settings, kind="operator")
    router.add("PUT", "/_sandbox/settings", put_settings, kind="operator")
    router.add("POST", "/_sandbox/simulate", post_simulate, kind="operator")
    router.add("POST", "/_sandbox/bulk-import", post_bulk_import, kind="operator")
    router.add("POST", "/_sandbox/merge", post_merge, kind="operator")
    router.add("GET", "/_sandbox/export/{type}", export, kind="operator")
    router.add("GET", "/_sandbox/portal", portal_summary, kind="operator")
