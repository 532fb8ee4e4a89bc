#!/usr/bin/env python3
"""city_sim - simulator of the city platform (市行政执法监督信息平台, API v1).

Serves the city protocol of docs/protocols.md on a loopback port and checks every request the
way the platform would: OAuth client-credentials tokens that expire, a
Bearer token on every call, the Idempotency-Key `{decision_id}:{64 hex}`,
the required fields of docs/rules.md, and the business codes 0 / 1001 / 1002 /
1003 / 1004 / 5001.  See simcommon for faults, records and /_sim/ control.

    city_sim.py --port 0 --records city.jsonl --client-id ID --secret-file F
                [--faults JSON] [--token-ttl S] [--seed N] [--verbose]
"""

import base64
import datetime
import hmac
import itertools
import json
import os
import re
import secrets
import sys
import threading
import time
from urllib.parse import parse_qs, unquote_plus

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simcommon  # noqa: E402
from simcommon import json_answer  # noqa: E402

KINDS = ("penalty", "license", "inspection", "coercion", "levy", "other")
WITHDRAW_TYPES = ("REVOKED", "EXPIRED", "OPERATOR")
KEY_RE = re.compile(r"^(.+):([0-9a-fA-F]{64})$")
RECEIPT_PATH = re.compile(r"^/api/v1/decisions/([^/]+)$")
WITHDRAW_PATH = re.compile(r"^/api/v1/decisions/([^/]+)/withdraw$")

MSG_OK = "成功"
MSG_BUSY = "系统繁忙，请稍后重试"


def code(c, msg, data=None, processed=False):
    body = {"code": c, "msg": msg}
    if data is not None:
        body["data"] = data
    return json_answer(200, body, processed=processed)


def required_text(obj, key):
    v = obj.get(key) if isinstance(obj, dict) else None
    return isinstance(v, str) and v.strip() != ""


def validate(body):
    """Field checks of the platform; returns the list of reasons (Chinese)."""
    errs = []
    if not required_text(body, "sourceId"):
        errs.append("sourceId 不能为空")
    if body.get("kind") not in KINDS:
        errs.append("kind 取值无效")
    if not simcommon.is_date(body.get("decidedOn")):
        errs.append("decidedOn 日期格式错误")
    party, authority = body.get("party"), body.get("authority")
    if not required_text(party, "name"):
        errs.append("party.name 不能为空")
    if not required_text(authority, "name"):
        errs.append("authority.name 不能为空")
    if isinstance(party, dict) and party.get("creditCode"):
        if not simcommon.uscc_valid(party["creditCode"]):
            errs.append("party.creditCode 统一社会信用代码校验失败")
    for key in ("fineYuan", "confiscatedYuan"):
        if body.get(key) is not None and not simcommon.non_negative_number(body[key]):
            errs.append("%s 金额无效" % key)
    for key in ("validUntil", "publicityUntil"):
        if body.get(key) not in (None, "") and not simcommon.is_date(body[key]):
            errs.append("%s 日期格式错误" % key)
    pt = body.get("penaltyTypes")
    if pt is not None and not (isinstance(pt, list) and all(isinstance(x, str) for x in pt)):
        errs.append("penaltyTypes 必须为字符串数组")
    return errs


