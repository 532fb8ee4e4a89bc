"""The delivery lifecycle's promises: the revision is the hash of what may be
published (masked), a migrated state database sends nothing, outcomes are
recorded only under the lease they were sent under, and claims go deadline
first.

The simulators judge what was sent; the revision is recomputed here from
the stored (masked) field set with an independent canonical encoder.
"""

import datetime
import hashlib
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import simcommon  # noqa: E402

DUE_STATES = ["pending", "retry", "withdraw_pending"]


# --- the canonical field set, computed independently --------------------------------------

class _Num(str):
    """A JSON number kept as the text it was written with."""


def _canon(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, _Num):
        return str(v)
    if isinstance(v, str):
        out = ['"']
        for ch in v:
            o = ord(ch)
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif ch in "\n\r\t\b\f":
                out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}[ch])
            elif o < 0x20:
                out.append("\\u%04x" % o)
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)
    if isinstance(v, list):
        return "[" + ",".join(_canon(x) for x in v) + "]"
    keys = sorted(v, key=lambda k: k.encode("utf-8"))
    return "{" + ",".join(_canon(k) + ":" + _canon(v[k]) for k in keys) + "}"


def revision_of(json_text):
    """SHA-256 of the canonical form of a JSON object given as text."""
    obj = json.loads(json_text, parse_float=_Num, parse_int=_Num)
    return hashlib.sha256(_canon(obj).encode("utf-8")).hexdigest()


def unmasked_revision(w, did):
    """What schema version 2 stored: the hash of the unmasked row."""
    with w.src.cursor() as cur:
        cur.execute("SELECT (to_jsonb(r) - 'updated_at' - 'state')::text "
                    "FROM epsync_source.decisions r WHERE decision_id = %s", (did,))
        return revision_of(cur.fetchone()[0])


def sent(sim):
    """Everything a simulator has recorded as changed, as (op, decision_id, revision)."""
    return [(r["op"], r["decision_id"], r["revision"]) for r in sim.records()]


def wait_detected(w, ids, timeout=30):
    """Until the detector has seen the current source row of each of ids."""
    def ok():
        n = w.q("SELECT count(*) FROM epsync.decisions d JOIN epsync_source.decisions s "
                "USING (decision_id) WHERE d.decision_id = ANY(%s) "
                "AND d.src_updated_at = s.updated_at", list(ids))[0][0]
        return n == len(ids) and w.drained()
    w.ep.wait_until(ok, timeout=timeout, what="the changes to be detected")


def wait_published(w, ids, targets=("city", "province"), timeout=60):
    def ok():
        n = w.q("SELECT count(*) FROM epsync.deliveries WHERE decision_id = ANY(%s) "
                "AND state = 'published' AND target = ANY(%s)", list(ids), list(targets))[0][0]
        return n == len(ids) * len(targets)
    w.ep.wait_until(ok, timeout=timeout, what="%d decisions published" % len(ids))


def insert_people(w, n):
    return [h.insert_decision(w.src, party_type="natural_person")["decision_id"]
            for _ in range(n)]


# --- item 4: the revision is the hash of the masked field set -------------------------------

def test_the_revision_sent_is_the_hash_of_the_masked_fields():
    w = h.World()
    people = insert_people(w, 3)
    w.ep.start_daemon()
    wait_published(w, people)
    for did in people:
        fields, rev = w.q("SELECT fields::text, revision FROM epsync.decisions "
                          "WHERE decision_id = %s", did)[0]
        assert "13800000000" not in fields and "长安区某路" not in fields, fields
        assert rev == revision_of(fields), did
        assert rev != unmasked_revision(w, did), "the revision covers unmasked fields"
        # what both platforms received as the idempotency key (city) and BBH (province)
        assert w.city.published()[did] == rev
        assert w.prov.published()[did] == rev
    assert w.ep.stop() == 0


def _same_check_char_birth(seed, birth):
    """Another adult birth date whose ID number (same seed) masks the same."""
    first = h.valid_idno(birth, seed)
    day = birth
    for _ in range(4000):
        day -= datetime.timedelta(days=1)
        other = h.valid_idno(day, seed)
        if other[-1] == first[-1]:
            return other
    raise AssertionError("no birth date with the same check character")


