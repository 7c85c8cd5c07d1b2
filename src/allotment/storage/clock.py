"""Time: the time stamps stored in created_at / updated_at (naive UTC, like
the reference), and the database server's own clock (``database_utcnow``)
for decisions every host must agree on whatever its own clock says."""

import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(
        tzinfo=None, microsecond=0
    )


class database_utcnow(FunctionElement[datetime.datetime]):
    """SQL for the database server's current time, naive UTC, whatever
    the session's time zone (``select(database_utcnow())``)."""

    type = sa.DateTime()
    inherit_cache = True


@compiles(database_utcnow)
def _utc_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"  # SQLite's is UTC


@compiles(database_utcnow, "postgresql")
def _utc_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return "timezone('UTC', statement_timestamp())"


@compiles(database_utcnow, "mysql")
@compiles(database_utcnow, "mariadb")
def _utc_mysql(element: Any, compiler: Any, **kw: Any) -> str:
    return "UTC_TIMESTAMP()"
