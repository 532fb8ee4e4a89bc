"""epsync show / retry / withdraw against a real PostgreSQL.

The state database is created with `epsync migrate` and seeded directly;
the operator commands must change exactly the rows they name, write one
audit event per changed delivery with the OS user as actor (and keep the
hash chain intact: `epsync verify-audit`), and wake running daemons with
NOTIFY epsync_wake.
"""

import datetime
import json
import os
import pwd
import select
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402

REV = "b" * 64
_env = {}


Target = harness.OfflineTarget


def env():
    if not _env:
        pg = harness.shared_cluster()
        tmp = harness.make_tmpdir()
        dbname = pg.createdb(harness.fresh_dbname("ops"))
        cfg = harness.write_config(tmp, pg, [Target("city", tmp), Target("province", tmp)],
                                   dbname=dbname)
        ep = harness.Epsync(config=cfg)
        r = ep.run(["migrate"])
        assert r.returncode == 0, r.stderr
        _env.update(pg=pg, db=dbname, ep=ep, conn=pg.connect(dbname))
        seed(_env["conn"])
    return _env


def add_decision(conn, did, invalid_reasons=None):
    with conn.cursor() as cur:
        cur.execute("INSERT INTO epsync.decisions (decision_id, kind, decided_on, src_state, "
                    "revision, fields, invalid_reasons) VALUES (%s, 'penalty', %s, 'final', %s, "
                    "%s, %s)",
                    (did, harness.today_cst() - datetime.timedelta(days=3), REV,
                     json.dumps({"party_name": "石家庄某商贸有限公司",
                                 "party_id_no": "130102********123X",
                                 "penalty_content": "警告，罚款人民币5000元"}, ensure_ascii=False),
                     invalid_reasons))


def add_delivery(conn, did, target, state, published=False, want_withdraw=False,
                 lease=False, last_error=None):
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO epsync.deliveries (decision_id, target, state, want_revision, "
            "published_revision, receipt, want_withdraw, attempts, total_attempts, "
            "next_attempt_at, lease_owner, lease_until, last_error, first_published_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, 5, 9, now() + interval '1 hour', %s, %s, %s, %s)",
            (did, target, state, REV, REV if published else None,
             "RCPT-" + did if published else None, want_withdraw,
             "host:123" if lease else None,
             datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
             if lease else None, last_error,
             datetime.datetime.now(datetime.timezone.utc) if published else None))


def seed(c):
    add_decision(c, "O-1", invalid_reasons=["party_credit_code: check digit"])
    add_delivery(c, "O-1", "city", "rejected", lease=True, last_error="1001 格式错误")
    add_delivery(c, "O-1", "province", "invalid")
    add_decision(c, "O-2")
    add_delivery(c, "O-2", "city", "retry", last_error="HTTP 503")
    add_delivery(c, "O-2", "province", "published", published=True)
    add_decision(c, "O-3")
    add_delivery(c, "O-3", "city", "rejected", published=True, want_withdraw=True,
                 last_error="withdraw refused")
    add_delivery(c, "O-3", "province", "excluded")
    add_decision(c, "O-4")
    add_delivery(c, "O-4", "city", "published", published=True)
    add_delivery(c, "O-4", "province", "retry")
    add_decision(c, "O-5")
    add_delivery(c, "O-5", "city", "excluded")
    add_delivery(c, "O-5", "province", "withdrawn", published=False)


def row(did, target):
    e = env()
    cols = ["state", "attempts", "total_attempts", "lease_owner", "lease_until",
            "next_attempt_at <= now()", "want_withdraw", "withdraw_type", "withdraw_reason"]
    (r,) = e["pg"].psql("SELECT %s FROM epsync.deliveries WHERE decision_id = %%s AND "
                        "target = %%s" % ", ".join(cols), dbname=e["db"], params=(did, target))
    return dict(zip(["state", "attempts", "total_attempts", "lease_owner", "lease_until",
                     "due_now", "want_withdraw", "withdraw_type", "withdraw_reason"], r))


def audit(did=None, operation=None):
    e = env()
    return e["pg"].psql(
        "SELECT actor, decision_id, target, operation, detail, message FROM epsync.audit "
        "WHERE (%s::text IS NULL OR decision_id = %s) AND (%s::text IS NULL OR operation = %s) "
        "ORDER BY seq", dbname=e["db"], params=(did, did, operation, operation))


