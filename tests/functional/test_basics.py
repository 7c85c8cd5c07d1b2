"""The HTTP framework: versions, errors, auth, content negotiation."""


def test_root_needs_no_token(api):
    resp = api.get("/", token=None)
    assert resp.status_code == 200
    version = resp.json["versions"][0]
    assert version["min_version"] == "1.0"
    assert version["max_version"] == "1.39"
    assert resp.headers["openstack-api-version"] == "placement 1.39"
    assert resp.headers["x-openstack-request-id"].startswith("req-")


def test_no_token_is_401(api):
    assert api.get("/resource_classes", token=None).status_code == 401


def test_unknown_version_406_with_bounds(api):
    resp = api.get("/", version="1.99")
    assert resp.status_code == 406
    error = resp.json["errors"][0]
    assert error["max_version"] == "1.39"
    assert error["min_version"] == "1.0"


def test_bad_version_string_400(api):
    resp = api.get("/", version="cow")
    assert resp.status_code == 400


def test_unknown_route_404_json(api):
    resp = api.get("/nothing_here")
    assert resp.status_code == 404
    error = resp.json["errors"][0]
    assert error["title"] == "Not Found"
    assert error["code"] == "placement.undefined_code"
    assert error["request_id"].startswith("req-")


def test_wrong_method_405_with_allow(api):
    resp = api.request("PATCH", "/resource_classes")
    assert resp.status_code == 405
    assert set(resp.headers["allow"].split(", ")) == {"GET", "POST"}


def test_error_code_only_from_1_23(api):
    old = api.get("/resource_classes/CUSTOM_NOPE", version="1.22")
    new = api.get("/resource_classes/CUSTOM_NOPE", version="1.23")
    assert "code" not in old.json["errors"][0]
    assert new.json["errors"][0]["code"] == "placement.undefined_code"


def test_malformed_json_400(api):
    resp = api.request(
        "POST",
        "/resource_classes",
        raw=b"{not json",
        content_type="application/json",
    )
    assert resp.status_code == 400
    assert "Malformed JSON" in resp.json["errors"][0]["detail"]


def test_wrong_content_type_415(api):
    resp = api.request(
        "POST",
        "/resource_classes",
        raw=b"name=CUSTOM_X",
        content_type="text/plain",
    )
    assert resp.status_code == 415


def test_cache_headers_from_1_15(api):
    assert (
        "last-modified"
        not in api.get("/resource_classes", version="1.14").headers
    )
    resp = api.get("/resource_classes", version="1.15")
    assert resp.headers["cache-control"] == "no-cache"
    assert "last-modified" in resp.headers
