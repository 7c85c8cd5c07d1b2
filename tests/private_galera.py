"""A private three-node MariaDB Galera cluster for scale-out tests.

Each node is a ``mariadbd`` with galera-4 running as the ``mysql`` user
(when the tests run as root) in its own folder under a temporary directory,
listening on 127.0.0.1 only: its own SQL port, gcomm port
(``gmcast.listen_addr``), IST port (``ist.recv_addr``) and rsync SST port.
The shared MariaDB on 3306 is never touched. ``GaleraCluster.start_new()``
initialises node 1, bootstraps the cluster on it (``--wsrep-new-cluster``),
joins the other two (state transfer by rsync) and waits until
``wsrep_cluster_size`` is 3; ``destroy()`` kills every node it started and
removes the folder. It also runs at interpreter exit, so a crashed test
leaves no server behind.
"""

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pymysql
import pytest
import sqlalchemy as sa

REQUIRED = os.environ.get("ALLOTMENT_REQUIRE_BACKENDS") == "1"
MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = (
    shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
)
GALERA = "/usr/lib/galera/libgalera_smm.so"
NODES = 3
START_TIMEOUT = 90  # seconds for one node to be synced and accept SQL


def missing():
    """Why a Galera cluster cannot run here (None when it can)."""
    for path in (MARIADBD, INSTALL_DB, GALERA):
        if not os.path.exists(path):
            return (
                "%s is not installed (apt-get install galera-4 "
                "mariadb-server)" % path
            )
    if not shutil.which("rsync"):
        return "rsync (Galera's state transfer) is not installed"
    if not (shutil.which("ss") or shutil.which("lsof")):
        return "neither ss (iproute2) nor lsof is installed (rsync SST)"
    try:
        pwd.getpwnam("mysql")
    except KeyError:
        if os.geteuid() == 0:
            return (
                "no mysql user to run mariadbd as (apt-get install "
                "mariadb-server)"
            )
    return None


