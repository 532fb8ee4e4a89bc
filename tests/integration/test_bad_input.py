"""Bad input never crashes the daemon and never loses a decision.

Two kinds of bad input reach epsync from outside:

* malformed rows in the source view (NULLs everywhere, megabytes of text,
  characters beyond the BMP, control characters, impossible numbers and
  dates): each must end in a definite, explained state at both targets
  while the valid rows around it are published exactly once;
* answers from a platform that are too big or never end: the daemon must
  read no more than its cap, keep its memory bounded, put the deliveries
  to retry with a clear error, keep serving the other target, and still
  stop promptly on SIGTERM.
"""

import datetime
import http.server
import json
import os
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

psycopg2 = h.psycopg2

BOTH_PUBLISHED = {"city": "published", "province": "published"}
# States in which a delivery is finished or parked with a reason for a human:
# nothing more happens to it by itself, and the report explains it.
DEFINITE = {"published", "invalid", "excluded", "rejected"}
FAST_POLL = {"interval": "300ms"}


# --- helpers ---------------------------------------------------------------------


def strings_in(obj):
    """Every string anywhere inside a parsed JSON value."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from strings_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings_in(v)


def publications(sim, decision_id):
    return [r for r in sim.records() if r.get("decision_id") == decision_id
            and r["op"] in ("publish", "update")]


def assert_published_once(sims, ids):
    """Each id was published exactly once at each simulator, never updated
    or sent twice (read from the simulators' own records)."""
    for sim in sims:
        counts = {}
        for r in sim.records():
            if r["op"] in ("publish", "update"):
                counts[r["decision_id"]] = counts.get(r["decision_id"], 0) + 1
        bad = {d: counts.get(d, 0) for d in ids if counts.get(d, 0) != 1}
        assert not bad, "%s: publications per decision %s" % (sim.kind, bad)
        sim.assert_clean()


def assert_log_sane(ep):
    """The daemon wrote only well-formed JSON log lines (so no raw control
    character or line break from the data split a line), none above the
    error level, and no sanitizer or abort report."""
    text = ep.log()
    for line in text.splitlines():
        if not line.strip():
            continue
        assert not line.startswith(("<0>", "<1>", "<2>")), line[:300]
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError("log line is not JSON: %r" % line[:300])
        assert obj.get("level") not in ("crit", "critical", "alert", "emerg", "emergency"), line[:300]
    for marker in ("AddressSanitizer", "runtime error:", "Assertion", "Aborted", "Segmentation"):
        assert marker not in text, text[-3000:]


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples the daemon's resident memory every 50 ms in a thread."""

    def __init__(self, pid):
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, rss_kib(self.pid))
            self._stop.wait(0.05)

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.peak_kib


# --- part 1: malformed source rows ----------------------------------------------------


def nullable_columns(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'epsync_source' AND table_name = 'decisions' "
                    "AND is_nullable = 'YES' ORDER BY ordinal_position")
        return [r[0] for r in cur.fetchall()]


