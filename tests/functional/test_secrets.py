"""No secret in any log line or error body: database passwords (in the URL,
its query or ``connection_parameters``), keystone tokens and the service's
keystone password.

The commands run as real subprocesses with DEBUG logging; the API runs
in-process with every logger captured at DEBUG.
"""

import logging
import os
import pathlib
import subprocess
import sys
import threading

import pytest

from allotment import config
from allotment.storage import engine
from tests import support
from tests.private_postgres import free_port

DB_PASSWORD = "DbSecretPw42"
SSL_PASSWORD = "SslSecretPw43"
USER_TOKEN = "gAAAAABuserSECRETtoken44"
SERVICE_TOKEN = "gAAAAABserviceSECRETtoken45"
KEYSTONE_PASSWORD = "KeystoneSecretPw46"
SECRETS = [
    DB_PASSWORD,
    SSL_PASSWORD,
    USER_TOKEN,
    SERVICE_TOKEN,
    KEYSTONE_PASSWORD,
]
BIN = pathlib.Path(sys.executable).parent


def _assert_no_secret(text, where):
    for secret in SECRETS:
        assert secret not in text, "%s leaks %s:\n%s" % (where, secret, text)


def _write_conf(path, body):
    path.write_text(body)
    return str(path)


def test_database_passwords_stay_out_of_command_output(tmp_path):
    port = free_port()  # nothing listens there
    conf = _write_conf(
        tmp_path / "placement.conf",
        """
[DEFAULT]
debug = True
[api]
auth_strategy = noauth2
[placement_database]
connection = postgresql://placement:%s@127.0.0.1:%d/placement
connection_parameters = sslpassword=%s&password=%s
max_retries = 0
"""
        % (DB_PASSWORD, port, SSL_PASSWORD, DB_PASSWORD),
    )
    commands = [
        [
            BIN / "allotment",
            "serve",
            "--config-file",
            conf,
            "--port",
            str(free_port()),
        ],
        [BIN / "allotment", "db", "sync", "--config-file", conf],
        [BIN / "allotment", "db", "version", "--config-file", conf],
        [BIN / "allotment", "upgrade-check", "--config-file", conf],
        [BIN / "placement-manage", "--config-file", conf, "db", "sync"],
        [BIN / "placement-status", "--config-file", conf, "upgrade", "check"],
    ]
    env = dict(os.environ, OS_PLACEMENT_CONFIG_DIR=str(tmp_path))
    outputs = []
    for cmd in commands:
        done = subprocess.run(
            [str(c) for c in cmd],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=env,
        )
        output = done.stdout + done.stderr
        where = " ".join(str(c) for c in cmd[:3])
        assert done.returncode != 0, (where, output)
        _assert_no_secret(output, where)
        outputs.append(output)
    # serve says what failed in one line, and which database (redacted).
    assert "database unreachable" in outputs[0]
    assert "Traceback" not in outputs[0]
    assert "placement:***@127.0.0.1" in outputs[0]


def test_redacted_url_masks_passwords_in_the_query():
    text = engine.redacted_url(
        "postgresql+psycopg://u:%s@h/db?sslpassword=%s&sslmode=require"
        % (DB_PASSWORD, SSL_PASSWORD)
    )
    _assert_no_secret(text, text)
    assert "sslmode=require" in text


def test_unavailable_database_leaks_no_password(private_postgres, caplog):
    caplog.set_level(logging.DEBUG)
    # The private server trusts every connection: the password is unused.
    url = private_postgres.url.replace(
        "postgres@", "postgres:%s@" % DB_PASSWORD
    )
    api = support.ApiClient.create(url)
    try:
        assert (
            api.post("/resource_providers", {"name": "cn1"}).status_code == 200
        )
        private_postgres.stop()
        bodies = []
        for method, path, body in [
            ("GET", "/resource_providers", None),
            ("POST", "/resource_providers", {"name": "cn2"}),
            ("GET", "/resource_providers?in_tree=bad", None),
        ]:
            resp = api.request(method, path, body=body)
            assert resp.status_code in (400, 503), resp.text
            bodies.append(resp.text)
    finally:
        api.close()
    _assert_no_secret("\n".join(bodies), "error bodies")
    _assert_no_secret(caplog.text, "logs")
    assert "database unavailable" in caplog.text


