#!/usr/bin/env python3
"""province_sim - simulator of the provincial gateway (省行政执法公示网站, v2).

Serves the province protocol of docs/protocols.md on a loopback port and checks every request
the way the gateway would: X-App-Id, X-Timestamp within ±300 s of its own
clock, a 32-hex X-Nonce unseen for 10 minutes, the HMAC-SHA256 X-Signature,
batches of at most 100 records and 2 MiB, per-record field checks with
F-codes, replace-by-SJLY_ID and revoke.  See simcommon for faults, records
and /_sim/ control.

    province_sim.py --port 0 --records prov.jsonl --app-id ID --secret-file F
                    [--faults JSON] [--seed N] [--verbose]
"""

import datetime
import hashlib
import hmac
import itertools
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simcommon  # noqa: E402
from simcommon import json_answer  # noqa: E402

BATCH_PATH = "/gateway/v2/publicity/batch"
REVOKE_PATH = "/gateway/v2/publicity/revoke"
MAX_RECORDS = 100
MAX_BODY = 2 * 1024 * 1024
SKEW_MS = 300 * 1000
NONCE_TTL_S = 600
REVOKE_TYPES = ("REVOKED", "EXPIRED", "OPERATOR")
PARTY_KINDS = ("法人及非法人组织", "自然人", "个体工商户")
NONCE_RE = re.compile(r"^[0-9a-fA-F]{32}$")
SIG_RE = re.compile(r"^[0-9a-f]{64}$")

AUTH_MSGS = {"A0401": "签名校验失败", "A0402": "时间戳超出允许范围", "A0403": "重复的请求"}

# Field checks per record: (code, message, predicate over the record).
DATE_FIELDS = ("CF_JDRQ", "CF_YXQ", "CF_GSJZQ", "XK_JDRQ", "XK_YXQZ", "XK_YXQZI")
AMOUNT_FIELDS = ("CF_NR_FK", "CF_NR_WFFF")


def present(rec, key):
    v = rec.get(key)
    return v is not None and v != ""


def either(rec, a, b):
    return any(isinstance(rec.get(k), str) and rec[k].strip() for k in (a, b))


def record_errors(rec):
    """The first failing check of a record, as (errorCode, errorMsg), or None."""
    if not isinstance(rec, dict):
        return "F0100", "记录格式错误"
    for key in ("SJLY_ID", "BBH"):
        if not (isinstance(rec.get(key), str) and rec[key].strip()):
            return "F0101", "必填字段缺失：%s" % key
    if not either(rec, "CF_XDR_MC", "XK_XDR_MC"):
        return "F0101", "必填字段缺失：CF_XDR_MC/XK_XDR_MC"
    if not either(rec, "CF_CFJG", "XK_XKJG"):
        return "F0101", "必填字段缺失：CF_CFJG/XK_XKJG"
    if not simcommon.is_hex64(rec["BBH"]):
        return "F0103", "版本号格式错误"
    for key in ("CF_XDR_SHXYM", "XK_XDR_SHXYM"):
        if present(rec, key) and not simcommon.uscc_valid(rec[key]):
            return "F0102", "统一社会信用代码校验失败"
    for key in DATE_FIELDS:
        if present(rec, key) and not simcommon.is_date(rec[key]):
            return "F0104", "日期格式错误：%s" % key
    for key in ("CF_XDR_LB", "XK_XDR_LB"):
        if present(rec, key) and rec[key] not in PARTY_KINDS:
            return "F0105", "代码值不在代码表中：%s" % key
    for key in AMOUNT_FIELDS:
        if present(rec, key) and not simcommon.non_negative_number(rec[key]):
            return "F0106", "金额格式错误：%s" % key
    return None


