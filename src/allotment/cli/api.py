"""``placement-api``: the WSGI script deployment tools point their servers at.

The reference ships ``placement-api`` as a WSGI script: Apache mod_wsgi
(``WSGIScriptAlias / /usr/bin/placement-api``, as kolla-ansible sets it up)
and uwsgi (``wsgi-file = /usr/local/bin/placement-api``, as devstack and
TripleO did) load the file and call its ``application``; run as a command it
starts a small test server. The installed script imports ``application``
from here and, when run as a command, calls it with no arguments, so one
object serves both: called with ``(environ, start_response)`` it is the
allotment WSGI application (``allotment.wsgi.application``, configured from
``$OS_PLACEMENT_CONFIG_DIR/placement.conf`` or oslo.config's default
places); called with nothing it runs the test server:

    placement-api [--port 8000] [--host IP] [-- --config-file placement.conf]
"""

import argparse
import sys
from wsgiref import simple_server

from allotment import config
from allotment import logs
from allotment import wsgi
from allotment.api import app


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="placement-api",
        description="Serve the Placement API with a single-threaded test "
        "server. Production deployments load this script (or "
        "allotment.wsgi:application) in a WSGI server instead.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        usage="%(prog)s [-h] [--port PORT] [--host IP] -- "
        "[--config-file FILE ...]",
    )
    parser.add_argument(
        "--port", "-p", type=int, default=8000, help="TCP port to listen on"
    )
    parser.add_argument(
        "--host", "-b", default="", help="IP to bind the server to"
    )
    args, extra = parser.parse_known_args(argv)
    if extra and extra[0] == "--":
        extra = extra[1:]
    return args, extra


def _build(config_args):
    if not config_args:
        return wsgi.init_application()
    conf = config.load(config_args)
    logs.setup(conf)
    return app.build(conf)


def main(argv=None):
    """Run the test server; answers the exit code."""
    args, config_args = _parse(sys.argv[1:] if argv is None else argv)
    server = simple_server.make_server(
        args.host, args.port, _build(config_args)
    )
    print("*" * 80)
    print("STARTING test server allotment.wsgi.application")
    print(
        "Available at http://%s:%d/" % (server.server_name, server.server_port)
    )
    print("DANGER! For testing only, do not use in production")
    print("*" * 80)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


class _ScriptEntry:
    """The WSGI application when called with a request, else the command."""

    def __call__(self, *wsgi_args):
        if wsgi_args:
            return wsgi.application(*wsgi_args)
        return main()


application = _ScriptEntry()
