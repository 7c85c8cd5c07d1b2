"""Provider aggregates through the WSGI app."""

import threading

import sqlalchemy as sa

from allotment.storage import tables

U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"
AGG1 = "aaaaaaaa-1111-4111-8111-111111111111"
AGG2 = "aaaaaaaa-2222-4222-8222-222222222222"
AGG3 = "aaaaaaaa-3333-4333-8333-333333333333"
PATH = "/resource_providers/%s/aggregates"


def _provider(api, name, uuid_):
    resp = api.post("/resource_providers", {"name": name, "uuid": uuid_})
    assert resp.status_code == 200, resp.text


def _generation(api, uuid_):
    return api.get("/resource_providers/" + uuid_).json["generation"]


def test_plain_list_form_keeps_generation(api):
    _provider(api, "one", U1)
    resp = api.get(PATH % U1, version="1.1")
    assert resp.json == {"aggregates": []}
    resp = api.put(PATH % U1, [AGG1, AGG2], version="1.18")
    assert resp.status_code == 200
    assert resp.json == {"aggregates": [AGG1, AGG2]}
    assert "last-modified" in resp.headers
    assert _generation(api, U1) == 0
    resp = api.get(PATH % U1, version="1.14")
    assert sorted(resp.json["aggregates"]) == sorted([AGG1, AGG2])
    assert "last-modified" not in resp.headers
    assert "cache-control" not in resp.headers
    resp = api.put(PATH % U1, [AGG2, AGG3], version="1.1")
    assert sorted(api.get(PATH % U1).json["aggregates"]) == sorted(
        [AGG2, AGG3]
    )
    assert _generation(api, U1) == 0


def test_generation_form(api):
    _provider(api, "one", U1)
    _provider(api, "two", U2)
    body = {"aggregates": [AGG1, AGG2], "resource_provider_generation": 0}
    resp = api.put(PATH % U1, body)
    assert resp.status_code == 200
    assert resp.json == {
        "aggregates": [AGG1, AGG2],
        "resource_provider_generation": 1,
    }
    resp = api.get(PATH % U1)
    assert resp.json["resource_provider_generation"] == 1
    resp = api.put(PATH % U1, body)
    assert resp.status_code == 409
    assert resp.json["errors"][0]["code"] == "placement.concurrent_update"
    # The same aggregate shared by a second provider is not duplicated.
    resp = api.put(
        PATH % U2, {"aggregates": [AGG2], "resource_provider_generation": 0}
    )
    assert resp.status_code == 200
    resp = api.put(
        PATH % U1, {"aggregates": [], "resource_provider_generation": 1}
    )
    assert resp.json == {"aggregates": [], "resource_provider_generation": 2}
    assert api.get(PATH % U2).json["aggregates"] == [AGG2]
    with api.db.read() as conn:
        assert (
            conn.scalar(
                sa.select(sa.func.count()).select_from(
                    tables.placement_aggregates
                )
            )
            == 2
        )


def test_bad_input(api):
    assert api.get(PATH % U1).status_code == 404
    assert api.put(PATH % U1, []).status_code == 404
    _provider(api, "one", U1)
    assert api.get(PATH % U1, version="1.0").status_code == 404
    assert api.put(PATH % U1, [], version="1.0").status_code == 404
    bad = [
        ("1.39", [AGG1]),
        ("1.18", {"aggregates": [AGG1], "resource_provider_generation": 0}),
        ("1.39", {"aggregates": [AGG1]}),
        ("1.39", {"aggregates": ["harry"], "resource_provider_generation": 0}),
        (
            "1.39",
            {"aggregates": [AGG1, AGG1], "resource_provider_generation": 0},
        ),
        ("1.39", {"aggregates": [AGG1], "resource_provider_generation": "0"}),
        (
            "1.39",
            {
                "aggregates": [AGG1],
                "resource_provider_generation": 0,
                "extra": 1,
            },
        ),
        ("1.10", [1]),
        ("1.10", {"a": 1}),
    ]
    for version, body in bad:
        resp = api.put(PATH % U1, body, version=version)
        assert resp.status_code == 400, (version, body)
        assert "JSON does not validate" in (resp.json["errors"][0]["detail"])
    resp = api.request(
        "PUT", PATH % U1, raw=b"[nope", content_type="application/json"
    )
    assert resp.status_code == 400
    assert "Malformed JSON" in resp.json["errors"][0]["detail"]
    assert api.request("PUT", PATH % U1).status_code == 415
    assert api.get(PATH % U1).json["aggregates"] == []
    assert _generation(api, U1) == 0
    with api.db.read() as conn:
        assert (
            conn.scalar(
                sa.select(sa.func.count()).select_from(
                    tables.placement_aggregates
                )
            )
            == 0
        )


def test_concurrent_writers(api):
    _provider(api, "one", U1)
    statuses = []

    def writer(aggs):
        for _ in range(5):
            statuses.append(
                api.put(PATH % U1, aggs, version="1.18").status_code
            )

    threads = [
        threading.Thread(target=writer, args=(aggs,))
        for aggs in ([AGG1, AGG2], [AGG2, AGG3], [AGG1, AGG3], [AGG3])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 20
    assert _generation(api, U1) == 0
    with api.db.read() as conn:
        assert (
            conn.scalar(
                sa.select(sa.func.count()).select_from(
                    tables.placement_aggregates
                )
            )
            == 3
        )
