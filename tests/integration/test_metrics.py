"""Monitoring: the Prometheus endpoint, the heartbeat and `epsync status`.

The metrics are judged against the two independent witnesses the suite
has: the state database (deliveries, audit events) and the simulators'
own request counts.  The endpoint must never slow delivery down: a test
keeps 200 idle or half-sent connections open on it while a backlog
drains.
"""

import datetime
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

RULES = os.path.join(h.REPO, "contrib", "prometheus", "epsync-rules.yml")
RULES_TEST = os.path.join(h.REPO, "contrib", "prometheus", "epsync-rules.test.yml")
DASHBOARD = os.path.join(h.REPO, "contrib", "grafana", "epsync-dashboard.json")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def note(text):
    sys.stderr.write("# %s\n" % text)


def scrape(port, source="127.0.0.1", path="/metrics"):
    """(status, body text) of one GET, from the given source address."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8"), r.getheader("Content-Type")
    finally:
        c.close()


def parse(text):
    """{(name, frozenset(labels.items())): value}."""
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = SAMPLE.match(ln)
        assert m, "not a sample line: %r" % ln
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def val(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name, **labels):
    """Sum over every series of name whose labels include labels."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def promtool():
    p = shutil.which("promtool")
    if not p:
        raise h.Skip("promtool not installed (Debian package prometheus)")
    return p


def check_metrics(text):
    r = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def metrics_world(faults=None, **overrides):
    port = h.free_port()
    w = h.World(faults=faults, seed=5,
                metrics={"listen": "127.0.0.1:%d" % port, "interval": "1s"}, **overrides)
    w.port = port
    return w


def wait_up(w, timeout=30):
    def up():
        try:
            return scrape(w.port)[0] == 200
        except OSError:
            return False
    w.ep.wait_until(up, timeout=timeout, what="the metrics endpoint")


def wait_scrape(w, predicate, timeout=60, what="the metrics"):
    """The first scrape (parsed) for which predicate holds."""
    got = {}

    def ok():
        st, body, _ = scrape(w.port)
        got["s"] = parse(body)
        return st == 200 and predicate(got["s"])
    try:
        w.ep.wait_until(ok, timeout=timeout, interval=0.2, what=what)
    except TimeoutError:
        raise AssertionError("%s; last scrape: %s" % (what, sorted(
            (k[0], sorted(k[1]), v) for k, v in got.get("s", {}).items()
            if not k[0].startswith("epsync_request_duration"))))
    return got["s"]


def db_states(w):
    return {(t, s): n for t, s, n in w.q(
        "SELECT target, state, count(*) FROM epsync.deliveries GROUP BY target, state")}


def due(w):
    return w.q("SELECT count(*) FROM epsync.deliveries "
               "WHERE state IN ('pending', 'retry', 'withdraw_pending')")[0][0]


# --- the endpoint during a drain with faults ---------------------------------------------

