"""Parsing of the query parameters shared by provider listing and
allocation candidates: resources, required (traits), member_of, in_tree.

Each parser raises a 400 PlacementError with the reference's wording.
"""

from allotment import exceptions
from allotment.api import http
from allotment.api import microversion

MAX_AMOUNT = 2147483647  # the largest inventory total the schema allows

_RESOURCES_FORM = (
    "Badly formed resources parameter. Expected resources "
    "query string parameter in form: "
    "?resources=VCPU:2,MEMORY_MB:1024. Got: %s."
)


def resources(value):
    """``VCPU:2,MEMORY_MB:1024`` -> {"VCPU": 2, "MEMORY_MB": 1024}."""
    if value.strip() == "":
        raise exceptions.BadRequest(_RESOURCES_FORM % "empty string")
    result = {}
    for item in value.split(","):
        try:
            name, amount = item.split(":")
        except ValueError:
            raise exceptions.BadRequest(_RESOURCES_FORM % item) from None
        try:
            amount = int(amount)
        except ValueError:
            raise exceptions.BadRequest(
                "Requested resource %s expected positive integer amount. "
                "Got: %s." % (name, amount)
            ) from None
        if amount < 1:
            raise exceptions.BadRequest(
                "Requested resource %s requires amount >= 1. Got: %d."
                % (name, amount)
            )
        if amount > MAX_AMOUNT:
            # No inventory can hold it, and databases cannot compare it.
            raise exceptions.BadRequest(
                "Requested resource %s requires amount <= %d. Got: %d."
                % (name, MAX_AMOUNT, amount)
            )
        result[name] = amount
    return result


def _bad_required(detail):
    return exceptions.BadRequest("Invalid query string parameters: " + detail)


def required_value(value, allow_forbidden, allow_any):
    """One ``required`` value -> (list of any-of trait sets, forbidden set).

    ``A,!B`` gives ([{A}], {B}); ``in:A,B`` (1.39) gives ([{A, B}], set()).
    """
    if value.startswith("in:"):
        if not allow_any:
            raise _bad_required(
                "The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported "
                "since microversion 1.39. Got: %s" % value
            )
        any_of = {part.strip() for part in value[3:].split(",")}
        if not all(any_of):
            raise _bad_required(
                "Expected 'required' parameter value of the form: "
                "in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: %s"
                % value
            )
        if any(t.startswith("!") for t in any_of):
            raise _bad_required(
                "The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' does not "
                "support forbidden traits. Got: %s" % value
            )
        return [any_of], set()
    names = [part.strip() for part in value.split(",")]
    forbidden = {n[1:] for n in names if n.startswith("!")}
    if not all(names) or not all(forbidden):
        form = (
            "HW_CPU_X86_VMX,!CUSTOM_MAGIC"
            if allow_forbidden
            else "HW_CPU_X86_VMX,CUSTOM_MAGIC"
        )
        raise _bad_required(
            "Expected 'required' parameter value of the form: %s. "
            "Got an empty trait in: %s" % (form, value)
        )
    if forbidden and not allow_forbidden:
        raise _bad_required(
            "Expected 'required' parameter value of the form: "
            "HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: %s" % value
        )
    return [{n} for n in names if not n.startswith("!")], forbidden


def required(values, version):
    """All ``required<suffix>`` values of a request -> (any-of sets,
    forbidden). Before 1.39 only the last value counts."""
    allow_forbidden = version.matches(microversion.FORBIDDEN_TRAITS)
    allow_any = version.matches(microversion.ANY_OF_TRAITS)
    if not allow_any:
        values = values[-1:]
    any_sets, forbidden = [], set()
    for value in values:
        sets, banned = required_value(value, allow_forbidden, allow_any)
        any_sets += sets
        forbidden |= banned
    return any_sets, forbidden


def member_of_value(value):
    """One ``member_of`` value -> (required any-of set, forbidden set)."""
    if "," in value and not value.startswith(("in:", "!in:")):
        raise exceptions.BadRequest(
            "Multiple values for 'member_of' must be prefixed with the "
            "'in:' or '!in:' keyword using the valid microversion. Got: %s"
            % value
        )
    need, banned = set(), set()
    if value.startswith("!in:"):
        banned = set(value[4:].split(","))
    elif value.startswith("!"):
        banned = {value[1:]}
    elif value.startswith("in:"):
        need = set(value[3:].split(","))
    else:
        need = {value}
    for agg in need | banned:
        if not http.is_uuid_like(agg):
            raise exceptions.BadRequest(
                "Invalid query string parameters: Expected 'member_of' "
                "parameter to contain valid UUID(s). Got: %s" % agg
            )
    return need, banned


def member_of(values, version, suffix=""):
    """All ``member_of<suffix>`` values -> (list of any-of sets, forbidden).

    Several values need 1.24, forbidden ones 1.32.
    """
    if len(values) > 1 and not version.matches(
        microversion.MULTIPLE_MEMBER_OF
    ):
        raise exceptions.BadRequest(
            "Multiple member_of%s parameters are not supported" % suffix
        )
    any_sets, forbidden = [], set()
    for value in values:
        need, banned = member_of_value(value)
        if need:
            any_sets.append(need)
        if banned:
            if not version.matches(microversion.FORBIDDEN_AGGREGATES):
                raise exceptions.BadRequest(
                    "Forbidden member_of%s parameters are not supported in "
                    "the specified microversion" % suffix
                )
            forbidden |= banned
    return any_sets, forbidden


def in_tree(value):
    """An ``in_tree`` value: a provider UUID."""
    result = value.strip()
    if not http.is_uuid_like(result):
        raise exceptions.BadRequest(
            "Invalid query string parameters: Expected 'in_tree' parameter "
            "to be a format of uuid. Got: %s" % value
        )
    return result