def os_user():
    return pwd.getpwuid(os.getuid()).pw_name


def listener():
    conn = env()["pg"].connect(env()["db"])
    with conn.cursor() as cur:
        cur.execute("LISTEN epsync_wake")
    return conn


def notified(conn, timeout=5.0):
    if select.select([conn], [], [], timeout) == ([], [], []):
        return []
    conn.poll()
    got = [n.channel for n in conn.notifies]
    conn.notifies.clear()
    return got


def test_retry_needs_a_selector_and_known_names():
    ep = env()["ep"]
    for args in ([], ["--state", "broken"], ["--target", "nowhere"], ["O-1", "O-2"],
                 ["--bogus"]):
        r = ep.run(["retry"] + args)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
        assert "usage" in r.stderr or "target" in r.stderr, (args, r.stderr)
    r = ep.run(["retry", "NO-SUCH-ID"])
    assert r.returncode == 64 and "NO-SUCH-ID" in r.stderr
    assert audit(operation="retry") == []


def test_retry_by_target_and_state_requeues_only_those():
    lis = listener()
    ep = env()["ep"]
    r = ep.run(["retry", "--target", "city", "--state", "rejected"])
    assert r.returncode == 0, r.stderr
    assert "requeued 2 deliveries" in r.stdout, r.stdout
    o1 = row("O-1", "city")
    assert o1["state"] == "pending" and o1["attempts"] == 0 and o1["due_now"]
    assert o1["lease_owner"] is None and o1["lease_until"] is None
    assert o1["total_attempts"] == 9            # history is kept
    # a rejected withdrawal goes back to being a withdrawal
    assert row("O-3", "city")["state"] == "withdraw_pending"
    # untouched: other state, other target
    assert row("O-2", "city")["state"] == "retry"
    assert row("O-1", "province")["state"] == "invalid"
    events = audit(operation="retry")
    assert sorted((a[1], a[2], a[4]) for a in events) == [
        ("O-1", "city", "rejected->pending"), ("O-3", "city", "rejected->withdraw_pending")]
    assert all(a[0] == os_user() for a in events)
    assert "epsync_wake" in notified(lis)
    lis.close()


def test_retry_of_an_invalid_decision_asks_for_a_fresh_read():
    e = env()
    r = e["ep"].run(["retry", "O-1"])
    assert r.returncode == 0, r.stderr
    assert "requeued 1 delivery" in r.stdout, r.stdout
    assert row("O-1", "province")["state"] == "pending"
    (rc,) = e["pg"].psql("SELECT recheck FROM epsync.decisions WHERE decision_id = 'O-1'",
                         dbname=e["db"])
    assert rc == (True,)
    (other,) = e["pg"].psql("SELECT recheck FROM epsync.decisions WHERE decision_id = 'O-2'",
                            dbname=e["db"])
    assert other == (False,)
    assert [a[4] for a in audit("O-1", "retry")][-1] == "invalid->pending"


def test_retry_failed_means_state_retry():
    # O-4 province's next attempt is in flight: another process holds its lease.
    e = env()
    e["pg"].psql("UPDATE epsync.deliveries SET lease_owner = 'host:456', "
                 "lease_until = now() + interval '5 minutes', lease_token = 77 "
                 "WHERE decision_id = 'O-4' AND target = 'province'", dbname=e["db"])
    r = env()["ep"].run(["retry", "--state", "failed"])
    assert r.returncode == 0, r.stderr
    assert "requeued 2 deliveries" in r.stdout, r.stdout    # O-2 city, O-4 province
    assert row("O-2", "city")["state"] == "pending"
    assert row("O-4", "province")["state"] == "pending"
    # the attempt in flight keeps its lease: no second process sends it, and
    # its holder still records the outcome
    o4 = row("O-4", "province")
    assert o4["lease_owner"] == "host:456" and o4["lease_until"] is not None, o4
    assert row("O-2", "province")["state"] == "published"
    r = env()["ep"].run(["retry", "--state", "failed"])
    assert r.returncode == 0 and "requeued 0 deliveries" in r.stdout


def test_withdraw_needs_a_reason_and_a_known_id():
    ep = env()["ep"]
    before = len(audit(operation="withdraw"))
    for args in (["O-4"], ["O-4", "--reason", "  "], ["--reason", "x"], ["O-4", "O-2",
                                                                         "--reason", "x"]):
        r = ep.run(["withdraw"] + args)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
    r = ep.run(["withdraw", "NO-SUCH-ID", "--reason", "x"])
    assert r.returncode == 64 and "NO-SUCH-ID" in r.stderr
    assert len(audit(operation="withdraw")) == before
    assert row("O-4", "city")["state"] == "published"


