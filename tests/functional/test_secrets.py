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

import pytest

from allotment import config
from allotment.storage import engine
from tests import support
from tests.private_postgres import free_port
from tests.private_postgres import private_postgres  # noqa: F401 (fixture)

DB_PASSWORD = "DbSecretPw42"
SSL_PASSWORD = "SslSecretPw43"
USER_TOKEN = "gAAAAABuserSECRETtoken44"
SERVICE_TOKEN = "gAAAAABserviceSECRETtoken45"
KEYSTONE_PASSWORD = "KeystoneSecretPw46"
SECRETS = [DB_PASSWORD, SSL_PASSWORD, USER_TOKEN, SERVICE_TOKEN,
           KEYSTONE_PASSWORD]
BIN = pathlib.Path(sys.executable).parent


def _assert_no_secret(text, where):
    for secret in SECRETS:
        assert secret not in text, "%s leaks %s:\n%s" % (where, secret, text)


def _write_conf(path, body):
    path.write_text(body)
    return str(path)


def test_database_passwords_stay_out_of_command_output(tmp_path):
    port = free_port()  # nothing listens there
    conf = _write_conf(tmp_path / "placement.conf", """
[DEFAULT]
debug = True
[api]
auth_strategy = noauth2
[placement_database]
connection = postgresql://placement:%s@127.0.0.1:%d/placement
connection_parameters = sslpassword=%s&password=%s
max_retries = 0
""" % (DB_PASSWORD, port, SSL_PASSWORD, DB_PASSWORD))
    commands = [
        [BIN / "allotment", "serve", "--config-file", conf, "--port",
         str(free_port())],
        [BIN / "allotment", "db", "sync", "--config-file", conf],
        [BIN / "allotment", "db", "version", "--config-file", conf],
        [BIN / "allotment", "upgrade-check", "--config-file", conf],
        [BIN / "placement-manage", "--config-file", conf, "db", "sync"],
        [BIN / "placement-status", "--config-file", conf, "upgrade",
         "check"],
    ]
    env = dict(os.environ, OS_PLACEMENT_CONFIG_DIR=str(tmp_path))
    outputs = []
    for cmd in commands:
        done = subprocess.run([str(c) for c in cmd], capture_output=True,
                              text=True, timeout=60, cwd=tmp_path, env=env)
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
        % (DB_PASSWORD, SSL_PASSWORD))
    _assert_no_secret(text, text)
    assert "sslmode=require" in text


def test_unavailable_database_leaks_no_password(private_postgres, caplog):
    caplog.set_level(logging.DEBUG)
    # The private server trusts every connection: the password is unused.
    url = private_postgres.url.replace(
        "postgres@", "postgres:%s@" % DB_PASSWORD)
    api = support.ApiClient.create(url)
    try:
        assert api.post("/resource_providers",
                        {"name": "cn1"}).status_code == 200
        private_postgres.stop()
        bodies = []
        for method, path, body in [
                ("GET", "/resource_providers", None),
                ("POST", "/resource_providers", {"name": "cn2"}),
                ("GET", "/resource_providers?in_tree=bad", None)]:
            resp = api.request(method, path, body=body)
            assert resp.status_code in (400, 503), resp.text
            bodies.append(resp.text)
    finally:
        api.close()
    _assert_no_secret("\n".join(bodies), "error bodies")
    _assert_no_secret(caplog.text, "logs")
    assert "database unavailable" in caplog.text


def test_keystone_tokens_and_password_leak_nowhere(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    identity = "http://127.0.0.1:%d/identity" % free_port()  # unreachable
    conf_file = _write_conf(tmp_path / "placement.conf", """
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
http_connect_timeout = 2
""" % (tmp_path / "placement.sqlite", identity, identity,
       KEYSTONE_PASSWORD))
    conf = config.load(["--config-file", conf_file])
    api = support.ApiClient(conf, engine.Database.from_conf(conf))
    try:
        bodies = []
        for path in ["/resource_providers", "/allocations/x", "/"]:
            resp = api.get(path, token=USER_TOKEN,
                           headers={"x-service-token": SERVICE_TOKEN})
            bodies.append("%s %s" % (resp.headers, resp.text))
        assert api.get("/resource_providers",
                       token=USER_TOKEN).status_code == 503
    finally:
        api.close()
    _assert_no_secret("\n".join(bodies), "answers")
    _assert_no_secret(caplog.text, "logs")
    assert "Unable to validate token" in caplog.text


@pytest.mark.parametrize("token", [USER_TOKEN])
def test_request_log_lines_carry_no_token(sqlite_api, caplog, token):
    caplog.set_level(logging.DEBUG)
    for path in ["/resource_providers", "/nope", "/allocations/x?a=b"]:
        sqlite_api.get(path, headers={"x-service-token": SERVICE_TOKEN,
                                      "x-auth-token": "admin",
                                      "authorization": "Bearer " + token})
    assert "allotment.requests" in caplog.text
    _assert_no_secret(caplog.text, "request log")
