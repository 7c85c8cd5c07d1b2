"""kill -9 of ``allotment serve`` while writes are in flight leaves the
database as if each request never happened or fully happened.

Client threads each own a provider and some consumers and keep writing
(PUT and POST /allocations, DELETE /allocations, PUT inventories, POST
/reshaper), recording for each key (a consumer's allocations, a provider's
inventory) the last acknowledged state and the state of the request in
flight. After SIGKILL of the server's process group the database (SQLite,
or a private PostgreSQL or MariaDB server) must hold, for every key, one of
those two states (a request touching several keys: all old or all new),
every allocation must have its consumer, provider and inventory, and no
provider may be over capacity. A new server on the same database then
serves reads and writes.
"""

import os
import random
import signal
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from tests.private_mariadb import PrivateMariaDB
from tests.private_postgres import PrivatePostgres
from tests.served import Served
from tests.served import write_conf

THREADS = 3
CONSUMERS_PER_THREAD = 6
ACKED_BEFORE_KILL = 45
SHARED = "5a7e0000-0000-4000-8000-000000000000"
PROJECT = "6f2f5a1c-0000-4000-8000-000000000001"
USER = "6f2f5a1c-0000-4000-8000-000000000002"


def _uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Writer(threading.Thread):
    """One client: its provider, its consumers, and what it knows of them."""

    def __init__(self, served, index, counter):
        super().__init__(daemon=True)
        self.served = served
        self.rng = random.Random(index)
        self.provider = _uuid(self.rng)
        self.consumers = [_uuid(self.rng) for _ in range(CONSUMERS_PER_THREAD)]
        self.counter = counter
        self.stop = threading.Event()
        # key -> state; keys: ("consumer", uuid) and ("inventory", uuid).
        self.acked = {("consumer", c): {} for c in self.consumers}
        self.acked[("inventory", self.provider)] = {
            "VCPU": 64,
            "MEMORY_MB": 65536,
        }
        self.pending = {}

    # -- request shapes ----------------------------------------------------

    def _allocation(self):
        own = {
            "VCPU": self.rng.randint(1, 8),
            "MEMORY_MB": 512 * self.rng.randint(1, 8),
        }
        state = {(self.provider, rc): n for rc, n in own.items()}
        body = {self.provider: {"resources": own}}
        if self.rng.random() < 0.5:
            disk = self.rng.randint(1, 50)
            body[SHARED] = {"resources": {"DISK_GB": disk}}
            state[(SHARED, "DISK_GB")] = disk
        return body, state

    def _send(self, changes, method, path, body, version):
        """Send one write; ``changes`` maps each key it touches to the
        state it asks for."""
        self.pending = dict(changes)
        status, answer = self.served.request(
            method, path, body, timeout=20, version=version
        )
        if status < 300:
            self.acked.update(changes)
            self.counter.append(1)
        elif status >= 500:
            raise AssertionError(
                "%s %s -> %s %s" % (method, path, status, answer)
            )
        self.pending = {}
        return status

    def put_allocations(self):
        consumer = self.rng.choice(self.consumers)
        body, state = self._allocation()
        self._send(
            {("consumer", consumer): state},
            "PUT",
            "/allocations/" + consumer,
            {"allocations": body, "project_id": PROJECT, "user_id": USER},
            "1.27",
        )

    def post_allocations(self):
        first, second = self.rng.sample(self.consumers, 2)
        body1, state1 = self._allocation()
        body2, state2 = (
            ({}, {}) if self.rng.random() < 0.3 else (self._allocation())
        )
        self._send(
            {("consumer", first): state1, ("consumer", second): state2},
            "POST",
            "/allocations",
            {
                first: {
                    "allocations": body1,
                    "project_id": PROJECT,
                    "user_id": USER,
                },
                second: {
                    "allocations": body2,
                    "project_id": PROJECT,
                    "user_id": USER,
                },
            },
            "1.27",
        )

    def delete_allocations(self):
        consumer = self.rng.choice(self.consumers)
        self._send(
            {("consumer", consumer): {}},
            "DELETE",
            "/allocations/" + consumer,
            None,
            "1.27",
        )

    def _generation(self):
        status, body = self.served.request(
            "GET", "/resource_providers/%s/inventories" % self.provider
        )
        assert status == 200, body
        return body["resource_provider_generation"]

    def put_inventory(self):
        totals = {"VCPU": self.rng.randint(24, 64), "MEMORY_MB": 65536}
        self._send(
            {("inventory", self.provider): totals},
            "PUT",
            "/resource_providers/%s/inventories" % self.provider,
            {
                "resource_provider_generation": self._generation(),
                "inventories": {rc: {"total": n} for rc, n in totals.items()},
            },
            "1.27",
        )

    def reshape(self):
        consumer = self.rng.choice(self.consumers)
        status, current = self.served.request(
            "GET", "/allocations/" + consumer
        )
        assert status == 200, current
        generation = current.get("consumer_generation")
        totals = {"VCPU": self.rng.randint(24, 64), "MEMORY_MB": 65536}
        used = self.rng.randint(1, 8)
        self._send(
            {
                ("inventory", self.provider): totals,
                ("consumer", consumer): {(self.provider, "VCPU"): used},
            },
            "POST",
            "/reshaper",
            {
                "inventories": {
                    self.provider: {
                        "resource_provider_generation": self._generation(),
                        "inventories": {
                            rc: {"total": n} for rc, n in totals.items()
                        },
                    }
                },
                "allocations": {
                    consumer: {
                        "allocations": {
                            self.provider: {"resources": {"VCPU": used}}
                        },
                        "project_id": PROJECT,
                        "user_id": USER,
                        "consumer_generation": generation,
                        "consumer_type": "INSTANCE",
                    }
                },
            },
            "1.38",
        )

    def run(self):
        ops = [
            self.put_allocations,
            self.put_allocations,
            self.post_allocations,
            self.delete_allocations,
            self.put_inventory,
            self.reshape,
        ]
        try:
            while not self.stop.is_set():
                self.rng.choice(ops)()
        except OSError:
            pass  # the server was killed: what was in flight stays pending


