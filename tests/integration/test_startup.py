"""The daemon's life under systemd, seen through the notify socket:
start-up while PostgreSQL is down (it waits, says so in STATUS, and
signals READY=1 only once connected), the STATUS keys README documents,
and a SIGHUP in the middle of a drain with slow requests in flight."""

import json
import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import NotifySocket  # noqa: E402

BOTH_PUBLISHED = {"city": "published", "province": "published"}
WAITING = "STATUS=waiting for the state database ("


def own_cluster_world():
    """A migrated case database on a cluster of this test's own, so the
    test may stop it; (tmp, pg, db, epsync, source connection)."""
    tmp = h.make_tmpdir()
    pg = h.PgCluster(tmp)
    db = h.fresh_dbname()
    h.case_db(pg, db).close()
    city = h.Sim("city", tmp)
    prov = h.Sim("province", tmp)
    ep = h.Epsync(config=h.write_config(tmp, pg, [city, prov], dbname=db))
    r = ep.run(["migrate"])
    assert r.returncode == 0, r.stderr
    return tmp, pg, db, ep


def test_start_waits_for_the_database_and_is_ready_once_connected():
    tmp, pg, db, ep = own_cluster_world()
    pg.stop()
    ns = NotifySocket(tmp)
    ep.start_daemon(env={"NOTIFY_SOCKET": ns.path})
    ep.wait_until(lambda: ns.has(WAITING), timeout=30, what="STATUS saying what it waits for")
    status = [m for m in ns.messages if m.startswith(WAITING)][0]
    assert status.endswith(")") and len(status) > len(WAITING) + 1, status
    assert "\n" not in status, status
    # Still waiting after more than one try: alive, not ready.
    ep.wait_until(lambda: ep.log().count("state database unavailable, retrying") >= 2,
                  timeout=30, what="a second try")
    assert ep.alive()
    assert not ns.has("READY=1"), ns.messages
    pg.start()
    ep.wait_until(lambda: ns.has("READY=1"), timeout=60, what="READY=1 once PostgreSQL is back")
    ready = next(i for i, m in enumerate(ns.messages) if m.startswith("READY=1"))
    assert all(not m.startswith("READY=1") for m in ns.messages[:ready])
    assert any(m.startswith(WAITING) for m in ns.messages[:ready])
    # And it works: a decision goes out.
    src = pg.connect(db)
    d = h.insert_decision(src)
    state = pg.connect(db)

    def published():
        with state.cursor() as cur:
            cur.execute("SELECT count(*) FROM epsync.deliveries WHERE decision_id = %s "
                        "AND state = 'published'", (d["decision_id"],))
            return cur.fetchone()[0] == 2
    ep.wait_until(published, timeout=60, what="the decision published at both targets")
    assert ep.stop() == 0
    src.close()
    state.close()


def test_sigterm_ends_the_wait_for_the_database():
    tmp, pg, db, ep = own_cluster_world()
    pg.stop()
    ns = NotifySocket(tmp)
    ep.start_daemon(env={"NOTIFY_SOCKET": ns.path})
    # Let the pause between tries grow past the stop timeout's share.
    ep.wait_until(lambda: ep.log().count("state database unavailable, retrying") >= 4,
                  timeout=60, what="four tries")
    assert ep.stop(timeout=15) == 0
    assert not ns.has("READY=1")


def test_a_missing_schema_still_exits_69_naming_migrate():
    tmp = h.make_tmpdir()
    pg = h.shared_cluster()
    db = h.fresh_dbname()
    h.case_db(pg, db).close()
    city = h.Sim("city", tmp)
    ep = h.Epsync(config=h.write_config(tmp, pg, [city], dbname=db))
    ns = NotifySocket(tmp)
    r = ep.run(["run"], env={"NOTIFY_SOCKET": ns.path}, timeout=60)
    assert r.returncode == 69, r.stderr
    assert "epsync migrate" in r.stderr and "action=needed" in r.stderr, r.stderr
    assert not ns.has("READY=1")
    assert any(m.startswith("STATUS=") and "epsync migrate" in m for m in ns.messages), \
        ns.messages