def free_ports(count):
    """``count`` distinct free TCP ports on 127.0.0.1."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class Node:
    """One mariadbd of the cluster."""

    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name = "node%d" % index
        self.folder = os.path.join(cluster.folder, self.name)
        self.data = os.path.join(self.folder, "data")
        self.log = os.path.join(self.folder, "error.log")
        self.config = os.path.join(self.folder, "my.cnf")
        (self.port, self.gcomm_port, self.ist_port, self.sst_port) = (
            free_ports(4)
        )
        self.process = None

    @property
    def url(self):
        return "mysql+pymysql://root@127.0.0.1:%d/mysql" % self.port

    def database_url(self, name):
        return "mysql+pymysql://root@127.0.0.1:%d/%s" % (self.port, name)

    def write_config(self):
        peers = ",".join(
            "127.0.0.1:%d" % node.gcomm_port for node in self.cluster.nodes
        )
        provider_options = ";".join(
            [
                "gmcast.listen_addr=tcp://127.0.0.1:%d" % self.gcomm_port,
                "ist.recv_addr=127.0.0.1:%d" % self.ist_port,
                "gcache.size=64M",
                # Notice a stopped or isolated peer within seconds.
                "evs.keepalive_period=PT0.5S",
                "evs.inactive_check_period=PT0.5S",
                "evs.suspect_timeout=PT3S",
                "evs.inactive_timeout=PT6S",
                "evs.install_timeout=PT6S",
            ]
        )
        lines = [
            "[mariadbd]",
            "datadir=%s" % self.data,
            "socket=%s" % os.path.join(self.folder, "mysqld.sock"),
            "pid-file=%s" % os.path.join(self.folder, "mysqld.pid"),
            "log-error=%s" % self.log,
            "port=%d" % self.port,
            "bind-address=127.0.0.1",
            "skip-name-resolve",
            "max_connections=200",
            "innodb_buffer_pool_size=64M",
            "innodb_log_file_size=32M",
            "innodb_flush_log_at_trx_commit=0",
            "innodb_autoinc_lock_mode=2",
            "binlog_format=ROW",
            "default_storage_engine=InnoDB",
            "character-set-server=utf8mb4",
            "wsrep_on=ON",
            "wsrep_provider=%s" % GALERA,
            "wsrep_cluster_name=allotment_test",
            "wsrep_cluster_address=gcomm://%s" % peers,
            "wsrep_node_name=%s" % self.name,
            "wsrep_node_address=127.0.0.1:%d" % self.gcomm_port,
            "wsrep_node_incoming_address=127.0.0.1:%d" % self.port,
            'wsrep_provider_options="%s"' % provider_options,
            "wsrep_sst_method=rsync",
            "wsrep_sst_receive_address=127.0.0.1:%d" % self.sst_port,
            "wsrep_slave_threads=2",
        ]
        with open(self.config, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def start(self, bootstrap=False, wait=True):
        """Start mariadbd; with ``wait``, until it is synced and serves
        SQL."""
        self.write_config()
        command = [MARIADBD, "--defaults-file=%s" % self.config]
        if os.geteuid() == 0:
            command.append("--user=mysql")
        if bootstrap:
            command.append("--wsrep-new-cluster")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.folder,
            start_new_session=True,
        )
        if wait:
            self.wait_synced()

    def status(self, conn, name):
        row = conn.exec_driver_sql(
            "SHOW GLOBAL STATUS LIKE '%s'" % name
        ).first()
        return row[1] if row else None

    def query_status(self, *names):
        """The named wsrep status values (a dict), or None when the node
        does not answer."""
        engine = sa.create_engine(
            self.url,
            poolclass=sa.pool.NullPool,
            connect_args={"connect_timeout": 3},
        )
        try:
            with engine.connect() as conn:
                return {name: self.status(conn, name) for name in names}
        except sa.exc.DBAPIError:
            return None
        finally:
            engine.dispose()

    def wait_synced(self, size=None, timeout=START_TIMEOUT):
        """Wait until the node is Synced and primary (and, with ``size``,
        sees that many nodes)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    "%s exited (%s):\n%s"
                    % (self.name, self.process.returncode, self.tail_log())
                )
            last = self.query_status(
                "wsrep_local_state_comment",
                "wsrep_cluster_status",
                "wsrep_cluster_size",
                "wsrep_ready",
            )
            if (
                last
                and last["wsrep_local_state_comment"] == "Synced"
                and last["wsrep_cluster_status"] == "Primary"
                and last["wsrep_ready"] == "ON"
                and (size is None or int(last["wsrep_cluster_size"]) == size)
            ):
                return last
            time.sleep(0.5)
        raise RuntimeError(
            "%s not synced after %s s (last status %s):\n%s"
            % (self.name, timeout, last, self.tail_log())
        )

    def tail_log(self, lines=40):
        try:
            with open(self.log, errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout=60):
        """A clean shutdown (SIGTERM): the node leaves the cluster and
        keeps its state for an incremental transfer when it rejoins."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def kill(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        self.process = None

    def running(self):
        return self.process is not None and self.process.poll() is None

    def sql(self, statement):
        """Run one statement on a fresh autocommit connection (SET and SHOW
        work even while the node is not primary); the rows."""
        conn = pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            autocommit=True,
            connect_timeout=5,
            read_timeout=30,
            write_timeout=30,
        )
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall()
        finally:
            conn.close()

    def isolate(self, on=True):
        """Cut the node off its peers (``gmcast.isolate``) without
        stopping it: it loses the primary component and answers 1047."""
        self.sql(
            "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=%d'"
            % (1 if on else 0)
        )

    def wait_not_primary(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                rows = self.sql(
                    "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_status'"
                )
                if rows and rows[0][1] != "Primary":
                    return
            except pymysql.err.OperationalError as exc:
                if exc.args and exc.args[0] == 1047:
                    return
            time.sleep(0.3)
        raise RuntimeError(
            "%s still primary after %s s" % (self.name, timeout)
        )

    def transfers(self):
        """How the node received state, from its log: counts of
        incremental (IST) and full (SST) transfers."""
        try:
            with open(self.log, errors="replace") as handle:
                text = handle.read()
        except OSError:
            return {"IST": 0, "SST": 0}
        return {
            "IST": text.count("WSREP: IST received:"),
            "SST": text.count("SST completed on joiner"),
        }

    def last_committed(self):
        rows = self.sql("SHOW GLOBAL STATUS LIKE 'wsrep_last_committed'")
        return int(rows[0][1])


class GaleraCluster:
    """Three private Galera nodes on 127.0.0.1."""

    def __init__(self, folder):
        self.folder = folder
        self.nodes = []
        self.nodes = [Node(self, index) for index in range(1, NODES + 1)]
        atexit.register(self.destroy)

    @classmethod
    def start_new(cls):
        reason = missing()
        if reason:
            if REQUIRED:
                pytest.fail(reason)
            pytest.skip(reason)
        for attempt in (1, 2):
            folder = tempfile.mkdtemp(prefix="allotment-galera-")
            os.chmod(folder, 0o755)
            cluster = cls(folder)
            try:
                cluster._initialise()
                cluster.nodes[0].start(bootstrap=True)
                for node in cluster.nodes[1:]:
                    node.start()
                cluster.nodes[0].wait_synced(size=NODES)
                return cluster
            except RuntimeError:
                cluster.destroy()
                if attempt == 2:
                    raise
                # Once more with new ports: one may have been taken
                # between choosing it and binding it.
            except BaseException:
                cluster.destroy()
                raise

    def _initialise(self):
        owner = pwd.getpwnam("mysql") if os.geteuid() == 0 else None
        for node in self.nodes:
            os.makedirs(node.data)
            if owner:
                for path in (node.folder, node.data):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
        # Node 1 gets a fresh system database; the others receive theirs
        # by state transfer when they join.
        first = self.nodes[0]
        command = [
            INSTALL_DB,
            "--no-defaults",
            "--datadir=%s" % first.data,
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ]
        if owner:
            command.append("--user=mysql")
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=first.folder,
        )
        if result.returncode != 0:
            raise RuntimeError(
                "mariadb-install-db failed:\n%s\n%s"
                % (result.stdout, result.stderr)
            )

    def create_database(self, name):
        """A database (created through node 1, replicated to all)."""
        engine = sa.create_engine(
            self.nodes[0].url,
            isolation_level="AUTOCOMMIT",
            poolclass=sa.pool.NullPool,
        )
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(
                    "CREATE DATABASE %s CHARACTER SET utf8mb4" % name
                )
        finally:
            engine.dispose()

    def wait_converged(self, timeout=90):
        """Wait until every node is synced in a cluster of three and has
        applied the same last transaction."""
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            node.wait_synced(size=NODES, timeout=timeout)
        seen = None
        while time.monotonic() < deadline:
            seen = [node.last_committed() for node in self.nodes]
            if len(set(seen)) == 1:
                return seen[0]
            time.sleep(0.3)
        raise RuntimeError("nodes did not converge: last committed %s" % seen)

    def destroy(self):
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
