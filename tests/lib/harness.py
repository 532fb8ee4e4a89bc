"""harness - what every integration test of epsync uses.

    PgCluster(tmpdir)        a throw-away PostgreSQL on a unix socket
    Sim(kind, tmpdir, ...)   a platform simulator subprocess (tests/sim/)
    write_config(...)        an epsync.yaml pointing at both
    Epsync(binary, config)   runs the CLI and the daemon
    case_db(pg, dbname)      a source database with epsync_source.decisions
    insert_decision(...)     a realistic valid decision row
    World(...)               all of these for one test, epsync migrated

Every child process and temporary directory is registered and cleaned up by
cleanup(), which runs at exit (and after each test module under runner.py):
no server outlives the tests.  Set EPSYNC_KEEP_TMP=1 to keep the
directories for a post-mortem.
"""

import atexit
import datetime
import glob
import hashlib
import itertools
import json
import os
import pwd
import random
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM_DIR = os.path.join(REPO, "tests", "sim")
sys.path.insert(0, SIM_DIR)
import simcommon  # noqa: E402

try:
    import psycopg2
except ImportError:      # a python3 outside Debian's (pyenv): use Debian's module
    sys.path.append("/usr/lib/python3/dist-packages")
    import psycopg2

TEST_USER = "epsync-test"
CST = datetime.timezone(datetime.timedelta(hours=8))


class Skip(Exception):
    """Raised by a test to be reported as skipped (runner.py)."""


# --- cleanup registry -----------------------------------------------------------

_children = []      # objects with a stop() method, stopped in reverse order
_tmpdirs = []


def _register(obj):
    _children.append(obj)
    return obj


