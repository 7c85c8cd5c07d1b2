"""Talking to a running allotment server: what the CLI twins of the
``/allotment/`` features share.

``add_arguments`` gives a subcommand ``--url``, the credentials and
``--json``; ``call`` sends one GET and prints the answer, as JSON with
``--json`` or through the subcommand's text renderer, and turns errors
(Placement's JSON error format, refused connections, failed keystone
authentication) into one line on stderr and a non-zero exit status.

Credentials are read from the environment as the openstack client reads
them: ``OS_TOKEN`` (``--os-token``) is sent as is (for a noauth2 server a
token is ``USER[:PROJECT]``, ``admin`` being an administrator); otherwise
``OS_AUTH_URL`` with ``OS_USERNAME``, ``OS_PASSWORD``, ``OS_PROJECT_NAME``
(or ``OS_PROJECT_ID``, or ``OS_SYSTEM_SCOPE``) and the domain variables
authenticate with keystone through keystoneauth1. With neither, the token
``admin`` is sent (a local ``allotment serve`` with noauth2). The server is
``--url``, else ``$ALLOTMENT_URL``, else the placement endpoint of the
keystone catalog when authenticating with keystone, else
``http://127.0.0.1:8778``.
"""

import json
import os
import sys

DEFAULT_URL = "http://127.0.0.1:8778"
NOAUTH_TOKEN = "admin"
DEFAULT_API_VERSION = "latest"

# keystone password authentication: argument of generic.Password -> the
# environment variable the openstack client reads it from.
_PASSWORD_ENV = {
    "auth_url": "OS_AUTH_URL",
    "username": "OS_USERNAME",
    "user_id": "OS_USER_ID",
    "password": "OS_PASSWORD",
    "project_name": "OS_PROJECT_NAME",
    "project_id": "OS_PROJECT_ID",
    "user_domain_name": "OS_USER_DOMAIN_NAME",
    "user_domain_id": "OS_USER_DOMAIN_ID",
    "project_domain_name": "OS_PROJECT_DOMAIN_NAME",
    "project_domain_id": "OS_PROJECT_DOMAIN_ID",
    "system_scope": "OS_SYSTEM_SCOPE",
}


class RemoteError(Exception):
    """The server could not be asked, or answered with an error."""


def add_arguments(parser):
    """``--url``, ``--os-token``, ``--os-placement-api-version`` and
    ``--json`` on a subcommand's parser."""
    parser.add_argument(
        "--url",
        default=None,
        help="the allotment server (default: $ALLOTMENT_URL, else the "
        "keystone catalog's placement endpoint when OS_AUTH_URL is set, "
        "else %s)" % DEFAULT_URL,
    )
    parser.add_argument(
        "--os-token",
        default=None,
        help="token to send (default: $OS_TOKEN; else keystone password "
        "authentication from OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, "
        "OS_PROJECT_NAME...; else %r, the noauth2 administrator)"
        % NOAUTH_TOKEN,
    )
    parser.add_argument(
        "--os-placement-api-version",
        default=None,
        help="microversion to ask for (default: "
        "$OS_PLACEMENT_API_VERSION, else %s)" % DEFAULT_API_VERSION,
    )
    parser.add_argument(
        "--json", action="store_true", help="print the answer as JSON"
    )


def session(args, environ=None):
    """(keystoneauth1 session, the keyword arguments naming the server
    to its requests) for ``args``."""
    # Imported here: every other ``allotment`` command starts faster.
    from keystoneauth1 import session as ks_session
    from keystoneauth1 import token_endpoint
    from keystoneauth1.identity import generic

    env = os.environ if environ is None else environ
    url = args.url or env.get("ALLOTMENT_URL")
    token = args.os_token or env.get("OS_TOKEN")
    if token is None and env.get("OS_AUTH_URL"):
        options = {
            name: env[var]
            for name, var in _PASSWORD_ENV.items()
            if env.get(var)
        }
        auth = generic.Password(**options)
        if url:
            return ks_session.Session(auth=auth), {"endpoint_override": url}
        return ks_session.Session(auth=auth), {
            "endpoint_filter": {
                "service_type": "placement",
                "interface": env.get("OS_INTERFACE", "public"),
                "region_name": env.get("OS_REGION_NAME"),
            }
        }
    url = url or DEFAULT_URL
    auth = token_endpoint.Token(url, token or NOAUTH_TOKEN)
    return ks_session.Session(auth=auth), {"endpoint_override": url}


def get(args, path, query="", environ=None):
    """GET ``path`` (plus the query string ``query``) from the server:
    the decoded JSON answer; RemoteError on failure."""
    from keystoneauth1 import exceptions as ks_exceptions

    env = os.environ if environ is None else environ
    sess, where = session(args, env)
    version = (
        args.os_placement_api_version
        or env.get("OS_PLACEMENT_API_VERSION")
        or DEFAULT_API_VERSION
    )
    target = path + ("?" + query.lstrip("?") if query else "")
    try:
        resp = sess.get(
            target,
            headers={
                "Accept": "application/json",
                "OpenStack-API-Version": "placement %s" % version,
            },
            raise_exc=False,
            **where,
        )
    except ks_exceptions.ClientException as exc:
        raise RemoteError("cannot ask the server: %s" % exc) from None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code >= 400:
        raise RemoteError(_error_text(resp.status_code, body, resp.text))
    if body is None:
        raise RemoteError(
            "the server's answer is not JSON (HTTP %d)" % resp.status_code
        )
    return body


def _error_text(status, body, text):
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return "HTTP %d: %s" % (status, text.strip() or "(no body)")
    lines = []
    for error in errors:
        line = "HTTP %s" % error.get("status", status)
        if error.get("code"):
            line += " (%s)" % error["code"]
        text = error.get("detail") or error.get("title") or ""
        line += ": %s" % " ".join(text.split())
        if error.get("request_id"):
            line += " [%s]" % error["request_id"]
        lines.append(line)
    return "\n".join(lines)


def call(
    args, path, query, render, out=None, err=None, environ=None, fetch=None
):
    """GET and print: JSON with ``args.json``, else ``render(answer)``
    (text). The exit status: 0, or 1 after printing the error. ``fetch``
    replaces ``get`` (same arguments) for answers of several requests,
    such as every page of a list."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        answer = (fetch or get)(args, path, query, environ)
    except RemoteError as exc:
        print("allotment: %s" % exc, file=err)
        return 1
    if args.json:
        print(json.dumps(answer, indent=2, sort_keys=True), file=out)
    else:
        print(render(answer), file=out)
    return 0
