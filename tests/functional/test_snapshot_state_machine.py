"""A long-lived provider snapshot answers exactly as a fresh load and as
the database, whatever happened before: a hypothesis state machine.

On every backend, ``writer`` (one API instance; on MySQL its connections
step auto-increment values by 3, as a Galera node does) makes random
provider, inventory, trait, aggregate and allocation writes, refused writes
and rolled-back transactions, prunes the log and writes SQL by hand; the
``reader`` instance (another worker) has refreshes fail at random points,
and is restarted now and then. After every step the reader's snapshot must
equal a fresh load, its fingerprint the database's, and its usage what
the SQL-served usages API answers.

The number of examples is small by default (CI); the long profile runs
many more: ``ALLOTMENT_HYPOTHESIS_PROFILE=long make test`` (or pytest on
this file), see docs/operations.md.
"""

import datetime
import uuid

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import invariant
from hypothesis.stateful import precondition
from hypothesis.stateful import rule
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy import exc as sa_exc

from allotment.candidates import find
from allotment.candidates import fingerprint
from allotment.candidates import snapshot
from allotment.storage import changes
from allotment.storage import engine
from allotment.storage import tables
from tests import support
from tests.provider_writes import AGGREGATES
from tests.provider_writes import CLASSES
from tests.provider_writes import PROJECT
from tests.provider_writes import TRAITS
from tests.provider_writes import USER
from tests.provider_writes import ProviderWrites
from tests.provider_writes import empty
from tests.provider_writes import galera_like_database

# Owners a consumer moves between (project, user, consumer type or None).
OWNERS = [
    (PROJECT, USER, None),
    (PROJECT, "7d2ed3b0-0000-4000-8000-000000000003", "INSTANCE"),
    ("7d2ed3b0-0000-4000-8000-000000000004", USER, "MIGRATION"),
]
INV = tables.inventories
# Two groups, the second under the first or the first under the second.
SUBTREE = (
    "resources_A=VCPU:1&resources_B=MEMORY_MB:1&same_subtree=_A,_B"
    "&group_policy=none"
)


def _lost(*_args, **_kwargs):
    raise sa_exc.OperationalError(
        "SELECT ...", {}, Exception("connection lost (injected)")
    )


class _Rollback(Exception):
    pass


