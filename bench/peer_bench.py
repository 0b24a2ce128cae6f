"""kpi-sync against Airbyte's source-hubspot 5.7.0 and Singer's tap-hubspot 4.5.0 on the same sandbox portal.

    .venv/bin/python bench/peer_bench.py [--size small|medium] [--contacts N] [--runs 3]
        [--tools kpi-sync,airbyte,singer] [--phases full,incremental,throttled,stress] [--merge]
    .venv/bin/python bench/peer_bench.py --report      # only rebuild bench/RESULTS.md from bench/results/

Installs the peers if needed (bench/peers/install.py), then for each run and tool, on a fresh sandbox of the same
seed: a full first sync, simulated activity, an incremental sync (both unthrottled), and a full sync under
Professional rate limits with the sandbox's time scale. Figures come from the sandbox's exact counters
(`/_sandbox/stats`, reset before each run), the tool's process tree (wall time, sampled peak RSS, the moment of
its last API call) and what the tool delivered (RECORD messages for the peers, rows in the SQLite store for
kpi-sync); calls per stream come from the peers' request logs and kpi-sync's run history. Each figure is the
median of the runs; ratios are peer / kpi-sync. Then, once per tool, the stress cases: 25,000 records sharing
one modification timestamp, search-index lag, and records archived and re-associated between runs; records
missed, stale or duplicated are counted against `/_sandbox/export/{type}`. A tool that runs past its timeout is
killed and reported as such. Writes bench/results/peers-<portal>.json (`--merge` updates the named tools in an
existing file; with `--add-runs` too, the phases run keep their stored runs and the medians are taken over the
stored and the new runs) and rebuilds bench/RESULTS.md from every results file (bench/peers/report.py).
"""

from __future__ import annotations

import argparse
import json
import math
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

from peer_tools import Airbyte, Delivery, KpiSync, KpiSyncAtLimit, ProcResult, Singer, Tool, to_ms
from report import write_report

from sandbox.constants import SEARCH_PER_SECOND, TEN_SECONDS_MS, TIERS
from sandbox.harness import RunningSandbox, run_sandbox

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
WORK = ROOT / "bench" / ".cache" / "peer_bench"
DAY_MS = 86_400_000
STALE_TOLERANCE_MS = 1_000  # peers re-format timestamps; a missed change is minutes or more behind
TOOLS: dict[str, Callable[..., Tool]] = {
    "kpi-sync": KpiSync,
    "kpi-sync-190": KpiSyncAtLimit,
    "airbyte": Airbyte,
    "singer": Singer,
}
PHASES = ("full", "incremental", "seeded", "throttled", "stress")
Metrics = dict[str, Any]


# -- sandbox ------------------------------------------------------------------------------------------------


@contextmanager
def sandbox(args: argparse.Namespace, **settings: Any) -> Iterator[RunningSandbox]:
    """A fresh sandbox of the benchmark's seed, size and anchor (it serves the legacy routes the peers call)."""
    with run_sandbox(
        seed=args.seed, size=args.size, contacts=args.contacts, anchor_ms=args.anchor_ms, **settings
    ) as sb:
        yield sb


def ground_truth(sb: RunningSandbox, types: tuple[str, ...]) -> dict[str, dict[str, dict[str, Any]]]:
    """Every record of the types (archived included), by id, with `updated` ms and contact ids."""
    truth: dict[str, dict[str, dict[str, Any]]] = {}
    for object_type in types:
        if object_type == "owners":
            truth["owners"] = {
                o["id"]: {"updated": None, "archived": o["archived"], "contacts": None}
                for o in sb.portal.directory.owners
            }
            continue
        truth[object_type] = {
            r["id"]: {
                "updated": to_ms(r["updatedAt"]),
                "archived": r["archived"],
                "contacts": tuple(sorted(r["associations"].get("contacts", []))),
            }
            for r in sb.export(object_type)
        }
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


