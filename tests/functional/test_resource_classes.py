"""Resource classes through the WSGI app."""


def test_standard_classes_listed(api):
    resp = api.get("/resource_classes")
    names = [rc["name"] for rc in resp.json["resource_classes"]]
    assert len(names) == 21
    assert names[:3] == ["VCPU", "MEMORY_MB", "DISK_GB"]


def test_custom_class_lifecycle(api):
    resp = api.post("/resource_classes", {"name": "CUSTOM_GOLD"})
    assert resp.status_code == 201
    assert resp.headers["location"].endswith("/resource_classes/CUSTOM_GOLD")
    assert (
        api.post("/resource_classes", {"name": "CUSTOM_GOLD"}).status_code
        == 409
    )
    assert api.get("/resource_classes/CUSTOM_GOLD").json["name"] == (
        "CUSTOM_GOLD"
    )
    assert api.put("/resource_classes/CUSTOM_GOLD").status_code == 204
    assert api.put("/resource_classes/CUSTOM_SILVER").status_code == 201
    assert api.delete("/resource_classes/CUSTOM_GOLD").status_code == 204
    assert api.get("/resource_classes/CUSTOM_GOLD").status_code == 404


def test_standard_class_cannot_be_deleted(api):
    resp = api.delete("/resource_classes/VCPU")
    assert resp.status_code == 400


def test_bad_names_rejected_and_nothing_written(api):
    for body in (
        {"name": "GOLD"},
        {"name": "CUSTOM_" + "X" * 300},
        {"name": 5},
        {"name": "CUSTOM_A", "extra": 1},
        {},
    ):
        resp = api.post("/resource_classes", body)
        assert resp.status_code == 400, body
        assert "JSON does not validate" in resp.json["errors"][0]["detail"]
    assert len(api.get("/resource_classes").json["resource_classes"]) == 21
