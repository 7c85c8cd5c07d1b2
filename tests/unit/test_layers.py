"""The dependency rule: api -> domain / candidates -> storage. A layer
imports nothing from the layers above it (docs/architecture.md)."""

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "allotment"

FORBIDDEN = {
    "storage": (
        "allotment.api",
        "allotment.domain",
        "allotment.candidates",
        "allotment.cli",
    ),
    "domain": ("allotment.api", "allotment.candidates", "allotment.cli"),
    "candidates": ("allotment.api", "allotment.cli"),
}


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer):
    bad = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for name in _imports(path):
            if name.startswith(FORBIDDEN[layer]):
                bad.append("%s imports %s" % (path.relative_to(SRC), name))
    assert not bad, "\n".join(bad)
