"""A private PostgreSQL server for fault tests: its own data folder in a
temporary directory, its own port, listening on 127.0.0.1 only.

Fault tests stop and start it at will; the shared server on 5432 is never
touched. ``PrivatePostgres.start_new()`` returns a running instance (or
skips the test when no PostgreSQL binaries are installed); ``destroy()``
stops it and removes its folder.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest

REQUIRED = os.environ.get("ALLOTMENT_REQUIRE_BACKENDS") == "1"


def _bin_dir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    def __init__(self, folder, bin_dir, user):
        self.folder = folder
        self.bin_dir = bin_dir
        self.user = user
        self.data = os.path.join(folder, "data")
        self.log = os.path.join(folder, "postgres.log")
        self.port = free_port()
        self.url = (
            "postgresql+psycopg://postgres@127.0.0.1:%d/postgres" % self.port
        )

    @classmethod
    def start_new(cls):
        bin_dir = _bin_dir()
        if bin_dir is None:
            message = "no PostgreSQL server binaries (initdb) installed"
            if REQUIRED:
                pytest.fail(message)
            pytest.skip(message)
        folder = tempfile.mkdtemp(prefix="allotment-private-pg-")
        user = None
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            user = "postgres"
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        server = cls(folder, bin_dir, user)
        try:
            server._run(
                "initdb",
                "-D",
                server.data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            )
            server.start()
        except BaseException:
            server.destroy()
            raise
        return server

    def _run(self, tool, *args, timeout=60):
        cmd = [os.path.join(self.bin_dir, tool), *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(
            cmd,
            check=True,
            capture_output=True,
            timeout=timeout,
            cwd=self.folder,
        )

    def start(self):
        options = (
            "-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off "
            "-c full_page_writes=off -c max_connections=40"
            % (self.port, self.folder)
        )
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "30",
            "-D",
            self.data,
            "-l",
            self.log,
            "-o",
            options,
        )

    def stop(self, mode="fast"):
        self._run(
            "pg_ctl", "stop", "-w", "-t", "30", "-D", self.data, "-m", mode
        )

    def running(self):
        return os.path.exists(os.path.join(self.data, "postmaster.pid"))

    def destroy(self):
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def private_postgres():
    server = PrivatePostgres.start_new()
    yield server
    server.destroy()
