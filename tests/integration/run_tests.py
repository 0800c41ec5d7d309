#!/usr/bin/env python3
"""Runs every tests/integration/test_*.py with unittest (verbose) and ends with the lines

    N skipped
    N passed, N failed

("failed" counts failures and errors; the exit status is non-zero if it is not 0).

Usage: run_tests.py [-k PATTERN]... [--failfast] [MODULE_OR_TEST_ID]...
  MODELFS_BIN=path     binary under test (default <repo>/build/modelfs)
  MODELFS_SLOW=1       include the slow tests
"""

import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402


class CountingResult(unittest.TextTestResult):
    """Records one final outcome per test (a test with a failing subtest counts as failed once)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = {}  # test id -> "passed" | "failed" | "skipped"
        self.durations = {}  # test id -> seconds
        self._started = {}

    def startTest(self, test):
        self._started[test.id()] = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        t0 = self._started.pop(test.id(), None)
        if t0 is not None:
            self.durations[test.id()] = time.monotonic() - t0

    def _set(self, test, outcome):
        key = test.id()
        if self.outcomes.get(key) == "failed":
            return
        self.outcomes[key] = outcome

    def addSuccess(self, test):
        super().addSuccess(test)
        self._set(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set(test, "failed")

    def addError(self, test, err):
        super().addError(test, err)
        self._set(test, "failed")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._set(test, "skipped")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._set(test, "passed")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set(test, "failed")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            if issubclass(err[0], unittest.SkipTest):
                return
            self.outcomes[test.id()] = "failed"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-k", dest="patterns", action="append", default=None,
                    help="only tests whose id matches this substring/glob (repeatable)")
    ap.add_argument("--failfast", action="store_true")
    ap.add_argument("tests", nargs="*", help="module names or test ids (default: discover all)")
    args = ap.parse_args()

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if "*" in p else "*%s*" % p for p in args.patterns]
    if args.tests:
        suite = loader.loadTestsFromNames(args.tests)
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)

    problem = harness.binary_problem()
    print("modelfs integration tests: binary %s%s; slow tests %s" % (
        harness.BIN, " (MISSING: %s)" % problem if problem else "",
        "on" if harness.SLOW else "off (MODELFS_SLOW=1 to include)"), flush=True)

    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=CountingResult,
                                     failfast=args.failfast)
    t0 = time.monotonic()
    result = runner.run(suite)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome in result.outcomes.values():
        counts[outcome] += 1
    slowest = sorted(result.durations.items(), key=lambda kv: -kv[1])[:10]
    if slowest:
        print("slowest tests:")
        for test_id, secs in slowest:
            print("  %7.1fs  %s" % (secs, test_id))
    print("integration tests took %.1fs" % (time.monotonic() - t0))
    print("%d skipped" % counts["skipped"])
    print("%d passed, %d failed" % (counts["passed"], counts["failed"]), flush=True)
    return 1 if counts["failed"] or not result.wasSuccessful() else 0


if __name__ == "__main__":
    sys.exit(main())
