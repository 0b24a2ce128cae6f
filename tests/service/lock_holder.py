"""A cycle-lock holder in a process of its own, for tests/service/test_lock.py.

    python lock_holder.py DATABASE_URL

Tries the cycle lock once, prints `held` or `busy` on stdout, then keeps what it has until stdin closes or the
process is killed (the tests kill it with SIGKILL).
"""

from __future__ import annotations

import sys

from service.lock import cycle_lock
from storage.engine import make_engine


def hold(url: str) -> None:
    """Take the lock on `url`, say whether it was taken, and hold it until stdin closes."""
    engine = make_engine(url)
    with cycle_lock(engine) as acquired:
        print("held" if acquired else "busy", flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    hold(sys.argv[1])
