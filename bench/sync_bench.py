"""API calls, speed and memory of kpi-sync's pull against the sandbox, and write calls against their minimum.

    .venv/bin/python bench/sync_bench.py --size small            # or medium, or --contacts 5000

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
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

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
    args = parser.parse_args()
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


def _commit() -> str:
    """HEAD's short hash, marked when the code measured (kpi-sync, the sandbox, this script) differs from it."""

    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], capture_output=True, text=True, check=False).stdout.strip()

    changed = git("status", "--porcelain", "-uno", "--", "sync", "kpi", "storage", "sandbox", "bench/sync_bench.py")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if changed else "")


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


if __name__ == "__main__":
    main()
