"""`kpi-sync sandbox`: generate a portal and serve it until SIGINT/SIGTERM (click command `sandbox_command`)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import click

from sandbox.config import DEFAULT_TOKEN
from sandbox.generate import SIZES
from sandbox.harness import build_app, build_options
from sandbox.operator import describe
from sandbox.server import ServerThread


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 in a container).")
@click.option("--port", default=8765, show_default=True, help="Port (0 picks a free one).")
@click.option("--token", default=DEFAULT_TOKEN, show_default=True, help="Bearer token clients must send.")
@click.option("--seed", default=42, show_default=True, help="Seed of the generated portal.")
@click.option(
    "--size",
    type=click.Choice(sorted(SIZES)),
    default="small",
    show_default=True,
    help="small ~600 contacts/6k engagements; medium ~50k/500k; large ~200k/2M.",
)
@click.option("--contacts", type=int, default=None, help="Override the number of contacts.")
@click.option("--engagements", type=int, default=None, help="Override the number of engagements.")
@click.option("--index-lag-ms", type=int, default=2_000, show_default=True, help="Search indexing delay.")
@click.option("--throttle/--no-throttle", default=False, show_default=True, help="Enforce rate limits.")
@click.option(
    "--tier",
    type=click.Choice(["free", "starter", "professional", "enterprise", "api_add_on"]),
    default="professional",
    show_default=True,
    help="Rate-limit tier.",
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Shrink rate-limit windows (0.1 makes the 10 s window 1 s).",
)
@click.option("--daily-limit", type=int, default=None, help="Override the tier's daily request limit.")
@click.option(
    "--retry-after/--no-retry-after", default=False, show_default=True, help="Send Retry-After on rate-limit 429s."
)
@click.option(
    "--latency-ms",
    type=int,
    default=0,
    show_default=True,
    help="Mean added latency per API answer (log-normal jitter, p99 about 4x the mean); 0 is off.",
)
@click.option("--no-custom-objects", is_flag=True, help="Answer the schemas API and custom objects with 403.")
@click.option("--limited-token", default=None, help="A second token that gets 403 MISSING_SCOPES.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the portal in a SQLite file here (default: memory for small, a temp file otherwise).",
)
@click.option("--fault-429", "rate_429", type=float, default=0.0, help="Share of requests answered 429.")
@click.option("--fault-5xx", "rate_5xx", type=float, default=0.0, help="Share answered 500/502/503/504.")
@click.option("--fault-drop", "rate_drop", type=float, default=0.0, help="Share of dropped connections.")
@click.option("--fault-slow", "rate_slow", type=float, default=0.0, help="Share of slow answers.")
@click.option("--slow-ms", type=int, default=200, show_default=True, help="Delay of a slow answer.")
@click.option("--fault-malformed", "rate_malformed", type=float, default=0.0, help="Share of truncated bodies.")
@click.option(
    "--fault-partial", "rate_partial", type=float, default=0.0, help="Share of batch-write inputs failing in a 207."
)
@click.option("--fault-seed", "fault_seed", type=int, default=None, help="Seed of fault injection.")
@click.option(
    "--validation-mode",
    type=click.Choice(["batch", "per_input"]),
    default="batch",
    show_default=True,
    help="How a 2026-09 write that breaks a validation rule is refused: the whole batch (400) or per input (207).",
)
@click.option(
    "--require-when",
    multiple=True,
    metavar="OBJECT:PROPERTY:WHEN=VALUE",
    help="Validation rule on 2026-09 writes, e.g. contacts:industry:lifecyclestage=customer (repeatable).",
)
@click.option(
    "--refuse-ids",
    multiple=True,
    metavar="OBJECT:ID,ID",
    help="Refuse 2026-09 writes to these records, e.g. contacts:101,102 (repeatable).",
)
@click.option(
    "--refuse-share",
    multiple=True,
    metavar="OBJECT:SHARE",
    help="Refuse 2026-09 writes to a share of records (by a seeded id hash), e.g. contacts:0.01.",
)
@click.option("--validation-seed", type=int, default=0, show_default=True, help="Seed of --refuse-share.")
def sandbox_command(**options: Any) -> None:
    """Serve a seeded HubSpot portal over HubSpot's CRM API on 127.0.0.1 until interrupted."""
    options["custom_objects"] = not options.pop("no_custom_objects")
    options["validation"] = validation_rules(
        options.pop("validation_mode"),
        options.pop("require_when"),
        options.pop("refuse_ids"),
        options.pop("refuse_share"),
        options.pop("validation_seed"),
    )
    opts = build_options(**options)
    data_dir = opts.data_dir
    if data_dir is None and opts.size != "small":
        data_dir = Path.cwd() / "data" / "sandbox"
    click.echo(f"Generating the {opts.size} portal (seed {opts.seed})...", err=True)
    app = build_app(opts, data_dir)
    server = ServerThread(app, opts.host, opts.port)
    server.start()
    click.echo(describe(app.context, server.url))
    _wait_for_signal()
    server.stop()
    app.portal.close()
    click.echo("Sandbox stopped.", err=True)


def _wait_for_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    while not stop.wait(0.5):
        pass


def validation_rules(
    mode: str, require_when: Sequence[str], refuse_ids: Sequence[str], refuse_share: Sequence[str], seed: int
) -> dict[str, Any]:
    """The validation options as the operator API's JSON; a click error naming a malformed option."""
    try:
        required = []
        for text in require_when:
            object_type, prop, condition = text.split(":")
            when_prop, value = condition.split("=")
            required.append({"object": object_type, "property": prop, "when": {when_prop: value}})
        refuse: list[dict[str, Any]] = []
        for text in refuse_ids:
            object_type, ids = text.split(":")
            refuse.append({"object": object_type, "ids": ids.split(",")})
        for text in refuse_share:
            object_type, share = text.split(":")
            refuse.append({"object": object_type, "share": float(share), "seed": seed})
    except ValueError as exc:
        raise click.BadParameter(f"malformed validation option ({exc}); see --help for the forms") from exc
    return {"mode": mode, "required": required, "refuse": refuse}
