"""Which database errors mean "unavailable, retry later" (503) and which
are bugs (500), for each driver allotment ships."""

import sqlite3

import psycopg
import pymysql
import pytest
from sqlalchemy import exc as sa_exc

from allotment.storage import engine


def _wrap(cls, orig, invalidated=False):
    return cls("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "error",
    [
        _wrap(
            sa_exc.OperationalError,
            psycopg.OperationalError("connection failed: Connection refused"),
        ),
        _wrap(
            sa_exc.OperationalError,
            psycopg.errors.AdminShutdown(
                "terminating connection due to administrator command"
            ),
        ),
        _wrap(
            sa_exc.OperationalError,
            psycopg.errors.TooManyConnections(
                "sorry, too many clients already"
            ),
        ),
        _wrap(
            sa_exc.OperationalError,
            psycopg.errors.CannotConnectNow(
                "the database system is starting up"
            ),
        ),
        _wrap(
            sa_exc.InterfaceError,
            psycopg.InterfaceError("the connection is closed"),
        ),
        _wrap(
            sa_exc.OperationalError,
            pymysql.err.OperationalError(
                2003, "Can't connect to MySQL server"
            ),
        ),
        _wrap(
            sa_exc.OperationalError,
            pymysql.err.OperationalError(
                2013, "Lost connection to MySQL server during query"
            ),
        ),
        _wrap(
            sa_exc.OperationalError,
            pymysql.err.OperationalError(1040, "Too many connections"),
        ),
        _wrap(
            sa_exc.ProgrammingError,
            psycopg.ProgrammingError("x"),
            invalidated=True,
        ),
        sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
        sa_exc.DisconnectionError("gone"),
    ],
    ids=lambda e: "%s-%s" % (type(e).__name__, getattr(e, "orig", e)),
)
def test_unavailable(error):
    assert engine.is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        _wrap(
            sa_exc.ProgrammingError,
            psycopg.errors.UndefinedTable("relation does not exist"),
        ),
        _wrap(
            sa_exc.OperationalError,
            psycopg.errors.QueryCanceled(
                "canceling statement due to statement timeout"
            ),
        ),
        _wrap(
            sa_exc.OperationalError,
            pymysql.err.OperationalError(1054, "Unknown column"),
        ),
        _wrap(
            sa_exc.OperationalError,
            sqlite3.OperationalError("no such table: x"),
        ),
        _wrap(
            sa_exc.IntegrityError,
            pymysql.err.IntegrityError(1062, "Duplicate entry"),
        ),
        ValueError("not a database error"),
    ],
    ids=lambda e: "%s-%s" % (type(e).__name__, getattr(e, "orig", e)),
)
def test_not_unavailable(error):
    assert not engine.is_unavailable(error)


@pytest.mark.parametrize(
    "error, code",
    [
        (
            _wrap(
                sa_exc.OperationalError,
                pymysql.err.OperationalError(1317, "Query interrupted"),
            ),
            "1317",
        ),
        (
            _wrap(
                sa_exc.OperationalError,
                psycopg.errors.AdminShutdown("terminating connection"),
            ),
            "57P01",
        ),
        (
            _wrap(
                sa_exc.OperationalError,
                sqlite3.OperationalError("disk I/O error"),
            ),
            None,
        ),
        (RuntimeError("not from a database"), None),
    ],
)
def test_error_code_names_the_database_code_only(error, code):
    """A 500's detail names the database's error code (never its text,
    which may quote SQL), so a failure seen only on CI can be diagnosed."""
    assert engine.error_code(error) == code
