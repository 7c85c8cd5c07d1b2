"""``allotment explain`` and ``allotment capacity`` against a server
speaking HTTP (the app served from a thread), on every backend."""

import json

import pytest

from allotment.cli import main
from tests import support
from tests.functional import insight_clouds as ic


@pytest.fixture
def cloud(api, monkeypatch):
    for var in ("OS_TOKEN", "OS_AUTH_URL", "ALLOTMENT_URL"):
        monkeypatch.delenv(var, raising=False)
    cn1 = ic.provider(
        api,
        "cn1",
        inventory={
            "VCPU": {"total": 16, "max_unit": 8},
            "MEMORY_MB": 8192,
        },
    )
    cn2 = ic.provider(
        api,
        "cn2",
        inventory={"VCPU": {"total": 8, "max_unit": 4}, "MEMORY_MB": 4096},
    )
    with support.served_in_thread(api.app) as url:
        yield {"url": url, "cn1": cn1, "cn2": cn2}


def _run(capsys, *argv):
    status = main.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_explain_text_names_the_constraint(cloud, capsys):
    status, out, err = _run(
        capsys,
        "explain",
        "resources=VCPU:12,MEMORY_MB:2048",
        "--url",
        cloud["url"],
    )
    assert (status, err) == (0, "")
    assert out.startswith("Cloud: 2 providers in 2 trees.\n")
    assert (
        "The unsuffixed request group (resources=MEMORY_MB:2048,VCPU:12)"
        in out
    )
    assert "cn1 VCPU: requested 12, max_unit 8, short by 4" in out
    assert "Allocation candidates: 0\n" in out
    assert out.rstrip().endswith(
        "Nothing is left after `max_unit` in the unsuffixed request group "
        "(resources=MEMORY_MB:2048,VCPU:12): VCPU:12 is above the max_unit "
        "of every provider with room for it (the largest max_unit is 8, on "
        "cn1 (%s))." % cloud["cn1"]
    )


def test_explain_json_is_the_api_answer(api, cloud, capsys):
    query = "resources=VCPU:2"
    status, out, _err = _run(
        capsys, "explain", query, "--url", cloud["url"], "--json"
    )
    assert status == 0
    assert json.loads(out) == api.get(ic.EXPLAIN + query).json


def test_capacity_text_and_json(api, cloud, capsys):
    query = "resources=VCPU:4,MEMORY_MB:2048"
    status, out, _err = _run(
        capsys, "capacity", query, "--url", cloud["url"], "--by-aggregate"
    )
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "The request fits 6 more times."
    assert any(
        "cn1" in line and cloud["cn1"] in line and " 4 " in line
        for line in lines
    )
    assert any("(in no aggregate)" in line and " 6 " in line for line in lines)
    status, out, _err = _run(
        capsys, "capacity", query, "--url", cloud["url"], "--json"
    )
    assert json.loads(out) == api.get(ic.CAPACITY + query).json


def test_bad_query_is_an_error(cloud, capsys):
    status, out, err = _run(
        capsys, "explain", "resources=VCPU:x", "--url", cloud["url"]
    )
    assert status == 1
    assert out == ""
    assert err.startswith("allotment: HTTP 400")
    assert "[req-" in err
    status, out, err = _run(
        capsys,
        "capacity",
        "resources=VCPU:1",
        "--url",
        cloud["url"],
        "--os-token",
        "bob",
    )
    assert status == 1
    assert "HTTP 403" in err and "allotment:capacity" in err
