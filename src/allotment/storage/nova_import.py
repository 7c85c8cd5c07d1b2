"""Copy the placement tables of a Nova API database into ours.

Before Placement was extracted from Nova, its tables lived in the nova_api
database. ``copy_tables`` copies them, within the caller's single write
transaction, into a database at our schema head that holds no placement
data yet. Row ids are kept (so allocations, inventories and the provider
tree keep pointing at the same rows), except for resource classes and
traits: the target is seeded with the standard ones, so those are matched by
name and the references to them rewritten. Columns Nova had and we lack are
dropped; columns we have and Nova lacked take their defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import os_resource_classes as orc
import sqlalchemy as sa

from allotment.storage import changes
from allotment.storage import standard_rows
from allotment.storage import tables
from allotment.storage import usage_totals

Progress = Callable[[str], object]

# Parents before children; the provider tree links are set after all
# providers exist, since a parent may have a higher id than its child.
PLAIN_TABLES = (
    "projects",
    "users",
    "placement_aggregates",
    "resource_providers",
    "inventories",
    "allocations",
    "consumers",
    "resource_provider_traits",
    "resource_provider_aggregates",
)
NAMED_TABLES = ("resource_classes", "traits")
ALL_TABLES = NAMED_TABLES + PLAIN_TABLES
# Tables any row of which means the target already holds placement data.
DATA_TABLES = PLAIN_TABLES

_TREE_LINKS = ("root_provider_id", "parent_provider_id")
_BATCH = 2000


class NovaImportError(Exception):
    """The import cannot go on; the message tells the operator why."""


class TargetNotEmpty(NovaImportError):
    pass


def _table(name: str) -> sa.Table:
    return tables.metadata.tables[name]


def target_holdings(conn: sa.Connection) -> dict[str, int]:
    """``{table: rows}`` for the data tables of the target that hold rows."""
    counts = {}
    for name in DATA_TABLES:
        count = conn.scalar(
            sa.select(sa.func.count()).select_from(_table(name))
        )
        if count:
            counts[name] = count
    return counts


class Source:
    """The nova_api database, read inside one repeatable-read transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        inspector = sa.inspect(conn)
        self.present = set(inspector.get_table_names())
        if "resource_providers" not in self.present:
            raise NovaImportError(
                "the source database has no resource_providers table; is "
                "it a Nova API database?"
            )
        self.columns = {
            name: [col["name"] for col in inspector.get_columns(name)]
            for name in ALL_TABLES
            if name in self.present
        }

    def count(self, name: str) -> int:
        if name not in self.present:
            return 0
        return self.conn.execute(
            sa.select(sa.func.count()).select_from(sa.table(name))
        ).scalar_one()

    def shared_columns(self, name: str) -> list[str]:
        """Columns both the source table and ours have, in our order."""
        theirs = set(self.columns.get(name, ()))
        return [col.name for col in _table(name).columns if col.name in theirs]

    def batches(self, name: str) -> Iterator[list[dict[str, Any]]]:
        """The rows of ``name`` (shared columns only), in key order."""
        if name not in self.present:
            return
        ours = _table(name)
        columns = self.shared_columns(name)
        keys = [col.name for col in ours.primary_key.columns]
        query: sa.Select = (
            sa.select(*[sa.column(col) for col in columns])
            .select_from(sa.table(name))
            .order_by(*[sa.column(key) for key in keys])
        )
        result = self.conn.execution_options(stream_results=True).execute(
            query
        )
        for rows in result.mappings().partitions(_BATCH):
            yield [dict(row) for row in rows]


def _merge_resource_classes(
    source: Source, conn: sa.Connection
) -> dict[int, int]:
    """Map source resource class ids to ours, adding the missing classes."""
    rc = tables.resource_classes
    ours = {
        row.name: row.id for row in conn.execute(sa.select(rc.c.id, rc.c.name))
    }
    used = set(ours.values())
    mapping = {}
    for rows in source.batches("resource_classes"):
        for row in rows:
            name = row["name"]
            if name not in ours:
                new_id = row["id"]
                if new_id in used:
                    new_id = max(max(used) + 1, standard_rows.MIN_CUSTOM_ID)
                conn.execute(
                    rc.insert().values(
                        id=new_id,
                        name=name,
                        created_at=row.get("created_at"),
                        updated_at=row.get("updated_at"),
                    )
                )
                ours[name] = new_id
                used.add(new_id)
            mapping[row["id"]] = ours[name]
    # Nova kept the standard classes out of its table and referred to them
    # by their index in the standard list, as we do.
    for index, name in enumerate(orc.STANDARDS):
        mapping.setdefault(index, ours[name])
    return mapping


def _merge_traits(source: Source, conn: sa.Connection) -> dict[int, int]:
    """Map source trait ids to ours, adding the missing traits."""
    tr = tables.traits
    ours = {
        row.name: row.id for row in conn.execute(sa.select(tr.c.id, tr.c.name))
    }
    wanted = {}
    for rows in source.batches("traits"):
        for row in rows:
            wanted[row["id"]] = row
    missing = [row for row in wanted.values() if row["name"] not in ours]
    if missing:
        conn.execute(
            tr.insert(),
            [
                {
                    "name": row["name"],
                    "created_at": row.get("created_at"),
                    "updated_at": row.get("updated_at"),
                }
                for row in missing
            ],
        )
        ours = {
            row.name: row.id
            for row in conn.execute(sa.select(tr.c.id, tr.c.name))
        }
    return {old_id: ours[row["name"]] for old_id, row in wanted.items()}