def exactly(n, pattern):
    """A string of exactly n characters (code points) repeating pattern."""
    return (pattern * (n // len(pattern) + 1))[:n]


def test_malformed_rows_end_in_a_definite_state_and_valid_ones_publish_once():
    w = h.World(poll=FAST_POLL, log={"format": "json"})
    valid = [h.insert_decision(w.src)["decision_id"] for _ in range(4)]
    bad = {}            # name -> decision_id of each odd row (malformed, or valid but unusual)
    sent_text = {}      # name -> a text that must reach both platforms unchanged

    # Every column that may be NULL is NULL; only the NOT NULL ones are set.
    cols = nullable_columns(w.src)
    assert "party_name" in cols and "violation_facts" in cols and "fine_amount" in cols, cols
    bad["all_null"] = h.insert_decision(w.src, **{c: None for c in cols})["decision_id"]

    # 1,000,000 characters, far over the 50,000 limit: CJK with quotes and
    # backslashes in one, characters beyond the BMP (4 UTF-8 bytes each) in
    # the other.  The reason must count characters, not bytes.
    bad["huge_facts"] = h.insert_decision(
        w.src, violation_facts=exactly(1000000, '违法事实"引号\'与\\反斜杠\\n'))["decision_id"]
    bad["huge_astral"] = h.insert_decision(
        w.src, penalty_content=exactly(1000000, "😀𠮷𩸽\"\\"))["decision_id"]
    # Exactly at the limit (50,000 characters, 200,000 bytes) is valid ...
    at_limit = exactly(50000, "𠮷😀")
    bad["at_limit"] = h.insert_decision(w.src, violation_facts=at_limit)["decision_id"]
    sent_text["at_limit"] = at_limit
    # ... and one more character is not.
    bad["over_limit"] = h.insert_decision(
        w.src, violation_facts=exactly(50001, "𠮷😀"))["decision_id"]
    # Beyond the BMP, quotes and backslashes in normal-sized text: valid.
    astral = '当事人"张三\'的\\店铺\\"𠮷野家😀🏪 \\u0000 %s {"a":1} \\\\'
    bad["astral"] = h.insert_decision(w.src, violation_facts=astral,
                                      case_name="𩸽鱼店\"案\"\\")["decision_id"]
    sent_text["astral"] = astral

    # Control characters in text fields are allowed (only decision_id, which
    # travels in HTTP headers, must be free of them): published unchanged.
    ctrl = "第一行\x01SOH\x1b[31m红色\x1b[0m\t制表\r\n第二行\x7f"
    bad["control"] = h.insert_decision(w.src, violation_facts=ctrl, case_name="\x1b]0;title\x07案",
                                       remarks="\r\n\t\x0b\x0c")["decision_id"]
    sent_text["control"] = ctrl
    bad["control_id"] = h.insert_decision(
        w.src, decision_id="SJZSJ-%d-CTRL\x01\x1b[2J" % h.today_cst().year)["decision_id"]

    # Values no case record should hold but a view can produce.
    bad["unknown_kind"] = h.insert_decision(w.src, kind="行政处罚")["decision_id"]
    bad["nan_fine"] = h.insert_decision(w.src, fine_amount=float("nan"))["decision_id"]
    bad["huge_fine"] = h.insert_decision(w.src, fine_amount=int("9" * 1000))["decision_id"]
    bad["infinite_date"] = h.insert_decision(w.src, decided_on="-infinity")["decision_id"]
    bad["infinite_validity"] = h.insert_decision(w.src, valid_until="infinity")["decision_id"]
    # Valid field by field, but nine fields of 50,000 control characters
    # (6 bytes each once JSON-escaped) cannot fit the province's 2 MiB.
    bad["over_2mib"] = h.insert_decision(w.src, **{
        c: "\x01" * 50000 for c in ("case_name", "violation_facts", "legal_basis",
                                     "penalty_content", "remarks", "violation_type",
                                     "party_name", "legal_rep", "doc_no")})["decision_id"]

    # Invalid UTF-8 cannot even be stored: the UTF8 database refuses it at
    # INSERT, so such a row can never reach epsync.  Tried three ways: raw
    # bytes in the statement, an escape in a string literal, a conversion.
    for i, stmt in enumerate((
            b"INSERT INTO epsync_source.decisions (decision_id, kind, decided_on, party_name) "
            b"VALUES ('SJZSJ-UTF8-1', 'penalty', current_date, 'bad \xc3\x28 \xff')",
            "INSERT INTO epsync_source.decisions (decision_id, kind, decided_on, party_name) "
            "VALUES ('SJZSJ-UTF8-2', 'penalty', current_date, E'bad \\303\\050')",
            "INSERT INTO epsync_source.decisions (decision_id, kind, decided_on, party_name) "
            "VALUES ('SJZSJ-UTF8-3', 'penalty', current_date, "
            "convert_from('\\xc328ff'::bytea, 'UTF8'))")):
        try:
            with w.src.cursor() as cur:
                cur.execute(stmt)
        except psycopg2.DataError as exc:
            assert exc.pgcode == "22021", (i, exc.pgcode, str(exc))   # character_not_in_repertoire
        else:
            raise AssertionError("invalid UTF-8 was stored (statement %d)" % i)
    with w.src.cursor() as cur:
        cur.execute("SELECT count(*) FROM epsync_source.decisions "
                    "WHERE decision_id LIKE 'SJZSJ-UTF8-%'")
        assert cur.fetchone()[0] == 0

    valid += [h.insert_decision(w.src)["decision_id"] for _ in range(4)]
    valid.append(h.insert_decision(w.src, party_type="natural_person")["decision_id"])

    w.ep.start_daemon()
    for d in valid:
        w.wait_states(d, BOTH_PUBLISHED, timeout=90)

    def settled():
        got = {}
        for name, d in bad.items():
            s = w.states(d)
            if set(s) != {"city", "province"} or not set(s.values()) <= DEFINITE:
                return None
            got[name] = s
        return got
    states = w.ep.wait_until(settled, timeout=90, what="every malformed row in a definite state "
                             "(now %s)" % {n: w.states(d) for n, d in bad.items()})
    time.sleep(1.0)     # a second look: nothing is sent twice, nothing moves on
    assert settled() == states

    reasons = {}
    for name, d in bad.items():
        for target, reason in w.q("SELECT target, reason FROM epsync.deliveries "
                                  "WHERE decision_id = %s", d):
            reasons[name, target] = reason or ""

    def expect(name, want_state, *words):
        """name is in want_state at both targets, and its reason says why."""
        assert states[name] == {"city": want_state, "province": want_state}, (name, states[name])
        for t in ("city", "province"):
            for word in words:
                assert word in reasons[name, t], (name, t, reasons[name, t])

    expect("all_null", "invalid", "party_type: missing", "party_name: missing",
           "authority_name: missing", "violation_facts: missing", "doc_no: missing")
    expect("huge_facts", "invalid", "violation_facts: longer than 50000 characters (1000000)")
    expect("huge_astral", "invalid", "penalty_content: longer than 50000 characters (1000000)")
    expect("over_limit", "invalid", "violation_facts: longer than 50000 characters (50001)")
    expect("at_limit", "published")
    expect("astral", "published")
    expect("control", "published")
    expect("control_id", "invalid", "decision_id: contains a control character")
    # A kind the view should never produce is a record to fix, not a
    # decision that silently needs no publication.
    expect("unknown_kind", "invalid", "kind: not one of")
    expect("nan_fine", "invalid", "fine_amount: not a number")
    expect("huge_fine", "published")
    expect("infinite_date", "invalid", "decided_on")
    # A date the platforms cannot take is refused before sending, with the
    # field named (needs a human, like a platform's rejection).
    expect("infinite_validity", "rejected", "not a date")
    assert states["over_2mib"] == {"city": "published", "province": "rejected"}, states["over_2mib"]
    assert "2 MiB" in reasons["over_2mib", "province"], reasons["over_2mib", "province"]

    # Valid rows: exactly once at each platform.  Valid odd rows: exactly
    # once too, and their text arrived unchanged, character for character.
    published = valid + [bad[n] for n in ("at_limit", "astral", "control", "huge_fine")]
    assert_published_once([w.city, w.prov], published)
    assert len(publications(w.city, bad["over_2mib"])) == 1
    for name, text in sent_text.items():
        for sim in (w.city, w.prov):
            recs = publications(sim, bad[name])
            assert any(text in strings_in(r["body"]) for r in recs), (
                "%s: the text of %s was altered on the way" % (sim.kind, name))
    # Nothing that is not published reached a platform.
    for name, d in bad.items():
        for sim, t in ((w.city, "city"), (w.prov, "province")):
            if states[name][t] != "published":
                assert not publications(sim, d), (name, t)

    # The daemon is still running, and the operator commands cope with
    # every one of these rows present.
    assert w.ep.alive(), w.ep.log()[-3000:]
    for name, d in bad.items():
        r = w.ep.run(["show", d], timeout=60)
        assert r.returncode == 0 and d in r.stdout, (name, r.returncode, r.stderr[-2000:])
    r = w.ep.run(["report", "--format", "json"], timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    attention = json.dumps(report["needs_attention"], ensure_ascii=False)
    for name in ("all_null", "huge_facts", "unknown_kind", "infinite_validity"):
        assert bad[name] in attention, (name, attention[:3000])
    r = w.ep.run(["verify-audit"], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr

    assert w.ep.stop() == 0, w.ep.log()[-3000:]
    assert_log_sane(w.ep)


# --- part 2: oversized and endless response bodies ---------------------------------------


class HostileTarget:
    """A stand-in for the province gateway that answers every request with
    HTTP 200 and a body that is too big or never ends.  mode decides which:

      big             5 MiB with its Content-Length
      endless_chunked chunked, 64 KiB chunks until the client hangs up
      endless_length  Content-Length of a terabyte, written until the client hangs up
      endless_gzip    Content-Encoding gzip, chunked: a few KB per MiB of zeros, forever
      trickle         chunked, 16 bytes every 200 ms: never reaches any size cap

    Per request it records the mode, the X-Request-Id, the bytes written
    and whether the client hung up (rather than the server giving up)."""

    CAP = 256 * 1024 * 1024       # the server's own safety stop per request

    def __init__(self):
        self.mode = "big"
        self.requests = []        # dicts, appended when a request ends
        self.in_flight = {}       # request id -> mode
        self.lock = threading.Lock()
        self.closing = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                outer._answer(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        h._register(self)

    def _answer(self, req):
        mode = self.mode
        rid = req.headers.get("X-Request-Id", "")
        with self.lock:
            self.in_flight[rid] = mode
        written, hung_up = 0, False
        try:
            req.send_response(200)
            req.send_header("Content-Type", "application/json; charset=utf-8")
            if mode == "big":
                req.send_header("Content-Length", str(5 * 1024 * 1024))
            elif mode == "endless_length":
                req.send_header("Content-Length", str(10 ** 12))
            else:
                req.send_header("Transfer-Encoding", "chunked")
            if mode == "endless_gzip":
                req.send_header("Content-Encoding", "gzip")
            req.end_headers()
            if mode == "big":
                head = b'{"success":true,"data":{"results":[]},"padding":"'
                body = head + b"x" * (5 * 1024 * 1024 - len(head) - 2) + b'"}'
                for i in range(0, len(body), 65536):
                    req.wfile.write(body[i:i + 65536])
                    written += len(body[i:i + 65536])
            else:
                gz = zlib.compressobj(9, zlib.DEFLATED, 31)
                block = b"\0" * (1024 * 1024)
                while written < self.CAP and not self.closing.is_set():
                    if mode == "endless_length":
                        data = b"x" * 65536
                        req.wfile.write(data)
                    else:
                        if mode == "trickle":
                            data = b"                "
                            time.sleep(0.2)
                        elif mode == "endless_gzip":
                            data = gz.compress(block) + gz.flush(zlib.Z_SYNC_FLUSH)
                        else:
                            data = b"x" * 65536
                        req.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    req.wfile.flush()
                    written += len(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            hung_up = True
        req.close_connection = True
        with self.lock:
            self.in_flight.pop(rid, None)
            self.requests.append({"mode": mode, "request_id": rid, "written": written,
                                  "hung_up": hung_up})

    def finished(self, mode):
        with self.lock:
            return [r for r in self.requests if r["mode"] == mode]

    def trickling(self):
        with self.lock:
            return [rid for rid, m in self.in_flight.items() if m == "trickle"]

    def stop(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


def test_oversized_and_endless_bodies_keep_the_daemon_up_and_bounded():
    tmp = h.make_tmpdir()
    pg = h.shared_cluster()
    db = h.fresh_dbname()
    src = h.case_db(pg, db)
    city = h.Sim("city", tmp)
    hostile = HostileTarget()
    fake = h.OfflineTarget("province", tmp)      # app id and secret file of a province target
    fake.base_url = hostile.base_url
    # A long timeout, so only the body cap (not curl's timeout) can end the
    # endless answers, and a trickling answer is still in flight at SIGTERM.
    cfg = h.write_config(tmp, pg, [city, fake], dbname=db, poll=FAST_POLL,
                         targets={"province": {"timeout": "60s"}}, log={"format": "json"},
                         delivery={"lease": "2m"})
    ep = h.Epsync(config=cfg)
    r = ep.run(["migrate"])
    assert r.returncode == 0, r.stderr
    state = pg.connect(db)

    def q(sql, *params):
        with state.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    ids = h.insert_decisions(pg, db, 20)
    ep.start_daemon()
    rss = RssSampler(ep.proc.pid)

    def attempts_of(request_id):
        return q("SELECT message FROM epsync.audit WHERE operation = 'attempt' "
                 "AND target = 'province' AND detail LIKE %s", "%request_id=" + request_id + "%")

    # Each hostile answer in turn: the daemon reads at most its 1 MiB cap,
    # hangs up, and records the attempt as a transient failure that says
    # the answer was cut.  The requests are matched by X-Request-Id.
    for mode in ("big", "endless_chunked", "endless_length", "endless_gzip"):
        hostile.mode = mode
        done = ep.wait_until(lambda: [x for x in hostile.finished(mode)
                                      if x["request_id"] and attempts_of(x["request_id"])],
                             timeout=60, what="an attempt answered with %s recorded" % mode)
        for x in done:
            if mode != "big":
                # An endless answer ends only when the daemon hangs up; what
                # was written by then is its 1 MiB plus what the socket
                # buffers took (a 5 MiB answer may fit in them whole).
                assert x["hung_up"], ("the daemon did not hang up on a %s answer" % mode, x)
                assert x["written"] < 64 * 1024 * 1024, x
            for (message,) in attempts_of(x["request_id"]):
                assert message == "response truncated at 1 MiB", (mode, message)

    # The hostile target holds every delivery in retry with a clear error:
    # none was taken for published, none was given up on.
    rows = q("SELECT decision_id, state, last_error, published_revision FROM epsync.deliveries "
             "WHERE target = 'province'")
    assert sorted(r[0] for r in rows) == sorted(ids), rows
    for did, st, last_error, published_revision in rows:
        assert st in ("retry", "pending"), (did, st)
        assert published_revision is None, did
    assert any(r[2] == "response truncated at 1 MiB" for r in rows), rows
    # The other target went on regardless: everything published there once.
    ep.wait_until(lambda: all(s == "published" for (s,) in q(
        "SELECT state FROM epsync.deliveries WHERE target = 'city'")) and len(ids) == len(q(
            "SELECT 1 FROM epsync.deliveries WHERE target = 'city'")),
        timeout=60, what="every decision published at the city")
    assert_published_once([city], ids)

    # SIGTERM while an answer trickles in forever: the daemon gives up on it
    # and exits 0 within its 10 s grace period.
    hostile.mode = "trickle"
    ep.wait_until(hostile.trickling, timeout=60, what="a trickling answer in flight")
    assert ep.alive()
    t0 = time.monotonic()
    code = ep.stop(timeout=30)
    took = time.monotonic() - t0
    peak = rss.stop()
    assert code == 0, (code, ep.log()[-3000:])
    # The grace period is 10 s; the slack is for a busy machine (an answer
    # that never ends would keep a daemon that waited for it forever).
    assert took < 20, took
    # Memory stayed bounded although tens of MiB were offered to it.
    assert 0 < peak < 100 * 1024, "peak RSS %d KiB" % peak
    assert_log_sane(ep)
    # Its leases were released: another process could take over at once.
    assert q("SELECT count(*) FROM epsync.deliveries WHERE lease_owner IS NOT NULL")[0][0] == 0

    # Nothing was lost: pointed at a real gateway, the next start publishes
    # every decision at the province, and the city sees none a second time.
    hostile.stop()
    prov = h.Sim("province", tmp)
    h.write_config(tmp, pg, [city, prov], dbname=db, poll=FAST_POLL, log={"format": "json"})
    ep.start_daemon()
    ep.wait_until(lambda: len(prov.published()) == len(ids), timeout=90,
                  what="every decision published at the province")
    ep.wait_until(lambda: q("SELECT count(*) FROM epsync.deliveries WHERE state <> 'published'")
                  [0][0] == 0, timeout=60, what="every delivery recorded as published")
    assert_published_once([city, prov], ids)
    assert ep.stop() == 0
    assert_log_sane(ep)
    src.close()
    state.close()
