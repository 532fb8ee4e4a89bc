"""epsync behind a connection pooler: PgBouncer in session mode (its
default) between two daemons and PostgreSQL, for both the source and the
state database.

The change detector's role is a session-level advisory lock; when a daemon
dies, PgBouncer resets the server session it used (DISCARD ALL) and the
other daemon takes the role over.  The pooler's configuration is PgBouncer's
defaults plus what it needs to start: no ignored startup parameters.

Run: python3 tests/lib/runner.py tests/integration/test_pooler.py
"""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402


class PgBouncer:
    """PgBouncer in front of the harness's cluster, on a loopback port."""

    def __init__(self, pg, mode="session"):
        self.tmp = h.make_tmpdir("epsync-pgbouncer-")
        os.chmod(self.tmp, 0o777)       # it runs as the unprivileged test user
        self.port = h.free_port()
        ini = os.path.join(self.tmp, "pgbouncer.ini")
        users = os.path.join(self.tmp, "users.txt")
        with open(ini, "w") as f:
            f.write("[databases]\n* = host=%s port=%d\n[pgbouncer]\n"
                    "listen_addr = 127.0.0.1\nlisten_port = %d\nunix_socket_dir =\n"
                    "auth_type = trust\nauth_file = %s\npool_mode = %s\n"
                    "logfile = %s/pgbouncer.log\npidfile = %s/pgbouncer.pid\n"
                    % (pg.sockdir, pg.port, self.port, users, mode, self.tmp, self.tmp))
        with open(users, "w") as f:
            f.write('"postgres" ""\n')
        for name in (ini, users):
            os.chmod(name, 0o644)
        cmd = [shutil.which("pgbouncer"), ini]
        if os.geteuid() == 0:           # PgBouncer refuses to run as root
            cmd[1:1] = ["-u", h.TEST_USER]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        h._register(self)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("pgbouncer did not start: %s" % self.log())
                time.sleep(0.1)

    def conninfo(self, dbname):
        return "host=127.0.0.1 port=%d dbname=%s user=postgres" % (self.port, dbname)

    def log(self):
        try:
            with open(os.path.join(self.tmp, "pgbouncer.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def published(w, ids):
    want = {"city": "published", "province": "published"}
    return all(w.states(i) == want for i in ids)


def test_two_daemons_through_pgbouncer_survive_one_being_killed():
    if not shutil.which("pgbouncer"):
        raise h.Skip("pgbouncer is not installed (scripts/bootstrap installs it)")
    w = h.World()
    bouncer = PgBouncer(w.pg)
    via = bouncer.conninfo(w.db)
    cfg = h.write_config(w.tmp, w.pg, [w.city, w.prov], dbname=w.db,
                         database={"source": via, "state": via})
    first, second = h.Epsync(config=cfg), h.Epsync(config=cfg)
    ids = h.insert_decisions(w.pg, w.db, 40)
    first.start_daemon()
    second.start_daemon()
    first.wait_until(lambda: published(w, ids), timeout=120, what="the first decisions")

    # The detector goes; the other daemon takes its role over and carries on.
    detector = first if "this process is the change detector" in first.log() else second
    other = second if detector is first else first
    detector.kill9()
    more = h.insert_decisions(w.pg, w.db, 20)
    h.revoke_decision(w.src, ids[0])
    other.wait_until(lambda: published(w, more), timeout=120, what="decisions after the kill")
    other.wait_until(lambda: w.states(ids[0]) == {"city": "withdrawn", "province": "withdrawn"},
                     timeout=120, what="the withdrawal after the kill")
    assert "this process is the change detector" in other.log(), other.log()[-3000:]
    assert other.stop() == 0, other.log()[-3000:]

    # Each decision once at each platform, and the audit chain intact.
    for sim in (w.city, w.prov):
        pubs = sim.assert_clean()["publications"]
        assert sorted(pubs) == sorted(ids + more), sim.kind
        assert all(sum(v.values()) == 1 for v in pubs.values()), (sim.kind, pubs)
    r = other.run(["verify-audit"])
    assert r.returncode == 0, r.stdout + r.stderr
