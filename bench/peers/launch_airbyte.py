"""Run airbyte-source-hubspot 5.7.0 against the sandbox: `bench/.peers/airbyte/bin/python launch_airbyte.py
read --config c.json --catalog cat.json [--state s.json]` (any Airbyte command: spec, check, discover, read).

Runs inside the peer's own virtualenv. HubSpot URLs are rewritten to `$SANDBOX_URL` by `redirect.install()`;
then the connector's real entry point (`source_hubspot.run:run`) runs with the given arguments, unchanged.
`PEER_TIME_SCALE` (optional, e.g. 0.1) scales the connector's sleeps (its rate-limit backoff) by the same factor
as the sandbox's time-scaled rate-limit window, so a throttled run keeps real-world proportions.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redirect import install, scale_sleep


def main() -> None:
    """Install the redirect and hand over to the connector's entry point."""
    install()
    scale_sleep()
    from source_hubspot.run import run

    sys.argv = ["source-hubspot", *sys.argv[1:]]
    run()


if __name__ == "__main__":
    main()
