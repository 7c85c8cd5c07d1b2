"""The placement schema, as SQLAlchemy Core tables.

Compatible with the reference schema at its Alembic head (a082b8bb98d0):
same tables, columns, constraint and index names, so a database created by
the reference is served as it is.
"""

import sqlalchemy as sa

metadata = sa.MetaData()


def _timestamps() -> tuple[sa.Column, sa.Column]:
    return (
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
    )


resource_classes = sa.Table(
    "resource_classes",
    metadata,
    *_timestamps(),
    sa.Column("id", sa.Integer, primary_key=True, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.UniqueConstraint("name", name="uniq_resource_classes0name"),
)

resource_providers = sa.Table(
    "resource_providers",
    metadata,
    *_timestamps(),
    sa.Column("id", sa.Integer, primary_key=True, nullable=False),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("name", sa.Unicode(200), nullable=True),
    sa.Column("generation", sa.Integer, nullable=True),
    sa.Column(
        "root_provider_id",
        sa.Integer,
        sa.ForeignKey("resource_providers.id"),
        nullable=True,
    ),
    sa.Column(
        "parent_provider_id",
        sa.Integer,
        sa.ForeignKey("resource_providers.id"),
        nullable=True,
    ),
    sa.UniqueConstraint("uuid", name="uniq_resource_providers0uuid"),
    sa.UniqueConstraint("name", name="uniq_resource_providers0name"),
    sa.Index("resource_providers_root_provider_id_idx", "root_provider_id"),
    sa.Index(
        "resource_providers_parent_provider_id_idx", "parent_provider_id"
    ),
)

inventories = sa.Table(
    "inventories",
    metadata,
    *_timestamps(),
    sa.Column("id", sa.Integer, primary_key=True, nullable=False),
    sa.Column("resource_provider_id", sa.Integer, nullable=False),
    sa.Column("resource_class_id", sa.Integer, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False),
    sa.Column("min_unit", sa.Integer, nullable=False),
    sa.Column("max_unit", sa.Integer, nullable=False),
    sa.Column("step_size", sa.Integer, nullable=False),
    sa.Column("allocation_ratio", sa.Float, nullable=False),
    sa.UniqueConstraint(
        "resource_provider_id",
        "resource_class_id",
        name="uniq_inventories0resource_provider_resource_class",
    ),
    sa.Index("inventories_resource_class_id_idx", "resource_class_id"),
)

allocations = sa.Table(
    "allocations",
    metadata,
    *_timestamps(),
    sa.Column("id", sa.Integer, primary_key=True, nullable=False),
    sa.Column("resource_provider_id", sa.Integer, nullable=False),
    sa.Column("consumer_id", sa.String(36), nullable=False),
    sa.Column("resource_class_id", sa.Integer, nullable=False),
    sa.Column("used", sa.Integer, nullable=False),
    sa.Index(
        "allocations_resource_provider_class_used_idx",
        "resource_provider_id",
        "resource_class_id",
        "used",
    ),
    sa.Index("allocations_resource_class_id_idx", "resource_class_id"),
    sa.Index("allocations_consumer_id_idx", "consumer_id"),
)

resource_provider_aggregates = sa.Table(
    "resource_provider_aggregates",
    metadata,
    *_timestamps(),
    sa.Column(
        "resource_provider_id", sa.Integer, primary_key=True, nullable=False
    ),
    sa.Column("aggregate_id", sa.Integer, primary_key=True, nullable=False),
    sa.Index("resource_provider_aggregates_aggregate_id_idx", "aggregate_id"),
)

placement_aggregates = sa.Table(
    "placement_aggregates",
    metadata,
    *_timestamps(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=True),
    sa.UniqueConstraint("uuid", name="uniq_placement_aggregates0uuid"),
)

traits = sa.Table(
    "traits",
    metadata,
    *_timestamps(),
    sa.Column(
        "id", sa.Integer, primary_key=True, nullable=False, autoincrement=True
    ),
    sa.Column("name", sa.Unicode(255), nullable=False),
    sa.UniqueConstraint("name", name="uniq_traits0name"),
)

resource_provider_traits = sa.Table(
    "resource_provider_traits",
    metadata,
    *_timestamps(),
    sa.Column(
        "trait_id",
        sa.Integer,
        sa.ForeignKey("traits.id"),
        primary_key=True,
        nullable=False,
    ),
    sa.Column(
        "resource_provider_id",
        sa.Integer,
        sa.ForeignKey("resource_providers.id"),
        primary_key=True,
        nullable=False,
    ),
    sa.Index(
        "resource_provider_traits_resource_provider_trait_idx",
        "resource_provider_id",
        "trait_id",
    ),
)

projects = sa.Table(
    "projects",
    metadata,
    *_timestamps(),
    sa.Column(
        "id", sa.Integer, primary_key=True, nullable=False, autoincrement=True
    ),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.UniqueConstraint("external_id", name="uniq_projects0external_id"),
)

users = sa.Table(
    "users",
    metadata,
    *_timestamps(),
    sa.Column(
        "id", sa.Integer, primary_key=True, nullable=False, autoincrement=True
    ),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.UniqueConstraint("external_id", name="uniq_users0external_id"),
)

consumer_types = sa.Table(
    "consumer_types",
    metadata,
    *_timestamps(),
    sa.Column(
        "id", sa.Integer, primary_key=True, nullable=False, autoincrement=True
    ),
    sa.Column("name", sa.Unicode(255), nullable=False),
    sa.UniqueConstraint("name", name="uniq_consumer_types0name"),
)

consumers = sa.Table(
    "consumers",
    metadata,
    *_timestamps(),
    sa.Column(
        "id", sa.Integer, primary_key=True, nullable=False, autoincrement=True
    ),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("project_id", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column(
        "generation",
        sa.Integer,
        nullable=False,
        server_default=sa.text("0"),
        default=0,
    ),
    sa.Column(
        "consumer_type_id",
        sa.Integer,
        sa.ForeignKey("consumer_types.id"),
        nullable=True,
    ),
    sa.UniqueConstraint("uuid", name="uniq_consumers0uuid"),
    sa.Index("consumers_project_id_uuid_idx", "project_id", "uuid"),
    sa.Index(
        "consumers_project_id_user_id_uuid_idx",
        "project_id",
        "user_id",
        "uuid",
    ),
    sa.Index("consumers_consumer_type_id_idx", "consumer_type_id"),
)

# allotment's own (revisions 5f1e3c2a7d10, 7c1e0b9d4a52): the provider
# change log. ``change_head`` is one row holding the last change number
# handed out; a write takes the next number as the last statement of its
# transaction, so numbers become visible in commit order, with no gaps.
# Each change lists the ids of the providers whose inventory, usage,
# traits, aggregates or tree it changed (one row each; a NULL provider_id
# means "everything changed"); ``usage_only`` (revision 2b7d9e4f6a18) is
# true when only the allocations against the provider changed.
_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

provider_changes = sa.Table(
    "allotment_provider_changes",
    metadata,
    sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("provider_id", sa.Integer, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("usage_only", sa.Boolean, nullable=True),
    sa.Index("allotment_provider_changes_seq_idx", "seq"),
    sa.Index("allotment_provider_changes_created_at_idx", "created_at"),
)

change_head = sa.Table(
    "allotment_change_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

# allotment's own (revision 3d9a41c7e5b2): the usage of each project, user
# and consumer type (0: none) per resource class, with the number of
# allocation rows it sums, and the number of consumers holding allocations.
# Written in the transaction that changes the allocations
# (``domain/usages.py``), so that GET /usages reads a few rows instead of
# every allocation of the project.
usage_totals = sa.Table(
    "allotment_usage_totals",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True, nullable=False),
    sa.Column("user_id", sa.Integer, primary_key=True, nullable=False),
    sa.Column(
        "consumer_type_id", sa.Integer, primary_key=True, nullable=False
    ),
    sa.Column(
        "resource_class_id", sa.Integer, primary_key=True, nullable=False
    ),
    sa.Column("used", sa.BigInteger, nullable=False),
    sa.Column("allocations", sa.BigInteger, nullable=False),
)

consumer_totals = sa.Table(
    "allotment_consumer_totals",
    metadata,
    sa.Column("project_id", sa.Integer, primary_key=True, nullable=False),
    sa.Column("user_id", sa.Integer, primary_key=True, nullable=False),
    sa.Column(
        "consumer_type_id", sa.Integer, primary_key=True, nullable=False
    ),
    sa.Column("consumers", sa.BigInteger, nullable=False),
)

# allotment's own (revision 8e4b6f0a2c19): when each periodic task of the
# deployment last ran (by the database's clock) and which worker ran it, so
# that one worker of all hosts runs it per interval (``storage/periodic.py``).
periodic_tasks = sa.Table(
    "allotment_periodic_tasks",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True, autoincrement=False),
    sa.Column("last_run_at", sa.DateTime, nullable=True),
    sa.Column("holder", sa.String(255), nullable=True),
)
