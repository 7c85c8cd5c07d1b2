"""Database errors that mean "not now": answered 503 with Retry-After.

A Galera node that has lost the primary component answers every statement
with MySQL error 1047 (``WSREP has not yet prepared node for application
use``) and a commit it cannot replicate with 1180; a stopped node or server
refuses connections (2003) or drops them (2006, 2013). None of these says
anything about the request: the client should try again later, perhaps
through another host. ``install(engine)`` hooks SQLAlchemy's
``handle_error`` so that such an error is raised as ``DatabaseUnavailable``:
still an ``OperationalError`` (code that catches database errors, such as
the snapshot's refresh, sees no difference) and also a ``PlacementError``
with status 503, which the API renders in Placement's error format.
"""

import logging

from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from allotment import exceptions

LOG = logging.getLogger(__name__)

RETRY_AFTER = 5  # seconds a client is asked to wait

# MySQL/MariaDB: 1040 too many connections, 1047 Galera node not ready
# (non-primary, joining, donor without dirty reads), 1053 server shutdown,
# 1180 error during commit (Galera: not connected to the primary
# component), 1927 connection killed, 2002/2003 cannot connect, 2006 gone
# away, 2013 lost connection, 2055 lost connection (system error), 4031
# disconnected by the server.
MYSQL_CODES = {1040, 1047, 1053, 1180, 1927, 2002, 2003, 2006, 2013, 2055,
               4031}
# PostgreSQL: class 08 (connection exception), 53300 too many connections,
# 57P01-57P03 shutting down / cannot connect now.
PG_STATES = {"53300", "57P01", "57P02", "57P03"}


class DatabaseUnavailable(exceptions.PlacementError, sa_exc.OperationalError):
    """The database cannot serve this request now (503, Retry-After)."""

    status = 503

    def __init__(self, original):
        sa_exc.OperationalError.__init__(
            self, original.statement, original.params, original.orig,
            connection_invalidated=original.connection_invalidated)
        self.detail = ("The placement database is unavailable; retry "
                       "later.")
        self.code = exceptions.DEFAULT
        self.headers = {"Retry-After": str(RETRY_AFTER)}

    def __str__(self):
        return sa_exc.OperationalError.__str__(self)


def is_unavailable(error):
    """True when the DB-API error ``error`` (an OperationalError or
    InterfaceError of the driver) means "try again later"."""
    if type(error).__module__.startswith("psycopg"):
        sqlstate = getattr(error, "sqlstate", None)  # None: client side
        return (sqlstate is None or sqlstate.startswith("08")
                or sqlstate in PG_STATES)
    args = getattr(error, "args", ())
    return bool(args) and isinstance(args[0], int) and args[0] in MYSQL_CODES


def install(engine):
    """Raise ``DatabaseUnavailable`` for such errors on ``engine``."""

    @event.listens_for(engine, "handle_error")
    def _on_error(context):
        if context.is_pre_ping:
            return None  # the pool reconnects by itself
        error = context.sqlalchemy_exception
        # Only operational and interface errors: a value the database
        # refuses (DataError, IntegrityError) is the request's fault.
        if not isinstance(error, (sa_exc.OperationalError,
                                  sa_exc.InterfaceError)) or isinstance(
                error, DatabaseUnavailable):
            return None
        if context.is_disconnect or is_unavailable(
                context.original_exception):
            # The driver's message only: SQLAlchemy's quotes parameters.
            LOG.warning("database unavailable, answering 503: %s",
                        context.original_exception)
            return DatabaseUnavailable(error)
        return None
