"""kpi-sync against Airbyte's source-hubspot 5.7.0 and Singer's tap-hubspot 4.5.0 on the same sandbox portal.

    .venv/bin/python bench/peer_bench.py [--size small|medium] [--runs 3] [--tools kpi-sync,airbyte,singer]

Installs the peers if needed (bench/peers/install.py), then for each run and tool, on a fresh sandbox of the same
seed: a full first sync, simulated activity, an incremental sync (both unthrottled), and a full sync under
Professional rate limits with the sandbox's time scale. Figures come from the sandbox's exact counters
(`/_sandbox/stats`, reset before each run), the tool's process tree (wall time, sampled peak RSS) and what the
tool delivered (RECORD messages for the peers, rows in the SQLite store for kpi-sync). Each figure is the median
of the runs; ratios are peer / kpi-sync. Then, once per tool, the stress cases: 25,000 records sharing one
modification timestamp, search-index lag, and records archived and re-associated between runs; records missed,
stale or duplicated are counted against `/_sandbox/export/{type}`. A tool that runs past its timeout is killed
and reported as such. Writes bench/results/peers.json and bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

from peer_tools import Airbyte, Delivery, KpiSync, ProcResult, Singer, Tool, to_ms

from sandbox import legacy
from sandbox.constants import SEARCH_PER_SECOND, TEN_SECONDS_MS, TIERS
from sandbox.harness import RunningSandbox, run_sandbox

ROOT = Path(__file__).resolve().parent.parent
RESULTS_JSON = ROOT / "bench" / "results" / "peers.json"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
WORK = ROOT / "bench" / ".cache" / "peer_bench"
DAY_MS = 86_400_000
STALE_TOLERANCE_MS = 1_000  # peers re-format timestamps; a missed change is minutes or more behind
TOOLS: dict[str, Callable[..., Tool]] = {"kpi-sync": KpiSync, "airbyte": Airbyte, "singer": Singer}
Metrics = dict[str, Any]


# -- sandbox ------------------------------------------------------------------------------------------------


@contextmanager
def sandbox(args: argparse.Namespace, **settings: Any) -> Iterator[RunningSandbox]:
    """A fresh sandbox of the benchmark's seed, size and anchor, with the legacy routes the peers call."""
    with run_sandbox(seed=args.seed, size=args.size, anchor_ms=args.anchor_ms, **settings) as sb:
        if not any(route.template == "/deals/v1/deal/paged" for route in sb.app.router.routes):
            legacy.register(sb.app.router)
        yield sb


def ground_truth(sb: RunningSandbox, types: tuple[str, ...]) -> dict[str, dict[str, dict[str, Any]]]:
    """Every record of the types (archived included), by id, with `updated` ms and contact ids."""
    truth: dict[str, dict[str, dict[str, Any]]] = {}
    for object_type in types:
        if object_type == "owners":
            truth["owners"] = {o["id"]: {"updated": None, "archived": o["archived"], "contacts": None}
                               for o in sb.portal.directory.owners}
            continue
        truth[object_type] = {r["id"]: {"updated": to_ms(r["updatedAt"]), "archived": r["archived"],
                                        "contacts": tuple(sorted(r["associations"].get("contacts", [])))}
                              for r in sb.export(object_type)}
    return truth


