"""gunicorn serving allotment: ``gunicorn -c /etc/placement/gunicorn.conf.py``.

Configuration is read from $OS_PLACEMENT_CONFIG_DIR/placement.conf.
"""

import os

os.environ.setdefault("OS_PLACEMENT_CONFIG_DIR", "/etc/placement")

wsgi_app = "allotment.wsgi:application"
bind = "127.0.0.1:8778"
workers = 4
# gthread workers let one process overlap requests waiting on the database.
worker_class = "gthread"
threads = 4
timeout = 60
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = "info"
proc_name = "placement-api"

# Metrics of every worker add up in GET /allotment/metrics
# (prometheus-client's multiprocess mode): a folder of per-worker files,
# $PROMETHEUS_MULTIPROC_DIR if set (emptied at start) or a temporary one
# (removed at exit); an exited worker's live gauges are dropped.
from allotment import serving  # noqa: E402

_remove_metrics_folder = serving.metrics_folder()
child_exit = serving.worker_exited


def on_exit(server):
    _remove_metrics_folder()
