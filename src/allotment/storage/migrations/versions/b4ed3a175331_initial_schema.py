"""The placement schema as first extracted from nova_api.

Revision ID: b4ed3a175331
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "b4ed3a175331"
down_revision = None
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
    ]


def _external_id_table(name: str) -> None:
    op.create_table(
        name,
        *_stamps(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_id", name="uniq_%s0external_id" % name),
    )


def upgrade() -> None:
    op.create_table(
        "allocations",
        *_stamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_provider_id", sa.Integer(), nullable=False),
        sa.Column("consumer_id", sa.String(36), nullable=False),
        sa.Column("resource_class_id", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "allocations_resource_provider_class_used_idx",
        "allocations",
        ["resource_provider_id", "resource_class_id", "used"],
    )
    op.create_index(
        "allocations_resource_class_id_idx",
        "allocations",
        ["resource_class_id"],
    )
    op.create_index(
        "allocations_consumer_id_idx", "allocations", ["consumer_id"]
    )

    op.create_table(
        "consumers",
        *_stamps(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "generation",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid", name="uniq_consumers0uuid"),
    )
    op.create_index(
        "consumers_project_id_user_id_uuid_idx",
        "consumers",
        ["project_id", "user_id", "uuid"],
    )
    op.create_index(
        "consumers_project_id_uuid_idx", "consumers", ["project_id", "uuid"]
    )

    op.create_table(
        "inventories",
        *_stamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_provider_id", sa.Integer(), nullable=False),
        sa.Column("resource_class_id", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("min_unit", sa.Integer(), nullable=False),
        sa.Column("max_unit", sa.Integer(), nullable=False),
        sa.Column("step_size", sa.Integer(), nullable=False),
        sa.Column("allocation_ratio", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "resource_provider_id",
            "resource_class_id",
            name="uniq_inventories0resource_provider_resource_class",
        ),
    )
    op.create_index(
        "inventories_resource_class_id_idx",
        "inventories",
        ["resource_class_id"],
    )
    op.create_index(
        "inventories_resource_provider_id_idx",
        "inventories",
        ["resource_provider_id"],
    )
    op.create_index(
        "inventories_resource_provider_resource_class_idx",
        "inventories",
        ["resource_provider_id", "resource_class_id"],
    )

    op.create_table(
        "placement_aggregates",
        *_stamps(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid", name="uniq_placement_aggregates0uuid"),
    )
    op.create_index(
        "ix_placement_aggregates_uuid", "placement_aggregates", ["uuid"]
    )

    _external_id_table("projects")

    op.create_table(
        "resource_classes",
        *_stamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uniq_resource_classes0name"),
    )

    op.create_table(
        "resource_provider_aggregates",
        *_stamps(),
        sa.Column("resource_provider_id", sa.Integer(), nullable=False),
        sa.Column("aggregate_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("resource_provider_id", "aggregate_id"),
    )
    op.create_index(
        "resource_provider_aggregates_aggregate_id_idx",
        "resource_provider_aggregates",
        ["aggregate_id"],
    )

    op.create_table(
        "resource_providers",
        *_stamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.Unicode(200), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.Column("root_provider_id", sa.Integer(), nullable=True),
        sa.Column("parent_provider_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_provider_id"], ["resource_providers.id"]
        ),
        sa.ForeignKeyConstraint(
            ["root_provider_id"], ["resource_providers.id"]
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uniq_resource_providers0name"),
        sa.UniqueConstraint("uuid", name="uniq_resource_providers0uuid"),
    )
    for column in ("name", "parent_provider_id", "root_provider_id", "uuid"):
        op.create_index(
            "resource_providers_%s_idx" % column,
            "resource_providers",
            [column],
        )

    op.create_table(
        "traits",
        *_stamps(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Unicode(255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uniq_traits0name"),
    )

    _external_id_table("users")

    op.create_table(
        "resource_provider_traits",
        *_stamps(),
        sa.Column("trait_id", sa.Integer(), nullable=False),
        sa.Column("resource_provider_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_provider_id"], ["resource_providers.id"]
        ),
        sa.ForeignKeyConstraint(["trait_id"], ["traits.id"]),
        sa.PrimaryKeyConstraint("trait_id", "resource_provider_id"),
    )
    op.create_index(
        "resource_provider_traits_resource_provider_trait_idx",
        "resource_provider_traits",
        ["resource_provider_id", "trait_id"],
    )
