"""Traits and provider traits through the WSGI app."""

import uuid

import pytest

from allotment.domain import traits as domain


def make_provider(api, name="rp"):
    rp_uuid = str(uuid.uuid4())
    resp = api.post("/resource_providers", {"name": name, "uuid": rp_uuid})
    assert resp.status_code in (200, 201), resp.text
    return rp_uuid


def rp_traits(rp_uuid):
    return "/resource_providers/%s/traits" % rp_uuid


def names(resp):
    return resp.json["traits"]


def test_custom_trait_lifecycle(api):
    created = api.put("/traits/CUSTOM_A", version="1.6")
    assert created.status_code == 201
    assert created.headers["location"].endswith("/traits/CUSTOM_A")
    assert "cache-control" not in created.headers
    again = api.put("/traits/CUSTOM_A", version="1.15")
    assert again.status_code == 204
    assert "last-modified" in again.headers
    shown = api.get("/traits/CUSTOM_A", version="1.15")
    assert shown.status_code == 204
    assert "last-modified" in shown.headers
    assert api.delete("/traits/CUSTOM_A").status_code == 204
    assert api.get("/traits/CUSTOM_A").status_code == 404
    assert api.delete("/traits/CUSTOM_A").status_code == 404


@pytest.mark.parametrize(
    "name",
    ["TRAIT_X", "CUSTOM_a", "CUSTOM_A:1", "CUSTOM_", "CUSTOM_" + "A" * 250],
)
def test_invalid_trait_names(sqlite_api, name):
    resp = sqlite_api.put("/traits/" + name)
    assert resp.status_code == 400
    assert "The trait is invalid" in resp.json["errors"][0]["detail"]
    assert sqlite_api.get("/traits/" + name).status_code == 404


def test_standard_trait_cannot_be_deleted(api):
    resp = api.delete("/traits/HW_CPU_X86_SSE")
    assert resp.status_code == 400
    assert "Cannot delete standard trait" in resp.json["errors"][0]["detail"]


def test_microversion_gate(sqlite_api):
    for method in ("GET", "PUT", "DELETE"):
        resp = sqlite_api.request(method, "/traits/CUSTOM_A", version="1.5")
        assert resp.status_code == 404
    assert sqlite_api.get("/traits", version="1.5").status_code == 404


def test_list_filters(api):
    for name in ("CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2", "CUSTOM_OTHER"):
        api.put("/traits/" + name)
    everything = names(api.get("/traits"))
    assert "HW_CPU_X86_SSE" in everything and "CUSTOM_OTHER" in everything
    assert sorted(
        names(
            api.get("/traits?name=in:CUSTOM_TRAIT_1,CUSTOM_OTHER,CUSTOM_NONE")
        )
    ) == ["CUSTOM_OTHER", "CUSTOM_TRAIT_1"]
    assert sorted(names(api.get("/traits?name=startswith:CUSTOM_TRAIT"))) == [
        "CUSTOM_TRAIT_1",
        "CUSTOM_TRAIT_2",
    ]
    rp = make_provider(api)
    api.put(
        rp_traits(rp),
        {"traits": ["CUSTOM_OTHER"], "resource_provider_generation": 0},
    )
    assert names(api.get("/traits?associated=true")) == ["CUSTOM_OTHER"]
    unassociated = names(api.get("/traits?associated=FALSE"))
    assert "CUSTOM_OTHER" not in unassociated
    assert "CUSTOM_TRAIT_1" in unassociated
    assert names(
        api.get("/traits?name=startswith:CUSTOM_&associated=false")
    ) == ["CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"]


@pytest.mark.parametrize(
    "query, text",
    [
        ("name=in_abc", "Badly formatted name parameter"),
        ("associated=yes", 'only accepts "true" or "false"'),
        ("bogus=1", "Additional properties are not allowed"),
    ],
)
def test_list_bad_query(sqlite_api, query, text):
    resp = sqlite_api.get("/traits?" + query)
    assert resp.status_code == 400
    assert text in resp.json["errors"][0]["detail"]


