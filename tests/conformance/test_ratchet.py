"""Every file in ratchet.txt passes the reference's gabbi suite fully."""

import os

import pytest

from tests.conformance import ratchet


@pytest.mark.conformance
def test_listed_conformance_files_pass():
    if not ratchet.runner_path().exists():
        message = "no conformance runner at %s" % ratchet.runner_path()
        if (
            os.environ.get("CI")
            or os.environ.get("ALLOTMENT_REQUIRE_BACKENDS") == "1"
        ):
            pytest.fail(message)
        pytest.skip(message)
    listed = ratchet.listed_files()
    results, output = ratchet.run(listed)
    missing = [name for name in listed if name not in results]
    failing = {name: r for name, r in results.items() if r[1]}
    assert not missing, "files not run: %s" % missing
    assert not failing, "regressed conformance files: %s\n%s" % (
        failing,
        output[-20000:],
    )
