"""GET /resource_providers and GET /resource_providers/{uuid}/usages
answered from a long-lived provider snapshot equal the SQL's answers
(``domain.providers.list_filtered`` and ``domain.usages.of_provider``),
whatever happened before: a hypothesis state machine.

On every backend, ``writer`` (one API instance; on MySQL its connections
step auto-increment values by 3, as a Galera node does) creates, renames,
re-parents and deletes providers, sets inventories, traits and
aggregates, allocates, and writes provider columns with SQL by hand
followed by the drift check; names come in case, accent and
trailing-space variants (which MySQL's collation equates). After every
step ``reader`` (another worker, whose snapshot and cached entries live
across steps) must answer a battery of lists exactly as the SQL path does
(status, body byte for byte, Last-Modified), and so must random filter
combinations at random microversions (the ``compare`` rule), unknown
names and errors included; and the usage of the latest providers made
(deleted ones too), of an unknown uuid and of a uuid in capitals.

The number of examples is small by default (CI); the long profile runs
many more: ``ALLOTMENT_HYPOTHESIS_PROFILE=long``.
"""

import contextlib
import datetime
import urllib.parse
import uuid

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import invariant
from hypothesis.stateful import precondition
from hypothesis.stateful import rule
from hypothesis.stateful import run_state_machine_as_test

from allotment.candidates import listing
from allotment.candidates import snapshot
from allotment.storage import engine
from allotment.storage import tables
from tests import support
from tests.provider_writes import AGGREGATES
from tests.provider_writes import CLASSES
from tests.provider_writes import RP
from tests.provider_writes import TRAITS
from tests.provider_writes import ProviderWrites
from tests.provider_writes import empty
from tests.provider_writes import galera_like_database

ALLOC = tables.allocations
UNKNOWN = "0d9f1c2b-3a4e-4f5d-8c6b-7a8e9f0a1b2c"
# Names MySQL's collation equates in pairs (case, accent, trailing space).
NAMES = ["cn", "CN", "cn ", "\u00e9", "e", "E"]
# Microversions where the filters change (member_of 1.3, resources 1.4,
# in_tree 1.14, required 1.18, forbidden traits 1.22, several member_of
# 1.24, forbidden aggregates 1.32, any-of traits 1.39).
VERSIONS = ["1.0", "1.3", "1.4", "1.14", "1.18", "1.22", "1.24", "1.32"]
VERSIONS += ["1.39"] * 4


def _variants(text):
    return [text, text.upper(), text.lower(), text + " ", text.strip()]


@contextlib.contextmanager
def _by_sql():
    """Lists and usages answered by the SQL path only."""
    real = listing.matching, listing.usage
    listing.matching = listing.usage = lambda *_args: None
    try:
        yield
    finally:
        listing.matching, listing.usage = real


def _shown(resp):
    """Status and body as a client sees them (an error's request id
    aside); a usage answer's Last-Modified is the time of the answer."""
    body = resp.content
    if resp.status_code != 200:
        body = orjson.loads(body)
        for error in body.get("errors", ()):
            error.pop("request_id", None)
    return resp.status_code, body


def _answer(resp):
    """What a list answer shows a client: ``_shown`` and Last-Modified."""
    listed = resp.status_code == 200 and resp.json["resource_providers"]
    # An empty list is stamped with the time of the answer.
    modified = resp.headers.get("last-modified") if listed else None
    return (*_shown(resp), modified)


def _ratios(backend):
    # MySQL stores allocation_ratio as a 4-byte FLOAT: SQL computes with
    # 0.699999988..., Python (claims, candidates, the snapshot) with the
    # 0.7 the driver returns (tests/functional/test_capacity_rule.py).
    return [1.0, 1.5, 16.0, 0.75 if backend == "mysql" else 0.7]