def test_provider_traits(api):
    rp = make_provider(api)
    api.put("/traits/CUSTOM_A")
    empty = api.get(rp_traits(rp), version="1.15")
    assert empty.json == {"traits": [], "resource_provider_generation": 0}
    assert "last-modified" in empty.headers

    resp = api.put(
        rp_traits(rp),
        {
            "traits": ["CUSTOM_A", "HW_CPU_X86_SSE", "CUSTOM_A"],
            "resource_provider_generation": 0,
        },
    )
    assert resp.status_code == 200
    assert resp.json["resource_provider_generation"] == 1
    assert sorted(resp.json["traits"]) == ["CUSTOM_A", "HW_CPU_X86_SSE"]

    # The same set again changes nothing, not even the generation.
    same = api.put(
        rp_traits(rp),
        {
            "traits": ["HW_CPU_X86_SSE", "CUSTOM_A"],
            "resource_provider_generation": 1,
        },
    )
    assert same.json["resource_provider_generation"] == 1

    assert api.delete("/traits/CUSTOM_A").status_code == 409
    got = api.get(rp_traits(rp)).json
    assert sorted(got["traits"]) == ["CUSTOM_A", "HW_CPU_X86_SSE"]

    assert api.delete(rp_traits(rp)).status_code == 204
    assert api.get(rp_traits(rp)).json == {
        "traits": [],
        "resource_provider_generation": 2,
    }
    assert api.delete("/traits/CUSTOM_A").status_code == 204


@pytest.mark.parametrize(
    "body, status, text",
    [
        (
            {"traits": ["CUSTOM_A"], "resource_provider_generation": 5},
            409,
            "generation already changed",
        ),
        (
            {
                "traits": ["CUSTOM_NOPE", "CUSTOM_A", "CUSTOM_ZAP"],
                "resource_provider_generation": 0,
            },
            400,
            "No such trait CUSTOM_NOPE, CUSTOM_ZAP",
        ),
        (
            {"traits": ["CUSTOM_A"]},
            400,
            "'resource_provider_generation' is a required property",
        ),
        (
            {"traits": "CUSTOM_A", "resource_provider_generation": 0},
            400,
            "is not of type 'array'",
        ),
        (
            {"traits": [""], "resource_provider_generation": 0},
            400,
            "JSON does not validate",
        ),
        (
            {"traits": [], "resource_provider_generation": "0"},
            400,
            "is not of type 'integer'",
        ),
        (
            {"traits": [], "resource_provider_generation": 0, "x": 1},
            400,
            "Additional properties are not allowed",
        ),
    ],
)
def test_provider_traits_bad_input_writes_nothing(api, body, status, text):
    rp = make_provider(api)
    api.put("/traits/CUSTOM_A")
    resp = api.put(rp_traits(rp), body)
    assert resp.status_code == status
    assert text in resp.json["errors"][0]["detail"]
    assert api.get(rp_traits(rp)).json == {
        "traits": [],
        "resource_provider_generation": 0,
    }


def test_provider_traits_missing_provider(sqlite_api):
    url = rp_traits("non_existed")
    assert sqlite_api.get(url).status_code == 404
    assert sqlite_api.delete(url).status_code == 404
    resp = sqlite_api.put(
        url, {"traits": [], "resource_provider_generation": 0}
    )
    assert resp.status_code == 404
    assert (
        "No resource provider with uuid non_existed found"
        in (resp.json["errors"][0]["detail"])
    )


def test_name_lookups(sqlite_api):
    sqlite_api.put("/traits/CUSTOM_A")
    with sqlite_api.db.read() as conn:
        ids = domain.ids_for(conn, ["CUSTOM_A", "HW_CPU_X86_SSE", "NOPE"])
        assert set(ids) == {"CUSTOM_A", "HW_CPU_X86_SSE"}
        assert domain.ids_for(conn, []) == {}
