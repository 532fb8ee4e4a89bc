"""Running under systemd (docs/operations.md): sd_notify messages, SIGHUP reload,
SIGTERM, and logs that never carry personal data or secrets."""

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_delivery import World, BOTH_PUBLISHED  # noqa: E402


class NotifySocket:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return self.messages

    def has(self, prefix):
        self.drain()
        return any(m.startswith(prefix) or ("\n" + prefix) in m for m in self.messages)


def test_notify_ready_status_watchdog_reload_stopping():
    w = World()
    ns = NotifySocket(w.tmp)
    d = h.insert_decision(w.src)
    w.ep.start_daemon(env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "2000000"})
    w.ep.wait_until(lambda: ns.has("READY=1"), timeout=60, what="READY=1")
    w.wait_states(d["decision_id"], BOTH_PUBLISHED)
    w.ep.wait_until(lambda: ns.has("WATCHDOG=1"), timeout=30, what="WATCHDOG=1")
    # STATUS is refreshed every 10 s: one of them reports the publication.
    w.ep.wait_until(lambda: ns.has("STATUS=backlog=0 published_today=2 "), timeout=60,
                    what="STATUS= with the publication")
    status = [m for m in ns.messages if "published_today=2" in m][-1]
    assert "paused=none" in status, status
    w.ep.proc.send_signal(signal.SIGHUP)
    w.ep.wait_until(lambda: ns.has("RELOADING=1"), timeout=30, what="RELOADING=1")
    assert any("MONOTONIC_USEC=" in m for m in ns.messages if m.startswith("RELOADING=1"))
    assert w.ep.stop() == 0
    assert ns.has("STOPPING=1")


def test_ready_only_after_the_schema_is_checked():
    tmp = h.make_tmpdir()
    pg = h.shared_cluster()
    db = h.fresh_dbname()
    h.case_db(pg, db)
    city = h.Sim("city", tmp)
    ep = h.Epsync(config=h.write_config(tmp, pg, [city], dbname=db))
    ns = NotifySocket(tmp)
    r = ep.run(["run"], env={"NOTIFY_SOCKET": ns.path}, timeout=20)
    assert r.returncode == 69, r.stderr
    assert "epsync migrate" in r.stderr
    assert not ns.has("READY=1")


def test_sighup_applies_a_valid_config_and_keeps_the_old_on_error():
    w = World()
    first = h.insert_decision(w.src)
    w.ep.start_daemon()
    w.wait_states(first["decision_id"], BOTH_PUBLISHED)

    # A broken file: logged with its position, the old configuration stays.
    with open(w.config) as f:
        good = f.read()
    with open(w.config, "w") as f:
        f.write(good.replace("poll:", "pol:"))
    w.ep.proc.send_signal(signal.SIGHUP)
    w.ep.wait_until(lambda: "reload refused" in w.ep.log(), timeout=60, what="reload refused")
    line = [l for l in w.ep.log().splitlines() if "reload refused" in l][-1]
    assert w.config in line and "did you mean" in line, line
    second = h.insert_decision(w.src)
    w.wait_states(second["decision_id"], BOTH_PUBLISHED)

    # A valid file without the province target: only the city gets new work.
    h.write_config(w.tmp, w.pg, [w.city], dbname=w.db)
    w.ep.proc.send_signal(signal.SIGHUP)
    w.ep.wait_until(lambda: "configuration reloaded" in w.ep.log(), timeout=60,
                    what="configuration reloaded")
    third = h.insert_decision(w.src)
    w.wait_states(third["decision_id"], {"city": "published"})
    marker = w.settle()     # the daemon has detected and settled a later one too
    assert "province" not in w.states(third["decision_id"])
    assert w.states(marker["decision_id"]) == {"city": "published"}
    assert w.ep.alive()
    assert w.ep.stop() == 0


def test_sigterm_with_requests_in_flight_exits_within_10s():
    w = World(faults={"city": {"slow": 1.0, "slow_ms": 3000}})
    for _ in range(5):
        h.insert_decision(w.src)
    w.ep.start_daemon()
    w.ep.wait_until(lambda: w.city.stats().get("requests", {}), timeout=60,
                    what="a request at the city")
    time.sleep(0.5)
    t0 = time.monotonic()
    assert w.ep.stop(timeout=30) == 0
    # The grace period is 10 s; the slack is for a busy machine (without
    # it the daemon would wait for every slow answer).
    assert time.monotonic() - t0 < 20
    leased = w.q("SELECT count(*) FROM epsync.deliveries WHERE lease_owner IS NOT NULL")[0][0]
    assert leased == 0


def test_logs_carry_no_personal_data_or_secrets():
    w = World(faults={"city": {"http5xx": 0.2, "busy": 0.1},
                      "province": {"record_retry": 0.2}})
    people = [h.insert_decision(w.src, party_type="natural_person",
                                party_name="欧阳%s" % n, party_phone="1391111%04d" % n,
                                party_address="石家庄市桥西区某街%d号" % n,
                                violation_facts="当事人欧阳%s（电话1391111%04d）住石家庄市桥西区某街%d号。"
                                % (n, n, n))
              for n in range(20)]
    bad = h.insert_decision(w.src, party_type="natural_person",
                            party_id_no=h.valid_idno("1990-01-01", "x")[:-1] + "Z")
    w.ep.start_daemon()
    for p in people:
        w.wait_states(p["decision_id"], BOTH_PUBLISHED, timeout=60)
    w.wait_states(bad["decision_id"], {"city": "invalid", "province": "invalid"})
    assert w.ep.stop() == 0
    log = w.ep.log()
    for p in people + [bad]:
        for key in ("party_id_no", "party_phone", "party_address", "party_name"):
            assert p[key] not in log, (key, p[key])
    for secret in (w.city.secret, w.prov.secret):
        assert secret not in log
    assert "Bearer" not in log and "X-Signature" not in log
    # The platforms saw the masked ID, never the phone or address.
    wire = str(w.city.records()) + str(w.prov.records())
    for p in people:
        assert p["party_phone"] not in wire and p["party_address"] not in wire
        assert p["party_id_no"] not in wire