class CityApp(simcommon.SimApp):
    def __init__(self, args):
        super().__init__("city", args)
        self.client_id = args.ident
        self.secret = simcommon.read_secret(args.secret_file)
        self.tokens = {}            # token -> expiry (monotonic)
        self.tok_lock = threading.Lock()
        self.by_receipt = {}        # receipt -> {decision_id, revision, status}
        self.by_decision = {}       # decision_id -> latest receipt
        self.keys = set()           # Idempotency-Keys processed
        self.seq = itertools.count(1)
        # (method, path, handler, needs a Bearer token)
        self.routes = (
            ("POST", re.compile(r"^/oauth/token$"), self.token, False),
            ("POST", re.compile(r"^/api/v1/decisions$"), self.publish, True),
            ("PUT", RECEIPT_PATH, self.update, True),
            ("POST", WITHDRAW_PATH, self.withdraw, True),
            ("GET", RECEIPT_PATH, self.query, True),
        )

    # --- simcommon hooks ---

    def busy_body(self):
        return json.dumps({"code": "5001", "msg": MSG_BUSY}, ensure_ascii=False).encode()

    def success_example(self):
        return json.dumps({"code": "0", "msg": MSG_OK,
                           "data": {"receiptNo": "ZFJD2026000000000001"}},
                          ensure_ascii=False).encode()

    def extra_control(self, method, path, body):
        if method == "POST" and path == "/_sim/revoke-tokens":
            with self.tok_lock:
                n = len(self.tokens)
                self.tokens.clear()
            return json_answer(200, {"ok": True, "revoked": n})
        return None

    # --- dispatch ---

    def handle(self, req, method, path, body):
        for m, rx, fn, bearer in self.routes:
            match = rx.match(path)
            if match and m == method:
                if not bearer:
                    return fn(req, body)
                denied = self.authorize(req)
                if denied is not None:
                    return denied
                if self.faults.roll("busy"):
                    self.ledger.fault("busy")
                    self.ledger.count("busy")
                    return code("5001", MSG_BUSY)
                return fn(req, body, *match.groups())
        self.ledger.count("not_found")
        return json_answer(404, {"code": "404", "msg": "接口不存在"})

    def token(self, req, body):
        ctype = req.headers.get("Content-Type", "")
        if not ctype.startswith("application/x-www-form-urlencoded"):
            self.ledger.count("token_bad_request")
            return json_answer(400, {"error": "invalid_request"})
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            self.ledger.count("token_bad_request")
            return json_answer(400, {"error": "unsupported_grant_type"})
        if self.args.token_auth == "basic":
            form = self._basic_credentials(req, form)
            if form is None:
                self.ledger.count("token_invalid_client")
                return json_answer(401, {"error": "invalid_client"},
                                   {"WWW-Authenticate": 'Basic realm="token"'})
        if not (hmac.compare_digest(form.get("client_id", ""), self.client_id)
                and hmac.compare_digest(form.get("client_secret", ""), self.secret)):
            self.ledger.count("token_invalid_client")
            return json_answer(401, {"error": "invalid_client"})
        ttl = self.faults.get("token_ttl_s") or self.args.token_ttl
        tok = secrets.token_urlsafe(24)
        with self.tok_lock:
            self.tokens[tok] = time.monotonic() + float(ttl)
        self.ledger.count("token_issued")
        return json_answer(200, {"access_token": tok, "token_type": "Bearer",
                                 "expires_in": int(ttl)})

    @staticmethod
    def _basic_credentials(req, form):
        """client_secret_basic (RFC 6749 §2.3.1): the credentials only in the
        Authorization header, each form-urlencoded; None when not so."""
        auth = req.headers.get("Authorization", "")
        if not auth.startswith("Basic ") or "client_secret" in form:
            return None
        try:
            user, _, pw = base64.b64decode(auth[6:], validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return dict(form, client_id=unquote_plus(user), client_secret=unquote_plus(pw))

    def authorize(self, req):
        auth = req.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else None
        with self.tok_lock:
            exp = self.tokens.get(tok) if tok else None
            if exp is not None and exp <= time.monotonic():
                del self.tokens[tok]
                exp = None
            if exp is not None and self.faults.roll("token_revoke_rate"):
                del self.tokens[tok]
                self.ledger.fault("token_revoke")
                exp = None
        if exp is None:
            self.ledger.count("unauthorized")
            return json_answer(401, {"error": "invalid_token"},
                               {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return None

    # --- the API ---

    def _parse(self, req, body, need_key):
        """Common checks of publish and update: (key match, body) or an answer."""
        if not req.headers.get("Content-Type", "").startswith("application/json"):
            self.ledger.count("rejected_1001")
            return None, None, code("1001", "Content-Type 必须为 application/json")
        raw_key = req.headers.get("Idempotency-Key", "")
        try:    # http.server decodes header bytes as latin-1; the key is UTF-8
            raw_key = raw_key.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        km = KEY_RE.match(raw_key) if need_key else None
        if need_key and not km:
            self.ledger.count("rejected_1001")
            return None, None, code("1001", "Idempotency-Key 格式错误")
        try:
            obj = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            obj = None
        if not isinstance(obj, dict):
            self.ledger.count("rejected_1001")
            return None, None, code("1001", "请求体不是合法的 JSON 对象")
        errs = validate(obj)
        if km and not errs and km.group(1) != obj["sourceId"]:
            errs.append("Idempotency-Key 与 sourceId 不符")
        if errs:
            self.ledger.count("rejected_1001")
            return None, None, code("1001", "字段校验失败：" + "；".join(errs))
        return km, obj, None

    def _rejected_on_purpose(self, source_id):
        if source_id in (self.faults.get("reject_ids") or []) or self.faults.roll("reject"):
            self.ledger.fault("reject")
            self.ledger.count("rejected_1003")
            return code("1003", "该决定不允许公开")
        return None

    def _new_receipt(self):
        return "ZFJD%s%08d" % (datetime.date.today().strftime("%Y%m%d"), next(self.seq))

    def publish(self, req, body):
        km, obj, bad = self._parse(req, body, True)
        if bad:
            return bad
        key, did, rev = km.group(0), km.group(1), km.group(2)
        with self.ledger.lock:
            cur_no = self.by_decision.get(did)
            cur = self.by_receipt.get(cur_no) if cur_no else None
            live = cur is not None and cur["status"] == "PUBLISHED"
            if live and key in self.keys and cur["revision"] == rev:
                self.ledger.count("replay")
                return code("0", MSG_OK, {"receiptNo": cur_no}, processed=True)
            if live:
                self.ledger.count("exists_1002")
                return code("1002", "记录已存在", {"receiptNo": cur_no})
            bad = self._rejected_on_purpose(did)
            if bad:
                return bad
            receipt = self._new_receipt()
            self.by_receipt[receipt] = {"decision_id": did, "revision": rev,
                                        "status": "PUBLISHED"}
            self.by_decision[did] = receipt
            self.keys.add(key)
            self.ledger.record("publish", did, rev, receipt, obj, key=key)
            self.ledger.count("published")
        return code("0", MSG_OK, {"receiptNo": receipt}, processed=True)

    def update(self, req, body, receipt):
        km, obj, bad = self._parse(req, body, True)
        if bad:
            return bad
        key, did, rev = km.group(0), km.group(1), km.group(2)
        with self.ledger.lock:
            cur = self.by_receipt.get(receipt)
            if cur is None or cur["status"] != "PUBLISHED":
                self.ledger.count("not_found_1004")
                return code("1004", "记录不存在")
            if cur["decision_id"] != did:
                self.ledger.count("rejected_1001")
                return code("1001", "字段校验失败：sourceId 与回执不符")
            if cur["revision"] == rev:
                self.ledger.count("replay")
                return code("0", MSG_OK, {"receiptNo": receipt}, processed=True)
            bad = self._rejected_on_purpose(did)
            if bad:
                return bad
            cur["revision"] = rev
            self.keys.add(key)
            self.ledger.record("update", did, rev, receipt, obj, key=key)
            self.ledger.count("updated")
        return code("0", MSG_OK, {"receiptNo": receipt}, processed=True)

    def withdraw(self, req, body, receipt):
        try:
            obj = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            obj = None
        if (not isinstance(obj, dict) or not required_text(obj, "reason")
                or obj.get("type") not in WITHDRAW_TYPES):
            self.ledger.count("rejected_1001")
            return code("1001", "字段校验失败：reason 不能为空，type 取值 REVOKED|EXPIRED|OPERATOR")
        with self.ledger.lock:
            cur = self.by_receipt.get(receipt)
            if cur is None or cur["status"] != "PUBLISHED":
                self.ledger.count("not_found_1004")
                return code("1004", "记录不存在")
            cur["status"] = "WITHDRAWN"
            self.ledger.record("withdraw", cur["decision_id"], cur["revision"], receipt,
                               obj, type=obj["type"])
            self.ledger.count("withdrawn")
        return code("0", MSG_OK, {"receiptNo": receipt}, processed=True)

    def query(self, req, body, receipt):
        with self.ledger.lock:
            cur = self.by_receipt.get(receipt)
            if cur is None:
                self.ledger.count("not_found_1004")
                return code("1004", "记录不存在")
            self.ledger.count("query")
            return code("0", MSG_OK, {"receiptNo": receipt, "status": cur["status"],
                                     "revision": cur["revision"],
                                     "sourceId": cur["decision_id"]})


def main():
    p = simcommon.common_args("Simulator of the city platform (docs/protocols.md).", "--client-id")
    p.add_argument("--token-ttl", type=int, default=7200, help="expires_in of tokens, s")
    p.add_argument("--token-auth", choices=("post", "basic"), default="post",
                   help="token endpoint client authentication: form fields (post) or "
                        "HTTP Basic only (basic)")
    args = p.parse_args()
    return simcommon.serve(CityApp, args)


if __name__ == "__main__":
    sys.exit(main())