def free_port():
    """A free port below the kernel's range of ephemeral ports: a client
    polling it before its server listens could otherwise be given the same
    port as its own source and connect to itself (reading back its own
    request), and other tests' connections cannot take it meanwhile."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    rng = random.Random()
    while True:
        port = rng.randrange(max(1024, low - 12000), low)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()


_sims_to_check = []     # simulators started by the test now running


def check_simulators():
    """After every test (tests/lib/runner.py): no simulator started by it
    saw personal data or a missing or reused X-Request-Id in a request,
    whether or not the test itself asked.  A test that sends such requests
    on purpose says so with allow_violations().  Returns the problems found
    as text, or None."""
    problems = []
    while _sims_to_check:
        sim = _sims_to_check.pop()
        if sim.proc.poll() is not None or sim.allowed_violations is None:
            continue
        try:
            bad = {k: v for k, v in sim.stats()["violations"].items()
                   if v and k not in sim.allowed_violations}
        except Exception as exc:        # a test that broke its simulator on purpose
            sys.stderr.write("harness: %s simulator not checked: %s\n" % (sim.kind, exc))
            continue
        if bad:
            problems.append("%s simulator saw %s" % (sim.kind, bad))
    return "; ".join(problems) or None


def forget_simulators():
    """A test that failed or was skipped: its simulators go unchecked."""
    del _sims_to_check[:]


def cleanup():
    """Stop every registered child and remove the temporary directories."""
    global _shared_pg
    while _children:
        obj = _children.pop()
        try:
            obj.stop()
        except Exception as exc:     # keep cleaning up the others
            sys.stderr.write("harness: cleanup of %r failed: %s\n" % (obj, exc))
    _shared_pg = None
    while _tmpdirs:
        d = _tmpdirs.pop()
        if os.environ.get("EPSYNC_KEEP_TMP") == "1":
            sys.stderr.write("harness: kept %s\n" % d)
        else:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(cleanup)


OWNER_FILE = ".epsync-test-owner"


def schema_version():
    """The state schema version this build of epsync migrates to (include/db.h)."""
    with open(os.path.join(REPO, "include", "db.h"), encoding="utf-8") as f:
        return int(re.search(r"#define DB_SCHEMA_VERSION (\d+)", f.read()).group(1))


def make_tmpdir(prefix="epsync-test-"):
    """A fresh directory under /tmp, removed by cleanup().  It names its
    owner process, so a later run can reap it if this one is SIGKILLed."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    with open(os.path.join(d, OWNER_FILE), "w") as f:
        f.write(str(os.getpid()))
    _tmpdirs.append(d)
    return d


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale():
    """Stop clusters and remove directories left by a test process that
    died without cleaning up (SIGKILL, OOM).  Simulators exit by
    themselves when their parent dies (--exit-with-parent)."""
    for owner in glob.glob("/tmp/epsync-*/" + OWNER_FILE):
        d = os.path.dirname(owner)
        try:
            with open(owner) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            continue
        if pid == os.getpid() or _pid_alive(pid):
            continue
        data = os.path.join(d, "pg", "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            kw = {}
            if os.geteuid() == 0:
                u = _test_user()
                kw = {"user": u.pw_uid, "group": u.pw_gid, "extra_groups": []}
            subprocess.run([os.path.join(pg_bindir(), "pg_ctl"), "-D", data, "-m", "immediate",
                            "-w", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           cwd="/", **kw)
        shutil.rmtree(d, ignore_errors=True)


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Poll predicate until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


# --- PostgreSQL ---------------------------------------------------------------------


def pg_bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    if not dirs:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    return dirs[-1]


def _test_user():
    """The unprivileged account initdb/postgres run as when we are root."""
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", TEST_USER], check=True)
        return pwd.getpwnam(TEST_USER)


class PgCluster:
    """A throw-away cluster listening only on a unix socket in tmpdir.

    Superuser `postgres`, trust authentication.  Stopped by stop(), on
    leaving the with-block, and at exit."""

    PORT = 5432     # unix socket only, so the number is merely the file name

    def __init__(self, tmpdir, fsync=False, settings=None):
        reap_stale()
        self.bindir = pg_bindir()
        self.base = os.path.join(tmpdir, "pg")
        self.datadir = os.path.join(self.base, "data")
        self.sockdir = self.base
        self.logfile = os.path.join(self.base, "postgres.log")
        self.port = self.PORT
        self._running = False
        self._user = None
        os.makedirs(self.base, mode=0o700)
        if os.geteuid() == 0:
            self._user = _test_user()
            os.chmod(tmpdir, os.stat(tmpdir).st_mode | 0o711)   # traversable
            os.chown(self.base, self._user.pw_uid, self._user.pw_gid)
        self._pg("initdb", "-D", self.datadir, "-U", "postgres", "--auth=trust",
                 "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
        conf = {
            "listen_addresses": "''", "unix_socket_directories": "'%s'" % self.sockdir,
            "port": str(self.port), "max_connections": "100", "shared_buffers": "32MB",
            "fsync": "on" if fsync else "off",
            "synchronous_commit": "on" if fsync else "off",
            "full_page_writes": "on" if fsync else "off",
            "log_min_messages": "warning", "log_line_prefix": "'%m [%p] '",
            "timezone": "'UTC'",
        }
        conf.update(settings or {})
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("\n# epsync test harness\n")
            f.writelines("%s = %s\n" % kv for kv in conf.items())
        _register(self)
        self.start()

    def _pg(self, prog, *args, check=True):
        kw = {}
        if self._user is not None:
            kw = {"user": self._user.pw_uid, "group": self._user.pw_gid,
                  "extra_groups": [], "cwd": self.base}
        return subprocess.run([os.path.join(self.bindir, prog), *args], check=check,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}, **kw)

    def start(self):
        r = self._pg("pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w", "-t", "60",
                     "start", check=False)
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start failed: %s\n%s" % (r.stdout, self.log_tail()))
        self._running = True

    def stop(self, mode="fast"):
        if not self._running:
            return
        self._pg("pg_ctl", "-D", self.datadir, "-m", mode, "-w", "-t", "60", "stop",
                 check=False)
        self._running = False

    def restart(self, mode="fast"):
        self.stop(mode)
        self.start()

    def log_tail(self, n=30):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def conninfo(self, dbname="postgres"):
        return "host=%s port=%d dbname=%s user=postgres" % (self.sockdir, self.port, dbname)

    def connect(self, dbname="postgres"):
        conn = psycopg2.connect(self.conninfo(dbname))
        conn.autocommit = True
        return conn

    def psql(self, sql, dbname="postgres", params=None):
        """Run one statement; the rows as a list of tuples ([] for none)."""
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def createdb(self, name):
        exists = self.psql("SELECT 1 FROM pg_database WHERE datname = %s", params=(name,))
        if not exists:
            conn = self.connect()
            try:
                with conn.cursor() as cur:
                    cur.execute("CREATE DATABASE " + _ident(name))
            finally:
                conn.close()
        return name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


_shared_pg = None


def shared_cluster():
    """One cluster per test module (cleanup() forgets it between modules)."""
    global _shared_pg
    if _shared_pg is None:
        _shared_pg = PgCluster(make_tmpdir("epsync-pg-"))
    return _shared_pg


_db_seq = itertools.count(1)


def fresh_dbname(prefix="cases"):
    return "%s_%d_%d" % (prefix, os.getpid(), next(_db_seq))


def _ident(name):
    return '"' + name.replace('"', '""') + '"'


# --- simulators ---------------------------------------------------------------------


class Sim:
    """A simulator subprocess.  kind: "city" or "province"."""

    def __init__(self, kind, tmpdir, faults=None, seed=None, token_ttl=None, verbose=False,
                 args=(), lax_request_id=False):
        if kind not in ("city", "province"):
            raise ValueError("Sim kind is city or province")
        self.kind = kind
        tag = "%s-%s" % (kind, secrets.token_hex(3))
        self.ident = "sjz-scjg" if kind == "city" else "130100-scjg"
        self.secret = secrets.token_hex(16)
        self.secret_file = _write_private(os.path.join(tmpdir, tag + ".secret"),
                                          self.secret + "\n")
        self.records_path = os.path.join(tmpdir, tag + ".jsonl")
        self.stderr_path = os.path.join(tmpdir, tag + ".stderr")
        cmd = [sys.executable, os.path.join(SIM_DIR, kind + "_sim.py"), "--port", "0",
               "--records", self.records_path, "--faults", json.dumps(faults or {}),
               "--client-id" if kind == "city" else "--app-id", self.ident,
               "--secret-file", self.secret_file, "--exit-with-parent"]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        if token_ttl is not None:
            cmd += ["--token-ttl", str(token_ttl)]
        if verbose:
            cmd.append("--verbose")
        cmd += list(args)      # further options of the simulator
        if lax_request_id:
            cmd.append("--lax-request-id")
        self.allowed_violations = ()
        _sims_to_check.append(self)
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._err,
                                     stdin=subprocess.DEVNULL)
        _register(self)
        self.port = self._read_port()
        self.base_url = "http://127.0.0.1:%d" % self.port

    def _read_port(self, timeout=60.0):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError("%s simulator did not start: %r\n%s" % (
                self.kind, line, self.stderr_text()))
        return int(line.split()[1])

    def stderr_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _call(self, method, path, obj=None):
        data = json.dumps(obj).encode() if obj is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read().decode("utf-8"))

    def stats(self):
        return self._call("GET", "/_sim/stats")

    def set_faults(self, faults):
        """Replace the fault set in force (downtime windows count from now)."""
        return self._call("POST", "/_sim/faults", faults)

    def revoke_tokens(self):
        return self._call("POST", "/_sim/revoke-tokens", {})

    def records(self):
        """The publications recorded so far, as parsed JSON lines."""
        try:
            with open(self.records_path, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def published(self):
        """decision_id -> revision of every decision live on the platform."""
        return {d: v["revision"] for d, v in self.stats()["status"].items()
                if v["status"] == "PUBLISHED"}

    def allow_violations(self, names=None):
        """This test sends requests the simulator counts as violations on
        purpose: names (all when None) are not checked after the test."""
        self.allowed_violations = None if names is None else tuple(names)

    def assert_clean(self, allow=()):
        """No duplicate publication, no simulator error, no protocol
        violation (a missing or reused X-Request-Id — epsync makes a fresh
        one for every request, the repeat after a token renewal included —
        nor an ID number or mobile number anywhere in a request)."""
        st = self.stats()
        problems = {k: st[k] for k in ("duplicates", "internal_errors") if st[k]}
        bad = {k: v for k, v in st["violations"].items() if k not in allow}
        if bad:
            problems["violations"] = bad
        if problems:
            raise AssertionError("%s simulator: %s\n%s" % (self.kind, problems,
                                                            self.stderr_text()[-2000:]))
        return st

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._err.close()


# --- configuration ---------------------------------------------------------------------

ALL_KINDS = ["penalty", "license", "inspection", "coercion", "levy", "other"]


def deep_merge(base, over):
    """over merged into a copy of base; a None value deletes the key."""
    out = dict(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    plain_ok = (s and all(c.isalnum() or c in "._/-" for c in s)
                and s.lower() not in ("true", "false", "yes", "no", "on", "off", "null", "~")
                and not s[0].isdigit() and not s[0] in "-.")
    if plain_ok or _looks_like_duration(s):
        return s
    return json.dumps(s, ensure_ascii=False)   # a JSON string is a YAML double-quoted one


def _looks_like_duration(s):
    num = s.rstrip("smhd")
    return num.isdigit() and s[len(num):] in ("ms", "s", "m", "h", "d")


def to_yaml(obj, indent=0):
    pad = "  " * indent
    lines = []
    for k, v in obj.items():
        if isinstance(v, dict):
            if v:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 1))
            else:
                lines.append("%s%s: {}" % (pad, k))
        elif isinstance(v, list):
            lines.append("%s%s: [%s]" % (pad, k, ", ".join(_yaml_scalar(x) for x in v)))
        else:
            lines.append("%s%s: %s" % (pad, k, _yaml_scalar(v)))
    return "\n".join(lines)


