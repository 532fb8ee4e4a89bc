"""floor.py - what PostgreSQL alone spends on the rows a drain must write.

    python3 bench/floor.py --epsync B --sink S [--n 20000] [--batch 250]

Drains n decisions with epsync (the bench's source and sink), then replays
the rows that drain wrote into a second, freshly migrated state database:
per batch of decisions, in two transactions as epsync writes them, and
entirely inside the server (INSERT ... SELECT from staging tables, no
client, no parameters to parse),

    the decisions (their masked field sets, jsonb) and their deliveries
    as the hand-over stores them (pending, leased); commit;
    the outcome UPDATE (pending -> published, lease cleared) and the
    audit events the drain wrote for them; commit;

with the schema's triggers (the delivery history), foreign key and indexes
as they are.  It prints the CPU every process of the cluster used for it,
per delivery: the cost of the writes themselves, below which no change to
epsync can bring PostgreSQL's share of a drain.  Reading the source, the
claims and the record locks are not in it.
"""

import argparse
import io
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as b  # noqa: E402
import profile as prof  # noqa: E402  (bench/profile.py)
h = b.h

STAGE = [
    ("decisions", "SELECT * FROM epsync.decisions"),
    ("deliveries", "SELECT * FROM epsync.deliveries"),
    ("audit", "SELECT * FROM epsync.audit WHERE decision_id IS NOT NULL"),
]

REPLAY = [
    ("decisions",
     "INSERT INTO epsync.decisions SELECT * FROM stage_decisions "
     "WHERE decision_id >= %(lo)s AND decision_id < %(hi)s"),
    ("hand-over",
     "INSERT INTO epsync.deliveries (decision_id, target, state, want_revision, want_withdraw, "
     "  next_attempt_at, lease_owner, lease_until, lease_token, due_on) "
     "SELECT decision_id, target, 'pending', want_revision, false, now(), 'floor', "
     "  now() + interval '2 minutes', nextval('epsync.lease_tokens'), due_on "
     "FROM stage_deliveries WHERE decision_id >= %(lo)s AND decision_id < %(hi)s"),
    ("outcome",
     "UPDATE epsync.deliveries x SET state = s.state, published_revision = s.published_revision, "
     "  receipt = s.receipt, attempts = 0, total_attempts = x.total_attempts + 1, "
     "  first_attempt_at = now(), first_published_at = now(), published_at = now(), "
     "  expires_on = s.expires_on, next_attempt_at = now(), lease_owner = NULL, "
     "  lease_until = NULL, lease_token = NULL, updated_at = now() "
     "FROM stage_deliveries s WHERE x.decision_id = s.decision_id AND x.target = s.target "
     "  AND s.decision_id >= %(lo)s AND s.decision_id < %(hi)s"),
    ("audit",
     "INSERT INTO epsync.audit SELECT * FROM stage_audit "
     "WHERE decision_id >= %(lo)s AND decision_id < %(hi)s ORDER BY seq"),
]


def copy_table(src, dst, name, query):
    """Rows of query in src into a new table stage_NAME in dst."""
    buf = io.StringIO()
    with src.cursor() as cur:
        cur.copy_expert("COPY (%s) TO STDOUT" % query, buf)
    buf.seek(0)
    with dst.cursor() as cur:
        cur.execute("CREATE TABLE stage_%s (LIKE epsync.%s)" % (name, name))
        cur.copy_expert("COPY stage_%s FROM STDIN" % name, buf)
        cur.execute("CREATE INDEX ON stage_%s (decision_id)" % name)
    dst.commit()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epsync", required=True)
    ap.add_argument("--sink", required=True)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=250, help="decisions per transaction")
    ap.add_argument("--explain", action="store_true",
                    help="print the plans (EXPLAIN ANALYZE) of the middle batch's statements")
    a = ap.parse_args()
    tmp = h.make_tmpdir("epsync-bench-")
    pg = h.PgCluster(tmp, fsync=True, settings={"shared_buffers": "256MB",
                                                 "max_wal_size": "4GB"})
    sink = b.Sink(a.sink, tmp)
    tmpl = b.template_db(pg, a.n)
    drained, cfg = b.migrated_copy(a.epsync, pg, tmpl, sink, tmp)
    empty = b.copy_db(pg, drained)          # migrated, nothing stored yet
    t0 = time.monotonic()
    r = b.epsync(a.epsync, cfg, "once", timeout=3600)
    assert r.returncode == 0, r.stderr
    b.say("drained %d decisions with epsync once in %.1f s" % (a.n, time.monotonic() - t0))
    sink.stop()

    src, dst = pg.connect(drained), pg.connect(empty)
    src.autocommit = False
    dst.autocommit = False
    for name, query in STAGE:
        copy_table(src, dst, name, query)
    src.close()
    with dst.cursor() as cur:
        cur.execute("SELECT decision_id FROM stage_decisions ORDER BY decision_id")
        ids = [x[0] for x in cur.fetchall()]
        cur.execute("SELECT count(*) FROM stage_deliveries")
        ndeliveries = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM stage_audit")
        naudit = cur.fetchone()[0]
        cur.execute("CHECKPOINT")
        cur.execute("ANALYZE")
    dst.commit()

    per = {name: 0.0 for name, _ in REPLAY}
    with open(os.path.join(pg.datadir, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    cluster0 = prof.cpu_by_program(postmaster, -1)
    with dst.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    w0 = time.monotonic()
    for i in range(0, len(ids), a.batch):
        lo = ids[i]
        hi = ids[i + a.batch] if i + a.batch < len(ids) else ids[-1] + "\x7f"
        with dst.cursor() as cur:
            for name, sql in REPLAY:
                if name == "outcome":      # detection and outcome: two transactions
                    c0 = b.cpu_seconds(backend)
                    dst.commit()
                    per["commit"] = per.get("commit", 0.0) + b.cpu_seconds(backend) - c0
                if a.explain and i == (len(ids) // a.batch // 2) * a.batch:
                    cur.execute("SAVEPOINT x; EXPLAIN ANALYZE " + sql, {"lo": lo, "hi": hi})
                    print("%s:\n  %s" % (name, "\n  ".join(x[0] for x in cur.fetchall())))
                    cur.execute("ROLLBACK TO SAVEPOINT x")
                c0 = b.cpu_seconds(backend)
                cur.execute(sql, {"lo": lo, "hi": hi})
                per[name] += b.cpu_seconds(backend) - c0
        c0 = b.cpu_seconds(backend)
        dst.commit()
        per["commit"] = per.get("commit", 0.0) + b.cpu_seconds(backend) - c0
    wall = time.monotonic() - w0
    cluster1 = prof.cpu_by_program(postmaster, -1)
    dst.close()
    used = {k: cluster1[k] - cluster0.get(k, 0) for k in cluster1}
    total = sum(used.values())
    print("replayed %d decisions, %d deliveries, %d audit events in batches of %d: %.1f s" % (
        len(ids), ndeliveries, naudit, a.batch, wall))
    print("CPU µs per delivery, every process of the cluster: %.0f (%s)" % (
        1e6 * total / ndeliveries, ", ".join("%s %.0f" % (k, 1e6 * v / ndeliveries)
                                              for k, v in sorted(used.items()) if v >= 0.01)))
    print("the replaying backend, by statement, µs per delivery: " + ", ".join(
        "%s %.0f" % (k, 1e6 * v / ndeliveries) for k, v in per.items()))
    print("at 10,000 deliveries/s these writes alone take %.0f %% of one core" % (
        100 * total / ndeliveries * 10000))


if __name__ == "__main__":
    main()