def documented_status_keys():
    """{file: [keys]} of every STATUS example line README.md and
    docs/operations.md show (`backlog=… …`)."""
    out = {}
    for rel in ("README.md", os.path.join("docs", "operations.md")):
        with open(os.path.join(h.REPO, rel), encoding="utf-8") as f:
            text = f.read()
        for span in re.findall(r"`(?:STATUS=)?(backlog=[^`]*)`", text):
            out.setdefault(rel, []).append(re.findall(r"(\w+)=", span))
    return out


def test_readme_names_the_status_keys_status_has():
    w = h.World()
    ns = NotifySocket(w.tmp)
    h.insert_decision(w.src)
    w.ep.start_daemon(env={"NOTIFY_SOCKET": ns.path})
    w.ep.wait_until(lambda: ns.has("STATUS=backlog="), timeout=60, what="a STATUS line")
    line = [m for m in ns.messages if m.startswith("STATUS=backlog=")][-1]
    real = re.findall(r"(\w+)=", line[len("STATUS="):])
    assert real == ["backlog", "published_today", "in_flight", "paused", "at_risk", "missed"], line
    docs = documented_status_keys()
    assert set(docs) == {"README.md", os.path.join("docs", "operations.md")}, docs
    for rel, examples in docs.items():
        for keys in examples:
            assert keys == real, "%s documents STATUS keys %s, the daemon sends %s" % (
                rel, keys, real)
    assert w.ep.stop() == 0


def test_sighup_in_the_middle_of_a_drain_with_slow_requests():
    slow = {"slow": 1.0, "slow_ms": 1500}
    w = h.World(faults={"city": slow, "province": slow})
    ns = NotifySocket(w.tmp)
    ids = h.insert_decisions(w.pg, w.db, 40)
    w.ep.start_daemon(env={"NOTIFY_SOCKET": ns.path})
    w.ep.wait_until(lambda: ns.has("READY=1"), timeout=30, what="READY=1")

    def slow_in_flight():
        return w.city.stats()["faults_injected"].get("slow", 0) > 0
    w.ep.wait_until(slow_in_flight, timeout=30, what="a slow request at the city")
    published = w.q("SELECT count(*) FROM epsync.deliveries WHERE state = 'published'")[0][0]
    assert published < 2 * len(ids), "drained before the reload could happen mid-drain"
    before = len(ns.drain())
    # A changed, valid configuration (a longer poll interval) while requests hang.
    h.write_config(w.tmp, w.pg, [w.city, w.prov], dbname=w.db, poll={"interval": "300ms"})
    w.ep.proc.send_signal(signal.SIGHUP)
    w.ep.wait_until(lambda: "configuration reloaded" in w.ep.log(), timeout=60,
                    what="configuration reloaded")

    def ready_after_reloading():
        msgs = ns.drain()[before:]
        r = [i for i, m in enumerate(msgs) if m.startswith("RELOADING=1")]
        return r and any(m.startswith("READY=1") for m in msgs[r[0] + 1:])
    w.ep.wait_until(ready_after_reloading, timeout=60, what="READY=1 after RELOADING=1")
    for d in ids:
        w.wait_states(d, BOTH_PUBLISHED, timeout=180)
    assert w.ep.stop() == 0
    for sim in (w.city, w.prov):
        st = sim.assert_clean()
        assert st["duplicates"] == 0, st["duplicates"]
        pubs = st["publications"]
        assert set(pubs) == set(ids), (sim.kind, len(pubs))
        twice = {d: revs for d, revs in pubs.items() if sum(revs.values()) != 1}
        assert not twice, "%s published more than once: %s" % (sim.kind, twice)
    r = w.ep.run(["verify-audit"])
    assert r.returncode == 0, r.stdout + r.stderr


