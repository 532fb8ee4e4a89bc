"""profile.py - where a drain spends its time (bench/run --profile uses it).

    python3 bench/profile.py --epsync B --sink S [--n 10000] [--seconds 20] [--out DIR]

Drains an n-decision backlog like bench.py's drain figure, with
pg_stat_statements loaded, `perf record -g` attached to the daemon for
the given seconds, and prints: the top statements by total time, commits
per second, the daemon's CPU share, and `perf report` of the daemon.
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


def cpu_by_thread(pid):
    """CPU seconds used so far by each thread of pid, by thread name."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / b.CLK_TCK
    return out


def cpu_by_program(postmaster, skip):
    """CPU seconds used so far by the processes of the cluster whose
    postmaster is pid postmaster (backends, WAL writer, autovacuum ...), by
    program name; another cluster on the machine, and the backend pid skip
    (this script's own, counting what was published), are not counted."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if postmaster not in (int(pid), ppid) or int(pid) == skip:
                continue
            with open("/proc/%s/cmdline" % pid) as f:
                cmd = f.read().replace("\0", " ").strip()
            secs = b.cpu_seconds(int(pid))
        except OSError:
            continue
        role = cmd.split(":", 1)[1].strip() if ":" in cmd else "postmaster"
        role = "backends" if "[local]" in role else role
        out["postgres " + role] = out.get("postgres " + role, 0) + secs
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epsync", required=True)
    ap.add_argument("--sink", required=True)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--out", default="/tmp/epsync-bench-profile")
    ap.add_argument("--no-source-index", action="store_true")
    ap.add_argument("--stacks", action="store_true", help="sample stacks with gdb")
    ap.add_argument("--sql", action="append", default=[],
                    help="run this statement after migrate (to try a schema setting)")
    ap.add_argument("--explain", type=int, default=0, metavar="MS",
                    help="log plans of statements slower than MS (auto_explain) to OUT/plans.log")
    a = ap.parse_args()
    b.SOURCE_INDEX = not a.no_source_index
    os.makedirs(a.out, exist_ok=True)
    tmp = h.make_tmpdir("epsync-bench-")
    settings = {"shared_buffers": "256MB", "max_wal_size": "4GB",
                "shared_preload_libraries": "'pg_stat_statements'",
                "pg_stat_statements.track": "all"}
    if a.explain:
        settings.update({"shared_preload_libraries": "'pg_stat_statements,auto_explain'",
                         "auto_explain.log_min_duration": "%dms" % a.explain,
                         "log_min_messages": "log"})
    pg = h.PgCluster(tmp, fsync=True, settings=settings)
    sink = b.Sink(a.sink, tmp)
    tmpl = b.template_db(pg, a.n)
    db, cfg = b.migrated_copy(a.epsync, pg, tmpl, sink, tmp)
    conn = pg.connect(db)
    with conn.cursor() as cur:
        for stmt in a.sql:
            cur.execute(stmt)
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        cur.execute("SELECT pg_stat_statements_reset()")
        cur.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        x0 = cur.fetchone()[0]
        cur.execute("SELECT pg_backend_pid()")
        mine = cur.fetchone()[0]
    p = b.start_daemon(a.epsync, cfg, os.path.join(tmp, "profile.log"))
    t0 = time.monotonic()
    wall0 = time.time()
    c0 = b.cpu_seconds(p.pid)
    s0 = b.cpu_seconds(sink.proc.pid)
    with open(os.path.join(pg.datadir, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    pg0 = cpu_by_program(postmaster, mine)
    perf_data = os.path.join(a.out, "perf.data")
    perf = subprocess.Popen(["perf", "record", "-g", "-o", perf_data, "-p", str(p.pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    timeline = []
    stacks = []
    while time.monotonic() - t0 < a.seconds:        # published count once a second
        time.sleep(1.0)
        timeline.append(b.published(conn))
        if timeline[-1] >= 2 * a.n:
            break
        if a.stacks and len(timeline) % 2 == 0:      # a wall-clock stack sample
            bt = subprocess.run(["gdb", "-batch", "-p", str(p.pid), "-ex", "bt 12"],
                                capture_output=True, text=True).stdout
            frames = [ln.split(" in ")[1].split(" (")[0] if " in " in ln else ln.split()[1]
                      for ln in bt.splitlines() if ln.startswith("#")]
            stacks.append(" < ".join(frames[:9]))
    perf.send_signal(2)
    perf.wait(60)
    t1 = time.monotonic()
    print("published, once a second: " + " ".join(str(x) for x in timeline))
    c1 = b.cpu_seconds(p.pid)
    threads = cpu_by_thread(p.pid)
    s1 = b.cpu_seconds(sink.proc.pid)
    pg1 = cpu_by_program(postmaster, mine)
    done = b.published(conn)
    b.stop_daemon(p)
    with conn.cursor() as cur:
        cur.execute("SELECT target, count(*), extract(epoch FROM max(published_at)) FROM "
                    "epsync.deliveries WHERE state = 'published' GROUP BY target ORDER BY target")
        per_target = cur.fetchall()
        cur.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        x1 = cur.fetchone()[0]
        cur.execute("SELECT calls, round(total_exec_time)::int, round(mean_exec_time::numeric, 3), "
                    "rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) "
                    "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12")
        top = cur.fetchall()
        cur.execute("SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                    "WHERE schemaname = 'epsync' AND relname = 'deliveries'")
        tups = cur.fetchone()
    print("%d deliveries published in %.1f s (%.0f/s); daemon CPU %.2f s (%.0f%%); "
          "%d commits (%.0f/s)" % (done, t1 - t0, done / (t1 - t0), c1 - c0,
                                   100 * (c1 - c0) / (t1 - t0), x1 - x0, (x1 - x0) / (t1 - t0)))
    print("\nCPU seconds during the drain: epsync %.2f, sink %.2f, %s" % (
        c1 - c0, s1 - s0, ", ".join("%s %.2f" % (k, pg1[k] - pg0.get(k, 0))
                                   for k in sorted(pg1) if pg1[k] - pg0.get(k, 0) >= 0.05)))
    pgb = pg1.get("postgres backends", 0) - pg0.get("postgres backends", 0)
    print("CPU µs per delivery: epsync %.0f, postgres backends %.0f" % (
        1e6 * (c1 - c0) / max(done, 1), 1e6 * pgb / max(done, 1)))
    print("per target: " + ", ".join("%s %d published, the last %.1f s after the start" % (
        t, n, float(last) - wall0) for t, n, last in per_target))
    print("epsync threads (CPU seconds since start): " + ", ".join(
        "%s %.2f" % kv for kv in sorted(threads.items())))
    print("epsync.deliveries: %d rows inserted, %d updated, of which %d HOT" % tups)
    print("\ntop statements by total execution time (calls, total ms, mean ms, rows, query):")
    for t in top:
        print("  %7d %8d %9s %8d  %s" % t)
    rep = subprocess.run(["perf", "report", "-i", perf_data, "--no-children", "--stdio",
                          "--percent-limit", "2", "-g", "none"], capture_output=True, text=True)
    print("\nperf report (self time, daemon only):")
    print("\n".join(ln for ln in rep.stdout.splitlines() if ln and not ln.startswith("#"))[:4000])
    if stacks:
        print("\nwall-clock stack samples of the daemon (gdb, every 2 s):")
        for st in stacks:
            print("  " + st)
    sink.stop()
    if a.explain:
        with open(pg.logfile, errors="replace") as f, \
                open(os.path.join(a.out, "plans.log"), "w") as out:
            out.write(f.read())
        print("\nplans of statements slower than %d ms: %s" % (
            a.explain, os.path.join(a.out, "plans.log")))


if __name__ == "__main__":
    main()
