"""Running the WSGI application under gunicorn, in-process, and the
metrics folder its workers share.

prometheus-client's multiprocess mode keeps each worker's metrics in files
of ``$PROMETHEUS_MULTIPROC_DIR``; the variable must be set before any
metric exists, so in the server's parent process before the workers start
(``metrics_folder``), and a worker's live gauges are dropped when it exits
(``worker_exited``, gunicorn's ``child_exit`` hook). deploy/gunicorn.conf.py
uses the same two functions.
"""

import contextlib
import glob
import os
import shutil
import tempfile

from gunicorn.app.base import BaseApplication

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


_PREFIX = "allotment-metrics-"


def metrics_folder():
    """Set up ``$PROMETHEUS_MULTIPROC_DIR`` for a server starting: a folder
    given by the operator is emptied of a previous run's files; without
    one, a temporary folder named for this process is made (and those of
    servers that died without removing theirs are removed). Returns a
    function that removes what was made (call it when the server stops)."""
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        os.makedirs(given, exist_ok=True)
        for path in glob.glob(os.path.join(given, "*.db")):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        return lambda: None
    _remove_orphans()
    folder = tempfile.mkdtemp(prefix="%s%d-" % (_PREFIX, os.getpid()))
    os.environ[MULTIPROC_DIR] = folder

    def remove():
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get(MULTIPROC_DIR) == folder:
            del os.environ[MULTIPROC_DIR]

    return remove


def _remove_orphans():
    """Remove the temporary metrics folders of servers no longer running
    (killed with SIGKILL: they could not remove their own)."""
    pattern = os.path.join(tempfile.gettempdir(), _PREFIX + "*-*")
    for folder in glob.glob(pattern):
        pid = os.path.basename(folder)[len(_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


def worker_exited(server, worker):
    """gunicorn's ``child_exit``: drop the exited worker's live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class GunicornServer(BaseApplication):
    """gunicorn with an application factory called in each worker."""

    def __init__(
        self,
        app_factory,
        host,
        port,
        workers=1,
        threads=1,
        timeout=60,
        graceful_timeout=30,
    ):
        self._factory = app_factory
        self._options = {
            "bind": "%s:%d" % (host, port),
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync",
            "timeout": timeout,
            # SIGTERM: stop accepting, let requests in flight finish for
            # up to this many seconds, then exit.
            "graceful_timeout": graceful_timeout,
            "keepalive": 5,
            "loglevel": "warning",
            "accesslog": None,
            "child_exit": worker_exited,
        }
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        return self._factory()
