"""Trust boundaries: database roles, signed anchors, the public chain format.

The daemon runs as a member of epsync_daemon and cannot rewrite the audit
log; the owner role that runs `epsync migrate` can, and the anchors signed
outside the database catch it; tests/tools/verify_chain.py, written from
docs/audit.md alone, verifies a real exported chain and its anchors.
"""

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import harness as h  # noqa: E402
import verify_chain  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BOTH = {"city": "published", "province": "published"}
CREATE_GROUPS = """DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'epsync_daemon') THEN
    CREATE ROLE epsync_daemon NOLOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'epsync_report') THEN
    CREATE ROLE epsync_report NOLOGIN; END IF;
END $$"""


class Roles:
    """A case database whose state schema belongs to an owner role (no
    superuser, no CREATEROLE) and a daemon and a report login role."""

    def __init__(self, **overrides):
        self.tmp = h.make_tmpdir()
        self.pg = h.shared_cluster()
        self.db = h.fresh_dbname()
        self.src = h.case_db(self.pg, self.db)
        sfx = "%d_%s" % (os.getpid(), self.db.rsplit("_", 1)[1])
        self.owner, self.daemon, self.reader = ("ep_owner_" + sfx, "ep_daemon_" + sfx,
                                                "ep_report_" + sfx)
        su = self.pg.connect(self.db)
        with su.cursor() as cur:
            cur.execute(CREATE_GROUPS)
            cur.execute('CREATE ROLE "%s" LOGIN' % self.owner)
            cur.execute('GRANT CREATE ON DATABASE "%s" TO "%s"' % (self.db, self.owner))
            cur.execute('CREATE ROLE "%s" LOGIN IN ROLE epsync_daemon' % self.daemon)
            cur.execute('CREATE ROLE "%s" LOGIN IN ROLE epsync_report' % self.reader)
            cur.execute('GRANT USAGE ON SCHEMA epsync_source TO "%s"' % self.daemon)
            cur.execute('GRANT SELECT ON epsync_source.decisions TO "%s"' % self.daemon)
        su.close()
        self.city = h.Sim("city", self.tmp)
        self.prov = h.Sim("province", self.tmp)
        self.overrides = overrides
        self.ep = {r: self.epsync(r) for r in (self.owner, self.daemon, self.reader)}

    def conninfo(self, role):
        return "host=%s port=%d dbname=%s user=%s" % (self.pg.sockdir, self.pg.port, self.db, role)

    def epsync(self, role):
        d = os.path.join(self.tmp, role)
        os.makedirs(d, exist_ok=True)
        over = h.deep_merge({"database": {"source": self.conninfo(role),
                                          "state": self.conninfo(role)}}, self.overrides)
        return h.Epsync(config=h.write_config(d, self.pg, [self.city, self.prov],
                                              dbname=self.db, **over))

    def connect(self, role):
        conn = h.psycopg2.connect(self.conninfo(role))
        conn.autocommit = True
        return conn

    def q(self, role, sql, *params):
        with contextlib.closing(self.connect(role)) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def run_daemon(self, n=4):
        ids = h.insert_decisions(self.pg, self.db, n)
        ep = self.ep[self.daemon]
        ep.start_daemon()
        for did in ids:
            ep.wait_until(lambda: dict(self.q(self.owner, "SELECT target, state FROM "
                                              "epsync.deliveries WHERE decision_id = %s", did))
                          == BOTH, timeout=60, what="%s published" % did)
        assert ep.stop() == 0, ep.log()[-3000:]
        return ids


