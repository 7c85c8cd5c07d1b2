"""A real ``allotment serve`` subprocess for tests that signal or kill it.

``Served.start(conf_path)`` runs the server in its own process group on a
free port and waits until ``GET /`` answers; ``stop()`` ends the whole group
(SIGKILL after a bounded wait) so that no worker outlives a test.
"""

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.private_postgres import free_port

BIN = pathlib.Path(sys.executable).parent
HEADERS = {
    "x-auth-token": "admin",
    "accept": "application/json",
    "openstack-api-version": "placement 1.39",
}


class Served:
    def __init__(self, proc, port, log_path):
        self.proc = proc
        self.port = port
        self.log_path = log_path
        self.base = "http://127.0.0.1:%d" % port

    @classmethod
    def start(cls, conf_path, *extra_args, workers=1, timeout=30):
        port = free_port()
        log_path = pathlib.Path(conf_path).with_suffix(".log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    str(BIN / "allotment"),
                    "serve",
                    "--config-file",
                    str(conf_path),
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                    *extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=pathlib.Path(conf_path).parent,
            )
        served = cls(proc, port, log_path)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(served.base + "/", timeout=5):
                    return served
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    served.stop()
                    raise RuntimeError(
                        "allotment serve did not start:\n" + served.log()
                    ) from None
                time.sleep(0.1)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def request(self, method, path, body=None, timeout=60, version=None):
        """(status, parsed JSON body or None)."""
        data = None
        headers = dict(HEADERS)
        if version:
            headers["openstack-api-version"] = "placement " + version
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        req = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def accepting(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                return True
        except OSError:
            return False

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, wait=10):
        """End the server's whole process group (SIGTERM, then SIGKILL)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout=wait)


def write_conf(folder, database_url, **sections):
    """A placement.conf in ``folder`` for noauth2 and ``database_url``."""
    lines = [
        "[api]",
        "auth_strategy = noauth2",
        "[placement_database]",
        "connection = %s" % database_url,
        "sync_on_startup = True",
    ]
    for section, options in sections.items():
        lines.append("[%s]" % section)
        lines += ["%s = %s" % item for item in options.items()]
    path = pathlib.Path(folder) / "placement.conf"
    path.write_text("\n".join(lines) + "\n")
    return path
