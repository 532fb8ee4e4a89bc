#!/usr/bin/env python3
"""demo_env - the throw-away world scripts/demo runs epsync in.

    demo_env.py up      --out DIR [--decisions N] [--seed S] [--days K]
    demo_env.py drained --out DIR --pid PID [--timeout S]
    demo_env.py change  --out DIR [--revoke N] [--correct N]
    demo_env.py changed --out DIR --pid PID [--timeout S]
    demo_env.py counts  --out DIR
    demo_env.py sims    --out DIR

`up` starts a PostgreSQL cluster (tests/lib/harness.py: a unix socket in a
temporary directory, initdb/postgres as an unprivileged account when run
as root), loads the case database (tests/fixtures/casedb.sql, data from
tools/gen_casedb.py, sql/source-view.example.sql), creates a login role
`epsync` that may read the view and own its state database and nothing
else, starts both platform simulators with light faults, writes the
configuration (mode 600, secrets in files of mode 600), and writes
DIR/demo.env for the shell to source.  It then waits; SIGTERM, SIGINT or
the death of its parent stops every server it started and removes the
temporary directory.  DIR keeps only what a reader wants afterwards: the
manifest of the generated data, the report and the daemon log.

The other commands are short-lived and read DIR/demo.env: wait until the
backlog is drained, revoke and correct a few decisions in the case
database, wait until epsync has followed, print the state database's
counts and the simulators' statistics.  They exit 1 with one line saying
why when something is wrong, so the shell script can stop there.
"""

import signal

# Ctrl-C ends a short-lived command at once, by the signal, as the shell
# expects of an interrupted command (no traceback); `up` sets its own.
signal.signal(signal.SIGINT, signal.SIG_DFL)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
import harness as h  # noqa: E402

CASE_DB = "cases"
STATE_DB = "epsync_state"
ROLE = "epsync"
OWNER = "epsync_owner"
ALL_KINDS = ["penalty", "license", "inspection", "coercion", "levy", "other"]
PROVINCE_KINDS = ["penalty", "license"]
# Light faults: enough that retries show in the log, not enough to slow the demo.
FAULTS = {
    "city": {"http5xx": 0.05, "busy": 0.03, "reset": 0.01},
    "province": {"http5xx": 0.05, "busy": 0.03, "record_retry": 0.02, "reset": 0.01},
}
BUSY = ("pending", "retry", "withdraw_pending")


class DemoError(Exception):
    pass


def heading(text):
    print("\n== %s ==" % text, flush=True)


def say(text):
    print("   " + text, flush=True)


# --- up ---------------------------------------------------------------------------------