def test_scrape_during_drain_with_faults_matches_database_and_simulators():
    # City: busy answers and revoked tokens; province: records to retry
    # and two old decisions it rejects, whose deadlines are long past.
    old = ["SJZSJ-OLD-%d" % i for i in range(2)]
    w = metrics_world(faults={"city": {"busy": 0.15, "token_revoke_rate": 0.02},
                              "province": {"record_retry": 0.1, "reject_ids": old}},
                      targets={"province": {"batch_size": 10}})
    ids = h.insert_decisions(w.pg, w.db, 300)
    long_ago = h.today_cst() - datetime.timedelta(days=30)
    for did in old:
        h.insert_decision(w.src, decision_id=did, decided_on=long_ago)
    w.ep.start_daemon()
    wait_up(w)

    # Scrapes while it drains: well-formed, counters never go back.
    scrapes, checked, prev = 0, False, {}
    want = 2 * (len(ids) + len(old))
    while due(w) or w.q("SELECT count(*) FROM epsync.deliveries")[0][0] < want:
        st, body, ctype = scrape(w.port)
        assert st == 200 and ctype.startswith("text/plain; version=0.0.4"), (st, ctype)
        s = parse(body)
        for k, v in s.items():
            if k[0].endswith("_total") and k in prev:
                assert v >= prev[k], (k, prev[k], v)
        prev = s
        if not checked and total(s, "epsync_attempts_total") > 0:
            check_metrics(body)
            checked = True
        scrapes += 1
        assert w.ep.alive(), w.ep.log()[-3000:]
        assert scrapes < 2000, "no drain after %d scrapes: %s" % (scrapes, db_states(w))
        time.sleep(0.1)
    assert checked, "no scrape saw an attempt"
    note("%d scrapes during the drain" % scrapes)

    city, prov = w.city.stats()["requests"], w.prov.stats()["requests"]
    nrejected = len(old)

    def settled(s):
        city_now, prov_now = w.city.stats()["requests"], w.prov.stats()["requests"]
        snap = {(dict(ls)["target"], dict(ls)["state"]): v for (n, ls), v in s.items()
                if n == "epsync_deliveries" and v}
        return (snap == db_states(w) and city_now == city and prov_now == prov
                and val(s, "epsync_audit_events_total")
                == w.q("SELECT count(*) FROM epsync.audit")[0][0])
    s = wait_scrape(w, settled, what="the snapshot to match the database")
    check_metrics(scrape(w.port)[1])

    # Against the simulators' counts.
    assert val(s, "epsync_attempts_total", target="city", op="publish", result="ok") \
        == city["published"] == len(ids) + len(old)
    assert val(s, "epsync_attempts_total", target="city", op="publish", result="transient") \
        == city.get("busy", 0) > 0
    assert val(s, "epsync_request_duration_seconds_count", target="city") \
        == city["published"] + city.get("busy", 0) + city.get("unauthorized", 0)
    assert val(s, "epsync_token_renewals_total", target="city") == city["token_issued"] >= 1
    assert val(s, "epsync_attempts_total", target="province", op="publish", result="ok") \
        == prov["accepted"] == len(ids)
    assert val(s, "epsync_attempts_total", target="province", op="publish",
               result="transient") == prov.get("retry", 0) > 0
    assert val(s, "epsync_attempts_total", target="province", op="publish",
               result="rejected") == prov["rejected"] == nrejected
    assert val(s, "epsync_request_duration_seconds_count", target="province") == prov["batch"]
    # Against the database.
    assert val(s, "epsync_detected_total") == len(ids) + len(old)
    assert val(s, "epsync_deadline_missed", target="province") == nrejected
    assert val(s, "epsync_deadline_missed", target="city") == 0
    assert val(s, "epsync_deadline_at_risk", target="city") == 0
    assert val(s, "epsync_oldest_due_seconds", target="city") == 0
    assert val(s, "epsync_oldest_due_seconds", target="province") == 0
    assert val(s, "epsync_target_paused", target="city") == 0
    assert val(s, "epsync_up") == 1
    assert val(s, "epsync_build_info", version="0.1.0") == 1
    assert 0 <= val(s, "epsync_detect_lag_seconds") < 600
    assert abs(val(s, "process_start_time_seconds") - time.time()) < 600
    assert ("epsync_audit_last_anchor_timestamp_seconds", frozenset()) not in s

    # The heartbeat row exists while it runs and goes with a clean stop.
    assert w.q("SELECT count(*) FROM epsync.daemons")[0][0] == 1
    assert w.ep.stop() == 0, w.ep.log()[-3000:]
    assert w.q("SELECT count(*) FROM epsync.daemons")[0][0] == 0
    assert "serving metrics" in w.ep.log()


# --- hostile connections ------------------------------------------------------------------

def open_idle_connections(port, n, addresses=50):
    """n connections to the endpoint from `addresses` loopback addresses
    (127.0.0.2 ...), so that the cap per address does not turn them all
    away: the total cap is what they meet.  Every third sends half a
    request and stops (slowloris)."""
    socks = []
    for i in range(n):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.bind(("127.0.0.%d" % (2 + i % addresses), 0))
            s.connect(("127.0.0.1", port))
            if i % 3 == 0:
                s.sendall(b"GET /metr")
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def closed_by_server(s):
    try:
        s.settimeout(0)
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def drain(w, n, what):
    t0 = time.monotonic()
    ids = h.insert_decisions(w.pg, w.db, n)
    w.ep.wait_until(lambda: w.q(
        "SELECT count(*) FROM epsync.deliveries WHERE decision_id = ANY(%s) "
        "AND state = 'published'", ids)[0][0] == 2 * len(ids), timeout=120, what=what)
    return time.monotonic() - t0