def base_config(pg, sims, dbname="cases", state_dbname=None):
    """The test configuration as a dict (see write_config)."""
    if isinstance(sims, Sim):
        sims = [sims]
    if isinstance(sims, dict):
        sims = list(sims.values())
    targets = {}
    for s in sims:
        t = {"protocol": s.kind, "enabled": True, "base_url": s.base_url,
             "allow_plain_http": True, "timeout": "3s", "max_in_flight": 8,
             "rate": "1000/s"}
        if s.kind == "city":
            t.update(client_id=s.ident, client_secret_file=s.secret_file,
                     kinds=["penalty", "license", "inspection", "coercion", "other"])
        else:
            t.update(app_id=s.ident, app_secret_file=s.secret_file, batch_size=50,
                     kinds=["penalty", "license"])
        targets[s.kind] = t
    return {
        "database": {"source": pg.conninfo(dbname),
                     "state": pg.conninfo(state_dbname or dbname),
                     "source_relation": "epsync_source.decisions"},
        "poll": {"interval": "200ms", "overlap": "10m", "reconcile_every": "24h"},
        "delivery": {"max_in_flight": 32, "lease": "5s",
                     "retry": {"initial": "200ms", "max": "2s", "multiplier": 2.0,
                               "jitter": 0.2}},
        "deadlines": {"penalty": 7, "license": 7, "default": 20},
        "calendar": os.path.join(REPO, "conf", "holidays.yaml"),
        "publicity": {"expire": True,
                      "small_fine_yuan": {"person": 1000, "organisation": 10000},
                      "skip_warning_only": False},
        "log": {"level": "info", "format": "text"},
        "targets": targets,
    }


