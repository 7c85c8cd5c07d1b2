"""Policy: the reference's rule names and defaults, enforced with oslo.policy.

Base rules ``admin_api``, ``service_api``, ``admin_or_service_api``,
``project_reader_api`` and ``admin_or_project_reader_or_service_api``; every
``placement:*`` rule defaults to one of them. allotment's own features under
``/allotment/`` are guarded by ``allotment:*`` rules, which default to
``allotment_reader_api`` (administrators or system readers). With
``[oslo_policy] enforce_new_defaults = False`` a rule whose default was
changed also passes under its old default (``role:admin``).
"""

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
]

ALLOTMENT_RULES = [
    policy.DocumentedRuleDefault(
        name="allotment:" + name,
        check_str=check,
        description="%s %s" % (method, path),
        operations=[{"method": method, "path": path}],
        scope_types=["system", "project"],
    )
    for name, check, method, path in _ALLOTMENT_OPERATIONS
]


def all_rules():
    return (
        BASE_RULES + ALLOTMENT_BASE_RULES + OPERATION_RULES + ALLOTMENT_RULES
    )


class Policy:
    """One oslo.policy enforcer built from a ConfigOpts."""

    def __init__(self, conf):
        self.enforcer = policy.Enforcer(conf)
        self.enforcer.suppress_default_change_warnings = True
        self.enforcer.suppress_deprecation_warnings = True
        self.enforcer.register_defaults(all_rules())
        self.enforcer.load_rules()

    def authorize(self, context, action, target=None):
        """Raise a 403 PlacementError unless ``context`` may do ``action``."""
        if target is None:
            target = {
                "project_id": context.project_id,
                "user_id": context.user_id,
            }
        message = "Policy does not allow %s to be performed." % action
        try:
            allowed = self.enforcer.authorize(
                action, target, context, do_raise=False
            )
        except policy.InvalidScope:
            allowed = False
        if not allowed:
            raise exceptions.Forbidden(message)
