"""Delivery end to end: source -> state -> engine -> adapters -> simulators.

The walking skeleton and SPEC §4/§5 behaviours that need the whole path:
publication at both targets, no resend of unchanged rows, updates,
withdrawals, validation, late commits, the reconcile, masking on the wire.
"""

import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402


World = h.World      # also imported by test_daemon and test_valgrind

BOTH_PUBLISHED = {"city": "published", "province": "published"}


def test_one_decision_end_to_end():
    w = World()
    legal = h.insert_decision(w.src)
    person = h.insert_decision(w.src, party_type="natural_person")
    w.ep.start_daemon()
    w.wait_states(legal["decision_id"], BOTH_PUBLISHED)
    w.wait_states(person["decision_id"], BOTH_PUBLISHED)
    assert w.ep.stop() == 0, w.ep.log()[-3000:]

    for sim in (w.city, w.prov):
        st = sim.stats()
        assert st["duplicates"] == 0, st
    # Receipts are kept and attempts are in the audit log.
    rows = w.q("SELECT target, receipt, total_attempts FROM epsync.deliveries "
               "WHERE decision_id = %s", legal["decision_id"])
    assert len(rows) == 2 and all(r[1] and r[2] >= 1 for r in rows), rows
    # The natural person's ID number, phone and address never left.
    wire = json.dumps([w.city.records(), w.prov.records()], ensure_ascii=False)
    assert person["party_id_no"] not in wire
    assert person["party_phone"] not in wire
    assert person["party_address"] not in wire
    assert person["party_id_no"][:6] + "********" + person["party_id_no"][-4:] in wire
    # ... nor reached the log.
    log = w.ep.log()
    for v in (person["party_id_no"], person["party_phone"], person["party_address"], w.city.secret,
              w.prov.secret):
        assert v not in log, v
    assert "published decision=%s target=city" % legal["decision_id"] in log, log
    r = w.ep.run(["verify-audit"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_run_refuses_a_missing_schema():
    tmp = h.make_tmpdir()
    pg = h.shared_cluster()
    db = h.fresh_dbname()
    h.case_db(pg, db)
    city = h.Sim("city", tmp)
    cfg = h.write_config(tmp, pg, [city], dbname=db)
    ep = h.Epsync(config=cfg)
    r = ep.run(["once"])
    assert r.returncode == 69, (r.returncode, r.stderr)
    assert "epsync migrate" in r.stderr, r.stderr
    r = ep.run(["migrate"])
    latest = len([f for f in os.listdir(os.path.join(h.REPO, "sql")) if f[:3].isdigit()])
    assert r.returncode == 0 and "version 0 to %d" % latest in r.stdout, r.stdout + r.stderr
    r = ep.run(["migrate"])
    assert r.returncode == 0 and "current" in r.stdout, r.stdout + r.stderr


def test_touch_sends_nothing_change_updates_revoke_withdraws():
    w = World()
    d = h.insert_decision(w.src)
    did = d["decision_id"]
    w.ep.start_daemon()
    w.wait_states(did, BOTH_PUBLISHED)

    # Touching updated_at only: nothing is sent.
    h.update_decision(w.src, did, updated_at=datetime.datetime.now(datetime.timezone.utc))
    time.sleep(1.5)
    recs = [r for r in w.city.records() if r.get("decision_id") == did]
    assert len(recs) == 1, recs

    # One changed field: exactly one update per target.
    h.update_decision(w.src, did, penalty_content="警告，罚款人民币6000元", fine_amount=6000)
    w.ep.wait_until(lambda: len([r for r in w.city.records() if r.get("decision_id") == did]) == 2
                    and len([r for r in w.prov.records() if r.get("decision_id") == did]) == 2,
                    timeout=20, what="one update per target")
    w.wait_states(did, BOTH_PUBLISHED)
    time.sleep(1.0)
    city_ops = [r["op"] for r in w.city.records() if r.get("decision_id") == did]
    assert len(city_ops) == 2 and city_ops[1] == "update", city_ops

    # Revoking: one withdrawal per target.
    h.revoke_decision(w.src, did)
    w.wait_states(did, {"city": "withdrawn", "province": "withdrawn"})
    time.sleep(1.0)
    city_ops = [r["op"] for r in w.city.records() if r.get("decision_id") == did]
    prov_ops = [r["op"] for r in w.prov.records() if r.get("decision_id") == did]
    assert city_ops.count("withdraw") == 1 and len(city_ops) == 3, city_ops
    assert prov_ops.count("withdraw") == 1 and len(prov_ops) == 3, prov_ops
    assert w.ep.stop() == 0


def test_invalid_rows_are_held_until_fixed():
    w = World()
    bad_uscc = h.insert_decision(w.src, party_credit_code="91130100MA0000000X")
    good_id = h.valid_idno("1985-06-15", "bad")
    wrong_check = "0" if good_id[-1] != "0" else "1"
    bad_id = h.insert_decision(w.src, party_type="natural_person",
                               party_id_no=good_id[:-1] + wrong_check)
    no_doc = h.insert_decision(w.src, doc_no=None)
    w.ep.start_daemon()
    for d in (bad_uscc, bad_id, no_doc):
        w.wait_states(d["decision_id"], {"city": "invalid", "province": "invalid"})
    reasons = dict(w.q("SELECT decision_id, reason FROM epsync.deliveries WHERE target = 'city'"))
    assert "party_credit_code" in reasons[bad_uscc["decision_id"]], reasons
    assert "party_id_no" in reasons[bad_id["decision_id"]], reasons
    assert "doc_no" in reasons[no_doc["decision_id"]], reasons
    assert w.city.records() == [] and w.prov.records() == []

    h.update_decision(w.src, no_doc["decision_id"], doc_no="石市监处罚〔2026〕999号")
    h.update_decision(w.src, bad_uscc["decision_id"], party_credit_code=h.valid_uscc("fixed"))
    w.wait_states(no_doc["decision_id"], BOTH_PUBLISHED)
    w.wait_states(bad_uscc["decision_id"], BOTH_PUBLISHED)
    assert w.states(bad_id["decision_id"]) == {"city": "invalid", "province": "invalid"}
    assert w.ep.stop() == 0


def test_late_commit_behind_the_watermark_is_published():
    w = World()
    first = h.insert_decision(w.src)
    # A transaction that started earlier: its updated_at is older than rows
    # the poller has already seen, and it commits after that poll.
    late = w.pg.connect(w.db)
    late.autocommit = False
    with late.cursor() as cur:
        row = h.decision_defaults()
        cols = list(row)
        cur.execute("INSERT INTO epsync_source.decisions (%s, updated_at) VALUES (%s, "
                    "now() - interval '30 seconds')" % (", ".join(cols), ", ".join(["%s"] * len(cols))),
                    [row[c] for c in cols])
    w.ep.start_daemon()
    w.wait_states(first["decision_id"], BOTH_PUBLISHED)
    time.sleep(0.5)
    late.commit()
    late.close()
    w.wait_states(row["decision_id"], BOTH_PUBLISHED)
    assert w.ep.stop() == 0


def test_reconcile_catches_a_change_older_than_the_overlap():
    w = World(poll={"overlap": "1s", "reconcile_every": "3s"})
    d = h.insert_decision(w.src)
    w.ep.start_daemon()
    w.wait_states(d["decision_id"], BOTH_PUBLISHED)
    assert w.ep.stop() == 0
    # Changed while the daemon was stopped, with an updated_at far behind
    # the watermark: only the reconcile can see it.
    h.update_decision(w.src, d["decision_id"], remarks="补正",
                      updated_at=datetime.datetime.now(datetime.timezone.utc)
                      - datetime.timedelta(days=2))
    w.ep.start_daemon()
    w.ep.wait_until(lambda: len([r for r in w.city.records()
                                 if r.get("decision_id") == d["decision_id"]]) == 2,
                    timeout=30, what="the update found by the reconcile")
    w.wait_states(d["decision_id"], BOTH_PUBLISHED)
    assert w.ep.stop() == 0


def test_confidential_and_unrouted_are_excluded():
    w = World()
    conf = h.insert_decision(w.src, confidential=True)
    insp = h.insert_decision(w.src, kind="inspection", doc_no=None)
    w.ep.start_daemon()
    w.wait_states(conf["decision_id"], {"city": "excluded", "province": "excluded"})
    w.wait_states(insp["decision_id"], {"city": "published", "province": "excluded"})
    assert not [r for r in w.city.records() if r.get("decision_id") == conf["decision_id"]]
    assert w.ep.stop() == 0


def test_publicity_period_end_withdraws_as_expired():
    w = World()
    yesterday = h.today_cst() - datetime.timedelta(days=1)
    d = h.insert_decision(w.src, publicity_until=yesterday,
                          decided_on=h.today_cst() - datetime.timedelta(days=3))
    keep = h.insert_decision(w.src)
    w.ep.start_daemon()
    w.wait_states(d["decision_id"], {"city": "withdrawn", "province": "withdrawn"})
    w.wait_states(keep["decision_id"], BOTH_PUBLISHED)
    types = [r["body"].get("type") or r["body"].get("revokeType")
             for r in w.city.records() + w.prov.records()
             if r.get("decision_id") == d["decision_id"] and r["op"] == "withdraw"]
    assert types == ["EXPIRED", "EXPIRED"], types
    assert w.ep.stop() == 0


def test_once_exits_0_when_nothing_is_left_due():
    w = World()
    for _ in range(3):
        h.insert_decision(w.src)
    r = w.ep.run(["once"], timeout=60)
    assert r.returncode == 0, r.stderr
    assert w.drained()
    assert w.q("SELECT count(*) FROM epsync.deliveries WHERE state = 'published'")[0][0] == 6


def test_notify_channel_wakes_the_detector_at_once():
    w = World(poll={"interval": "1h", "notify_channel": "epsync_cases"})
    with w.src.cursor() as cur:
        cur.execute("""
            CREATE FUNCTION epsync_source.notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_notify('epsync_cases', NEW.decision_id); RETURN NEW; END $$;
            CREATE TRIGGER decisions_notify AFTER INSERT OR UPDATE ON epsync_source.decisions
                FOR EACH ROW EXECUTE FUNCTION epsync_source.notify();
        """)
    w.ep.start_daemon()
    w.ep.wait_until(lambda: "this process is the change detector" in w.ep.log(), timeout=10,
                    what="the first poll")
    time.sleep(0.5)
    d = h.insert_decision(w.src)   # the next timed poll is an hour away
    w.wait_states(d["decision_id"], BOTH_PUBLISHED, timeout=15)
    assert w.ep.stop() == 0


def test_a_published_decision_missing_from_the_source_is_reported_not_withdrawn():
    w = World(poll={"reconcile_every": "1s"})
    d = h.insert_decision(w.src)
    w.ep.start_daemon()
    w.wait_states(d["decision_id"], BOTH_PUBLISHED)
    with w.src.cursor() as cur:
        cur.execute("DELETE FROM epsync_source.decisions WHERE decision_id = %s", (d["decision_id"],))
    w.ep.wait_until(lambda: "published decision missing from source" in w.ep.log(), timeout=20,
                    what="the missing decision flagged")
    assert w.ep.stop() == 0
    assert w.states(d["decision_id"]) == BOTH_PUBLISHED
    assert w.q("SELECT missing_since IS NOT NULL FROM epsync.decisions WHERE decision_id = %s",
               d["decision_id"])[0][0]
    r = w.ep.run(["report", "--format", "json"])
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    flagged = [n for n in report["needs_attention"] if n.get("decision_id") == d["decision_id"]]
    assert flagged and any("missing" in json.dumps(n) for n in flagged), report["needs_attention"]
    assert not [x for x in w.city.records() if x.get("decision_id") == d["decision_id"]
                and x["op"] == "withdraw"]


def test_a_decision_id_with_a_line_break_is_invalid_not_sent():
    w = World()
    bad = h.insert_decision(w.src, decision_id="SJZSJ-2026-BAD\r\nX-Injected: 1")
    good = h.insert_decision(w.src, decision_id="SJZSJ-2026-𠮷-\"quoted\"")
    w.ep.start_daemon()
    w.wait_states(bad["decision_id"], {"city": "invalid", "province": "invalid"})
    w.wait_states(good["decision_id"], BOTH_PUBLISHED)
    assert w.ep.stop() == 0
    reason = w.q("SELECT reason FROM epsync.deliveries WHERE decision_id = %s AND target = 'city'",
                 bad["decision_id"])[0][0]
    assert "decision_id" in reason, reason