def write_config(tmpdir, pg, sims, dbname="cases", state_dbname=None, **overrides):
    """Write <tmpdir>/epsync.yaml (mode 600) and return its path.

    sims: a Sim, a list of Sims or a dict of them; each becomes the target
    named after its kind.  overrides are deep-merged into the top level
    (targets={"province": None} removes a target)."""
    cfg = deep_merge(base_config(pg, sims, dbname, state_dbname), overrides)
    path = os.path.join(tmpdir, "epsync.yaml")
    return _write_private(path, "# written by tests/lib/harness.py\n" + to_yaml(cfg) + "\n")


# --- the epsync binary ----------------------------------------------------------------


def epsync_bin():
    return os.environ.get("EPSYNC_BIN") or os.path.join(REPO, "build", "epsync")


def require_epsync():
    """The binary's path, or Skip when it does not exist."""
    b = epsync_bin()
    if not os.path.exists(b):
        raise Skip("no epsync binary at %s (set EPSYNC_BIN)" % b)
    return b


class Epsync:
    """The CLI and the daemon, with one configuration file."""

    _seq = itertools.count(1)

    def __init__(self, binary=None, config=None, env=None):
        self.binary = binary or require_epsync()
        self.config = config
        self.env = dict(os.environ)
        self.env.pop("NOTIFY_SOCKET", None)
        # operator actions are audited with SUDO_USER when set: a suite
        # started with sudo must not change what the tests expect
        self.env.pop("SUDO_USER", None)
        self.env.update(env or {})
        self.proc = None
        self.log_path = None
        self._log = None
        _register(self)

    def _cmd(self, args):
        return [self.binary] + (["-c", self.config] if self.config else []) + list(args)

    def run(self, args, timeout=120, input=None, env=None):
        """Run a command to completion; stdout/stderr as text."""
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run(self._cmd(args), capture_output=True, text=True,
                              timeout=timeout, input=input, env=e)

    def start_daemon(self, args=("run",), env=None):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("daemon already running")
        base = os.path.dirname(self.config) if self.config else make_tmpdir()
        self.log_path = os.path.join(base, "epsync-%d.log" % next(self._seq))
        self._log = open(self.log_path, "wb")
        e = dict(self.env)
        e.update(env or {})
        self.proc = subprocess.Popen(self._cmd(args), stdout=self._log, stderr=self._log,
                                     stdin=subprocess.DEVNULL, env=e)
        return self.proc

    def log(self):
        if not self.log_path:
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_until(self, predicate, timeout=60.0, interval=0.1, what="condition"):
        """Poll predicate; fail early if the daemon dies, with its log."""
        deadline = time.monotonic() + timeout
        while True:
            v = predicate()
            if v:
                return v
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("epsync exited (%s) while waiting for %s\n%s" % (
                    self.proc.returncode, what, self.log()[-4000:]))
            if time.monotonic() > deadline:
                raise TimeoutError("timed out after %.1fs waiting for %s\n%s" % (
                    timeout, what, self.log()[-4000:]))
            time.sleep(interval)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Signal the daemon and wait; the exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("epsync did not exit within %.0fs of signal %d"
                                     % (timeout, sig))
            finally:
                self._close_log()
        self._close_log()
        return self.proc.returncode

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()
        return self.proc.returncode if self.proc else None

    def _close_log(self):
        if self._log:
            self._log.close()
            self._log = None


