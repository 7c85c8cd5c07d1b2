"""Database engine: URL handling, per-backend connection set-up, transactions.

``Database`` owns one SQLAlchemy engine. ``write()`` opens a transaction,
``read()`` one only when asked for a consistent read; on SQLite a write
transaction starts with ``BEGIN IMMEDIATE`` so
that concurrent writers queue on the database lock instead of failing on a
lock upgrade. ``run_write()`` retries a unit of work on deadlocks and
serialization failures reported by PostgreSQL and MySQL. Each write
transaction publishes what it recorded in the provider change log as its
last statements (``storage/changes.py``); ``read(consistent=True)`` reads
one point in time on every backend (REPEATABLE READ on PostgreSQL and
MySQL, whose default here is READ COMMITTED).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import random
import select
import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy import pool
from sqlalchemy.engine import URL
from sqlalchemy.engine import make_url

from allotment import exceptions
from allotment import metrics
from allotment.storage import changes

if TYPE_CHECKING:
    from oslo_config import cfg

LOG = logging.getLogger(__name__)
T = TypeVar("T")

# MySQL: 1213 deadlock, 1205 lock wait timeout. PostgreSQL: 40P01 deadlock,
# 40001 serialization failure.
_MYSQL_RETRY_CODES = {1213, 1205}
_MYSQL_SAVEPOINT_LOST = 1305  # "SAVEPOINT ... does not exist"
_PG_RETRY_STATES = {"40P01", "40001"}
_WRITE_RETRIES = 10

# Seconds a connection attempt may take (the drivers' connect_timeout,
# unless the URL sets one): an unreachable server fails a request instead
# of hanging it.
CONNECT_TIMEOUT = 10

# Errors meaning the database cannot be reached or is going away (answered
# 503): PostgreSQL SQLSTATE class 08 (connection exception), 53300 (too
# many connections), 57P01-57P03 (shutting down, starting up); MySQL
# 1040 (too many connections), 1053 (shutdown), 2002/2003 (cannot connect),
# 2006 (gone away), 2013 (lost connection), 2055 (lost, system error).
_PG_UNAVAILABLE_STATES = {"53300", "57P01", "57P02", "57P03"}
# MySQL/MariaDB: 1040 too many connections, 1047 Galera node not ready
# (non-primary, joining, donor), 1053 server shutdown, 1180 error during
# commit (Galera: not connected to the primary component), 1927 connection
# killed, 2002/2003 cannot connect, 2006 gone away, 2013/2055 connection
# lost, 4031 disconnected by the server.
_MYSQL_UNAVAILABLE_CODES = {
    1040,
    1047,
    1053,
    1180,
    1927,
    2002,
    2003,
    2006,
    2013,
    2055,
    4031,
}


def mysql_driver() -> str:
    """The driver MySQL and MariaDB are spoken to with: mysqlclient (C,
    ``MySQLdb``) when it is installed, else PyMySQL (pure Python). Each
    statement costs PyMySQL about three times the CPU, most of it decoding
    the result's column descriptions and rows; the SQL sent and the errors
    raised (the server's error numbers) are the same."""
    try:
        importlib.import_module("MySQLdb")
    except ImportError:  # not installed, or its libmariadb is missing
        return "pymysql"
    return "mysqldb"


def normalize_url(url: str | URL) -> URL:
    """Map a placement.conf connection URL to the drivers allotment ships.

    ``postgresql://`` and ``postgresql+psycopg2://`` use psycopg 3; every
    ``mysql://`` URL (``mysql+pymysql://``, as the reference's deployments
    write it, included) uses ``mysql_driver()``, with utf8mb4.
    """
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "postgresql" and u.get_driver_name() != "psycopg":
        u = u.set(drivername="postgresql+psycopg")
    elif backend in ("mysql", "mariadb"):
        u = u.set(drivername="mysql+" + mysql_driver())
        if "charset" not in u.query:
            u = u.update_query_dict({"charset": "utf8mb4"})
    return u


_SECRET_WORDS = ("password", "secret", "token")


def redacted_url(url: str | URL) -> str:
    """``url`` as text for logs: the password and any query parameter whose
    name says it is secret (``password=``, ``sslpassword=``) masked."""
    u = make_url(url)
    hidden = {
        name: "redacted"
        for name in u.query
        if any(word in name.lower() for word in _SECRET_WORDS)
    }
    if hidden:
        u = u.update_query_dict(hidden)
    return u.render_as_string(hide_password=True)


def _code(error: BaseException) -> int | str | None:
    """The driver's code for ``error``: MySQL's error number or
    PostgreSQL's SQLSTATE (None when there is none)."""
    orig = getattr(error, "orig", None)
    if orig is None:
        return None
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def is_retryable(error: BaseException) -> bool:
    """True when ``error`` is a deadlock or serialization failure, or the
    loss of a savepoint to one: a MySQL deadlock (or Galera certification
    failure) rolls back the whole transaction, so leaving a savepoint
    block then fails with 1305 in place of the deadlock (its context)."""
    orig = getattr(error, "orig", None)
    if orig is None:
        return False
    code = _code(error)
    if code in _PG_RETRY_STATES or code in _MYSQL_RETRY_CODES:
        return True
    if code == _MYSQL_SAVEPOINT_LOST:
        return any(map(is_retryable, _context_chain(error)))
    return "database is locked" in str(orig)


def error_code(error: BaseException) -> str | None:
    """The database's own code for ``error``: MySQL's error number or
    PostgreSQL's SQLSTATE (None when the driver gave none). Safe to show:
    unlike the message, it quotes no SQL or values."""
    code = _code(error)
    return None if code is None else str(code)


def _context_chain(error: BaseException) -> Iterator[BaseException]:
    """The exceptions ``error`` was raised while handling, nearest first."""
    seen = {id(error)}
    context = error.__context__
    while context is not None and id(context) not in seen:
        seen.add(id(context))
        yield context
        context = context.__context__


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` means the database is unreachable, going away or
    out of connections (a client should retry later), not a bad request."""
    if isinstance(error, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True  # TimeoutError: no pooled connection came free in time
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated or isinstance(
        error, sa_exc.InterfaceError
    ):
        return True
    if not isinstance(error, sa_exc.OperationalError):
        return False
    orig = error.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # MySQL drivers: (code, message)
        return args[0] in _MYSQL_UNAVAILABLE_CODES
    if type(orig).__module__.startswith("psycopg"):
        # None for client-side (connection) errors.
        state = getattr(orig, "sqlstate", None)
        return (
            state is None
            or state.startswith("08")
            or state in _PG_UNAVAILABLE_STATES
        )
    return False


def compares_text_exactly(conn: sa.Connection) -> bool:
    """True when ``=`` on the schema's text columns holds for equal strings
    only (SQLite, PostgreSQL); MySQL's and MariaDB's default collations
    also equate strings differing in case, accents or trailing spaces."""
    return conn.dialect.name not in ("mysql", "mariadb")


# The execution option of a plain read: no transaction is begun, each
# statement is its own (autocommit).
_PLAIN = "allotment_plain_read"


# A pooled connection unused for longer than this many seconds is pinged
# before it is handed out; one in steady use only when its socket says the
# server has ended it (see _Liveness).
PING_AFTER_IDLE = 2.0
_IDLE_SINCE = "allotment_idle_since"
# PostgreSQL and MySQL: set on a pooled connection while a transaction it
# began may be open (see Database._setup_transactions).
_OPEN = "allotment_transaction_open"
# The execution option of a consistent read.
_CONSISTENT = "allotment_consistent_read"


def _socket_of(dbapi_conn: Any) -> int | None:
    """The file descriptor of a psycopg, mysqlclient or PyMySQL connection
    (None when the driver does not say, or the connection is closed)."""
    try:
        fileno = dbapi_conn.fileno  # psycopg, mysqlclient
    except AttributeError:
        sock = getattr(dbapi_conn, "_sock", None)  # PyMySQL
        fileno = getattr(sock, "fileno", None)
    if fileno is None:
        return None
    try:
        fd = fileno()
    except Exception:  # closed
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def _has_input(fd: int) -> bool:
    """True when the socket ``fd`` has something to read, or has been
    closed or reset by the other end."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


class _Liveness:
    """Hands out only pooled connections the server has not ended, with a
    round trip only where one is needed.

    SQLAlchemy's pre-ping sends a statement at every checkout: on a small
    read, a round trip as dear as the read's own. Between requests a
    connection's socket has nothing to read; when the server ends the
    connection (a restart, a kill, a timeout, a proxy failing over) the
    socket becomes readable: the server's last message, or the end of the
    stream. So a connection is pinged first only when its socket has
    input, when it has been idle for longer than ``PING_AFTER_IDLE``, or
    when its socket cannot be seen; a failed ping discards it and the pool
    connects afresh, as with pre-ping. (Neither catches a server that
    vanishes without a word, such as a cut cable, between the check and
    the statement: that request fails with a 503.)"""

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect

    def checkout(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        fd = _socket_of(dbapi_conn)
        if since is not None and (
            fd is None
            or time.monotonic() - since >= PING_AFTER_IDLE
            or _has_input(fd)
        ):
            try:
                self.dialect.do_ping(dbapi_conn)
            except Exception as error:
                # As pre-ping does: the server has gone away and come back,
                # so every connection made before now is dead too; the pool
                # drops them and checks out a new one.
                raise sa_exc.InvalidatePoolError(str(error)) from error

    @staticmethod
    def checkin(dbapi_conn: Any, record: Any) -> None:
        if dbapi_conn is not None:
            record.info[_IDLE_SINCE] = time.monotonic()


def _checked_out(*_args: Any) -> None:
    metrics.DB_IN_USE.inc()


def _checked_in(*_args: Any) -> None:
    metrics.DB_IN_USE.dec()


class Database:
    """An engine plus the transaction helpers the domain layer uses."""

    def __init__(
        self,
        url: str | URL,
        *,
        sqlite_synchronous: bool = True,
        mysql_sql_mode: str = "TRADITIONAL",
        pool_size: int | None = None,
        max_overflow: int | None = None,
        pool_timeout: int | None = None,
        recycle: int = 3600,
        echo: bool = False,
        connection_parameters: str = "",
    ) -> None:
        if connection_parameters:
            url = "%s%s%s" % (
                url,
                "&" if "?" in str(url) else "?",
                connection_parameters,
            )
        self.url = normalize_url(url)
        self.backend = self.url.get_backend_name()
        kwargs: dict[str, Any] = {"future": True, "echo": echo}
        if self.backend == "sqlite":
            self._prepare_sqlite_path()
            if self.url.database in (None, "", ":memory:"):
                kwargs["poolclass"] = pool.StaticPool
            kwargs["connect_args"] = {
                "check_same_thread": False,
                "timeout": 60,
            }
        else:
            kwargs["pool_recycle"] = recycle
            if pool_size is not None:
                kwargs["pool_size"] = pool_size
            if max_overflow is not None:
                kwargs["max_overflow"] = max_overflow
            if pool_timeout is not None:
                kwargs["pool_timeout"] = pool_timeout
            # Connections rest in autocommit: see _setup_transactions.
            kwargs["isolation_level"] = "AUTOCOMMIT"
            kwargs["skip_autocommit_rollback"] = True
            kwargs["pool_reset_on_return"] = None
            if "connect_timeout" not in self.url.query:
                kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
        self.engine = sa.create_engine(self.url, **kwargs)
        if self.backend != "sqlite":
            # (first: a connection found dead is replaced before it counts)
            liveness = _Liveness(self.engine.dialect)
            event.listen(self.engine, "checkout", liveness.checkout)
            event.listen(self.engine, "checkin", liveness.checkin)
        event.listen(self.engine, "checkout", _checked_out)
        event.listen(self.engine, "checkin", _checked_in)
        if self.backend == "sqlite":
            self._setup_sqlite(sqlite_synchronous)
        else:
            if self.backend == "mysql":
                self._setup_mysql(mysql_sql_mode)
            self._setup_transactions()

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> Database:
        db = conf.placement_database
        if not db.connection:
            raise ValueError("[placement_database] connection is not set")
        return cls(
            db.connection,
            sqlite_synchronous=db.sqlite_synchronous,
            mysql_sql_mode=db.mysql_sql_mode,
            pool_size=db.max_pool_size,
            max_overflow=db.max_overflow,
            pool_timeout=db.pool_timeout,
            recycle=db.connection_recycle_time,
            echo=db.connection_debug >= 50,
            connection_parameters=db.connection_parameters,
        )

    def _prepare_sqlite_path(self) -> None:
        path = self.url.database
        if path and path != ":memory:":
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)

    def _setup_sqlite(self, synchronous: bool) -> None:
        memory = self.url.database in (None, "", ":memory:")

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin event emit BEGIN itself (see below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute(
                "PRAGMA synchronous=%s" % ("NORMAL" if synchronous else "OFF")
            )
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            options = conn.get_execution_options()
            if options.get("allotment_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif not options.get(_PLAIN):
                conn.exec_driver_sql("BEGIN")

    def _setup_mysql(self, sql_mode: str) -> None:
        """Each connection's session: the SQL mode, and READ COMMITTED
        (the level every transaction but a consistent read's uses)."""

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if sql_mode:
                cur.execute("SET SESSION sql_mode = %s", (sql_mode,))
            cur.execute(
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
            )
            cur.close()

    def _setup_transactions(self) -> None:
        """PostgreSQL and MySQL: connections rest in autocommit, and a
        transaction is begun with START TRANSACTION when SQLAlchemy begins
        one, except on a plain read, whose statements then need no
        transaction at all: neither the BEGIN and ROLLBACK around them
        (PostgreSQL: two of a small read's four round trips before it used
        autocommit; MySQL: the ROLLBACK ending the implicit transaction,
        one of two), nor switching the connection to autocommit and back
        for each read (on PostgreSQL about a third of checking a connection
        out and in). A write costs the same round trips as before.

        SQLAlchemy neither rolls back (``skip_autocommit_rollback``) nor
        resets (``pool_reset_on_return``) a connection in autocommit: a
        connection that began a transaction here and did not commit it is
        rolled back as it goes back to the pool, so that no transaction
        outlives its request (the next START TRANSACTION would commit it
        on MySQL, and fail on PostgreSQL)."""
        begin: dict[bool, tuple[str, ...]]
        if self.backend == "postgresql":
            # Each transaction names its level: a server whose
            # default_transaction_isolation differs changes nothing.
            begin = {
                False: ("START TRANSACTION ISOLATION LEVEL READ COMMITTED",),
                True: ("START TRANSACTION ISOLATION LEVEL REPEATABLE READ",),
            }
        else:
            # For the consistent read's transaction only (the session stays
            # at READ COMMITTED): setting the session's level and back,
            # SQLAlchemy's way, costs four round trips, each with a COMMIT.
            begin = {
                False: ("START TRANSACTION",),
                True: (
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                    "START TRANSACTION",
                ),
            }

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            options = conn.get_execution_options()
            if options.get(_PLAIN):
                return
            conn.connection.info[_OPEN] = True
            for statement in begin[bool(options.get(_CONSISTENT))]:
                conn.exec_driver_sql(statement)

        @event.listens_for(self.engine, "reset")
        def _on_reset(dbapi_conn: Any, record: Any, _state: Any) -> None:
            if record.info.pop(_OPEN, False):
                dbapi_conn.rollback()

    def wait_until_reachable(
        self, max_retries: int = 10, interval: float = 10
    ) -> None:
        """Connect, trying again every ``interval`` seconds up to
        ``max_retries`` more times (-1: forever) while the server is down;
        the last failure is raised."""
        attempt = 0
        while True:
            try:
                with self.engine.connect():
                    return
            except sa_exc.OperationalError as error:
                if 0 <= max_retries <= attempt:
                    raise
                attempt += 1
                LOG.warning(
                    "database unreachable (%s); retrying in %s s (attempt %d)",
                    error.orig,
                    interval,
                    attempt,
                )
                time.sleep(interval)

    @contextlib.contextmanager
    def read(self, consistent: bool = False) -> Iterator[sa.Connection]:
        """A read-only connection. With ``consistent``, a transaction whose
        statements all see the same point in time. Without, each statement
        sees what was committed before it began (READ COMMITTED), and no
        transaction is begun, since it would add nothing to that (on
        SQLite, BEGIN and ROLLBACK were two statements of a small read's
        three; PostgreSQL and MySQL: _setup_transactions)."""
        with self.engine.connect() as conn:
            if not consistent:
                yield conn.execution_options(**{_PLAIN: True})
                return
            conn = conn.execution_options(**{_CONSISTENT: True})
            conn.begin()
            yield conn
            if self.backend == "postgresql":
                # Read only, so the same as rolling back, but psycopg drops
                # every statement it prepared on the connection when it sees
                # a ROLLBACK (then sends DEALLOCATE ALL, and prepares them
                # all again): the statements of a request were never
                # prepared for long.
                conn.commit()
                conn.connection.info.pop(_OPEN, None)
            # Elsewhere closing the connection rolls the transaction back
            # (_setup_transactions; SQLite: SQLAlchemy's reset).

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction, committed when the block ends cleanly,
        after publishing the provider changes it recorded."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(allotment_write=True)
            changes.discard(conn)
            try:
                with conn.begin():
                    yield conn
                    changes.publish(conn)
                # Committed: nothing left to roll back.
                conn.connection.info.pop(_OPEN, None)
            finally:
                changes.discard(conn)

    def run_write(
        self, work: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """Run ``work(conn, *args, **kwargs)`` in a write transaction.

        Deadlocks and serialization failures (on Galera also certification
        failures, reported as deadlocks) roll back and retry the whole unit
        of work, after a short random pause; when they persist the write
        fails with 409 ``placement.concurrent_update``, never a 500.
        """
        for attempt in range(_WRITE_RETRIES):
            try:
                with self.write() as conn:
                    return work(conn, *args, **kwargs)
            except sa_exc.DBAPIError as error:
                if not is_retryable(error):
                    raise
                if attempt == _WRITE_RETRIES - 1:
                    LOG.warning(
                        "write still conflicting after %d attempts: %s",
                        _WRITE_RETRIES,
                        error.orig,
                    )
                    raise exceptions.ConcurrentUpdate() from error
                LOG.debug("retrying write after %s", error.orig)
                metrics.RETRIES.labels("deadlock").inc()
                time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def pool_capacity(self) -> int:
        """Connections the pool may hold open at once (its size plus its
        overflow; 1 for an in-memory SQLite database)."""
        p = self.engine.pool
        if isinstance(p, pool.QueuePool):
            # _max_overflow: -1 means no bound; counted as none here.
            return p.size() + max(0, p._max_overflow)
        return 1

    def dispose(self) -> None:
        self.engine.dispose()
