"""The route table: every path of the API and the resource serving it.

A new route is one line in ``ROUTES`` (and its handlers' policy rules in
``api/policy.py``; tests/unit/test_routes.py checks that they exist).
"""

from allotment.api.resources import aggregates
from allotment.api.resources import allocation_candidates
from allotment.api.resources import allocations
from allotment.api.resources import audit
from allotment.api.resources import console
from allotment.api.resources import consumers
from allotment.api.resources import health
from allotment.api.resources import insight
from allotment.api.resources import inventories
from allotment.api.resources import metrics
from allotment.api.resources import providers
from allotment.api.resources import reshaper
from allotment.api.resources import resource_classes
from allotment.api.resources import root
from allotment.api.resources import traits
from allotment.api.resources import usages

ROUTES = [
    ("/", root.Root),
    ("/resource_classes", resource_classes.ResourceClasses),
    ("/resource_classes/{name}", resource_classes.ResourceClass),
    ("/resource_providers", providers.ResourceProviders),
    ("/resource_providers/{uuid}", providers.ResourceProvider),
    ("/resource_providers/{uuid}/aggregates", aggregates.ProviderAggregates),
    ("/allocations", allocations.Allocations),
    ("/allocations/{consumer_uuid}", allocations.ConsumerAllocations),
    (
        "/resource_providers/{uuid}/allocations",
        allocations.ProviderAllocations,
    ),
    ("/reshaper", reshaper.Reshaper),
    ("/resource_providers/{uuid}/inventories", inventories.Inventories),
    (
        "/resource_providers/{uuid}/inventories/{resource_class}",
        inventories.Inventory,
    ),
    ("/traits", traits.Traits),
    ("/traits/{name}", traits.Trait),
    ("/resource_providers/{uuid}/traits", traits.ProviderTraits),
    ("/resource_providers/{uuid}/usages", usages.ProviderUsages),
    ("/usages", usages.Usages),
    ("/allocation_candidates", allocation_candidates.AllocationCandidates),
    ("/allotment/consumers", consumers.Consumers),
    ("/allotment/audit", audit.Audit),
    ("/allotment/healthcheck", health.DetailedHealthcheck),
    ("/allotment/metrics", metrics.Metrics),
    ("/allotment/ui/", console.Index),
    ("/allotment/ui/search", console.Search),
    ("/allotment/ui/providers/{uuid}", console.Provider),
    ("/allotment/ui/consumers/{uuid}", console.Consumer),
    ("/allotment/ui/explain", console.Explain),
    ("/allotment/ui/capacity", console.Capacity),
    ("/allotment/ui/static/{name}", console.Static),
    ("/allotment/explain/allocation_candidates", insight.Explain),
    ("/allotment/capacity", insight.Capacity),
]


def build(services):
    for path, resource_cls in ROUTES:
        yield path, resource_cls(services)