def _machine(url, backend):
    conf = support.make_conf(url, allotment__snapshot_check_interval=0)
    writer = support.ApiClient(conf, galera_like_database(url, backend))
    reader = support.ApiClient(conf, engine.Database(url))
    writer.put("/traits/CUSTOM_FAST", version="1.6")

    class ListMachine(ProviderWrites, RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.w = writer
            empty(writer.db)  # each example starts from nothing
            self.providers = []
            self.created = []  # deleted ones too
            self.consumers = []
            self.names = set()
            self.hand = 0

        def _same(self, query, version="1.39"):
            path = "/resource_providers" + (query and "?" + query)
            held = reader.get(path, version=version)
            with _by_sql():
                stored = reader.get(path, version=version)
            assert _answer(held) == _answer(stored), (version, query)

        def _same_usage(self, rp):
            path = "/resource_providers/%s/usages" % rp
            held = reader.get(path)
            with _by_sql():
                stored = reader.get(path)
            assert _shown(held) == _shown(stored), rp

        # -- writes through the API -----------------------------------

        @rule(
            parent=st.integers(0, 50),
            nested=st.booleans(),
            name=st.sampled_from(NAMES),
            suffix=st.sampled_from(["", "1", "2"]),
        )
        def create_provider(self, parent, nested, name, suffix):
            rp = str(uuid.uuid4())
            body = {"name": name + suffix, "uuid": rp}
            if nested and self.providers:
                body["parent_provider_uuid"] = self._pick(
                    self.providers, parent
                )
            resp = self.w.post("/resource_providers", body, version="1.14")
            # 409: the name is taken (under MySQL's collation, maybe).
            assert resp.status_code in (201, 409), resp.text
            if resp.status_code == 201:
                self.providers.append(rp)
                self.created.append(rp)
                self.names.add(name + suffix)

        @precondition(lambda self: self.providers)
        @rule(
            n=st.integers(0, 50),
            name=st.sampled_from(NAMES),
            suffix=st.sampled_from(["", "1", "2"]),
        )
        def rename_provider(self, n, name, suffix):
            rp = self._pick(self.providers, n)
            resp = self.w.put(
                "/resource_providers/" + rp, {"name": name + suffix}
            )
            assert resp.status_code in (200, 409), resp.text
            if resp.status_code == 200:
                self.names.add(name + suffix)

        @precondition(lambda self: self.providers)
        @rule(n=st.integers(0, 50), m=st.integers(0, 50), root=st.booleans())
        def reparent_provider(self, n, m, root):
            rp = self._pick(self.providers, n)
            shown = self.w.get("/resource_providers/" + rp).json
            parent = None if root else self._pick(self.providers, m)
            resp = self.w.put(
                "/resource_providers/" + rp,
                {"name": shown["name"], "parent_provider_uuid": parent},
                version="1.37",
            )
            # 400: a loop (under itself or a descendant).
            assert resp.status_code in (200, 400), resp.text

        @precondition(lambda self: self.providers)
        @rule(
            n=st.integers(0, 50),
            inventory=st.dictionaries(
                st.sampled_from(CLASSES),
                st.tuples(
                    st.integers(1, 64),
                    st.integers(0, 4),
                    st.integers(0, 3),
                    st.integers(1, 64),
                    st.sampled_from([1, 2]),
                    st.sampled_from([1, 2]),
                ),
                max_size=3,
            ),
        )
        def set_inventory(self, n, inventory):
            rp = self._pick(self.providers, n)
            ratios = _ratios(backend)
            body = {
                "resource_provider_generation": self._generation(rp),
                "inventories": {
                    rc: {
                        "total": total,
                        "reserved": min(reserved, total),
                        "allocation_ratio": ratios[ratio],
                        "max_unit": max_unit,
                        "min_unit": min_unit,
                        "step_size": step,
                    }
                    for rc, (
                        total,
                        reserved,
                        ratio,
                        max_unit,
                        min_unit,
                        step,
                    ) in inventory.items()
                },
            }
            resp = self.w.put("/resource_providers/%s/inventories" % rp, body)
            assert resp.status_code in (200, 400, 409), resp.text

        @precondition(lambda self: self.providers)
        @rule(
            n=st.integers(0, 50),
            aggs=st.sets(st.sampled_from(AGGREGATES)),
            version=st.sampled_from(["1.1", "1.19"]),
        )
        def set_aggregates(self, n, aggs, version):
            """From 1.19 with the generation (bumped even when the
            aggregates stay), before it without."""
            rp = self._pick(self.providers, n)
            body = sorted(aggs)
            if version == "1.19":
                body = {
                    "resource_provider_generation": self._generation(rp),
                    "aggregates": body,
                }
            resp = self.w.put(
                "/resource_providers/%s/aggregates" % rp, body, version=version
            )
            assert resp.status_code == 200, resp.text

        # -- SQL by hand ------------------------------------------------

        @precondition(lambda self: self.providers)
        @rule(
            n=st.integers(0, 50),
            column=st.sampled_from(
                ["name", "generation", "updated_at", "created_at"]
            ),
        )
        def sql_by_hand_then_check(self, n, column):
            """A provider column the list shows, written bypassing the
            log: the drift check repairs the snapshot."""
            self.hand += 1
            values = {
                "name": "hand-%d" % self.hand,
                "generation": 1000 + self.hand,
                "updated_at": datetime.datetime(2030, 1, 1, 0, 0, self.hand),
                "created_at": datetime.datetime(2031, 1, 1, 0, 0, self.hand),
            }
            rp_id = self._id(self._pick(self.providers, n))
            with self.w.db.engine.begin() as conn:
                conn.execute(
                    RP.update()
                    .where(RP.c.id == rp_id)
                    .values({column: values[column]})
                )
            if column == "name":
                self.names.add(values["name"])
            snapshot.for_database(reader.db).check()
            snapshot.for_database(self.w.db).check()

        @precondition(lambda self: self.consumers)
        @rule(n=st.integers(0, 50))
        def usage_by_hand_then_check(self, n):
            """An allocation's amount written bypassing the log: the drift
            check repairs the snapshot's usage."""
            consumer = self._pick(self.consumers, n)
            with self.w.db.engine.begin() as conn:
                conn.execute(
                    ALLOC.update()
                    .where(ALLOC.c.consumer_id == consumer)
                    .values(used=ALLOC.c.used + 1)
                )
            snapshot.for_database(reader.db).check()
            snapshot.for_database(self.w.db).check()

        @precondition(lambda self: self.providers)
        @rule(n=st.integers(0, 50))
        def rootless_for_a_while(self, n):
            """A provider without a root (before the online data
            migrations), repaired with SQL by hand again: each found by
            the drift check."""
            rp_id = self._id(self._pick(self.providers, n))
            with self.w.db.engine.begin() as conn:
                root = conn.scalar(
                    sa.select(RP.c.root_provider_id).where(RP.c.id == rp_id)
                )
                conn.execute(
                    RP.update()
                    .where(RP.c.id == rp_id)
                    .values(root_provider_id=None)
                )
            snapshot.for_database(reader.db).check()
            self.battery()
            with self.w.db.engine.begin() as conn:
                conn.execute(
                    RP.update()
                    .where(RP.c.id == rp_id)
                    .values(root_provider_id=root)
                )
            snapshot.for_database(reader.db).check()

        # -- the rule ---------------------------------------------------

        @rule(
            queries=st.lists(
                st.tuples(
                    st.sampled_from(VERSIONS),
                    st.lists(
                        st.tuples(
                            st.sampled_from(
                                [
                                    "name",
                                    "uuid",
                                    "in_tree",
                                    "member_of",
                                    "required",
                                    "resources",
                                ]
                            ),
                            st.integers(0, 1000),
                        ),
                        max_size=4,
                    ),
                ),
                min_size=1,
                max_size=3,
            )
        )
        def compare(self, queries):
            """Random filter combinations at random microversions."""
            for version, filters in queries:
                query = urllib.parse.urlencode(
                    [(key, self._value(key, n)) for key, n in filters]
                )
                self._same(query, version)

        def _value(self, key, n):
            uuids = [UNKNOWN, *self.providers[-4:]]
            if key == "name":
                return self._pick(
                    sorted({v for name in self.names for v in _variants(name)})
                    or ["cn"],
                    n,
                )
            if key in ("uuid", "in_tree"):
                return self._pick(
                    [v for u in uuids for v in _variants(u)[:2]], n
                )
            if key == "member_of":
                aggs = [v for a in AGGREGATES for v in _variants(a)[:2]]
                aggs.append(UNKNOWN)
                one = self._pick(aggs, n)
                other = self._pick(aggs, n // 7)
                both = "%s,%s" % (one, other)
                return self._pick(
                    [one, "in:" + both, "!" + one, "!in:" + both], n // 49
                )
            if key == "required":
                traits = [*TRAITS, "hw_cpu_x86_avx2", "CUSTOM_NONE"]
                one = self._pick(traits, n)
                other = self._pick(traits, n // 7)
                forms = [one, "!" + one, one + "," + other]
                forms += ["in:%s,%s" % (one, other), "%s,!%s" % (one, other)]
                return self._pick(forms, n // 49)
            classes = [*CLASSES, "CUSTOM_NONE"]
            one = "%s:%d" % (self._pick(classes, n), n % 70 + 1)
            other = "%s:%d" % (self._pick(classes, n // 7), n % 9 + 1)
            return self._pick([one, one + "," + other], n // 35)

        @invariant()
        def battery(self):
            """The usage of a few providers (first: nothing has refreshed
            the reader's snapshot since the last write), the whole list
            at three shapes, and each kind of filter alone over what the
            cloud holds now."""
            for rp in [UNKNOWN, *self.created[-3:]]:
                self._same_usage(rp)
            if self.providers:
                self._same_usage(self.providers[-1].upper())
            for version in ("1.0", "1.14", "1.39"):
                self._same("", version)
            for rp in self.providers[-2:]:
                for key in ("uuid", "in_tree"):
                    self._same("%s=%s" % (key, rp))
                with self.w.db.read() as conn:
                    name = conn.scalar(
                        sa.select(RP.c.name).where(RP.c.uuid == rp)
                    )
                self._same(urllib.parse.urlencode({"name": name}))
            self._same("member_of=" + AGGREGATES[0])
            self._same("member_of=!" + AGGREGATES[1])
            for trait in TRAITS:
                self._same("required=" + trait)
            for rc in CLASSES:
                self._same("resources=%s:1" % rc)
            self._same("resources=VCPU:8,MEMORY_MB:8")

    def close():
        reader.close()
        writer.close()

    return ListMachine, close


def test_provider_list_state_machine(database_url, backend):
    machine, close = _machine(database_url, backend)
    try:
        run_state_machine_as_test(machine)
    finally:
        close()


@pytest.fixture(autouse=True)
def _quiet_snapshot_warnings(caplog):
    caplog.set_level("ERROR", logger="allotment.candidates.snapshot")


def _provider(writer, inventories):
    """A new root provider "r" with ``inventories``; its uuid."""
    rp = str(uuid.uuid4())
    made = writer.post(
        "/resource_providers", {"uuid": rp, "name": "r"}, version="1.14"
    )
    assert made.status_code == 201
    body = {"resource_provider_generation": 0, "inventories": inventories}
    put = writer.put("/resource_providers/%s/inventories" % rp, body)
    assert put.status_code == 200
    return rp


def test_a_current_snapshot_lists_after_reading_the_head_alone(pair):
    """A list needing no name looked up (the whole list, ``in_tree``,
    ``uuid``, standard ``resources``) from a snapshot at the log's head
    sends one statement, the head's read, and begins no transaction; a
    change another worker commits moves the head, and the next list
    refreshes and shows it."""
    writer, reader = pair
    root = _provider(writer, {"VCPU": {"total": 8}})
    sent = []

    @sa.event.listens_for(reader.db.engine, "before_cursor_execute")
    def statement(_conn, _cursor, sql, *_args):
        sent.append(sql.split()[0].upper())

    queries = ["", "in_tree=" + root, "uuid=" + root, "resources=VCPU:2"]
    for query in queries:
        assert reader.get("/resource_providers?" + query).status_code == 200
    for query in queries:
        sent.clear()
        listed = reader.get("/resource_providers?" + query).json
        assert [rp["uuid"] for rp in listed["resource_providers"]] == [root]
        assert sent == ["SELECT"], query

    child = str(uuid.uuid4())
    body = {"uuid": child, "name": "c", "parent_provider_uuid": root}
    made = writer.post("/resource_providers", body, version="1.14")
    assert made.status_code == 201
    sent.clear()
    listed = reader.get("/resource_providers?in_tree=" + root).json
    assert sorted(rp["uuid"] for rp in listed["resource_providers"]) == (
        sorted([root, child])
    )
    assert len(sent) > 1  # found behind: the consistent read refreshed
    sent.clear()
    reader.get("/resource_providers?in_tree=" + root)
    assert sent == ["SELECT"]

    # A trait to look up: a consistent read, as before.
    sent.clear()
    required = reader.get(
        "/resource_providers?required=HW_CPU_X86_AVX", version="1.18"
    )
    assert required.status_code == 200
    assert len(sent) > 1


def test_a_current_snapshot_answers_a_providers_usage_after_the_head(pair):
    """A provider's usage from a snapshot at the log's head costs one
    statement, the head's read; a claim another worker commits moves the
    head, and the next read shows it (read with SQL, the snapshot left
    behind until a request refreshes it)."""
    writer, reader = pair
    rp = _provider(writer, {"VCPU": {"total": 8}, "DISK_GB": {"total": 9}})
    path = "/resource_providers/%s/usages" % rp
    assert reader.get("/resource_providers").status_code == 200  # refreshed
    sent = []

    @sa.event.listens_for(reader.db.engine, "before_cursor_execute")
    def statement(_conn, _cursor, sql, *_args):
        sent.append(sql)

    shown = reader.get(path)
    assert shown.json == {
        "resource_provider_generation": 1,
        "usages": {"VCPU": 0, "DISK_GB": 0},
    }
    assert len(sent) == 1 and "allocations" not in sent[0]

    claim = {
        "allocations": {rp: {"resources": {"VCPU": 3}}},
        "project_id": "p",
        "user_id": "u",
        "consumer_generation": None,
    }
    claimed = writer.put(
        "/allocations/" + str(uuid.uuid4()), claim, version="1.28"
    )
    assert claimed.status_code == 204, claimed.text
    sent.clear()
    shown = reader.get(path)
    assert shown.json == {
        "resource_provider_generation": 2,
        "usages": {"VCPU": 3, "DISK_GB": 0},
    }
    assert len(sent) == 2  # the head, behind: then the SQL
