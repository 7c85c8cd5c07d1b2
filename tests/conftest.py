"""Shared test fixtures: database backends and an API client.

Backends: SQLite always; PostgreSQL (127.0.0.1:5432, user postgres) and
MariaDB (127.0.0.1:3306, root) when reachable. With
ALLOTMENT_REQUIRE_BACKENDS=1 (set by .ci/run) an unreachable backend fails
the tests that need it instead of skipping them. ALLOTMENT_TEST_BACKENDS
(comma-separated: sqlite,postgresql,mysql) narrows the set.
"""

import os
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import settings

from tests import support

# Private database servers started by fault tests (never the shared ones).
pytest_plugins = ["tests.private_postgres", "tests.private_mariadb"]

BACKENDS = [
    b.strip()
    for b in os.environ.get(
        "ALLOTMENT_TEST_BACKENDS", "sqlite,postgresql,mysql"
    ).split(",")
    if b.strip()
]
REQUIRED = os.environ.get("ALLOTMENT_REQUIRE_BACKENDS") == "1"

SERVER_URLS = {
    "postgresql": os.environ.get(
        "ALLOTMENT_TEST_POSTGRESQL_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    ),
    "mysql": os.environ.get(
        "ALLOTMENT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql"
    ),
}


# Property tests: a short run by default (CI); the long one is documented in
# docs/operations.md (ALLOTMENT_HYPOTHESIS_PROFILE=long).
_SLOW_OK = [
    HealthCheck.too_slow,
    HealthCheck.filter_too_much,
    HealthCheck.data_too_large,
]
settings.register_profile(
    "ci",
    max_examples=12,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=_SLOW_OK,
)
settings.register_profile(
    "long",
    max_examples=400,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=_SLOW_OK,
)
settings.load_profile(os.environ.get("ALLOTMENT_HYPOTHESIS_PROFILE", "ci"))


class BackendUnavailable(Exception):
    pass


def _create_server_database(backend):
    """Create a uniquely named database; return (url, drop function)."""
    name = "allotment_test_%s" % uuid.uuid4().hex[:12]
    admin_url = sa.engine.make_url(SERVER_URLS[backend])
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if backend == "mysql":
                conn.exec_driver_sql(
                    "CREATE DATABASE %s CHARACTER SET utf8mb4" % name
                )
            else:
                conn.exec_driver_sql("CREATE DATABASE %s" % name)
    except sa.exc.OperationalError as exc:
        raise BackendUnavailable(
            "%s unreachable: %s" % (backend, exc)
        ) from None
    finally:
        # No idle admin connection per test database: hundreds of them
        # would exhaust the server's max_connections.
        admin.dispose()

    def drop():
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = '%s' AND pid <> pg_backend_pid()" % name
                )
                conn.exec_driver_sql("DROP DATABASE IF EXISTS %s" % name)
            else:
                conn.exec_driver_sql("DROP DATABASE IF EXISTS %s" % name)
        admin.dispose()

    return admin_url.set(database=name).render_as_string(
        hide_password=False
    ), drop


@pytest.fixture(scope="session")
def make_database_url(tmp_path_factory):
    """A factory: backend name -> URL of a new, empty database."""
    drops = []

    def make(backend):
        if backend == "sqlite":
            folder = tmp_path_factory.mktemp("db")
            return "sqlite:///%s" % (folder / "placement.sqlite")
        try:
            url, drop = _create_server_database(backend)
        except BackendUnavailable as exc:
            if REQUIRED:
                pytest.fail(str(exc))
            pytest.skip(str(exc))
        drops.append(drop)
        return url

    yield make
    for drop in drops:
        drop()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def database_url(backend, make_database_url):
    return make_database_url(backend)


@pytest.fixture
def api(database_url):
    """An API client on a fresh database of each backend."""
    client = support.ApiClient.create(database_url)
    yield client
    client.close()


@pytest.fixture
def pair(database_url):
    """Two API instances on one database, as two worker processes: each
    keeps its own provider snapshot."""
    writer = support.ApiClient.create(database_url)
    reader = support.ApiClient.create(database_url)
    yield writer, reader
    reader.close()
    writer.close()


@pytest.fixture
def sqlite_api(tmp_path):
    """An API client on a fresh SQLite database only (fast tests)."""
    client = support.ApiClient.create(
        "sqlite:///%s" % (tmp_path / "placement.sqlite")
    )
    yield client
    client.close()