def _keystone_conf(folder, identity_url, timeout):
    """A placement.conf with keystone auth against ``identity_url``."""
    return _write_conf(
        folder / "placement.conf",
        """
[api]
auth_strategy = keystone
[placement_database]
connection = sqlite:///%s
sync_on_startup = True
[keystone_authtoken]
www_authenticate_uri = %s
auth_url = %s
auth_type = password
username = placement
password = %s
project_name = service
user_domain_name = Default
project_domain_name = Default
http_connect_timeout = %d
"""
        % (
            folder / "placement.sqlite",
            identity_url,
            identity_url,
            KEYSTONE_PASSWORD,
            timeout,
        ),
    )


def test_keystone_tokens_and_password_leak_nowhere(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    identity = "http://127.0.0.1:%d/identity" % free_port()  # unreachable
    conf_file = _keystone_conf(tmp_path, identity, timeout=2)
    conf = config.load(["--config-file", conf_file])
    api = support.ApiClient(conf, engine.Database.from_conf(conf))
    try:
        bodies = []
        for path in ["/resource_providers", "/allocations/x", "/"]:
            resp = api.get(
                path,
                token=USER_TOKEN,
                headers={"x-service-token": SERVICE_TOKEN},
            )
            bodies.append("%s %s" % (resp.headers, resp.text))
        assert (
            api.get("/resource_providers", token=USER_TOKEN).status_code == 503
        )
    finally:
        api.close()
    _assert_no_secret("\n".join(bodies), "answers")
    _assert_no_secret(caplog.text, "logs")
    assert "Unable to validate token" in caplog.text


@pytest.mark.parametrize("token", [USER_TOKEN])
def test_request_log_lines_carry_no_token(sqlite_api, caplog, token):
    caplog.set_level(logging.DEBUG)
    for path in ["/resource_providers", "/nope", "/allocations/x?a=b"]:
        sqlite_api.get(
            path,
            headers={
                "x-service-token": SERVICE_TOKEN,
                "x-auth-token": "admin",
                "authorization": "Bearer " + token,
            },
        )
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "allotment.requests"
    ]
    assert len(lines) == 3
    # The identity noauth2 took from the token ("admin"), not the
    # Authorization header or the service token.
    for line in lines:
        assert line.endswith("project: admin user: admin"), line
    _assert_no_secret(caplog.text, "request log")


def test_unauthenticated_request_log_line_names_nobody(sqlite_api, caplog):
    caplog.set_level(logging.INFO)
    resp = sqlite_api.get("/resource_providers", token=None)
    assert resp.status_code == 401
    (line,) = [
        r.getMessage()
        for r in caplog.records
        if r.name == "allotment.requests"
    ]
    assert " status: 401 " in line
    assert line.endswith("project: - user: -"), line


