"""docs/protocols.md, row by row: every answer of both platforms' tables, served
by the simulators, and the state it must leave in epsync.deliveries (state,
receipt, last_code, last_error verbatim, attempts) and at the platform
(the simulator's records and counts).

Faults are switched on at rate 1.0 and off again once the delivery shows
the failure, so each row is deterministic; the one per-record rate
(province RETRY) is judged on what actually happened.
"""

import datetime
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
OTHER_REV = "ab" * 32       # a revision epsync never computes
ROW_COLS = ("state", "receipt", "last_code", "last_error", "last_http", "attempts",
            "total_attempts", "published_revision", "want_revision", "reason",
            "withdrawn_at", "next_attempt_at", "updated_at")


class World(h.World):
    """h.World, with the delivery rows, revisions and audit events the
    tables of docs/protocols.md are checked against."""

    def insert(self, n, **fields):
        """n valid penalties (routed to both targets) in one transaction: their ids."""
        return h.insert_decisions(self.pg, self.db, n, **fields)

    def row(self, did, target):
        rows = self.q("SELECT %s FROM epsync.deliveries WHERE decision_id = %%s AND target = %%s"
                      % ", ".join(ROW_COLS), did, target)
        return dict(zip(ROW_COLS, rows[0])) if rows else None

    def wait_row(self, did, target, timeout=60, what=None, **want):
        """Wait until the delivery's columns equal want; the row."""
        def ok():
            r = self.row(did, target)
            return r if r and all(r[k] == v for k, v in want.items()) else None
        return self.ep.wait_until(ok, timeout=timeout, what=what or "%s at %s to have %s (now %s)"
                                  % (did, target, want, self.row(did, target)))

    def revision(self, did):
        """The revision epsync computed (waits for the detection)."""
        def get():
            r = self.q("SELECT revision FROM epsync.decisions WHERE decision_id = %s", did)
            return r[0][0] if r else None
        return self.ep.wait_until(get, timeout=60, what="%s to be detected" % did)

    def audit(self, did, target):
        """The audit events of one delivery, oldest first, as dicts."""
        cols = ("seq", "at", "operation", "attempt", "http_status", "code", "message",
                "receipt", "detail")
        rows = self.q("SELECT %s FROM epsync.audit WHERE decision_id = %%s AND target = %%s "
                      "AND operation IN ('attempt', 'settle') ORDER BY seq" % ", ".join(cols),
                      did, target)
        return [dict(zip(cols, r)) for r in rows]

    def attempts(self, did, target):
        return [a for a in self.audit(did, target) if a["operation"] == "attempt"]

    def warm_city(self):
        """Start the daemon and publish one decision, so the city token is
        held before a fault set that would also hit the token request."""
        self.ep.start_daemon()
        did = self.insert(1)[0]
        self.wait_row(did, "city", state="published")
        return did

    def report_cell(self, did, target):
        r = self.ep.run(["report", "--format", "json"])
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
        cells = [d["targets"].get(target) for d in rep["decisions"] if d["decision_id"] == did]
        assert cells and cells[0], (did, target, r.stdout[:2000])
        return cells[0]

    def verify_audit(self):
        r = self.ep.run(["verify-audit"])
        assert r.returncode == 0, r.stdout + r.stderr


def result_of(event):
    """'ok', 'transient', ... from an audit detail 'op=publish result=ok a->b ...'."""
    for part in (event["detail"] or "").split():
        if part.startswith("result="):
            return part[len("result="):]
    return None


def op_of(event):
    for part in (event["detail"] or "").split():
        if part.startswith("op="):
            return part[len("op="):]
    return None


def request_id_of(event):
    for part in (event["detail"] or "").split():
        if part.startswith("request_id="):
            return part[len("request_id="):]
    return None


def recs(sim, did):
    return [r for r in sim.records() if r.get("decision_id") == did]


# --- talking to the simulators directly (the "other client" of a row) -------------------

def _call(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=10) as r:
            return r.status, json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode("utf-8") or "null")


def city_token(sim):
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": sim.ident,
                                   "client_secret": sim.secret}).encode()
    st, obj = _call("POST", sim.base_url + "/oauth/token", form,
                    {"Content-Type": "application/x-www-form-urlencoded",
                     "X-Request-Id": str(uuid.uuid4())})
    assert st == 200, obj
    return obj["access_token"]


