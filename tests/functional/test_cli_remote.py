"""cli/remote.py, the client the CLI twins share, against a server
speaking HTTP (the app served from a thread), on every backend."""

import argparse
import io
import json
import socket

import pytest

from allotment.cli import remote
from tests import support


def _args(*argv):
    parser = argparse.ArgumentParser()
    remote.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def url(api):
    with support.served_in_thread(api.app) as base:
        yield base


def _call(args, path, query="", environ=None):
    out, err = io.StringIO(), io.StringIO()
    status = remote.call(
        args,
        path,
        query,
        lambda answer: "rendered %s" % sorted(answer),
        out=out,
        err=err,
        environ={} if environ is None else environ,
    )
    return status, out.getvalue(), err.getvalue()


def test_get_with_url_argument_and_noauth_default_token(api, url):
    api.post("/resource_providers", body={"name": "cn1"})
    answer = remote.get(_args("--url", url), "/resource_providers", environ={})
    assert [p["name"] for p in answer["resource_providers"]] == ["cn1"]


def test_url_from_environment_and_query(api, url):
    api.post("/resource_providers", body={"name": "cn1"})
    api.post("/resource_providers", body={"name": "cn2"})
    answer = remote.get(
        _args(),
        "/resource_providers",
        "name=cn2",
        environ={"ALLOTMENT_URL": url},
    )
    assert [p["name"] for p in answer["resource_providers"]] == ["cn2"]


def test_text_and_json_output(url):
    status, out, err = _call(_args("--url", url), "/resource_providers")
    assert (status, out, err) == (0, "rendered ['resource_providers']\n", "")
    status, out, err = _call(
        _args("--url", url, "--json"), "/resource_providers"
    )
    assert status == 0
    assert json.loads(out) == {"resource_providers": []}


def test_token_from_environment_is_sent(url):
    # A noauth2 token without the admin role: the policy refuses it.
    status, out, err = _call(
        _args("--url", url), "/resource_providers", environ={"OS_TOKEN": "bob"}
    )
    assert status == 1
    assert out == ""
    assert err.startswith("allotment: HTTP 403 (placement.undefined_code): ")
    assert "Policy does not allow" in err
    assert "[req-" in err


def test_microversion_option(url):
    status, _out, err = _call(
        _args("--url", url, "--os-placement-api-version", "1.0"),
        "/resource_providers",
        "member_of=in:%s" % ("a" * 32),
    )
    assert status == 1
    assert "HTTP 400" in err


def test_error_answer_is_one_clear_line(url):
    status, out, err = _call(
        _args("--url", url), "/resource_providers/not-a-uuid"
    )
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("allotment: HTTP 404")


def test_unreachable_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status, out, err = _call(
        _args("--url", "http://127.0.0.1:%d" % port), "/resource_providers"
    )
    assert status == 1
    assert out == ""
    assert err.startswith("allotment: cannot ask the server: ")


def test_keystone_password_settings_come_from_the_environment():
    environ = {
        "OS_AUTH_URL": "http://keystone.example:5000/v3",
        "OS_USERNAME": "admin",
        "OS_PASSWORD": "secret",
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionTwo",
    }
    sess, where = remote.session(_args(), environ)
    assert sess.auth.auth_url == "http://keystone.example:5000/v3"
    assert sess.auth._username == "admin"
    assert sess.auth._password == "secret"
    assert sess.auth._project_name == "admin"
    assert where == {
        "endpoint_filter": {
            "service_type": "placement",
            "interface": "public",
            "region_name": "RegionTwo",
        }
    }
    _sess, where = remote.session(_args("--url", "http://x:1"), environ)
    assert where == {"endpoint_override": "http://x:1"}
    # OS_TOKEN wins over a password, as with the openstack client.
    sess, where = remote.session(_args(), dict(environ, OS_TOKEN="tok"))
    assert sess.auth.token == "tok"
    assert where == {"endpoint_override": remote.DEFAULT_URL}