class _FakeKeystone:
    """Just enough of the identity API v3 for keystonemiddleware: version
    discovery, password authentication of the service, token validation
    (USER_TOKEN is an admin's, SERVICE_TOKEN a service's)."""

    def __init__(self):
        import http.server
        import json

        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = self.path.split("?")[0].rstrip("/")
                if path == "/identity":
                    return self._send(
                        300, {"versions": {"values": [fake.version()]}}
                    )
                if path == "/identity/v3":
                    return self._send(200, {"version": fake.version()})
                if path == "/identity/v3/auth/tokens":
                    subject = self.headers.get("X-Subject-Token")
                    if subject == USER_TOKEN:
                        return self._send(
                            200,
                            fake.token("admin"),
                            [("X-Subject-Token", subject)],
                        )
                    if subject == SERVICE_TOKEN:
                        return self._send(
                            200,
                            fake.token("service"),
                            [("X-Subject-Token", subject)],
                        )
                    return self._send(404, {"error": {"code": 404}})
                self._send(404, {})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                password = (
                    body.get("auth", {})
                    .get("identity", {})
                    .get("password", {})
                    .get("user", {})
                    .get("password")
                )
                path = self.path.split("?")[0].rstrip("/")
                if (
                    path == "/identity/v3/auth/tokens"
                    and password == KEYSTONE_PASSWORD
                ):
                    return self._send(
                        201,
                        fake.token("service"),
                        [("X-Subject-Token", "service-session-token")],
                    )
                self._send(401, {"error": {"code": 401}})

        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), Handler
        )
        self.url = "http://127.0.0.1:%d/identity" % self.server.server_port
        self.thread = threading.Thread(
            target=self.server.serve_forever, daemon=True
        )
        self.thread.start()

    def version(self):
        return {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-01-01T00:00:00Z",
            "links": [{"rel": "self", "href": self.url + "/v3/"}],
            "media-types": [
                {
                    "base": "application/json",
                    "type": "application/vnd.openstack.identity-v3+json",
                }
            ],
        }

    def token(self, role):
        domain = {"id": "default", "name": "Default"}
        return {
            "token": {
                "methods": ["password"],
                "audit_ids": ["a"],
                "expires_at": "2099-01-01T00:00:00.000000Z",
                "issued_at": "2020-01-01T00:00:00.000000Z",
                "user": {"id": "u-" + role, "name": role, "domain": domain},
                "project": {"id": "p-" + role, "name": role, "domain": domain},
                "roles": [{"id": "r-" + role, "name": role}],
                "catalog": [
                    {
                        "type": "identity",
                        "name": "keystone",
                        "id": "k",
                        "endpoints": [
                            {
                                "id": "e-" + iface,
                                "interface": iface,
                                "region": "RegionOne",
                                "region_id": "RegionOne",
                                "url": self.url,
                            }
                            for iface in ("public", "internal", "admin")
                        ],
                    }
                ],
            }
        }

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def test_keystone_authenticated_requests_log_no_token(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    keystone = _FakeKeystone()
    try:
        conf_file = _keystone_conf(tmp_path, keystone.url, timeout=5)
        conf = config.load(["--config-file", conf_file])
        api = support.ApiClient(conf, engine.Database.from_conf(conf))
        try:
            answers = []
            for method, path, body in [
                ("GET", "/resource_providers", None),
                ("POST", "/resource_providers", {"name": "cn1"}),
                ("POST", "/resource_providers", {"name": "cn1"}),
                ("GET", "/allocations/x?a=b", None),
                ("GET", "/resource_providers?in_tree=bad", None),
            ]:
                resp = api.request(
                    method,
                    path,
                    body=body,
                    token=USER_TOKEN,
                    headers={"x-service-token": SERVICE_TOKEN},
                )
                answers.append(
                    "%s %s %s" % (resp.status, resp.headers, resp.text)
                )
            assert answers[0].startswith("200"), answers[0]
            assert answers[1].startswith("200"), answers[1]
            assert answers[2].startswith("409"), answers[2]
            resp = api.get("/resource_providers", token="not-a-token")
            assert resp.status_code == 401
        finally:
            api.close()
    finally:
        keystone.close()
    _assert_no_secret("\n".join(answers), "answers")
    _assert_no_secret(caplog.text, "logs")
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "allotment.requests"
    ]
    # The project and user keystone validated the token for, never it.
    assert '"GET /resource_providers" status: 200' in lines[0]
    assert lines[0].endswith("project: p-admin user: u-admin"), lines[0]
    assert all(line.endswith("user: u-admin") for line in lines), lines
