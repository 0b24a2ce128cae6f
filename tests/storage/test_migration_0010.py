"""Migration 0010 (writeback_ledger's refusal columns) upgrades and downgrades on both databases."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from storage.engine import MIGRATIONS

REFUSAL_COLUMNS = {"refused_at", "refused_message", "refused_hash"}


def _alembic(engine: Engine, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def _ledger_columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("writeback_ledger")}


def test_0010_adds_the_refusal_columns_and_its_downgrade_removes_them(store: Engine) -> None:
    """Down to 0009 the ledger has no refusal columns and no index on them; up to 0010 it has both again."""
    _alembic(store, "downgrade", "0009")
    assert _ledger_columns(store) & REFUSAL_COLUMNS == set()
    assert [i["name"] for i in inspect(store).get_indexes("writeback_ledger")] == []
    _alembic(store, "upgrade", "0010")
    assert _ledger_columns(store) >= REFUSAL_COLUMNS
    assert [i["name"] for i in inspect(store).get_indexes("writeback_ledger")] == ["ix_writeback_ledger_refused_at"]
