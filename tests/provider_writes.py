"""Write rules shared by the provider snapshot's hypothesis state machines
(tests/functional/test_snapshot_state_machine.py and
test_provider_list_snapshot.py). A machine mixing ``ProviderWrites`` in
sets ``w`` (the API client that writes), ``providers`` and ``consumers``
(the uuids it made), and has ``_empty`` start each example from nothing.
"""

import uuid

import sqlalchemy as sa
from hypothesis import strategies as st
from hypothesis.stateful import precondition
from hypothesis.stateful import rule

from allotment.storage import changes
from allotment.storage import engine
from allotment.storage import tables
from allotment.storage import usage_totals

CLASSES = ["VCPU", "MEMORY_MB", "DISK_GB"]
TRAITS = ["HW_CPU_X86_AVX2", "CUSTOM_FAST", "MISC_SHARES_VIA_AGGREGATE"]
AGGREGATES = ["5e0bfb1e-0000-4000-8000-00000000000%d" % n for n in (1, 2)]
PROJECT = "7d2ed3b0-0000-4000-8000-000000000001"
USER = "7d2ed3b0-0000-4000-8000-000000000002"
RP = tables.resource_providers


def galera_like_database(url, backend):
    """A ``Database`` whose connections, on MySQL, step auto-increment
    values by 3, as a Galera node does."""
    database = engine.Database(url)
    if backend == "mysql":

        @sa.event.listens_for(database.engine, "connect")
        def _like_galera(dbapi_conn, _record):
            with dbapi_conn.cursor() as cur:
                cur.execute(
                    "SET SESSION auto_increment_increment = 3, "
                    "auto_increment_offset = 2"
                )

    return database


def empty(database):
    """Delete every provider and allocation (the log says everything
    changed, so long-lived snapshots follow)."""
    with database.write() as conn:
        for table in (
            tables.allocations,
            tables.consumers,
            tables.inventories,
            tables.resource_provider_traits,
            tables.resource_provider_aggregates,
        ):
            conn.execute(table.delete())
        mysql = conn.dialect.name == "mysql"
        if mysql:  # it checks the tree's foreign keys row by row
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
        conn.execute(RP.update().values(parent_provider_id=None))
        conn.execute(RP.delete())
        if mysql:
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
        usage_totals.rebuild(conn)
        changes.record_everything(conn)


class ProviderWrites:
    def _pick(self, seq, n):
        return seq[n % len(seq)]

    def _generation(self, rp):
        return self.w.get("/resource_providers/" + rp).json["generation"]

    def _id(self, rp):
        with self.w.db.read() as conn:
            return conn.scalar(sa.select(RP.c.id).where(RP.c.uuid == rp))

    @precondition(lambda self: self.providers)
    @rule(n=st.integers(0, 50), names=st.sets(st.sampled_from(TRAITS)))
    def set_traits(self, n, names):
        rp = self._pick(self.providers, n)
        resp = self.w.put(
            "/resource_providers/%s/traits" % rp,
            {
                "resource_provider_generation": self._generation(rp),
                "traits": sorted(names),
            },
            version="1.6",
        )
        assert resp.status_code == 200, resp.text

    @precondition(lambda self: self.providers)
    @rule(
        n=st.integers(0, 50),
        rc=st.sampled_from(CLASSES),
        amount=st.integers(1, 80),
    )
    def allocate(self, n, rc, amount):
        """A claim; too large ones are refused (409, nothing written)."""
        rp = self._pick(self.providers, n)
        consumer = str(uuid.uuid4())
        resp = self.w.put(
            "/allocations/" + consumer,
            {
                "allocations": {rp: {"resources": {rc: amount}}},
                "project_id": PROJECT,
                "user_id": USER,
                "consumer_generation": None,
            },
            version="1.28",
        )
        assert resp.status_code in (204, 400, 409), resp.text
        if resp.status_code == 204:
            self.consumers.append(consumer)

    @precondition(lambda self: self.consumers)
    @rule(n=st.integers(0, 50))
    def delete_allocations(self, n):
        consumer = self.consumers.pop(n % len(self.consumers))
        assert self.w.delete("/allocations/" + consumer).status_code == 204

    @precondition(lambda self: self.providers)
    @rule(n=st.integers(0, 50))
    def delete_provider(self, n):
        rp = self._pick(self.providers, n)
        resp = self.w.delete("/resource_providers/" + rp)
        assert resp.status_code in (204, 409), resp.text
        if resp.status_code == 204:
            self.providers.remove(rp)