def start_date(sb: RunningSandbox) -> str:
    """One day before the oldest modification in the portal (owners included): every tool is asked for all."""
    oldest = min(to_ms(o["updatedAt"]) or 0 for o in sb.portal.directory.owners)
    for ot in sb.portal.types():
        row = sb.portal.query(f"SELECT MIN(updated) FROM {ot.table}")[0][0]
        if row is not None:
            oldest = min(oldest, int(row))
    day = (oldest - DAY_MS) // DAY_MS * DAY_MS
    return datetime.fromtimestamp(day / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- one measured run ---------------------------------------------------------------------------------------


def measured(sb: RunningSandbox, tool: Tool, run_name: str, timeout_s: float, *, time_scale: float = 1.0,
             extra: tuple[str, ...] = ()) -> tuple[ProcResult, Delivery, Metrics]:
    """Reset the sandbox counters, run the tool once, and read the counters back."""
    sb.reset_stats()
    result, delivery = tool.run(sb.base_url, run_name, timeout_s, time_scale, extra)
    stats = sb.stats()
    search = sum(sum(v.values()) for k, v in stats["by_route"].items() if k.endswith("/search"))
    counters = {"api_calls": stats["total"], "search_calls": search, "http_429": stats["by_status"].get("429", 0),
                "by_route": {k: sum(v.values()) for k, v in sorted(stats["by_route"].items())}}
    status = "timeout" if result.timed_out else "ok" if result.returncode == 0 else f"exit {result.returncode}"
    metrics = {"status": status, "wall_s": round(result.wall_s, 2), "peak_rss_mb": round(result.peak_rss_mb, 1),
               **counters, "errors": delivery.errors[:3], "command": result.command}
    print(f"  {tool.name} {run_name}: {status}, {stats['total']} calls, {result.wall_s:.1f} s, "
          f"{result.peak_rss_mb:.0f} MB", flush=True)
    return result, delivery, metrics


def coverage(tool: Tool, view: Delivery, truth: dict[str, dict[str, dict[str, Any]]],
             ids: dict[str, set[str]] | None = None) -> dict[str, dict[str, int]]:
    """Per type: live records in the portal (or in `ids`), how many the tool holds current, missed, stale."""
    out: dict[str, dict[str, int]] = {}
    for object_type in tool.types:
        if ids is not None and object_type not in ids:
            continue
        live = {rid for rid, t in truth.get(object_type, {}).items() if not t["archived"]}
        wanted = live & ids[object_type] if ids is not None else live
        held = view.records.get(object_type, {})
        missed = stale = 0
        for rid in wanted:
            rec = held.get(rid)
            if rec is None or rec.archived:
                missed += 1
            elif rec.updated is not None and truth[object_type][rid]["updated"] is not None and \
                    rec.updated < truth[object_type][rid]["updated"] - STALE_TOLERANCE_MS:
                stale += 1
        out[object_type] = {"portal": len(wanted), "held": len(wanted) - missed - stale, "missed": missed,
                            "stale": stale}
    return out


def duplicates(delivery: Delivery) -> int:
    """RECORD messages beyond one per id in a run (kpi-sync's store has one row per id: always 0)."""
    return delivery.duplicates


def totals(per_type: dict[str, dict[str, int]]) -> dict[str, int]:
    """Sum the per-type coverage figures."""
    keys = ("portal", "held", "missed", "stale")
    return {k: sum(v[k] for v in per_type.values()) for k in keys}


# -- the performance runs -----------------------------------------------------------------------------------


def changed_ids(summary: dict[str, Any]) -> dict[str, set[str]]:
    """Ids created or updated by a simulation, per type (archived ones excluded)."""
    out: dict[str, set[str]] = {}
    for section in ("created", "updated"):
        for object_type, ids in summary.get(section, {}).items():
            out.setdefault(object_type, set()).update(ids)
    for object_type, ids in summary.get("archived", {}).items():
        out.get(object_type, set()).difference_update(ids)
    return out


def full_and_incremental(args: argparse.Namespace, tool: Tool, run: int) -> dict[str, Metrics]:
    """A first full sync, simulated activity, then an incremental sync, unthrottled."""
    with sandbox(args, index_lag_ms=0) as sb:
        tool.begin()
        _, first, full = measured(sb, tool, f"run{run}-full", args.timeout)
        truth = ground_truth(sb, tool.types)
        full["coverage"] = coverage(tool, first, truth)
        full["records"] = totals(full["coverage"])
        full["duplicates"] = duplicates(first)
        summary = sb.simulate(minutes=args.minutes, seed=1_000 + run)
        changed = changed_ids(summary)
        _, second, inc = measured(sb, tool, f"run{run}-incremental", args.timeout)
        truth = ground_truth(sb, tool.types)
        inc["coverage"] = coverage(tool, first.merged(second), truth, {t: changed.get(t, set()) for t in tool.types
                                                                        if t != "owners"})
        inc["records"] = totals(inc["coverage"])
        inc["delivered_messages"] = sum(second.messages.values())
        inc["duplicates"] = duplicates(second)
    return {"full": full, "incremental": inc}


def throttled(args: argparse.Namespace, tool: Tool, run: int) -> Metrics:
    """A full sync under Professional rate limits with the sandbox's windows shrunk by `time_scale`."""
    with sandbox(args, index_lag_ms=0, throttle=True, tier="professional", time_scale=args.time_scale) as sb:
        tool.begin()
        _, _, metrics = measured(sb, tool, f"run{run}-throttled", args.timeout, time_scale=args.time_scale)
    burst = TIERS["professional"][0]
    general = metrics["api_calls"] - metrics["http_429"] - metrics["search_calls"]
    floor = max(general / burst * TEN_SECONDS_MS / 1000, metrics["search_calls"] / SEARCH_PER_SECOND)
    metrics["floor_s"] = round(floor * args.time_scale, 2)
    metrics["wall_over_floor"] = round(metrics["wall_s"] / metrics["floor_s"], 2) if metrics["floor_s"] else None
    return metrics


# -- stress cases -------------------------------------------------------------------------------------------


def stress_bulk(args: argparse.Namespace, tool: Tool) -> Metrics:
    """25,000 records imported at one millisecond between a full and an incremental sync."""
    with sandbox(args, index_lag_ms=0) as sb:
        tool.begin()
        _, first, _ = measured(sb, tool, "bulk-full", args.timeout)
        imported = sb.bulk_import(args.bulk_object, args.bulk_count)
        ids = {str(i) for i in range(int(imported["first_id"]), int(imported["last_id"]) + 1)}
        _, second, metrics = measured(sb, tool, "bulk-incremental", args.stress_timeout)
        truth = ground_truth(sb, tool.types)
    if args.bulk_object not in tool.types:
        return {**metrics, "note": f"{tool.name} does not sync {args.bulk_object}"}
    cover = coverage(tool, first.merged(second), truth, {args.bulk_object: ids & set(truth[args.bulk_object])})
    return {**metrics, "object": args.bulk_object, "imported": len(ids), **cover[args.bulk_object],
            "duplicates": duplicates(second)}


def stress_lag(args: argparse.Namespace, tool: Tool) -> Metrics:
    """Changes made just before an incremental sync, while search lags; a second incremental after the lag."""
    with sandbox(args, index_lag_ms=args.lag_ms) as sb:
        tool.begin()
        _, view, _ = measured(sb, tool, "lag-full", args.timeout)
        changed = changed_ids(sb.simulate(minutes=args.minutes, seed=77))
        _, second, first_inc = measured(sb, tool, "lag-incremental-1", args.timeout)
        view = view.merged(second)
        time.sleep(args.lag_ms / 1000 + 2)
        _, third, metrics = measured(sb, tool, "lag-incremental-2", args.timeout)
        view = view.merged(third)
        truth = ground_truth(sb, tool.types)
    cover = totals(coverage(tool, view, truth, {t: changed.get(t, set()) for t in tool.types if t != "owners"}))
    return {**metrics, "lag_ms": args.lag_ms, "status_first": first_inc["status"], **cover,
            "duplicates": duplicates(second) + duplicates(third)}


def stress_archive(args: argparse.Namespace, tool: Tool) -> Metrics:
    """Records archived and engagements re-associated between runs: does the tool's data reflect them?"""
    with sandbox(args, index_lag_ms=0) as sb:
        tool.begin()
        _, before, _ = measured(sb, tool, "archive-full", args.timeout)
        summary = sb.simulate(minutes=args.stress_minutes, seed=99)
        _, second, metrics = measured(sb, tool, "archive-incremental", args.timeout)
        view = before.merged(second)
        result = {**metrics, **caught(tool, before, view, summary, ground_truth(sb, tool.types))}
        if isinstance(tool, KpiSync):
            _, third, rec = measured(sb, tool, "archive-reconcile", args.timeout, extra=("--reconcile",))
            after = caught(tool, before, view.merged(third), summary, ground_truth(sb, tool.types))
            result["after_reconcile"] = {**after, "api_calls": rec["api_calls"], "wall_s": rec["wall_s"],
                                         "status": rec["status"], "command": rec["command"]}
    return result


def caught(tool: Tool, before: Delivery, view: Delivery, summary: dict[str, Any],
           truth: dict[str, dict[str, dict[str, Any]]]) -> Metrics:
    """Of the records the tool held after its full sync: archived ones it now holds as archived (or dropped), and
    re-associated engagements whose contact ids it now holds current."""
    held = before.records
    archived = [(t, rid) for t, ids in summary.get("archived", {}).items() if t in tool.types for rid in ids
                if rid in held.get(t, {})]
    gone = sum(1 for t, rid in archived if (rec := view.records.get(t, {}).get(rid)) is None or rec.archived)
    moved = [(t, rid) for t, ids in summary.get("reassociated", {}).items() if t in tool.types for rid in ids
             if rid in held.get(t, {})]
    current = sum(1 for t, rid in moved if (rec := view.records.get(t, {}).get(rid)) is not None
                  and rec.contacts == truth[t][rid]["contacts"])
    return {"archived": len(archived), "archived_caught": gone, "reassociated": len(moved),
            "reassociated_caught": current}


# -- orchestration ------------------------------------------------------------------------------------------


def median(values: list[Any]) -> Any:
    """Median of the numbers (None when there are none)."""
    numbers = [v for v in values if isinstance(v, int | float)]
    return round(statistics.median(numbers), 2) if numbers else None


def summarise(runs: list[Metrics]) -> Metrics:
    """Medians of the numeric figures over runs, the statuses, and the last run's details."""
    keys = ("wall_s", "peak_rss_mb", "api_calls", "search_calls", "http_429", "floor_s", "wall_over_floor",
            "duplicates", "delivered_messages")
    out: Metrics = {k: median([r.get(k) for r in runs]) for k in keys if any(k in r for r in runs)}
    out["statuses"] = [r["status"] for r in runs]
    for k in ("records", "coverage", "by_route", "errors", "command"):
        if runs and k in runs[-1]:
            out[k] = runs[-1][k]
    return out


def ratios(results: dict[str, Any], base: str = "kpi-sync") -> dict[str, Any]:
    """peer / kpi-sync for the main figures of each phase."""
    out: dict[str, Any] = {}
    if base not in results["tools"]:
        return out
    for name, tool in results["tools"].items():
        if name == base:
            continue
        per: dict[str, Any] = {}
        for phase in ("full", "incremental", "throttled"):
            mine, theirs = results["tools"][base].get(phase, {}), tool.get(phase, {})
            per[phase] = {k: round(theirs[k] / mine[k], 2) if mine.get(k) and theirs.get(k) is not None else None
                          for k in ("api_calls", "wall_s", "peak_rss_mb")}
        out[name] = per
    return out


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every phase for every tool; returns the results document."""
    names = [n.strip() for n in args.tools.split(",") if n.strip()]
    if any(n != "kpi-sync" for n in names):
        subprocess.run([sys.executable, str(ROOT / "bench" / "peers" / "install.py")], check=True)
    with sandbox(args, index_lag_ms=0) as sb:
        args.anchor_ms = sb.portal.meta.anchor_ms
        begin = start_date(sb)
        portal = sb.summary()
        tools = [TOOLS[n](WORK / n, sb.token, begin) for n in names]
        for tool in tools:
            tool.prepare(sb.base_url)
    results: dict[str, Any] = {
        "command": args.command_line, "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": args.size, "seed": args.seed, "runs": args.runs, "time_scale": args.time_scale,
        "simulated_minutes": args.minutes, "stress_minutes": args.stress_minutes, "start_date": begin,
        "portal": portal["counts"], "owners": portal["owners"], "tools": {}, "stress": {}}
    for tool in tools:
        print(f"{tool.name}: {tool.streams_note}", flush=True)
        pairs = [full_and_incremental(args, tool, run) for run in range(args.runs)]
        throttle = [throttled(args, tool, run) for run in range(args.runs)] if not args.skip_throttled else []
        results["tools"][tool.name] = {
            "streams": tool.streams_note, "full": summarise([p["full"] for p in pairs]),
            "incremental": summarise([p["incremental"] for p in pairs]),
            **({"throttled": summarise(throttle)} if throttle else {})}
        if not args.skip_stress:
            results["stress"][tool.name] = {"bulk": stress_bulk(args, tool), "lag": stress_lag(args, tool),
                                            "archive": stress_archive(args, tool)}
    results["ratios"] = ratios(results)
    return results


# -- report -------------------------------------------------------------------------------------------------


def fmt(value: Any, unit: str = "") -> str:
    """A table cell."""
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


def ratio_cell(results: dict[str, Any], name: str, phase: str, key: str) -> str:
    """`(1.23x)` after a peer's figure, when kpi-sync has one."""
    value = results.get("ratios", {}).get(name, {}).get(phase, {}).get(key)
    return f" ({value:.2f}x)" if value is not None else ""


def status_cell(metrics: Metrics) -> str:
    """The statuses of the runs, with the first error."""
    statuses = sorted(set(metrics.get("statuses", [])))
    errors = metrics.get("errors") or []
    text = "/".join(statuses)
    return f"{text}: {errors[0][:90]}" if errors and text != "ok" else text


def phase_table(results: dict[str, Any], phase: str) -> list[str]:
    """One markdown table of a phase's medians, peer figures followed by peer/kpi-sync ratios."""
    lines = ["| tool | status | API calls | wall s | peak MB | 429s | records held / in portal | missed | stale |"
             " duplicate msgs |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, tool in results["tools"].items():
        m = tool.get(phase)
        if not m:
            continue
        rec = m.get("records", {})
        lines.append(
            f"| {name} | {status_cell(m)} | {fmt(m.get('api_calls'))}{ratio_cell(results, name, phase, 'api_calls')}"
            f" | {fmt(m.get('wall_s'))}{ratio_cell(results, name, phase, 'wall_s')}"
            f" | {fmt(m.get('peak_rss_mb'))}{ratio_cell(results, name, phase, 'peak_rss_mb')}"
            f" | {fmt(m.get('http_429'))} | {fmt(rec.get('held'))} / {fmt(rec.get('portal'))}"
            f" | {fmt(rec.get('missed'))} | {fmt(rec.get('stale'))} | {fmt(m.get('duplicates'))} |")
    return lines


def throttled_table(results: dict[str, Any]) -> list[str]:
    """Wall time under rate limits against the floor (calls / allowed rate)."""
    lines = ["| tool | status | API calls | 429s | wall s | floor s | wall / floor |", "|---|---|---|---|---|---|---|"]
    for name, tool in results["tools"].items():
        m = tool.get("throttled")
        if m:
            lines.append(f"| {name} | {status_cell(m)} | {fmt(m.get('api_calls'))} | {fmt(m.get('http_429'))}"
                         f" | {fmt(m.get('wall_s'))}{ratio_cell(results, name, 'throttled', 'wall_s')}"
                         f" | {fmt(m.get('floor_s'))} | {fmt(m.get('wall_over_floor'))} |")
    return lines


def stress_table(results: dict[str, Any]) -> list[str]:
    """The stress cases side by side."""
    lines = ["| tool | bulk import: status, held / imported, duplicate msgs | index lag: missed + stale of changed"
             " | archived caught | re-associated caught |", "|---|---|---|---|---|"]
    for name, cases in results["stress"].items():
        bulk, lag, arch = cases["bulk"], cases["lag"], cases["archive"]
        bulk_cell = bulk.get("note") or (f"{bulk['status']}, {fmt(bulk.get('held'))} / {fmt(bulk.get('portal'))},"
                                         f" {fmt(bulk.get('duplicates'))}")
        arch_cell = f"{arch['archived_caught']} of {arch['archived']}"
        moved_cell = f"{arch['reassociated_caught']} of {arch['reassociated']}"
        after = arch.get("after_reconcile")
        if after:
            arch_cell += f" ({after['archived_caught']} after `sync --reconcile`)"
            moved_cell += f" ({after['reassociated_caught']} after `sync --reconcile`)"
        lines.append(f"| {name} | {bulk_cell} | {lag['missed'] + lag['stale']} of {lag['portal']} ({lag['status']})"
                     f" | {arch_cell} | {moved_cell} |")
    return lines


def write_markdown(results: dict[str, Any]) -> None:
    """bench/RESULTS.md from the results document."""
    counts = ", ".join(f"{k} {v['live']:,}" for k, v in results["portal"].items())
    out = ["# Peer benchmarks: kpi-sync, Airbyte source-hubspot 5.7.0, Singer tap-hubspot 4.5.0", "",
           "Produced by:", "", "```", results["command"], "```", "",
           f"Generated {results['generated_at']}. Portal: sandbox seed {results['seed']}, size {results['size']}"
           f" ({counts}; {results['owners']} owners). Start date given to the peers: {results['start_date']} (one day"
           " before the oldest record, so every tool is asked for the whole portal). Each figure is the median of"
           f" {results['runs']} run(s), each on a fresh sandbox; in brackets, peer / kpi-sync. API calls are the"
           " sandbox's exact counters. kpi-sync runs `kpi-sync sync` with write-back off (the peers only read).",
           "", "Streams: " + "; ".join(f"**{n}**: {t['streams']}" for n, t in results["tools"].items()), "",
           "## Full first sync (unthrottled)", "", *phase_table(results, "full"), "",
           f"## Incremental sync after {results['simulated_minutes']} simulated minutes (unthrottled)", "",
           "Records: the records the simulation created or updated (of the types each tool syncs).", "",
           *phase_table(results, "incremental"), ""]
    if any("throttled" in t for t in results["tools"].values()):
        out += [f"## Full sync under Professional rate limits (time scale {results['time_scale']})", "",
                "Floor: the time the calls need at the allowed rate (190 per 10 s window, search 5 per s, windows"
                " scaled). The peers' own sleeps are scaled by the same factor (`PEER_TIME_SCALE`).", "",
                *throttled_table(results), "", *throttle_note(results)]
    if results["stress"]:
        out += ["## Correctness under stress", "", stress_legend(results), "", *stress_table(results), ""]
    out += ["## Errors the tools reported", "", *error_lines(results), "", *NOTES]
    RESULTS_MD.write_text("\n".join(out) + "\n")


def throttle_note(results: dict[str, Any]) -> list[str]:
    """Say so when no tool was refused a call: the portal is too small for the limits to bite."""
    refused = [t["throttled"].get("http_429") for t in results["tools"].values() if "throttled" in t]
    if any(refused):
        return []
    return ["No tool received a 429: every full sync of this portal stays under 190 calls per window, so the"
            " throttled wall time is the unthrottled one (use `--size medium` to see the limits bite).", ""]


def stress_legend(results: dict[str, Any]) -> str:
    """What the stress columns mean, with the parameters used."""
    stress = next(iter(results["stress"].values()), {})
    bulk, lag = stress.get("bulk", {}), stress.get("lag", {})
    return (f"Bulk import: {bulk.get('imported', '?')} {bulk.get('object', '')} created at one millisecond after a full"
            " sync, then one incremental run (killed after the stress timeout: status `timeout`). Index lag: search"
            f" lags {lag.get('lag_ms', '?')} ms; activity is simulated just before an incremental run, and a second"
            " incremental runs after the lag; counted: changed records the tool does not hold current at the end."
            " Archived / re-associated: records archived and call->contact associations moved by"
            f" {results.get('stress_minutes', '?')} simulated minutes, counted among the records the tool held after"
            " its full sync; caught = the tool no longer holds the archived record as live / holds the new"
            " contact ids.")


def error_lines(results: dict[str, Any]) -> list[str]:
    """Distinct error messages per tool, from every phase and stress case."""
    lines = []
    for name in results["tools"]:
        phases = [results["tools"][name].get(p, {}) for p in ("full", "incremental", "throttled")]
        phases += list(results["stress"].get(name, {}).values())
        errors = sorted({e for m in phases for e in m.get("errors") or []})
        lines.append(f"- **{name}**: " + ("; ".join(f"`{e[:200]}`" for e in errors) if errors else "none"))
    return lines


NOTES = [
    "## How it was measured", "",
    "- Peers run through `bench/peers/launch_*.py` in their own virtualenvs (`bench/peers/install.py`); HubSpot"
    " URLs are rewritten to the sandbox in `requests`' transport, the connectors' files are untouched."
    " `bench/peers/ENDPOINTS.md` lists every endpoint they call; `sandbox/legacy.py` serves the legacy ones from"
    " the same portal data.",
    "- Peak memory: the tool's process tree RSS, sampled every 20 ms.",
    "- Throttled runs: the sandbox enforces Professional limits with windows scaled by the time scale; the peers'"
    " own sleeps (their retry backoff) are scaled by the same factor. kpi-sync's client-side limiter is not scaled.",
    "- Records: peers count distinct ids in their RECORD messages, kpi-sync rows in its SQLite store; missed ="
    " not delivered, stale = delivered with an older modification time than the portal's.",
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("small", "medium"), default="small")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tools", default="kpi-sync,airbyte,singer")
    parser.add_argument("--minutes", type=float, default=60, help="simulated activity before the incremental run")
    parser.add_argument("--time-scale", type=float, default=None,
                        help="rate-limit window scale for throttled runs (default: 1 for small, 0.1 for medium)")
    parser.add_argument("--timeout", type=float, default=1_800, help="seconds before a sync run is killed")
    parser.add_argument("--stress-timeout", type=float, default=900, help="seconds for the bulk-import run")
    parser.add_argument("--bulk-object", default="calls")
    parser.add_argument("--bulk-count", type=int, default=25_000)
    parser.add_argument("--lag-ms", type=int, default=90_000, help="search-index lag in the lag stress case")
    parser.add_argument("--stress-minutes", type=float, default=600, help="simulated minutes for archive stress")
    parser.add_argument("--skip-throttled", action="store_true")
    parser.add_argument("--skip-stress", action="store_true")
    args = parser.parse_args(argv)
    args.anchor_ms = None
    if args.time_scale is None:
        args.time_scale = 1.0 if args.size == "small" else 0.1
    args.command_line = ".venv/bin/python bench/peer_bench.py " + shlex.join(argv)
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the tables, write the JSON and markdown results."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    results = run_all(args)
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(results, indent=1) + "\n")
    write_markdown(results)
    print(RESULTS_MD.read_text())


if __name__ == "__main__":
    main()