def measured(
    sb: RunningSandbox,
    tool: Tool,
    run_name: str,
    timeout_s: float,
    *,
    time_scale: float = 1.0,
    extra: tuple[str, ...] = (),
) -> tuple[ProcResult, Delivery, Metrics]:
    """Reset the sandbox counters, run the tool once, and read the counters back."""
    sb.reset_stats()
    result, delivery = tool.run(sb.base_url, run_name, timeout_s, time_scale, extra, probe=lambda: sb.app.stats.total)
    stats = sb.stats()
    status = "timeout" if result.timed_out else "ok" if result.returncode == 0 else f"exit {result.returncode}"
    metrics = {
        "status": status,
        "wall_s": round(result.wall_s, 2),
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "last_call_s": round(result.last_call_s, 2) if result.last_call_s is not None else None,
        **counters(stats),
        "calls_by_stream": tool.calls_by_stream(run_name),
        "errors": delivery.errors[:3],
        "command": result.command,
    }
    if isinstance(tool, KpiSync):
        counts = tool.last_run_counts()
        metrics["limiter_wait_s"] = counts.get("rate_limit_wait_s")
        metrics["retries"] = counts.get("api", {}).get("retries")
    print(
        f"  {tool.name} {run_name}: {status}, {stats['total']} calls, {result.wall_s:.1f} s, "
        f"{result.peak_rss_mb:.0f} MB",
        flush=True,
    )
    return result, delivery, metrics


def counters(stats: dict[str, Any]) -> Metrics:
    """Calls, search calls, 429s, and the calls the sandbox accepted (not 429) in the general and search windows."""
    routes: dict[str, dict[str, int]] = stats["by_route"]
    search = {k: v for k, v in routes.items() if k.endswith("/search")}
    refused = stats["by_status"].get("429", 0)
    search_ok = sum(n for v in search.values() for code, n in v.items() if code != "429")
    return {
        "api_calls": stats["total"],
        "search_calls": sum(sum(v.values()) for v in search.values()),
        "http_429": refused,
        "general_ok": stats["total"] - refused - search_ok,
        "search_ok": search_ok,
        "by_route": {k: sum(v.values()) for k, v in sorted(routes.items())},
    }


def coverage(
    tool: Tool, view: Delivery, truth: dict[str, dict[str, dict[str, Any]]], ids: dict[str, set[str]] | None = None
) -> dict[str, dict[str, int]]:
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
            elif (
                rec.updated is not None
                and truth[object_type][rid]["updated"] is not None
                and rec.updated < truth[object_type][rid]["updated"] - STALE_TOLERANCE_MS
            ):
                stale += 1
        out[object_type] = {
            "portal": len(wanted),
            "held": len(wanted) - missed - stale,
            "missed": missed,
            "stale": stale,
        }
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
    """A first full sync, then (unless skipped) simulated activity and an incremental sync, unthrottled."""
    with sandbox(args, index_lag_ms=0) as sb:
        tool.begin()
        _, first, full = measured(sb, tool, f"run{run}-full", args.timeout)
        truth = ground_truth(sb, tool.types)
        full["coverage"] = coverage(tool, first, truth)
        full["records"] = totals(full["coverage"])
        full["duplicates"] = duplicates(first)
        if "incremental" not in args.phases:
            return {"full": full}
        summary = sb.simulate(minutes=args.minutes, seed=1_000 + run)
        changed = changed_ids(summary)
        _, second, inc = measured(sb, tool, f"run{run}-incremental", args.timeout)
        truth = ground_truth(sb, tool.types)
        inc["coverage"] = coverage(
            tool, first.merged(second), truth, {t: changed.get(t, set()) for t in tool.types if t != "owners"}
        )
        inc["records"] = totals(inc["coverage"])
        inc["changed_in_portal"] = {t: len(ids) for t, ids in sorted(changed.items())}
        inc["delivered_messages"] = sum(second.messages.values())
        inc["duplicates"] = duplicates(second)
    return {"full": full, "incremental": inc}


