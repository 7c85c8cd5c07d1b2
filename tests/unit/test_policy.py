"""The policy's remembered decisions (api/policy.py)."""

from oslo_context import context

from allotment import config
from allotment.api import policy


def test_an_unhashable_target_is_decided_not_remembered():
    # A target value that cannot be a key (a dict) is decided by
    # oslo.policy each time instead of failing the request.
    rules = policy.Policy(config.load([], default_config_files=[]))
    admin = context.RequestContext(
        user_id="u", project_id="p", roles=["admin"], is_admin=True
    )
    target = {"project_id": "p", "user_id": "u", "extra": {"a": 1}}
    for _ in range(2):
        rules.authorize(admin, "placement:resource_providers:list", target)
    assert rules._decisions == {}
