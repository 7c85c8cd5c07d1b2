"""Scale-out stress harness: real servers, many HTTP clients, invariants.

``Server`` runs ``allotment serve --config-file F --port P --workers 2`` as a
child process on 127.0.0.1 (its own process group, stopped at the end or at
interpreter exit). ``Stress`` sets up a few provider pairs (a root and its
child, the VCPU inventory on one of them), then runs client threads, each
bound to one server, that claim (PUT /allocations), move (POST /allocations,
sometimes two consumers at once), delete (DELETE) and reshape (POST
/reshaper moves a pair's inventory and every allocation on it to the other
provider of the pair) until a deadline, while a sampler reads the database
and records any provider whose usage exceeds its capacity.

What the clients check as they go:

- each client owns its consumers; its model says how much each holds in
  each pair (a reshape moves allocations within a pair, so the model holds
  whatever anybody else does). After every write the client reads the
  consumer back through its server: it must hold what the model says
  (the new allocations after a 204, the old ones after a 409);
- provider and consumer generations a client sees never go backwards;
- a 5xx is recorded with the client's server and the time (fault tests
  decide which ones were allowed); a 503 must be in Placement's JSON error
  format with Retry-After, and leaves the consumer "uncertain" until the
  client reads it again (the write may or may not have committed).

``Stress.final_check`` compares, through every server given: each
consumer's allocations with its owner's model, each provider's usage with
the sum of its allocations and with the models, and usage with capacity.
``SOAK`` (``ALLOTMENT_SOAK=1``) makes runs longer and wider
(docs/operations.md).
"""

import atexit
import collections
import contextlib
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import sqlalchemy as sa

from allotment.storage import engine as storage_engine
from allotment.storage import tables

SOAK = os.environ.get("ALLOTMENT_SOAK") == "1"
# Seconds of load per backend: short in CI, long in the soak mode; either
# can be overridden with ALLOTMENT_STRESS_SECONDS.
DURATION = float(
    os.environ.get("ALLOTMENT_STRESS_SECONDS", 600 if SOAK else 15)
)
CLIENTS = 16 if SOAK else 8
SERVERS = 3 if SOAK else 2
PAIRS = 6 if SOAK else 3
TOTAL = 8  # VCPU per pair
MAX_UNIT = 4
VERSION = "1.39"
PROJECT = "5ca1e000-0000-4000-8000-000000000001"
USER = "5ca1e000-0000-4000-8000-000000000002"
SERVICE_HEADERS = {"x-roles": "admin,service"}
READY_TIMEOUT = 90
REQUEST_TIMEOUT = 60

# One summary line per run, printed by tests/functional/conftest.py at the
# end of the session (and by each test on its own stdout).
SUMMARY = []

_LIVE = set()


def _stop_all():
    for server in list(_LIVE):
        server.stop()


atexit.register(_stop_all)


def allotment_command():
    return os.path.join(os.path.dirname(sys.executable), "allotment")


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(path, database_url, retries=10):
    with open(path, "w") as handle:
        handle.write(
            "[DEFAULT]\n"
            "debug = True\n"
            "[api]\n"
            "auth_strategy = noauth2\n"
            "[placement_database]\n"
            "connection = %s\n"
            "max_retries = 3\n"
            "retry_interval = 2\n"
            "[placement]\n"
            "allocation_conflict_retry_count = %d\n"
            "[allotment]\n"
            "snapshot_check_interval = 0\n" % (database_url, retries)
        )
    return path


