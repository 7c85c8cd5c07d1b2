"""The provider list's %-template rendering equals orjson over the dicts the
single-provider rendering builds, at every microversion and for any name
and mount point."""

import types

import orjson
from hypothesis import given
from hypothesis import strategies as st

from allotment.api import microversion
from allotment.api.resources import providers

UUIDS = st.uuids().map(str)


def _request(version, root_path):
    parsed = microversion.parse(
        {"openstack-api-version": "placement %d.%d" % version}
    )
    return types.SimpleNamespace(
        context=types.SimpleNamespace(microversion=parsed),
        root_path=root_path,
    )


ROWS = st.lists(
    st.builds(
        types.SimpleNamespace,
        uuid=UUIDS,
        name=st.text(),
        generation=st.integers(0, 2**31),
        parent_provider_uuid=st.none() | UUIDS,
        root_provider_uuid=UUIDS,
    ),
    max_size=5,
)


@given(
    rows=ROWS,
    version=st.sampled_from(sorted(microversion.HISTORY)),
    root_path=st.sampled_from(["", "/placement", '/a%s"\\b\u00e9\x01'])
    | st.text(),
)
def test_list_template_equals_dicts(rows, version, root_path):
    render = providers.Renderer(_request(version, root_path))
    expected = orjson.dumps(
        {"resource_providers": [render(row) for row in rows]}
    )
    assert render.many(rows) == expected