def test_a_change_to_fields_never_published_sends_nothing():
    w = h.World()
    people = insert_people(w, 4)
    w.ep.start_daemon()
    wait_published(w, people)
    before = (sent(w.city), sent(w.prov))
    revs = dict(w.q("SELECT decision_id, revision FROM epsync.decisions "
                    "WHERE decision_id = ANY(%s)", people))

    # phone, address, and the hidden digits of the ID number (a birth date
    # whose ID number keeps its first 6 and last 4 characters)
    h.update_decision(w.src, people[0], party_phone="13911112222")
    h.update_decision(w.src, people[1], party_address="河北省石家庄市新华区另一路9号")
    idno = w.q("SELECT party_id_no FROM epsync_source.decisions WHERE decision_id = %s",
               people[2])[0][0]
    other = _same_check_char_birth(people[2], datetime.date(1985, 6, 15))
    assert idno[:6] == other[:6] and idno[-4:] == other[-4:] and idno != other
    h.update_decision(w.src, people[2], party_id_no=other)
    # and one published field, so the test can tell that detection ran
    h.update_decision(w.src, people[3], penalty_content="警告，罚款人民币6000元")
    wait_detected(w, people)
    wait_published(w, people)

    after = (sent(w.city), sent(w.prov))
    for b, a, kind in ((before[0], after[0], "city"), (before[1], after[1], "province")):
        new = a[len(b):]
        assert a[:len(b)] == b, kind
        assert [x[1] for x in new] == [people[3]], (kind, new)
        assert new[0][0] == "update", (kind, new)
    now = dict(w.q("SELECT decision_id, revision FROM epsync.decisions "
                   "WHERE decision_id = ANY(%s)", people))
    assert all(now[d] == revs[d] for d in people[:3]), "a hidden field changed the revision"
    assert now[people[3]] != revs[people[3]]
    assert w.ep.stop() == 0


# --- item 4: the migration from schema 2 sends nothing ---------------------------------------

DOWNGRADE_TO_2 = """
-- what versions 4 to 7 added, undone (their own tests cover them)
DROP TABLE epsync.deadline_alerts;
DROP INDEX epsync.deliveries_stuck;
DROP TRIGGER deliveries_history_insert ON epsync.deliveries;
DROP TRIGGER deliveries_history_update ON epsync.deliveries;
DROP FUNCTION epsync.delivery_history_inserted();
DROP FUNCTION epsync.delivery_history_updated();
DROP TABLE epsync.delivery_history;
DROP TABLE epsync.daemons;
DROP FUNCTION epsync.grant_roles();
CREATE TABLE epsync.audit_head (id int);
-- what version 3 added
ALTER TABLE epsync.deliveries DROP COLUMN lease_token, DROP COLUMN due_on;
DROP SEQUENCE epsync.lease_tokens;
ALTER TABLE epsync.decisions DROP COLUMN legacy;
DROP INDEX IF EXISTS epsync.deliveries_next;
CREATE INDEX deliveries_due ON epsync.deliveries (target, next_attempt_at)
    WHERE state IN ('pending', 'retry', 'withdraw_pending');
DELETE FROM epsync.schema_version WHERE version > 2;
"""


def test_migrating_a_published_state_database_sends_nothing():
    w = h.World()
    people = insert_people(w, 3)
    firms = [h.insert_decision(w.src)["decision_id"] for _ in range(3)]
    ids = people + firms
    w.ep.start_daemon()
    wait_published(w, ids)
    assert w.ep.stop() == 0

    # The state database as schema 2 left it: revisions of the unmasked rows.
    w.q(DOWNGRADE_TO_2)
    for did in ids:
        old = unmasked_revision(w, did)
        w.q("UPDATE epsync.decisions SET revision = %s WHERE decision_id = %s", old, did)
        w.q("UPDATE epsync.deliveries SET want_revision = %s, published_revision = %s "
            "WHERE decision_id = %s", old, old, did)
    w.state.commit()
    r = w.ep.run(["migrate"])
    assert r.returncode == 0 and "from version 2 to %d" % h.schema_version() in r.stdout, \
        r.stdout + r.stderr
    assert w.q("SELECT count(*) FROM epsync.decisions WHERE legacy")[0][0] == len(ids)
    before = (sent(w.city), sent(w.prov))

    w.ep.start_daemon()
    w.ep.wait_until(lambda: w.q("SELECT count(*) FROM epsync.decisions WHERE legacy")[0][0] == 0,
                    what="the legacy revisions to be rebased")
    # touch every row, and change a phone: still nothing to send
    for did in ids:
        h.update_decision(w.src, did, doc_no=w.q(
            "SELECT doc_no FROM epsync_source.decisions WHERE decision_id = %s", did)[0][0])
    h.update_decision(w.src, people[0], party_phone="13700000000")
    wait_detected(w, ids)
    assert (sent(w.city), sent(w.prov)) == before, "the migration sent something"

    for did in ids:
        fields, rev = w.q("SELECT fields::text, revision FROM epsync.decisions "
                          "WHERE decision_id = %s", did)[0]
        assert rev == revision_of(fields)
        rows = w.q("SELECT state, want_revision, published_revision, due_on FROM "
                   "epsync.deliveries WHERE decision_id = %s", did)
        assert rows and all(r == ("published", rev, rev, r[3]) and r[3] for r in rows), rows
    rebased = w.q("SELECT count(*) FROM epsync.audit WHERE operation = 'rebase' "
                  "AND detail LIKE 'revision rebased %%'")[0][0]
    assert rebased == len(ids)
    assert "revisions rebased" in w.ep.log()
    assert w.ep.stop() == 0
    r = w.ep.run(["verify-audit"])
    assert r.returncode == 0, r.stdout + r.stderr


