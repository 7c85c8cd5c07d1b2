"""Authentication strategies and policy configuration."""

import http.server
import os
import threading

from allotment.api import policy as policy_module
from tests import support


def test_keystone_strategy_guards_all_but_root(tmp_path):
    client = support.ApiClient.create(
        "sqlite:///%s" % (tmp_path / "p.sqlite"),
        api__auth_strategy="keystone",
        keystone_authtoken__www_authenticate_uri="http://127.0.0.1:1/v3",
    )
    try:
        assert client.get("/", token=None).status_code == 200
        resp = client.get("/resource_classes", token=None)
        assert resp.status_code == 401
        assert "www-authenticate" in resp.headers
    finally:
        client.close()


def test_noauth2_roles_header_and_policy(sqlite_api):
    # A non-admin user is refused by the admin-or-service default.
    resp = sqlite_api.get("/resource_classes", token="alice:proj")
    assert resp.status_code == 403
    assert (
        "placement:resource_classes:list" in (resp.json["errors"][0]["detail"])
    )
    # The service role passes.
    resp = sqlite_api.get(
        "/resource_classes", token="nova:svc", headers={"x-roles": "service"}
    )
    assert resp.status_code == 200


def _with_policy(tmp_path, rules):
    """A policy file holding ``rules`` and an API client using it."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(rules)
    client = support.ApiClient.create(
        "sqlite:///%s" % (tmp_path / "p.sqlite"),
        oslo_policy__policy_file=str(policy),
    )
    return policy, client


def test_policy_file_overrides_a_rule(tmp_path):
    _policy, client = _with_policy(
        tmp_path, '"placement:resource_classes:list": "@"\n'
    )
    try:
        assert (
            client.get("/resource_classes", token="alice:proj").status_code
            == 200
        )
        assert (
            client.get(
                "/resource_classes/VCPU", token="alice:proj"
            ).status_code
            == 403
        )
    finally:
        client.close()


def test_system_scope_is_refused(sqlite_api):
    resp = sqlite_api.get(
        "/resource_classes", headers={"openstack-system-scope": "all"}
    )
    assert resp.status_code == 403


def test_a_changed_policy_file_takes_effect(tmp_path, monkeypatch):
    # Decisions are remembered, yet a rewritten policy file is obeyed once
    # the policy looks again (RELOAD_SECONDS; 0 here: on every request).
    monkeypatch.setattr(policy_module, "RELOAD_SECONDS", 0.0)
    policy, client = _with_policy(
        tmp_path, '"placement:resource_classes:list": "@"\n'
    )
    try:
        for _ in range(2):
            resp = client.get("/resource_classes", token="alice:proj")
            assert resp.status_code == 200
        policy.write_text('"placement:resource_classes:list": "!"\n')
        # oslo.policy notices a change by the file's modification time.
        later = os.stat(policy).st_mtime + 5
        os.utime(policy, (later, later))
        resp = client.get("/resource_classes", token="alice:proj")
        assert resp.status_code == 403
        # The same caller with other roles is decided on its own.
        resp = client.get(
            "/resource_classes",
            token="alice:proj",
            headers={"x-roles": "admin"},
        )
        assert resp.status_code == 403
    finally:
        client.close()


def test_decisions_are_per_caller_and_target(sqlite_api):
    # The same action, asked again by callers that differ in one
    # credential, gets each caller's own answer every time.
    for _ in range(2):
        assert sqlite_api.get("/resource_classes").status_code == 200
        assert (
            sqlite_api.get("/resource_classes", token="alice:proj").status_code
            == 403
        )
        assert (
            sqlite_api.get(
                "/resource_classes",
                token="alice:proj",
                headers={"x-roles": "service"},
            ).status_code
            == 200
        )


class _CountingChecker(http.server.BaseHTTPRequestHandler):
    """An http: policy check server that allows and counts its calls."""

    calls = 0

    def do_POST(self):
        type(self).calls += 1
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"True")

    def log_message(self, *args):
        pass


def test_remote_checks_are_asked_every_time(tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), _CountingChecker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _policy, client = _with_policy(
        tmp_path,
        '"placement:resource_classes:list": "http://127.0.0.1:%d/check"\n'
        % server.server_port,
    )
    try:
        for _ in range(3):
            resp = client.get("/resource_classes", token="alice:proj")
            assert resp.status_code == 200
        assert _CountingChecker.calls == 3
    finally:
        client.close()
        server.shutdown()
