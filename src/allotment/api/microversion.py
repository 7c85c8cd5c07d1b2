"""Microversions 1.0 to 1.39: what each changed, parsing, version gates.

``HISTORY`` below is the one record of the microversions: each line adds a
version, says what it changed, and names the gate code tests it with
(``req.context.microversion.matches(CONSUMER_GENERATION)``,
``require(req, RESHAPER)``). A new microversion is one more line here
(VERSIONS and MAX_VERSION follow), then the gate used where it applies.
"""

import functools

import microversion_parse

from allotment import exceptions

HISTORY = {}


def v(major, minor, change):
    """Record that ``major.minor`` made ``change``; the gate, a version
    tuple that ``Version.matches`` and comparisons accept."""
    version = (major, minor)
    HISTORY[version] = change
    return version


BASE = v(
    1,
    0,
    "providers, inventories, usages, allocations, read-only resource classes",
)
AGGREGATES = v(1, 1, "GET/PUT /resource_providers/{uuid}/aggregates")
RESOURCE_CLASSES = v(1, 2, "custom resource classes: /resource_classes")
LIST_MEMBER_OF = v(1, 3, "member_of on GET /resource_providers")
LIST_RESOURCES = v(
    1, 4, "resources (capacity filter) on GET /resource_providers"
)
DELETE_INVENTORIES = v(1, 5, "DELETE /resource_providers/{uuid}/inventories")
TRAITS = v(1, 6, "traits: /traits and /resource_providers/{uuid}/traits")
ENSURE_RESOURCE_CLASS = v(
    1,
    7,
    "PUT /resource_classes/{name} creates or "
    "confirms a class (no body) instead of renaming",
)
ALLOCATION_OWNER = v(
    1, 8, "project_id and user_id required in PUT /allocations/{consumer}"
)
USAGES = v(1, 9, "GET /usages per project (and user)")
ALLOCATION_CANDIDATES = v(1, 10, "GET /allocation_candidates")
ALLOCATIONS_LINK = v(1, 11, "providers link to their allocations")
ALLOCATIONS_DICT = v(
    1,
    12,
    "allocations keyed by provider uuid (PUT/GET "
    "/allocations/{consumer}, allocation requests); GET "
    "shows project_id and user_id",
)
POST_ALLOCATIONS = v(1, 13, "POST /allocations: several consumers at once")
NESTED_PROVIDERS = v(
    1,
    14,
    "nested providers: parent_provider_uuid, root_provider_uuid, in_tree",
)
CACHE_HEADERS = v(1, 15, "Last-Modified and Cache-Control headers")
CANDIDATES_LIMIT = v(1, 16, "limit on GET /allocation_candidates")
CANDIDATES_REQUIRED = v(
    1,
    17,
    "required (traits) on GET "
    "/allocation_candidates; traits in provider "
    "summaries",
)
LIST_REQUIRED = v(1, 18, "required (traits) on GET /resource_providers")
AGGREGATES_GENERATION = v(
    1,
    19,
    "provider generation in GET/PUT /resource_providers/{uuid}/aggregates",
)
CREATE_SHOWS_PROVIDER = v(
    1, 20, "POST /resource_providers answers 200 with the provider"
)
CANDIDATES_MEMBER_OF = v(1, 21, "member_of on GET /allocation_candidates")
FORBIDDEN_TRAITS = v(1, 22, "forbidden traits (!TRAIT) in required")
ERROR_CODES = v(1, 23, "error responses carry a code")
MULTIPLE_MEMBER_OF = v(1, 24, "several member_of parameters (all must be met)")
GRANULAR_GROUPS = v(
    1,
    25,
    "granular request groups: resourcesN, requiredN, member_ofN, group_policy",
)
RESERVED_EQUALS_TOTAL = v(1, 26, "an inventory's reserved may equal its total")
ALL_CLASSES_IN_SUMMARIES = v(
    1,
    27,
    "provider summaries show all classes of "
    "the provider, not just the requested ones",
)
CONSUMER_GENERATION = v(1, 28, "consumer generations in allocations")
NESTED_SUMMARIES = v(
    1,
    29,
    "nested candidates: several providers of a tree "
    "per group; summaries show whole trees with parent and "
    "root uuids",
)
RESHAPER = v(1, 30, "POST /reshaper")
CANDIDATES_IN_TREE = v(1, 31, "in_tree on GET /allocation_candidates")
FORBIDDEN_AGGREGATES = v(1, 32, "forbidden aggregates (!member_of, !in:...)")
ANY_SUFFIX = v(1, 33, "request group suffixes may be any [a-zA-Z0-9_-]{1,64}")
MAPPINGS = v(
    1,
    34,
    "mappings (request group -> providers) in allocation "
    "requests and allocation bodies",
)
ROOT_REQUIRED = v(1, 35, "root_required on GET /allocation_candidates")
SAME_SUBTREE = v(1, 36, "same_subtree and resourceless request groups")
REPARENTING = v(
    1, 37, "PUT /resource_providers/{uuid} may change or drop the parent"
)
CONSUMER_TYPES = v(1, 38, "consumer types in allocations and usages")
ANY_OF_TRAITS = v(1, 39, "required=in:A,B (any of the traits)")

SERVICE_TYPE = "placement"
VERSIONS = ["%d.%d" % version for version in HISTORY]
MIN_VERSION = VERSIONS[0]
MAX_VERSION = VERSIONS[-1]
HEADER = microversion_parse.STANDARD_HEADER  # OpenStack-API-Version


@functools.lru_cache(maxsize=64)
def requested(header):
    """The requested ``microversion_parse.Version`` for the value of the
    OpenStack-API-Version header (None: no such header), remembered per
    value (clients send a handful; errors are not remembered).

    Raises 406 for a version outside 1.0 to 1.39 and 400 for an unparseable
    header.
    """
    try:
        return microversion_parse.extract_version(
            {} if header is None else {HEADER: header}, SERVICE_TYPE, VERSIONS
        )
    except ValueError as exc:
        raise exceptions.NotAcceptable(
            "Invalid microversion: %s" % exc
        ) from None
    except TypeError as exc:
        raise exceptions.BadRequest("Invalid microversion: %s" % exc) from None


def require(req, minimum, refuse=exceptions.NotFound):
    """Refuse the request (``refuse``, an exceptions class; 404 unless
    given) below the gate ``minimum``, as the reference does for routes
    that appear at some microversion."""
    if req.context.microversion < minimum:
        raise refuse("")


def choose(version, choices):
    """The first (gate, value) of ``choices`` (newest gate first, ending
    with ``BASE``) that ``version`` has reached."""
    for gate, value in choices:
        if version >= gate:
            return gate, value
    raise ValueError("no choice for %s" % (version,))


def pick(version, choices):
    """The value of ``choose(version, choices)``."""
    return choose(version, choices)[1]
