"""What incremental cycles read again (issue 18, point 4): a bulk import sharing one modification millisecond, and
the cycles after a full write-back.

    .venv/bin/python bench/reread_bench.py bulk [--count 25000] [--latency-ms 150 0] [--runs 3]
    .venv/bin/python bench/reread_bench.py writeback [--size medium] [--interval-seconds 60] [--overlap-seconds 300]

`bulk`: on a fresh portal (small by default) a first sync, then `--count` contacts created (or updated, when the
portal has that many) at one modification millisecond, then one incremental cycle; the sandbox answers after a
log-normal delay of `--latency-ms` and enforces Professional limits (5 searches per second, 190 calls per 10 s).
The pull's seconds are compared to the search floor (search calls / 5 per second); association reads are counted
apart. Medians of `--runs` runs per latency.

`writeback`: a first full sync with write-back, then cycles every `--interval-seconds` (each starts that long after
the previous one started, at once if it ran longer) with `SYNC_OVERLAP_SECONDS` = `--overlap-seconds`, until the
write-back has left every window (overlap / interval + 2 cycles); then one quiet cycle, then `simulate(60)` and one
cycle. One row per cycle: the calls it sent, its contacts search pages and the contacts they fetched.

Both print markdown tables and write bench/results/reread-*.json with when and on which commit they were measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sync_bench import BENCH_TOKEN, _calls, _commit, _sandbox_args  # bench/ is on sys.path

from sandbox.harness import SandboxClient, run_sandbox_process
from service.settings import Settings, load_settings
from storage.engine import open_store
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.runs import RunCounts

SEARCH_PER_S = 5  # HubSpot's search limit: the floor of a pull made of searches
SCRIPT = "bench/reread_bench.py"
CYCLE_COLUMNS = (
    "cycle",
    "started_s",
    "calls",
    "search_calls",
    "contacts_search_pages",
    "contacts_fetched",
    "association_reads",
    "written",
    "write_calls",
    "status_429",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    bulk = commands.add_parser("bulk", help="one incremental cycle after a bulk import at one millisecond")
    bulk.add_argument("--size", default="small", help="the base portal")
    bulk.add_argument("--count", type=int, default=25_000, help="contacts sharing one modification millisecond")
    bulk.add_argument("--latency-ms", type=int, nargs="+", default=[150, 0], help="mean latencies measured")
    bulk.add_argument("--runs", type=int, default=3, help="runs per latency (medians printed)")
    bulk.add_argument("--overlap-seconds", type=int, default=300, help="SYNC_OVERLAP_SECONDS")
    writeback = commands.add_parser("writeback", help="the cycles after a full write-back")
    writeback.add_argument("--size", default="medium")
    writeback.add_argument("--latency-ms", type=int, default=0, help="mean latency (Professional limits)")
    writeback.add_argument("--interval-seconds", type=float, default=60, help="from one cycle's start to the next")
    writeback.add_argument("--overlap-seconds", type=int, default=300, help="SYNC_OVERLAP_SECONDS")
    args = parser.parse_args()
    args.contacts = None  # the portal's size alone (sync_bench's _sandbox_args reads it)
    if args.command == "bulk":
        bulk_main(args)
    else:
        writeback_main(args)


def bulk_main(args: argparse.Namespace) -> None:
    """Measure and print the bulk-import case at each latency; write bench/results/reread-bulk-<count>.json."""
    figures: dict[str, Any] = {"base_portal": args.size, "count": args.count, "overlap_s": args.overlap_seconds}
    rows = []
    for latency in args.latency_ms:
        runs = [_bulk_run(args, latency) for _ in range(args.runs)]
        median = {key: statistics.median(float(run[key]) for run in runs) for key in runs[0]}
        figures[f"{latency}ms"] = {"median": median, "runs": runs}
        rows.append([f"{latency} ms", *(median[key] for key in runs[0]), len(runs)])
    print(f"{args.count:,} contacts at one millisecond on a {args.size} portal, overlap {args.overlap_seconds} s:")
    print(_markdown(["latency", *figures[f"{args.latency_ms[0]}ms"]["runs"][0], "runs"], rows))
    _write(f"reread-bulk-{args.count}.json", figures)


def _bulk_run(args: argparse.Namespace, latency_ms: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_sandbox_process(*_sandbox_args(args, tmp), *_limits(latency_ms), token=BENCH_TOKEN) as sb,
    ):
        engine, settings = _store(sb, tmp, args.overlap_seconds)
        _cycle(sb, engine, settings)
        live = int(sb.summary()["counts"]["contacts"]["live"])
        sb.bulk_import("contacts", args.count, "update" if live >= args.count else "create")
        result, stats = _cycle(sb, engine, settings)
    searches = _calls(stats, "/search")
    seconds = result.counts.phases["pull"].seconds
    floor = searches / SEARCH_PER_S
    return {
        "search_calls": searches,
        "contacts_fetched": result.counts.pull.fetched["contacts"],
        "pull_s": round(seconds, 1),
        "floor_s": round(floor, 1),
        "ratio": round(seconds / floor, 3),
        "association_reads": _calls(stats, "/associations/"),
        "status_429": stats["by_status"].get("429", 0),
    }


def writeback_main(args: argparse.Namespace) -> None:
    """Run the write-back case (see the module's docstring); print one row per cycle and write
    bench/results/reread-writeback-<size>-<interval>s-<overlap>s.json."""
    settling = int(args.overlap_seconds // args.interval_seconds) + 2
    labels = ["first full sync", *(f"after write-back {n}" for n in range(1, settling + 1)), "quiet"]
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_sandbox_process(*_sandbox_args(args, tmp), *_limits(args.latency_ms), token=BENCH_TOKEN) as sb,
    ):
        engine, settings = _store(sb, tmp, args.overlap_seconds)
        origin = next_start = time.monotonic()
        for label in [*labels, "after simulate(60)"]:
            time.sleep(max(0.0, next_start - time.monotonic()))
            started = time.monotonic()
            if label == "after simulate(60)":
                sb.simulate(minutes=60, seed=5)
            result, stats = _cycle(sb, engine, settings)
            rows.append(_cycle_row(label, started - origin, result.counts, stats))
            next_start = started + args.interval_seconds
    timing = f"interval {args.interval_seconds:g} s, overlap {args.overlap_seconds} s"
    print(f"Cycles after a full write-back, {args.size} portal, {args.latency_ms} ms, {timing}:")
    print(_markdown(CYCLE_COLUMNS, [[row[c] for c in CYCLE_COLUMNS] for row in rows]))
    figures = {
        "portal": args.size,
        "latency_ms": args.latency_ms,
        "interval_s": args.interval_seconds,
        "overlap_s": args.overlap_seconds,
        "cycles": rows,
    }
    _write(f"reread-writeback-{args.size}-{args.interval_seconds:g}s-{args.overlap_seconds}s.json", figures)


def _cycle_row(label: str, started_s: float, counts: RunCounts, stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "cycle": label,
        "started_s": round(started_s, 1),
        "calls": stats["total"],
        "search_calls": _calls(stats, "/search"),
        "contacts_search_pages": counts.pull.pages["search:contacts"],
        "contacts_fetched": counts.pull.fetched["contacts"],
        "association_reads": _calls(stats, "/associations/"),
        "written": counts.push.contacts_written,
        "write_calls": counts.push.write_calls,
        "status_429": stats["by_status"].get("429", 0),
    }


def _limits(latency_ms: int) -> list[str]:
    return ["--latency-ms", str(latency_ms), "--throttle", "--tier", "professional"]


def _store(sb: SandboxClient, tmp: str, overlap_s: int) -> tuple[Engine, Settings]:
    """kpi-sync's defaults against this sandbox, with its own SQLite store."""
    settings = load_settings(
        hubspot_access_token=sb.token,
        hubspot_base_url=sb.base_url,
        database_url=f"sqlite:///{tmp}/bench.db",
        sync_overlap_seconds=overlap_s,
        log_level="warning",
    )
    return open_store(settings.database_url), settings


def _cycle(sb: SandboxClient, engine: Engine, settings: Settings) -> tuple[RunSummary, dict[str, Any]]:
    """One cycle, and the sandbox's counts of the calls it sent."""
    sb.reset_stats()
    result = run_cycle(engine, settings.cycle_config(), CycleOptions(trigger="bench"))
    return result, sb.stats()


def _markdown(header: Sequence[str], rows: list[list[Any]]) -> str:
    lines = [list(header), ["---"] * len(header), *rows]
    cells = ([f"{v:g}" if isinstance(v, float) else str(v) for v in row] for row in lines)
    return "\n".join("| " + " | ".join(row) + " |" for row in cells)


def _write(name: str, figures: dict[str, Any]) -> None:
    figures |= {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "commit": _commit(SCRIPT)}
    out = Path("bench/results") / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
