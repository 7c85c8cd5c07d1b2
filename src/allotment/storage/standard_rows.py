"""Insert the standard resource classes and traits a database lacks.

Standard resource classes keep the ids the reference gives them (their index
in os-resource-classes), so databases shared with it stay consistent.
"""

from __future__ import annotations

import os_resource_classes as orc
import os_traits
import sqlalchemy as sa

from allotment.storage import tables
from allotment.storage.clock import utcnow

# Standard classes take ids 0.. (their os-resource-classes index); custom
# classes are numbered from here, as in the reference.
MIN_CUSTOM_ID = 10000


def sync(conn: sa.Connection) -> None:
    """Add missing standard resource classes and traits on ``conn``."""
    rc = tables.resource_classes
    have = set(conn.scalars(sa.select(rc.c.name)))
    now = utcnow()
    rows = [
        {"id": index, "name": name, "created_at": now}
        for index, name in enumerate(orc.STANDARDS)
        if name not in have
    ]
    if rows:
        if conn.dialect.name == "mysql":
            # id 0 (VCPU) must be stored as 0, not as "next value".
            conn.exec_driver_sql(
                "SET SESSION sql_mode = CONCAT(@@sql_mode, "
                "',NO_AUTO_VALUE_ON_ZERO')"
            )
        conn.execute(rc.insert(), rows)

    tr = tables.traits
    have = set(conn.scalars(sa.select(tr.c.name)))
    rows = [
        {"name": name, "created_at": now}
        for name in os_traits.get_traits()
        if name not in have
    ]
    if rows:
        conn.execute(tr.insert(), rows)
