"""growth.py - how the state database grows, measured (docs/operations.md "Growth").

    python3 bench/growth.py --epsync build-bench/epsync --sink build-bench/bench/sink [-n 100000]

(bench/run --growth builds them and runs it.)

1. A throw-away PostgreSQL (fsync on) gets the case database of
   tests/fixtures/casedb.sql filled with N realistic decisions by
   tools/gen_casedb.py (every kind, companies, individual businesses and
   natural persons, confidential ones, minors, invalid ones, revocations),
   exposed by sql/source-view.example.sql.
2. `epsync run` drains them to both targets (the sink answers success).
3. Then 10 % of the published decisions are corrected and another 10 %
   revoked in the case database; the daemon updates and withdraws them.

After each step every table of the schema `epsync` is measured: its rows
(count(*)) and pg_total_relation_size (heap, indexes and TOAST) as the
daemon left it, and once more after VACUUM FULL (the size without free
space).  Printed as a Markdown table, scaled per 100,000 decisions (and per
100,000 corrections and revocations for step 3).
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as b  # noqa: E402
h = b.h
REPO = os.path.dirname(HERE)


def say(msg):
    sys.stderr.write("growth: %s\n" % msg)
    sys.stderr.flush()


def psql_file(pg, dbname, path):
    r = subprocess.run([os.path.join(pg.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-h", pg.sockdir, "-p", str(pg.port), "-U", "postgres", "-d", dbname,
                        "-f", path], capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError("psql -f %s failed:\n%s" % (path, r.stderr[-2000:]))


def load(pg, tmp, n):
    db = pg.createdb("growth")
    data = os.path.join(tmp, "cases.sql")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, os.path.join(REPO, "tools", "gen_casedb.py"),
                        "--decisions", str(n), "--seed", "growth", "-o", data],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError("gen_casedb failed:\n" + r.stderr[-2000:])
    psql_file(pg, db, os.path.join(REPO, "tests", "fixtures", "casedb.sql"))
    psql_file(pg, db, data)
    psql_file(pg, db, os.path.join(REPO, "sql", "source-view.example.sql"))
    os.unlink(data)
    say("case database of %d decisions loaded in %.0fs" % (n, time.monotonic() - t0))
    return db


def one(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def wait(conn, p, what, predicate, timeout):
    t0 = time.monotonic()
    while True:
        if p.poll() is not None:
            raise RuntimeError("epsync exited with %s" % p.returncode)
        if predicate():
            say("%s after %.0fs" % (what, time.monotonic() - t0))
            return
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("%s: not reached in %ds" % (what, timeout))
        time.sleep(2)


def idle(conn):
    return one(conn, "SELECT NOT EXISTS (SELECT 1 FROM epsync.deliveries WHERE state IN "
                     "('pending', 'retry', 'withdraw_pending') OR (state = 'published' AND "
                     "published_revision IS DISTINCT FROM want_revision))")


def tables(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'epsync' AND c.relkind = 'r' ORDER BY c.relname")
        return [r[0] for r in cur.fetchall()]


def measure(conn, full):
    """{table: (rows, bytes)}; with full, after VACUUM FULL."""
    out = {}
    for t in tables(conn):
        if full:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("VACUUM FULL epsync.%s" % t)
        rows = one(conn, "SELECT count(*) FROM epsync.%s" % t)
        size = one(conn, "SELECT pg_total_relation_size(%s::regclass)", ("epsync." + t,))
        out[t] = (rows, size)
    return out


def mib(n):
    return "%.1f MiB" % (n / 1048576.0)


def table(title, per, before, after, loose, scale):
    print("\n%s (per %s)\n" % (title, per))
    print("| table | rows | bytes as left | bytes after VACUUM FULL |")
    print("|---|---:|---:|---:|")
    tot = [0, 0, 0]
    for t in sorted(after):
        r0, s0 = before.get(t, (0, 0))
        r1, s1 = after[t]
        lr0, ls0 = loose[0].get(t, (0, 0))
        lr1, ls1 = loose[1][t]
        rows, tight, lse = (r1 - r0) * scale, (s1 - s0) * scale, (ls1 - ls0) * scale
        tot = [tot[0] + rows, tot[1] + lse, tot[2] + tight]
        print("| %s | %d | %s | %s |" % (t, rows, mib(lse), mib(tight)))
    print("| **all** | %d | %s | %s |" % (tot[0], mib(tot[1]), mib(tot[2])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epsync", required=True)
    ap.add_argument("--sink", required=True)
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("--timeout", type=int, default=1800)
    a = ap.parse_args()
    tmp = h.make_tmpdir("epsync-growth-")
    pg = h.PgCluster(tmp, fsync=True, settings={"shared_buffers": "256MB", "max_wal_size": "4GB"})
    sink = b.Sink(a.sink, tmp)
    db = load(pg, tmp, a.n)
    cfg = b.config(tmp, pg, db, sink)
    b.migrate(a.epsync, cfg)
    conn = pg.connect(db)
    conn.autocommit = True
    empty = measure(conn, False)
    log = os.path.join(tmp, "daemon.log")
    p = b.start_daemon(a.epsync, cfg, log)
    try:
        seen = [-1, time.monotonic()]

        def settled():
            # every row read (the count of stored decisions has not moved
            # for three polls) and nothing left to send
            n = one(conn, "SELECT count(*) FROM epsync.decisions")
            if n != seen[0]:
                seen[:] = [n, time.monotonic()]
                return False
            return n > 0 and time.monotonic() - seen[1] > 15 and idle(conn)
        wait(conn, p, "step 1: decisions detected and drained", settled, a.timeout)
    finally:
        b.stop_daemon(p)
    loose1 = measure(conn, False)
    tight1 = measure(conn, True)
    k = a.n // 10
    with conn.cursor() as cur:
        # published decisions in a fixed order: the first k corrected, the
        # next k revoked, in the case system's own table
        cur.execute("CREATE TEMP TABLE pick AS SELECT d.decision_id, row_number() OVER "
                    "(ORDER BY d.decision_id) AS n FROM epsync.decisions d WHERE EXISTS "
                    "(SELECT 1 FROM epsync.deliveries v WHERE v.decision_id = d.decision_id "
                    "AND v.state = 'published')")
        picked = one(conn, "SELECT count(*) FROM pick")
        if picked < 2 * k:
            raise RuntimeError("only %d published decisions" % picked)
        cur.execute("UPDATE cms.decision SET remarks = coalesce(remarks, '') || '（更正）' "
                    "WHERE decision_no IN (SELECT decision_id FROM pick WHERE n <= %s)", (k,))
        cur.execute("UPDATE cms.decision SET approval_status = '已撤销' WHERE decision_no IN "
                    "(SELECT decision_id FROM pick WHERE n > %s AND n <= %s)", (k, 2 * k))
    p = b.start_daemon(a.epsync, cfg, log + ".2")
    try:
        wait(conn, p, "step 3: %d corrections and %d revocations sent" % (k, k),
             lambda: one(conn, "SELECT count(*) FROM epsync.decisions WHERE fields->>'remarks' "
                               "LIKE %s", ("%（更正）",)) >= k
             and one(conn, "SELECT count(*) FROM epsync.decisions d JOIN pick USING (decision_id) "
                           "WHERE pick.n > %s AND d.src_state = 'revoked'", (k,)) >= k
             and idle(conn), a.timeout)
    finally:
        b.stop_daemon(p)
    loose3 = measure(conn, False)
    tight3 = measure(conn, True)
    conn.close()
    sink.stop()
    scale = 100000.0 / a.n
    print("epsync state database growth, %d generated decisions (tools/gen_casedb.py), %s" % (
        a.n, time.strftime("%Y-%m-%d")))
    table("Step 1: decisions detected and drained to both targets", "100,000 decisions",
          empty, tight1, (empty, loose1), scale)
    table("Step 3: corrections and revocations", "%d corrections + %d revocations" % (
        a.n // 10, a.n // 10), tight1, tight3, (tight1, loose3), 1.0)
    print("\nAfter step 3, in total: " + ", ".join(
        "%s %d rows %s" % (t, tight3[t][0], mib(tight3[t][1])) for t in sorted(tight3)))


if __name__ == "__main__":
    main()
