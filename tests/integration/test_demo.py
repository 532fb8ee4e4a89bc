"""scripts/demo end to end.

The demo runs with EPSYNC_BIN set (the binary under test, so scripts/test
can run it against both builds without building again) and
EPSYNC_DEMO_OUT in a temporary directory.  Checked: exit 0, the printed
and the JSON report agree that nothing is overdue, the invalid count is
the generator's, the simulators saw no duplicate, the audit chain is
intact, and nothing the demo started outlives it — also when it fails and
when it is interrupted with Ctrl-C.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

DEMO = os.path.join(h.REPO, "scripts", "demo")
TIMEOUT = 600      # a guard: the demo takes about a minute on a quiet machine


def run_demo(binary, out, timeout=TIMEOUT):
    env = dict(os.environ, EPSYNC_BIN=binary, EPSYNC_DEMO_OUT=out)
    env.pop("EPSYNC_CONFIG", None)
    t0 = time.monotonic()
    r = subprocess.run([DEMO], capture_output=True, text=True, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL)
    return r, time.monotonic() - t0


def demo_env(out):
    env = {}
    with open(os.path.join(out, "demo.env"), encoding="utf-8") as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            env[k] = v.strip("'")
    return env


def assert_all_stopped(out, transcript):
    """The demo's temporary directory is gone and no process names it."""
    tmp = demo_env(out)["DEMO_TMP"]
    assert tmp.startswith("/tmp/epsync-demo-"), tmp
    assert not os.path.exists(tmp), "demo left %s behind\n%s" % (tmp, transcript[-3000:])
    deadline = time.monotonic() + 30
    while True:
        left = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if tmp in cmd or ("demo_env.py" in cmd and out in cmd):
                left.append("%s: %s" % (pid, cmd))
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError("processes left running:\n" + "\n".join(left))
        time.sleep(0.2)


def summary_row(text, labels):
    """The numbers of the text report's summary row named by one of labels
    (Chinese by default, English with --lang en): the rows under the
    table's "city province" header, up to the next blank line."""
    lines = text.splitlines()
    heads = [i for i, l in enumerate(lines) if re.match(r"^\s+city\s+province\b", l)]
    assert heads, "no summary table in the report:\n" + text[-3000:]
    for line in lines[heads[-1] + 1:]:
        if not line.strip():
            break
        m = re.match(r"^\s*(\S.*?)\s+(\d+(?:\s+\d+)*)\s*$", line)
        if m and m.group(1) in labels:
            return [int(n) for n in m.group(2).split()]
    raise AssertionError("no summary row %s in the report:\n%s" % (labels, text[-3000:]))


def test_demo_end_to_end():
    binary = h.require_epsync()
    out = h.make_tmpdir("epsync-demo-test-")
    r, took = run_demo(binary, out)
    transcript = r.stdout + r.stderr
    assert r.returncode == 0, "demo exited %d after %.0fs\n%s" % (r.returncode, took,
                                                                 transcript[-6000:])
    for heading in ("== starting PostgreSQL ==", "== waiting until the backlog is drained ==",
                    "== stopping the daemon (SIGTERM) ==", "== audit chain"):
        assert heading in r.stdout, heading
    assert "audit chain intact" in r.stdout, transcript[-3000:]
    assert re.search(r"city .*duplicates 0, violations 0", r.stdout), r.stdout
    assert re.search(r"province .*duplicates 0, violations 0", r.stdout), r.stdout
    # Faults were injected and retried, not merely configured.
    m = re.search(r"transient failures retried by epsync: (\d+)", r.stdout)
    assert m and int(m.group(1)) > 0, r.stdout[-3000:]
    assert "revoked   SJZSJ-" in r.stdout and "corrected SJZSJ-" in r.stdout, r.stdout

    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    cats = manifest["categories"]
    assert sum(len(v) for v in cats.values()) >= 500, {k: len(v) for k, v in cats.items()}
    invalid = sum(len(v) for k, v in cats.items() if k.startswith("invalid"))
    assert invalid > 0, cats.keys()

    # The printed report's current-state table: city and province columns.
    overdue = summary_row(r.stdout, ("逾期待发送", "Overdue", "overdue"))
    assert overdue == [0, 0], overdue
    printed_invalid = summary_row(r.stdout, ("校验未通过", "Invalid", "invalid"))
    # The demo sends every kind to the city, so every invalid decision is
    # invalid there; the province takes penalties and licences only.
    assert printed_invalid[0] == invalid, (printed_invalid, invalid)
    assert 0 < printed_invalid[1] <= invalid, (printed_invalid, invalid)

    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        rep = json.load(f)
    for t in ("city", "province"):
        s = rep["targets"][t]
        assert s["overdue"] == 0 and s["pending"] == 0 and s["retry"] == 0, (t, s)
        assert s["withdraw_pending"] == 0 and s["withdrawn"] >= 3, (t, s)
    assert rep["targets"]["city"]["invalid"] == invalid, rep["targets"]["city"]
    assert rep["targets"]["province"]["invalid"] == printed_invalid[1]
    for name in ("report.html", "epsync.log"):
        p = os.path.join(out, name)
        assert os.path.getsize(p) > 0, p
        assert p in r.stdout, "path of %s not printed" % name
    log = open(os.path.join(out, "epsync.log"), encoding="utf-8").read()
    assert "stopped" in log and "will retry" in log, log[-2000:]
    assert_all_stopped(out, transcript)


def test_demo_failure_is_clear_and_stops_everything():
    out = h.make_tmpdir("epsync-demo-test-")
    # An "epsync" that refuses everything: the demo must say where it
    # stopped, exit non-zero and leave nothing running.
    fake = os.path.join(out, "epsync")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\necho 'configuration error (test)' >&2\nexit 78\n")
    os.chmod(fake, 0o755)
    r, _ = run_demo(fake, out, timeout=120)
    assert r.returncode != 0, r.stdout[-2000:]
    assert "demo FAILED: epsync check-config refused the configuration" in r.stderr, r.stderr
    assert_all_stopped(out, r.stdout + r.stderr)


def test_demo_ctrl_c_stops_everything():
    binary = h.require_epsync()
    out = h.make_tmpdir("epsync-demo-test-")
    env = dict(os.environ, EPSYNC_BIN=binary, EPSYNC_DEMO_OUT=out)
    env.pop("EPSYNC_CONFIG", None)
    log = open(os.path.join(out, "transcript"), "w+")
    # Its own process group, like a shell job: Ctrl-C signals the group.
    p = subprocess.Popen([DEMO], stdout=log, stderr=subprocess.STDOUT, env=env,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        def running():
            with open(log.name, encoding="utf-8", errors="replace") as f:
                return "== running the daemon" in f.read()
        h.wait_for(lambda: running() or p.poll() is not None, timeout=120,
                   what="the demo to start the daemon")
        assert p.poll() is None, open(log.name).read()[-3000:]
        os.killpg(p.pid, signal.SIGINT)
        rc = p.wait(60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        log.close()
    transcript = open(log.name, encoding="utf-8", errors="replace").read()
    assert rc != 0, transcript[-3000:]
    assert "everything it started is stopped" in transcript, transcript[-3000:]
    assert_all_stopped(out, transcript)
