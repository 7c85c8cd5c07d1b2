"""Placement's JSON error format: rendering a PlacementError for a client.

Any ``PlacementError`` raised by a handler or domain operation is rendered as
``{"errors": [{"status", "title", "detail", "code", "request_id"}]}`` (``code``
from microversion 1.23), or as HTML / plain text when the client's Accept
header asks for those, as the reference does.
"""

import html
import re

import falcon
import orjson

from allotment import metrics
from allotment.api import microversion
from allotment.exceptions import DEFAULT

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

# The sentence each status opens its detail with, then a blank line and the
# specific message (the layout clients of the reference see).
_EXPLANATIONS = {
    400: "The server could not comply with the request since it is either "
    "malformed or otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the "
    "document you requested. Either you supplied the wrong credentials "
    "(e.g., bad password), or your browser does not understand how to "
    "supply the credentials required.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    409: "There was a conflict when trying to complete your request.",
    413: "The body of your request was too large for this server.",
    500: "The server has either erred or is incapable of performing the "
    "requested operation.",
    503: "The server is currently unavailable. Please try again at a later "
    "time.",
}


# Seconds a client is asked to wait by a 503 (the database or the provider
# snapshot unavailable).
RETRY_AFTER = 5
DATABASE_UNAVAILABLE = "The placement database is unavailable; retry later."


def explanation(status, req):
    """The fixed first sentence of a status's detail."""
    if status == 405:
        return "The method %s is not allowed for this resource. " % req.method
    if status == 406:
        return (
            "The resource could not be generated that was acceptable to "
            "your browser (content of type %s. " % (req.accept or "")
        )
    if status == 415:
        return (
            "The request media type %s is not supported by this server. "
            % (req.content_type or "None")
        )
    return _EXPLANATIONS.get(status, "")


_TAG = re.compile(r"<.*?>", re.S)


def full_detail(status, message, req):
    """The detail string: explanation, blank line, message on one line
    (line breaks folded and markup dropped, as the reference renders it)."""
    text = explanation(status, req)
    message = _TAG.sub("", message.replace("\r", "").replace("\n", " "))
    if status in (405, 406, 415):
        return "%s\n\n %s" % (text, message)
    return "%s\n\n %s  " % (text, message)


def _pick_media(req):
    accept = req.get_header("Accept")
    if not accept:
        return "application/json"
    try:
        best = req.client_prefers(
            ["application/json", "text/html", "text/plain"]
        )
    except ValueError:
        best = None
    return best or "application/json"


def render(req, resp, status, message, code=DEFAULT, headers=None, extra=None):
    """Write an error response for ``status`` with ``message`` to ``resp``."""
    title = TITLES.get(status, falcon.code_to_http_status(status)[4:])
    if status == 409:
        metrics.CONFLICTS.labels(code).inc()
    resp.status = status
    for name, value in (headers or {}).items():
        resp.set_header(name, value)
    media = _pick_media(req)
    status_line = "%d %s" % (status, title)
    if media == "text/html":
        resp.content_type = "text/html; charset=UTF-8"
        resp.text = (
            "<html>\n <head>\n  <title>%s</title>\n </head>\n <body>\n"
            "  <h1>%s</h1>\n  %s<br /><br />\n%s\n </body>\n</html>"
            % (
                status_line,
                status_line,
                html.escape(explanation(status, req)),
                html.escape(message),
            )
        )
        return
    if media == "text/plain":
        resp.content_type = "text/plain; charset=UTF-8"
        resp.text = "%s\n\n%s\n\n %s" % (
            status_line,
            explanation(status, req),
            message,
        )
        return
    error = {
        "status": status,
        "title": title,
        "detail": full_detail(status, message, req),
    }
    version = getattr(req.context, "microversion", None)
    if version is not None and version.matches(microversion.ERROR_CODES):
        error["code"] = code
    request_id = getattr(req.context, "request_id", None)
    if request_id:
        error["request_id"] = request_id
    if extra:
        error.update(extra)
    resp.content_type = "application/json"
    resp.data = orjson.dumps({"errors": [error]})
