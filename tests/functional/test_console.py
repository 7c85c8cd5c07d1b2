"""The web console at /allotment/ui/, in-process on every backend: off by
default, for identities passing allotment:ui, pages showing what the API
holds, search by name, uuid, trait and aggregate, and the cookie-less
noauth2 admin of a local ``allotment serve``. tests/browser/ drives the
same pages in Chromium."""

import pytest

from allotment.storage import engine
from tests import support
from tests.console_cloud import AGG
from tests.console_cloud import CHILD
from tests.console_cloud import CONSUMER
from tests.console_cloud import OTHER
from tests.console_cloud import ROOT
from tests.console_cloud import seed

HTML = {"accept": "text/html"}


@pytest.fixture
def console(database_url):
    client = support.ApiClient.create(database_url, allotment__ui_enabled=True)
    seed(
        lambda method, path, body: (
            (r := client.request(method, path, body=body)).status_code,
            r.text,
        )
    )
    yield client
    client.close()


def page(api, path, **kwargs):
    resp = api.get("/allotment/ui/" + path, headers=HTML, **kwargs)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in resp.headers["content-security-policy"]
    return resp.text


def test_console_is_off_by_default(sqlite_api):
    for path in ["", "search?q=x", "static/console.css"]:
        resp = sqlite_api.get("/allotment/ui/" + path, headers=HTML)
        assert resp.status_code == 404


def test_console_is_for_admins(console):
    for token in ["user:proj", "service"]:
        resp = console.get("/allotment/ui/", token=token, headers=HTML)
        assert resp.status_code == 403
    resp = console.get("/allotment/ui/", token=None, headers=HTML)
    assert resp.status_code == 401


def test_overview_lists_trees_with_their_totals(console):
    text = page(console, "")
    assert "3 providers in 2 trees" in text
    assert 'href="/allotment/ui/providers/%s">cn1</a>' % ROOT in text
    assert 'href="/allotment/ui/providers/%s">cn2</a>' % OTHER in text
    # cn1's tree: capacity (16 - 0) * 2.0 = 32 VCPU, 8 used.
    assert "8 of 32 used (25%), 24 free" in text
    assert "CUSTOM_PMEM" in text
    assert "5 of 10 used (50%), 5 free" in text
    assert "1,536 of 3,072 used (50%)" in text  # MEMORY_MB, 1024 reserved


def test_provider_page_shows_the_whole_tree(console):
    text = page(console, "providers/" + CHILD)
    assert text.index(">cn1</a>") < text.index(
        '<strong aria-current="page">cn1-numa0</strong>'
    )
    assert "total 16, reserved 0, ratio 2.0" in text
    assert "HW_CPU_X86_AVX2" in text
    assert AGG in text
    assert 'href="/allotment/ui/consumers/%s"' % CONSUMER in text
    assert "CUSTOM_PMEM 5" in text
    resp = console.get("/allotment/ui/providers/" + CONSUMER, headers=HTML)
    assert resp.status_code == 404


def test_consumer_page(console):
    text = page(console, "consumers/" + CONSUMER)
    for fact in ["proj-1", "user-1", "INSTANCE", "MEMORY_MB 1536", "VCPU 8"]:
        assert fact in text
    assert ">cn1-numa0</a>" in text
    assert console.get("/allotment/ui/consumers/" + ROOT).status_code == 404


@pytest.mark.parametrize(
    ("query", "found", "missing"),
    [
        ("CN1", ["cn1", "cn1-numa0"], ["cn2"]),  # a name, case aside
        ("numa", ["cn1-numa0"], ["cn2"]),
        ("HW_CPU_X86_AVX2", ["cn1"], ["cn2", "cn1-numa0"]),
        (AGG, ["cn1-numa0"], ["cn2"]),
        ("CUSTOM_NOPE", [], ["cn1"]),
        ("100%_", [], ["cn1"]),  # LIKE wildcards are plain characters
    ],
)
def test_search(console, query, found, missing):
    resp = console.get(
        "/allotment/ui/search?q=" + query.replace("%", "%25"), headers=HTML
    )
    assert resp.status_code == 200, resp.text
    text = resp.text
    for name in found:
        assert ">%s</a>" % name in text, name
    for name in missing:
        assert ">%s</a>" % name not in text, name
    if not found:
        assert "Nothing matches" in text


