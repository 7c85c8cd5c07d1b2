"""Microversions 1.0 to 1.39: parsing, per-request version, version gates."""

import microversion_parse

from allotment import exceptions

SERVICE_TYPE = "placement"
VERSIONS = ["1.%d" % minor for minor in range(40)]
MIN_VERSION = VERSIONS[0]
MAX_VERSION = VERSIONS[-1]
HEADER = microversion_parse.STANDARD_HEADER  # OpenStack-API-Version


def parse(headers):
    """The requested ``microversion_parse.Version`` for a header mapping.

    Raises 406 for a version outside 1.0 to 1.39 and 400 for
    an unparseable header.
    """
    try:
        return microversion_parse.extract_version(
            headers, SERVICE_TYPE, VERSIONS)
    except ValueError as exc:
        raise exceptions.NotAcceptable(
            "Invalid microversion: %s" % exc) from None
    except TypeError as exc:
        raise exceptions.BadRequest("Invalid microversion: %s" % exc) from None


def version(text):
    return microversion_parse.parse_version_string(text)


def require(req, minimum, refuse=exceptions.NotFound):
    """Refuse the request (``refuse``, an exceptions class; 404 unless
    given) below ``minimum``, as the reference does for routes that appear
    at some microversion."""
    if req.context.microversion < minimum:
        raise refuse("")