def signature(secret, method, path, ts, nonce, body):
    s = "\n".join((method, path, ts, nonce, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret.encode("utf-8"), s.encode("utf-8"), hashlib.sha256).hexdigest()


def fail(status, err, msg):
    return json_answer(status, {"success": False, "errorCode": err, "errorMsg": msg})


class ProvinceApp(simcommon.SimApp):
    def __init__(self, args):
        super().__init__("province", args)
        self.app_id = args.ident
        self.secret = simcommon.read_secret(args.secret_file)
        self.nonces = {}             # nonce -> monotonic time seen
        self.nonce_lock = threading.Lock()
        self.by_sjly = {}            # SJLY_ID -> latest recordId
        self.by_record = {}          # recordId -> {decision_id, revision, status}
        self.seq = itertools.count(1)

    # --- simcommon hooks ---

    def busy_body(self):
        return json.dumps({"success": False, "errorCode": "S0503", "errorMsg": "系统繁忙"},
                          ensure_ascii=False).encode()

    def success_example(self):
        return json.dumps({"success": True, "data": {"results": [
            {"index": 0, "status": "ACCEPTED", "recordId": "HB2026000000000001"}]}},
            ensure_ascii=False).encode()

    def refusal(self, status, message):
        return fail(status, "A0400", message)

    # --- dispatch ---

    def handle(self, req, method, path, body):
        routes = {("POST", BATCH_PATH): self.batch, ("POST", REVOKE_PATH): self.revoke}
        fn = routes.get((method, path))
        if fn is None:
            self.ledger.count("not_found")
            return fail(404, "A0404", "接口不存在")
        # body_limit: a gateway configured below the documented 2 MiB, so a
        # client that splits at 2 MiB itself still meets a 413.
        if path == BATCH_PATH and len(body) > (self.faults.get("body_limit") or MAX_BODY):
            self.ledger.count("too_large_413")
            return fail(413, "A0413", "请求体过大")
        denied = self.authenticate(req, method, path, body)
        if denied is not None:
            return denied
        if not req.headers.get("Content-Type", "").startswith("application/json"):
            self.ledger.count("bad_request")
            return fail(400, "A0400", "Content-Type 必须为 application/json")
        try:
            obj = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            obj = None
        if not isinstance(obj, dict):
            self.ledger.count("bad_request")
            return fail(400, "A0400", "请求体不是合法的 JSON 对象")
        if self.faults.roll("busy"):
            self.ledger.fault("busy")
            self.ledger.count("busy")
            return fail(200, "S0503", "系统繁忙")
        return fn(obj)

    def authenticate(self, req, method, path, body):
        h = req.headers
        app_id, ts = h.get("X-App-Id", ""), h.get("X-Timestamp", "")
        nonce, sig = h.get("X-Nonce", ""), h.get("X-Signature", "")
        err = None
        if (not hmac.compare_digest(app_id, self.app_id) or not ts.isdigit()
                or not NONCE_RE.match(nonce) or not SIG_RE.match(sig)
                or not hmac.compare_digest(sig, signature(self.secret, method, path, ts,
                                                          nonce, body))):
            err = "A0401"
        else:
            clock_ms = (time.time() + float(self.faults.get("clock_offset_s"))) * 1000
            if abs(clock_ms - int(ts)) > SKEW_MS:
                err = "A0402"
            elif not self._fresh_nonce(nonce):
                err = "A0403"
        if err is None:
            return None
        self.ledger.count(err)
        return fail(401, err, AUTH_MSGS[err])

    def _fresh_nonce(self, nonce):
        now = time.monotonic()
        with self.nonce_lock:
            if len(self.nonces) > 10000:
                self.nonces = {n: t for n, t in self.nonces.items() if now - t < NONCE_TTL_S}
            seen = self.nonces.get(nonce)
            if seen is not None and now - seen < NONCE_TTL_S:
                return False
            self.nonces[nonce] = now
            return True

    # --- the API ---

    def batch(self, obj):
        records = obj.get("records")
        if not (isinstance(obj.get("batchNo"), str) and obj["batchNo"]
                and isinstance(records, list) and records):
            self.ledger.count("bad_request")
            return fail(400, "A0400", "batchNo 与 records 不能为空")
        if len(records) > MAX_RECORDS:
            self.ledger.count("too_large_413")
            return fail(413, "A0413", "单批记录数超过 %d" % MAX_RECORDS)
        todo = records
        if self.faults.roll("short_results"):
            # The last record is neither stored nor answered.
            self.ledger.fault("short_results")
            todo = records[:-1]
        results = [self.one(i, rec) for i, rec in enumerate(todo)]
        self.ledger.count("batch")
        processed = any(r["status"] == "ACCEPTED" for r in results)
        return json_answer(200, {"success": True, "data": {"results": results}},
                           processed=processed)

    def one(self, index, rec):
        bad = record_errors(rec)
        if bad is None and (rec["SJLY_ID"] in (self.faults.get("reject_ids") or [])
                            or self.faults.roll("reject")):
            self.ledger.fault("reject")
            bad = ("F0301", "该记录不允许公示")
        if bad is not None:
            self.ledger.count("rejected")
            return {"index": index, "status": "REJECTED", "errorCode": bad[0],
                    "errorMsg": bad[1]}
        if self.faults.roll("record_retry"):
            self.ledger.fault("record_retry")
            self.ledger.count("retry")
            return {"index": index, "status": "RETRY", "errorCode": "S0500",
                    "errorMsg": "入库超时"}
        did, rev = rec["SJLY_ID"], rec["BBH"]
        with self.ledger.lock:
            rid = self.by_sjly.get(did)
            cur = self.by_record.get(rid) if rid else None
            if cur is not None and cur["status"] == "PUBLISHED":
                if cur["revision"] == rev:
                    self.ledger.count("replay")
                    return {"index": index, "status": "ACCEPTED", "recordId": rid}
                cur["revision"] = rev
                self.ledger.record("update", did, rev, rid, rec)
                self.ledger.count("updated")
                return {"index": index, "status": "ACCEPTED", "recordId": rid}
            rid = "HB%s%08d" % (datetime.date.today().strftime("%Y%m%d"), next(self.seq))
            self.by_record[rid] = {"decision_id": did, "revision": rev, "status": "PUBLISHED"}
            self.by_sjly[did] = rid
            self.ledger.record("publish", did, rev, rid, rec)
            self.ledger.count("accepted")
        return {"index": index, "status": "ACCEPTED", "recordId": rid}

    def revoke(self, obj):
        rid = obj.get("recordId")
        if (not (isinstance(rid, str) and rid) or not isinstance(obj.get("reason"), str)
                or not obj["reason"].strip() or obj.get("revokeType") not in REVOKE_TYPES):
            self.ledger.count("bad_request")
            return fail(400, "A0400", "recordId、reason 不能为空，revokeType 取值 REVOKED|EXPIRED|OPERATOR")
        with self.ledger.lock:
            cur = self.by_record.get(rid)
            if cur is None or cur["status"] != "PUBLISHED":
                self.ledger.count("revoke_unknown")
                return fail(200, "F0404", "记录不存在或已撤销")
            cur["status"] = "WITHDRAWN"
            self.ledger.record("withdraw", cur["decision_id"], cur["revision"], rid, obj,
                               type=obj["revokeType"])
            self.ledger.count("revoked")
        return json_answer(200, {"success": True}, processed=True)


def main():
    p = simcommon.common_args("Simulator of the provincial gateway (docs/protocols.md).",
                              "--app-id")
    args = p.parse_args()
    return simcommon.serve(ProvinceApp, args)


if __name__ == "__main__":
    sys.exit(main())
