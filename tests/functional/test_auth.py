"""Authentication strategies and policy configuration."""

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


def test_policy_file_overrides_a_rule(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text('"placement:resource_classes:list": "@"\n')
    client = support.ApiClient.create(
        "sqlite:///%s" % (tmp_path / "p.sqlite"),
        oslo_policy__policy_file=str(policy),
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