def _machine(url, backend):
    conf = support.make_conf(url, allotment__snapshot_check_interval=0)
    writer = support.ApiClient(conf, galera_like_database(url, backend))
    clients = {
        "writer": writer,
        "reader": support.ApiClient(conf, engine.Database(url)),
    }
    writer.put("/traits/CUSTOM_FAST", version="1.6")

    class SnapshotMachine(ProviderWrites, RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.w = writer
            empty(writer.db)  # each example starts from nothing
            self.providers = []
            self.consumers = []
            self.checks = 0  # invariant rounds: which amounts they ask

        @property
        def reader(self):
            return clients["reader"]

        # -- writes through the API -----------------------------------

        @rule(parent=st.integers(0, 50), nested=st.booleans())
        def create_provider(self, parent, nested):
            rp = str(uuid.uuid4())
            body = {"name": rp, "uuid": rp}
            if nested and self.providers:
                body["parent_provider_uuid"] = self._pick(
                    self.providers, parent
                )
            resp = self.w.post("/resource_providers", body, version="1.14")
            assert resp.status_code == 201, resp.text
            self.providers.append(rp)

        @precondition(lambda self: self.providers)
        @rule(
            n=st.integers(0, 50),
            inventory=st.dictionaries(
                st.sampled_from(CLASSES),
                st.tuples(
                    st.integers(1, 64),
                    st.integers(0, 4),
                    st.sampled_from([1.0, 1.5, 16.0, 0.7]),
                    st.integers(1, 64),
                    st.sampled_from([1, 2]),
                ),
                max_size=3,
            ),
        )
        def set_inventory(self, n, inventory):
            rp = self._pick(self.providers, n)
            body = {
                "resource_provider_generation": self._generation(rp),
                "inventories": {
                    rc: {
                        "total": total,
                        "reserved": min(reserved, total),
                        "allocation_ratio": ratio,
                        "max_unit": max_unit,
                        "step_size": step,
                    }
                    for rc, (
                        total,
                        reserved,
                        ratio,
                        max_unit,
                        step,
                    ) in inventory.items()
                },
            }
            resp = self.w.put("/resource_providers/%s/inventories" % rp, body)
            assert resp.status_code in (200, 409), resp.text

        @precondition(lambda self: self.providers)
        @rule(n=st.integers(0, 50), parent=st.integers(-1, 50))
        def reparent(self, n, parent):
            """Move a provider under another one, or make it a root (1.37);
            a cycle or a move between trees is refused."""
            rp = self._pick(self.providers, n)
            body = {
                "name": rp,
                "parent_provider_uuid": (
                    None if parent < 0 else self._pick(self.providers, parent)
                ),
            }
            resp = self.w.put(
                "/resource_providers/" + rp, body, version="1.37"
            )
            assert resp.status_code in (200, 400, 409), resp.text

        @precondition(lambda self: self.providers)
        @rule(n=st.integers(0, 50), aggs=st.sets(st.sampled_from(AGGREGATES)))
        def set_aggregates(self, n, aggs):
            rp = self._pick(self.providers, n)
            resp = self.w.put(
                "/resource_providers/%s/aggregates" % rp,
                {
                    "resource_provider_generation": self._generation(rp),
                    "aggregates": sorted(aggs),
                },
                version="1.19",
            )
            assert resp.status_code == 200, resp.text

        @precondition(lambda self: self.consumers and self.providers)
        @rule(
            n=st.integers(0, 50),
            m=st.integers(0, 50),
            owner=st.sampled_from(OWNERS),
            amounts=st.dictionaries(
                st.sampled_from(CLASSES), st.integers(1, 8), max_size=2
            ),
        )
        def reallocate(self, n, m, owner, amounts):
            """An existing consumer's allocations replaced, maybe under
            another project, user and consumer type, maybe by none (it is
            deleted then); POST /allocations, as a migration does."""
            consumer = self._pick(self.consumers, n)
            rp = self._pick(self.providers, m)
            mine = self.w.get("/allocations/" + consumer, version="1.38")
            project, user, consumer_type = owner
            body = {
                "allocations": (
                    {rp: {"resources": amounts}} if amounts else {}
                ),
                "project_id": project,
                "user_id": user,
                "consumer_generation": mine.json.get("consumer_generation"),
                "consumer_type": consumer_type or "INSTANCE",
            }
            resp = self.w.post(
                "/allocations", {consumer: body}, version="1.38"
            )
            assert resp.status_code in (204, 400, 409), resp.text
            if resp.status_code == 204 and not amounts:
                self.consumers.remove(consumer)

        @precondition(lambda self: self.providers)
        @rule(
            n=st.integers(0, 50),
            steps=st.lists(
                st.sampled_from(["claim", "free", "traits", "inventory"]),
                min_size=2,
                max_size=4,
            ),
            amount=st.integers(1, 8),
        )
        def several_writes(self, n, steps, amount):
            """Claims and other writes to one provider, which the reader
            reads in one refresh: entries that say only its usage changed
            beside entries that say more."""
            for step in steps:
                if step == "claim":
                    self.allocate(n, "VCPU", amount)
                elif step == "free" and self.consumers:
                    self.delete_allocations(n)
                elif step == "traits":
                    self.set_traits(n, {TRAITS[amount % len(TRAITS)]})
                elif step == "inventory":
                    self.set_inventory(
                        n, {"VCPU": (8 * amount, 0, 1.0, 8 * amount, 1)}
                    )

        # -- faults -----------------------------------------------------

        @precondition(lambda self: self.providers)
        @rule(n=st.integers(0, 50), total=st.integers(1, 64))
        def rolled_back_write(self, n, total):
            rp_id = self._id(self._pick(self.providers, n))
            try:
                with self.w.db.write() as conn:
                    conn.execute(
                        INV.update()
                        .where(INV.c.resource_provider_id == rp_id)
                        .values(total=total)
                    )
                    changes.record(conn, [rp_id])
                    raise _Rollback()
            except _Rollback:
                pass

        @rule(where=st.sampled_from(["since", "load", "usage", "names"]))
        def refresh_fails(self, where):
            """A lost connection at some point of the reader's refresh."""
            target = {
                "since": (changes, "since"),
                "load": (snapshot, "_load"),
                "usage": (snapshot, "_load_usage"),
                "names": (snapshot.resource_classes, "names_for"),
            }
            module, name = target[where]
            real = getattr(module, name)
            setattr(module, name, _lost)
            try:
                resp = self.reader.get(
                    "/allocation_candidates?resources=VCPU:1"
                )
            finally:
                setattr(module, name, real)
            assert resp.status_code in (200, 503), resp.text

        @precondition(lambda self: self.providers)
        @rule(n=st.integers(0, 50), total=st.integers(1, 64))
        def write_then_prune(self, n, total):
            """A write the idle reader has not read yet is pruned."""
            self.set_inventory(n, {"VCPU": (total, 0, 1.0, total, 1)})
            with self.w.db.write() as conn:
                changes.prune(conn, keep=datetime.timedelta(seconds=-1))

        @precondition(lambda self: self.providers)
        @rule(n=st.integers(0, 50), total=st.integers(1, 64))
        def sql_by_hand_then_check(self, n, total):
            """SQL that bypasses the log; the drift check repairs it."""
            rp_id = self._id(self._pick(self.providers, n))
            with self.w.db.engine.begin() as conn:
                conn.execute(
                    INV.update()
                    .where(INV.c.resource_provider_id == rp_id)
                    .values(total=total)
                )
            snapshot.for_database(self.reader.db).check()
            snapshot.for_database(self.w.db).check()

        @rule()
        def restart_reader(self):
            old = clients["reader"]
            clients["reader"] = support.ApiClient(conf, engine.Database(url))
            old.close()

        # -- the rule ---------------------------------------------------

        @invariant()
        def reader_is_exact(self):
            self.checks += 1
            for client in (self.reader, self.w):
                kept = snapshot.for_database(client.db).version()
                fresh = snapshot.Snapshot(client.db).version()
                assert support.snapshot_state(kept) == support.snapshot_state(
                    fresh
                )
                # Rows with room: each amount asked of some versions only
                # (as kinds of requests alternate in a storm), so a later
                # one derives its answers from the latest that had them.
                keys = support.fits_keys(
                    fresh, ((1, 2, 7), (1,), (2, 7))[self.checks % 3]
                )
                assert support.fits_state(kept, keys) == support.fits_state(
                    fresh, keys
                )
                # same_subtree, through each provider's ancestor lines the
                # search keeps between requests (find._ancestry): the fresh
                # load's answer starts with none, as a new worker does, and
                # leaves the kept ones as they were.
                kept_answer = support.candidates(client.db, kept, SUBTREE)
                held = find._ancestries
                find._ancestries = ([], {})
                try:
                    fresh_answer = support.candidates(
                        client.db, fresh, SUBTREE
                    )
                finally:
                    find._ancestries = held
                assert kept_answer == fresh_answer
                with client.db.read(consistent=True) as conn:
                    assert changes.head(conn) == kept.seq
                    assert fingerprint.of_version(
                        kept
                    ) == fingerprint.of_database(conn)
            kept = snapshot.for_database(self.reader.db).version()
            names = kept.rc_names
            for rp in self.providers[-5:]:
                usages = self.reader.get(
                    "/resource_providers/%s/usages" % rp
                ).json["usages"]
                row = kept.id_of[rp]
                held = {
                    names[rc]: room.used
                    for rc, room in kept.inventory(row).items()
                }
                assert held == usages
            support.assert_usage_totals_exact(self.w.db)
            for project, user, _type in OWNERS:
                for query, version in (
                    ("project_id=%s" % project, "1.38"),
                    ("project_id=%s&user_id=%s" % (project, user), "1.38"),
                    ("project_id=%s&consumer_type=all" % project, "1.38"),
                    ("project_id=%s&consumer_type=unknown" % project, "1.38"),
                    ("project_id=%s&consumer_type=INSTANCE" % project, "1.38"),
                    ("project_id=%s" % project, "1.9"),
                ):
                    served = self.reader.get(
                        "/usages?" + query, version=version
                    ).json
                    assert served == support.usages_by_sql(
                        self.w.db, query, version
                    )

    def close():
        clients["reader"].close()
        writer.close()

    return SnapshotMachine, close


def test_snapshot_state_machine(database_url, backend):
    machine, close = _machine(database_url, backend)
    try:
        run_state_machine_as_test(machine)
    finally:
        close()


@pytest.fixture(autouse=True)
def _quiet_snapshot_warnings(caplog):
    caplog.set_level("ERROR", logger="allotment.candidates.snapshot")