def test_many_idle_connections_do_not_stop_delivery():
    w = metrics_world()
    w.ep.start_daemon()
    wait_up(w)
    quiet = drain(w, 300, "a first backlog to drain")
    socks = open_idle_connections(w.port, 200)
    try:
        assert len(socks) >= 100, "only %d connections opened" % len(socks)
        busy = drain(w, 300, "the backlog to drain beside 200 idle connections")
        note("300 decisions x 2 targets published in %.1fs alone, %.1fs beside %d idle "
             "connections (figures, not checks)" % (quiet, busy, len(socks)))
        # Idle and half-sent connections are dropped by the server after its
        # timeout (10 s): none is held for ever.
        h.wait_for(lambda: all(closed_by_server(s) for s in socks), timeout=90,
                   what="the server to drop every idle connection")
    finally:
        for s in socks:
            s.close()
    st, body, _ = scrape(w.port)
    assert st == 200 and "epsync_up 1" in body
    assert scrape(w.port, path="/")[0] == 404
    assert w.ep.stop() == 0, w.ep.log()[-3000:]


def test_unix_socket_endpoint():
    w = h.World(metrics={"listen": "", "interval": "1s"})
    path = os.path.join(w.tmp, "metrics.sock")
    cfg = h.write_config(w.tmp, w.pg, [w.city, w.prov], dbname=w.db,
                         metrics={"listen": path, "interval": "1s"})
    w.ep.config = cfg
    w.ep.start_daemon()

    def get():
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(path)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return data.decode()

    def answers():      # the socket file appears when bound, before it listens
        try:
            return get()
        except OSError:
            return None
    out = w.ep.wait_until(answers, timeout=30, what="the socket")
    assert out.startswith("HTTP/1.1 200") and "\nepsync_up 1\n" in out, out[:500]
    assert w.ep.stop() == 0
    assert not os.path.exists(path)


def test_metrics_off_by_default():
    w = h.World()
    r = w.ep.run(["check-config"])
    assert r.returncode == 0, r.stderr
    assert re.search(r'^metrics:\n  listen: ""\n  interval: 15s$', r.stdout, re.M), r.stdout
    w.ep.start_daemon()
    # The heartbeat is written whether or not metrics are served.
    w.ep.wait_until(lambda: w.q("SELECT count(*) FROM epsync.daemons")[0][0] == 1,
                    timeout=30, what="the heartbeat row")
    assert w.q("SELECT metrics_listen FROM epsync.daemons")[0][0] is None
    assert "serving metrics" not in w.ep.log()
    assert w.ep.stop() == 0


def test_listen_address_in_use_is_a_startup_error():
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        w = h.World(metrics={"listen": "127.0.0.1:%d" % blocker.getsockname()[1]})
        w.ep.start_daemon()
        w.ep.proc.wait(30)
        assert w.ep.proc.returncode == 1, w.ep.log()
        assert "cannot listen on 127.0.0.1" in w.ep.log(), w.ep.log()
        assert "Sanitizer" not in w.ep.log(), w.ep.log()   # exit 1 is ours, not a leak report
    finally:
        blocker.close()


# --- epsync status --------------------------------------------------------------------------

def status(w):
    r = w.ep.run(["status"])
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return r.returncode, r.stdout


def test_status_healthy_then_paused_missed_and_dead():
    old = "SJZSJ-OLD-STATUS"
    w = metrics_world()
    ids = h.insert_decisions(w.pg, w.db, 20)
    w.ep.start_daemon()
    w.ep.wait_until(lambda: w.q("SELECT count(*) FROM epsync.deliveries WHERE "
                                "state = 'published'")[0][0] == 2 * len(ids),
                    timeout=60, what="the backlog to drain")
    w.ep.wait_until(lambda: w.q("SELECT count(*) FROM epsync.daemons")[0][0] == 1,
                    timeout=30, what="the heartbeat row")
    rc, out = status(w)
    assert rc == 0, out
    assert "city: sending" in out and "province: sending" in out, out
    assert "deliveries   published 20\n" in out, out
    assert "0 missed, 0 at risk" in out, out
    assert re.search(r"alive  metrics 127\.0\.0\.1:%d" % w.port, out), out
    assert out.rstrip().endswith("all is well"), out

    # The city fails every request: its breaker opens.  The province
    # rejects a decision whose deadline passed long ago.
    w.city.set_faults({"http5xx": 1.0})
    w.prov.set_faults({"reject_ids": [old]})
    h.insert_decision(w.src, decision_id=old,
                      decided_on=h.today_cst() - datetime.timedelta(days=30))
    h.insert_decisions(w.pg, w.db, 6)
    wait_scrape(w, lambda s: val(s, "epsync_target_paused", target="city") == 1,
                what="the city paused in the metrics")

    def paused_shown():
        rc, out = status(w)
        return rc == 1 and "city: PAUSED" in out and out
    out = w.ep.wait_until(paused_shown, timeout=30, what="status to show the pause")
    assert "breaker open: " in out, out
    w.ep.wait_until(lambda: w.q("SELECT state FROM epsync.deliveries WHERE decision_id = %s "
                                "AND target = 'province'", old) == [("rejected",)],
                    timeout=30, what="the old decision rejected")
    rc, out = status(w)
    assert rc == 1, out
    assert "needs a person" in out, out
    assert "- city is paused: breaker open" in out, out
    assert "province: deliveries past their deadline: 1 " in out, out
    assert "city: deliveries past their deadline: 1 " in out, out   # never got through either
    assert "province: deliveries rejected: 1, invalid: 0 " in out, out

    # A daemon killed without a word leaves a heartbeat that goes stale.
    owner = w.q("SELECT owner FROM epsync.daemons")[0][0]
    w.ep.kill9()

    def dead():
        rc, out = status(w)
        return rc == 1 and "DEAD" in out and out
    out = h.wait_for(dead, timeout=30, what="the daemon shown dead")
    assert "- daemon %s stopped sending heartbeats" % owner in out, out
    assert "- no daemon is running on this state database" in out, out
    # Its view of the city is stale: not reported as a pause any more.
    assert "city: sending" in out, out

    # Restarted on the same host, the daemon takes its dead predecessor's place.
    w.city.set_faults({})
    w.ep.start_daemon()
    w.ep.wait_until(lambda: w.q("SELECT count(*) FROM epsync.daemons WHERE owner = %s",
                                owner)[0][0] == 0, timeout=30, what="the dead row replaced")
    rc, out = status(w)
    assert "DEAD" not in out and "alive" in out, out
    assert w.ep.stop() == 0, w.ep.log()[-3000:]


