"""The route table: every path of the API and the resource serving it.

Each resource module exposes ``ROUTES``: a list of (path, Resource class).
"""

from allotment.api.resources import aggregates
from allotment.api.resources import allocation_candidates
from allotment.api.resources import allocations
from allotment.api.resources import inventories
from allotment.api.resources import providers
from allotment.api.resources import reshaper
from allotment.api.resources import resource_classes
from allotment.api.resources import root
from allotment.api.resources import traits
from allotment.api.resources import usages

MODULES = [
    root,
    resource_classes,
    providers,
    aggregates,
    allocations,
    reshaper,
    inventories,
    traits,
    usages,
    allocation_candidates,
]


def build(services):
    for module in MODULES:
        for path, resource_cls in module.ROUTES:
            yield path, resource_cls(services)
