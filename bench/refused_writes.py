"""Write calls when HubSpot's validation rules refuse 1 % of the contacts, per way of refusing, against the minimum.

    .venv/bin/python bench/refused_writes.py --size small      # or medium; --share 0.05 for another share

For each mode of the sandbox (`batch`: one refused input fails its whole batch with a 400; `per_input`: a 207 with
one error per refused input) one full cycle runs against a fresh portal. Prints the contact write calls, their
minimum ceil(written / 100), the extra calls, the refused contacts and the batches refused whole. The bound: one
extra call per batch refused whole when HubSpot names the refused ids (as the sandbox does), none for a 207; the
extra calls also count the batches the refused contacts leave short, ceil((written + refused) / 100) - minimum.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

from sandbox.harness import run_sandbox_process
from service.settings import load_settings
from storage.engine import open_store
from sync.cycle import CycleOptions, run_cycle

BENCH_TOKEN = "bench-token-123"  # noqa: S105 - the sandbox's throwaway token
MODES = ("batch", "per_input")


def measure(size: str, mode: str, share: float) -> dict[str, object]:
    """One full cycle against a fresh portal refusing `share` of its contacts in `mode`; the figures."""
    refusing = ["--validation-mode", mode, "--refuse-share", f"contacts:{share}", "--validation-seed", "7"]
    with tempfile.TemporaryDirectory() as tmp:
        portal = ["--seed", "42", "--size", size, "--index-lag-ms", "0", "--data-dir", f"{tmp}/portal", *refusing]
        with run_sandbox_process(*portal, token=BENCH_TOKEN) as sb:
            settings = load_settings(
                hubspot_access_token=sb.token,
                hubspot_base_url=sb.base_url,
                database_url=f"sqlite:///{tmp}/bench.db",
                hubspot_rate_limit_per_10s=250,
                hubspot_search_per_second=10,
                writeback_snapshots=False,
                log_level="warning",
            )
            started = time.perf_counter()
            summary = run_cycle(open_store(settings.database_url), settings.cycle_config(), CycleOptions("bench"))
            push, validation = summary.counts.push, sb.stats()["validation"]
    minimum = math.ceil(push.contacts_written / 100)
    return {
        "mode": mode,
        "outcome": summary.outcome.value,
        "written": push.contacts_written,
        "refused": push.refused_total,
        "refused_batches": validation["refused_requests"] if mode == "batch" else 0,
        "write_calls": push.write_calls,
        "minimum": minimum,
        "extra": push.write_calls - minimum,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", choices=("small", "medium"))
    parser.add_argument("--share", type=float, default=0.01, help="share of contacts HubSpot refuses")
    args = parser.parse_args()
    columns = ("mode", "outcome", "written", "refused", "refused_batches", "write_calls", "minimum", "extra", "seconds")
    print(f"{args.size} portal, {args.share:.0%} of contacts refused")
    print("  ".join(f"{c:>15}" for c in columns))
    for mode in MODES:
        figures = measure(args.size, mode, args.share)
        print("  ".join(f"{figures[c]!s:>15}" for c in columns))


if __name__ == "__main__":
    main()
