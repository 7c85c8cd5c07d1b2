"""One table of capacity edge cases, run through the three places that
apply the rule of domain/capacity.py: GET /resource_providers?resources=,
GET /allocation_candidates and PUT /allocations must agree, on every
backend."""

import uuid

from allotment.domain import capacity

PROJECT = "6d2e4a4c-0a8e-4b5a-9c1e-1f2a3b4c5d6e"
USER = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
DEFAULTS = {
    "reserved": 0,
    "min_unit": 1,
    "max_unit": 2147483647,
    "step_size": 1,
    "allocation_ratio": 1.0,
}

# (what, inventory of VCPU, already used by another consumer, amount, fits)
CASES = [
    ("all of it", {"total": 8}, 0, 8, True),
    ("one more than all", {"total": 8}, 0, 9, False),
    ("at max_unit", {"total": 16, "max_unit": 4}, 0, 4, True),
    ("over max_unit", {"total": 16, "max_unit": 4}, 0, 5, False),
    ("under min_unit", {"total": 16, "min_unit": 2}, 0, 1, False),
    ("at min_unit", {"total": 16, "min_unit": 2}, 0, 2, True),
    ("off step", {"total": 16, "step_size": 4}, 0, 6, False),
    ("on step", {"total": 16, "step_size": 4}, 0, 8, True),
    ("up to reserved", {"total": 8, "reserved": 2}, 0, 6, True),
    ("into reserved", {"total": 8, "reserved": 2}, 0, 7, False),
    ("ratio 1.5, edge", {"total": 10, "allocation_ratio": 1.5}, 5, 10, True),
    (
        "ratio 1.5, one over",
        {"total": 10, "allocation_ratio": 1.5},
        5,
        11,
        False,
    ),
    (
        "fractional capacity 4.5, 4",
        {"total": 3, "allocation_ratio": 1.5},
        0,
        4,
        True,
    ),
    (
        "fractional capacity 4.5, 5",
        {"total": 3, "allocation_ratio": 1.5},
        0,
        5,
        False,
    ),
    ("ratio 0.5, edge", {"total": 10, "allocation_ratio": 0.5}, 0, 5, True),
    (
        "ratio 0.5, one over",
        {"total": 10, "allocation_ratio": 0.5},
        0,
        6,
        False,
    ),
    ("ratio 1.1, edge", {"total": 10, "allocation_ratio": 1.1}, 0, 11, True),
    (
        "ratio 1.1, one over",
        {"total": 10, "allocation_ratio": 1.1},
        0,
        12,
        False,
    ),
    # MySQL stores the ratio as a 4-byte FLOAT: SQL arithmetic there once
    # made the capacity 6.99999988 while claims (Python) saw 7.0.
    ("ratio 0.7, edge", {"total": 10, "allocation_ratio": 0.7}, 0, 7, True),
    (
        "ratio 0.7, one over",
        {"total": 10, "allocation_ratio": 0.7},
        0,
        8,
        False,
    ),
    ("used to the edge", {"total": 8}, 8, 1, False),
    ("used all but one", {"total": 8}, 7, 1, True),
    (
        "reserved, ratio and usage",
        {"total": 10, "reserved": 2, "allocation_ratio": 1.5},
        4,
        8,
        True,
    ),
    (
        "reserved, ratio and usage, one over",
        {"total": 10, "reserved": 2, "allocation_ratio": 1.5},
        4,
        9,
        False,
    ),
]


def _claim(api, rp_uuid, amount):
    return api.put(
        "/allocations/%s" % uuid.uuid4(),
        {
            "allocations": {rp_uuid: {"resources": {"VCPU": amount}}},
            "project_id": PROJECT,
            "user_id": USER,
            "consumer_generation": None,
        },
        version="1.28",
    )


def _provider(api, name, inventory, used):
    rp_uuid = str(uuid.uuid4())
    resp = api.post("/resource_providers", {"name": name, "uuid": rp_uuid})
    assert resp.status_code == 200, resp.text
    resp = api.put(
        "/resource_providers/%s/inventories" % rp_uuid,
        {
            "resource_provider_generation": 0,
            "inventories": {"VCPU": inventory},
        },
    )
    assert resp.status_code == 200, resp.text
    if used:
        resp = _claim(api, rp_uuid, used)
        assert resp.status_code == 204, resp.text
    return rp_uuid


def test_the_pure_rule_matches_the_table():
    for what, inventory, used, amount, expected in CASES:
        inv = dict(DEFAULTS, **inventory)
        cap = capacity.capacity(
            inv["total"], inv["reserved"], inv["allocation_ratio"]
        )
        assert (
            capacity.fits(
                amount,
                cap,
                used,
                inv["min_unit"],
                inv["max_unit"],
                inv["step_size"],
            )
            is expected
        ), what


def test_listing_candidates_and_claims_agree(api):
    for what, inventory, used, amount, expected in CASES:
        rp_uuid = _provider(api, what, inventory, used)
        listed = api.get(
            "/resource_providers?uuid=%s&resources=VCPU:%d" % (rp_uuid, amount)
        ).json["resource_providers"]
        candidates = api.get(
            "/allocation_candidates?in_tree=%s&resources=VCPU:%d"
            % (rp_uuid, amount)
        ).json["allocation_requests"]
        claimed = _claim(api, rp_uuid, amount)
        assert claimed.status_code in (204, 409), claimed.text
        assert (len(listed), len(candidates), claimed.status_code) == (
            (1, 1, 204) if expected else (0, 0, 409)
        ), what
