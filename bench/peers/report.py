"""bench/RESULTS.md from the results files: every `bench/results/peers-*.json` (bench/peer_bench.py, one per
portal) and the kpi-sync scaling figures in `bench/results/sync-*.json` (bench/sync_bench.py).

Pure formatting: reads JSON, writes markdown, measures nothing. `write_report(results_dir)` returns the text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

RESULTS_MD = Path(__file__).resolve().parent.parent / "RESULTS.md"
AIRBYTE_STREAM_TYPES = {
    "contacts": "contacts",
    "deals": "deals",
    "owners": "owners",
    "engagements_calls": "calls",
    "engagements_emails": "emails",
    "engagements_meetings": "meetings",
}
COMPARED_STREAMS = ("contacts", "deals", "owners", "calls", "emails", "meetings")
SCALING_ORDER = ("small", "10000", "medium", "large")
Doc = dict[str, Any]

MACHINE = (
    "All figures were taken on a **shared 2-core machine** (other engineers ran test suites and benchmarks on"
    " it at the same time; no two heavy benchmarks of ours ran at once). API calls and record counts are exact"
    " and repeatable; wall times and memory are not, and a run's wall time can be off by tens of percent."
)


def fmt(value: Any, unit: str = "") -> str:
    """A table cell."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 10:
            value = f"{int(value):,}"
        else:
            value = f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


def ratio(theirs: Any, mine: Any) -> str:
    """`(1.23x)`: theirs / mine, when both are numbers and mine is not zero."""
    if isinstance(theirs, int | float) and isinstance(mine, int | float) and mine:
        return f" ({theirs / mine:.2f}x)"
    return ""


