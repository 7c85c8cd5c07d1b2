"""Every file in ratchet.txt passes the reference's gabbi suite fully."""

import pytest

from tests.conformance import ratchet


@pytest.mark.conformance
def test_listed_conformance_files_pass():
    listed = ratchet.listed_files()
    results, output = ratchet.run(listed)
    missing = [name for name in listed if name not in results]
    failing = {name: r for name, r in results.items() if r[1]}
    assert not missing, "files not run: %s" % missing
    assert not failing, "regressed conformance files: %s\n%s" % (
        failing, output[-20000:])