def _remap(
    rows: list[dict[str, Any]],
    column: str,
    mapping: dict[int, int],
    table: str,
) -> None:
    for row in rows:
        old = row[column]
        if old not in mapping:
            raise NovaImportError(
                "%s row %s refers to %s %s, which the source does not "
                "define" % (table, row.get("id", ""), column, old)
            )
        row[column] = mapping[old]


def _copy_plain(
    source: Source,
    conn: sa.Connection,
    name: str,
    remaps: dict[str, dict[str, dict[int, int]]],
    progress: Progress,
) -> int:
    table = _table(name)
    total = source.count(name)
    copied = 0
    links = []
    for rows in source.batches(name):
        for column, mapping in remaps.get(name, {}).items():
            _remap(rows, column, mapping, name)
        if name == "resource_providers":
            for row in rows:
                link = {key: row.pop(key, None) for key in _TREE_LINKS}
                if any(value is not None for value in link.values()):
                    links.append(dict(link, key_id=row["id"]))
        conn.execute(table.insert(), rows)
        copied += len(rows)
        progress("%s: %d/%d rows" % (name, copied, total))
    if links:
        conn.execute(
            table.update()
            .where(table.c.id == sa.bindparam("key_id"))
            .values({key: sa.bindparam(key) for key in _TREE_LINKS}),
            links,
        )
    return copied


def _advance_sequences(conn: sa.Connection) -> None:
    """On PostgreSQL, move id sequences past the ids copied in."""
    if conn.dialect.name != "postgresql":
        return
    for name in ALL_TABLES:
        table = _table(name)
        if "id" not in table.c:
            continue
        top = conn.scalar(sa.select(sa.func.max(table.c.id)))
        if top is not None:
            conn.execute(
                sa.text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"),
                {"t": name, "v": top},
            )


def copy_tables(
    source: Source, conn: sa.Connection, progress: Progress
) -> dict[str, tuple[int, int]]:
    """Copy every placement table of ``source`` into ``conn``.

    ``conn`` is a write transaction on a database at our schema head. Raises
    TargetNotEmpty when it already holds placement data and NovaImportError
    when the copy does not add up. Answers ``{table: (source rows,
    rows accounted for)}``.
    """
    standard_rows.sync(conn)
    held = target_holdings(conn)
    if held:
        raise TargetNotEmpty(
            "the target database already holds placement data (%s); "
            "import-nova only fills a database that has none"
            % ", ".join(
                "%d %s" % (count, name) for name, count in sorted(held.items())
            )
        )
    expected = {name: source.count(name) for name in ALL_TABLES}
    rc_map = _merge_resource_classes(source, conn)
    progress("resource_classes: %d rows" % expected["resource_classes"])
    trait_map = _merge_traits(source, conn)
    progress("traits: %d rows" % expected["traits"])
    remaps = {
        "inventories": {"resource_class_id": rc_map},
        "allocations": {"resource_class_id": rc_map},
        "resource_provider_traits": {"trait_id": trait_map},
    }
    copied = {
        name: _copy_plain(source, conn, name, remaps, progress)
        for name in PLAIN_TABLES
    }
    _advance_sequences(conn)
    summary = _verify(source, conn, expected, copied, rc_map, trait_map)
    usage_totals.rebuild(conn)
    changes.record_everything(conn)
    return summary


def _verify(
    source: Source,
    conn: sa.Connection,
    expected: dict[str, int],
    copied: dict[str, int],
    rc_map: dict[int, int],
    trait_map: dict[int, int],
) -> dict[str, tuple[int, int]]:
    """Count every table again and compare with the source."""
    summary: dict[str, tuple[int, int]] = {}
    for name in PLAIN_TABLES:
        now = conn.execute(
            sa.select(sa.func.count()).select_from(_table(name))
        ).scalar_one()
        summary[name] = (expected[name], now)
        if now != expected[name] or copied[name] != expected[name]:
            raise NovaImportError(
                "%s: the source has %d rows but %d were copied and the "
                "target now holds %d"
                % (name, expected[name], copied[name], now)
            )
    for name, mapping in (("resource_classes", rc_map), ("traits", trait_map)):
        table = _table(name)
        names = set(
            conn.scalars(
                sa.select(table.c.name).where(
                    table.c.id.in_(set(mapping.values()))
                )
            )
        )
        source_names: set[str] = set()
        for rows in source.batches(name):
            source_names.update(row["name"] for row in rows)
        accounted = len(source_names & names)
        summary[name] = (expected[name], accounted)
        if accounted != expected[name]:
            raise NovaImportError(
                "%s: %d of the source's %d rows are in the target"
                % (name, accounted, expected[name])
            )
    return summary