def test_withdraw_takes_down_where_published_and_cancels_elsewhere():
    lis = listener()
    reason = "行政复议撤销（复议决定书 石政复〔2026〕12号）"
    r = env()["ep"].run(["withdraw", "O-4", "--reason", reason])
    assert r.returncode == 0, r.stderr
    city, prov = row("O-4", "city"), row("O-4", "province")
    assert city["state"] == "withdraw_pending" and city["want_withdraw"]
    assert city["withdraw_type"] == "OPERATOR" and city["withdraw_reason"] == reason
    assert city["due_now"]
    assert prov["state"] == "cancelled" and prov["want_withdraw"]
    events = audit("O-4", "withdraw")
    assert sorted((a[2], a[4]) for a in events) == [
        ("city", "published->withdraw_pending"), ("province", "pending->cancelled")]
    assert all(a[0] == os_user() and a[5] == reason for a in events)
    assert "epsync_wake" in notified(lis)
    lis.close()
    # Again: nothing left to do, nothing audited.
    r = env()["ep"].run(["withdraw", "O-4", "--reason", reason])
    assert r.returncode == 0 and "nothing to withdraw" in r.stdout
    assert len(audit("O-4", "withdraw")) == 2


def test_withdraw_leaves_excluded_and_withdrawn_alone():
    r = env()["ep"].run(["withdraw", "O-5", "--reason", "duplicate record"])
    assert r.returncode == 0 and "nothing to withdraw" in r.stdout
    assert row("O-5", "city")["state"] == "excluded"
    assert row("O-5", "province")["state"] == "withdrawn"


def test_operator_events_keep_the_audit_chain_intact():
    r = env()["ep"].run(["verify-audit"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_show_prints_fields_targets_attempts_and_audit():
    e = env()
    # One attempt as the daemon records it (appended after the chain was
    # verified above: this row is not chained).
    e["pg"].psql(
        "INSERT INTO epsync.audit (seq, at, actor, decision_id, target, operation, attempt, "
        "http_status, code, message, latency_ms, receipt, prev_hash, hash) "
        "SELECT coalesce(max(seq), 0) + 1, now(), 'daemon', 'O-2', 'province', 'attempt', 1, "
        "200, '0', '成功', 41, 'RCPT-O-2', repeat('0', 64), repeat('0', 64) FROM epsync.audit",
        dbname=e["db"])
    r = e["ep"].run(["show", "O-2"])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Decision O-2" in out
    assert "130102********123X" in out and "警告，罚款人民币5000元" in out
    assert "due_on:" in out
    for needle in ("Targets (2)", "  city\n", "  province\n", "RCPT-O-2", "HTTP 503",
                   "Attempts (1)", "http=200", "成功"):
        assert needle in out, (needle, out)
    # the audit section lists the operator's retry of O-2, by the OS user
    audit_part = out[out.index("Audit events"):]
    assert "operation=retry" in audit_part and "actor=" + os_user() in audit_part
    assert "detail=retry->pending" in audit_part
    assert out.index("Fields") < out.index("Targets") < out.index("Attempts") < \
        out.index("Audit events")


def test_show_unknown_id_or_no_id_is_usage():
    ep = env()["ep"]
    r = ep.run(["show", "NO-SUCH-ID"])
    assert r.returncode == 64 and "NO-SUCH-ID" in r.stderr
    r = ep.run(["show"])
    assert r.returncode == 64


def test_commands_on_a_missing_schema_exit_69():
    pg = harness.shared_cluster()
    tmp = harness.make_tmpdir()
    dbname = pg.createdb(harness.fresh_dbname("empty"))
    ep = harness.Epsync(config=harness.write_config(tmp, pg, [Target("city", tmp)],
                                                    dbname=dbname))
    for args in (["show", "X"], ["retry", "X"], ["withdraw", "X", "--reason", "r"]):
        r = ep.run(args)
        assert r.returncode == 69, (args, r.returncode, r.stderr)
        assert "epsync migrate" in r.stderr


def teardown_module():
    if _env.get("conn"):
        _env["conn"].close()
    _env.clear()