def row(*cells: Any) -> str:
    """One markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def per(theirs: float, mine: float) -> str:
    """`1.23x`, or a dash when mine is zero."""
    return f"{theirs / mine:.2f}x" if mine else "–"


def status_cell(metrics: Doc) -> str:
    """The statuses of the runs, with the first error."""
    statuses = sorted(set(metrics.get("statuses", [])))
    errors = metrics.get("errors") or []
    text = "/".join(statuses)
    return f"{text}: {errors[0][:90]}" if errors and text != "ok" else text


def portal_line(doc: Doc) -> str:
    """What the portal held."""
    counts = ", ".join(f"{k} {v['live']:,}" for k, v in doc["portal"].items())
    total = sum(v["live"] for v in doc["portal"].values())
    return f"seed {doc['seed']}, {total:,} live records ({counts}; {doc['owners']} owners)"


def portal_name(doc: Doc) -> str:
    """small / medium / 10,000 contacts."""
    return f"{doc['contacts']:,} contacts" if doc.get("contacts") else str(doc["size"])


# -- performance tables -----------------------------------------------------------------------------------------


def phase_table(doc: Doc, phase: str) -> list[str]:
    """One markdown table of a phase's medians; in brackets peer / kpi-sync."""
    base = doc["tools"].get("kpi-sync", {}).get(phase, {})
    lines = [
        "| tool | runs | status | API calls | wall s | to last call s | peak MB | 429s | records held / in portal"
        " | missed | stale | duplicate msgs |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, tool in doc["tools"].items():
        m = tool.get(phase)
        if not m:
            continue
        rec = m.get("records", {})

        def cell(key: str, m: Doc = m, name: str = name) -> str:
            return fmt(m.get(key)) + (ratio(m.get(key), base.get(key)) if name != "kpi-sync" else "")

        lines.append(
            row(
                name,
                len(m.get("statuses", [])),
                status_cell(m),
                cell("api_calls"),
                cell("wall_s"),
                fmt(m.get("last_call_s")),
                cell("peak_rss_mb"),
                fmt(m.get("http_429")),
                f"{fmt(rec.get('held'))} / {fmt(rec.get('portal'))}",
                fmt(rec.get("missed")),
                fmt(rec.get("stale")),
                fmt(m.get("duplicates")),
            )
        )
    return lines


def failed_streams(metrics: Doc) -> set[str]:
    """Object types of the streams a peer reported as failed (`Exception while syncing stream X`)."""
    out = set()
    for error in metrics.get("errors") or []:
        for stream in re.findall(r"syncing stream (\w+)", error):
            out.add(AIRBYTE_STREAM_TYPES.get(stream, stream))
    return out


def incremental_streams(doc: Doc, peer: str = "airbyte") -> tuple[list[str], Doc] | None:
    """Calls per stream of the incremental run, kpi-sync against a peer, and totals over the streams both
    completed; None when either tool lacks the figures."""
    mine = doc["tools"].get("kpi-sync", {}).get("incremental", {})
    theirs = doc["tools"].get(peer, {}).get("incremental", {})
    if not mine.get("calls_by_stream") or not theirs.get("calls_by_stream"):
        return None
    failed = failed_streams(theirs)
    changed = mine.get("changed_in_portal", {})
    lines = [
        f"| stream | records changed | kpi-sync calls | {peer} calls | {peer} / kpi-sync | {peer} completed |",
        "|---|---|---|---|---|---|",
    ]
    both = {"kpi": 0, "peer": 0}
    for stream in (*COMPARED_STREAMS, "notes", "tasks", "shared"):
        k, p = mine["calls_by_stream"].get(stream, 0), theirs["calls_by_stream"].get(stream, 0)
        if not k and not p:
            continue
        synced = stream in COMPARED_STREAMS
        completed = synced and stream not in failed
        if completed:
            both["kpi"] += k
            both["peer"] += p
        done = "–" if stream == "shared" else "not synced" if not synced else "yes" if completed else "no (aborted)"
        n = "–" if stream in ("owners", "shared") else fmt(changed.get(stream))
        lines.append(f"| {stream} | {n} | {fmt(k)} | {fmt(p)} | {per(p, k) if synced else '–'} | {done} |")
    k_all, p_all = mine.get("api_calls", 0), theirs.get("api_calls", 0)
    lines.append(
        f"| **streams both completed** | | **{fmt(both['kpi'])}** | **{fmt(both['peer'])}**"
        f" | **{per(both['peer'], both['kpi'])}** | |"
    )
    lines.append(
        f"| all calls (shared and aborted streams included) | | {fmt(k_all)} | {fmt(p_all)} | {per(p_all, k_all)} | |"
    )
    totals = {
        "kpi_sync": both["kpi"],
        peer: both["peer"],
        "ratio": round(both["peer"] / both["kpi"], 2) if both["kpi"] else None,
        "all_ratio": round(p_all / k_all, 2) if k_all else None,
    }
    return lines, totals


def throttled_table(doc: Doc) -> list[str]:
    """Wall time under rate limits against the floor (accepted calls / allowed rate)."""
    lines = [
        "| tool | runs | status | API calls | 429s | kpi-sync limiter wait s | wall s | to last call s | floor s"
        " | strict minimum s | wall / floor | last call / floor |",
        "|---" * 12 + "|",
    ]
    for name, tool in doc["tools"].items():
        m = tool.get("throttled")
        if m:
            lines.append(
                row(
                    name,
                    len(m.get("statuses", [])),
                    status_cell(m),
                    *(
                        fmt(m.get(k))
                        for k in (
                            "api_calls",
                            "http_429",
                            "limiter_wait_s",
                            "wall_s",
                            "last_call_s",
                            "floor_s",
                            "strict_min_s",
                        )
                    ),
                    f"**{fmt(m.get('wall_over_floor'))}**",
                    fmt(m.get("last_call_over_floor")),
                )
            )
    return lines


# -- stress -----------------------------------------------------------------------------------------------------


def stress_table(doc: Doc) -> list[str]:
    """The stress cases side by side."""
    lines = [
        "| tool | bulk import: status, held / imported, duplicate msgs | index lag: missed + stale of changed"
        " | archived caught | re-associated caught |",
        "|---|---|---|---|---|",
    ]
    for name, cases in doc["stress"].items():
        bulk, lag, arch = cases["bulk"], cases["lag"], cases["archive"]
        bulk_cell = bulk.get("note") or (
            f"{bulk['status']}, {fmt(bulk.get('held'))} / {fmt(bulk.get('portal'))}, {fmt(bulk.get('duplicates'))}"
        )
        arch_cell = f"{arch['archived_caught']} of {arch['archived']}"
        moved_cell = f"{arch['reassociated_caught']} of {arch['reassociated']}"
        after = arch.get("after_reconcile")
        if after:
            arch_cell += f" ({after['archived_caught']} after `sync --reconcile`)"
            moved_cell += f" ({after['reassociated_caught']} after `sync --reconcile`)"
        lines.append(
            f"| {name} | {bulk_cell} | {lag['missed'] + lag['stale']} of {lag['portal']} ({lag['status']})"
            f" | {arch_cell} | {moved_cell} |"
        )
    return lines


def stress_legend(doc: Doc) -> str:
    """What the stress columns mean, with the parameters used."""
    stress: Doc = next(iter(doc["stress"].values()), {})
    bulk, lag = stress.get("bulk", {}), stress.get("lag", {})
    return (
        f"Bulk import: {fmt(bulk.get('imported', '?'))} {bulk.get('object', '')} created at one millisecond after"
        " a full sync, then one incremental run (killed after the stress timeout: status `timeout`). Index lag:"
        f" search lags {fmt(lag.get('lag_ms', '?'))} ms; activity is simulated just before an incremental run, and"
        " a second incremental runs after the lag; counted: changed records the tool does not hold current at"
        " the end. Archived / re-associated: records archived and call->contact associations moved by"
        f" {fmt(doc.get('stress_minutes', '?'))} simulated minutes, counted among the records the tool held after"
        " its full sync; caught = the tool no longer holds the archived record as live / holds the new"
        " contact ids."
    )


def error_lines(doc: Doc) -> list[str]:
    """Distinct error messages per tool, from every phase and stress case."""
    lines = []
    for name in doc["tools"]:
        phases = [doc["tools"][name].get(p, {}) for p in ("full", "incremental", "throttled")]
        phases += list(doc["stress"].get(name, {}).values())
        errors = sorted({e for m in phases for e in m.get("errors") or []})
        lines.append(f"- **{name}**: " + ("; ".join(f"`{e[:200]}`" for e in errors) if errors else "none"))
    return lines


# -- one portal -------------------------------------------------------------------------------------------------


def portal_section(doc: Doc) -> list[str]:
    """Every table of one peers-*.json."""
    out = [
        f"## Portal: {portal_name(doc)}",
        "",
        f"Portal: {portal_line(doc)}. Start date given to the peers:"
        f" {doc['start_date']} (one day before the oldest record: every tool is asked for the whole portal)."
        " Each tool's runs are on fresh sandboxes of this seed; in brackets, tool / kpi-sync. Produced by:",
        "",
        "```",
        *doc["commands"],
        "```",
        "",
        "Streams: " + "; ".join(f"**{n}**: {t['streams']}" for n, t in doc["tools"].items()),
        "",
    ]
    if any("full" in t for t in doc["tools"].values()):
        out += ["### Full first sync (unthrottled)", "", *phase_table(doc, "full"), ""]
    if any("incremental" in t for t in doc["tools"].values()):
        seeded = [n for n, t in doc["tools"].items() if t.get("incremental", {}).get("seeded_state")]
        out += [
            f"### Incremental sync after {fmt(doc['simulated_minutes'])} simulated minutes (unthrottled)",
            "",
            "Records: the records the simulation created or updated (of the types each tool syncs).",
            "",
            *phase_table(doc, "incremental"),
            "",
        ]
        if seeded:
            out += [
                f"{', '.join(seeded)}: no full sync of its own before this run (it does not finish within the"
                " timeout on this portal); it started from a state whose cursor is the moment before the"
                " simulated activity (`--phases seeded`), on a fresh sandbox of the same seed, so it was asked"
                " for exactly the same changes.",
                "",
            ]
        streams = incremental_streams(doc)
        if streams:
            out += [
                "Incremental API calls per stream, for the same changes (calls per stream from Airbyte's request"
                " log and kpi-sync's run history; kpi-sync's pipeline read is counted to deals; `shared` ="
                " schemas and property definitions):",
                "",
                *streams[0],
                "",
            ]
    if any("throttled" in t for t in doc["tools"].values()):
        out += [
            f"### Full sync under Professional rate limits (time scale {fmt(doc['time_scale'])})",
            "",
            f"The sandbox enforces 190 calls per rolling {fmt(10 * doc['time_scale'])} s window and 5 searches per"
            f" {fmt(doc['time_scale'])} s (Professional, windows scaled by {fmt(doc['time_scale'])}); the peers'"
            " own sleeps are scaled alike (`PEER_TIME_SCALE`). Floor = accepted general calls / 190 per window"
            " (and searches / 5 per search window, whichever is longer). Strict minimum: a run that starts on an"
            " empty window sends its first 190 calls at once, so it needs ceil(calls / 190) - 1 windows; a"
            " perfect client lands between the two. `to last call` ends at the tool's last API call (kpi-sync's"
            " KPI recompute and store commit come after it).",
            "",
            *throttled_table(doc),
            "",
        ]
    if doc.get("stress"):
        out += ["### Correctness under stress", "", stress_legend(doc), "", *stress_table(doc), ""]
    out += ["### Errors the tools reported", "", *error_lines(doc), ""]
    return out


# -- kpi-sync scaling -------------------------------------------------------------------------------------------


def scaling_table(results_dir: Path) -> list[str]:
    """kpi-sync alone on each portal size, from sync-*.json."""
    docs = {p.stem.removeprefix("sync-"): json.loads(p.read_text()) for p in sorted(results_dir.glob("sync-*.json"))}
    order = [k for k in SCALING_ORDER if k in docs] + sorted(k for k in docs if k not in SCALING_ORDER)
    lines = [
        "| portal | records | full sync: list calls / floor | association reads | full cycle s | of which pull s"
        " | records/s | pull peak RSS MB | cycle peak RSS MB | write calls / minimum | quiet cycle calls"
        " | incremental after 60 min: changed, calls (searches, v4 reads) | measured |",
        "|---" * 13 + "|",
    ]
    for key in order:
        d = docs[key]
        full, inc = d["full_sync"], d["incremental_after_60_min"]
        pull = full.get("phases", {}).get("pull", {})
        lines.append(
            row(
                f"{key} contacts" if key.isdigit() else key,
                fmt(sum(d["portal"].values())),
                f"{fmt(full['pull_list_calls'])} / {fmt(full['floor'])} ({full['ratio']:.2f}x)",
                fmt(full["association_reads"]),
                fmt(full["seconds"]),
                fmt(pull.get("seconds")),
                fmt(full["records_per_second"]),
                fmt(pull.get("peak_rss_mb")),
                fmt(full.get("peak_rss_mb", d.get("peak_rss_mb"))),
                f"{fmt(full['write_calls'])} / {fmt(full['write_minimum'])}",
                fmt(d["quiet_incremental"]["api_calls"]),
                f"{fmt(inc['records_changed_in_portal'])}, {fmt(inc['api_calls'])}"
                f" ({fmt(inc['search_calls'])}, {fmt(inc['association_reads'])})",
                measured_cell(d),
            )
        )
    return lines


def measured_cell(doc: Doc) -> str:
    """When a sync_bench result was measured and on which commit (older files did not record it)."""
    if "measured_at" not in doc:
        return str(doc.get("measured_note", "not recorded"))
    return f"{doc['measured_at'].replace('T', ' ').removesuffix('+00:00')} UTC, {doc.get('commit', '?')}"


# -- the document -----------------------------------------------------------------------------------------------


def load_peer_docs(results_dir: Path) -> list[Doc]:
    """Every peers-*.json, smallest portal first."""
    docs = [json.loads(p.read_text()) for p in sorted(results_dir.glob("peers-*.json"))]
    return sorted((d for d in docs if "tools" in d), key=lambda d: sum(v["live"] for v in d["portal"].values()))


def limiter_section(results_dir: Path) -> list[str]:
    """kpi-sync's throttled full sync before and after the rate-limiter fix, from peers-limiter-probes.json."""
    path = results_dir / "peers-limiter-probes.json"
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    lines = [
        "## kpi-sync's rate limiter, before and after the rolling-window fix",
        "",
        doc["note"],
        "",
        "| limiter | tool | time scale | API calls | 429s | limiter wait s | wall s | to last call s | floor s"
        " | wall / floor | last call / floor |",
        "|---" * 11 + "|",
    ]
    for p in doc["probes"]:
        lines.append(
            row(
                p["limiter"],
                p["tool"],
                fmt(p["time_scale"]),
                *(
                    fmt(p.get(k))
                    for k in (
                        "api_calls",
                        "http_429",
                        "limiter_wait_s",
                        "wall_s",
                        "last_call_s",
                        "floor_s",
                        "wall_over_floor",
                        "last_call_over_floor",
                    )
                ),
            )
        )
    commands = sorted({p["command"] for p in doc["probes"]})
    return [*lines, "", "Produced by (the limiter checked out as stated):", "", "```", *commands, "```", ""]


def write_report(results_dir: Path, target: Path = RESULTS_MD) -> str:
    """Rebuild RESULTS.md from the results files; return its text."""
    out = [
        "# Benchmarks: kpi-sync, Airbyte source-hubspot 5.7.0, Singer tap-hubspot 4.5.0",
        "",
        MACHINE,
        "",
        "This file is generated by `.venv/bin/python bench/peer_bench.py --report` from `bench/results/*.json`,"
        " except the part between the `analysis` markers, which is written by hand and kept on rebuild.",
        "",
    ]
    out += kept_analysis(target)
    for doc in load_peer_docs(results_dir):
        out += portal_section(doc)
    out += limiter_section(results_dir)
    out += [
        "## kpi-sync alone: scaling with portal size",
        "",
        "`.venv/bin/python bench/sync_bench.py --size small|medium|large` (and `--contacts 10000`), one run each:"
        " the sandbox runs in its own process, so peak RSS is kpi-sync's alone; a full cycle is pull, KPI"
        " recompute and write-back, unthrottled (kpi-sync's own limiter at 250 per 10 s). Floor = sum over"
        " objects of ceil(live records / 100) list pages, plus owners (2) and pipelines (1).",
        "",
        *scaling_table(results_dir),
        "",
        *NOTES,
    ]
    text = "\n".join(out) + "\n"
    target.write_text(text)
    return text


BEGIN, END = "<!-- analysis: begin -->", "<!-- analysis: end -->"


def kept_analysis(target: Path) -> list[str]:
    """The hand-written part of the existing RESULTS.md (headline and findings), or an empty placeholder."""
    text = target.read_text() if target.exists() else ""
    if BEGIN in text and END in text:
        return [text[text.index(BEGIN) : text.index(END) + len(END)], ""]
    return [BEGIN, "", END, ""]


NOTES = [
    "## How it was measured",
    "",
    "- Peers run through `bench/peers/launch_*.py` in their own virtualenvs (`bench/peers/install.py`, from PyPI);"
    " HubSpot URLs are rewritten to the sandbox in `requests`' transport, the connectors' files are untouched."
    " `bench/peers/ENDPOINTS.md` lists every endpoint they call; `sandbox/legacy.py` serves the legacy ones from"
    " the same portal data.",
    "- kpi-sync runs `kpi-sync sync` with write-back off (the peers only read), on a fresh SQLite store.",
    "- API calls: the sandbox's exact counters, reset before each run. Calls per stream: the peers' request logs"
    " (`PEER_REQUEST_LOG`), kpi-sync's own run history (`sync_runs.counts.api.calls`).",
    "- Wall time: the tool's process, start to exit. `to last call`: start to the last API call the sandbox"
    " counted (sampled every 20 ms).",
    "- Peak memory: the tool's process tree RSS, sampled every 20 ms (the sandbox runs in the benchmark's process,"
    " not the tool's).",
    "- Throttled runs: the sandbox enforces Professional limits with windows scaled by the time scale; the peers'"
    " own sleeps (their retry backoff) are scaled by the same factor; kpi-sync's limiter learns the scaled window"
    " from `X-HubSpot-RateLimit-Interval-Milliseconds`. `kpi-sync-190` is kpi-sync with"
    " `HUBSPOT_RATE_LIMIT_PER_10S=190 HUBSPOT_SEARCH_PER_SECOND=5`: the defaults since fe09915; the throttled"
    " `kpi-sync` rows and the limiter probes were made when the defaults were 150 and 4, which is what they use.",
    "- Records: peers count distinct ids in their RECORD messages, kpi-sync rows in its SQLite store; missed ="
    " not delivered, stale = delivered with an older modification time than the portal's.",
]
