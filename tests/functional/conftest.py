"""Functional-test hooks: the scale-out stress summary at the session end.

Each stress run (tests/scaleout.py) adds one line per backend to
``scaleout.SUMMARY``; they are printed in their own section of pytest's
terminal summary, so `make test` shows requests, conflicts, retries and
violations without ``-s``.
"""

from tests import scaleout


def pytest_terminal_summary(terminalreporter):
    if scaleout.SUMMARY:
        terminalreporter.section("scale-out stress")
        for line in scaleout.SUMMARY:
            terminalreporter.write_line(line)
