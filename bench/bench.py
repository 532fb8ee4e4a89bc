"""bench.py - the epsync benchmark suite (run it through bench/run).

Figures (see bench/README.md for what each one means and its target):
  drain     decisions/s and deliveries/s from daemon start to drained
  memory    peak RSS (VmHWM) of `epsync run` draining each backlog size
  latency   commit of a new decision -> first request at the sink (NOTIFY)
  idle      CPU seconds of an idle `epsync run`, per 60 s
  report    wall time of `epsync report --format json` over the backlog
  baseline  the naive sequential sync (bench/baseline.c) and the ratio
  sink      wrk against the sink: it is not the bottleneck

Everything runs against a throw-away PostgreSQL cluster (fsync on) from
tests/lib/harness.py; one table is printed at the end.
"""

import argparse
import datetime
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import harness as h  # noqa: E402

RELATION = "epsync_source.decisions"
SOURCE_APP = "epsync_source_reader"     # the source connection, for XactWatch
CLK_TCK = os.sysconf("SC_CLK_TCK")
rows = []          # (figure, target, measured, command)


def say(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def row(figure, target, measured, command):
    rows.append((figure, target, measured, command))
    say("%s: %s (target %s)" % (figure, measured, target))


# --- the world ------------------------------------------------------------------------


class Sink:
    def __init__(self, binary, tmp, log=None):
        cmd = [binary] + (["--log", log] if log else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        h._register(self)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError("sink did not start: %r" % line)
        self.port = int(line.split()[1])
        self.base_url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.proc.stdout.close()


def secret_file(tmp):
    return h._write_private(os.path.join(tmp, "sink.secret"), "bench-secret\n")


def config(tmp, pg, db, sink, notify=None):
    sec = secret_file(tmp)
    common = {"enabled": True, "base_url": sink.base_url, "allow_plain_http": True,
              "timeout": "10s"}
    city = dict(common, protocol="city", client_id="bench", client_secret_file=sec,
                max_in_flight=32)
    prov = dict(common, protocol="province", app_id="bench", app_secret_file=sec,
                batch_size=100, max_in_flight=8, kinds=["penalty", "license"])
    cfg = {
        "database": {"source": pg.conninfo(db) + " application_name=" + SOURCE_APP,
                     "state": pg.conninfo(db),
                     "source_relation": RELATION},
        "poll": {"interval": "5s", "overlap": "10m", "reconcile_every": "24h"},   # the defaults
        "delivery": {"max_in_flight": 64, "lease": "2m"},
        "calendar": os.path.join(h.REPO, "conf", "holidays.yaml"),
        "log": {"level": "warning", "format": "text"},
        "targets": {"city": city, "province": prov},
    }
    if notify:
        cfg["poll"]["notify_channel"] = notify
    path = os.path.join(tmp, "epsync-%s.yaml" % db)
    h._write_private(path, to_yaml_cfg(cfg))
    return path


def to_yaml_cfg(cfg):
    return "# written by bench/bench.py\n" + h.to_yaml(cfg) + "\n"


def valid_codes(n=400):
    return [h.valid_uscc("bench-%d" % i) for i in range(n)]


FILL_SQL = """
INSERT INTO epsync_source.decisions
  (decision_id, state, kind, decided_on, doc_no, case_name, party_name, party_type,
   party_credit_code, legal_rep, violation_type, violation_facts, legal_basis,
   penalty_types, penalty_content, fine_amount, authority_name, authority_credit_code,
   source_unit, source_unit_credit_code)
SELECT 'BENCH-' || lpad(g::text, 8, '0'), 'final', 'penalty', %(decided)s,
       '石市监处罚〔2026〕' || g || '号', '某商贸有限公司销售不合格产品案',
       '石家庄某商贸有限公司' || g, 'legal_person',
       (%(codes)s::text[])[1 + g %% %(ncodes)s], '王某某', '销售不合格产品',
       '当事人销售的产品经抽样检验不合格。', '《中华人民共和国产品质量法》第四十九条',
       '警告,罚款', '警告，罚款人民币5000元', 5000,
       %(auth)s, %(authcode)s, %(auth)s, %(authcode)s
FROM generate_series(%(lo)s, %(hi)s) g
"""


def fill(conn, lo, hi):
    """Insert decisions lo..hi (valid, final penalties on legal persons)."""
    codes = valid_codes()
    with conn.cursor() as cur:
        cur.execute(FILL_SQL, {"decided": h.today_cst() - datetime.timedelta(days=1),
                               "codes": codes, "ncodes": len(codes), "lo": lo, "hi": hi,
                               "auth": h.AUTHORITY, "authcode": h.AUTHORITY_CODE})


SOURCE_INDEX = True

# The source as a case system may well have it: a view joining the decisions
# with a second table, and no index on the order change detection reads in
# (updated_at, decision_id); only the primary keys.
JOIN_SQL = """
DROP INDEX epsync_source.decisions_poll_order;
ALTER TABLE epsync_source.decisions RENAME TO decision_rows;
CREATE TABLE epsync_source.filing (decision_id text PRIMARY KEY, filed_by text NOT NULL,
                                   filed_at timestamptz NOT NULL DEFAULT now());
INSERT INTO epsync_source.filing (decision_id, filed_by)
    SELECT decision_id, 'registry' FROM epsync_source.decision_rows;
CREATE VIEW epsync_source.decisions AS
    SELECT r.* FROM epsync_source.decision_rows r
    JOIN epsync_source.filing f ON f.decision_id = r.decision_id;
VACUUM ANALYZE epsync_source.filing;
VACUUM ANALYZE epsync_source.decision_rows;
"""


def template_db(pg, n, indexed=None):
    """A database holding n decisions and no state schema; copy it with
    copy_db.  indexed (default: not --no-source-index): a table indexed on
    the poll order; else the same rows behind a join without that index."""
    indexed = SOURCE_INDEX if indexed is None else indexed
    name = "tmpl_%d%s" % (n, "" if indexed else "_join")
    conn = h.case_db(pg, name)          # the table has the (updated_at, decision_id) index
    t0 = time.monotonic()
    step = 100000
    for lo in range(1, n + 1, step):
        fill(conn, lo, min(n, lo + step - 1))
    with conn.cursor() as cur:
        if indexed:
            cur.execute("VACUUM ANALYZE epsync_source.decisions")
        else:
            for stmt in JOIN_SQL.split(";"):
                if stmt.strip():
                    cur.execute(stmt)
    conn.close()
    say("backlog of %d decisions (%s) made in %.1fs" % (
        n, "indexed" if indexed else "join, no index", time.monotonic() - t0))
    return name


class XactWatch:
    """The longest transaction of epsync's source connection seen in db,
    sampled every 0.2 s from another connection."""

    def __init__(self, pg, db):
        self.conn = pg.connect(db)
        self.longest_read = 0.0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.wait(0.2):
            with self.conn.cursor() as cur:
                cur.execute("SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0) "
                            "FROM pg_stat_activity WHERE datname = current_database() "
                            "  AND application_name = %s", (SOURCE_APP,))
                self.longest_read = max(self.longest_read, float(cur.fetchone()[0]))

    def stop(self):
        self.stopping.set()
        self.thread.join()
        self.conn.close()


def pg_cpu_seconds(pg):
    """CPU seconds used so far by the live processes of pg's cluster."""
    with open(os.path.join(pg.datadir, "postmaster.pid")) as f:
        pm = f.read().split()[0]
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
            if ppid == pm:
                total += cpu_seconds(int(pid))
        except OSError:
            continue
    return total


_copies = iter(range(1, 1000))


def copy_db(pg, tmpl):
    name = "%s_c%d" % (tmpl, next(_copies))
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute('CREATE DATABASE "%s" TEMPLATE "%s"' % (name, tmpl))
    conn.close()
    return name


def drop_db(pg, name):
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    conn.close()


def epsync(binary, cfg, *args, timeout=600):
    return subprocess.run([binary, "-c", cfg] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def migrate(binary, cfg):
    """`epsync migrate`; RuntimeError with its stderr when it fails."""
    r = epsync(binary, cfg, "migrate")
    if r.returncode != 0:
        raise RuntimeError("epsync migrate: " + r.stderr)


def migrated_copy(binary, pg, tmpl, sink, tmp):
    """A copy of the template database with the state schema, and its
    configuration file: (db name, config path)."""
    db = copy_db(pg, tmpl)
    cfg = config(tmp, pg, db, sink)
    migrate(binary, cfg)
    return db, cfg


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])      # kB
    return 0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK     # utime + stime


def published(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM epsync.deliveries WHERE state = 'published'")
        return cur.fetchone()[0]


def maybe_drained(conn):
    """Cheap while a drain runs (stops at the first row still to do); true
    also before the first row is stored, so confirm with published()."""
    with conn.cursor() as cur:
        cur.execute("SELECT NOT EXISTS (SELECT 1 FROM epsync.deliveries "
                    "WHERE state IN ('pending', 'retry', 'withdraw_pending'))")
        return cur.fetchone()[0]


def start_daemon(binary, cfg, log):
    f = open(log, "wb")
    p = subprocess.Popen([binary, "-c", cfg, "run"], stdout=f, stderr=f, stdin=subprocess.DEVNULL)
    f.close()
    return p


def stop_daemon(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# --- the figures ------------------------------------------------------------------------


def drain(a, pg, sink, tmpl, n, tmp):
    """Drain n decisions (2n deliveries); (seconds, peak RSS kB, db name)."""
    db, cfg = migrated_copy(a.epsync, pg, tmpl, sink, tmp)
    conn = pg.connect(db)
    log = os.path.join(tmp, "drain-%d.log" % n)
    t0 = time.monotonic()
    wall0 = time.time()
    p = start_daemon(a.epsync, cfg, log)
    want = 2 * n
    peak = 0
    watch = XactWatch(pg, db)
    pg0 = pg_cpu_seconds(pg)
    try:
        while True:
            # Counting costs the database ~50 ms at 200k rows: only when
            # nothing is left to do; the end time is read from the rows.
            time.sleep(1.0)
            if p.poll() is not None:
                raise RuntimeError("epsync exited %s:\n%s" % (p.returncode, open(log).read()[-3000:]))
            peak = max(peak, proc_status(p.pid, "VmHWM"))
            if maybe_drained(conn) and published(conn) >= want:
                break
            if time.monotonic() - t0 > a.drain_timeout:
                done = published(conn)
                say("not drained after %ds: %d/%d published" % (a.drain_timeout, done, want))
                break
        secs = time.monotonic() - t0
        done = published(conn)
        if done >= want:
            with conn.cursor() as cur:
                cur.execute("SELECT extract(epoch FROM max(published_at)) FROM epsync.deliveries")
                secs = float(cur.fetchone()[0]) - wall0
        peak = max(peak, proc_status(p.pid, "VmHWM"))
        # epsync's backends live as long as it does: count them before it stops
        LAST_DRAIN.update(epsync_cpu=cpu_seconds(p.pid), pg_cpu=pg_cpu_seconds(pg) - pg0)
    finally:
        stop_daemon(p)
        watch.stop()
        conn.close()
    LAST_DRAIN.update(longest_read=watch.longest_read)
    return secs, peak, db, cfg, done


LAST_DRAIN = {}     # CPU seconds and the longest transactions of the last drain()


def figure_drain_memory(a, pg, sink, tmp, after_main):
    sizes = [10000] if a.quick else [10000, 100000] + ([1000000] if a.full else [])
    main_n = a.n
    if main_n not in sizes:
        sizes.append(main_n)
    results = {}
    for n in sorted(sizes):
        tmpl = template_db(pg, n)
        secs, peak, db, cfg, done = drain(a, pg, sink, tmpl, n, tmp)
        results[n] = (secs, peak, db, cfg, tmpl, done)
        say("%d of %d deliveries published in %.2fs, peak RSS %.1f MiB" % (
            done, 2 * n, secs, peak / 1024))
        if n == main_n:
            # The figures that read the main drain's database, or compare
            # with its rate, come at once: a larger drain after it would
            # push it out of the caches and leave autovacuum busy.
            after_main(secs, db, cfg, tmpl, done)
    secs, _, db, cfg, tmpl, done = results[main_n]
    cmd = "epsync -c CFG run  # %d decisions x 2 targets, sink, fsync=on" % main_n
    partial = "" if done >= 2 * main_n else " (NOT drained: %d of %d in %.0f s)" % (
        done, 2 * main_n, secs)
    row("drain: decisions/s", "-", "%.0f%s" % (done / 2 / secs, partial), cmd)
    row("drain: deliveries/s", ">= 10000", "%.0f%s" % (done / secs, partial), cmd)
    for n in sorted(results):
        full = "" if results[n][5] >= 2 * n else " (stopped at %d of %d)" % (results[n][5], 2 * n)
        row("peak RSS, %d backlog" % n, "<= 32 MiB", "%.1f MiB%s" % (results[n][1] / 1024, full),
            "VmHWM of epsync run draining %d decisions" % n)
    return secs, db, cfg, tmpl, done


def figure_report(a, cfg, n):
    t0 = time.monotonic()
    r = epsync(a.epsync, cfg, "report", "--format", "json")
    secs = time.monotonic() - t0
    cmd = "time epsync -c CFG report --format json  # %d decisions" % n
    if r.returncode != 0 and ("unknown command" in r.stderr or "not implemented" in r.stderr):
        row("report --format json", "< 2 s", "n/a (report not built)", cmd)
    elif r.returncode != 0:
        row("report --format json", "< 2 s", "failed (exit %d): %s" % (
            r.returncode, r.stderr.strip().splitlines()[-1][:60] if r.stderr.strip() else ""), cmd)
    else:
        row("report --format json", "< 2 s", "%.2f s (%d kB out)" % (secs, len(r.stdout) // 1024),
            cmd)


def figure_baseline(a, pg, sink, tmpl, n, epsync_rate, tmp, label=""):
    # the same state tables exist (epsync migrate), the baseline writes its own
    db, cfg = migrated_copy(a.epsync, pg, tmpl, sink, tmp)
    cmd = [a.baseline, pg.conninfo(db), RELATION, sink.base_url, sink.base_url,
           str(a.baseline_seconds)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.baseline_seconds + 120)
    if r.returncode != 0:
        raise RuntimeError("baseline: " + r.stderr)
    fields = dict(kv.split("=") for kv in r.stdout.split())
    rate = float(fields["rate"])
    shown = "bench/baseline CONNINFO %s URL URL %d  # %d-decision backlog" % (
        RELATION, a.baseline_seconds, n)
    row(label + "baseline: deliveries/s", "-", "%.0f (%s in %ss)" % (rate, fields["deliveries"],
                                                             fields["seconds"]), shown)
    row(label + "epsync / baseline", ">= 10x", "%.1fx" % (epsync_rate / rate), "drain rate / baseline rate")
    return rate


def figure_sources(a, pg, sink, tmp):
    """The drain and the baseline side by side on each source: the table
    indexed on the poll order, and a join without that index.  With
    --full, a 1,000,000-decision drain from each as well."""
    sizes = [a.n] + ([1000000] if a.full else [])
    for indexed in (True, False):
        what = "indexed table" if indexed else "join, no index"
        rate = None
        for n in sizes:
            tmpl = template_db(pg, n, indexed)
            secs, peak, db, cfg, done = drain(a, pg, sink, tmpl, n, tmp)
            d = dict(LAST_DRAIN)
            label = "%s, %d" % (what, n)
            cmd = "bench/run --only sources%s  # %d decisions x 2 targets, %s" % (
                " --full" if n > a.n else "", n, what)
            partial = "" if done >= 2 * n else " (NOT drained: %d of %d)" % (done, 2 * n)
            row("%s: deliveries/s" % label, ">= 10000", "%.0f%s" % (done / secs, partial), cmd)
            row("%s: CPU per delivery" % label, "-", "epsync %.0f us, PostgreSQL %.0f us" % (
                d["epsync_cpu"] / done * 1e6, d["pg_cpu"] / done * 1e6),
                "utime+stime of epsync and of the cluster's processes / deliveries")
            row("%s: longest source transaction" % label, "bounded (30 s)",
                "%.1f s" % d["longest_read"],
                "max(now() - xact_start) in pg_stat_activity, sampled every 0.2 s")
            row("%s: peak RSS" % label, "<= 32 MiB", "%.1f MiB" % (peak / 1024), "VmHWM of epsync run")
            if rate is None:
                rate = done / secs
                figure_baseline(a, pg, sink, tmpl, n, rate, tmp, what + ": ")
            drop_db(pg, db)         # a 1,000,000-decision copy is a few GB


def figure_latency(a, pg, tmp):
    db = "latency"
    conn = h.case_db(pg, db)
    with conn.cursor() as cur:
        cur.execute("""
            CREATE OR REPLACE FUNCTION epsync_source.bench_wake() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('bench_wake', ''); RETURN NULL; END $$;
            CREATE TRIGGER bench_wake AFTER INSERT OR UPDATE ON epsync_source.decisions
                FOR EACH STATEMENT EXECUTE FUNCTION epsync_source.bench_wake();""")
    sinklog = os.path.join(tmp, "latency-sink.log")
    sink = Sink(a.sink, tmp, log=sinklog)
    cfg = config(tmp, pg, db, sink, notify="bench_wake")
    migrate(a.epsync, cfg)
    p = start_daemon(a.epsync, cfg, os.path.join(tmp, "latency.log"))
    n = a.latency_n
    codes = valid_codes()
    commits = {}
    try:
        time.sleep(2.0)
        for i in range(n):
            did = "LAT-%06d" % i
            h.insert_decision(conn, decision_id=did, party_credit_code=codes[i % len(codes)])
            commits[did] = time.time_ns()       # the INSERT has committed (autocommit)
            time.sleep(0.01 + (i % 7) * 0.003)
        h.wait_for(lambda: published(conn) >= 2 * n, timeout=60, what="latency drain")
        # idle: nothing left to do, the daemon is waiting for work
        time.sleep(2.0)
        c0, t0 = cpu_seconds(p.pid), time.monotonic()
        time.sleep(a.idle_seconds)
        c1, t1 = cpu_seconds(p.pid), time.monotonic()
    finally:
        stop_daemon(p)
        sink.stop()
    first = {}
    with open(sinklog) as f:
        for line in f:
            ns, did = line.split()
            if did in commits and did not in first:
                first[did] = int(ns)
    lat = sorted((first[d] - commits[d]) / 1e6 for d in commits if d in first)
    if len(lat) < n:
        say("latency: %d of %d decisions never arrived" % (n - len(lat), n))
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(round(0.99 * len(lat))) - 1)]
    row("latency commit->sink p50", "<= 100 ms", "%.1f ms" % p50,
        "%d single-row INSERTs, NOTIFY bench_wake, poll 5s" % n)
    row("latency commit->sink p99", "-", "%.1f ms" % p99, "same run")
    per60 = (c1 - c0) * 60.0 / (t1 - t0)
    row("idle CPU per 60 s", "< 0.1 s", "%.3f s (%.3f s in %.0f s)" % (per60, c1 - c0, t1 - t0),
        "utime+stime of idle epsync run (/proc/PID/stat)")


def figure_idle_empty(a, pg, tmp):
    """Idle CPU with an empty source: the floor of a poll (no overlap re-read)."""
    db = "idle_empty"
    h.case_db(pg, db).close()
    sink = Sink(a.sink, tmp)
    cfg = config(tmp, pg, db, sink)
    migrate(a.epsync, cfg)
    p = start_daemon(a.epsync, cfg, os.path.join(tmp, "idle-empty.log"))
    try:
        time.sleep(3.0)
        c0, t0 = cpu_seconds(p.pid), time.monotonic()
        time.sleep(a.idle_seconds)
        c1, t1 = cpu_seconds(p.pid), time.monotonic()
    finally:
        stop_daemon(p)
        sink.stop()
    per60 = (c1 - c0) * 60.0 / (t1 - t0)
    row("idle CPU per 60 s, empty source", "< 0.1 s", "%.3f s (%.3f s in %.0f s)" % (
        per60, c1 - c0, t1 - t0), "same, source relation empty")


def figure_scan_memory(a, pg, sink, tmp):
    """Peak RSS of change detection over a large source: `epsync once` with
    every target disabled reads, validates, masks and stores every row."""
    n = a.scan_n
    say("scan: filling a %d-row source" % n)
    tmpl = template_db(pg, n)
    db = copy_db(pg, tmpl)
    cfg = config(tmp, pg, db, sink)
    with open(cfg) as f:
        text = f.read()
    h._write_private(cfg, text.replace("enabled: true", "enabled: false"))
    migrate(a.epsync, cfg)
    t0 = time.monotonic()
    watch = XactWatch(pg, db)
    p = subprocess.Popen([a.epsync, "-c", cfg, "once"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)      # this child's own peak RSS (KiB)
    secs = time.monotonic() - t0
    watch.stop()
    peak = usage.ru_maxrss
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    assert p.returncode == 0, err[-2000:]
    conn = pg.connect(db)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM epsync.decisions")
        stored = cur.fetchone()[0]
    conn.close()
    what = "indexed table" if SOURCE_INDEX else "join, no index"
    row("scan: peak RSS, %d-row source (%s)" % (n, what), "<= 32 MiB",
        "%.1f MiB, %d rows stored in %.0f s, longest source transaction %.1f s"
        % (peak / 1024.0, stored, secs, watch.longest_read),
        "epsync -c CFG once  # targets disabled, %d-row source" % n)


def figure_sink(a, tmp):
    """wrk against the sink: city requests/s and province records/s."""
    sink = Sink(a.sink, tmp)
    lua_city = os.path.join(tmp, "city.lua")
    with open(lua_city, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = \'{"a":1}\'\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                'wrk.headers["Idempotency-Key"] = "WRK-1:' + "0" * 64 + '"\n')
    lua_prov = os.path.join(tmp, "prov.lua")
    rec = '{"SJLY_ID":"WRK-%d","BBH":"' + "0" * 64 + '","CF_XDR_MC":"' + "x" * 400 + '"}'
    body = '{"batchNo":"b","records":[' + ",".join(rec % i for i in range(100)) + "]}"
    with open(lua_prov, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = [[%s]]\n'
                'wrk.headers["Content-Type"] = "application/json"\n' % body)
    try:
        for name, lua, path, mult in (("city", lua_city, "/api/v1/decisions", 1),
                                      ("province", lua_prov, "/gateway/v2/publicity/batch", 100)):
            cmd = ["wrk", "-t1", "-c32", "-d%ds" % a.wrk_seconds, "-s", lua, sink.base_url + path]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.wrk_seconds + 30)
            rps = [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("Requests/sec")]
            v = float(rps[0]) if rps else 0.0
            shown = " ".join(shlex.quote(x) for x in cmd[:-1]) + " http://127.0.0.1:PORT" + path
            row("sink (wrk) %s" % name, ">> 10000 deliveries/s",
                "%.0f req/s = %.0f deliveries/s" % (v, v * mult), shown)
    finally:
        sink.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--epsync", required=True)
    ap.add_argument("--sink", required=True)
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--only", default="sink,drain,report,baseline,sources,latency,idle")
    ap.add_argument("--drain-timeout", type=int, default=0,
                    help="give up a drain after this many seconds (default 900, --quick 300)")
    ap.add_argument("--no-source-index", action="store_true",
                    help="the source: a join without an index on the poll order")
    a = ap.parse_args()
    global SOURCE_INDEX
    SOURCE_INDEX = not a.no_source_index
    a.n = 10000 if a.quick else 100000
    a.latency_n = 200 if a.quick else 1000
    a.idle_seconds = 20 if a.quick else 60
    a.baseline_seconds = 10 if a.quick else 30
    a.wrk_seconds = 3 if a.quick else 5
    a.drain_timeout = a.drain_timeout or (300 if a.quick else 900)
    a.scan_n = 1000000
    only = set(a.only.split(","))

    tmp = h.make_tmpdir("epsync-bench-")
    started = datetime.datetime.now(datetime.timezone.utc)
    if "sink" in only:
        figure_sink(a, tmp)
    pg = h.PgCluster(tmp, fsync=True, settings={"shared_buffers": "256MB",
                                                 "max_wal_size": "4GB"})
    sink = Sink(a.sink, tmp)
    main = None
    if only & {"drain", "report", "baseline"}:
        def after_main(secs, db, cfg, tmpl, done):
            if "report" in only:
                figure_report(a, cfg, a.n)
            if "baseline" in only:
                figure_baseline(a, pg, sink, tmpl, a.n, done / secs, tmp)
        main = figure_drain_memory(a, pg, sink, tmp, after_main)
    if "sources" in only:
        figure_sources(a, pg, sink, tmp)
    if "scan" in only:
        figure_scan_memory(a, pg, sink, tmp)
    sink.stop()
    if "latency" in only:
        figure_latency(a, pg, tmp)
    if "idle" in only:
        figure_idle_empty(a, pg, tmp)

    print("epsync benchmarks, %s, %s, %d cores, %s%s" % (
        started.strftime("%Y-%m-%d %H:%M UTC"), platform.node(), os.cpu_count(),
        platform.platform(), " (--quick)" if a.quick else ""))
    widths = [max(len(str(r[i])) for r in rows + [("figure", "target", "measured", "command")])
              for i in range(3)]
    fmt = "| %%-%ds | %%-%ds | %%-%ds | %%s |" % tuple(widths)
    print(fmt % ("figure", "target", "measured", "command"))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|---------|")
    for r in rows:
        print(fmt % r)


if __name__ == "__main__":
    main()
