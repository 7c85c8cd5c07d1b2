"""Process-wide logging set-up for the server and the commands."""

import logging
import sys


def setup(conf=None, level=None):
    if level is None:
        debug = bool(conf is not None and conf.debug)
        level = logging.DEBUG if debug else logging.INFO
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"
            )
        )
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
