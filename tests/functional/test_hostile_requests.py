"""Hostile requests answered as the reference does, or with a clear 4xx:
repeated query keys, empty path segments and trailing slashes, the error
codes of conflicts, and request bodies over the size limit.

Every refusal is in Placement's JSON error format and writes nothing.
"""

import pytest
import sqlalchemy as sa

from allotment.storage import tables

RP = "4e8e5957-649f-477b-9e5b-f1f75b21c03c"
CONSUMER = "0b5d0c7e-36a7-4d3b-9f7e-5a3c8d7e2f11"
DUPLICATE_KEY = "placement.query.duplicate_key"


def _seed(api):
    assert (
        api.post(
            "/resource_providers", {"name": "cn1", "uuid": RP}
        ).status_code
        == 200
    )
    assert (
        api.put(
            "/resource_providers/%s/inventories" % RP,
            {
                "resource_provider_generation": 0,
                "inventories": {"VCPU": {"total": 8}},
            },
        ).status_code
        == 200
    )


def _counts(api):
    with api.db.read() as conn:
        return {
            t.name: conn.scalar(sa.select(sa.func.count()).select_from(t))
            for t in tables.metadata.sorted_tables
        }


def _error(resp, status, code=None):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    error = resp.json["errors"][0]
    assert error["status"] == status
    assert error["request_id"]
    if code is not None:
        assert error["code"] == code, error
    return error


# --- repeated query keys ---------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc&limit=1",
        "limit=-1&limit=2",
        "limit=0&limit=2",
        "limit=2&limit=abc",
        "group_policy=bad&group_policy=none",
    ],
)
def test_every_value_of_a_first_wins_key_is_validated(sqlite_api, query):
    _seed(sqlite_api)
    resp = sqlite_api.get("/allocation_candidates?resources=VCPU:1&" + query)
    assert "Invalid query string parameters" in _error(resp, 400)["detail"]


def test_repeated_limit_still_takes_the_first(sqlite_api):
    # The reference's own tests send limit (and group_policy) twice.
    _seed(sqlite_api)
    resp = sqlite_api.get(
        "/allocation_candidates?resources=VCPU:1&limit=2&limit=1"
    )
    assert resp.status_code == 200, resp.text
    assert len(resp.json["allocation_requests"]) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/allocation_candidates?resources=VCPU:1&resources=VCPU:2",
        "/allocation_candidates?resources1=VCPU:1&resources1=VCPU:2",
        "/allocation_candidates?resources=VCPU:1&in_tree=%s&in_tree=%s"
        % (RP, RP),
        "/allocation_candidates?resources1=VCPU:1&in_tree1=%s&in_tree1=%s"
        % (RP, RP),
        "/allocation_candidates?resources=VCPU:1&root_required=A"
        "&root_required=B",
        "/resource_providers?in_tree=abc&in_tree=%s" % RP,
        "/resource_providers?in_tree=%s&in_tree=%s" % (RP, RP),
        "/resource_providers?name=x&name=cn1",
        "/resource_providers?uuid=abc&uuid=%s" % RP,
        "/resource_providers?resources=VCPU:1&resources=VCPU:100",
        "/traits?name=in:X&name=startswith:HW",
        "/traits?associated=x&associated=true",
        "/usages?project_id=p&project_id=q",
        "/usages?project_id=p&user_id=u&user_id=v",
        "/usages?project_id=p&consumer_type=A&consumer_type=B",
    ],
)
def test_a_single_valued_key_given_twice_is_refused(sqlite_api, path):
    _seed(sqlite_api)
    resp = sqlite_api.get(path)
    error = _error(resp, 400, DUPLICATE_KEY)
    name = path.split("&")[-1].split("=")[0]
    assert (
        "Query parameter '%s' may be specified only once." % name
        in (error["detail"])
    )


