"""The epsync binary under valgrind: no leaks and no memory errors over a
whole cycle (detection, validation, masking, both protocols with faults,
retries), the report in every format, and the operator commands.

Skipped in the sanitizer build (valgrind and ASan do not mix) and where
valgrind is not installed."""

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_delivery import World  # noqa: E402

VALGRIND = ["valgrind", "-q", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99"]


def _require_valgrind():
    if os.environ.get("EPSYNC_SANITIZE") == "1":
        raise h.Skip("sanitizer build: valgrind does not run ASan binaries")
    if not shutil.which("valgrind"):
        raise h.Skip("valgrind not installed")


def _vg(w, args, timeout=300):
    binary = w.ep.binary
    r = subprocess.run(VALGRIND + [binary, "-c", w.config] + args, capture_output=True,
                       text=True, timeout=timeout, env=w.ep.env)
    assert r.returncode != 99, "valgrind found errors in %s:\n%s" % (args, r.stderr[-6000:])
    return r


def test_a_cycle_with_faults_is_clean_under_valgrind():
    _require_valgrind()
    w = World(faults={"city": {"http5xx": 0.1, "busy": 0.05, "html": 0.05, "truncated": 0.05},
                      "province": {"record_retry": 0.1, "http5xx": 0.05}})
    for _ in range(8):
        h.insert_decision(w.src)
    h.insert_decision(w.src, party_type="natural_person")
    h.insert_decision(w.src, party_credit_code="91130100MA0000000X")     # invalid
    h.insert_decision(w.src, kind="license", doc_no="石市监许〔2026〕1号")
    for _ in range(15):         # retries need several cycles, each after its backoff
        r = _vg(w, ["once"])
        if r.returncode == 0 and w.drained():
            break
        time.sleep(0.5)
    assert w.drained(), w.q("SELECT target, state, count(*) FROM epsync.deliveries GROUP BY 1, 2")
    decision = w.q("SELECT decision_id FROM epsync.decisions LIMIT 1")[0][0]
    for args in (["report", "--format", "json"], ["report", "--format", "html"],
                 ["report", "--format", "csv"], ["report"], ["show", decision],
                 ["retry", "--state", "invalid"], ["withdraw", decision, "--reason", "test"],
                 ["verify-audit"], ["check-config"]):
        r = _vg(w, args)
        assert r.returncode == 0, (args, r.stderr[-3000:])
