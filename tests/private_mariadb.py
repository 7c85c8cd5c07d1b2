"""A private MariaDB server for fault tests: its own data folder in a
temporary directory, its own port, listening on 127.0.0.1 only.

Like tests/private_postgres.py: ``PrivateMariaDB.start_new()`` returns a
running server with an empty ``placement`` database (or skips when no
MariaDB server is installed), ``stop()`` / ``start()`` take it away and
bring it back on the same port, ``destroy()`` stops it and removes its
folder. The shared server on 3306 is never touched.
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import pymysql
import pytest

from tests.private_postgres import REQUIRED
from tests.private_postgres import free_port


def _server_binary():
    for name in ("mariadbd", "mysqld"):
        for folder in ("/usr/sbin", "/usr/bin", "/usr/local/bin"):
            path = os.path.join(folder, name)
            if os.path.exists(path):
                return path
    return shutil.which("mariadbd")


class PrivateMariaDB:
    def __init__(self, folder, binary, user):
        self.folder = folder
        self.binary = binary
        self.user = user
        self.data = os.path.join(folder, "data")
        self.port = free_port()
        self.proc = None
        self.url = "mysql+pymysql://root@127.0.0.1:%d/placement" % self.port

    @classmethod
    def start_new(cls):
        binary = _server_binary()
        install = shutil.which("mariadb-install-db")
        if binary is None or install is None:
            message = "no MariaDB server (mariadbd, mariadb-install-db)"
            if REQUIRED:
                pytest.fail(message)
            pytest.skip(message)
        folder = tempfile.mkdtemp(prefix="allotment-private-mariadb-")
        user = None
        if os.geteuid() == 0:
            user = "mysql"  # mariadbd refuses to run as root
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        server = cls(folder, binary, user)
        try:
            cmd = [
                install,
                "--no-defaults",
                "--datadir=" + server.data,
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ]
            if user:
                cmd.append("--user=" + user)
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
            server.start()
            conn = pymysql.connect(
                host="127.0.0.1", port=server.port, user="root"
            )
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE placement CHARACTER SET utf8mb4")
            conn.close()
        except BaseException:
            server.destroy()
            raise
        return server

    def start(self, timeout=30):
        cmd = [
            self.binary,
            "--no-defaults",
            "--datadir=" + self.data,
            "--port=%d" % self.port,
            "--bind-address=127.0.0.1",
            "--socket=" + os.path.join(self.folder, "mysqld.sock"),
            "--pid-file=" + os.path.join(self.folder, "mysqld.pid"),
            "--log-error=" + os.path.join(self.folder, "error.log"),
            "--skip-log-bin",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=16M",
            "--max-connections=40",
        ]
        if self.user:
            cmd.append("--user=" + self.user)
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                pymysql.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user="root",
                    connect_timeout=2,
                ).close()
                return
            except pymysql.err.OperationalError:
                if self.proc.poll() is not None or (
                    time.monotonic() > deadline
                ):
                    raise RuntimeError(
                        "private MariaDB did not start"
                    ) from None
                time.sleep(0.1)

    def stop(self, mode="fast"):
        """``fast``: a clean shutdown (SIGTERM); ``immediate``: SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(
            signal.SIGKILL if mode == "immediate" else signal.SIGTERM
        )
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def destroy(self):
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def private_mariadb():
    server = PrivateMariaDB.start_new()
    yield server
    server.destroy()