def refused(conn, sql):
    """The error text of a statement that must fail."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    except h.psycopg2.Error as exc:
        return str(exc)
    raise AssertionError("allowed: " + sql)


def test_daemon_role_cannot_rewrite_the_audit_log():
    w = Roles()
    r = w.ep[w.owner].run(["migrate"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "missing" not in r.stdout, r.stdout
    w.run_daemon()
    ep = w.ep[w.daemon]
    assert "could rewrite the audit log" not in ep.log(), ep.log()
    r = ep.run(["verify-audit"])
    assert r.returncode == 0 and "audit chain intact" in r.stdout, r.stdout + r.stderr

    conn = w.connect(w.daemon)
    for sql in ("UPDATE epsync.audit SET message = 'x' WHERE seq = 1",
                "DELETE FROM epsync.audit WHERE seq = 1",
                "TRUNCATE epsync.audit",
                "ALTER TABLE epsync.audit DISABLE TRIGGER USER",
                "ALTER TABLE epsync.audit DISABLE TRIGGER ALL",
                "DROP TABLE epsync.audit",
                "CREATE TABLE epsync.evil (x int)"):
        msg = refused(conn, sql)
        assert "permission denied" in msg or "must be owner" in msg, (sql, msg)
    # ... while the queue is the daemon's to change.
    with conn.cursor() as cur:
        cur.execute("UPDATE epsync.deliveries SET updated_at = updated_at")
        assert cur.rowcount > 0
    conn.close()

    # The report role reads and writes nothing.
    r = w.ep[w.reader].run(["report", "--format", "json"])
    assert r.returncode == 0, r.stdout + r.stderr
    conn = w.connect(w.reader)
    assert "permission denied" in refused(conn, "UPDATE epsync.deliveries SET attempts = 0")
    assert "permission denied" in refused(conn, "INSERT INTO epsync.audit (seq) VALUES (0)")
    conn.close()


def test_migrate_names_what_is_missing():
    w = Roles()
    assert w.ep[w.owner].run(["migrate"]).returncode == 0
    # Hand the audit log to the daemon's group: migrate refuses to call that complete.
    su = w.pg.connect(w.db)
    with su.cursor() as cur:
        cur.execute("ALTER TABLE epsync.audit OWNER TO epsync_daemon")
    su.close()
    r = w.ep[w.owner].run(["migrate"])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "missing: epsync.audit belongs to epsync_daemon" in r.stdout, r.stdout
    assert "missing: epsync_daemon may rewrite epsync.audit" in r.stdout, r.stdout
    # A stray grant is taken back by the next migrate.
    su = w.pg.connect(w.db)
    with su.cursor() as cur:
        cur.execute('ALTER TABLE epsync.audit OWNER TO "%s"' % w.owner)
        cur.execute("GRANT UPDATE, DELETE ON epsync.audit TO epsync_daemon")
    su.close()
    r = w.ep[w.owner].run(["migrate"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert w.q(w.owner, "SELECT has_table_privilege('epsync_daemon', 'epsync.audit', 'UPDATE')") \
        == [(False,)]


# --- anchors ------------------------------------------------------------------------


def keypair(tmp):
    key, pub = os.path.join(tmp, "anchor-key.pem"), os.path.join(tmp, "anchor-public.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    os.chmod(key, 0o600)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True)
    return key, pub


def export_query():
    """The export statement of docs/audit.md, as written there."""
    with open(os.path.join(REPO, "docs", "audit.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"### Exporting a chain.*?```sql\n(.*?)```", text, re.S)
    assert m, "docs/audit.md has no export query"
    return m.group(1)


def export(w, path):
    rows = w.q(w.reader, export_query())
    with open(path, "w", encoding="utf-8") as f:
        for (arr,) in rows:
            f.write(json.dumps(arr, ensure_ascii=False) + "\n")
    return path


def openssl_verify(line, pub, tmp):
    msg, _, sig = line.rstrip("\n").partition(" sig=")
    mp, sp = os.path.join(tmp, "msg"), os.path.join(tmp, "sig")
    with open(mp, "w") as f:
        f.write(msg)
    with open(sp, "wb") as f:
        f.write(base64.b64decode(sig))
    return subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin",
                           "-in", mp, "-sigfile", sp], capture_output=True, text=True)


def rewrite_as_owner(w, seq, message):
    """What an owner can do: change an event and recompute the chain from it
    (with the triggers off), so that the chain alone looks intact."""
    conn = w.connect(w.owner)
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE epsync.audit DISABLE TRIGGER USER")
        cur.execute("UPDATE epsync.audit SET message = %s WHERE seq = %s", (message, seq))
        cur.execute(export_query())
        prev = verify_chain.ZERO
        for (row,) in cur.fetchall():
            n = int(row[0])
            if n >= seq:
                new = verify_chain.event_hash(prev, row[:14])
                cur.execute("UPDATE epsync.audit SET prev_hash = %s, hash = %s WHERE seq = %s",
                            (prev, new, n))
                prev = new
            else:
                prev = row[15]
        cur.execute("ALTER TABLE epsync.audit ENABLE TRIGGER USER")
    conn.commit()
    conn.close()


def test_anchors_catch_a_rewrite_by_the_owner():
    tmp = h.make_tmpdir()
    key, pub = keypair(tmp)
    anchors = os.path.join(tmp, "anchors.log")
    w = Roles(audit={"anchor_every": "10s", "anchor_key_file": key, "anchor_file": anchors})
    assert w.ep[w.owner].run(["migrate"]).returncode == 0
    w.run_daemon()
    log = w.ep[w.daemon].log()
    assert "audit chain anchored" in log, log[-3000:]
    with open(anchors) as f:
        lines = f.read().splitlines()
    assert lines and all(l.startswith("epsync-anchor/1 seq=") for l in lines), lines
    assert oct(os.stat(anchors).st_mode & 0o777) == "0o600"
    head = w.q(w.owner, "SELECT max(seq) FROM epsync.audit")[0][0]
    assert "seq=%d " % head in lines[-1], (head, lines)        # the shutdown anchor
    assert re.search(r"audit chain anchored seq=%d hash=[0-9a-f]{64}" % head, log), log[-2000:]
    assert " sig=" not in log

    # Only the public key is needed: epsync, OpenSSL and the independent script agree.
    verify = ["verify-audit", "--anchors", anchors, "--public-key", pub]
    r = w.ep[w.reader].run(verify)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "audit anchors verified: %d" % len(lines) in r.stdout, r.stdout
    for line in lines:
        v = openssl_verify(line, pub, tmp)
        assert v.returncode == 0 and "Signature Verified Successfully" in v.stdout, v
    chain = export(w, os.path.join(tmp, "audit.jsonl"))
    tool = os.path.join(REPO, "tests", "tools", "verify_chain.py")
    r = subprocess.run([sys.executable, tool, chain, anchors, pub], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("ok %d events, %d anchors" % (head, len(lines))), r

    # A forged anchor line does not verify.
    forged = os.path.join(tmp, "forged.log")
    with open(forged, "w") as f:
        f.write(lines[0].replace("seq=", "seq=1", 1) + "\n")
    r = w.ep[w.reader].run(["verify-audit", "--anchors", forged, "--public-key", pub])
    assert r.returncode == 1 and "line 1: signature does not verify" in r.stdout, r.stdout
    assert openssl_verify(open(forged).read(), pub, tmp).returncode != 0

    # The owner rewrites an early event and recomputes the chain: intact on its
    # own, caught by the anchors, named by the first anchor after it.
    rewrite_as_owner(w, 2, "rewritten")
    r = w.ep[w.reader].run(["verify-audit"])
    assert r.returncode == 0, r.stdout + r.stderr
    r = w.ep[w.reader].run(verify)
    assert r.returncode == 1, r.stdout + r.stderr
    first = next(i for i, l in enumerate(lines, 1) if int(l.split()[1][4:]) >= 2)
    assert "audit anchor broken: line %d " % first in r.stdout, r.stdout
    assert "has another hash (rewritten)" in r.stdout, r.stdout
    export(w, chain)
    r = subprocess.run([sys.executable, tool, chain, anchors, pub], capture_output=True, text=True)
    assert r.returncode == 1 and "anchor line %d" % first in r.stdout, r

    # Removing the anchored tail is caught too.  Checked against the last
    # anchor alone: an earlier periodic anchor (the daemon may have run
    # longer than anchor_every) would report the rewrite above first.
    conn = w.connect(w.owner)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE epsync.audit DISABLE TRIGGER USER")
        cur.execute("DELETE FROM epsync.audit WHERE seq = %s", (head,))
        cur.execute("ALTER TABLE epsync.audit ENABLE TRIGGER USER")
    conn.close()
    last = os.path.join(tmp, "last-anchor.log")
    with open(last, "w") as f:
        f.write(lines[-1] + "\n")
    r = w.ep[w.reader].run(["verify-audit", "--anchors", last, "--public-key", pub])
    assert r.returncode == 1 and "events removed" in r.stdout, r.stdout


def test_independent_script_verifies_a_real_chain():
    w = Roles()
    assert w.ep[w.owner].run(["migrate"]).returncode == 0
    w.run_daemon(6)
    tmp = h.make_tmpdir()
    chain = export(w, os.path.join(tmp, "audit.jsonl"))
    tool = os.path.join(REPO, "tests", "tools", "verify_chain.py")
    n = w.q(w.owner, "SELECT count(*) FROM epsync.audit")[0][0]
    r = subprocess.run([sys.executable, tool, chain], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok %d events" % n, r
    # An altered export fails: the script can fail.
    rows = [json.loads(l) for l in open(chain)]
    rows[n // 2][9] = (rows[n // 2][9] or "") + "x"
    with open(chain, "w") as f:
        f.writelines(json.dumps(x, ensure_ascii=False) + "\n" for x in rows)
    r = subprocess.run([sys.executable, tool, chain], capture_output=True, text=True)
    assert r.returncode == 1 and "chain broken at seq=%d" % (n // 2 + 1) in r.stdout, r


# --- process hygiene ------------------------------------------------------------------


def test_check_config_masks_urls_and_refuses_unverified_tls():
    w = h.World(targets={"city": {"proxy": "http://alice:s3cret-pw@proxy.example:3128"}})
    r = w.ep.run(["check-config"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "s3cret-pw" not in r.stdout and "alice" not in r.stdout, r.stdout
    assert "http://***@proxy.example:3128" in r.stdout, r.stdout
    url = w.prov.base_url.replace("http://", "http://bob:pr0v-pw@")
    cfg = h.write_config(w.tmp, w.pg, [w.city, w.prov], dbname=w.db,
                         targets={"province": {"base_url": url}})
    r = h.Epsync(config=cfg).run(["check-config"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pr0v-pw" not in r.stdout and "bob" not in r.stdout, r.stdout
    assert "http://***@127.0.0.1:%d" % w.prov.port in r.stdout, r.stdout

    bad = h.write_config(w.tmp, w.pg, [w.city, w.prov], dbname=w.db,
                         targets={"city": {"tls": {"verify": False}}})
    r = h.Epsync(config=bad).run(["check-config"])
    assert r.returncode == 78, r.stdout + r.stderr
    assert "tls.verify: false is refused" in r.stderr, r.stderr
    ok = h.write_config(w.tmp, w.pg, [w.city, w.prov], dbname=w.db,
                        targets={"city": {"tls": {"verify": False,
                                                  "insecure_skip_verify_i_understand": True}}})
    ep = h.Epsync(config=ok)
    r = ep.run(["check-config"])
    assert r.returncode == 0, r.stdout + r.stderr
    ep.start_daemon()
    ep.wait_until(lambda: "TLS certificate verification is OFF" in ep.log(), timeout=30,
                  what="the warning")
    assert "target=city" in ep.log()
    assert ep.stop() == 0


def test_secret_from_the_environment_is_removed():
    w = h.World()
    with open(w.city.secret_file) as f:
        secret = f.read().strip()
    cfg = h.write_config(w.tmp, w.pg, [w.city, w.prov], dbname=w.db,
                         targets={"city": {"client_secret_file": None,
                                           "client_secret_env": "EPSYNC_CITY_SECRET"}})
    ep = h.Epsync(config=cfg, env={"EPSYNC_CITY_SECRET": secret})
    ids = h.insert_decisions(w.pg, w.db, 2)
    ep.start_daemon()
    ep.wait_until(lambda: all(w.states(i).get("city") == "published" for i in ids),
                  timeout=60, what="city publications with the secret from the environment")
    pid = ep.proc.pid
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = f.read()
    # The value is wiped where the kernel shows the initial environment.
    assert len(secret) >= 8 and secret.encode() not in env, env
    assert ep.stop() == 0


def _proc_owner(pid):
    """The owner of /proc/PID/environ: the process's own user while it is
    dumpable, root once it has made itself non-dumpable."""
    return os.stat("/proc/%d/environ" % pid).st_uid


def test_the_daemon_is_not_dumpable():
    """Its memory holds secrets and tokens: no core file, no ptrace and no
    /proc/PID/environ or mem for other processes of its user."""
    tmp = h.make_tmpdir("epsync-dump-")
    os.chmod(tmp, 0o755)
    binary = os.path.join(tmp, "epsync")          # the test user may not reach the build
    shutil.copy(h.require_epsync(), binary)
    calendar = os.path.join(tmp, "holidays.yaml")
    shutil.copy(os.path.join(h.REPO, "conf", "holidays.yaml"), calendar)
    secret = os.path.join(tmp, "city.secret")
    with open(secret, "w") as f:
        f.write("not-a-real-secret-0123456789\n")
    os.chmod(secret, 0o600)
    nowhere = "host=%s dbname=none connect_timeout=2" % os.path.join(tmp, "no-such-socket-dir")
    cfg = {"database": {"source": nowhere, "state": nowhere,
                        "source_relation": "epsync_source.decisions"},
           "calendar": calendar, "log": {"level": "info", "format": "text"},
           "targets": {"city": {"protocol": "city", "base_url": "http://127.0.0.1:9",
                                "allow_plain_http": True, "client_id": "c",
                                "client_secret_file": secret}}}
    path = h._write_private(os.path.join(tmp, "epsync.yaml"), h.to_yaml(cfg) + "\n")
    uid = gid = None
    if os.geteuid() == 0:        # run it as an ordinary user, as systemd's unit does
        user = h._test_user()
        uid, gid = user.pw_uid, user.pw_gid
        for f in (path, secret):
            os.chown(f, uid, gid)

    def as_user():
        if uid is not None:
            os.setgid(gid)
            os.setuid(uid)

    env = dict(os.environ)
    m = re.search(r"suppressions=([^:]+)", env.get("LSAN_OPTIONS", ""))
    if m:                        # the sanitizer build: its suppressions where the user reads
        shutil.copy(m.group(1), os.path.join(tmp, "lsan.supp"))
        env["LSAN_OPTIONS"] = env["LSAN_OPTIONS"].replace(m.group(1),
                                                          os.path.join(tmp, "lsan.supp"))
    log = open(os.path.join(tmp, "epsync.log"), "wb")
    daemon = subprocess.Popen([binary, "-c", path, "run"], stdout=log, stderr=log,
                              stdin=subprocess.DEVNULL, preexec_fn=as_user, env=env)
    # The same user's ordinary process, for contrast: the check can fail.
    other = subprocess.Popen(["sleep", "60"], preexec_fn=as_user)
    try:
        deadline = time.monotonic() + 30
        with open(os.path.join(tmp, "epsync.log"), errors="replace") as f:
            while "state database unavailable" not in f.read():
                assert daemon.poll() is None, open(os.path.join(tmp, "epsync.log")).read()
                assert time.monotonic() < deadline, "the daemon never said it waits"
                time.sleep(0.1)
                f.seek(0)
        me = os.geteuid() if uid is None else uid
        assert me != 0
        with open("/proc/%d/status" % daemon.pid) as f:
            assert re.search(r"^Uid:\s+%d\b" % me, f.read(), re.M)
        assert _proc_owner(other.pid) == me
        assert _proc_owner(daemon.pid) == 0, "the daemon is dumpable"
    finally:
        other.kill()
        other.wait()
        daemon.terminate()
        assert daemon.wait(30) == 0
        log.close()


# --- a database that goes silent ------------------------------------------------------


class SilentProxy:
    """TCP on loopback to the cluster's unix socket.  freeze(): every
    connection open now stops forwarding for good, without being closed (a
    firewall or NAT that forgot it), and so does every new one until
    thaw()."""

    def __init__(self, unix_path):
        self.socket, self.threading = socket, threading
        self.unix_path = unix_path
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.epoch, self.frozen, self.live = 0, False, []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = self.socket.socket(self.socket.AF_UNIX)
            u.connect(self.unix_path)
            with self.lock:
                self.live += [c, u]
                epoch = self.epoch if not self.frozen else -1
            for a, b in ((c, u), (u, c)):
                self.threading.Thread(target=self._pump, args=(a, b, epoch), daemon=True).start()

    def _pump(self, a, b, epoch):
        while True:
            try:
                data = a.recv(65536)
            except OSError:
                return
            if not data:
                return b.close() if self.epoch == epoch else None
            while self.epoch != epoch:        # silent: hold the bytes, close nothing
                time.sleep(0.2)
            try:
                b.sendall(data)
            except OSError:
                return

    def freeze(self):
        with self.lock:
            self.epoch += 1
            self.frozen = True

    def thaw(self):
        with self.lock:
            self.frozen = False

    def close(self):
        self.lsock.close()
        for s in self.live:
            try:
                s.close()
            except OSError:
                pass


def test_a_silently_dropped_database_connection_is_survived():
    pg = h.shared_cluster()
    proxy = SilentProxy(os.path.join(pg.sockdir, ".s.PGSQL.%d" % pg.port))
    try:
        db = h.fresh_dbname()
        via = ("host=127.0.0.1 port=%d dbname=%s user=postgres connect_timeout=3 "
               "options='-c statement_timeout=2000'" % (proxy.port, db))
        src = h.case_db(pg, db)
        tmp = h.make_tmpdir()
        city, prov = h.Sim("city", tmp), h.Sim("province", tmp)
        cfg = h.write_config(tmp, pg, [city, prov], dbname=db,
                             database={"source": via, "state": via})
        ep = h.Epsync(config=cfg)
        assert ep.run(["migrate"]).returncode == 0
        state = pg.connect(db)

        def published(ids):
            with state.cursor() as cur:
                cur.execute("SELECT count(*) FROM epsync.deliveries WHERE decision_id = ANY(%s) "
                            "AND state = 'published'", (ids,))
                return cur.fetchone()[0] == 2 * len(ids)

        first = h.insert_decisions(pg, db, 3)
        ep.start_daemon()
        ep.wait_until(lambda: published(first), timeout=60, what="first decisions")
        proxy.freeze()
        second = h.insert_decisions(pg, db, 3)
        ep.wait_until(lambda: "no answer from the" in ep.log(), timeout=60,
                      what="the silent connection noticed")
        proxy.thaw()
        ep.wait_until(lambda: published(second), timeout=120, what="decisions after the drop")
        assert "reconnected" in ep.log(), ep.log()[-3000:]
        assert ep.stop(timeout=60) == 0, ep.log()[-3000:]
        r = ep.run(["verify-audit"])
        assert r.returncode == 0, r.stdout + r.stderr
        state.close()
        src.close()
    finally:
        proxy.close()


# --- token endpoint authentication ------------------------------------------------------


def test_client_secret_basic_against_a_platform_requiring_it():
    pg = h.shared_cluster()
    db = h.fresh_dbname()
    src = h.case_db(pg, db)
    tmp = h.make_tmpdir()
    city = h.Sim("city", tmp, args=["--token-auth", "basic"])
    prov = h.Sim("province", tmp)
    ids = h.insert_decisions(pg, db, 2)

    def city_published():
        with src.cursor() as cur:
            cur.execute("SELECT count(*) FROM epsync.deliveries WHERE target = 'city' "
                        "AND state = 'published'")
            return cur.fetchone()[0] == len(ids)

    # The form fields alone are refused by this platform ...
    ep = h.Epsync(config=h.write_config(tmp, pg, [city, prov], dbname=db))
    assert ep.run(["migrate"]).returncode == 0
    ep.start_daemon()
    ep.wait_until(lambda: city.stats()["requests"].get("token_invalid_client", 0) >= 1,
                  timeout=30, what="the refused form credentials")
    assert "credentials refused" in ep.log(), ep.log()[-2000:]
    assert ep.stop() == 0
    assert not city_published()
    # ... HTTP Basic is accepted.
    ep = h.Epsync(config=h.write_config(tmp, pg, [city, prov], dbname=db,
                                        targets={"city": {"token_auth": "basic"}}))
    ep.start_daemon()
    ep.wait_until(city_published, timeout=60, what="city publications with client_secret_basic")
    assert ep.stop() == 0
    assert city.stats()["requests"].get("token_issued", 0) >= 1
    src.close()


# --- platform messages ----------------------------------------------------------------


class QuotingCity:
    """A city platform that refuses every decision with a message quoting a
    resident ID number and a phone number, with a line break and an escape
    sequence in it (what a careless platform does)."""

    MSG = "证件号码130102199001011237与电话13800001111不符\n\x1b[31mREJECTED"

    def __init__(self):
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/oauth/token":
                    body = {"access_token": "t0ken", "token_type": "Bearer", "expires_in": 3600}
                else:
                    body = {"code": "1001", "msg": QuotingCity.MSG}
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_platform_messages_are_scrubbed_in_log_and_show():
    city = QuotingCity()
    try:
        w = h.World(targets={"city": {"base_url": city.base_url}, "province": None})
        did = h.insert_decision(w.src)["decision_id"]
        w.ep.start_daemon()
        w.wait_states(did, {"city": "rejected"})
        assert w.ep.stop() == 0
        log = w.ep.log()
        assert "delivery rejected" in log, log[-2000:]
        show = w.ep.run(["show", did])
        assert show.returncode == 0, show.stderr
        stored = w.q("SELECT last_error FROM epsync.deliveries WHERE decision_id = %s", did)[0][0]
        for text in (log, show.stdout, stored):
            assert "130102199001011237" not in text and "13800001111" not in text, text
            assert "\x1b" not in text, text
        assert "证件号码130****与电话138****不符\\x0a\\x1b[31mREJECTED" in stored, stored
        assert "130****" in show.stdout and "130****" in log
    finally:
        city.server.shutdown()