@pytest.mark.parametrize(
    "path, version",
    [
        (
            "/resource_providers?member_of=%s&member_of=%s" % (RP, CONSUMER),
            "1.24",
        ),
        ("/resource_providers?required=CUSTOM_A&required=CUSTOM_B", "1.38"),
        ("/resource_providers?required=CUSTOM_A&required=CUSTOM_B", "1.39"),
        (
            "/allocation_candidates?resources=VCPU:1&required=CUSTOM_A"
            "&required=CUSTOM_B",
            "1.38",
        ),
        (
            "/allocation_candidates?resources=VCPU:1&member_of=%s&member_of=%s"
            % (RP, CONSUMER),
            "1.24",
        ),
        (
            "/allocation_candidates?resources1=VCPU:1&resources2=VCPU:1"
            "&group_policy=none&group_policy=isolate&same_subtree=1,2"
            "&same_subtree=1",
            "1.36",
        ),
    ],
)
def test_keys_placement_lets_repeat_still_work(sqlite_api, path, version):
    _seed(sqlite_api)
    for trait in ("CUSTOM_A", "CUSTOM_B"):
        sqlite_api.put("/traits/" + trait)
    resp = sqlite_api.get(path, version=version)
    assert resp.status_code == 200, resp.text


# --- empty path segments and trailing slashes ------------------------------

EMPTY_SEGMENT_PATHS = [
    "//",
    "//resource_providers",
    "/resource_classes/",
    "/resource_classes//",
    "/resource_classes/VCPU/",
    "/resource_providers/",
    "/resource_providers//",
    "/resource_providers/%s/" % RP,
    "/resource_providers/%s//inventories" % RP,
    "/resource_providers//inventories",
    "/resource_providers//traits",
    "/resource_providers//usages",
    "/resource_providers//aggregates",
    "/resource_providers//allocations",
    "/resource_providers/%s/inventories/" % RP,
    "/resource_providers/%s/inventories//" % RP,
    "/resource_providers/%s/inventories/VCPU/" % RP,
    "/resource_providers/%s/traits/" % RP,
    "/allocations/",
    "/allocations//",
    "/allocations/%s/" % CONSUMER,
    "/allocation_candidates/",
    "/traits/",
    "/traits//",
    "/traits/HW_CPU_X86_AVX/",
    "/usages/",
    "/reshaper/",
]


@pytest.mark.parametrize("method", ["GET", "PUT", "POST", "DELETE"])
def test_an_empty_path_segment_is_not_found(sqlite_api, method):
    _seed(sqlite_api)
    before = _counts(sqlite_api)
    for path in EMPTY_SEGMENT_PATHS:
        body = {"name": "CUSTOM_X"} if method in ("PUT", "POST") else None
        resp = sqlite_api.request(method, path, body=body)
        error = _error(resp, 404, "placement.undefined_code")
        # The reference's words: the explanation and no message.
        assert error["detail"] == (
            "The resource could not be found.\n\n   "
        ), (path, error)
    assert _counts(sqlite_api) == before


def test_get_allocations_of_an_empty_consumer_is_not_found(sqlite_api):
    assert sqlite_api.get("/allocations/").status_code == 404
    assert sqlite_api.get("/").status_code == 200


# --- error codes -------------------------------------------------------------