def city_api(sim, method, path, obj, key=None):
    headers = {"Authorization": "Bearer " + city_token(sim),
               "Content-Type": "application/json; charset=utf-8",
               "X-Request-Id": str(uuid.uuid4())}
    if key:
        headers["Idempotency-Key"] = key
    st, ans = _call(method, sim.base_url + path, json.dumps(obj, ensure_ascii=False).encode(),
                    headers)
    assert st == 200, (st, ans)
    return ans


def city_publish_elsewhere(sim, did, rev=OTHER_REV):
    """Another client publishes did under another Idempotency-Key: its receipt."""
    body = {"sourceId": did, "kind": "penalty",
            "decidedOn": (h.today_cst() - datetime.timedelta(days=1)).isoformat(),
            "party": {"name": "石家庄某商贸有限公司"}, "authority": {"name": h.AUTHORITY}}
    ans = city_api(sim, "POST", "/api/v1/decisions", body, key="%s:%s" % (did, rev))
    assert ans["code"] == "0", ans
    return ans["data"]["receiptNo"]


def city_withdraw_elsewhere(sim, receipt):
    ans = city_api(sim, "POST", "/api/v1/decisions/%s/withdraw" % receipt,
                   {"reason": "平台人工撤下", "type": "OPERATOR"})
    assert ans["code"] == "0", ans


