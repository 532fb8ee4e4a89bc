"""simcommon - what the city and province simulators share.

A simulator is a ThreadingHTTPServer speaking HTTP/1.1 with keep-alive on a
loopback port.  This module holds the parts that do not depend on the
protocol: command-line options, the fault injector, the JSON-lines record of
publications, the counters behind GET /_sim/stats, body reading, answer
writing, and the check digits of docs/rules.md.

The rule every fault obeys: a publication is recorded only when the answer
that acknowledges it is sent.  The single exception is the "lost_answer"
fault, which processes the request and then drops the answer on purpose so
that tests can prove the client's idempotent replay.

Faults (JSON object, every key optional, rates are probabilities per
request between 0 and 1):

  http5xx, http429 (+ retry_after s), busy, record_retry, reject,
  reject_ids [..], slow (+ slow_ms), reset, html (+ html_status),
  truncated, oversized, lost_answer (+ lost_answer_mode reset|truncated),
  short_results, token_revoke_rate, token_ttl_s, clock_offset_s,
  body_limit, down, downtime [[start_s, end_s], ...]

Downtime windows count from the moment the fault set took effect: the start
of the simulator for --faults, the POST for /_sim/faults.
"""

import argparse
import collections
import datetime
import hashlib
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# --- personal data on the wire ----------------------------------------------------

# What must never reach a platform unmasked, wherever it stands in a request:
# a resident ID number (6-digit area, a plausible birth date, 3 digits, a
# check character — right or wrong) and a mainland mobile number.  Runs of
# ASCII letters and digits around them (hashes, nonces, codes) do not count.
ID_NUMBER_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])"
                            r"(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9A-Za-z])")
PHONE_LIKE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
REQUEST_ID_MEMORY = 200_000


def _strings(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, (str, int)) and not isinstance(obj, bool):
        yield str(obj)
    elif isinstance(obj, float):
        yield repr(obj)


def personal_data(obj):
    """The kinds of personal data found in any key or value of a decoded
    JSON document: a subset of {"unmasked_id_number", "unmasked_phone_number"}."""
    found = set()
    for text in _strings(obj):
        if ID_NUMBER_LIKE.search(text):
            found.add("unmasked_id_number")
        if PHONE_LIKE.search(text):
            found.add("unmasked_phone_number")
    return found


# --- check digits (docs/rules.md) --------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
IDNO_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
IDNO_CHECK = "10X98765432"


def uscc_check_char(first17):
    """Check character of a unified social credit code (GB 32100-2015)."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    value = 31 - total % 31
    return USCC_ALPHABET[0 if value == 31 else value]


def uscc_valid(code):
    if not isinstance(code, str) or len(code) != 18:
        return False
    if any(c not in USCC_ALPHABET for c in code):
        return False
    return code[17] == uscc_check_char(code[:17])


def idno_check_char(first17):
    """Check character of a resident ID number (GB 11643-1999)."""
    return IDNO_CHECK[sum(int(c) * w for c, w in zip(first17, IDNO_WEIGHTS)) % 11]


def idno_valid(idno):
    if not isinstance(idno, str) or len(idno) != 18 or not idno[:17].isdigit():
        return False
    try:
        datetime.date(int(idno[6:10]), int(idno[10:12]), int(idno[12:14]))
    except ValueError:
        return False
    return idno[17] == idno_check_char(idno[:17])


def is_date(s):
    if not isinstance(s, str) or len(s) != 10:
        return False
    try:
        datetime.date.fromisoformat(s)
    except ValueError:
        return False
    return True


def is_hex64(s):
    return (isinstance(s, str) and len(s) == 64
            and all(c in "0123456789abcdefABCDEF" for c in s))


def non_negative_number(v):
    """Amounts may come as JSON numbers or as the database printed them."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return v >= 0
    if isinstance(v, str):
        try:
            return float(v) >= 0
        except ValueError:
            return False
    return False


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


# --- faults -------------------------------------------------------------------

FAULT_DEFAULTS = {
    "http5xx": 0.0, "http429": 0.0, "retry_after": 1, "busy": 0.0,
    "record_retry": 0.0, "reject": 0.0, "reject_ids": [],
    "slow": 0.0, "slow_ms": 2000, "reset": 0.0, "html": 0.0, "html_status": 502,
    "truncated": 0.0, "oversized": 0.0, "lost_answer": 0.0,
    "lost_answer_mode": "reset", "short_results": 0.0,
    "token_revoke_rate": 0.0, "token_ttl_s": None, "clock_offset_s": 0.0,
    "body_limit": None, "down": False, "downtime": [],
}

HTML_PAGE = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")
OVERSIZED_BYTES = 3 * 1024 * 1024


class FaultError(ValueError):
    pass


