"""GET /allotment/openapi.json: the OpenAPI document of a microversion,
for any authenticated caller (policy ``allotment:openapi``)."""

import pytest

from allotment.api import microversion

PATH = "/allotment/openapi.json"


def test_the_latest_microversion_is_described_by_default(sqlite_api):
    resp = sqlite_api.get(PATH)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    document = resp.json
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == microversion.MAX_VERSION
    assert document["x-microversions"]["all"] == microversion.VERSIONS
    assert "/reshaper" in document["paths"]


def test_a_chosen_microversion_is_described(sqlite_api):
    document = sqlite_api.get(PATH + "?microversion=1.5").json
    assert document["info"]["version"] == "1.5"
    assert "/traits" not in document["paths"]
    assert (
        "delete" in document["paths"]["/resource_providers/{uuid}/inventories"]
    )
    latest = sqlite_api.get(PATH + "?microversion=latest").json
    assert latest == sqlite_api.get(PATH).json


@pytest.mark.parametrize(
    "query",
    ["microversion=2.0", "microversion=1.40", "microversion=", "other=1"],
)
def test_an_unknown_microversion_or_key_is_refused(sqlite_api, query):
    resp = sqlite_api.get(PATH + "?" + query)
    assert resp.status_code == 400, resp.text
    assert (
        "Invalid query string parameters" in (resp.json["errors"][0]["detail"])
    )


def test_any_authenticated_caller_may_read_it(sqlite_api):
    # A project member with no role: the rule's default is "@".
    resp = sqlite_api.get(PATH, token="someone:project")
    assert resp.status_code == 200, resp.text
    assert sqlite_api.get(PATH, token=None).status_code == 401
