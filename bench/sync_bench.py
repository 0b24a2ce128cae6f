"""API calls, speed and memory of kpi-sync's pull against the sandbox, and write calls against their minimum.

    .venv/bin/python bench/sync_bench.py --size small            # or medium, or --contacts 5000
    .venv/bin/python bench/sync_bench.py --size small --latency-ms 150 --runs 3 [--in-flight 4]

With `--latency-ms` the sandbox answers every call after a log-normal delay of that mean (p99 about 4x) and enforces
Professional limits (190 calls per 10 s, 5 searches per second); kpi-sync runs with its defaults (190 per 10 s,
`HUBSPOT_MAX_IN_FLIGHT`, here `--in-flight`). Each run, on a fresh portal, times the first full sync's pull, its
first full write-back and a reconcile, each as a ratio to its rate-limit floor (its calls / 19 per second), and
counts the 429s; medians of the runs are printed and written to bench/results/latency-<size>-<ms>ms-<n>.json.

The sandbox runs in its own process (unthrottled; kpi-sync's own limiter still keeps 250 calls per 10 s), so
the peak memory printed is kpi-sync's alone. Prints the figures and writes bench/results/sync-<size>.json, with
when it was measured and on which commit.
The floor of a full sync is the sum over objects of
ceil(live records / 100) list pages, plus owners (2 pages) and pipelines (1); association reads are counted apart.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.harness import run_sandbox_process
from service.settings import load_settings
from storage.engine import open_store
from sync.cycle import CycleOptions, run_cycle
from sync.hubspot.constants import OBJECT_TYPES


def _calls(stats: dict[str, object], needle: str) -> int:
    routes = stats["by_route"]
    assert isinstance(routes, dict)
    return sum(sum(v.values()) for k, v in routes.items() if needle in k)


BENCH_TOKEN = "bench-token-123"  # noqa: S105 - the sandbox's throwaway token


def _sandbox_args(args: argparse.Namespace, tmp: str) -> list[str]:
    cli = ["--seed", "42", "--size", args.size, "--index-lag-ms", "0", "--data-dir", f"{tmp}/portal"]
    return [*cli, "--contacts", str(args.contacts)] if args.contacts else cli


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="small")
    parser.add_argument("--contacts", type=int, default=None)
    parser.add_argument(
        "--latency-ms", type=int, default=None, help="mean latency of every answer (Professional limits)"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of the latency benchmark (medians printed)")
    parser.add_argument("--in-flight", type=int, default=4, help="HUBSPOT_MAX_IN_FLIGHT of the latency benchmark")
    parser.add_argument(
        "--no-reconcile", action="store_true", help="latency benchmark: the first full sync and write-back only"
    )
    args = parser.parse_args()
    if args.latency_ms is not None:
        latency_main(args)
        return
    with tempfile.TemporaryDirectory() as tmp, run_sandbox_process(*_sandbox_args(args, tmp), token=BENCH_TOKEN) as sb:
        counts = sb.summary()["counts"]
        live = {o: counts[o]["live"] for o in OBJECT_TYPES}
        floor = sum(math.ceil(n / 100) for n in live.values()) + 3
        settings = load_settings(
            hubspot_access_token=sb.token,
            hubspot_base_url=sb.base_url,
            database_url=f"sqlite:///{tmp}/bench.db",
            hubspot_rate_limit_per_10s=250,
            hubspot_search_per_second=10,
            sync_overlap_seconds=2,
            log_level="warning",
        )
        engine = open_store(settings.database_url)
        sb.reset_stats()
        started = time.perf_counter()
        first = run_cycle(engine, settings.cycle_config(), CycleOptions(trigger="bench"))
        full_s = time.perf_counter() - started
        full_rss = _rss_mb()
        stats = sb.stats()
        pull_calls = _calls(stats, "GET /crm/objects/") + _calls(stats, "owners") + _calls(stats, "pipelines")
        assoc_calls = _calls(stats, "/crm/associations/")
        write_calls = first.counts.push.write_calls
        written = first.counts.push.contacts_written
        time.sleep(2.5)
        run_cycle(engine, settings.cycle_config(), CycleOptions(trigger="bench"))  # reads our own writes back
        time.sleep(2.5)
        sb.reset_stats()
        quiet = run_cycle(engine, settings.cycle_config(), CycleOptions(trigger="bench"))
        quiet_calls = sb.stats()["total"]
        sim = sb.simulate(minutes=60, seed=5)
        changed = sum(len(v) for v in sim["updated"].values()) + sum(len(v) for v in sim["created"].values())
        time.sleep(2.5)
        sb.reset_stats()
        inc = run_cycle(engine, settings.cycle_config(), CycleOptions(trigger="bench"))
        inc_stats = sb.stats()
        figures = {
            "portal": live,
            "full_sync": {
                "pull_list_calls": pull_calls,
                "floor": floor,
                "ratio": round(pull_calls / floor, 3),
                "association_reads": assoc_calls,
                "seconds": round(full_s, 1),
                "records_per_second": round(sum(live.values()) / full_s),
                "rate_limit_floor_seconds": round(stats["total"] / 25, 1),
                "peak_rss_mb": full_rss,
                "phases": first.counts.to_json()["phases"],
                "write_calls": write_calls,
                "write_minimum": math.ceil(written / 100),
            },
            "quiet_incremental": {"api_calls": quiet_calls, "write_calls": quiet.counts.push.write_calls},
            "incremental_after_60_min": {
                "records_changed_in_portal": changed,
                "api_calls": inc_stats["total"],
                "search_calls": _calls(inc_stats, "/search"),
                "association_reads": _calls(inc_stats, "/crm/associations/"),
                "write_calls": inc.counts.push.write_calls,
                "write_minimum": math.ceil(inc.counts.push.contacts_written / 100),
            },
            "peak_rss_mb": _rss_mb(),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": _commit(),
        }
    print(json.dumps(figures, indent=2))
    out = Path("bench/results") / f"sync-{args.contacts or args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


PROFESSIONAL_PER_S = 19  # 190 calls per 10 s: the rate-limit floor of a general call
# A list pass's own calls: its pages, owners and pipelines, association reads, and the one-record searches that cut a
# first load's large types into id ranges (the write-back sends no search).
PULL_ROUTES = ("GET /crm/objects/", "owners", "pipelines", "/crm/associations/", "/search")


def latency_main(args: argparse.Namespace) -> None:
    """Time the first full sync, its write-back and a reconcile against a slow, throttled sandbox (see the module's
    docstring); print and store the medians of `args.runs` runs."""
    runs = [_latency_run(args) for _ in range(args.runs)]
    figures: dict[str, Any] = {
        "size": args.contacts or args.size,
        "latency_ms": args.latency_ms,
        "in_flight": args.in_flight,
        "runs": runs,
    }
    for phase in ("full_pull", "write_back") if args.no_reconcile else ("full_pull", "write_back", "reconcile"):
        figures[phase] = {
            key: statistics.median(float(run[phase][key]) for run in runs) for key in ("calls", "seconds", "ratio")
        }
    figures["status_429"] = sum(int(run["status_429"]) for run in runs)
    # ru_maxrss is the process's peak so far: only the first run's pull is measured alone
    figures["peak_rss_mb_pull"] = float(runs[0]["full_pull"]["peak_rss_mb"])
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    figures["commit"] = _commit()
    print(json.dumps({k: v for k, v in figures.items() if k != "runs"}, indent=2))
    first = "-first-sync" if args.no_reconcile else ""
    name = f"latency-{args.contacts or args.size}-{args.latency_ms}ms-{args.in_flight}{first}.json"
    out = Path("bench/results") / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


def _latency_run(args: argparse.Namespace) -> dict[str, Any]:
    latency = ["--latency-ms", str(args.latency_ms), "--throttle", "--tier", "professional"]
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_sandbox_process(*_sandbox_args(args, tmp), *latency, token=BENCH_TOKEN) as sb,
    ):
        settings = load_settings(
            hubspot_access_token=sb.token,
            hubspot_base_url=sb.base_url,
            database_url=f"sqlite:///{tmp}/bench.db",
            hubspot_max_in_flight=args.in_flight,
            log_level="warning",
        )
        engine = open_store(settings.database_url)
        sb.reset_stats()
        first = run_cycle(engine, settings.cycle_config(), CycleOptions(trigger="bench"))
        first_stats = sb.stats()
        sb.reset_stats()
        reconcile = CycleOptions(trigger="bench", reconcile=True)
        again = None if args.no_reconcile else run_cycle(engine, settings.cycle_config(), reconcile)
        again_stats = sb.stats()
    pull_calls = sum(_calls(first_stats, r) for r in PULL_ROUTES)
    push_calls = first_stats["total"] - pull_calls
    phases = first.counts.phases
    figures = {
        "full_pull": _phase(pull_calls, phases["pull"].seconds) | {"peak_rss_mb": phases["pull"].peak_rss_mb},
        "write_back": _phase(push_calls, phases["push"].seconds) | {"written": first.counts.push.contacts_written},
        "status_429": first_stats["by_status"].get("429", 0) + again_stats["by_status"].get("429", 0),
        "peak_in_flight": first.counts.api.peak_in_flight,
    }
    if again is not None:
        reconcile_calls = sum(_calls(again_stats, r) for r in PULL_ROUTES)
        figures["reconcile"] = _phase(reconcile_calls, again.counts.phases["pull"].seconds)
    return figures


def _phase(calls: int, seconds: float) -> dict[str, float]:
    floor = calls / PROFESSIONAL_PER_S
    return {
        "calls": calls,
        "seconds": round(seconds, 1),
        "floor_s": round(floor, 1),
        "ratio": round(seconds / floor, 3),
    }


def _commit(script: str = "bench/sync_bench.py") -> str:
    """HEAD's short hash, marked when the code measured (kpi-sync, the sandbox, `script`) differs from it."""

    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], capture_output=True, text=True, check=False).stdout.strip()

    changed = git("status", "--porcelain", "-uno", "--", "sync", "kpi", "storage", "sandbox", script)
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if changed else "")


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


if __name__ == "__main__":
    main()
