"""The provider list's %-template rendering equals orjson over the dicts the
single-provider rendering builds, at every microversion and for any name
and mount point."""

import types

import orjson
from hypothesis import given
from hypothesis import strategies as st

from allotment.api import microversion
from allotment.api.resources import providers
from allotment.candidates import snapshot

UUIDS = st.uuids().map(str)


def _request(version, root_path):
    parsed = microversion.requested("placement %d.%d" % version)
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


@st.composite
def _trees(draw):
    """Provider rows as the SQL shows them, each parent before its
    children, and the same providers as ``snapshot.Loaded`` reads them."""
    uuids = draw(st.lists(UUIDS, unique=True, max_size=6))
    shown, loaded = [], []
    for rp_id, uuid in enumerate(uuids, start=1):
        parent = (
            draw(st.none() | st.integers(1, rp_id - 1)) if rp_id > 1 else None
        )
        root = rp_id if parent is None else loaded[parent - 1][3]
        name = draw(st.none() | st.text())
        generation = draw(st.integers(0, 2**31))
        loaded.append((rp_id, uuid, parent, root, name, generation, 0, False))
        shown.append(
            types.SimpleNamespace(
                uuid=uuid,
                name=name,
                generation=generation,
                parent_provider_uuid=None
                if parent is None
                else uuids[parent - 1],
                root_provider_uuid=uuids[root - 1],
            )
        )
    return shown, snapshot.Loaded(loaded, [], {}, [], {}, [])


@given(
    tree=_trees(),
    some=st.lists(st.booleans(), min_size=6, max_size=6),
    version=st.sampled_from(sorted(microversion.HISTORY)),
    root_path=st.sampled_from(["", "/placement", '/a%s"\\b\u00e9\x01'])
    | st.text(),
)
def test_held_rows_equal_dicts(tree, some, version, root_path):
    # The same bytes from a snapshot version's rows, rendered or cached
    # (a few rows first, then all: some from the cache, some not).
    shown, loaded = tree
    held = snapshot.assemble(loaded)
    render = providers.Renderer(_request(version, root_path))
    rows = held.rows()
    for chosen in ([r for r in rows if some[r]], rows, rows):
        expected = orjson.dumps(
            {"resource_providers": [render(shown[row]) for row in chosen]}
        )
        assert render.held(held, chosen) == expected


def test_kinds_beyond_the_bound_are_rendered_not_kept(monkeypatch):
    # The kinds of cached fragments a version keeps are bounded (the mount
    # point, in each list entry, is the server's to say).
    monkeypatch.setattr(snapshot, "_KINDS_KEPT", 1)
    loaded = [
        (
            1,
            "4e8e5957-649f-477b-9e5b-f1f75b21c03c",
            None,
            1,
            "cn1",
            0,
            0,
            False,
        )
    ]
    held = snapshot.assemble(snapshot.Loaded(loaded, [], {}, [], {}, []))
    kept = held.summaries("kind")
    kept[0] = b"entry"
    assert held.summaries("kind") is kept
    other = held.summaries("other kind")
    other[0] = b"entry"
    assert held.summaries("other kind") == [None]
