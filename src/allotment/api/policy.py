"""Policy: the reference's rule names and defaults, enforced with oslo.policy.

Base rules ``admin_api``, ``service_api``, ``admin_or_service_api``,
``project_reader_api`` and ``admin_or_project_reader_or_service_api``; every
``placement:*`` rule defaults to one of them. allotment's own features under
``/allotment/`` are guarded by ``allotment:*`` rules, which default to
``allotment_reader_api`` (administrators or system readers). With
``[oslo_policy] enforce_new_defaults = False`` a rule whose default was
changed also passes under its old default (``role:admin``).

Decisions are remembered: a rule's answer depends only on the rules, the
caller's credentials and the target, so ``Policy`` keeps the answers it
gave (``_DECISIONS_KEPT`` of them) and asks oslo.policy again only for a
new combination. It looks for a changed policy file at most once every
``RELOAD_SECONDS`` (oslo.policy itself looks on every call) and forgets its
answers when the rules changed. Rules that ask another server (``http:``,
``https:`` checks) are never answered from memory.
"""

import re
import time
from collections.abc import Mapping
from typing import Any

from oslo_policy import policy

from allotment import exceptions

_OLD_DEFAULT = policy.DeprecatedRule(
    name="rule:admin_api",
    check_str="role:admin",
    deprecated_reason="Placement gained scoped, role-based defaults.",
    deprecated_since="W",
)

ADMIN_OR_SERVICE = "rule:admin_or_service_api"

BASE_RULES = [
    policy.RuleDefault(
        "admin_api",
        "role:admin",
        description="Administrators.",
        scope_types=["project"],
    ),
    policy.RuleDefault(
        "service_api",
        "role:service",
        description="Other services (service role).",
        scope_types=["project"],
        deprecated_rule=_OLD_DEFAULT,
    ),
    policy.RuleDefault(
        "admin_or_service_api",
        "role:admin or role:service",
        description="Administrators or services.",
        scope_types=["project"],
        deprecated_rule=_OLD_DEFAULT,
    ),
    policy.RuleDefault(
        "project_reader_api",
        "role:reader and project_id:%(project_id)s",
        description="Readers of the target project.",
        deprecated_rule=_OLD_DEFAULT,
    ),
    policy.RuleDefault(
        "admin_or_project_reader_or_service_api",
        "role:admin or rule:project_reader_api or role:service",
        description="Administrators, services, or readers "
        "of the target project.",
        scope_types=["project"],
        deprecated_rule=_OLD_DEFAULT,
    ),
]

ALLOTMENT_READER = "rule:allotment_reader_api"

ALLOTMENT_BASE_RULES = [
    policy.RuleDefault(
        "allotment_reader_api",
        "role:admin or (role:reader and system_scope:all)",
        description="Who may use allotment's own features under "
        "/allotment/: administrators or system readers.",
        scope_types=["system", "project"],
    ),
]