def seeded_incremental(args: argparse.Namespace, tool: Tool, run: int) -> Metrics:
    """The incremental run of `full_and_incremental` (same portal, same simulated changes) for a tool whose full
    sync of the portal does not finish in time: it starts from a state whose cursor is the moment before the
    activity, as if its full sync had just ended."""
    with sandbox(args, index_lag_ms=0) as sb:
        tool.begin()
        tool.seed_state(time.time_ns() // 1_000_000)
        changed = changed_ids(sb.simulate(minutes=args.minutes, seed=1_000 + run))
        _, second, inc = measured(sb, tool, f"run{run}-seeded-incremental", args.timeout)
        truth = ground_truth(sb, tool.types)
        inc["coverage"] = coverage(tool, second, truth, {t: changed.get(t, set()) for t in tool.types if t != "owners"})
        inc["records"] = totals(inc["coverage"])
        inc["changed_in_portal"] = {t: len(ids) for t, ids in sorted(changed.items())}
        inc["delivered_messages"] = sum(second.messages.values())
        inc["duplicates"] = duplicates(second)
    return inc


def throttled(args: argparse.Namespace, tool: Tool, run: int) -> Metrics:
    """A full sync under Professional rate limits with the sandbox's windows scaled by `time_scale`, against the
    floor: the accepted calls at the allowed rate (190 per 10 s window, search 5 per s, both windows scaled)."""
    with sandbox(args, index_lag_ms=0, throttle=True, tier="professional", time_scale=args.time_scale) as sb:
        tool.begin()
        _, _, metrics = measured(sb, tool, f"run{run}-throttled", args.timeout, time_scale=args.time_scale)
    burst = TIERS["professional"][0]
    floor = max(metrics["general_ok"] / burst * TEN_SECONDS_MS / 1000, metrics["search_ok"] / SEARCH_PER_SECOND)
    metrics["floor_s"] = round(floor * args.time_scale, 2)
    # A run that starts on an empty window sends its first 190 calls at once: it needs one window fewer.
    general_min = max(math.ceil(metrics["general_ok"] / burst) - 1, 0) * TEN_SECONDS_MS / 1000
    search_min = max(math.ceil(metrics["search_ok"] / SEARCH_PER_SECOND) - 1, 0) * 1.0
    metrics["strict_min_s"] = round(max(general_min, search_min) * args.time_scale, 2)
    for key, figure in (("wall_over_floor", "wall_s"), ("last_call_over_floor", "last_call_s")):
        value = metrics.get(figure)
        metrics[key] = round(value / metrics["floor_s"], 3) if metrics["floor_s"] and value is not None else None
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
    return {
        **metrics,
        "object": args.bulk_object,
        "imported": len(ids),
        **cover[args.bulk_object],
        "duplicates": duplicates(second),
    }


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
    return {
        **metrics,
        "lag_ms": args.lag_ms,
        "status_first": first_inc["status"],
        **cover,
        "duplicates": duplicates(second) + duplicates(third),
    }


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
            result["after_reconcile"] = {
                **after,
                "api_calls": rec["api_calls"],
                "wall_s": rec["wall_s"],
                "status": rec["status"],
                "command": rec["command"],
            }
    return result


def caught(
    tool: Tool, before: Delivery, view: Delivery, summary: dict[str, Any], truth: dict[str, dict[str, dict[str, Any]]]
) -> Metrics:
    """Of the records the tool held after its full sync: archived ones it now holds as archived (or dropped), and
    re-associated engagements whose contact ids it now holds current."""
    held = before.records
    archived = [
        (t, rid)
        for t, ids in summary.get("archived", {}).items()
        if t in tool.types
        for rid in ids
        if rid in held.get(t, {})
    ]
    gone = sum(1 for t, rid in archived if (rec := view.records.get(t, {}).get(rid)) is None or rec.archived)
    moved = [
        (t, rid)
        for t, ids in summary.get("reassociated", {}).items()
        if t in tool.types
        for rid in ids
        if rid in held.get(t, {})
    ]
    current = sum(
        1
        for t, rid in moved
        if (rec := view.records.get(t, {}).get(rid)) is not None and rec.contacts == truth[t][rid]["contacts"]
    )
    return {
        "archived": len(archived),
        "archived_caught": gone,
        "reassociated": len(moved),
        "reassociated_caught": current,
    }


# -- orchestration ------------------------------------------------------------------------------------------


def median(values: list[Any]) -> Any:
    """Median of the numbers (None when there are none)."""
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return round(statistics.median(numbers), 3) if numbers else None


MEDIAN_KEYS = (
    "wall_s",
    "last_call_s",
    "peak_rss_mb",
    "api_calls",
    "search_calls",
    "http_429",
    "general_ok",
    "search_ok",
    "floor_s",
    "strict_min_s",
    "wall_over_floor",
    "last_call_over_floor",
    "duplicates",
    "delivered_messages",
    "limiter_wait_s",
    "retries",
)


RUN_KEYS = ("status", "measured_at", "bench_command", *MEDIAN_KEYS, "calls_by_stream")  # what a phase keeps of each run


def summarise(runs: list[Metrics]) -> Metrics:
    """Medians of the numeric figures (and of calls per stream) over runs, the statuses, each run's figures, the
    last run's details."""
    out: Metrics = {k: median([r.get(k) for r in runs]) for k in MEDIAN_KEYS if any(k in r for r in runs)}
    out["statuses"] = [r["status"] for r in runs]
    streams = sorted({s for r in runs for s in r.get("calls_by_stream", {})})
    out["calls_by_stream"] = {s: median([r.get("calls_by_stream", {}).get(s, 0) for r in runs]) for s in streams}
    out["runs"] = [{k: r[k] for k in RUN_KEYS if k in r} for r in runs]
    for k in ("records", "coverage", "changed_in_portal", "by_route", "errors", "command"):
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
            per[phase] = {
                k: round(theirs[k] / mine[k], 2) if mine.get(k) and theirs.get(k) is not None else None
                for k in ("api_calls", "wall_s", "peak_rss_mb")
            }
        out[name] = per
    return out


def stored_runs(phase: Metrics) -> list[Metrics]:
    """The runs of a stored phase, to add new runs to. Files written before each run's figures were kept hold only
    a few per run; a phase of one run has them all in its summary (the median of one run is that run)."""
    runs: list[Metrics] = phase.get("runs", [])
    figures = [k for k in MEDIAN_KEYS if k in phase]
    if len(runs) == 1 and any(k not in runs[0] for k in figures):
        return [
            {
                "status": runs[0]["status"],
                "measured_at": phase.get("measured_at"),
                "bench_command": phase.get("bench_command"),
                **{k: phase[k] for k in figures},
                "calls_by_stream": phase.get("calls_by_stream", {}),
            }
        ]
    if missing := sorted({k for r in runs for k in figures if k not in r}):
        raise SystemExit(f"--add-runs: the stored runs lack {', '.join(missing)}; re-run the phase instead")
    return runs


def new_runs(args: argparse.Namespace, before: list[Metrics], measure: Callable[[int], Any]) -> list[Any]:
    """`args.runs` runs of `measure`, numbered after the `before` runs kept (a run's number seeds its simulated
    activity), each stamped with the time it ended and the command."""
    out = []
    for run in range(len(before), len(before) + args.runs):
        result = measure(run)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for metrics in result.values() if "status" not in result else [result]:
            metrics.update({"measured_at": stamp, "bench_command": args.command_line})
        out.append(result)
    return out


def run_tool(args: argparse.Namespace, tool: Tool, stored: Metrics) -> tuple[Metrics, Metrics | None]:
    """Every asked phase for one tool (with `--add-runs`, after the runs `stored` holds of those phases): (its
    performance figures, its stress figures or None)."""
    print(f"{tool.name}: {tool.streams_note}", flush=True)
    figures: Metrics = {"streams": tool.streams_note}

    def kept(phase: str) -> list[Metrics]:
        return stored_runs(stored[phase]) if args.add_runs and phase in stored else []

    if "full" in args.phases:
        old = {"full": kept("full"), "incremental": kept("incremental") if "incremental" in args.phases else []}
        if old["incremental"] and len(old["incremental"]) != len(old["full"]):
            raise SystemExit("--add-runs: the stored full and incremental runs differ in number")
        pairs = new_runs(args, old["full"], lambda run: full_and_incremental(args, tool, run))
        figures["full"] = summarise(old["full"] + [p["full"] for p in pairs])
        if "incremental" in args.phases:
            figures["incremental"] = summarise(old["incremental"] + [p["incremental"] for p in pairs])
    if "seeded" in args.phases:
        old_seeded = kept("incremental")
        runs = new_runs(args, old_seeded, lambda run: seeded_incremental(args, tool, run))
        figures["incremental"] = summarise(old_seeded + runs)
        figures["incremental"]["seeded_state"] = True
    if "throttled" in args.phases:
        old_throttled = kept("throttled")
        runs = new_runs(args, old_throttled, lambda run: throttled(args, tool, run))
        figures["throttled"] = summarise(old_throttled + runs)
    for phase in ("full", "incremental", "throttled"):
        if phase in figures:
            figures[phase].update(
                {
                    "bench_command": args.command_line,
                    "timeout_s": args.timeout,
                    "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
    if "stress" not in args.phases:
        return figures, None
    return figures, {
        "bulk": stress_bulk(args, tool),
        "lag": stress_lag(args, tool),
        "archive": stress_archive(args, tool),
    }


def run_all(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """Every phase for every tool, into `results` (a fresh document, or the one being merged into)."""
    names = [n.strip() for n in args.tools.split(",") if n.strip()]
    if any(not n.startswith("kpi-sync") for n in names):
        subprocess.run([sys.executable, str(ROOT / "bench" / "peers" / "install.py")], check=True)
    with sandbox(args, index_lag_ms=0) as sb:
        args.anchor_ms = sb.portal.meta.anchor_ms
        begin = start_date(sb)
        portal = sb.summary()
        tools = [TOOLS[n](WORK / n, sb.token, begin) for n in names]
        for tool in tools:
            tool.prepare(sb.base_url)
    results.update(
        {
            "label": args.label,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "size": args.size,
            "contacts": args.contacts,
            "seed": args.seed,
            "start_date": begin,
            "portal": portal["counts"],
            "owners": portal["owners"],
        }
    )
    # Parameters of the phases that ran (a merge keeps those of the phases it did not run).
    for phases, key, value in (
        ({"incremental", "seeded"}, "simulated_minutes", args.minutes),
        ({"throttled"}, "time_scale", args.time_scale),
        ({"stress"}, "stress_minutes", args.stress_minutes),
    ):
        if phases & args.phases or key not in results:
            results[key] = value
    results.setdefault("tools", {})
    results.setdefault("stress", {})
    results.setdefault("commands", [])
    if args.command_line not in results["commands"]:
        results["commands"].append(args.command_line)
    for tool in tools:
        figures, stress = run_tool(args, tool, results["tools"].get(tool.name, {}))
        results["tools"].setdefault(tool.name, {}).update(figures)  # a merge replaces only the phases it ran
        if stress is not None:
            results["stress"][tool.name] = stress
        results["ratios"] = ratios(results)
        save(args, results)  # after every tool: a long run keeps what it measured if it is stopped
    return results


def save(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Write the results document."""
    path = RESULTS_DIR / f"peers-{args.label}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("small", "medium"), default="small")
    parser.add_argument("--contacts", type=int, default=None, help="contacts in the portal (engagements scale along)")
    parser.add_argument("--label", default=None, help="results file name: peers-<label>.json (default: the portal)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tools", default="kpi-sync,airbyte,singer", help=f"any of {', '.join(TOOLS)}")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"any of {', '.join(PHASES)}")
    parser.add_argument("--merge", action="store_true", help="update these tools in an existing results file")
    parser.add_argument(
        "--add-runs",
        action="store_true",
        help="with --merge: keep the stored runs of the phases run, medians over stored and new",
    )
    parser.add_argument("--report", action="store_true", help="only rebuild bench/RESULTS.md from bench/results/")
    parser.add_argument("--minutes", type=float, default=60, help="simulated activity before the incremental run")
    parser.add_argument("--time-scale", type=float, default=1.0, help="rate-limit window scale for throttled runs")
    parser.add_argument("--timeout", type=float, default=1_800, help="seconds before a sync run is killed")
    parser.add_argument("--stress-timeout", type=float, default=900, help="seconds for the bulk-import run")
    parser.add_argument("--bulk-object", default="calls")
    parser.add_argument("--bulk-count", type=int, default=25_000)
    parser.add_argument("--lag-ms", type=int, default=90_000, help="search-index lag in the lag stress case")
    parser.add_argument("--stress-minutes", type=float, default=600, help="simulated minutes for archive stress")
    args = parser.parse_args(argv)
    args.anchor_ms = None
    args.phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if unknown := args.phases - set(PHASES):
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if args.add_runs and not args.merge:
        parser.error("--add-runs needs --merge")
    if args.label is None:
        args.label = f"{args.contacts}-contacts" if args.contacts else args.size
    args.command_line = ".venv/bin/python bench/peer_bench.py " + shlex.join(argv)
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, write its JSON, rebuild and print bench/RESULTS.md."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.report:
        path = RESULTS_DIR / f"peers-{args.label}.json"
        results = json.loads(path.read_text()) if args.merge and path.exists() else {}
        run_all(args, results)
    print(write_report(RESULTS_DIR))


if __name__ == "__main__":
    main()