def prov_revoke_elsewhere(sim, record_id):
    path = "/gateway/v2/publicity/revoke"
    body = json.dumps({"recordId": record_id, "reason": "平台人工撤下",
                       "revokeType": "OPERATOR"}, ensure_ascii=False).encode()
    ts, nonce = str(int(time.time() * 1000)), secrets.token_hex(16)
    text = "\n".join(("POST", path, ts, nonce, hashlib.sha256(body).hexdigest()))
    sig = hmac.new(sim.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    st, ans = _call("POST", sim.base_url + path, body, {
        "Content-Type": "application/json; charset=utf-8", "X-App-Id": sim.ident,
        "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": sig,
        "X-Request-Id": str(uuid.uuid4())})
    assert st == 200 and ans.get("success") is True, (st, ans)


# =========================================================================================
# city

def assert_published_once(w, did, target="city", attempts=None):
    """Published at target with the platform's receipt, no error left, and
    the platform holding exactly one publication of epsync's revision."""
    sim = w.city if target == "city" else w.prov
    rev = w.revision(did)
    row = w.wait_row(did, target, state="published")
    st = sim.assert_clean()
    assert st["publications"].get(did) == {rev: 1}, (did, st["publications"].get(did))
    live = st["status"][did]
    assert live["status"] == "PUBLISHED" and live["revision"] == rev, live
    assert row["receipt"] == live["receipt"], (row["receipt"], live)
    assert row["published_revision"] == rev, row
    assert row["last_code"] is None and row["last_error"] is None, row
    assert row["attempts"] == 0, row
    if attempts is not None:
        assert row["total_attempts"] == attempts, row
    return row


def test_city_code_0_published_with_receipt():
    w = World()
    w.ep.start_daemon()
    did = w.insert(1)[0]
    row = assert_published_once(w, did, attempts=1)
    assert row["receipt"].startswith("ZFJD"), row
    pubs = recs(w.city, did)
    assert [r["op"] for r in pubs] == ["publish"] and pubs[0]["receipt"] == row["receipt"]
    assert pubs[0]["key"] == "%s:%s" % (did, w.revision(did)), pubs[0]["key"]
    ev = w.attempts(did, "city")
    assert len(ev) == 1 and result_of(ev[0]) == "ok" and ev[0]["code"] == "0", ev
    assert ev[0]["receipt"] == row["receipt"] and ev[0]["http_status"] == 200, ev
    assert w.ep.stop() == 0
    w.verify_audit()


def test_city_replayed_idempotency_key_keeps_the_receipt():
    # lost_answer: the platform publishes, the answer never arrives; the
    # retry carries the same key and is recognised as a replay.
    w = World()
    w.warm_city()
    w.city.set_faults({"lost_answer": 1.0})
    did = w.insert(1)[0]
    w.ep.wait_until(lambda: recs(w.city, did), timeout=60, what="the lost publication")
    row = w.wait_row(did, "city", state="retry")
    assert row["last_http"] is None and row["last_error"], row
    w.city.set_faults({})
    row = assert_published_once(w, did)
    assert row["total_attempts"] >= 2, row
    pubs = recs(w.city, did)
    assert [r["op"] for r in pubs] == ["publish"], pubs
    assert pubs[0]["receipt"] == row["receipt"], (pubs, row)
    st = w.city.stats()
    assert st["requests"].get("replay", 0) >= 1 and st["duplicates"] == 0, st["requests"]
    ev = w.attempts(did, "city")
    assert result_of(ev[0]) == "transient" and result_of(ev[-1]) == "ok", ev
    assert ev[-1]["receipt"] == pubs[0]["receipt"], ev
    assert w.ep.stop() == 0


def test_city_1002_adopts_the_receipt_then_updates():
    w = World()
    did = w.insert(1)[0]
    receipt = city_publish_elsewhere(w.city, did)
    w.ep.start_daemon()
    rev = w.revision(did)
    row = w.wait_row(did, "city", state="published", published_revision=rev)
    assert row["receipt"] == receipt, (row, receipt)
    assert row["last_code"] is None and row["last_error"] is None, row
    ops = [(r["op"], r["revision"], r["receipt"]) for r in recs(w.city, did)]
    # The other key's publication, then epsync's revision as an update (PUT)
    # of that very receipt: no second publication.
    assert ops == [("publish", OTHER_REV, receipt), ("update", rev, receipt)], ops
    st = w.city.assert_clean()
    assert st["publications"][did] == {OTHER_REV: 1, rev: 1}, st["publications"][did]
    assert st["status"][did] == {"status": "PUBLISHED", "revision": rev, "receipt": receipt}
    ev = w.attempts(did, "city")
    assert [(op_of(e), result_of(e)) for e in ev] == [("publish", "adopt"), ("update", "ok")], ev
    assert ev[0]["code"] == "1002" and ev[0]["message"] == "记录已存在", ev[0]
    assert ev[0]["receipt"] == receipt, ev[0]
    assert w.ep.stop() == 0


def assert_rejected(w, did, target, code, msg, requests_key=None):
    sim = w.city if target == "city" else w.prov
    row = w.wait_row(did, target, state="rejected")
    # A rejection is final: no further attempt, checked once the daemon has
    # detected and settled a later decision (the marker) too.
    marker = w.settle()
    row = w.row(did, target)
    assert row["state"] == "rejected", row
    assert row["last_code"] == code and row["last_error"] == msg, row
    assert row["reason"] == msg, row
    assert row["attempts"] == 1 and row["total_attempts"] == 1, row
    assert row["receipt"] is None and row["published_revision"] is None, row
    st = sim.assert_clean()
    assert did not in st["publications"] and did not in st["status"], st["status"].get(did)
    if requests_key:
        # The marker meets the same refusal when it is refused for its content.
        want = 1 + (w.states(marker["decision_id"]).get(target) == "rejected")
        assert st["requests"].get(requests_key) == want, st["requests"]
    cell = w.report_cell(did, target)
    assert cell["state"] == "rejected" and cell["last_error"] == msg, cell
    ev = w.attempts(did, target)
    assert len(ev) == 1 and result_of(ev[0]) == "permanent", ev
    assert ev[0]["code"] == code and ev[0]["message"] == msg, ev


def test_city_1001_validation_failure_is_rejected_verbatim():
    # A mapping override sends a value the platform refuses (epsync does
    # not validate configured fixed values against the platform's rules).
    w = World(targets={"city": {"fields": {"validUntil": {"value": "2026-13-45"}}}})
    w.ep.start_daemon()
    did = w.insert(1)[0]
    assert_rejected(w, did, "city", "1001", "字段校验失败：validUntil 日期格式错误",
                    "rejected_1001")
    assert_published_once(w, did, "province", attempts=1)
    assert w.ep.stop() == 0


def test_1003_and_province_rejected_are_kept_verbatim():
    # A decision the platforms refuse for good (reject_ids: city 1003,
    # province REJECTED F0301), next to ones they accept.
    w = World()
    ids = w.insert(3)
    bad = ids[1]
    w.city.set_faults({"reject_ids": [bad]})
    w.prov.set_faults({"reject_ids": [bad]})
    w.ep.start_daemon()
    assert_rejected(w, bad, "city", "1003", "该决定不允许公开", "rejected_1003")
    assert_rejected(w, bad, "province", "F0301", "该记录不允许公示")
    for did in (ids[0], ids[2]):
        assert_published_once(w, did, "city", attempts=1)
        assert_published_once(w, did, "province", attempts=1)
    # The refused record and the accepted ones travelled in one batch.
    rid = {d: request_id_of(w.attempts(d, "province")[0]) for d in ids}
    assert len(set(rid.values())) == 1 and None not in rid.values(), rid
    assert w.ep.stop() == 0
    w.verify_audit()


# City transient answers: (name, fault set, what the delivery shows while
# it fails: last_http, last_code, a check of last_error).
CITY_TRANSIENT = [
    ("5001 busy", {"busy": 1.0}, 200, "5001", lambda m: m == "系统繁忙，请稍后重试"),
    ("HTTP 503", {"http5xx": 1.0}, 503, None, lambda m: m == "HTTP 503 with a JSON body"),
    ("timeout", {"slow": 1.0, "slow_ms": 1600}, None, None,
     lambda m: "imeout" in m or "timed out" in m),
    ("reset", {"reset": 1.0}, None, None,
     lambda m: any(w in m for w in ("reset", "Recv failure", "Empty reply"))),
    ("HTML body", {"html": 1.0, "html_status": 200}, 200, None,
     lambda m: m == "HTTP 200 with a non-JSON body (text/html)"),
    ("truncated JSON", {"truncated": 1.0}, 200, None,
     lambda m: m.startswith("HTTP 200 with a non-JSON body")),
]


def test_city_transient_answers_retry_then_publish():
    w = World(targets={"city": {"timeout": "1s"}})
    w.warm_city()
    seen = {}
    for name, faults, http, code, msg_ok in CITY_TRANSIENT:
        w.city.set_faults(faults)
        did = w.insert(1)[0]
        row = w.wait_row(did, "city", state="retry", what="%s: a retry" % name)
        w.city.set_faults({})
        assert row["last_http"] == http and row["last_code"] == code, (name, row)
        assert msg_ok(row["last_error"]), (name, row["last_error"])
        assert row["attempts"] >= 1 and row["receipt"] is None, (name, row)
        seen[name] = row["last_error"]
        row = assert_published_once(w, did)
        assert row["total_attempts"] >= 2, (name, row)
        ev = w.attempts(did, "city")
        assert result_of(ev[0]) == "transient" and ev[0]["code"] == code, (name, ev)
        assert result_of(ev[-1]) == "ok" and ev[-1]["receipt"] == row["receipt"], (name, ev)
        assert [r["op"] for r in recs(w.city, did)] == ["publish"], name
    sys.stderr.write("# last_error seen: %s\n" % "; ".join("%s: %s" % kv for kv in seen.items()))
    assert w.ep.stop() == 0
    w.verify_audit()


def test_city_429_retry_after_is_waited():
    w = World()
    w.warm_city()
    w.city.set_faults({"http429": 1.0, "retry_after": 2})
    did = w.insert(1)[0]
    row = w.wait_row(did, "city", state="retry")
    w.city.set_faults({})
    assert row["last_http"] == 429 and row["last_code"] is None, row
    assert row["last_error"] == "HTTP 429 rate limited, retry after 2 s", row
    # Retry initial is 200 ms: only Retry-After explains a 2 s wait.
    wait = (row["next_attempt_at"] - row["updated_at"]).total_seconds()
    assert wait >= 2.0, wait
    assert_published_once(w, did)
    ev = w.attempts(did, "city")
    assert result_of(ev[-1]) == "ok" and all(result_of(e) == "transient" for e in ev[:-1]), ev
    gaps = [(b["at"] - a["at"]).total_seconds() for a, b in zip(ev, ev[1:])]
    assert gaps and min(gaps) >= 1.95, gaps
    assert w.ep.stop() == 0


def test_city_update_of_a_lost_receipt_1004_publishes_again():
    w = World()
    w.ep.start_daemon()
    did = w.insert(1)[0]
    first = w.wait_row(did, "city", state="published")["receipt"]
    city_withdraw_elsewhere(w.city, first)      # the platform lost it
    old_rev = w.revision(did)
    h.update_decision(w.src, did, remarks="补正：更正罚没款金额")
    w.ep.wait_until(lambda: w.revision(did) != old_rev, timeout=60, what="the change detected")
    rev = w.revision(did)
    row = w.wait_row(did, "city", state="published", published_revision=rev)
    assert row["receipt"] != first, row
    assert row["last_code"] is None and row["last_error"] is None, row
    ops = [(r["op"], r["receipt"]) for r in recs(w.city, did)]
    assert ops == [("publish", first), ("withdraw", first), ("publish", row["receipt"])], ops
    st = w.city.assert_clean()
    assert st["status"][did] == {"status": "PUBLISHED", "revision": rev, "receipt": row["receipt"]}
    assert st["requests"].get("not_found_1004") == 1, st["requests"]
    ev = w.attempts(did, "city")
    assert [(op_of(e), result_of(e)) for e in ev] == [
        ("publish", "ok"), ("update", "not_found"), ("publish", "ok")], ev
    assert ev[1]["code"] == "1004" and ev[1]["message"] == "记录不存在", ev[1]
    assert w.ep.stop() == 0


def test_city_token_revoked_is_renewed_not_an_attempt():
    w = World()
    w.warm_city()
    issued = w.city.stats()["requests"]["token_issued"]
    w.city.revoke_tokens()
    did = w.insert(1)[0]
    assert_published_once(w, did, attempts=1)
    req = w.city.stats()["requests"]
    assert req.get("unauthorized", 0) >= 1, req
    assert req["token_issued"] == issued + 1, req
    ev = w.attempts(did, "city")
    assert len(ev) == 1 and result_of(ev[0]) == "ok", ev
    assert w.ep.stop() == 0


def test_city_token_refused_again_after_renewal_is_a_failure_not_a_loop():
    # "Renew once and repeat the call": when fresh tokens are refused as
    # well, the call has failed; renewing again at once, forever, hammers
    # the token endpoint and leaves the delivery pending with no trace.
    # epsync tolerates up to 5 renewals that no call got through with
    # (several revocations in a row happen when many calls are in flight),
    # then counts each refusal as a failed attempt, with backoff.
    w = World()
    w.warm_city()
    issued = w.city.stats()["requests"]["token_issued"]
    w.city.set_faults({"token_revoke_rate": 1.0})
    did = w.insert(1)[0]

    def failed():
        r = w.row(did, "city")
        return r if r and r["state"] == "retry" and r["last_http"] == 401 else None

    try:
        row = w.ep.wait_until(failed, timeout=60, what="the second 401 recorded as a failure")
    except TimeoutError:
        raise AssertionError("after 60 s: %d token requests, %d refused calls, delivery %s" % (
            w.city.stats()["requests"]["token_issued"] - issued,
            w.city.stats()["requests"].get("unauthorized", 0), w.row(did, "city"))) from None
    finally:
        st = w.city.stats()
        w.city.set_faults({})
    renewals = st["requests"]["token_issued"] - issued
    assert renewals <= 5 + 2 * row["total_attempts"] + 1, (renewals, row)
    assert row["total_attempts"] >= 1 and row["last_error"], row
    assert_published_once(w, did)
    assert w.ep.stop() == 0


def test_city_bad_credentials_pause_the_target():
    w = World()
    with open(w.city.secret_file, "w") as f:
        f.write("wrong-secret\n")
    w.ep.start_daemon()
    did = w.insert(1)[0]
    w.wait_row(did, "province", state="published")
    w.ep.wait_until(lambda: "paused" in w.ep.log() and "credentials" in w.ep.log(), timeout=60,
                    what="the city paused for its credentials")
    row = w.row(did, "city")
    assert row["state"] == "pending" and row["total_attempts"] == 0, row
    st = w.city.stats()
    assert st["requests"].get("token_invalid_client", 0) >= 1, st["requests"]
    assert st["publications_total"] == 0, st
    assert w.ep.stop() == 0


def test_withdraw_done_and_already_gone_at_both_platforms():
    # city withdraw 0 / 1004, province revoke success / F0404.
    w = World()
    w.ep.start_daemon()
    plain, gone = w.insert(2)
    for did in (plain, gone):
        w.wait_row(did, "city", state="published")
        w.wait_row(did, "province", state="published")
    receipts = {t: w.row(gone, t)["receipt"] for t in ("city", "province")}
    city_withdraw_elsewhere(w.city, receipts["city"])
    prov_revoke_elsewhere(w.prov, receipts["province"])
    h.revoke_decision(w.src, plain)
    h.revoke_decision(w.src, gone)
    for did in (plain, gone):
        for t in ("city", "province"):
            row = w.wait_row(did, t, state="withdrawn")
            assert row["withdrawn_at"] is not None and row["published_revision"] is None, row
            assert row["last_code"] is None and row["last_error"] is None, row
    for sim in (w.city, w.prov):
        st = sim.assert_clean()
        assert st["status"][plain]["status"] == "WITHDRAWN", st["status"][plain]
        assert st["status"][gone]["status"] == "WITHDRAWN", st["status"][gone]
        # plain: epsync's withdrawal; gone: only the platform's own.
        wd = [(r["decision_id"], r["type"]) for r in sim.records() if r["op"] == "withdraw"]
        assert sorted(wd) == sorted([(plain, "REVOKED"), (gone, "OPERATOR")]), (sim.kind, wd)
    want = {("city", plain): ("ok", "0"), ("city", gone): ("gone", "1004"),
            ("province", plain): ("ok", None), ("province", gone): ("gone", "F0404")}
    for (t, did), (res, code) in want.items():
        ev = [e for e in w.attempts(did, t) if op_of(e) == "withdraw"]
        assert len(ev) == 1 and result_of(ev[0]) == res and ev[0]["code"] == code, (t, did, ev)
        assert "->withdrawn" in ev[0]["detail"], ev[0]
    assert w.ep.stop() == 0
    w.verify_audit()


# =========================================================================================
# province

def test_province_accepted_then_same_sjly_id_other_bbh_replaces():
    w = World()
    w.ep.start_daemon()
    ids = w.insert(3)
    rows = {did: assert_published_once(w, did, "province", attempts=1) for did in ids}
    assert all(r["receipt"].startswith("HB") for r in rows.values()), rows
    assert len({r["receipt"] for r in rows.values()}) == 3, rows
    did = ids[0]
    old_rev = w.revision(did)
    h.update_decision(w.src, did, penalty_content="警告，罚款人民币6000元",
                      fine_amount=6000)
    w.ep.wait_until(lambda: w.revision(did) != old_rev, timeout=60, what="the change detected")
    rev = w.revision(did)
    row = w.wait_row(did, "province", state="published", published_revision=rev)
    assert row["receipt"] == rows[did]["receipt"], row
    ops = [(r["op"], r["revision"], r["receipt"]) for r in recs(w.prov, did)]
    assert ops == [("publish", old_rev, row["receipt"]), ("update", rev, row["receipt"])], ops
    st = w.prov.assert_clean()
    assert st["status"][did] == {"status": "PUBLISHED", "revision": rev,
                                 "receipt": row["receipt"]}
    assert w.ep.stop() == 0


def test_province_record_retry_is_for_that_record_only():
    w = World(faults={"province": {"record_retry": 0.5}}, seed=3)
    w.ep.start_daemon()
    ids = w.insert(8)
    for did in ids:
        w.wait_row(did, "province", state="published", timeout=60)
    w.prov.assert_clean()
    first = {did: w.attempts(did, "province")[0] for did in ids}
    retried = [d for d in ids if result_of(first[d]) == "transient"]
    at_once = [d for d in ids if result_of(first[d]) == "ok"]
    assert retried and at_once, {d: result_of(e) for d, e in first.items()}
    # Those that got RETRY and those accepted shared a batch: the RETRY
    # touched only its own records.
    shared = {request_id_of(first[d]) for d in retried} & {request_id_of(first[d])
                                                           for d in at_once}
    assert shared, first
    for d in retried:
        e = first[d]
        assert e["code"] == "S0500" and e["message"] == "入库超时", e
        assert w.row(d, "province")["total_attempts"] >= 2
    for d in at_once:
        assert_published_once(w, d, "province", attempts=1)
    assert w.ep.stop() == 0


# Whole-batch failures: every record of the batch is transient.
PROV_BATCH_FAIL = [
    ("HTTP 503", {"http5xx": 1.0}, 503, None, "HTTP 503 with a JSON body"),
    ("HTTP 429", {"http429": 1.0, "retry_after": 1}, 429, None,
     "HTTP 429 rate limited, retry after 1 s"),
    ("S0503", {"busy": 1.0}, 200, "S0503", "S0503: 系统繁忙"),
]


def test_province_whole_batch_failures_are_transient_for_every_record():
    w = World()
    w.ep.start_daemon()
    for name, faults, http, code, msg in PROV_BATCH_FAIL:
        w.prov.set_faults(faults)
        ids = w.insert(3)
        rows = [w.wait_row(d, "province", state="retry", what="%s: retry" % name) for d in ids]
        w.prov.set_faults({})
        for r in rows:
            assert (r["last_http"], r["last_code"], r["last_error"]) == (http, code, msg), \
                (name, r)
        first = [w.attempts(d, "province")[0] for d in ids]
        assert len({request_id_of(e) for e in first}) == 1, (name, first)
        assert all(result_of(e) == "transient" for e in first), (name, first)
        for d in ids:
            row = assert_published_once(w, d, "province")
            assert row["total_attempts"] >= 2, (name, row)
    assert w.ep.stop() == 0


def test_province_413_splits_the_batch_and_publishes_all():
    # The gateway here takes at most 100 kB (body_limit); eight records of
    # about 30 kB each go out as one batch of batch_size 100, meet 413, and
    # must be split until they fit.  A split is not an attempt.
    w = World(faults={"province": {"body_limit": 100_000}},
              targets={"province": {"batch_size": 100}})
    facts = "当事人销售的产品经抽样检验不合格，" * 600      # ~10,000 characters
    ids = w.insert(8, violation_facts=facts)
    w.ep.start_daemon()
    for did in ids:
        assert_published_once(w, did, "province", attempts=1)
    st = w.prov.stats()
    assert st["requests"].get("too_large_413", 0) >= 2, st["requests"]
    sizes = [len(json.dumps(r["body"], ensure_ascii=False).encode()) for r in w.prov.records()]
    assert min(sizes) > 25_000, sizes       # the big facts went out whole
    assert w.ep.stop() == 0


def test_province_413_for_a_single_record_is_not_resent_forever():
    # A batch of one cannot be split: a 413 for it must end as a recorded
    # failure (rejected, or a retry with backoff), not as the same request
    # sent again at once, unboundedly, with the delivery showing nothing.
    w = World(faults={"province": {"body_limit": 10_000}})
    facts = "当事人销售的产品经抽样检验不合格，" * 600      # ~30 kB of UTF-8
    did = w.insert(1, violation_facts=facts)[0]
    w.ep.start_daemon()

    def recorded():
        r = w.row(did, "province")
        return r if r and r["state"] in ("rejected", "retry") and r["last_http"] == 413 else None

    try:
        row = w.ep.wait_until(recorded, timeout=60, what="the 413 of a lone record recorded")
    except TimeoutError:
        raise AssertionError("after 60 s: %d requests answered 413, delivery %s" % (
            w.prov.stats()["requests"].get("too_large_413", 0),
            w.row(did, "province"))) from None
    sent = w.prov.stats()["requests"].get("too_large_413", 0)
    assert row["total_attempts"] >= 1 and row["last_error"], row
    assert sent <= row["total_attempts"] + 1, (sent, row)
    assert w.prov.stats()["publications_total"] == 0
    assert w.ep.stop() == 0


def test_province_short_results_are_transient_for_the_missing_records():
    w = World()
    w.prov.set_faults({"short_results": 1.0})
    w.ep.start_daemon()
    ids = w.insert(3)
    missing = None

    def split_seen():
        nonlocal missing
        rows = {d: w.row(d, "province") for d in ids}
        pub = [d for d, r in rows.items() if r and r["state"] == "published"]
        ret = [d for d, r in rows.items() if r and r["state"] == "retry"]
        if len(pub) == 2 and len(ret) == 1:
            missing = ret[0]
            return rows
        return None

    rows = w.ep.wait_until(split_seen, timeout=60, what="two published, one missing")
    w.prov.set_faults({})
    assert rows[missing]["last_error"] == "no result for this record", rows[missing]
    assert rows[missing]["last_code"] is None and rows[missing]["last_http"] == 200
    first = {d: w.attempts(d, "province")[0] for d in ids}
    assert len({request_id_of(e) for e in first.values()}) == 1, first
    assert result_of(first[missing]) == "transient", first
    for d in ids:
        if d != missing:
            assert result_of(first[d]) == "ok"
            assert_published_once(w, d, "province", attempts=1)
    row = assert_published_once(w, missing, "province")
    assert row["total_attempts"] >= 2, row
    assert w.ep.stop() == 0