# (rule name, default check, method and path it guards)
_OPERATIONS = [
    (
        "resource_providers:list",
        ADMIN_OR_SERVICE,
        "GET",
        "/resource_providers",
    ),
    (
        "resource_providers:create",
        ADMIN_OR_SERVICE,
        "POST",
        "/resource_providers",
    ),
    (
        "resource_providers:show",
        ADMIN_OR_SERVICE,
        "GET",
        "/resource_providers/{uuid}",
    ),
    (
        "resource_providers:update",
        ADMIN_OR_SERVICE,
        "PUT",
        "/resource_providers/{uuid}",
    ),
    (
        "resource_providers:delete",
        ADMIN_OR_SERVICE,
        "DELETE",
        "/resource_providers/{uuid}",
    ),
    ("resource_classes:list", ADMIN_OR_SERVICE, "GET", "/resource_classes"),
    ("resource_classes:create", ADMIN_OR_SERVICE, "POST", "/resource_classes"),
    (
        "resource_classes:show",
        ADMIN_OR_SERVICE,
        "GET",
        "/resource_classes/{name}",
    ),
    (
        "resource_classes:update",
        ADMIN_OR_SERVICE,
        "PUT",
        "/resource_classes/{name}",
    ),
    (
        "resource_classes:delete",
        ADMIN_OR_SERVICE,
        "DELETE",
        "/resource_classes/{name}",
    ),
    (
        "resource_providers:inventories:list",
        ADMIN_OR_SERVICE,
        "GET",
        "/resource_providers/{uuid}/inventories",
    ),
    (
        "resource_providers:inventories:create",
        ADMIN_OR_SERVICE,
        "POST",
        "/resource_providers/{uuid}/inventories",
    ),
    (
        "resource_providers:inventories:show",
        ADMIN_OR_SERVICE,
        "GET",
        "/resource_providers/{uuid}/inventories/{resource_class}",
    ),
    (
        "resource_providers:inventories:update",
        ADMIN_OR_SERVICE,
        "PUT",
        "/resource_providers/{uuid}/inventories",
    ),
    (
        "resource_providers:inventories:delete",
        ADMIN_OR_SERVICE,
        "DELETE",
        "/resource_providers/{uuid}/inventories",
    ),
    (
        "resource_providers:aggregates:list",
        ADMIN_OR_SERVICE,
        "GET",
        "/resource_providers/{uuid}/aggregates",
    ),
    (
        "resource_providers:aggregates:update",
        ADMIN_OR_SERVICE,
        "PUT",
        "/resource_providers/{uuid}/aggregates",
    ),
    (
        "resource_providers:usages",
        ADMIN_OR_SERVICE,
        "GET",
        "/resource_providers/{uuid}/usages",
    ),
    (
        "usages",
        "rule:admin_or_project_reader_or_service_api",
        "GET",
        "/usages",
    ),
    ("traits:list", ADMIN_OR_SERVICE, "GET", "/traits"),
    ("traits:show", ADMIN_OR_SERVICE, "GET", "/traits/{name}"),
    ("traits:update", ADMIN_OR_SERVICE, "PUT", "/traits/{name}"),
    ("traits:delete", ADMIN_OR_SERVICE, "DELETE", "/traits/{name}"),
    (
        "resource_providers:traits:list",
        ADMIN_OR_SERVICE,
        "GET",
        "/resource_providers/{uuid}/traits",
    ),
    (
        "resource_providers:traits:update",
        ADMIN_OR_SERVICE,
        "PUT",
        "/resource_providers/{uuid}/traits",
    ),
    (
        "resource_providers:traits:delete",
        ADMIN_OR_SERVICE,
        "DELETE",
        "/resource_providers/{uuid}/traits",
    ),
    ("allocations:manage", ADMIN_OR_SERVICE, "POST", "/allocations"),
    (
        "allocations:list",
        ADMIN_OR_SERVICE,
        "GET",
        "/allocations/{consumer_uuid}",
    ),
    (
        "allocations:update",
        ADMIN_OR_SERVICE,
        "PUT",
        "/allocations/{consumer_uuid}",
    ),
    (
        "allocations:delete",
        ADMIN_OR_SERVICE,
        "DELETE",
        "/allocations/{consumer_uuid}",
    ),
    (
        "resource_providers:allocations:list",
        ADMIN_OR_SERVICE,
        "GET",
        "/resource_providers/{uuid}/allocations",
    ),
    (
        "allocation_candidates:list",
        ADMIN_OR_SERVICE,
        "GET",
        "/allocation_candidates",
    ),
    ("reshaper:reshape", "rule:service_api", "POST", "/reshaper"),
]

OPERATION_RULES = [
    policy.DocumentedRuleDefault(
        name="placement:" + name,
        check_str=check,
        description="%s %s" % (method, path),
        operations=[{"method": method, "path": path}],
        scope_types=["project"],
    )
    for name, check, method, path in _OPERATIONS
]


# allotment's own operations, as in _OPERATIONS; each rule is
# ``allotment:<name>``.
_ALLOTMENT_OPERATIONS: list[tuple[str, str, str, str]] = [
    ("consumers:list", ALLOTMENT_READER, "GET", "/allotment/consumers"),
    ("audit", ALLOTMENT_READER, "GET", "/allotment/audit"),
    ("healthcheck", ALLOTMENT_READER, "GET", "/allotment/healthcheck"),
    ("metrics", ALLOTMENT_READER, "GET", "/allotment/metrics"),
    ("ui", ALLOTMENT_READER, "GET", "/allotment/ui/"),
    (
        "explain",
        ALLOTMENT_READER,
        "GET",
        "/allotment/explain/allocation_candidates",
    ),
    ("capacity", ALLOTMENT_READER, "GET", "/allotment/capacity"),
    ("openapi", "@", "GET", "/allotment/openapi.json"),
]