def parse_faults(obj):
    """Validate a fault set; unknown keys are errors so a typo in a test
    does not silently inject nothing."""
    if isinstance(obj, str):
        obj = json.loads(obj) if obj.strip() else {}
    if not isinstance(obj, dict):
        raise FaultError("faults must be a JSON object")
    unknown = sorted(set(obj) - set(FAULT_DEFAULTS))
    if unknown:
        raise FaultError("unknown fault keys: " + ", ".join(unknown))
    f = dict(FAULT_DEFAULTS)
    f.update(obj)
    for w in f["downtime"]:
        if not (isinstance(w, list) and len(w) == 2 and w[0] <= w[1]):
            raise FaultError("downtime windows are [start_s, end_s] pairs")
    if f["lost_answer_mode"] not in ("reset", "truncated"):
        raise FaultError("lost_answer_mode is reset or truncated")
    return f


class Faults:
    """The fault set in force, and a seeded random source to roll it."""

    def __init__(self, initial, seed=None):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.set(initial)

    def set(self, obj):
        f = parse_faults(obj)
        with self._lock:
            self._f = f
            self._since = time.monotonic()

    def get(self, key):
        with self._lock:
            return self._f[key]

    def snapshot(self):
        with self._lock:
            return dict(self._f)

    def roll(self, key):
        with self._lock:
            rate = self._f[key]
            return bool(rate) and self._rng.random() < float(rate)

    def is_down(self):
        with self._lock:
            if self._f["down"]:
                return True
            t = time.monotonic() - self._since
            return any(a <= t < b for a, b in self._f["downtime"])


# --- records and counters -------------------------------------------------------


class Ledger:
    """Publications, per-decision status and request counters.

    publications[(decision_id, revision)] counts the times that revision
    was made the live content of the decision.  A second count for a pair
    while the decision already shows that revision live is a duplicate —
    something the platform would hold twice; republishing after a
    withdrawal or a revert to older content is not."""

    def __init__(self, target, records_path):
        self.target = target
        self.lock = threading.RLock()
        self._records = open(records_path, "a", encoding="utf-8") if records_path else None
        self.publications = collections.Counter()
        self.duplicates = 0
        self.status = {}            # decision_id -> {status, revision, receipt}
        self.outcomes = collections.Counter()
        self.faults = collections.Counter()
        self.violations = collections.Counter()
        self.internal_errors = 0
        self._rid_seen = {}             # X-Request-Id -> fingerprint of its request
        self._rid_unanswered = set()    # ids whose request got no answer (lost_answer)
        self._rid_order = collections.deque()
        self.started = time.monotonic()

    def remember_request_id(self, rid, fingerprint):
        """"new" (and remember rid with the request's fingerprint),
        "resent" (the same request again, its first copy never answered:
        once), or "reused".  The last REQUEST_ID_MEMORY ids are remembered."""
        with self.lock:
            if rid in self._rid_seen:
                if rid in self._rid_unanswered and self._rid_seen[rid] == fingerprint:
                    self._rid_unanswered.discard(rid)
                    return "resent"
                return "reused"
            self._rid_seen[rid] = fingerprint
            self._rid_order.append(rid)
            if len(self._rid_order) > REQUEST_ID_MEMORY:
                old = self._rid_order.popleft()
                self._rid_seen.pop(old, None)
                self._rid_unanswered.discard(old)
            return "new"

    def unanswered_request_id(self, rid):
        """The request carrying rid was processed but left without answer."""
        if rid:
            with self.lock:
                self._rid_unanswered.add(rid)

    def count(self, outcome, n=1):
        with self.lock:
            self.outcomes[outcome] += n

    def fault(self, name):
        with self.lock:
            self.faults[name] += 1

    def violation(self, name):
        with self.lock:
            self.violations[name] += 1

    def record(self, op, decision_id, revision, receipt, body, **extra):
        """Note a change of published content; the caller holds self.lock
        across its decision and this call so the two cannot interleave."""
        with self.lock:
            cur = self.status.get(decision_id)
            if op in ("publish", "update"):
                if cur and cur["status"] == "PUBLISHED" and cur["revision"] == revision:
                    self.duplicates += 1
                self.publications[(decision_id, revision)] += 1
                self.status[decision_id] = {"status": "PUBLISHED", "revision": revision,
                                            "receipt": receipt}
            elif op == "withdraw":
                self.status[decision_id] = {"status": "WITHDRAWN", "revision": revision,
                                            "receipt": receipt}
            line = {"target": self.target, "op": op, "decision_id": decision_id,
                    "revision": revision, "receipt": receipt, "time": now_iso(),
                    "body": body}
            line.update(extra)
            if self._records:
                self._records.write(json.dumps(line, ensure_ascii=False) + "\n")
                self._records.flush()

    def stats(self, faults):
        with self.lock:
            pubs = {}
            for (d, r), n in self.publications.items():
                pubs.setdefault(d, {})[r] = n
            return {
                "target": self.target,
                "uptime_s": round(time.monotonic() - self.started, 3),
                "distinct_publications": len(self.publications),
                "publications_total": sum(self.publications.values()),
                "publications": pubs,
                "duplicates": self.duplicates,
                "status": dict(self.status),
                "requests": dict(self.outcomes),
                "faults_injected": dict(self.faults),
                "violations": dict(self.violations),
                "internal_errors": self.internal_errors,
                "faults": faults.snapshot(),
            }