def psql_file(pg, dbname, path):
    """Run an SQL file with psql (the generator writes COPY blocks)."""
    r = subprocess.run([os.path.join(pg.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-h", pg.sockdir, "-p", str(pg.port), "-U", "postgres", "-d", dbname,
                        "-f", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, cwd="/")
    if r.returncode != 0:
        raise DemoError("loading %s failed:\n%s" % (os.path.relpath(path, REPO), r.stdout[-2000:]))


def conninfo(pg, dbname, user):
    return "host=%s port=%d dbname=%s user=%s" % (pg.sockdir, pg.port, dbname, user)


def load_cases(pg, tmp, out, a):
    heading("loading the case database (%d decisions, seed %s)" % (a.decisions, a.seed))
    pg.createdb(CASE_DB)
    psql_file(pg, CASE_DB, os.path.join(REPO, "tests", "fixtures", "casedb.sql"))
    data = os.path.join(tmp, "casedb-data.sql")
    manifest = os.path.join(out, "manifest.json")
    r = subprocess.run([sys.executable, os.path.join(REPO, "tools", "gen_casedb.py"),
                        "--decisions", str(a.decisions), "--seed", str(a.seed),
                        "--days", str(a.days), "-o", data, "--manifest", manifest],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise DemoError("tools/gen_casedb.py failed:\n%s" % r.stderr[-2000:])
    psql_file(pg, CASE_DB, data)
    psql_file(pg, CASE_DB, os.path.join(REPO, "sql", "source-view.example.sql"))
    with open(manifest, encoding="utf-8") as f:
        m = json.load(f)
    for line in r.stderr.splitlines()[:9]:      # the header and the categories
        say(line.strip())
    return m


def create_role(pg):
    """The roles of docs/operations.md: the service's role reads the view and
    works the queue (group epsync_daemon: the audit log only read and
    appended to); epsync_owner owns the state schema and runs migrate."""
    heading("creating roles %s (SELECT on epsync_source.decisions, member of "
            "epsync_daemon) and %s (owns the state database)" % (ROLE, OWNER))
    conn = pg.connect(CASE_DB)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE ROLE epsync_daemon NOLOGIN")
            cur.execute("CREATE ROLE epsync_report NOLOGIN")
            cur.execute("CREATE ROLE %s LOGIN" % OWNER)
            cur.execute("CREATE ROLE %s LOGIN IN ROLE epsync_daemon" % ROLE)
            cur.execute("GRANT USAGE ON SCHEMA epsync_source TO %s" % ROLE)
            cur.execute("GRANT SELECT ON epsync_source.decisions TO %s" % ROLE)
            cur.execute("CREATE DATABASE epsync_state OWNER %s" % OWNER)
    finally:
        conn.close()


def write_config(tmp, pg, sims, role=ROLE, name="epsync.yaml"):
    cfg = h.base_config(pg, sims)
    cfg = h.deep_merge(cfg, {
        "database": {"source": conninfo(pg, CASE_DB, role),
                     "state": conninfo(pg, STATE_DB, role),
                     "source_relation": "epsync_source.decisions"},
        "poll": {"interval": "500ms", "overlap": "10m", "reconcile_every": "24h"},
        "delivery": {"max_in_flight": 32, "lease": "30s",
                     "retry": {"initial": "1s", "max": "5s", "multiplier": 2.0, "jitter": 0.2}},
        "targets": {"city": {"kinds": ALL_KINDS, "rate": "200/s"},
                    "province": {"kinds": PROVINCE_KINDS, "rate": "200/s"}},
    })
    path = os.path.join(tmp, name)
    return h._write_private(path, "# written by tools/demo_env.py for scripts/demo\n"
                            + h.to_yaml(cfg) + "\n")


def write_env(out, values):
    path = os.path.join(out, "demo.env")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for k, v in values.items():
            f.write("%s=%s\n" % (k, shlex.quote(str(v))))
    os.replace(tmp, path)      # the shell waits for this file: write it whole


_stop = False


def _on_signal(signum, frame):
    global _stop
    _stop = True


def cmd_up(a):
    # A session of our own: Ctrl-C in the terminal goes to the script,
    # whose trap stops us with SIGTERM, in order; otherwise PostgreSQL and
    # the simulators would die under the daemon before it is stopped.
    try:
        os.setsid()
    except OSError:
        pass                       # already a group leader: started on its own
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    parent = os.getppid()
    os.makedirs(a.out, exist_ok=True)
    tmp = h.make_tmpdir("epsync-demo-")

    heading("starting PostgreSQL")
    pg = h.PgCluster(tmp)
    say("cluster %s, socket %s" % (pg.datadir, pg.sockdir))
    m = load_cases(pg, tmp, a.out, a)
    create_role(pg)

    heading("starting the platform simulators (with faults)")
    city = h.Sim("city", tmp, faults=FAULTS["city"], seed=a.seed)
    prov = h.Sim("province", tmp, faults=FAULTS["province"], seed=a.seed)
    say("city     %s  faults %s" % (city.base_url, json.dumps(FAULTS["city"])))
    say("province %s  faults %s" % (prov.base_url, json.dumps(FAULTS["province"])))

    config = write_config(tmp, pg, [city, prov])
    owner_config = write_config(tmp, pg, [city, prov], role=OWNER, name="epsync-owner.yaml")
    write_env(a.out, {
        "DEMO_TMP": tmp, "EPSYNC_CONFIG": config, "DEMO_OWNER_CONFIG": owner_config, "DEMO_PGDATA": pg.datadir,
        "DEMO_PGHOST": pg.sockdir, "DEMO_PGPORT": pg.port,
        "DEMO_CITY_URL": city.base_url, "DEMO_PROVINCE_URL": prov.base_url,
        "DEMO_FROM": m["start_date"], "DEMO_TODAY": m["today"],
        "DEMO_MANIFEST": os.path.join(a.out, "manifest.json"),
    })
    # Hold everything up until told to stop, or until the script is gone.
    while not _stop and os.getppid() == parent:
        for s in (city, prov):
            if s.proc.poll() is not None:
                raise DemoError("the %s simulator exited:\n%s" % (s.kind, s.stderr_text()[-2000:]))
        time.sleep(0.2)
    return 0


# --- the short-lived commands ---------------------------------------------------------


def load_env(out):
    env = {}
    try:
        with open(os.path.join(out, "demo.env"), encoding="utf-8") as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                env[k] = shlex.split(v)[0] if v else ""
    except FileNotFoundError:
        raise DemoError("%s/demo.env is missing: is 'demo_env.py up' running?" % out)
    return env


class World:
    """Superuser connections to the case and state databases of a running demo."""

    def __init__(self, out):
        self.out = out
        self.env = load_env(out)
        base = "host=%s port=%s user=postgres dbname=" % (self.env["DEMO_PGHOST"],
                                                           self.env["DEMO_PGPORT"])
        self.cases = h.psycopg2.connect(base + CASE_DB)
        self.state = h.psycopg2.connect(base + STATE_DB)
        self.cases.autocommit = self.state.autocommit = True
        with open(self.env["DEMO_MANIFEST"], encoding="utf-8") as f:
            self.manifest = json.load(f)

    def q(self, conn, sql, *params):
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def counts(self):
        """{target: {state: n}} of the deliveries."""
        out = {}
        for t, s, n in self.q(self.state, "SELECT target, state, count(*) FROM epsync.deliveries "
                                          "GROUP BY 1, 2 ORDER BY 1, 2"):
            out.setdefault(t, {})[s] = n
        return out

    def expected(self):
        """(decision_id, target) pairs epsync must publish: the generator's
        valid decisions, as the view shows them now, at each target that
        takes their kind."""
        valid = self.manifest["categories"]["valid"]
        rows = self.q(self.cases, "SELECT decision_id, kind FROM epsync_source.decisions "
                      "WHERE decision_id = ANY(%s) AND state = 'final' AND NOT confidential",
                      valid)
        want = set()
        for did, kind in rows:
            want.add((did, "city"))
            if kind in PROVINCE_KINDS:
                want.add((did, "province"))
        return want

    def have(self):
        """(decision_id, target) pairs that have a delivery row."""
        return set(self.q(self.state, "SELECT decision_id, target FROM epsync.deliveries"))

    def busy(self):
        return self.q(self.state, "SELECT count(*) FROM epsync.deliveries WHERE state = ANY(%s)",
                      list(BUSY))[0][0]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def wait(what, done, pid, timeout, progress, since=None):
    """Poll done() every 250 ms; a progress line every 5 s.  since: the
    wall-clock time the awaited work began, for the "after" line."""
    start = time.monotonic()
    last = start
    while True:
        if done():
            took = time.time() - since if since else time.monotonic() - start
            say("%s after %.1fs" % (what, took))
            return
        now = time.monotonic()
        if pid and not alive(pid):
            raise DemoError("epsync run (pid %d) exited while waiting until %s" % (pid, what))
        if now - start > timeout:
            raise DemoError("not %s within %ds: %s" % (what, timeout, progress()))
        if now - last >= 5:
            say("%4.0fs  %s" % (now - start, progress()))
            last = now
        time.sleep(0.25)


def fmt_counts(c):
    return "; ".join("%s %s" % (t, ", ".join("%s=%d" % kv for kv in sorted(s.items())))
                     for t, s in sorted(c.items())) or "no deliveries yet"


def cmd_drained(a):
    w = World(a.out)
    want = w.expected()

    def done():
        return w.busy() == 0 and not (want - w.have())

    wait("backlog drained", done, a.pid, a.timeout,
         lambda: "%d of %d expected deliveries exist; %s" % (
             len(want & w.have()), len(want), fmt_counts(w.counts())))
    say(fmt_counts(w.counts()))
    return 0


def cmd_change(a):
    """Revoke a few published decisions and correct a few others, the way
    the case system does it: UPDATE, the trigger moves updated_at."""
    w = World(a.out)
    rows = w.q(w.state,
               "SELECT d.decision_id, d.revision FROM epsync.decisions d "
               "WHERE d.kind = 'penalty' AND d.src_state = 'final' "
               "AND (SELECT count(*) FROM epsync.deliveries x WHERE x.decision_id = d.decision_id "
               "     AND x.state = 'published') = 2 "
               "ORDER BY d.decision_id LIMIT %s", a.revoke + a.correct)
    if len(rows) < a.revoke + a.correct:
        raise DemoError("only %d penalties are published at both targets" % len(rows))
    revoke, correct = rows[:a.revoke], rows[a.revoke:]
    t0 = time.time()
    for did, _ in revoke:
        w.q(w.cases, "UPDATE cms.decision SET approval_status = '已撤销' WHERE decision_no = %s",
            did)
        say("revoked   %s" % did)
    for did, _ in correct:
        w.q(w.cases, "UPDATE cms.decision SET content = content || %s, "
            "remarks = coalesce(remarks || '；', '') || %s WHERE decision_no = %s",
            "（经复核更正）", "决定书内容已更正", did)
        say("corrected %s" % did)
    with open(os.path.join(a.out, "changes.json"), "w", encoding="utf-8") as f:
        json.dump({"at": t0, "revoked": [d for d, _ in revoke],
                   "corrected": {d: rev for d, rev in correct}}, f)
    return 0


def cmd_changed(a):
    w = World(a.out)
    with open(os.path.join(a.out, "changes.json"), encoding="utf-8") as f:
        ch = json.load(f)

    def pending():
        left = []
        for did in ch["revoked"]:
            st = w.q(w.state, "SELECT state FROM epsync.deliveries WHERE decision_id = %s", did)
            if not st or any(s != "withdrawn" for (s,) in st):
                left.append("%s not withdrawn" % did)
        for did, old in ch["corrected"].items():
            r = w.q(w.state, "SELECT d.revision, x.state, x.published_revision "
                    "FROM epsync.decisions d JOIN epsync.deliveries x USING (decision_id) "
                    "WHERE d.decision_id = %s", did)
            if not r or any(rev == old or s != "published" or pub != rev for rev, s, pub in r):
                left.append("%s not updated" % did)
        return left

    wait("withdrawals and updates delivered", lambda: not pending(), a.pid, a.timeout,
         lambda: "; ".join(pending()), since=ch["at"])
    return 0


def cmd_counts(a):
    w = World(a.out)
    print("   %-10s %-18s %6s" % ("target", "state", "count"))
    for t, states in sorted(w.counts().items()):
        for s, n in sorted(states.items()):
            print("   %-10s %-18s %6d" % (t, s, n))
    return 0


def cmd_sims(a):
    """What the platforms saw: faults injected, and the two numbers that
    must be zero (duplicate publications, protocol violations)."""
    env = load_env(a.out)
    bad = []
    for kind in ("city", "province"):
        url = env["DEMO_%s_URL" % kind.upper()]
        with urllib.request.urlopen(url + "/_sim/stats", timeout=10) as r:
            st = json.loads(r.read().decode("utf-8"))
        faults = ", ".join("%s=%d" % kv for kv in sorted(st["faults_injected"].items()))
        say("%-8s live %d, publications %d, faults injected: %s; duplicates %d, violations %d"
            % (kind, sum(1 for v in st["status"].values() if v["status"] == "PUBLISHED"),
               st["publications_total"], faults or "none", st["duplicates"],
               len(st["violations"])))
        if st["duplicates"] or st["violations"] or st["internal_errors"]:
            bad.append(kind)
    if bad:
        raise DemoError("simulator(s) %s saw duplicates or protocol violations" % ", ".join(bad))
    return 0


COMMANDS = {"up": cmd_up, "drained": cmd_drained, "change": cmd_change,
            "changed": cmd_changed, "counts": cmd_counts, "sims": cmd_sims}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=sorted(COMMANDS))
    ap.add_argument("--out", required=True, help="directory for demo.env, manifest, report, log")
    ap.add_argument("--decisions", type=int, default=600)
    ap.add_argument("--seed", default="2026")
    ap.add_argument("--days", type=int, default=60, help="decision dates over the last K days")
    ap.add_argument("--pid", type=int, default=0, help="the daemon: fail early if it dies")
    ap.add_argument("--timeout", type=int, default=90)
    ap.add_argument("--revoke", type=int, default=3)
    ap.add_argument("--correct", type=int, default=3)
    return ap.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    try:
        return COMMANDS[a.command](a)
    except DemoError as exc:
        sys.stderr.write("demo: %s\n" % exc)
        return 1
    except h.psycopg2.Error as exc:
        sys.stderr.write("demo: database: %s\n" % str(exc).strip())
        return 1
    except (RuntimeError, OSError, TimeoutError) as exc:     # from the harness: a server failed
        sys.stderr.write("demo: %s\n" % str(exc).strip())
        return 1


if __name__ == "__main__":
    sys.exit(main())
