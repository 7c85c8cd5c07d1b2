"""A nova_api-shaped database for the import tests.

The placement tables as Nova's API database had them before the extraction
(Nova kept the standard resource classes out of ``resource_classes``, had a
``can_host`` provider column and no consumer types), next to a Nova table
the import must ignore.
"""

import uuid

import sqlalchemy as sa

from allotment.storage import engine

metadata = sa.MetaData()


def _stamps():
    return (
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
    )


sa.Table(
    "resource_providers",
    metadata,
    *_stamps(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.Unicode(200), unique=True),
    sa.Column("generation", sa.Integer),
    sa.Column("can_host", sa.Integer),
    sa.Column("root_provider_id", sa.Integer),
    sa.Column("parent_provider_id", sa.Integer),
)
sa.Table(
    "inventories",
    metadata,
    *_stamps(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resource_provider_id", sa.Integer, nullable=False),
    sa.Column("resource_class_id", sa.Integer, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False),
    sa.Column("min_unit", sa.Integer, nullable=False),
    sa.Column("max_unit", sa.Integer, nullable=False),
    sa.Column("step_size", sa.Integer, nullable=False),
    sa.Column("allocation_ratio", sa.Float, nullable=False),
)
sa.Table(
    "allocations",
    metadata,
    *_stamps(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resource_provider_id", sa.Integer, nullable=False),
    sa.Column("consumer_id", sa.String(36), nullable=False),
    sa.Column("resource_class_id", sa.Integer, nullable=False),
    sa.Column("used", sa.Integer, nullable=False),
)
sa.Table(
    "consumers",
    metadata,
    *_stamps(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("project_id", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
)
for _name in ("projects", "users"):
    sa.Table(
        _name,
        metadata,
        *_stamps(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("external_id", sa.String(255), nullable=False, unique=True),
    )
for _name in ("resource_classes", "traits"):
    sa.Table(
        _name,
        metadata,
        *_stamps(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Unicode(255), nullable=False, unique=True),
    )
sa.Table(
    "resource_provider_traits",
    metadata,
    *_stamps(),
    sa.Column("trait_id", sa.Integer, primary_key=True),
    sa.Column("resource_provider_id", sa.Integer, primary_key=True),
)
sa.Table(
    "placement_aggregates",
    metadata,
    *_stamps(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uuid", sa.String(36), unique=True),
)
sa.Table(
    "resource_provider_aggregates",
    metadata,
    *_stamps(),
    sa.Column("resource_provider_id", sa.Integer, primary_key=True),
    sa.Column("aggregate_id", sa.Integer, primary_key=True),
)
sa.Table(
    "flavors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255)),
)

# Standard ids as Nova used them: the index in the standard list.
VCPU, MEMORY_MB, DISK_GB = 0, 1, 2
GOLD = 10001


def build(url, extra_allocations=0):
    """Create and fill a nova_api-shaped database at ``url``.

    Answers a description of what it holds. ``extra_allocations`` adds that
    many more allocations (to make the copy take a while).
    """
    eng = sa.create_engine(engine.normalize_url(url))
    metadata.create_all(eng)
    t = metadata.tables
    root, child, old = (str(uuid.uuid4()) for _ in range(3))
    consumers = [str(uuid.uuid4()) for _ in range(3)]
    with eng.begin() as conn:
        conn.execute(t["flavors"].insert(), [{"id": 1, "name": "m1.tiny"}])
        conn.execute(
            t["projects"].insert(), [{"id": 7, "external_id": "project-a"}]
        )
        conn.execute(t["users"].insert(), [{"id": 9, "external_id": "user-a"}])
        conn.execute(
            t["resource_classes"].insert(),
            [{"id": GOLD, "name": "CUSTOM_GOLD"}],
        )
        # Trait ids deliberately unlike the ones the target gives them.
        conn.execute(
            t["traits"].insert(),
            [
                {"id": 500, "name": "HW_CPU_X86_AVX2"},
                {"id": 501, "name": "CUSTOM_FAST"},
                {"id": 502, "name": "STORAGE_DISK_SSD"},
            ],
        )
        conn.execute(
            t["placement_aggregates"].insert(),
            [{"id": 3, "uuid": str(uuid.uuid4())}],
        )
        # The child has a lower id than its parent; "old" predates nesting.
        conn.execute(
            t["resource_providers"].insert(),
            [
                {
                    "id": 20,
                    "uuid": root,
                    "name": "root",
                    "generation": 4,
                    "can_host": 1,
                    "root_provider_id": 20,
                    "parent_provider_id": None,
                },
                {
                    "id": 10,
                    "uuid": child,
                    "name": "child",
                    "generation": 2,
                    "can_host": 0,
                    "root_provider_id": 20,
                    "parent_provider_id": 20,
                },
                {
                    "id": 30,
                    "uuid": old,
                    "name": "old",
                    "generation": 1,
                    "can_host": 0,
                    "root_provider_id": None,
                    "parent_provider_id": None,
                },
            ],
        )
        conn.execute(
            t["resource_provider_traits"].insert(),
            [
                {"trait_id": 500, "resource_provider_id": 20},
                {"trait_id": 501, "resource_provider_id": 10},
                {"trait_id": 502, "resource_provider_id": 30},
            ],
        )
        conn.execute(
            t["resource_provider_aggregates"].insert(),
            [
                {"resource_provider_id": 20, "aggregate_id": 3},
                {"resource_provider_id": 30, "aggregate_id": 3},
            ],
        )
        inv = {
            "reserved": 0,
            "min_unit": 1,
            "step_size": 1,
            "allocation_ratio": 1.0,
        }
        conn.execute(
            t["inventories"].insert(),
            [
                dict(
                    inv,
                    id=1,
                    resource_provider_id=20,
                    resource_class_id=VCPU,
                    total=64,
                    max_unit=64,
                ),
                dict(
                    inv,
                    id=2,
                    resource_provider_id=20,
                    resource_class_id=MEMORY_MB,
                    total=65536,
                    max_unit=65536,
                ),
                dict(
                    inv,
                    id=3,
                    resource_provider_id=10,
                    resource_class_id=GOLD,
                    total=4,
                    max_unit=4,
                ),
                dict(
                    inv,
                    id=4,
                    resource_provider_id=30,
                    resource_class_id=DISK_GB,
                    total=10**9,
                    max_unit=10**9,
                ),
            ],
        )
        conn.execute(
            t["consumers"].insert(),
            [
                {
                    "id": 5,
                    "uuid": consumers[0],
                    "project_id": 7,
                    "user_id": 9,
                    "generation": 3,
                },
                {
                    "id": 6,
                    "uuid": consumers[1],
                    "project_id": 7,
                    "user_id": 9,
                    "generation": 1,
                },
            ],
        )
        allocations = [
            {
                "id": 1,
                "resource_provider_id": 20,
                "consumer_id": consumers[0],
                "resource_class_id": VCPU,
                "used": 2,
            },
            {
                "id": 2,
                "resource_provider_id": 20,
                "consumer_id": consumers[0],
                "resource_class_id": MEMORY_MB,
                "used": 2048,
            },
            {
                "id": 3,
                "resource_provider_id": 10,
                "consumer_id": consumers[1],
                "resource_class_id": GOLD,
                "used": 1,
            },
            # A consumer from before 1.8: no consumers row.
            {
                "id": 4,
                "resource_provider_id": 20,
                "consumer_id": consumers[2],
                "resource_class_id": VCPU,
                "used": 1,
            },
        ]
        allocations += [
            {
                "id": 100 + n,
                "resource_provider_id": 30,
                "consumer_id": consumers[1],
                "resource_class_id": DISK_GB,
                "used": 1,
            }
            for n in range(extra_allocations)
        ]
        for start in range(0, len(allocations), 5000):
            conn.execute(
                t["allocations"].insert(), allocations[start : start + 5000]
            )
    eng.dispose()
    return {"root": root, "child": child, "old": old, "consumers": consumers}
