"""Run tap-hubspot 4.5.0 (Singer) against the sandbox, inside the peer's own virtualenv.

- `launch_singer.py --config c.json --properties catalog.json [--state s.json]`: the tap's real entry point
  (`tap_hubspot:main`), unchanged, with HubSpot URLs rewritten to `$SANDBOX_URL` by `redirect.install()`.
- `launch_singer.py catalog --config c.json STREAM...`: print a catalog with the named streams and all their
  fields selected, built with the tap's own discovery functions (`load_discovered_schema`) for just those
  streams; the tap's `--discover` would also ask for companies, tickets and forms, which the sandbox portal
  does not have.

`PEER_TIME_SCALE` (optional) scales the tap's sleeps (its fixed 10 s retry wait) like the sandbox's window.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redirect import install, scale_sleep


def build_catalog(config_path: str, names: list[str]) -> dict[str, Any]:
    """A catalog selecting every field of the named streams."""
    import tap_hubspot

    tap_hubspot.CONFIG.update(json.loads(Path(config_path).read_text()))
    streams = []
    for stream in tap_hubspot.STREAMS:
        if stream.tap_stream_id not in names:
            continue
        schema, mdata = tap_hubspot.load_discovered_schema(stream)
        for entry in mdata:
            entry["metadata"]["selected"] = True
        streams.append(
            {"stream": stream.tap_stream_id, "tap_stream_id": stream.tap_stream_id, "schema": schema, "metadata": mdata}
        )
    return {"streams": streams}


def main() -> None:
    """Install the redirect, then build a catalog or run the tap."""
    install()
    scale_sleep()
    args = sys.argv[1:]
    if args and args[0] == "catalog":
        config = args[args.index("--config") + 1]
        names = [a for a in args[1:] if a not in ("--config", config)]
        json.dump(build_catalog(config, names), sys.stdout)
        return
    import tap_hubspot

    sys.argv = ["tap-hubspot", *args]
    tap_hubspot.main()


if __name__ == "__main__":
    main()