# --- item 3: leases ---------------------------------------------------------------------------

def test_check_config_refuses_a_timeout_that_does_not_fit_in_the_lease():
    tmp = h.make_tmpdir()
    pg = h.shared_cluster()
    city = h.OfflineTarget("city", tmp)
    cfg = h.write_config(tmp, pg, [city], delivery={"lease": "10s"},
                         targets={"city": {"timeout": "9s"}})
    r = h.Epsync(config=cfg).run(["check-config"])
    assert r.returncode == 78, r.stdout + r.stderr
    assert "targets.city.timeout" in r.stderr and "delivery.lease" in r.stderr, r.stderr
    cfg = h.write_config(tmp, pg, [city], delivery={"lease": "10s"},
                         targets={"city": {"timeout": "8s"}})
    r = h.Epsync(config=cfg).run(["check-config"])
    assert r.returncode == 0, r.stdout + r.stderr


def _owner_rows(w, pid):
    return w.q("SELECT count(*) FROM epsync.deliveries WHERE lease_owner LIKE %s "
               "AND lease_until > now()", "%%:%d:%%" % pid)[0][0]


def test_a_process_that_lost_its_lease_records_nothing_and_nothing_is_sent_twice():
    # Lease 5 s, requests time out after 3 s; the platforms answer after 1 s.
    # Daemon A is frozen (SIGSTOP) with requests out, longer than the lease:
    # the others take its rows over and publish them; when A wakes up its
    # answers are not recorded over theirs ("lease lost").
    slow = {"slow": 1.0, "slow_ms": 1000}
    w = h.World(faults={"city": slow, "province": slow},
                delivery={"lease": "5s"}, poll={"interval": "200ms"},
                targets={"city": {"timeout": "3s", "max_in_flight": 2},
                         "province": {"timeout": "3s", "max_in_flight": 1, "batch_size": 5}})
    others = [h.Epsync(config=w.config) for _ in range(2)]
    ids = h.insert_decisions(w.pg, w.db, 30)
    w.ep.start_daemon()
    w.ep.wait_until(lambda: _owner_rows(w, w.ep.proc.pid) > 0, timeout=30,
                    what="daemon A to hold leases")
    time.sleep(0.2)   # its requests are out (the platforms take 1 s to answer)
    os.kill(w.ep.proc.pid, signal.SIGSTOP)
    try:
        for ep in others:
            ep.start_daemon()
        others[0].wait_until(lambda: w.q(
            "SELECT count(*) FROM epsync.deliveries WHERE decision_id = ANY(%s) "
            "AND state = 'published'", ids)[0][0] == 2 * len(ids), timeout=90,
            what="the others to publish everything")
    finally:
        os.kill(w.ep.proc.pid, signal.SIGCONT)
    w.ep.wait_until(lambda: w.q("SELECT count(*) FROM epsync.audit "
                                "WHERE operation = 'lease_lost'")[0][0] > 0,
                    timeout=30, what="daemon A to find its leases lost")
    assert "lease lost, outcome not recorded" in w.ep.log()
    lost = w.q("SELECT detail FROM epsync.audit WHERE operation = 'lease_lost'")
    assert all("lease lost" in d for (d,) in lost), lost

    # Withdrawals: all three daemons, the platform still slow.
    revoked = ids[:10]
    for did in revoked:
        h.revoke_decision(w.src, did)
    w.ep.wait_until(lambda: w.q(
        "SELECT count(*) FROM epsync.deliveries WHERE decision_id = ANY(%s) "
        "AND state = 'withdrawn'", revoked)[0][0] == 2 * len(revoked), timeout=90,
        what="the withdrawals")
    for ep in [w.ep] + others:
        assert ep.stop() == 0, ep.log()[-3000:]

    revs = dict(w.q("SELECT decision_id, revision FROM epsync.decisions "
                    "WHERE decision_id = ANY(%s)", ids))
    for sim in (w.city, w.prov):
        st = sim.assert_clean()
        wrong = {d: st["publications"].get(d) for d in ids
                 if st["publications"].get(d) != {revs[d]: 1}}
        assert not wrong, (sim.kind, wrong)
        withdrawals = [r["decision_id"] for r in sim.records() if r["op"] == "withdraw"]
        assert sorted(withdrawals) == sorted(revoked), (sim.kind, withdrawals)
    # no withdrawal reached the city twice: a second one would find nothing (1004)
    assert not w.city.stats()["requests"].get("not_found_1004"), w.city.stats()["requests"]
    # the history is true: one recorded publication per (decision, target)
    n = w.q("SELECT count(*) FROM epsync.audit WHERE operation = 'attempt' "
            "AND decision_id = ANY(%s) AND detail LIKE 'op=publish result=ok%%'", ids)[0][0]
    assert n == 2 * len(ids), n
    r = w.ep.run(["verify-audit"])
    assert r.returncode == 0, r.stdout + r.stderr