# --- the source database --------------------------------------------------------------

SOURCE_DDL = """
CREATE SCHEMA IF NOT EXISTS epsync_source;
CREATE TABLE IF NOT EXISTS epsync_source.decisions (
    decision_id text PRIMARY KEY,
    updated_at timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL DEFAULT 'final',
    kind text NOT NULL,
    decided_on date NOT NULL,
    confidential boolean NOT NULL DEFAULT false,
    doc_no text, case_name text,
    party_name text, party_type text, party_credit_code text, legal_rep text,
    party_id_type text, party_id_no text, party_address text, party_phone text,
    violation_type text, violation_facts text, legal_basis text,
    penalty_types text, penalty_content text, license_content text,
    fine_amount numeric, confiscated_amount numeric, license_revoked text,
    valid_from date, valid_until date, publicity_until date,
    authority_name text, authority_credit_code text,
    source_unit text, source_unit_credit_code text,
    remarks text
);
-- The order change detection reads in.
CREATE INDEX IF NOT EXISTS decisions_poll_order ON epsync_source.decisions (updated_at, decision_id);
-- The case system sets updated_at on every change; a test that sets it
-- explicitly (a late commit) keeps its value.
CREATE OR REPLACE FUNCTION epsync_source.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS decisions_touch ON epsync_source.decisions;
CREATE TRIGGER decisions_touch BEFORE UPDATE ON epsync_source.decisions
    FOR EACH ROW EXECUTE FUNCTION epsync_source.touch();
"""


