"""Sandbox benchmark: pages/s served for list (100 records) and search (200 records), and generation time and
peak memory per portal size. Writes bench/results/sandbox.json.

    .venv/bin/python bench/sandbox_throughput.py                      # throughput + small and medium
    .venv/bin/python bench/sandbox_throughput.py --sizes small,medium,large
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import urllib3

ROOT = Path(__file__).resolve().parents[1]

GENERATE = """
import json, resource, sys, tempfile, time
from pathlib import Path
from sandbox.generate import GenerateOptions, generate
from sandbox.portal import Portal
size = sys.argv[1]
with tempfile.TemporaryDirectory() as tmp:
    path = None if size == "small" else Path(tmp) / "portal.sqlite3"
    started = time.perf_counter()
    portal = generate(Portal(path), GenerateOptions(size=size))
    seconds = time.perf_counter() - started
    counts = {ot.name: portal.count(ot) for ot in portal.types()}
    disk = path.stat().st_size if path else 0
    portal.close()
peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
result = {"seconds": round(seconds, 2), "peak_rss_mb": peak, "db_mb": round(disk / 2**20, 1), "counts": counts}
print(json.dumps(result))
"""


def _hammer(base: str, token: str, make: Any, seconds: float, threads: int) -> dict[str, Any]:
    """Run `threads` keep-alive clients for `seconds`; each calls make(http, i) for one page."""
    counts = [0] * threads
    errors = [0] * threads
    deadline = time.perf_counter() + seconds

    def worker(n: int) -> None:
        with urllib3.HTTPConnectionPool(
            base.split("//")[1].split(":", maxsplit=1)[0],
            int(base.rsplit(":", 1)[1]),
            maxsize=1,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as http:
            i = 0
            while time.perf_counter() < deadline:
                response = make(http, n * 1_000_000 + i)
                i += 1
                if response.status == 200:
                    counts[n] += 1
                else:
                    errors[n] += 1

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "pages_per_second": round(sum(counts) / elapsed, 1),
        "pages": sum(counts),
        "errors": sum(errors),
        "threads": threads,
        "seconds": round(elapsed, 2),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(size: str, port: int, token: str) -> subprocess.Popen[bytes]:
    """Start `kpi-sync sandbox` in its own process so the client threads do not share its GIL."""
    command = [
        sys.executable,
        "-c",
        "from sandbox.cli import sandbox_command; sandbox_command()",
        "--port",
        str(port),
        "--token",
        token,
        "--size",
        size,
        "--index-lag-ms",
        "0",
    ]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(1_200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.25)
    server.kill()
    raise RuntimeError("sandbox did not start")


def throughput(size: str, seconds: float, threads: int) -> dict[str, Any]:
    """Serve a portal in a separate process and measure list and search pages per second."""
    port, token = _free_port(), "bench-token"
    server = _serve(size, port, token)
    base = f"http://127.0.0.1:{port}"
    try:
        with urllib3.PoolManager() as http:
            calls = orjson.loads(http.request("GET", f"{base}/_sandbox/export/calls", timeout=600).data)
        ids = [int(c["id"]) for c in calls if not c["archived"]]
        stamps = sorted(c["updatedAt"] for c in calls if not c["archived"])
        del calls
        props = "&properties=hs_timestamp,hubspot_owner_id,hs_call_direction,hs_call_disposition"

        def list_page(http: Any, i: int) -> Any:
            after = ids[(i * 100) % max(len(ids) - 100, 1)]
            return http.request("GET", f"/crm/v3/objects/calls?limit=100&after={after}{props}")

        def search_page(http: Any, i: int) -> Any:
            # Like a sync client: one modified-date window paged to 2,000 results, then the next window.
            low = stamps[((i // 10) * 2_000) % max(len(stamps) - 2_000, 1)]
            body = {
                "filterGroups": [
                    {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": low}]}
                ],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                "properties": ["hs_timestamp", "hubspot_owner_id", "hs_call_direction", "hs_call_disposition"],
                "limit": 200,
                "after": str((i % 10) * 200),
            }
            return http.request("POST", "/crm/v3/objects/calls/search", body=orjson.dumps(body))

        return {
            "portal_size": size,
            "calls": len(ids),
            "list_100": _hammer(base, token, list_page, seconds, threads),
            "search_200": _hammer(base, token, search_page, seconds, threads),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def generation(size: str) -> dict[str, Any]:
    """Generate a portal in a fresh process; report time, peak RSS and database size."""
    out = subprocess.run([sys.executable, "-c", GENERATE, size], cwd=ROOT, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def main() -> None:
    """Parse options, run the measurements, print and save them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="small,medium", help="comma-separated portal sizes to generate")
    parser.add_argument("--serve-size", default="small", help="portal size served for the throughput runs")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "sandbox.json")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "throughput": throughput(args.serve_size, args.seconds, args.threads),
        "generation": {},
    }
    print(json.dumps(result["throughput"], indent=2), flush=True)
    for size in args.sizes.split(","):
        result["generation"][size] = generation(size)
        print(size, json.dumps(result["generation"][size]), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
