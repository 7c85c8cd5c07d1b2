"""Running the WSGI application under gunicorn, in-process."""

from gunicorn.app.base import BaseApplication


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
        }
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        return self._factory()
