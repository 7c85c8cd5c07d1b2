"""The route table, the microversion table and the policy rules agree:
every handler authorizes with a registered rule, every registered rule is
used, and versions are named only in api/microversion.py."""

import inspect
import pathlib
import re

from allotment.api import microversion
from allotment.api import policy
from allotment.api import routes

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "allotment"
# authorize(req, "name" ...) and authorize_allotment(req, "name" ...) in
# handler code: the rule is placement:name or allotment:name.
_AUTHORIZE = re.compile(r'authorize(_allotment)?\(\s*req,\s*"([^"]+)"')


def _rules(source):
    return {
        ("allotment:" if own else "placement:") + name
        for own, name in _AUTHORIZE.findall(source)
    }


# Paths any client may call without a policy check.
UNCHECKED = {("/", "on_get")}


def _registered():
    return {rule.name for rule in policy.all_rules()}


def _handlers():
    for path, resource_cls in routes.ROUTES:
        for name, method in inspect.getmembers(
            resource_cls, inspect.isfunction
        ):
            if name.startswith("on_") and name != "on_options":
                yield path, name, method


def test_every_handler_authorizes_with_a_registered_rule():
    registered = _registered()
    for path, name, method in _handlers():
        actions = _rules(inspect.getsource(method))
        if (path, name) in UNCHECKED:
            assert not actions
            continue
        assert actions, "%s %s checks no policy rule" % (name, path)
        for action in actions:
            assert action in registered, (path, name, action)


def test_every_authorized_action_is_registered_and_every_rule_used():
    used = set()
    for source in SRC.rglob("*.py"):
        used |= _rules(source.read_text())
    operations = {
        rule.name for rule in policy.OPERATION_RULES + policy.ALLOTMENT_RULES
    }
    assert used <= _registered()
    assert operations <= used, operations - used


def test_route_paths_are_unique():
    paths = [path for path, _ in routes.ROUTES]
    assert len(paths) == len(set(paths))


def test_microversion_table_covers_1_0_to_1_39_in_order():
    assert list(microversion.HISTORY) == [(1, minor) for minor in range(40)]
    assert all(change.strip() for change in microversion.HISTORY.values())
    assert microversion.VERSIONS[0] == microversion.MIN_VERSION == "1.0"
    assert microversion.VERSIONS[-1] == microversion.MAX_VERSION == "1.39"


def test_versions_are_named_only_in_the_microversion_table():
    literal = re.compile(r"\(1,\s*\d+\)|\bV1_\d+\b|matches\(\(")
    found = []
    for source in SRC.rglob("*.py"):
        if source.name == "microversion.py" and source.parent.name == "api":
            continue
        for number, line in enumerate(source.read_text().splitlines(), 1):
            if literal.search(line):
                found.append("%s:%d: %s" % (source, number, line.strip()))
    assert not found, "\n".join(found)


def _parse(text):
    return microversion.requested("placement " + text)


def test_pick_takes_the_newest_gate_reached():
    choices = [(microversion.MAPPINGS, "new"), (microversion.BASE, "old")]
    assert microversion.pick(_parse("1.34"), choices) == "new"
    assert microversion.pick(_parse("1.33"), choices) == "old"