def test_status_usage_and_unavailable_database():
    w = h.World()
    assert w.ep.run(["status", "--help"]).returncode == 0
    r = w.ep.run(["status", "extra"])
    assert r.returncode == 64 and "epsync status" in r.stderr, r.stderr
    cfg = h.write_config(w.tmp, w.pg, [w.city, w.prov], dbname=w.db,
                         database={"state": "host=/nonexistent dbname=x connect_timeout=2"})
    r = h.Epsync(config=cfg).run(["status"])
    assert r.returncode == 69, r.stdout + r.stderr


# --- the example rules and dashboard ----------------------------------------------------------

def test_example_rules_pass_promtool():
    r = subprocess.run([promtool(), "check", "rules", RULES], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout, r.stdout
    r = subprocess.run([promtool(), "test", "rules", RULES_TEST], capture_output=True,
                       text=True, timeout=60, cwd=os.path.dirname(RULES_TEST))
    assert r.returncode == 0, r.stdout + r.stderr


def test_dashboard_and_rules_name_real_metrics():
    import json
    with open(DASHBOARD, encoding="utf-8") as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert exprs, "no queries"
    with open(RULES, encoding="utf-8") as f:
        rules = re.findall(r"^\s+expr: (.+)$", f.read(), re.M)
    assert len(rules) >= 4, rules
    exprs += rules
    with open(os.path.join(h.REPO, "src", "metrics.c"), encoding="utf-8") as f:
        src = f.read()
    for e in exprs:
        for name in re.findall(r"\b(epsync_[a-z_]+|process_start_time_seconds)\b", e):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert '"%s"' % base in src or base + " " in src or base + "{" in src, (name, e)


# --- memory ---------------------------------------------------------------------------------

def test_daemon_with_metrics_and_status_clean_under_valgrind():
    from test_valgrind import VALGRIND, _require_valgrind
    _require_valgrind()
    w = metrics_world(faults={"city": {"busy": 0.2}})
    ids = h.insert_decisions(w.pg, w.db, 10)
    config = w.ep.config
    w.ep.binary, w.ep.config = shutil.which("valgrind"), None   # the command names the file
    w.ep.start_daemon(args=VALGRIND[1:] + [h.epsync_bin(), "-c", config, "run"])
    try:
        wait_up(w, timeout=120)
        wait_scrape(w, lambda s: val(s, "epsync_deliveries", target="city", state="published")
                    == len(ids), timeout=240, what="the drain under valgrind")
        for _ in range(20):            # the endpoint under load, and a half-sent request
            scrape(w.port)
        s = socket.create_connection(("127.0.0.1", w.port))
        s.sendall(b"GET /met")
    finally:
        rc = w.ep.stop(timeout=60)
    s.close()
    assert rc == 0, w.ep.log()[-6000:]
    r = subprocess.run(VALGRIND + [h.epsync_bin(), "-c", config, "status"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "no daemon is running" in r.stdout, r.stdout + r.stderr[-6000:]
