"""WSGI entry point for uwsgi, mod_wsgi and gunicorn: ``application``.

Configuration is read like the reference service does: from
``$OS_PLACEMENT_CONFIG_DIR/placement.conf`` when that variable is set,
otherwise from oslo.config's default locations (``/etc/placement/...``).
"""

import logging
import os
import threading

from allotment import config
from allotment import logs
from allotment.api import app


def _config_files():
    folder = os.environ.get("OS_PLACEMENT_CONFIG_DIR")
    if folder:
        path = os.path.join(folder, "placement.conf")
        return [path] if os.path.exists(path) else []
    return None


def init_application():
    conf = config.load([], default_config_files=_config_files())
    logs.setup(conf)
    return app.build(conf)


class _LazyApplication:
    """Builds the real application in each worker process, so that
    importing this module (as WSGI servers do before forking) opens no
    database: right after a fork (uwsgi's workers), in the background, so
    that the provider snapshot is loaded before requests come; otherwise
    on the first request (mod_wsgi's daemon processes)."""

    def __init__(self):
        self._app = None
        self._lock = threading.Lock()

    def build(self):
        with self._lock:
            if self._app is None:
                self._app = init_application()
        return self._app

    def build_after_fork(self):
        self._lock = threading.Lock()  # a fork copies no thread's hold
        threading.Thread(target=self._build_quietly, daemon=True).start()

    def _build_quietly(self):
        try:
            self.build()
        except Exception:
            logging.getLogger(__name__).exception(
                "building the application after fork failed"
            )

    def __call__(self, environ, start_response):
        app = self._app or self.build()
        return app(environ, start_response)


application = _LazyApplication()
os.register_at_fork(after_in_child=application.build_after_fork)