def case_db(pg, dbname="cases"):
    """Create dbname with the source relation; an autocommit connection."""
    pg.createdb(dbname)
    conn = pg.connect(dbname)
    with conn.cursor() as cur:
        cur.execute(SOURCE_DDL)
    return conn


def _seeded(seed):
    return random.Random(hashlib.sha256(repr(seed).encode()).digest())


def valid_uscc(seed=None):
    """A unified social credit code with a correct check character:
    9 (industry & commerce) 1 (enterprise), Shijiazhuang 130100, a 9-char
    organisation code derived from seed."""
    rng = _seeded(seed if seed is not None else secrets.token_hex(8))
    org = "".join(rng.choice(simcommon.USCC_ALPHABET) for _ in range(9))
    first = "91130100" + org
    return first + simcommon.uscc_check_char(first)


def valid_idno(birth_date, seed=None):
    """A resident ID number of Shijiazhuang Chang'an district born on
    birth_date (date or 'YYYY-MM-DD'), with a correct check character."""
    if isinstance(birth_date, str):
        birth_date = datetime.date.fromisoformat(birth_date)
    rng = _seeded(seed if seed is not None else secrets.token_hex(8))
    first = "130102" + birth_date.strftime("%Y%m%d") + "%03d" % rng.randrange(1000)
    return first + simcommon.idno_check_char(first)


def today_cst():
    return datetime.datetime.now(CST).date()


AUTHORITY = "石家庄市市场监督管理局"
AUTHORITY_CODE = valid_uscc("authority")
_dec_seq = itertools.count(1)


def decision_defaults(decision_id=None, **fields):
    """The fields of a valid penalty on a legal person, fields overriding.
    party_type=natural_person switches to a valid adult natural person."""
    n = next(_dec_seq)
    did = decision_id or "SJZSJ-%d-%06d-%s" % (today_cst().year, n, secrets.token_hex(2))
    decided = fields.get("decided_on", today_cst() - datetime.timedelta(days=1))
    row = {
        "decision_id": did, "state": "final", "kind": "penalty", "decided_on": decided,
        "confidential": False,
        "doc_no": "石市监处罚〔%d〕%d号" % (today_cst().year, n),
        "case_name": "某商贸有限公司销售不合格产品案",
        "party_name": "石家庄某商贸有限公司", "party_type": "legal_person",
        "party_credit_code": valid_uscc(did), "legal_rep": "王某某",
        "violation_type": "销售不合格产品",
        "violation_facts": "当事人销售的产品经抽样检验不合格。",
        "legal_basis": "《中华人民共和国产品质量法》第四十九条",
        "penalty_types": "警告,罚款", "penalty_content": "警告，罚款人民币5000元",
        "fine_amount": 5000, "confiscated_amount": None,
        "authority_name": AUTHORITY, "authority_credit_code": AUTHORITY_CODE,
        "source_unit": AUTHORITY, "source_unit_credit_code": AUTHORITY_CODE,
    }
    if fields.get("party_type") == "natural_person":
        row.update(party_name="李某", party_credit_code=None, legal_rep=None,
                   party_id_type="身份证",
                   party_id_no=valid_idno(datetime.date(1985, 6, 15), did),
                   party_address="河北省石家庄市长安区某路1号", party_phone="13800000000")
    row.update(fields)
    return row


def insert_decision(conn, **fields):
    """Insert a decision (defaults: decision_defaults); the row as a dict."""
    row = decision_defaults(**fields)
    cols = list(row)
    sql = "INSERT INTO epsync_source.decisions (%s) VALUES (%s)" % (
        ", ".join(_ident(c) for c in cols), ", ".join(["%s"] * len(cols)))
    with conn.cursor() as cur:
        cur.execute(sql, [row[c] for c in cols])
    return row


def insert_decisions(pg, dbname, n, **fields):
    """n valid decisions (decision_defaults with fields) in one transaction; their ids."""
    rows = [decision_defaults(**fields) for _ in range(n)]
    cols = list(rows[0])
    sql = "INSERT INTO epsync_source.decisions (%s) VALUES (%s)" % (
        ", ".join(_ident(c) for c in cols), ", ".join(["%s"] * len(cols)))
    conn = pg.connect(dbname)
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.executemany(sql, [[r[c] for c in cols] for r in rows])
    conn.commit()
    conn.close()
    return [r["decision_id"] for r in rows]


