"""Microversions 1.0 to 1.39: parsing, per-request version, version gates."""

import microversion_parse

from allotment.api import errors

SERVICE_TYPE = "placement"
VERSIONS = ["1.%d" % minor for minor in range(40)]
MIN_VERSION = VERSIONS[0]
MAX_VERSION = VERSIONS[-1]
HEADER = microversion_parse.STANDARD_HEADER  # OpenStack-API-Version


def parse(headers):
    """The requested ``microversion_parse.Version`` for a header mapping.

    Raises PlacementError 406 for a version outside 1.0 to 1.39 and 400 for
    an unparseable header.
    """
    try:
        return microversion_parse.extract_version(
            headers, SERVICE_TYPE, VERSIONS)
    except ValueError as exc:
        raise errors.PlacementError(
            "Invalid microversion: %s" % exc, status=406) from None
    except TypeError as exc:
        raise errors.PlacementError(
            "Invalid microversion: %s" % exc, status=400) from None


def version(text):
    return microversion_parse.parse_version_string(text)


def require(req, minimum, maximum=None, status=404):
    """Refuse the request unless its microversion is within the bounds.

    Routes that appear at some microversion answer 404 below it (or
    ``status``) as the reference does.
    """
    want = req.context.microversion
    if want < minimum or (maximum is not None and want > maximum):
        raise errors.PlacementError("", status=status)