# --- HTTP plumbing ----------------------------------------------------------------


class Answer:
    """What a protocol handler returns.  processed: the request changed or
    confirmed platform state (the answer acknowledges something), which is
    what lost_answer may drop."""

    def __init__(self, status, body, headers=None, processed=False):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.processed = processed


def json_answer(status, obj, headers=None, processed=False):
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    h = {"Content-Type": "application/json; charset=utf-8"}
    h.update(headers or {})
    return Answer(status, body, h, processed)


MAX_BODY_READ = 64 * 1024 * 1024


class SimHandler(BaseHTTPRequestHandler):
    """Reads the request, runs control endpoints, rolls faults, asks the
    server's app for an answer and writes it."""

    protocol_version = "HTTP/1.1"
    server_version = "epsync-sim/1"
    timeout = 120          # idle keep-alive connections end after this

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.server.app.ledger.target, fmt % args))

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_BODY_READ:
                    return None
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY_READ:
            return None
        return self.rfile.read(n) if n else b""

    def _reset(self):
        """Close without answering, with an RST rather than a FIN."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _send(self, ans, declared_len=None):
        try:
            self.send_response(ans.status)
            for k, v in ans.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(declared_len if declared_len is not None
                                                   else len(ans.body)))
            self.end_headers()
            self.wfile.write(ans.body)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    def _dispatch(self, method):
        app = self.server.app
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self._reset()
            return
        if body is None:
            self._reset()
            return
        path = urlsplit(self.path).path
        if path.startswith("/_sim/"):
            self._send(app.control(method, path, body))
            return
        try:
            self._serve(app, method, path, body)
        except Exception:
            with app.ledger.lock:
                app.ledger.internal_errors += 1
            traceback.print_exc(file=sys.stderr)
            self._send(json_answer(500, {"error": "simulator internal error"}))

    def _serve(self, app, method, path, body):
        faults, ledger = app.faults, app.ledger
        if faults.is_down():
            ledger.fault("down")
            self._reset()
            return
        if faults.roll("reset"):
            ledger.fault("reset")
            self._reset()
            return
        if faults.roll("slow"):
            ledger.fault("slow")
            time.sleep(float(faults.get("slow_ms")) / 1000.0)
        early = self._transport_fault(app)
        if early is not None:
            self._send(early)
            return
        refused = self._check_request_id(app, method, path, body)
        if refused is not None:
            self._send(refused)
            return
        self._check_privacy(ledger, body)
        ans = app.handle(self, method, path, body)
        if ans.processed and faults.roll("lost_answer"):
            ledger.fault("lost_answer")
            ledger.unanswered_request_id(self._request_id)
            if faults.get("lost_answer_mode") == "truncated":
                ans.body = ans.body[: max(1, len(ans.body) // 2)]
                self._send(ans)
            else:
                self._reset()
            return
        self._send(ans)

    def _transport_fault(self, app):
        """Faults a proxy in front of the platform would cause: the request
        never reaches it, so nothing is processed."""
        faults, ledger = app.faults, app.ledger
        if faults.roll("http5xx"):
            ledger.fault("http5xx")
            return json_answer(503, {"error": "service unavailable"})
        if faults.roll("http429"):
            ledger.fault("http429")
            return json_answer(429, {"error": "too many requests"},
                               {"Retry-After": str(faults.get("retry_after"))})
        if faults.roll("html"):
            ledger.fault("html")
            return Answer(int(faults.get("html_status")), HTML_PAGE,
                          {"Content-Type": "text/html"})
        if faults.roll("truncated"):
            ledger.fault("truncated")
            return Answer(200, app.truncated_body(), {"Content-Type":
                                                      "application/json; charset=utf-8"})
        if faults.roll("oversized"):
            ledger.fault("oversized")
            return Answer(200, app.oversized_body(), {"Content-Type":
                                                      "application/json; charset=utf-8"})
        return None

    def _check_request_id(self, app, method, path, body):
        """A missing X-Request-Id, or one this simulator has seen before
        (within its memory), is a violation; refused with 400 unless the
        simulator runs with --lax-request-id.  None when the request may go on.

        One repeat is not a reuse: the same bytes again (method, path, body
        and id) after this simulator dropped the connection without
        answering them (lost_answer).  An HTTP client resends a request whose
        kept-alive connection died before any answer on a fresh connection,
        by itself; to the client that is still the one request."""
        rid = self.headers.get("X-Request-Id")
        fp = hashlib.sha256(b"%s %s\n%s" % (method.encode(), path.encode(), body)).hexdigest()
        self._request_id = rid
        if not rid:
            name = "missing_request_id"
        else:
            seen = app.ledger.remember_request_id(rid, fp)
            if seen == "new":
                return None
            if seen == "resent":
                app.ledger.count("resent_unanswered")
                return None
            name = "reused_request_id"
        app.ledger.violation(name)
        if app.args.lax_request_id:
            return None
        app.ledger.count("refused_" + name)
        return app.refusal(400, "X-Request-Id missing" if not rid else
                           "X-Request-Id %s was used before: a fresh one per request" % rid)

    def _check_privacy(self, ledger, body):
        """Count personal data in the request body (see personal_data)."""
        try:
            obj = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            return
        for name in sorted(personal_data(obj)):
            ledger.violation(name)


class SimApp:
    """Base of the two protocol apps: control endpoints and fault bodies."""

    def __init__(self, target, args):
        self.args = args
        self.faults = Faults(args.faults, args.seed)
        self.ledger = Ledger(target, args.records)

    def control(self, method, path, body):
        if method == "GET" and path == "/_sim/stats":
            return json_answer(200, self.ledger.stats(self.faults))
        if method == "POST" and path == "/_sim/faults":
            try:
                self.faults.set(json.loads(body.decode("utf-8") or "{}"))
            except (ValueError, FaultError) as exc:
                return json_answer(400, {"error": str(exc)})
            return json_answer(200, {"ok": True, "faults": self.faults.snapshot()})
        extra = self.extra_control(method, path, body)
        if extra is not None:
            return extra
        return json_answer(404, {"error": "no such control endpoint"})

    def extra_control(self, method, path, body):
        return None

    def refusal(self, status, message):
        """The answer to a request refused before the API sees it."""
        return json_answer(status, {"error": "invalid_request", "message": message})

    def busy_body(self):
        raise NotImplementedError

    def truncated_body(self):
        """A success-looking answer cut in the middle: not valid JSON."""
        full = self.success_example()
        return full[: len(full) // 2]

    def oversized_body(self):
        """3 MiB of JSON that, read whole, still says 'busy': a client that
        ignores the 1 MiB limit is not rewarded with a success."""
        head = self.busy_body()[:-1] + b',"padding":"'
        pad = OVERSIZED_BYTES - len(head) - 2
        return head + b"x" * pad + b'"}'

    def success_example(self):
        raise NotImplementedError


def read_secret(path):
    with open(path, "r", encoding="utf-8") as f:
        return f.read().strip()


def common_args(description, ident_flag):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--port", type=int, default=0, help="0: pick a free port")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--records", required=True, help="JSON-lines file of publications")
    p.add_argument("--faults", default="{}", help="fault set, JSON")
    p.add_argument(ident_flag, required=True, dest="ident")
    p.add_argument("--secret-file", required=True)
    p.add_argument("--seed", type=int, default=None, help="seed of the fault dice")
    p.add_argument("--verbose", action="store_true", help="log requests on stderr")
    p.add_argument("--lax-request-id", action="store_true",
                   help="count a missing or reused X-Request-Id but answer the request")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="stop when the process that started us dies")
    return p


def serve(make_app, args):
    """Build the app, bind, print "PORT n", serve until SIGTERM/SIGINT."""
    import signal

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        block_on_close = False
        allow_reuse_address = True
        request_queue_size = 256

        def handle_error(self, request, client_address):
            # A client that hangs up mid-request is normal under faults;
            # anything else is a simulator bug and is shown.
            if isinstance(sys.exc_info()[1], OSError):
                return
            app.ledger.internal_errors += 1
            traceback.print_exc(file=sys.stderr)

    try:
        parse_faults(args.faults)
    except (ValueError, FaultError) as exc:
        sys.stderr.write("bad --faults: %s\n" % exc)
        return 64
    app = make_app(args)
    httpd = Server((args.bind, args.port), SimHandler)
    httpd.app = app
    httpd.verbose = args.verbose
    sys.stdout.write("PORT %d\n" % httpd.server_address[1])
    sys.stdout.flush()

    def stop(signum, frame):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_with_parent:
        parent = os.getppid()

        def watch():
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(0)     # records are flushed line by line: nothing to lose

        threading.Thread(target=watch, daemon=True).start()
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
    return 0