def db_sync(config_path):
    """``allotment db sync`` once for the database of ``config_path``."""
    result = subprocess.run(
        [allotment_command(), "db", "sync", "--config-file", config_path],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(
            "allotment db sync failed:\n%s\n%s"
            % (result.stdout, result.stderr)
        )


# The last line of a Python traceback in a server log: the exception.
_RAISED = re.compile(r"^[\w.]+(Error|Exception): ")


def keep_logs(*sources):
    """Copy the logs (``*.log``) under ``sources`` to a new folder that
    outlives the test; its path, and the exceptions the servers logged
    (on CI the folder is gone, the failure message is not)."""
    import shutil
    import tempfile

    kept = tempfile.mkdtemp(prefix="allotment-stress-logs-")
    raised = collections.Counter()
    for source in sources:
        for folder, _dirs, files in os.walk(source):
            for name in files:
                if name.endswith(".log"):
                    relative = os.path.relpath(folder, source)
                    target = os.path.join(
                        kept, os.path.basename(source), relative
                    )
                    os.makedirs(target, exist_ok=True)
                    path = os.path.join(folder, name)
                    shutil.copy(path, target)
                    with open(path, errors="replace") as handle:
                        raised.update(
                            line.strip()[:300]
                            for line in handle
                            if _RAISED.match(line)
                        )
    lines = ["%d x %s" % (n, line) for line, n in raised.most_common(10)]
    return "\n".join([kept, *lines])


class Server:
    """One ``allotment serve`` process (gunicorn, 2 workers)."""

    def __init__(self, name, config_path, log_path, workers=2):
        self.name = name
        self.config_path = config_path
        self.log_path = log_path
        self.workers = workers
        self.port = free_port()
        self.process = None

    def start(self):
        log = open(self.log_path, "ab")  # noqa: SIM115 - the server holds it
        try:
            self.process = subprocess.Popen(
                [
                    allotment_command(),
                    "serve",
                    "--config-file",
                    self.config_path,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        _LIVE.add(self)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "server %s exited:\n%s" % (self.name, self.log_tail())
                )
            try:
                conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=5
                )
                conn.request("GET", "/")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
                conn.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            "server %s not ready after %s s:\n%s"
            % (self.name, READY_TIMEOUT, self.log_tail())
        )

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_count(self, *needles):
        """How many log lines contain any of ``needles``."""
        count = 0
        try:
            with open(self.log_path, errors="replace") as handle:
                for line in handle:
                    if any(needle in line for needle in needles):
                        count += 1
        except OSError:
            pass
        return count

    def stop(self):
        _LIVE.discard(self)
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(20)
            except ProcessLookupError:
                pass
        self.process = None


class Answer:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status, body, headers):
        self.status = status  # None: no HTTP answer (connection error)
        self.body = body
        self.headers = headers