def test_conflict_codes_match_the_reference(sqlite_api):
    api = sqlite_api
    _seed(api)
    assert (
        api.post("/resource_classes", {"name": "CUSTOM_A"}).status_code == 201
    )
    # A duplicate class carries no specific code in the reference.
    _error(
        api.post("/resource_classes", {"name": "CUSTOM_A"}),
        409,
        "placement.undefined_code",
    )
    _error(
        api.post("/resource_providers", {"name": "cn1"}),
        409,
        "placement.duplicate_name",
    )
    _error(
        api.put(
            "/resource_providers/%s/inventories" % RP,
            {"resource_provider_generation": 0, "inventories": {}},
        ),
        409,
        "placement.concurrent_update",
    )
    assert (
        api.put(
            "/allocations/" + CONSUMER,
            {
                "allocations": {RP: {"resources": {"VCPU": 1}}},
                "consumer_generation": None,
                "consumer_type": "INSTANCE",
                "project_id": "p",
                "user_id": "u",
            },
        ).status_code
        == 204
    )
    _error(
        api.put(
            "/resource_providers/%s/inventories" % RP,
            {"resource_provider_generation": 2, "inventories": {}},
        ),
        409,
        "placement.inventory.inuse",
    )
    _error(
        api.delete("/resource_providers/" + RP),
        409,
        "placement.resource_provider.inuse",
    )
    _error(
        api.put(
            "/allocations/" + CONSUMER,
            {
                "allocations": {RP: {"resources": {"VCPU": 1}}},
                "consumer_generation": None,
                "consumer_type": "INSTANCE",
                "project_id": "p",
                "user_id": "u",
            },
        ),
        409,
        "placement.concurrent_update",
    )


# --- request body size -------------------------------------------------------