def test_search_by_provider_or_consumer_uuid_opens_its_page(console):
    resp = console.get("/allotment/ui/search?q=" + OTHER, headers=HTML)
    assert resp.status_code == 303
    assert resp.headers["location"].endswith(
        "/allotment/ui/providers/" + OTHER
    )
    resp = console.get("/allotment/ui/search?q=" + CONSUMER, headers=HTML)
    assert resp.status_code == 303
    assert resp.headers["location"].endswith(
        "/allotment/ui/consumers/" + CONSUMER
    )


def test_static_files_only(console):
    resp = console.get("/allotment/ui/static/console.js")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/javascript")
    for name in ["../console.py", "nope.css", "templates"]:
        assert console.get("/allotment/ui/static/" + name).status_code == 404


def test_local_noauth2_console_needs_no_token(tmp_path):
    """``allotment serve`` with noauth2 on loopback: a local browser (no
    token) is the admin on console pages only, and only from loopback."""
    url = "sqlite:///%s" % (tmp_path / "p.sqlite")
    conf = support.make_conf(url, allotment__ui_enabled=True)
    database = engine.Database.from_conf(conf)
    api = support.ApiClient(conf, database, local_console=True)
    try:
        local = api.get(
            "/allotment/ui/", token=None, headers=HTML, remote_addr="127.0.0.1"
        )
        assert local.status_code == 200
        remote = api.get(
            "/allotment/ui/", token=None, headers=HTML, remote_addr="10.0.0.8"
        )
        assert remote.status_code == 401
        api_call = api.get(
            "/resource_providers", token=None, remote_addr="127.0.0.1"
        )
        assert api_call.status_code == 401
        # A token given is the identity used.
        user = api.get(
            "/allotment/ui/",
            token="user:proj",
            headers=HTML,
            remote_addr="127.0.0.1",
        )
        assert user.status_code == 403
    finally:
        api.close()
    # Without local_console (every server but allotment serve with noauth2
    # on loopback) a local browser gets 401.
    plain = support.ApiClient.create(url, allotment__ui_enabled=True)
    try:
        resp = plain.get(
            "/allotment/ui/", token=None, headers=HTML, remote_addr="127.0.0.1"
        )
        assert resp.status_code == 401
    finally:
        plain.close()


def test_explain_form_shows_the_narrowing(console):
    assert "Allocation-candidates query" in page(console, "explain")
    text = page(console, "explain?query=resources%3DVCPU%3A200")
    assert "0 allocation requests" in text
    assert "Empty because:" in text
    assert "cn1</a>: 24 VCPU free of 32, short by 176" in text
    text = page(
        console,
        "explain?query=resources%3DVCPU%3A2%26required%3DHW_CPU_X86_AVX2",
    )
    assert "<strong>1 allocation request</strong>" in text
    assert "<code>required</code>" in text
    # The same answer as the API's.
    api = console.get(
        "/allotment/explain/allocation_candidates"
        "?resources=VCPU:2&required=HW_CPU_X86_AVX2"
    ).json
    assert api["allocation_requests"] == 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("resources%3DNOPE%3A1", "No such resource class NOPE"),
        ("resources%3DVCPU%3A1&version=1.9", "need microversion 1.10"),
        ("resources%3DVCPU%3A1&version=x", "Invalid microversion"),
        ("resources%3DVCPU%3Aabc", "expected positive integer amount"),
    ],
)
def test_explain_form_says_why_the_api_would_refuse(console, query, message):
    text = page(console, "explain?query=" + query)
    assert 'id="error"' in text
    assert message in text


def test_capacity_view_counts_the_room(console):
    text = page(console, "capacity?query=resources%3DVCPU%3A2")
    # cn1: 24 VCPU free, 2 a claim; cn2 has no VCPU.
    assert "12 more fit." in text
    assert ">cn1</a>" in text
    assert "Outside any aggregate: 12." in text
    # Aggregates count the root providers in them (GET /allotment/capacity):
    # AGG holds a child only.
    text = page(console, "capacity?query=resources%3DCUSTOM_PMEM%3A1")
    assert "5 more fit." in text
    assert "Outside any aggregate: 5." in text


def test_forms_check_their_endpoints_rules_too(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text('"allotment:explain": "!"\n')
    api = support.ApiClient.create(
        "sqlite:///%s" % (tmp_path / "p.sqlite"),
        allotment__ui_enabled=True,
        oslo_policy__policy_file=str(policy),
    )
    try:
        assert (
            api.get("/allotment/ui/explain", headers=HTML).status_code == 403
        )
        assert (
            api.get("/allotment/ui/capacity", headers=HTML).status_code == 200
        )
    finally:
        api.close()
