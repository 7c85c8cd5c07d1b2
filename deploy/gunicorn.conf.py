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