class _Unreadable:
    """A wsgi.input that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read

    def __iter__(self):
        raise AssertionError("the body was read")


def _call(app, method, path, environ_extra):
    import falcon.testing

    environ = falcon.testing.create_environ(
        path=path,
        method=method,
        headers={
            "x-auth-token": "admin",
            "accept": "application/json",
            "openstack-api-version": "placement latest",
            "content-type": "application/json",
        },
    )
    environ.update(environ_extra)
    if "HTTP_TRANSFER_ENCODING" in environ_extra:
        environ.pop("CONTENT_LENGTH", None)
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = {k.lower(): v for k, v in headers}

    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], body


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/reshaper"),
        ("PUT", "/allocations/%s" % CONSUMER),
        ("POST", "/allocations"),
        ("POST", "/resource_providers"),
        ("PUT", "/resource_providers/%s/inventories" % RP),
    ],
)
def test_a_body_over_the_limit_is_refused_before_it_is_read(
    sqlite_api, method, path
):
    import orjson

    _seed(sqlite_api)
    before = _counts(sqlite_api)
    status, headers, body = _call(
        sqlite_api.app,
        method,
        path,
        {"CONTENT_LENGTH": str(50 * 1024 * 1024), "wsgi.input": _Unreadable()},
    )
    assert status == 413, body
    assert headers["content-type"] == "application/json"
    error = orjson.loads(body)["errors"][0]
    assert error["status"] == 413
    assert error["title"] == "Request Entity Too Large"
    assert "max_request_body_size" in error["detail"]
    assert _counts(sqlite_api) == before


def test_the_body_limit_is_configurable_and_large_by_default(tmp_path):
    from tests import support

    default = support.make_conf("sqlite://")
    assert default.oslo_middleware.max_request_body_size == 16 * 1024 * 1024
    api = support.ApiClient.create(
        "sqlite:///%s" % (tmp_path / "p.sqlite"),
        oslo_middleware__max_request_body_size=100,
    )
    try:
        resp = api.post("/resource_providers", {"name": "x" * 200})
        _error(resp, 413)
        resp = api.post("/resource_providers", {"name": "small"})
        assert resp.status_code == 200, resp.text
    finally:
        api.close()


class _CountingInput:
    """A de-chunked wsgi.input that counts what is read from it."""

    def __init__(self, data):
        import io

        self._data = io.BytesIO(data)
        self.read_bytes = 0

    def read(self, size=-1):
        chunk = self._data.read(size)
        self.read_bytes += len(chunk)
        return chunk


def test_a_chunked_body_is_read_up_to_the_limit(tmp_path):
    import orjson

    from tests import support

    api = support.ApiClient.create(
        "sqlite:///%s" % (tmp_path / "p.sqlite"),
        oslo_middleware__max_request_body_size=1000,
    )
    try:
        chunked = {
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input_terminated": True,
        }
        # Without Content-Length, as gunicorn passes a chunked body on.
        body = _CountingInput(orjson.dumps({"name": "chunky"}))
        status, _headers, answer = _call(
            api.app,
            "POST",
            "/resource_providers",
            dict(chunked, **{"wsgi.input": body}),
        )
        assert status == 200, answer
        assert orjson.loads(answer)["name"] == "chunky"

        before = _counts(api)
        body = _CountingInput(orjson.dumps({"name": "x" * 100000}))
        status, _headers, answer = _call(
            api.app,
            "POST",
            "/resource_providers",
            dict(chunked, **{"wsgi.input": body}),
        )
        assert status == 413, answer
        assert body.read_bytes <= 1001
        assert _counts(api) == before
    finally:
        api.close()


# --- numbers written as floats ---------------------------------------------


def test_integral_floats_are_answered_as_the_integers_stored(api):
    # JSON Schema counts 8.0 as an integer; the reference coerces the
    # fields (integers, and a float ratio) and answers what it stored.
    # Found by tests/functional/test_fuzz.py.
    _seed(api)
    floats = {
        "total": 8.0,
        "reserved": 1.0,
        "min_unit": 1.0,
        "max_unit": 8.0,
        "step_size": 1.0,
        "allocation_ratio": 2,
    }
    stored = {
        "total": 8,
        "reserved": 1,
        "min_unit": 1,
        "max_unit": 8,
        "step_size": 1,
        "allocation_ratio": 2.0,
    }
    base = "/resource_providers/%s/inventories" % RP
    answers = [
        api.put(
            base,
            {
                "resource_provider_generation": 1,
                "inventories": {"VCPU": floats},
            },
        ).json["inventories"]["VCPU"],
        api.post(base, dict(floats, resource_class="DISK_GB")).json,
        api.put(
            base + "/VCPU", dict(floats, resource_provider_generation=3)
        ).json,
    ]
    for answer in answers:
        answer.pop("resource_provider_generation", None)
        assert answer == stored
        for name, value in answer.items():
            assert type(value) is type(stored[name]), (name, value)
    shown = api.get(base).json["inventories"]
    assert shown == {"VCPU": stored, "DISK_GB": stored}


# --- found by the fuzzer (tests/functional/test_fuzz.py) --------------------


@pytest.mark.parametrize(
    "inventories",
    [
        {"": True},
        {"\u00a7": {"x": "y"}},
        {"VCPU": {"total": 8}, "vcpu": []},
        {"lower_case": {"total": 1}},
    ],
)
def test_an_inventory_under_a_bad_class_name_is_refused(api, inventories):
    # Every value is an inventory record, whatever its key (a key that is
    # no class name was let through unchecked: 500).
    _seed(api)
    before = _counts(api)
    resp = api.put(
        "/resource_providers/%s/inventories" % RP,
        {"resource_provider_generation": 1, "inventories": inventories},
    )
    _error(resp, 400)
    resp = api.post(
        "/reshaper",
        {
            "inventories": {
                RP: {
                    "resource_provider_generation": 1,
                    "inventories": inventories,
                }
            },
            "allocations": {},
        },
        headers={"x-roles": "admin,service"},
    )
    _error(resp, 400)
    assert _counts(api) == before


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/resource_providers/%s/inventories" % RP),
        ("PUT", "/resource_providers/%s/inventories/VCPU" % RP),
    ],
)
def test_an_allocation_ratio_below_what_a_column_holds_is_refused(
    api, method, path
):
    # (total - reserved) * ratio overflowed to infinity: 500.
    _seed(api)
    before = _counts(api)
    resp = api.request(
        method,
        path,
        body={
            "resource_class": "VCPU",
            "resource_provider_generation": 1,
            "total": 10,
            "reserved": 2000000,
            "allocation_ratio": -1.0e308,
        },
    )
    if method == "PUT":
        assert resp.status_code == 400, resp.text
    else:
        _error(resp, 400)
    assert _counts(api) == before
