"""The platform simulators and the harness, tested on their own.

These tests speak docs/protocols.md by hand (urllib, hmac): they are the
executable description of what epsync must send and what it gets back,
and they prove every fault mode is observable before the epsync scenarios
rely on it.  No epsync binary is needed, except by the last test.
"""

import hashlib
import hmac
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
REV_A = "a" * 64
REV_B = "b" * 64
CONN_ERRORS = (ConnectionError, http.client.HTTPException, urllib.error.URLError,
               socket.timeout)


def call(method, url, body=None, headers=None, timeout=10):
    """(status, headers, raw body); HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def sim(kind, **kw):
    return harness.Sim(kind, harness.make_tmpdir(), **kw)


# --- city client ---------------------------------------------------------------------


def city_token(s, client_id=None, secret=None, grant="client_credentials"):
    form = urllib.parse.urlencode({"grant_type": grant, "client_id": client_id or s.ident,
                                   "client_secret": secret or s.secret}).encode()
    st, _, body = call("POST", s.base_url + "/oauth/token", form,
                       {"Content-Type": "application/x-www-form-urlencoded",
                        "X-Request-Id": secrets.token_hex(16)})
    return st, json.loads(body)


def city_decision(source_id="SJZSJ-2026-000001", **over):
    d = {"sourceId": source_id, "kind": "penalty", "decidedOn": "2026-03-02",
         "docNo": "石市监处罚〔2026〕1号",
         "party": {"name": "石家庄某商贸有限公司", "type": "legal_person",
                   "creditCode": harness.valid_uscc("party")},
         "penaltyTypes": ["罚款"], "fineYuan": 5000,
         "authority": {"name": harness.AUTHORITY, "creditCode": harness.AUTHORITY_CODE}}
    d.update(over)
    return d


def city_call(s, token, method, path, obj=None, key=None, raw=None):
    h = {"Authorization": "Bearer " + token, "X-Request-Id": secrets.token_hex(16),
         "Content-Type": "application/json; charset=utf-8"}
    if key:
        h["Idempotency-Key"] = key
    body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else None)
    st, hd, data = call(method, s.base_url + path, body, h)
    try:
        return st, json.loads(data)
    except ValueError:
        return st, data


def city_publish(s, token, decision, rev=REV_A, key=None):
    return city_call(s, token, "POST", "/api/v1/decisions", decision,
                     key or "%s:%s" % (decision["sourceId"], rev))


def city_ready(faults=None, **kw):
    """A city simulator and a token; faults take effect after the token."""
    s = sim("city", **kw)
    st, tok = city_token(s)
    assert st == 200, tok
    if faults:
        s.set_faults(faults)
    return s, tok["access_token"]


# --- province client --------------------------------------------------------------------


def sign(secret, method, path, ts, nonce, body):
    text = "%s\n%s\n%s\n%s\n%s" % (method, path, ts, nonce, hashlib.sha256(body).hexdigest())
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def prov_call(s, path, obj=None, raw=None, ts=None, nonce=None, secret=None, app_id=None,
              tamper=None):
    body = raw if raw is not None else json.dumps(obj, ensure_ascii=False).encode()
    ts = str(ts if ts is not None else int(time.time() * 1000))
    nonce = nonce or secrets.token_hex(16)
    h = {"Content-Type": "application/json; charset=utf-8", "X-Request-Id":
         secrets.token_hex(16), "X-App-Id": app_id or s.ident, "X-Timestamp": ts,
         "X-Nonce": nonce, "X-Signature": sign(secret or s.secret, "POST", path, ts, nonce,
                                               body)}
    st, _, data = call("POST", s.base_url + path, tamper or body, h)
    try:
        return st, json.loads(data)
    except ValueError:
        return st, data


def prov_record(sjly="SJZSJ-2026-000001", bbh=REV_A, **over):
    r = {"SJLY_ID": sjly, "BBH": bbh, "CF_WSH": "石市监处罚〔2026〕1号",
         "CF_XDR_MC": "石家庄某商贸有限公司", "CF_XDR_LB": "法人及非法人组织",
         "CF_XDR_SHXYM": harness.valid_uscc("party"), "CF_CFLB": "罚款",
         "CF_NR_FK": 0.5, "CF_JDRQ": "2026-03-02", "CF_CFJG": harness.AUTHORITY,
         "CF_CFJGDM": harness.AUTHORITY_CODE}
    r.update(over)
    return r


def prov_batch(s, records, **kw):
    return prov_call(s, "/gateway/v2/publicity/batch",
                     {"batchNo": secrets.token_hex(8), "records": records}, **kw)


BATCH = "/gateway/v2/publicity/batch"


# --- city ----------------------------------------------------------------------------


def test_city_token_and_bad_credentials():
    s = sim("city")
    st, tok = city_token(s)
    assert st == 200 and tok["token_type"] == "Bearer" and tok["expires_in"] == 7200, tok
    assert city_token(s, secret="wrong") == (401, {"error": "invalid_client"})
    assert city_token(s, client_id="someone-else")[0] == 401
    assert city_token(s, grant="password")[0] == 400
    st, body = city_publish(s, "not-a-token", city_decision())
    assert st == 401 and body["error"] == "invalid_token"
    req = s.stats()["requests"]
    assert req["token_issued"] == 1 and req["token_invalid_client"] == 2, req
    assert s.stats()["distinct_publications"] == 0


def test_city_publish_replay_and_1002():
    s, tok = city_ready()
    d = city_decision()
    st, body = city_publish(s, tok, d)
    assert st == 200 and body["code"] == "0" and body["msg"] == "成功", body
    receipt = body["data"]["receiptNo"]
    # The same Idempotency-Key again: recognised replay, same receipt.
    assert city_publish(s, tok, d)[1] == body
    # Another key for the same sourceId: 1002 with the existing receipt.
    st, other = city_publish(s, tok, d, rev=REV_B)
    assert other["code"] == "1002" and other["data"]["receiptNo"] == receipt, other
    stats = s.stats()
    assert stats["publications"] == {d["sourceId"]: {REV_A: 1}}, stats
    assert stats["duplicates"] == 0 and stats["requests"]["replay"] == 1
    assert stats["status"][d["sourceId"]] == {"status": "PUBLISHED", "revision": REV_A,
                                              "receipt": receipt}
    recs = s.records()
    assert len(recs) == 1 and recs[0]["op"] == "publish" and recs[0]["body"] == d
    assert recs[0]["decision_id"] == d["sourceId"] and recs[0]["receipt"] == receipt


def test_city_validation_is_1001_in_chinese():
    s, tok = city_ready()
    no_party = city_decision(party={"type": "legal_person"})
    st, body = city_publish(s, tok, no_party)
    assert body["code"] == "1001" and "party.name 不能为空" in body["msg"], body
    for bad in (city_decision(sourceId=""), city_decision(decidedOn="2026/03/02"),
                city_decision(kind="fine"), city_decision(authority={}),
                city_decision(party={"name": "x", "creditCode": "911301000000000000"}),
                city_decision(fineYuan=-1)):
        assert city_publish(s, tok, bad, key="X:" + REV_A)[1]["code"] == "1001", bad
    d = city_decision()
    for key in ("%s:%s" % (d["sourceId"], "a" * 63), d["sourceId"], "OTHER:" + REV_A):
        st, body = city_publish(s, tok, d, key=key)
        assert body["code"] == "1001" and "Idempotency-Key" in body["msg"], (key, body)
    st, body = city_call(s, tok, "POST", "/api/v1/decisions", raw=b"{not json",
                         key="%s:%s" % (d["sourceId"], REV_A))
    assert body["code"] == "1001"
    assert s.records() == [] and s.stats()["distinct_publications"] == 0


def test_city_update_withdraw_query():
    s, tok = city_ready()
    d = city_decision()
    receipt = city_publish(s, tok, d)[1]["data"]["receiptNo"]
    path = "/api/v1/decisions/" + receipt
    d2 = dict(d, fineYuan=8000)
    st, body = city_call(s, tok, "PUT", path, d2, "%s:%s" % (d["sourceId"], REV_B))
    assert body["code"] == "0" and body["data"]["receiptNo"] == receipt, body
    # The same update again is a replay: no second publication.
    assert city_call(s, tok, "PUT", path, d2, "%s:%s" % (d["sourceId"], REV_B))[1] == body
    q = city_call(s, tok, "GET", path)[1]
    assert q["data"] == {"receiptNo": receipt, "status": "PUBLISHED", "revision": REV_B,
                         "sourceId": d["sourceId"]}, q
    assert city_call(s, tok, "PUT", "/api/v1/decisions/NOPE", d2,
                     "%s:%s" % (d["sourceId"], REV_B))[1]["code"] == "1004"
    wd = {"reason": "决定已撤销", "type": "REVOKED"}
    assert city_call(s, tok, "POST", path + "/withdraw", {"reason": "x", "type": "GONE"}
                     )[1]["code"] == "1001"
    assert city_call(s, tok, "POST", path + "/withdraw", wd)[1]["code"] == "0"
    assert city_call(s, tok, "GET", path)[1]["data"]["status"] == "WITHDRAWN"
    assert city_call(s, tok, "POST", path + "/withdraw", wd)[1]["code"] == "1004"
    assert city_call(s, tok, "POST", "/api/v1/decisions/NOPE/withdraw", wd)[1]["code"] == "1004"
    assert city_call(s, tok, "PUT", path, d2, "%s:%s" % (d["sourceId"], REV_A)
                     )[1]["code"] == "1004"
    # A withdrawn decision may be published again, under a new receipt.
    again = city_publish(s, tok, d)[1]
    assert again["code"] == "0" and again["data"]["receiptNo"] != receipt, again
    assert [r["op"] for r in s.records()] == ["publish", "update", "withdraw", "publish"]
    assert s.records()[2]["type"] == "REVOKED"
    st = s.stats()
    assert st["publications"][d["sourceId"]] == {REV_A: 2, REV_B: 1} and st["duplicates"] == 0


def test_city_token_expires():
    # The token lives 3 s from its issue, which is before the answer came
    # back: slept until then (and a little more), it is refused.
    s = sim("city", token_ttl=3)
    tok = city_token(s)[1]
    issued_by = time.monotonic()
    assert tok["expires_in"] == 3
    assert city_publish(s, tok["access_token"], city_decision())[1]["code"] == "0"
    time.sleep(max(0.0, issued_by + 3.2 - time.monotonic()))
    assert city_publish(s, tok["access_token"], city_decision("D2"))[0] == 401
    s.set_faults({"token_ttl_s": 30})
    assert city_token(s)[1]["expires_in"] == 30


def test_city_token_revocation():
    s, tok = city_ready()
    assert s.revoke_tokens()["revoked"] == 1
    assert city_publish(s, tok, city_decision())[0] == 401
    s.set_faults({"token_revoke_rate": 1})
    tok = city_token(s)[1]["access_token"]
    assert city_publish(s, tok, city_decision())[0] == 401
    s.set_faults({})
    assert city_publish(s, tok, city_decision())[0] == 401      # stays revoked
    tok = city_token(s)[1]["access_token"]
    assert city_publish(s, tok, city_decision())[1]["code"] == "0"
    assert s.stats()["faults_injected"]["token_revoke"] == 1


def test_city_busy_and_reject_faults():
    s, tok = city_ready(faults={"busy": 1})
    assert city_publish(s, tok, city_decision())[1] == {"code": "5001",
                                                        "msg": "系统繁忙，请稍后重试"}
    s.set_faults({"reject_ids": ["SJZSJ-2026-000001"]})
    assert city_publish(s, tok, city_decision())[1]["code"] == "1003"
    assert city_publish(s, tok, city_decision("OTHER"))[1]["code"] == "0"
    assert [r["decision_id"] for r in s.records()] == ["OTHER"]


# --- province ----------------------------------------------------------------------------


def test_province_signed_batch_with_per_record_results():
    s = sim("province")
    records = [prov_record("P1"), prov_record("P2", CF_XDR_SHXYM="911301000000000000"),
               prov_record("P3", CF_CFJG=""), prov_record("P4", CF_JDRQ="2026-13-01"),
               prov_record("P5", BBH="v1"),
               prov_record("P6", CF_XDR_MC=None, CF_CFJG=None,
                           XK_XDR_MC="某公司", XK_XKJG=harness.AUTHORITY)]
    st, body = prov_batch(s, records)
    assert st == 200 and body["success"] is True, body
    res = body["data"]["results"]
    assert [r["index"] for r in res] == list(range(6))
    assert [r["status"] for r in res] == ["ACCEPTED", "REJECTED", "REJECTED", "REJECTED",
                                          "REJECTED", "ACCEPTED"]
    assert res[1]["errorCode"] == "F0102" and res[1]["errorMsg"] == "统一社会信用代码校验失败"
    assert res[2]["errorCode"] == "F0101" and "CF_CFJG" in res[2]["errorMsg"]
    assert res[3]["errorCode"] == "F0104" and res[4]["errorCode"] == "F0103"
    assert res[0]["recordId"].startswith("HB")
    recs = s.records()
    assert [r["decision_id"] for r in recs] == ["P1", "P6"] and recs[0]["body"] == records[0]


def test_province_bad_signature_is_A0401():
    s = sim("province")
    rec = [prov_record()]
    for kw in ({"secret": "wrong"}, {"app_id": "other-app"}, {"nonce": "xyz"},
               {"tamper": json.dumps({"batchNo": "1", "records": []}).encode()}):
        st, body = prov_batch(s, rec, **kw)
        assert st == 401 and body["success"] is False and body["errorCode"] == "A0401", (kw, body)
    # The signed PATH has no query string and the METHOD is part of it.
    assert s.stats()["distinct_publications"] == 0 and s.stats()["requests"]["A0401"] == 4


def test_province_stale_timestamp_is_A0402():
    s = sim("province")
    now = int(time.time() * 1000)
    for off in (-301000, 301000):
        st, body = prov_batch(s, [prov_record()], ts=now + off)
        assert st == 401 and body["errorCode"] == "A0402", body
    assert prov_batch(s, [prov_record()], ts=now - 200000)[0] == 200
    # A server clock 10 minutes ahead refuses a correct client clock.
    s.set_faults({"clock_offset_s": 600})
    assert prov_batch(s, [prov_record()])[1]["errorCode"] == "A0402"


def test_province_reused_nonce_is_A0403():
    s = sim("province")
    nonce = secrets.token_hex(16)
    assert prov_batch(s, [prov_record()], nonce=nonce)[0] == 200
    st, body = prov_batch(s, [prov_record()], nonce=nonce)
    assert st == 401 and body["errorCode"] == "A0403", body


def test_province_too_large_is_413():
    s = sim("province")
    st, body = prov_batch(s, [prov_record("R%d" % i) for i in range(101)])
    assert st == 413, body
    big = [prov_record("R%d" % i, BZ="备" * 8000) for i in range(100)]
    assert len(json.dumps(big, ensure_ascii=False).encode()) > 2 * 1024 * 1024
    assert prov_batch(s, big)[0] == 413
    assert prov_batch(s, [prov_record("R%d" % i) for i in range(100)])[0] == 200
    assert s.stats()["distinct_publications"] == 100


def test_province_replay_and_replace():
    s = sim("province")
    rid = prov_batch(s, [prov_record()])[1]["data"]["results"][0]["recordId"]
    again = prov_batch(s, [prov_record()])[1]["data"]["results"][0]
    assert again == {"index": 0, "status": "ACCEPTED", "recordId": rid}
    upd = prov_batch(s, [prov_record(bbh=REV_B, CF_NR_FK=0.8)])[1]["data"]["results"][0]
    assert upd["status"] == "ACCEPTED" and upd["recordId"] == rid
    assert [r["op"] for r in s.records()] == ["publish", "update"]
    st = s.stats()
    assert st["publications"] == {"SJZSJ-2026-000001": {REV_A: 1, REV_B: 1}}
    assert st["duplicates"] == 0 and st["requests"]["replay"] == 1
    assert st["status"]["SJZSJ-2026-000001"]["revision"] == REV_B


def test_province_revoke():
    s = sim("province")
    rid = prov_batch(s, [prov_record()])[1]["data"]["results"][0]["recordId"]
    rv = "/gateway/v2/publicity/revoke"
    body = {"recordId": rid, "reason": "决定已撤销", "revokeType": "REVOKED"}
    assert prov_call(s, rv, body) == (200, {"success": True})
    st, again = prov_call(s, rv, body)
    assert st == 200 and again["success"] is False and again["errorCode"] == "F0404"
    assert prov_call(s, rv, dict(body, recordId="HB0"))[1]["errorCode"] == "F0404"
    assert prov_call(s, rv, dict(body, revokeType="X"))[0] == 400
    assert [r["op"] for r in s.records()] == ["publish", "withdraw"]
    assert s.stats()["status"]["SJZSJ-2026-000001"]["status"] == "WITHDRAWN"


def test_province_busy_retry_and_short_results():
    s = sim("province", faults={"busy": 1})
    assert prov_batch(s, [prov_record()])[1] == {"success": False, "errorCode": "S0503",
                                                 "errorMsg": "系统繁忙"}
    s.set_faults({"record_retry": 1})
    r = prov_batch(s, [prov_record()])[1]["data"]["results"][0]
    assert r["status"] == "RETRY" and r["errorCode"] == "S0500", r
    s.set_faults({"short_results": 1})
    res = prov_batch(s, [prov_record("A"), prov_record("B")])[1]["data"]["results"]
    assert [x["index"] for x in res] == [0]
    assert [x["decision_id"] for x in s.records()] == ["A"]
    s.set_faults({"reject": 1})
    r = prov_batch(s, [prov_record("C")])[1]["data"]["results"][0]
    assert r["status"] == "REJECTED" and r["errorCode"] == "F0301"
    assert s.stats()["distinct_publications"] == 1


# --- fault modes ---------------------------------------------------------------------------


def test_faults_http5xx_429_html():
    s, tok = city_ready(faults={"http5xx": 1})
    assert city_publish(s, tok, city_decision())[0] == 503
    s.set_faults({"http429": 1, "retry_after": 7})
    st, hd, _ = call("POST", s.base_url + "/api/v1/decisions", b"{}",
                     {"Authorization": "Bearer " + tok})
    assert st == 429 and hd["Retry-After"] == "7"
    s.set_faults({"html": 1})
    st, hd, body = call("POST", s.base_url + "/api/v1/decisions", b"{}")
    assert st == 502 and hd["Content-Type"] == "text/html" and b"<html>" in body
    s.set_faults({"html": 1, "html_status": 200})
    assert call("GET", s.base_url + "/api/v1/decisions/X")[0] == 200
    inj = s.stats()["faults_injected"]
    assert inj == {"http5xx": 1, "http429": 1, "html": 2}, inj
    assert s.records() == []


def test_faults_truncated_and_oversized_bodies():
    p = sim("province", faults={"truncated": 1})
    st, body = prov_batch(p, [prov_record()])
    assert st == 200 and isinstance(body, bytes) and body.startswith(b'{"success": true')
    p.set_faults({"oversized": 1})
    st, _, raw = call("POST", p.base_url + BATCH, b"{}")
    assert st == 200 and len(raw) >= 3 * 1024 * 1024
    assert json.loads(raw)["errorCode"] == "S0503"     # read whole, it is still no success
    assert p.records() == []


def test_faults_reset_slow_down_downtime():
    s, tok = city_ready(faults={"reset": 1})
    try:
        city_publish(s, tok, city_decision())
        raise AssertionError("expected a connection reset")
    except CONN_ERRORS:
        pass
    s.set_faults({"slow": 1, "slow_ms": 400})
    t0 = time.monotonic()
    assert city_publish(s, tok, city_decision())[1]["code"] == "0"
    assert time.monotonic() - t0 >= 0.4
    s.set_faults({"down": True})
    for _ in range(2):
        try:
            city_token(s)
            raise AssertionError("expected the connection to be closed")
        except CONN_ERRORS:
            pass
    assert s.stats()["faults_injected"]["down"] == 2       # control still answers
    # A window long enough that the next call falls in it even on a busy
    # machine; then the simulator answers again (waited for, not slept).
    s.set_faults({"downtime": [[0, 5]]})
    try:
        city_token(s)
        raise AssertionError("expected downtime")
    except CONN_ERRORS:
        pass

    def answers():
        try:
            return city_token(s)[0] == 200
        except CONN_ERRORS:
            return False
    harness.wait_for(answers, timeout=60, interval=0.5, what="the end of the downtime")


def test_lost_answer_is_recorded_and_replay_recognised():
    s, tok = city_ready(faults={"lost_answer": 1})
    d = city_decision()
    try:
        city_publish(s, tok, d)
        raise AssertionError("expected the answer to be lost")
    except CONN_ERRORS:
        pass
    (rec,) = s.records()
    s.set_faults({})
    body = city_publish(s, tok, d)[1]
    assert body["code"] == "0" and body["data"]["receiptNo"] == rec["receipt"]
    st = s.stats()
    assert st["publications_total"] == 1 and st["duplicates"] == 0
    p = sim("province", faults={"lost_answer": 1, "lost_answer_mode": "truncated"})
    st, raw = prov_batch(p, [prov_record()])
    assert st == 200 and isinstance(raw, bytes)
    p.set_faults({})
    r = prov_batch(p, [prov_record()])[1]["data"]["results"][0]
    assert r["recordId"] == p.records()[0]["receipt"] and p.stats()["publications_total"] == 1


def test_keepalive_and_content_length():
    s = sim("province")
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    try:
        socks = set()
        for _ in range(3):
            conn.request("GET", "/_sim/stats")
            r = conn.getresponse()
            body = r.read()
            assert r.version == 11 and int(r.headers["Content-Length"]) == len(body)
            socks.add(id(conn.sock))
        assert len(socks) == 1 and conn.sock is not None
    finally:
        conn.close()


def test_bad_faults_are_refused():
    s = sim("city")
    try:
        s.set_faults({"http500": 1})
        raise AssertionError("unknown fault key accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 400
    try:
        sim("city", faults={"bogus": True})
        raise AssertionError("simulator started with a bad fault set")
    except RuntimeError as e:
        assert "unknown fault keys: bogus" in str(e)


def test_protocol_violations_are_counted():
    s, tok = city_ready()
    s.allow_violations()       # sent on purpose, counted below
    d = city_decision(party={"name": "李某", "idNo": harness.valid_idno("1980-01-01", 1)})
    st, _, body = call("POST", s.base_url + "/api/v1/decisions", json.dumps(d).encode(),
                       {"Authorization": "Bearer " + tok, "Content-Type": "application/json",
                        "Idempotency-Key": "%s:%s" % (d["sourceId"], REV_A),
                        "X-Request-Id": "r-1"})
    assert st == 200 and json.loads(body)["code"] == "0", body     # counted, not refused
    city_call(s, tok, "GET", "/api/v1/decisions/NOPE")
    # A reused X-Request-Id is refused, and so is a request without one;
    # nothing behind them runs.
    st, _, body = call("GET", s.base_url + "/api/v1/decisions/NOPE",
                       headers={"Authorization": "Bearer " + tok, "X-Request-Id": "r-1"})
    assert st == 400 and "r-1" in json.loads(body)["message"], (st, body)
    st, _, body = call("GET", s.base_url + "/api/v1/decisions/NOPE",
                       headers={"Authorization": "Bearer " + tok})
    assert st == 400 and "missing" in json.loads(body)["message"], (st, body)
    stats = s.stats()
    assert stats["violations"] == {"unmasked_id_number": 1, "reused_request_id": 1,
                                   "missing_request_id": 1}, stats["violations"]
    assert stats["requests"].get("not_found_1004") == 1, stats["requests"]
    assert stats["internal_errors"] == 0


def test_personal_data_is_found_anywhere_in_a_request():
    s, tok = city_ready()
    s.allow_violations()       # sent on purpose, counted below
    idno = harness.valid_idno("1980-01-01", 2)
    wrong = idno[:-1] + ("0" if idno[-1] != "0" else "1")     # a wrong check digit
    cases = [
        ({"violationFacts": "当事人李某（电话13911112222）"}, {"unmasked_phone_number"}),
        ({"remarks": "身份证号%s，住某街" % wrong}, {"unmasked_id_number"}),
        ({"notInTheMapping": {"deep": [idno]}}, {"unmasked_id_number"}),
        ({"contact": 15812345678}, {"unmasked_phone_number"}),
        # Masked numbers, hashes and credit codes are not personal data.
        ({"party": {"name": "李某", "idNo": idno[:6] + "********" + idno[-4:]},
          "remarks": "ab13911112222cd " + "9" * 64}, set()),
    ]
    for n, (extra, want) in enumerate(cases):
        before = s.stats()["violations"]
        d = city_decision("D-P%d" % n)
        d.update(extra)
        st, body = city_publish(s, tok, d)
        assert body["code"] == "0", body
        after = s.stats()["violations"]
        grew = {k for k in after if after[k] != before.get(k, 0)}
        assert grew == want, (extra, grew)
    p = sim("province")
    p.allow_violations()
    rec = prov_record(CF_WFSS="当事人联系电话 18600001111。")
    assert prov_batch(p, [rec])[1]["data"]["results"][0]["status"] == "ACCEPTED"
    assert p.stats()["violations"] == {"unmasked_phone_number": 1}, p.stats()["violations"]


def test_lax_request_id_counts_without_refusing():
    s = sim("city", lax_request_id=True)
    s.allow_violations()       # sent on purpose, counted below
    for _ in range(2):
        st, _, _ = call("POST", s.base_url + "/oauth/token",
                        b"grant_type=client_credentials&client_id=%s&client_secret=%s"
                        % (s.ident.encode(), s.secret.encode()),
                        {"Content-Type": "application/x-www-form-urlencoded",
                         "X-Request-Id": "same"})
        assert st == 200
    assert s.stats()["violations"] == {"reused_request_id": 1}


# --- harness ----------------------------------------------------------------------------


def test_check_digits():
    assert harness.simcommon.uscc_valid("91350100M000100Y43")
    assert not harness.simcommon.uscc_valid("91350100M000100Y44")
    assert harness.simcommon.idno_valid("11010519491231002X")
    assert not harness.simcommon.idno_valid("110105194912310021")
    assert not harness.simcommon.idno_valid("11010519491331002X")     # month 13
    for seed in range(50):
        assert harness.simcommon.uscc_valid(harness.valid_uscc(seed))
        idno = harness.valid_idno("2008-02-29", seed)
        assert harness.simcommon.idno_valid(idno) and idno[6:14] == "20080229"
    assert harness.valid_uscc("x") == harness.valid_uscc("x") != harness.valid_uscc("y")


def test_pg_cluster_and_case_db():
    pg = harness.shared_cluster()
    conn = harness.case_db(pg, harness.fresh_dbname())
    a = harness.insert_decision(conn)
    b = harness.insert_decision(conn, party_type="natural_person", kind="license")
    with conn.cursor() as cur:
        cur.execute("SELECT decision_id, state, party_credit_code, party_id_no, fine_amount,"
                    " updated_at FROM epsync_source.decisions ORDER BY decision_id")
        rows = {r[0]: r for r in cur.fetchall()}
    assert harness.simcommon.uscc_valid(rows[a["decision_id"]][2])
    assert harness.simcommon.idno_valid(rows[b["decision_id"]][3])
    assert rows[b["decision_id"]][2] is None and int(rows[a["decision_id"]][4]) == 5000
    before = rows[a["decision_id"]][5]
    dbname = conn.info.dbname
    time.sleep(0.01)
    harness.revoke_decision(conn, a["decision_id"])
    (state, after), = pg.psql("SELECT state, updated_at FROM epsync_source.decisions"
                              " WHERE decision_id = %s", dbname, (a["decision_id"],))
    assert state == "revoked" and after > before
    conn.close()
    pg.restart()
    assert pg.psql("SELECT count(*) FROM epsync_source.decisions", dbname) == [(2,)]
    assert pg.psql("SHOW listen_addresses") == [("",)]


def test_write_config_is_private_and_accepted():
    tmp = harness.make_tmpdir()
    pg = harness.shared_cluster()
    sims = {"city": harness.Sim("city", tmp), "province": harness.Sim("province", tmp)}
    path = harness.write_config(tmp, pg, sims, poll={"interval": "1s"},
                                targets={"province": {"batch_size": 10}})
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(sims["city"].secret_file).st_mode & 0o777 == 0o600
    text = open(path, encoding="utf-8").read()
    assert sims["city"].base_url in text and sims["province"].secret not in text
    assert "interval: 1s" in text and "batch_size: 10" in text and "allow_plain_http: true" in text
    ep = harness.Epsync(harness.require_epsync(), path)
    r = ep.run(["check-config"])
    assert r.returncode == 0, r.stderr
    assert sims["city"].secret not in r.stdout and sims["province"].secret not in r.stdout


def test_concurrent_replays_publish_once():
    import threading
    s, tok = city_ready()
    p = sim("province")
    d = city_decision()
    answers, errors = [], []

    def worker():
        try:
            answers.append(city_publish(s, tok, d)[1]["data"]["receiptNo"])
            answers.append(prov_batch(p, [prov_record()])[1]["data"]["results"][0]["recordId"])
        except Exception as exc:        # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(answers)) == 2 and len(answers) == 32
    for x in (s, p):
        st = x.assert_clean()
        assert st["publications_total"] == 1 and len(x.records()) == 1, st
    assert s.published() == {d["sourceId"]: REV_A}


def test_the_runner_fails_a_test_whose_simulator_saw_personal_data():
    """tests/lib/runner.py checks every simulator a test started, after
    the test: a phone number in a request fails a test that never asked."""
    tmp = harness.make_tmpdir()
    path = os.path.join(tmp, "test_leaky.py")
    with open(path, "w") as f:
        f.write("import sys\n"
                "sys.path.insert(0, %r)\n"
                "import test_sims as ts\n\n\n"
                "def test_leaky():\n"
                "    s, tok = ts.city_ready()\n"
                "    d = ts.city_decision('D-LEAK')\n"
                "    d['remarks'] = '电话13911112222'\n"
                "    ts.city_publish(s, tok, d)\n" % os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, os.path.join(harness.REPO, "tests", "lib", "runner.py"),
                        path], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "not ok 1 - " in r.stdout, r.stdout
    assert "city simulator saw {'unmasked_phone_number': 1}" in r.stdout, r.stdout
