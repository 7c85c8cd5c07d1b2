"""The health check a load balancer polls: ``GET /healthcheck`` answers 200
while the worker can serve, 503 while the database is down or the provider
snapshot is not loaded; no token is needed. ``GET /allotment/healthcheck``
is the detailed mode, for administrators.

The outage tests run their own PostgreSQL (tests/private_postgres.py) and
stop it; the shared servers are never touched.
"""

import json
import urllib.error
import urllib.request

from allotment.candidates import snapshot
from allotment.storage import engine
from tests import served
from tests import support

JSON = {"accept": "application/json"}
TEXT = {"accept": "text/plain"}


def _reasons(resp):
    return resp.text.splitlines()


def test_plain_check_needs_no_token_and_names_both_checks(api):
    for token in (None, "admin", "nobody"):
        resp = api.get("/healthcheck", token=token, headers=TEXT, version=None)
        assert resp.status_code == 200, resp.text
        assert _reasons(resp) == [
            "database reachable",
            "provider snapshot loaded",
        ]
    head = api.request("HEAD", "/healthcheck", token=None, version=None)
    assert head.status_code == 204
    resp = api.get("/healthcheck", token=None, headers=JSON, version=None)
    assert resp.json == {
        "detailed": False,
        "reasons": ["database reachable", "provider snapshot loaded"],
    }


def test_detailed_check_is_for_administrators(api):
    resp = api.get("/allotment/healthcheck", headers=JSON)
    assert resp.status_code == 200, resp.text
    body = resp.json
    assert body["detailed"] is True
    reasons = {r["reason"]: r["details"] for r in body["reasons"]}
    assert set(reasons) == {"database reachable", "provider snapshot loaded"}
    assert api.db.backend in reasons["database reachable"]
    assert "providers=0" in reasons["provider snapshot loaded"]
    assert (
        api.get("/allotment/healthcheck", token="user:project").status_code
        == 403
    )
    assert api.get("/allotment/healthcheck", token=None).status_code == 401


def _health(base):
    try:
        with urllib.request.urlopen(base + "/healthcheck", timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_load_balancer_sees_the_database_go_and_come_back(
    private_postgres, tmp_path
):
    """A real server polled over HTTP, as a load balancer does."""
    conf = served.write_conf(tmp_path, private_postgres.url)
    server = served.Served.start(conf)
    try:
        assert _health(server.base) == (
            200,
            "database reachable\nprovider snapshot loaded",
        )
        private_postgres.stop()
        status, text = _health(server.base)
        assert status == 503
        assert "database unreachable" in text.splitlines()
        private_postgres.start()
        assert _health(server.base)[0] == 200
    finally:
        server.stop()


def test_unloaded_snapshot_answers_503_until_loaded(
    private_postgres, monkeypatch
):
    """A worker started while the database was away: 503 (even once the
    database is back) until its snapshot is loaded."""
    api = support.ApiClient.create(private_postgres.url)
    # The maintenance thread of the worker below retries its load only
    # after an hour: the snapshot stays unloaded for the test.
    monkeypatch.setattr(snapshot, "RETRY_SECONDS", 3600)
    database = engine.Database.from_conf(api.conf)
    try:
        private_postgres.stop()
        client = support.ApiClient(api.conf, database, prepare=False)
        private_postgres.start()
        resp = client.get(
            "/healthcheck", token=None, headers=TEXT, version=None
        )
        assert resp.status_code == 503
        assert _reasons(resp) == [
            "database reachable",
            "provider snapshot not loaded",
        ]
        detailed = client.get("/allotment/healthcheck", headers=JSON)
        assert detailed.status_code == 503
        assert json.loads(detailed.text)["detailed"] is True
        # The worker whose snapshot loaded at start serves.
        assert api.get("/healthcheck", token=None).status_code == 200
    finally:
        snapshot.for_database(database).stop()
        database.dispose()
        api.close()
