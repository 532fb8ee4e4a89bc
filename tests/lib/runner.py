#!/usr/bin/env python3
"""runner - run integration test modules and print TAP.

    python3 tests/lib/runner.py tests/integration/test_x.py [...] [-k SUBSTR]

Each module defines functions test_*(); they run in the order they are
defined.  A test passes by returning, fails by raising (the traceback is
printed as '# ' comments), and is skipped by raising harness.Skip.  After
each module, its optional teardown_module() runs and then harness.cleanup()
stops every simulator, daemon and PostgreSQL cluster the module started.
A test running longer than EPSYNC_TEST_TIMEOUT seconds (default 600) fails.
Exit status: 0 when nothing failed, 1 otherwise.
"""

import argparse
import importlib.util
import inspect
import os
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout("test exceeded EPSYNC_TEST_TIMEOUT")


def _on_term(signum, frame):
    # SystemExit unwinds the test and lets atexit stop the children.
    raise SystemExit(128 + signum)


def load(path):
    name = "epsync_it_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def tests_of(mod):
    fns = [f for n, f in vars(mod).items()
           if n.startswith("test_") and inspect.isfunction(f) and f.__module__ == mod.__name__]
    return fns


def comment(text):
    for line in text.rstrip("\n").splitlines():
        print("# " + line)


def main():
    ap = argparse.ArgumentParser(description="Run integration tests, print TAP.")
    ap.add_argument("files", nargs="+")
    ap.add_argument("-k", dest="pattern", default=None, help="only tests whose name has this")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGALRM, _on_alarm)
    limit = int(os.environ.get("EPSYNC_TEST_TIMEOUT", "600"))
    n = passed = failed = skipped = 0
    for path in args.files:
        rel = os.path.relpath(path, harness.REPO)
        try:
            mod = load(path)
            fns = tests_of(mod)
        except Exception:
            n += 1
            failed += 1
            print("not ok %d - %s::<load>" % (n, rel))
            comment(traceback.format_exc())
            sys.stdout.flush()
            continue
        for fn in fns:
            if args.pattern and args.pattern not in fn.__name__:
                continue
            n += 1
            t0 = time.monotonic()
            signal.alarm(limit)
            try:
                fn()
            except harness.Skip as s:
                signal.alarm(0)
                harness.forget_simulators()
                skipped += 1
                print("ok %d - %s::%s # SKIP %s" % (n, rel, fn.__name__, s))
            except Exception:
                signal.alarm(0)
                harness.forget_simulators()
                failed += 1
                print("not ok %d - %s::%s" % (n, rel, fn.__name__))
                comment(traceback.format_exc())
            else:
                signal.alarm(0)
                problem = harness.check_simulators()
                if problem:
                    failed += 1
                    print("not ok %d - %s::%s" % (n, rel, fn.__name__))
                    comment("after the test: " + problem)
                    sys.stdout.flush()
                    continue
                passed += 1
                print("ok %d - %s::%s" % (n, rel, fn.__name__))
                comment("%.2fs" % (time.monotonic() - t0))
            sys.stdout.flush()
        teardown = getattr(mod, "teardown_module", None)
        try:
            if teardown:
                teardown()
        except Exception:
            n += 1
            failed += 1
            print("not ok %d - %s::teardown_module" % (n, rel))
            comment(traceback.format_exc())
        harness.cleanup()
    print("1..%d" % n)
    print("# %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
