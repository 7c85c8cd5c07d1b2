"""WSGI entry point for uwsgi, mod_wsgi and gunicorn: ``application``.

Configuration is read like the reference service does: from
``$OS_PLACEMENT_CONFIG_DIR/placement.conf`` when that variable is set,
otherwise from oslo.config's default locations (``/etc/placement/...``).
"""

import os

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
    """Builds the real application on the first request, so that importing
    this module (as WSGI servers do before forking) opens no database."""

    def __init__(self):
        self._app = None

    def __call__(self, environ, start_response):
        if self._app is None:
            self._app = init_application()
        return self._app(environ, start_response)


application = _LazyApplication()