def json_lines(log):
    out = []
    for line in log.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_lines_that_need_a_person_are_errors_marked_action_needed():
    rej_id = "SJZSJ-REJ-%d" % os.getpid()
    w = h.World(log={"level": "info", "format": "json"},
                faults={"city": {"reject_ids": [rej_id]}, "province": {"http5xx": 1.0}})
    first = h.insert_decision(w.src)
    w.ep.start_daemon()
    w.ep.wait_until(lambda: "delivery failed, will retry" in w.ep.log(), timeout=30,
                    what="a routine retry")
    w.prov.set_faults({})
    rej = h.insert_decision(w.src, decision_id=rej_id)
    good = h.valid_uscc("x")
    bad_code = good[:-1] + ("0" if good[-1] != "0" else "1")
    inv = h.insert_decision(w.src, party_credit_code=bad_code)
    w.wait_states(first["decision_id"], BOTH_PUBLISHED, timeout=60)
    w.wait_states(rej["decision_id"], {"city": "rejected"}, timeout=60)
    w.wait_states(inv["decision_id"], {"city": "invalid", "province": "invalid"})
    w.ep.wait_until(lambda: "decision invalid" in w.ep.log(), timeout=30, what="decision invalid")
    assert w.ep.stop() == 0
    lines = json_lines(w.ep.log())
    by_msg = {}
    for line in lines:
        by_msg.setdefault(line["msg"], []).append(line)

    invalid = by_msg["decision invalid"]
    assert {l["target"] for l in invalid} == {"city", "province"}, invalid
    for l in invalid:
        assert l["level"] == "error" and l["action"] == "needed", l
        assert l["decision"] == inv["decision_id"] and l["reasons"] == 1, l
        assert l["reason"].startswith("party_credit_code: check digit is wrong"), l
        assert bad_code not in json.dumps(l, ensure_ascii=False), l
    rejected = by_msg["delivery rejected"]
    assert [l["decision"] for l in rejected] == [rej["decision_id"]], rejected
    assert rejected[0]["level"] == "error" and rejected[0]["action"] == "needed", rejected
    for l in by_msg["delivery failed, will retry"]:
        assert l["level"] == "warning" and "action" not in l, l
    for l in by_msg.get("target paused after repeated failures", []):
        assert l["level"] == "error" and l["action"] == "needed", l
    # Every line marked for a person is an error (journalctl -p err shows them all).
    assert all(l["level"] == "error" for l in lines if l.get("action") == "needed")


def test_the_documented_grant_is_what_migrate_needs():
    """docs/operations.md's GRANT, run as written (role and database
    renamed), lets `epsync migrate` create the schema; without it, it cannot."""
    with open(os.path.join(h.REPO, "docs", "operations.md"), encoding="utf-8") as f:
        text = f.read()
    grants = re.findall(r"psql -d cases -c '(GRANT CREATE ON DATABASE cases TO epsync_owner)'", text)
    assert grants, "docs/operations.md grants nothing for migrate"
    with open(os.path.join(h.REPO, "README.md"), encoding="utf-8") as f:
        assert "needs `CREATE` on the state database" in f.read()
    tmp = h.make_tmpdir()
    pg = h.shared_cluster()
    db = h.fresh_dbname()
    h.case_db(pg, db).close()
    role = "epsync_mig_%d" % os.getpid()
    pg.psql('CREATE ROLE "%s" LOGIN' % role)
    city = h.OfflineTarget("city", tmp)
    conninfo = "host=%s port=%d dbname=%s user=%s" % (pg.sockdir, pg.port, db, role)
    ep = h.Epsync(config=h.write_config(tmp, pg, [city], dbname=db,
                                        database={"state": conninfo}))
    r = ep.run(["migrate"])
    assert r.returncode == 69 and "permission denied" in r.stderr, (r.returncode, r.stderr)
    pg.psql(grants[0].replace("cases", '"%s"' % db).replace("TO epsync_owner", 'TO "%s"' % role),
            dbname=db)
    r = ep.run(["migrate"])
    assert r.returncode == 0, r.stderr
    assert pg.psql("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'epsync'",
                   dbname=db) == [(role,)]
