"""A process starting on a store, for tests/storage/test_migrate.py.

    python migrate_starter.py DATABASE_URL

Prints `ready`, waits for a line on stdin (so that several start at once), migrates the store, and prints `migrated`
or `current`. Alembic's own log lines go to stderr.
"""

from __future__ import annotations

import logging
import sys

from storage.engine import make_engine, migrate


def start(url: str) -> None:
    """Migrate `url` once the test says go; say whether this process ran the migrations."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    engine = make_engine(url)
    print("ready", flush=True)
    sys.stdin.readline()
    print("migrated" if migrate(engine) else "current", flush=True)
    engine.dispose()


if __name__ == "__main__":
    start(sys.argv[1])
