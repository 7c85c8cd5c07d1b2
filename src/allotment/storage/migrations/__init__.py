"""Alembic migrations of the placement schema.

The revision chain starts with the same revision identifiers as the
reference service (b4ed3a175331 … a082b8bb98d0), each re-implemented here,
so a database created by the reference is recognised and upgraded in place.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

if TYPE_CHECKING:
    import sqlalchemy as sa

    from allotment.storage.engine import Database

HERE = os.path.dirname(os.path.abspath(__file__))


def alembic_config(connection: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", HERE)
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(database: Database, revision: str = "head") -> None:
    """Upgrade the schema of ``database`` (a storage.engine.Database)."""
    with database.engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def stamp(database: Database, revision: str) -> None:
    with database.engine.begin() as conn:
        command.stamp(alembic_config(conn), revision)


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(HERE).get_current_head()