class Http:
    """A keep-alive HTTP client to one server, admin at VERSION."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def call(self, method, path, body=None, headers=None):
        all_headers = {
            "x-auth-token": "admin",
            "openstack-api-version": "placement " + VERSION,
            "accept": "application/json",
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["content-type"] = "application/json"
        all_headers.update(headers or {})
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT
                )
            self.conn.request(method, path, body=data, headers=all_headers)
            resp = self.conn.getresponse()
            raw = resp.read()
            headers = {k.lower(): v for k, v in resp.getheaders()}
            if resp.will_close:
                self.close()
        except (OSError, http.client.HTTPException):
            self.close()
            return Answer(None, None, {})
        parsed = None
        if raw and headers.get("content-type", "").startswith(
            "application/json"
        ):
            parsed = json.loads(raw)
        return Answer(resp.status, parsed, headers)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


Error = collections.namedtuple(
    "Error", "client server started answered status detail"
)


class Stats:
    """Counts shared by every client of a run (under a lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.statuses = collections.Counter()
        self.writes_ok = 0
        self.ok_log = []  # (server name, monotonic time) of each 204 write
        self.conflicts = 0
        self.conflict_kinds = collections.Counter()
        self.other_conflicts = []  # a few examples, for diagnosis
        self.errors = []  # Error: every 5xx and connection error
        self.violations = []
        self.samples = 0

    def violation(self, text):
        with self.lock:
            self.violations.append(text)


class Consumer:
    __slots__ = ("certain", "generation", "pairs", "uuid")

    def __init__(self, consumer_uuid):
        self.uuid = consumer_uuid
        self.pairs = {}  # pair index -> VCPU held in that pair
        self.generation = None
        self.certain = True


def conflict_kind(answer):
    """Why a 409: a generation race (placement.concurrent_update), no room,
    no inventory where the client claimed, inventory in use (a reshape), or
    something else."""
    try:
        error = answer.body["errors"][0]
    except (TypeError, KeyError, IndexError):
        return "other"
    if error.get("code") == "placement.concurrent_update":
        return "race"
    if error.get("code") == "placement.inventory.inuse":
        return "inventory in use"  # a reshape racing a claim
    detail = error.get("detail", "")
    if "exceed the capacity" in detail:
        return "capacity"
    if "Inventory for" in detail and "invalid" in detail:
        return "no inventory"
    return "other"


def valid_error(answer):
    """A Placement JSON error body with the answer's status."""
    body = answer.body
    return (
        isinstance(body, dict)
        and isinstance(body.get("errors"), list)
        and body["errors"]
        and body["errors"][0].get("status") == answer.status
    )


class Client(threading.Thread):
    """One client bound to one server, looping until ``stop`` is set."""

    def __init__(self, stress, index, server):
        super().__init__(name="client-%d" % index, daemon=True)
        self.stress = stress
        self.index = index
        self.server = server
        self.http = Http(server.port)
        self.rng = random.Random(index * 7919 + 17)
        self.consumers = {}
        self.provider_generations = {}
        self.inventory_at = {}  # pair -> 0 (root) or 1 (child)
        self.failure = None
        self.ok_writes = 0

    # -- requests -------------------------------------------------------

    def call(self, method, path, body=None, headers=None):
        stats = self.stress.stats
        started = time.monotonic()
        answer = self.http.call(method, path, body, headers)
        with stats.lock:
            stats.requests += 1
            stats.statuses[answer.status] += 1
        if answer.status is None or answer.status >= 500:
            with stats.lock:
                stats.errors.append(
                    Error(
                        self.index,
                        self.server.name,
                        started,
                        time.monotonic(),
                        answer.status,
                        json.dumps(answer.body)[:300],
                    )
                )
            if answer.status is not None and answer.status != 503:
                stats.violation(
                    "%s %s on %s answered %s: %s"
                    % (
                        method,
                        path,
                        self.server.name,
                        answer.status,
                        answer.body,
                    )
                )
            elif answer.status == 503 and not (
                valid_error(answer) and "retry-after" in answer.headers
            ):
                stats.violation(
                    "a 503 without Placement's error format or "
                    "Retry-After: %r %r" % (answer.body, answer.headers)
                )
            # What a client does with a 503: wait a little, try again.
            time.sleep(0.2)
        elif answer.status == 409:
            kind = conflict_kind(answer)
            with stats.lock:
                stats.conflicts += 1
                stats.conflict_kinds[kind] += 1
                if kind == "other" and len(stats.other_conflicts) < 5:
                    stats.other_conflicts.append(
                        "%s %s: %s" % (method, path, answer.body)
                    )
        return answer

    def saw_provider(self, provider_uuid, generation):
        last = self.provider_generations.get(provider_uuid)
        if last is not None and generation < last:
            self.stress.stats.violation(
                "client %d saw provider %s generation go back from %d to %d"
                % (self.index, provider_uuid, last, generation)
            )
        self.provider_generations[provider_uuid] = max(
            generation, last or generation
        )

    # -- the model --------------------------------------------------------

    def read_back(self, consumer, expect_pairs):
        """GET the consumer; check it against ``expect_pairs`` when the
        model is certain; adopt what is there otherwise. False when the
        server gave no answer."""
        answer = self.call("GET", "/allocations/%s" % consumer.uuid)
        if answer.status != 200:
            consumer.certain = False
            return False
        allocations = answer.body["allocations"]
        held = collections.Counter()
        for provider_uuid, entry in allocations.items():
            self.saw_provider(provider_uuid, entry["generation"])
            held[self.stress.pair_of[provider_uuid]] += entry["resources"].get(
                "VCPU", 0
            )
        held = {pair: amount for pair, amount in held.items() if amount}
        generation = answer.body.get("consumer_generation")
        if consumer.certain and held != expect_pairs:
            self.stress.stats.violation(
                "client %d consumer %s holds %s, expected %s"
                % (self.index, consumer.uuid, held, expect_pairs)
            )
        if (
            consumer.certain
            and generation is not None
            and consumer.generation is not None
            and generation < consumer.generation
        ):
            self.stress.stats.violation(
                "consumer %s generation went back from %s to %s"
                % (consumer.uuid, consumer.generation, generation)
            )
        consumer.pairs = held
        consumer.generation = generation
        consumer.certain = True
        if not held:
            self.consumers.pop(consumer.uuid, None)
        return True

    def settle(self, consumer, answer, new_pairs, old_pairs):
        """After a write: read the consumer back and check it."""
        if answer.status == 204:
            self.ok_writes += 1
            with self.stress.stats.lock:
                self.stress.stats.writes_ok += 1
                self.stress.stats.ok_log.append(
                    (self.server.name, time.monotonic())
                )
            self.read_back(consumer, new_pairs)
        elif answer.status is None or answer.status >= 500:
            consumer.certain = False
            self.read_back(consumer, None)
        else:
            if answer.status != 409:
                self.stress.stats.violation(
                    "write for %s answered %s: %s"
                    % (consumer.uuid, answer.status, answer.body)
                )
            self.read_back(consumer, old_pairs)

    def body_for(self, consumer, placement):
        return {
            "allocations": {
                provider: {"resources": {"VCPU": amount}}
                for provider, amount in placement.items()
            },
            "project_id": PROJECT,
            "user_id": USER,
            "consumer_generation": consumer.generation,
            "consumer_type": "INSTANCE",
        }

    def pick_placement(self):
        """{provider uuid: amount} on one or two pairs: mostly the provider
        of the pair this client last saw holding the inventory, sometimes
        the other (which answers 409 unless a reshape moved it)."""
        pairs = self.rng.sample(
            range(PAIRS), 2 if self.rng.random() < 0.2 else 1
        )
        placement = {}
        for pair in pairs:
            providers = self.stress.pairs[pair]
            believed = self.inventory_at.get(pair, 0)
            if self.rng.random() < 0.1:
                believed = 1 - believed
            placement[providers[believed]] = self.rng.randint(1, 3)
        return placement

    def note_refusal(self, answer, placement):
        """A claim refused for want of inventory: the reshape moved it."""
        detail = json.dumps(answer.body or "")
        for provider in placement:
            if (
                "Inventory for 'VCPU' on resource provider '%s' invalid"
                % (provider)
                in detail
            ):
                pair = self.stress.pair_of[provider]
                self.inventory_at[pair] = 1 - self.stress.pairs[pair].index(
                    provider
                )

    def pairs_of(self, placement):
        held = collections.Counter()
        for provider, amount in placement.items():
            held[self.stress.pair_of[provider]] += amount
        return dict(held)

    # -- operations -------------------------------------------------------

    def op_claim(self):
        consumer = Consumer(str(uuid.uuid4()))
        self.consumers[consumer.uuid] = consumer
        placement = self.pick_placement()
        answer = self.call(
            "PUT",
            "/allocations/%s" % consumer.uuid,
            self.body_for(consumer, placement),
        )
        if answer.status == 409:
            self.note_refusal(answer, placement)
        self.settle(consumer, answer, self.pairs_of(placement), {})

    def op_move(self):
        consumer = self.pick_consumer()
        if consumer is None:
            return self.op_claim()
        old = dict(consumer.pairs)
        placement = self.pick_placement()
        bodies = {consumer.uuid: self.body_for(consumer, placement)}
        extra = None
        if self.rng.random() < 0.3:
            # A second, new consumer in the same request.
            extra = Consumer(str(uuid.uuid4()))
            self.consumers[extra.uuid] = extra
            extra_placement = self.pick_placement()
            bodies[extra.uuid] = self.body_for(extra, extra_placement)
        answer = self.call("POST", "/allocations", bodies)
        if answer.status == 409:
            self.note_refusal(answer, placement)
            if extra is not None:
                self.note_refusal(answer, extra_placement)
        self.settle(consumer, answer, self.pairs_of(placement), old)
        if extra is not None:
            self.settle_extra(extra, answer, extra_placement)

    def settle_extra(self, extra, answer, placement):
        # The 204 was counted once, for the first consumer.
        if answer.status == 204:
            self.read_back(extra, self.pairs_of(placement))
        elif answer.status is None or answer.status >= 500:
            extra.certain = False
            self.read_back(extra, None)
        else:
            self.read_back(extra, {})

    def op_delete(self):
        consumer = self.pick_consumer()
        if consumer is None:
            return self.op_claim()
        old = dict(consumer.pairs)
        answer = self.call("DELETE", "/allocations/%s" % consumer.uuid)
        if answer.status == 404 and not consumer.certain:
            # A claim answered 503 may never have committed: holding
            # nothing is a right answer; read it back to be sure.
            self.read_back(consumer, None)
            return
        if answer.status == 404:
            self.stress.stats.violation(
                "DELETE of %s (holding %s) answered 404" % (consumer.uuid, old)
            )
        self.settle(consumer, answer, {}, old)

    def op_observe(self):
        provider = self.rng.choice(self.stress.providers)
        answer = self.call("GET", "/resource_providers/%s" % provider)
        if answer.status == 200:
            self.saw_provider(provider, answer.body["generation"])

    def op_reshape(self):
        """Move a pair's inventory, and every allocation on it, to the other
        provider of the pair."""
        pair = self.rng.randrange(PAIRS)
        first, second = self.stress.pairs[pair]
        inventories = {}
        for provider in (first, second):
            answer = self.call(
                "GET", "/resource_providers/%s/inventories" % provider
            )
            if answer.status != 200:
                return
            self.saw_provider(
                provider, answer.body["resource_provider_generation"]
            )
            inventories[provider] = answer.body
        source, target = (
            (first, second)
            if inventories[first]["inventories"]
            else (second, first)
        )
        self.inventory_at[pair] = 0 if source == first else 1
        answer = self.call(
            "GET", "/resource_providers/%s/allocations" % source
        )
        if answer.status != 200:
            return
        if (
            answer.body["resource_provider_generation"]
            != inventories[source]["resource_provider_generation"]
        ):
            return  # changed in between: try another time
        moved = {}
        for consumer_uuid in answer.body["allocations"]:
            got = self.call("GET", "/allocations/%s" % consumer_uuid)
            if got.status != 200 or not got.body["allocations"]:
                return
            placement = {}
            for provider, entry in got.body["allocations"].items():
                placement[target if provider == source else provider] = (
                    placement.get(
                        target if provider == source else provider, 0
                    )
                    + entry["resources"]["VCPU"]
                )
            moved[consumer_uuid] = {
                "allocations": {
                    p: {"resources": {"VCPU": amount}}
                    for p, amount in placement.items()
                },
                "project_id": got.body["project_id"],
                "user_id": got.body["user_id"],
                "consumer_generation": got.body["consumer_generation"],
                "consumer_type": got.body["consumer_type"],
            }
        body = {
            "inventories": {
                source: {
                    "resource_provider_generation": inventories[source][
                        "resource_provider_generation"
                    ],
                    "inventories": {},
                },
                target: {
                    "resource_provider_generation": inventories[target][
                        "resource_provider_generation"
                    ],
                    "inventories": {
                        "VCPU": {"total": TOTAL, "max_unit": MAX_UNIT}
                    },
                },
            },
            "allocations": moved,
        }
        answer = self.call("POST", "/reshaper", body, SERVICE_HEADERS)
        if answer.status == 204:
            with self.stress.stats.lock:
                self.stress.stats.writes_ok += 1
                self.stress.reshapes += 1
        elif answer.status is not None and answer.status not in (409, 503):
            self.stress.stats.violation(
                "reshape answered %s: %s" % (answer.status, answer.body)
            )

    def pick_consumer(self):
        if not self.consumers:
            return None
        return self.consumers[self.rng.choice(list(self.consumers))]

    def run(self):
        try:
            while not self.stress.stop.is_set():
                # Resolve uncertain consumers first.
                for consumer in list(self.consumers.values()):
                    if not consumer.certain:
                        self.read_back(consumer, None)
                # Near capacity, with churn: a client holding a few
                # consumers mostly moves and deletes, one holding few
                # mostly claims.
                roll = self.rng.random()
                full = len(self.consumers) >= 3
                if roll < (0.1 if full else 0.45):
                    self.op_claim()
                elif roll < (0.35 if full else 0.65):
                    self.op_move()
                elif roll < 0.75:
                    self.op_delete()
                elif roll < 0.85:
                    self.op_reshape()
                else:
                    self.op_observe()
        except Exception as exc:
            self.failure = exc
            raise
        finally:
            self.http.close()


class Stress:
    """A run: providers, clients bound to servers, a capacity sampler."""

    def __init__(self, servers, sample_url, label, clients=CLIENTS):
        self.servers = servers
        self.sample_url = sample_url
        self.label = label
        self.client_count = clients
        self.stats = Stats()
        self.stop = threading.Event()
        self.pairs = []
        self.pair_of = {}
        self.providers = []
        self.reshapes = 0
        self.clients = []
        self.sampler = None
        self.started = None

    def setup(self):
        http_ = Http(self.servers[0].port)
        try:
            for index in range(PAIRS):
                root = str(uuid.uuid4())
                child = str(uuid.uuid4())
                self._expect(
                    http_.call(
                        "POST",
                        "/resource_providers",
                        {"name": "stress-%d" % index, "uuid": root},
                    ),
                    200,
                )
                self._expect(
                    http_.call(
                        "POST",
                        "/resource_providers",
                        {
                            "name": "stress-%d-child" % index,
                            "uuid": child,
                            "parent_provider_uuid": root,
                        },
                    ),
                    200,
                )
                self._expect(
                    http_.call(
                        "PUT",
                        "/resource_providers/%s/inventories" % root,
                        {
                            "resource_provider_generation": 0,
                            "inventories": {
                                "VCPU": {"total": TOTAL, "max_unit": MAX_UNIT}
                            },
                        },
                    ),
                    200,
                )
                self.pairs.append((root, child))
                self.pair_of[root] = self.pair_of[child] = index
                self.providers += [root, child]
        finally:
            http_.close()

    @staticmethod
    def _expect(answer, status):
        if answer.status != status:
            raise AssertionError(
                "set-up request answered %s: %s" % (answer.status, answer.body)
            )

    def start(self):
        self.setup()
        self.clients = [
            Client(self, index, self.servers[index % len(self.servers)])
            for index in range(self.client_count)
        ]
        self.sampler = threading.Thread(
            target=self._sample, daemon=True, name="sampler"
        )
        self.started = time.monotonic()
        self.sampler.start()
        for client in self.clients:
            client.start()

    def finish(self):
        self.stop.set()
        for client in self.clients:
            client.join(REQUEST_TIMEOUT * 3)
        if self.sampler is not None:
            self.sampler.join(30)
        stuck = [c.name for c in self.clients if c.is_alive()]
        if stuck:
            self.stats.violation("clients still running: %s" % stuck)
        for client in self.clients:
            if client.failure is not None:
                self.stats.violation(
                    "%s failed: %r" % (client.name, client.failure)
                )

    # -- capacity, from the database ---------------------------------------

    def _sample(self):
        database = storage_engine.Database(self.sample_url)
        try:
            while not self.stop.is_set():
                # The sampled node may be away: try again.
                with contextlib.suppress(sa.exc.DBAPIError):
                    self.check_capacity_in_database(database)
                self.stop.wait(0.25)
        finally:
            database.dispose()

    def check_capacity_in_database(self, database):
        """One consistent read: every (provider, class) with allocations
        must have inventory and fit its capacity. Returns
        {provider uuid: used VCPU}."""
        inv, alloc, rp = (
            tables.inventories,
            tables.allocations,
            tables.resource_providers,
        )
        used = (
            sa.select(
                alloc.c.resource_provider_id,
                alloc.c.resource_class_id,
                sa.func.sum(alloc.c.used).label("used"),
            )
            .group_by(alloc.c.resource_provider_id, alloc.c.resource_class_id)
            .subquery()
        )
        query = sa.select(
            rp.c.uuid,
            used.c.used,
            inv.c.total,
            inv.c.reserved,
            inv.c.allocation_ratio,
        ).select_from(
            used.join(rp, rp.c.id == used.c.resource_provider_id).outerjoin(
                inv,
                sa.and_(
                    inv.c.resource_provider_id == used.c.resource_provider_id,
                    inv.c.resource_class_id == used.c.resource_class_id,
                ),
            )
        )
        with database.read(consistent=True) as conn:
            rows = conn.execute(query).all()
        with self.stats.lock:
            self.stats.samples += 1
        result = {}
        for row in rows:
            result[row.uuid] = int(row.used)
            if row.total is None:
                self.stats.violation(
                    "provider %s holds %s without inventory"
                    % (row.uuid, row.used)
                )
            elif row.used > (row.total - row.reserved) * row.allocation_ratio:
                self.stats.violation(
                    "provider %s usage %s above capacity %s"
                    % (row.uuid, row.used, row.total)
                )
        return result

    # -- at the end ----------------------------------------------------------

    def final_check(self, servers=None):
        """Every consumer against its owner's model, every provider's usage
        against its allocations and capacity, through each server given.
        Returns {provider uuid: VCPU used} as the first server sees it."""
        servers = servers or self.servers
        first_usages = None
        for server in servers:
            http_ = Http(server.port)
            try:
                usages = self._check_through(http_, server)
            finally:
                http_.close()
            if first_usages is None:
                first_usages = usages
            elif usages != first_usages:
                self.stats.violation(
                    "usages through %s %s differ from %s"
                    % (server.name, usages, first_usages)
                )
        return first_usages

    def _check_through(self, http_, server):
        violation = self.stats.violation
        expected_pairs = collections.Counter()
        held_by_consumers = collections.Counter()
        for client in self.clients:
            for consumer in list(client.consumers.values()):
                answer = http_.call("GET", "/allocations/%s" % consumer.uuid)
                if answer.status != 200:
                    violation(
                        "final GET of %s through %s: %s"
                        % (consumer.uuid, server.name, answer.status)
                    )
                    continue
                held = collections.Counter()
                for provider, entry in answer.body["allocations"].items():
                    amount = entry["resources"].get("VCPU", 0)
                    held[self.pair_of[provider]] += amount
                    held_by_consumers[provider] += amount
                if consumer.certain and dict(held) != consumer.pairs:
                    violation(
                        "final: consumer %s holds %s, its owner "
                        "expects %s"
                        % (consumer.uuid, dict(held), consumer.pairs)
                    )
                if not consumer.certain:
                    consumer.pairs = dict(held)
                expected_pairs.update(consumer.pairs)
        usages = {}
        pair_usage = collections.Counter()
        for provider in self.providers:
            answer = http_.call(
                "GET", "/resource_providers/%s/usages" % provider
            )
            used = answer.body["usages"].get("VCPU", 0)
            usages[provider] = used
            pair_usage[self.pair_of[provider]] += used
            listed = http_.call(
                "GET", "/resource_providers/%s/allocations" % provider
            ).body
            total = sum(
                entry["resources"].get("VCPU", 0)
                for entry in listed["allocations"].values()
            )
            if total != used:
                violation(
                    "%s: provider %s usage %s but its allocations sum "
                    "to %s" % (server.name, provider, used, total)
                )
            if held_by_consumers[provider] != used:
                violation(
                    "%s: provider %s usage %s but the consumers hold "
                    "%s there"
                    % (
                        server.name,
                        provider,
                        used,
                        held_by_consumers[provider],
                    )
                )
            inventory = http_.call(
                "GET", "/resource_providers/%s/inventories" % provider
            ).body["inventories"]
            capacity = inventory.get("VCPU", {}).get("total", 0)
            if used > capacity:
                violation(
                    "%s: provider %s usage %s above capacity %s"
                    % (server.name, provider, used, capacity)
                )
        for pair in range(PAIRS):
            if pair_usage[pair] != expected_pairs[pair]:
                violation(
                    "%s: pair %d usage %s but the clients' models say "
                    "%s"
                    % (
                        server.name,
                        pair,
                        pair_usage[pair],
                        expected_pairs[pair],
                    )
                )
        return usages

    def server_retries(self):
        """Retries the servers logged (deadlocks, serialization and
        certification failures, lost provider races)."""
        return sum(
            server.log_count(
                "retrying write after",
                "lost a provider race",
                "collided on insert",
            )
            for server in self.servers
        )

    def summary(self, extra=""):
        stats = self.stats
        fivexx = sum(
            count
            for status, count in stats.statuses.items()
            if status is not None and status >= 500
        )
        kinds = ", ".join(
            "%s %d" % (kind, count)
            for kind, count in sorted(stats.conflict_kinds.items())
        )
        line = (
            "%s: %d clients, %d servers, %.0f s: %d requests, %d writes "
            "ok (%d reshapes), %d conflicts (409: %s), %d server "
            "retries, %d 5xx, %d connection errors, %d capacity samples, "
            "%d violations%s"
            % (
                self.label,
                len(self.clients),
                len(self.servers),
                time.monotonic() - self.started,
                stats.requests,
                stats.writes_ok,
                self.reshapes,
                stats.conflicts,
                kinds,
                self.server_retries(),
                fivexx,
                stats.statuses.get(None, 0),
                stats.samples,
                len(stats.violations),
                extra,
            )
        )
        SUMMARY.append(line)
        print(line)
        for example in stats.other_conflicts:
            print("  a 409 of another kind: %s" % example[:400])
        return line