class OfflineTarget:
    """What write_config needs of a simulator, for a target never contacted
    (commands that only read or requeue state)."""

    def __init__(self, kind, tmpdir):
        self.kind = kind
        self.base_url = "http://127.0.0.1:9"
        self.ident = "sjz-scjg" if kind == "city" else "130100-scjg"
        self.secret_file = _write_private(os.path.join(tmpdir, kind + ".secret"),
                                          "not-used-by-these-commands\n")


def update_decision(conn, decision_id, **fields):
    """Change fields of a decision (updated_at moves unless given)."""
    cols = list(fields)
    sql = "UPDATE epsync_source.decisions SET %s WHERE decision_id = %%s" % (
        ", ".join("%s = %%s" % _ident(c) for c in cols))
    with conn.cursor() as cur:
        cur.execute(sql, [fields[c] for c in cols] + [decision_id])
        if cur.rowcount != 1:
            raise KeyError(decision_id)


def revoke_decision(conn, decision_id):
    update_decision(conn, decision_id, state="revoked")


# --- a whole world for one test ---------------------------------------------------------


class World:
    """A fresh case database on the shared cluster, both simulators, a
    config and an Epsync whose state schema is migrated.

    faults: {"city": {...}, "province": {...}}, each simulator's faults;
    seed: the simulators' random seed; overrides: deep-merged into the
    config (see write_config).  self.state is a connection to the case
    database, where epsync keeps its state."""

    def __init__(self, faults=None, seed=None, **overrides):
        self.tmp = make_tmpdir()
        self.pg = shared_cluster()
        self.db = fresh_dbname()
        self.src = case_db(self.pg, self.db)
        faults = faults or {}
        self.city = Sim("city", self.tmp, faults=faults.get("city"), seed=seed)
        self.prov = Sim("province", self.tmp, faults=faults.get("province"), seed=seed)
        self.config = write_config(self.tmp, self.pg, [self.city, self.prov], dbname=self.db,
                                   **overrides)
        self.ep = Epsync(config=self.config)
        r = self.ep.run(["migrate"])
        assert r.returncode == 0, r.stderr
        self.state = self.pg.connect(self.db)

    def q(self, sql, *params):
        """The rows of one statement on the state connection ([] if it has none)."""
        with self.state.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def states(self, decision_id):
        """{target: delivery state} of one decision."""
        return dict(self.q("SELECT target, state FROM epsync.deliveries WHERE decision_id = %s",
                           decision_id))

    def wait_states(self, decision_id, want, timeout=60):
        """Wait until the decision's deliveries are in the states of want
        ({target: state}); the states."""
        def ok():
            s = self.states(decision_id)
            return s if all(s.get(t) == v for t, v in want.items()) else None
        return self.ep.wait_until(ok, timeout=timeout, what="%s to be %s (now %s)" % (
            decision_id, want, self.states(decision_id)))

    def drained(self):
        """Whether no delivery is due any more."""
        n = self.q("SELECT count(*) FROM epsync.deliveries "
                   "WHERE state IN ('pending', 'retry', 'withdraw_pending')")[0][0]
        return n == 0

    def settle(self, timeout=120, **fields):
        """Prove that the running daemon has had its chance to act on every
        change made before this call, so that a check that something did
        NOT happen cannot pass merely because the daemon is slow: a marker
        decision inserted now (it sorts after every earlier change) is
        detected and settled at each of its targets, and then no delivery
        is left due (whatever the earlier changes queued has been sent).
        The marker's row; fields go to insert_decision."""
        marker = insert_decision(self.src, **fields)
        did = marker["decision_id"]

        def done():
            s = self.states(did)
            return bool(s) and not set(s.values()) & {"pending", "retry", "withdraw_pending"} \
                and self.drained()
        self.ep.wait_until(done, timeout=timeout, what="the marker decision %s to settle "
                           "(now %s)" % (did, self.states(did)))
        return marker
