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


_EPOCH = datetime.datetime(1970, 1, 1)
_MICROSECOND = datetime.timedelta(microseconds=1)
NEVER = -(2**63)  # ``modified`` of a row with neither time stamp


def micros(stamp: datetime.datetime) -> int:
    """A stored time stamp as whole microseconds since the epoch (the
    provider snapshot keeps them in an integer column); a time zone, never
    stored, is dropped."""
    if stamp.tzinfo is not None:
        stamp = stamp.replace(tzinfo=None)
    return (stamp - _EPOCH) // _MICROSECOND


def modified(
    created: datetime.datetime | None, updated: datetime.datetime | None
) -> int:
    """When a row last changed, as the provider list's Last-Modified
    counts it: ``micros`` of its updated_at, or else of its created_at;
    NEVER when it has neither."""
    stamp = created if updated is None else updated
    return NEVER if stamp is None else micros(stamp)


def from_micros(value: int) -> datetime.datetime:
    """The time stamp ``micros`` made ``value`` of."""
    return _EPOCH + datetime.timedelta(microseconds=value)