def _seed(served, writers):
    assert (
        served.request(
            "POST", "/resource_providers", {"name": "shared", "uuid": SHARED}
        )[0]
        == 200
    )
    assert (
        served.request(
            "PUT",
            "/resource_providers/%s/inventories" % SHARED,
            {
                "resource_provider_generation": 0,
                "inventories": {"DISK_GB": {"total": 100000}},
            },
        )[0]
        == 200
    )
    for writer in writers:
        assert (
            served.request(
                "POST",
                "/resource_providers",
                {"name": writer.provider, "uuid": writer.provider},
            )[0]
            == 200
        )
        assert (
            served.request(
                "PUT",
                "/resource_providers/%s/inventories" % writer.provider,
                {
                    "resource_provider_generation": 0,
                    "inventories": {
                        "VCPU": {"total": 64},
                        "MEMORY_MB": {"total": 65536},
                    },
                },
            )[0]
            == 200
        )


def _database_state(url):
    """(consumer -> {(provider, class): used}, provider -> {class: total},
    list of invariant violations)."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT a.consumer_id, rp.uuid, rc.name, a.used, "
                    "c.uuid AS consumer, i.id AS inventory "
                    "FROM allocations a "
                    "LEFT JOIN resource_providers rp "
                    "  ON rp.id = a.resource_provider_id "
                    "LEFT JOIN resource_classes rc "
                    "  ON rc.id = a.resource_class_id "
                    "LEFT JOIN consumers c ON c.uuid = a.consumer_id "
                    "LEFT JOIN inventories i "
                    "  ON i.resource_provider_id = a.resource_provider_id "
                    "  AND i.resource_class_id = a.resource_class_id"
                )
            ).all()
            over = conn.execute(
                sa.text(
                    "SELECT rp.uuid, i.resource_class_id, i.total, "
                    "i.reserved, "
                    "i.allocation_ratio, sum(a.used) "
                    "FROM inventories i "
                    "JOIN resource_providers rp "
                    "ON rp.id = i.resource_provider_id "
                    "JOIN allocations a "
                    "  ON a.resource_provider_id = i.resource_provider_id "
                    "  AND a.resource_class_id = i.resource_class_id "
                    "GROUP BY rp.uuid, i.resource_class_id, i.total, "
                    "i.reserved, i.allocation_ratio "
                    "HAVING sum(a.used) > (i.total - i.reserved) "
                    "* i.allocation_ratio"
                )
            ).all()
            inventories = conn.execute(
                sa.text(
                    "SELECT rp.uuid, rc.name, i.total FROM inventories i "
                    "JOIN resource_providers rp "
                    "ON rp.id = i.resource_provider_id "
                    "JOIN resource_classes rc ON rc.id = i.resource_class_id"
                )
            ).all()
    finally:
        eng.dispose()
    violations = ["over capacity: %s" % (row,) for row in over]
    allocations = {}
    for consumer_id, provider, rc, used, consumer, inventory in rows:
        if None in (provider, rc, consumer, inventory):
            violations.append(
                "dangling allocation: %s"
                % ((consumer_id, provider, rc, consumer, inventory),)
            )
        allocations.setdefault(consumer_id, {})[(provider, rc)] = used
    totals = {}
    for provider, rc, total in inventories:
        totals.setdefault(provider, {})[rc] = total
    return allocations, totals, violations


def _check(writers, allocations, totals):
    for writer in writers:
        actual = {}
        for key in writer.acked:
            kind, name = key
            actual[key] = (
                allocations.get(name, {})
                if kind == "consumer"
                else totals.get(name, {})
            )
        pending = writer.pending
        for key, old in writer.acked.items():
            assert actual[key] in (old, pending.get(key, old)), (
                key,
                actual[key],
                old,
                pending.get(key),
            )
        # A request touching several keys: all old or all new.
        changed = [k for k in pending if pending[k] != writer.acked[k]]
        states = {actual[k] == pending[k] for k in changed}
        assert len(states) <= 1, (pending, {k: actual[k] for k in changed})


def _private_server_url(cls, request):
    server = cls.start_new()
    request.addfinalizer(server.destroy)
    return server.url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_kill_9_mid_write_leaves_every_request_all_or_nothing(
    backend, tmp_path, request
):
    if backend == "sqlite":
        url = "sqlite:///%s" % (tmp_path / "placement.sqlite")
    else:
        url = _private_server_url(
            {"postgresql": PrivatePostgres, "mariadb": PrivateMariaDB}[
                backend
            ],
            request,
        )
    conf = write_conf(tmp_path, url)
    served = Served.start(conf, workers=2)
    counter = []
    writers = [Writer(served, i, counter) for i in range(THREADS)]
    try:
        _seed(served, writers)
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 30
        while len(counter) < ACKED_BEFORE_KILL:
            assert time.monotonic() < deadline, served.log()
            assert all(w.is_alive() for w in writers), served.log()
            time.sleep(0.01)
        os.killpg(served.proc.pid, signal.SIGKILL)
        served.proc.wait(timeout=10)
        for writer in writers:
            writer.stop.set()
            writer.join(30)
            assert not writer.is_alive()
    finally:
        served.stop()
    allocations, totals, violations = _database_state(url)
    assert not violations, violations
    _check(writers, allocations, totals)

    # The database needs no repair: a new server reads and writes it.
    served = Served.start(conf)
    try:
        writer = writers[0]
        assert (
            served.request(
                "GET", "/resource_providers/%s/usages" % writer.provider
            )[0]
            == 200
        )
        writer.served = served
        writer.pending = {}
        writer.put_allocations()
        assert served.request("DELETE", "/allocations/" + writer.consumers[0])[
            0
        ] in (204, 404)
    finally:
        served.stop()