# --- item 5: deadline first --------------------------------------------------------------------

def _order(sim, ids, skip=0):
    return [(r["op"], r["decision_id"]) for r in sim.records()[skip:] if r["decision_id"] in ids]


def _due(w, ids):
    return dict(w.q("SELECT decision_id, due_on FROM epsync.deliveries "
                    "WHERE target = 'city' AND decision_id = ANY(%s)", list(ids)))


def test_a_rate_limited_platform_gets_the_earliest_deadlines_first():
    # One request at a time, 5 a second: the backlog outlasts the rate.
    w = h.World(targets={"province": None, "city": {"rate": "5/s", "max_in_flight": 1}},
                delivery={"lease": "60s"})
    today = h.today_cst()
    # Decided over 40 days; stored in an order opposite to their deadlines
    # (ids sort the latest deadline first).
    rows = []
    for k in range(30):
        decided = today - datetime.timedelta(days=1 + (k * 7) % 40)
        rows.append(h.decision_defaults(decision_id="DL-A-%03d" % (100 - k),
                                        decided_on=decided))
    rows.sort(key=lambda r: r["decided_on"], reverse=True)
    for i, r in enumerate(rows):
        r["decision_id"] = "DL-A-%03d" % i
    _insert_rows(w, rows)
    first = [r["decision_id"] for r in rows]
    w.ep.start_daemon()
    wait_published(w, first, targets=("city",))
    due = _due(w, first)
    order = [d for op, d in _order(w.city, set(first))]
    assert sorted(order) == sorted(first)
    assert [due[d] for d in order] == sorted(due[d] for d in order), \
        [(d, str(due[d])) for d in order]
    assert w.ep.stop() == 0
    skip = len(w.city.records())

    # The five earliest are revoked; 20 new ones arrive, five of them of the
    # same age as the revoked: the withdrawals go first, then by deadline.
    oldest = sorted(first, key=lambda d: due[d])[:5]
    for did in oldest:
        h.revoke_decision(w.src, did)
    base = w.q("SELECT decided_on FROM epsync_source.decisions WHERE decision_id = %s",
               oldest[0])[0][0]
    new = []
    for k in range(20):
        decided = base if k < 5 else today - datetime.timedelta(days=1 + k)
        new.append(h.decision_defaults(decision_id="DL-B-%03d" % (99 - k), decided_on=decided))
    _insert_rows(w, new)
    second = [r["decision_id"] for r in new]
    w.ep.start_daemon()
    w.ep.wait_until(lambda: w.q(
        "SELECT count(*) FROM epsync.deliveries WHERE target = 'city' AND ("
        "(decision_id = ANY(%s) AND state = 'withdrawn') OR "
        "(decision_id = ANY(%s) AND state = 'published'))", oldest, second)[0][0] == 25,
        timeout=60, what="the second backlog")
    due.update(_due(w, second))
    order = _order(w.city, set(oldest) | set(second), skip)
    keys = [(due[d], 0 if op == "withdraw" else 1) for op, d in order]
    assert keys == sorted(keys), [(op, d, str(due[d])) for op, d in order]
    assert order[0][0] == "withdraw", order[:6]
    assert w.ep.stop() == 0


def _insert_rows(w, rows):
    cols = list(rows[0])
    sql = "INSERT INTO epsync_source.decisions (%s) VALUES (%s)" % (
        ", ".join(cols), ", ".join(["%s"] * len(cols)))
    with w.src.cursor() as cur:
        cur.executemany(sql, [[r[c] for c in cols] for r in rows])
