"""``allotment consumers`` against a server speaking HTTP, on every
backend: the table, JSON, page following, one page and errors."""

import io
import json

import pytest

from allotment.api.schemas import consumers as schema
from allotment.cli import main as allotment_cli
from tests import support
from tests.functional.test_usages import allocate
from tests.functional.test_usages import make_provider


@pytest.fixture
def url(api):
    with support.served_in_thread(api.app) as base:
        yield base


def run(*argv):
    args = allotment_cli.build_parser().parse_args(["consumers", *argv])
    out, err = io.StringIO(), io.StringIO()
    status = args.func(args, out=out, err=err, environ={})
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def made(api):
    rp = make_provider(api, {"VCPU": 32, "MEMORY_MB": 4096})
    typed = allocate(
        api, rp, {"VCPU": 2, "MEMORY_MB": 512}, consumer_type="INSTANCE"
    )
    others = [allocate(api, rp, {"VCPU": 1}, project="p2") for _ in range(4)]
    return rp, typed, others


def test_table_and_json(api, url, made):
    _rp, typed, others = made
    status, out, err = run("--url", url)
    assert status == 0, err
    line = next(row for row in out.splitlines() if typed in row)
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[:5] == [typed, "p1", "u1", "INSTANCE", "1"]
    assert cells[6] == "MEMORY_MB=512, VCPU=2"
    assert out.rstrip().endswith("5 consumers")
    status, out, err = run("--url", url, "--project-id", "p2", "--json")
    assert status == 0, err
    answer = json.loads(out)
    assert [c["uuid"] for c in answer["consumers"]] == sorted(others)
    assert answer == api.get("/allotment/consumers?project_id=p2").json


def test_follows_every_page_unless_limited(url, made, monkeypatch):
    _rp, typed, others = made
    monkeypatch.setattr(schema, "MAX_LIMIT", 2)  # the server's page size
    status, out, err = run("--url", url, "--json")
    assert status == 0, err
    listed = [c["uuid"] for c in json.loads(out)["consumers"]]
    assert listed == sorted([typed, *others])
    status, out, err = run("--url", url, "--limit", "2")
    assert status == 0, err
    assert out.rstrip().endswith(
        "2 consumers; more after --marker %s" % listed[1]
    )
    status, out, err = run("--url", url, "--limit", "2", "--marker", listed[1])
    assert [c for c in listed if c in out] == listed[2:4]


def test_errors_are_one_line_and_exit_1(url):
    status, out, err = run("--url", url, "--updated-before", "yesterday")
    assert status == 1
    assert out == ""
    assert err.startswith("allotment: HTTP 400")
    assert "updated_before" in err
    status, _out, err = run("--url", url, "--os-token", "alice:proj")
    assert status == 1
    assert "HTTP 403" in err and "allotment:consumers:list" in err
