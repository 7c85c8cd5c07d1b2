"""Functional-test hooks: the scale-out stress and fuzzing summaries at
the session end.

Each stress run (tests/scaleout.py) adds one line per backend to
``scaleout.SUMMARY``, each fuzzing run (test_fuzz.py) one to its
``SUMMARY``; they are printed in their own sections of pytest's terminal
summary, so `make test` shows requests, conflicts, retries, violations and
answers by status without ``-s``.
"""

import sys

from tests import scaleout


def pytest_terminal_summary(terminalreporter):
    if scaleout.SUMMARY:
        terminalreporter.section("scale-out stress")
        for line in scaleout.SUMMARY:
            terminalreporter.write_line(line)
    fuzz = sys.modules.get("tests.functional.test_fuzz")
    if fuzz is not None and fuzz.SUMMARY:
        terminalreporter.section("fuzzing")
        for line in fuzz.SUMMARY:
            terminalreporter.write_line(line)