# Why a rule's default is not allotment_reader_api, by rule name.
_ALLOTMENT_WHY = {
    "openapi": "Any authenticated caller: the document describes the "
    "public Placement API (as its published reference does) and holds no "
    "data of the cloud.",
}

ALLOTMENT_RULES = [
    policy.DocumentedRuleDefault(
        name="allotment:" + name,
        check_str=check,
        description=" ".join(
            filter(None, ["%s %s." % (method, path), _ALLOTMENT_WHY.get(name)])
        ),
        operations=[{"method": method, "path": path}],
        scope_types=["system", "project"],
    )
    for name, check, method, path in _ALLOTMENT_OPERATIONS
]


def all_rules():
    return (
        BASE_RULES + ALLOTMENT_BASE_RULES + OPERATION_RULES + ALLOTMENT_RULES
    )


RELOAD_SECONDS = 1.0
_DECISIONS_KEPT = 4096
_REMOTE_CHECK = re.compile(r"(?<![\w%])https?:")


def _frozen(values: Mapping[str, Any]) -> tuple[Any, ...]:
    """``values`` as a key (lists become tuples); hashing it raises
    TypeError when a value cannot be one."""
    return tuple(
        sorted(
            (k, tuple(v) if isinstance(v, list) else v)
            for k, v in values.items()
        )
    )


class Policy:
    """One oslo.policy enforcer built from a ConfigOpts, with its decisions
    remembered (see the module docstring)."""

    def __init__(self, conf):
        self.enforcer = policy.Enforcer(conf)
        self.enforcer.suppress_default_change_warnings = True
        self.enforcer.suppress_deprecation_warnings = True
        self.enforcer.register_defaults(all_rules())
        self.enforcer.load_rules()
        self._decisions: dict[tuple[Any, ...], bool] = {}
        self._rules: dict[str, str] = {}
        self._remembering = False
        self._take(self._current_rules())
        self._next_reload = time.monotonic() + RELOAD_SECONDS

    def _current_rules(self) -> dict[str, str]:
        return {name: str(rule) for name, rule in self.enforcer.rules.items()}

    def _reload(self) -> None:
        """Let oslo.policy re-read a changed policy file; forget every
        decision if the rules are not the ones they were made under."""
        self.enforcer.load_rules()
        rules = self._current_rules()
        if rules != self._rules:
            self._take(rules)
        self._next_reload = time.monotonic() + RELOAD_SECONDS

    def _take(self, rules: dict[str, str]) -> None:
        self._rules = rules
        self._decisions = {}
        self._remembering = not any(
            _REMOTE_CHECK.search(rule) for rule in rules.values()
        )

    def authorize(self, context, action, target=None):
        """Raise a 403 PlacementError unless ``context`` may do ``action``."""
        if target is None:
            target = {
                "project_id": context.project_id,
                "user_id": context.user_id,
            }
        if time.monotonic() >= self._next_reload:
            self._reload()
        key: tuple[Any, ...] | None = (
            action,
            _frozen(context.to_policy_values()),
            _frozen(target),
        )
        try:
            hash(key)
        except TypeError:
            key = None
        allowed = self._decisions.get(key) if key is not None else None
        if allowed is None:
            allowed = self._decide(context, action, target)
            if key is not None and self._remembering:
                if len(self._decisions) >= _DECISIONS_KEPT:
                    self._decisions = {}
                self._decisions[key] = allowed
        if not allowed:
            raise exceptions.Forbidden(
                "Policy does not allow %s to be performed." % action
            )

    def _decide(self, context, action, target) -> bool:
        try:
            return bool(
                self.enforcer.authorize(
                    action, target, context, do_raise=False
                )
            )
        except policy.InvalidScope:
            return False
