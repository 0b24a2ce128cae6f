"""Migrations on start: several processes starting at once on an empty store migrate it once; the others wait for
that migration and find the schema current."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from storage.engine import MIGRATION_LOCK, make_engine, migrate
from storage.locks import LockTimeoutError, waiting_lock

ROOT = Path(__file__).resolve().parents[2]
STARTER = Path(__file__).with_name("migrate_starter.py")
STARTS = 4


def test_concurrent_first_starts_on_an_empty_store_migrate_it_once(store_url: str) -> None:
    """Four processes told to start at the same moment all succeed; Alembic ran the first revision in one of them."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    starters = [
        subprocess.Popen(
            [sys.executable, str(STARTER), store_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(STARTS)
    ]
    for starter in starters:
        assert starter.stdout is not None
        assert starter.stdout.readline().strip() == "ready"
    for starter in starters:
        assert starter.stdin is not None
        starter.stdin.write("go\n")
        starter.stdin.flush()
    ended = [(starter.communicate(timeout=120), starter.returncode) for starter in starters]
    assert [code for _, code in ended] == [0] * STARTS, [err[-600:] for (_, err), _ in ended]
    assert sorted(out.splitlines()[-1] for (out, _), _ in ended) == ["current"] * (STARTS - 1) + ["migrated"]
    assert sum(err.count("Running upgrade  -> 0001") for (_, err), _ in ended) == 1
    engine = make_engine(store_url)
    try:
        assert "lock_fences" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_start_with_migrations_pending_waits_for_the_cycle_lock_and_gives_up_at_its_bound(store_url: str) -> None:
    """While another process holds the cycle lock (a cycle of the older version runs), a start that must migrate
    waits for it, and at the end of its bound raises LockTimeoutError having migrated nothing."""
    holder, starting = make_engine(store_url), make_engine(store_url)
    try:
        with waiting_lock(holder, MIGRATION_LOCK, 5), pytest.raises(LockTimeoutError, match="cycle lock stayed taken"):
            migrate(starting, wait_s=0.5)
        assert inspect(starting).get_table_names() == []
    finally:
        holder.dispose()
        starting.dispose()
