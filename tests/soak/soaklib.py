"""soaklib - what the long reliability tests (tests/soak/) share.

    SoakWorld(...)      a case database, both simulators, a config, daemons
    Writer(world, ...)  a thread that keeps decisions arriving: inserts,
                        now and then an update or a revocation; it survives
                        PostgreSQL restarts
    SoakWorld.settle()  wait until epsync has caught up with the source
    SoakWorld.verdict() the simulators' and the audit's judgement

The verdict never trusts epsync's own view: every (decision, revision) the
simulators hold was published exactly once; every final decision is live on
both platforms at the revision of its latest content; every revoked one is
not live anywhere; and `epsync verify-audit` exits 0.

EPSYNC_SOAK_SCALE (default 1.0) stretches or shrinks every phase.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

DUE_STATES = ("pending", "retry", "withdraw_pending")
TARGETS = ("city", "province")
SCALE = float(os.environ.get("EPSYNC_SOAK_SCALE", "1.0"))
# What a restart of PostgreSQL looks like to a client (a connection cut in
# the middle of a statement is a bare DatabaseError); mistakes in a
# statement are not among them.
DB_ERRORS = (h.psycopg2.OperationalError, h.psycopg2.InterfaceError, h.psycopg2.DatabaseError)
NOT_OUTAGES = (h.psycopg2.ProgrammingError, h.psycopg2.IntegrityError, h.psycopg2.DataError)


def scaled(seconds):
    return seconds * SCALE


def note(text):
    """A measurement worth seeing in the test output (a TAP comment)."""
    sys.stdout.write("# %s\n" % text)
    sys.stdout.flush()


class SoakWorld:
    """A case database, both simulators, a config and n daemons sharing it."""

    def __init__(self, faults=None, seed=None, daemons=1, pg=None, **overrides):
        self.tmp = h.make_tmpdir("epsync-soak-")
        self.pg = pg or h.shared_cluster()
        self.db = h.fresh_dbname("soak")
        h.case_db(self.pg, self.db).close()
        faults = faults or {}
        self.city = h.Sim("city", self.tmp, faults=faults.get("city"), seed=seed)
        self.prov = h.Sim("province", self.tmp, faults=faults.get("province"), seed=seed)
        self.sims = (self.city, self.prov)
        self.config = h.write_config(self.tmp, self.pg, list(self.sims), dbname=self.db,
                                     **overrides)
        self.eps = [h.Epsync(config=self.config) for _ in range(daemons)]
        self.ep = self.eps[0]
        r = self.ep.run(["migrate"])
        assert r.returncode == 0, r.stderr
        self._conn = None

    # --- queries that survive a PostgreSQL restart ---

    def q(self, sql, *params, tries=50):
        for n in range(tries):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self.pg.connect(self.db)
                with self._conn.cursor() as cur:
                    cur.execute(sql, params)
                    return cur.fetchall() if cur.description else []
            except NOT_OUTAGES:
                raise
            except DB_ERRORS:
                self._conn = None
                if n == tries - 1:
                    raise
                time.sleep(0.2)
        return []

    def insert_many(self, n, **fields):
        """n valid penalties at once; their ids."""
        return h.insert_decisions(self.pg, self.db, n, **fields)

    def by_state(self):
        return {"%s/%s" % (t, s): n for t, s, n in self.q(
            "SELECT target, state, count(*) FROM epsync.deliveries GROUP BY 1, 2 ORDER BY 1, 2")}

    def published_count(self):
        return self.q("SELECT count(*) FROM epsync.deliveries WHERE state = 'published'")[0][0]

    def due(self):
        return self.q("SELECT count(*) FROM epsync.deliveries WHERE state = ANY(%s)",
                      list(DUE_STATES))[0][0]

    def rejected(self):
        return self.q("SELECT count(*) FROM epsync.deliveries WHERE state = 'rejected'")[0][0]

    def check_alive(self, what):
        for e in self.eps:
            if e.proc is not None and not e.alive():
                raise AssertionError("epsync exited (%s) during %s\n%s" % (
                    e.proc.returncode, what, e.log()[-4000:]))

    def sleep(self, seconds, what="the run"):
        """Sleep, failing early when a daemon dies."""
        end = time.monotonic() + seconds
        while True:
            self.check_alive(what)
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.25, left))

    # --- convergence ---

    def lagging(self):
        """What still separates epsync's state from the source, as a short
        description; "" when it has caught up with every row and nothing is
        due.  Catching up means: every source row detected with its latest
        updated_at and state, every final one published at its revision at
        both targets, every revoked one withdrawn or cancelled."""
        src = {d: (st, up) for d, st, up in self.q(
            "SELECT decision_id, state, updated_at FROM epsync_source.decisions")}
        seen = {d: (st, up) for d, st, up in self.q(
            "SELECT decision_id, src_state, src_updated_at FROM epsync.decisions")}
        stale = [d for d in src if seen.get(d) != src[d]]
        if stale:
            return "%d of %d rows not yet detected as they are, e.g. %s" % (
                len(stale), len(src), stale[0])
        due = self.due()
        if due:
            return "%d deliveries due" % due
        rows = self.q("SELECT d.decision_id, d.src_state, d.revision, x.target, x.state, "
                      "x.published_revision FROM epsync.decisions d "
                      "JOIN epsync.deliveries x USING (decision_id)")
        per = {}
        for did, sst, rev, tgt, state, prev in rows:
            per.setdefault(did, {})[tgt] = (sst, rev, state, prev)
        bad = []
        for did in src:
            ds = per.get(did, {})
            if set(ds) != set(TARGETS):
                bad.append((did, "targets %s" % sorted(ds)))
                continue
            for tgt, (sst, rev, state, prev) in ds.items():
                if sst == "final" and (state != "published" or prev != rev):
                    bad.append((did, tgt, state))
                elif sst == "revoked" and state not in ("withdrawn", "cancelled"):
                    bad.append((did, tgt, state))
        if bad:
            return "%d decisions not where they belong, e.g. %s" % (len(bad), bad[:3])
        return ""

    def settle(self, timeout, what="epsync to catch up"):
        """Wait until lagging() is empty; the time it took."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            self.check_alive(what)
            lag = self.lagging()
            if not lag:
                return time.monotonic() - t0
            if time.monotonic() > deadline:
                raise TimeoutError("timed out after %.0fs waiting for %s: %s\n%s\n%s" % (
                    timeout, what, lag, self.by_state(), self.ep.log()[-3000:]))
            time.sleep(0.25)

    # --- the verdict ---

    def verdict(self, writer=None):
        """The simulators' and the audit's judgement of the whole run (after
        settle()): exactly once per revision, nothing lost, nothing extra,
        the audit chain intact.  Returns a summary dict."""
        src = dict(self.q("SELECT decision_id, state FROM epsync_source.decisions"))
        revs = dict(self.q("SELECT decision_id, revision FROM epsync.decisions"))
        assert set(revs) == set(src), "detected %d of %d" % (len(revs), len(src))
        if writer is not None:
            assert set(writer.ids) <= set(src), "writer rows missing from the source"
            assert writer.revoked == {d for d, s in src.items() if s == "revoked"}
        summary = {"decisions": len(src),
                   "revoked": sum(1 for s in src.values() if s == "revoked")}
        for sim in self.sims:
            st = sim.assert_clean()
            assert st["duplicates"] == 0, st["duplicates"]
            pubs, status = st["publications"], st["status"]
            twice = {d: r for d, r in pubs.items() if any(n != 1 for n in r.values())}
            assert not twice, "%s: %d decisions with a revision published more than once, " \
                "e.g. %s" % (sim.kind, len(twice), sorted(twice.items())[:3])
            extra = set(pubs) - set(src)
            assert not extra, "%s: publications of unknown decisions %s" % (
                sim.kind, sorted(extra)[:5])
            lost, live_revoked = [], []
            for d, s in src.items():
                cur = status.get(d)
                if s == "final":
                    if not (cur and cur["status"] == "PUBLISHED"
                            and cur["revision"] == revs[d] and pubs[d].get(revs[d]) == 1):
                        lost.append((d, cur))
                elif cur and cur["status"] == "PUBLISHED":
                    live_revoked.append(d)
            assert not lost, "%s: %d final decisions not live at their latest revision, " \
                "e.g. %s" % (sim.kind, len(lost), lost[:3])
            assert not live_revoked, "%s: %d revoked decisions still live, e.g. %s" % (
                sim.kind, len(live_revoked), live_revoked[:3])
            summary[sim.kind] = {"publications": st["publications_total"],
                                 "faults": sum(st["faults_injected"].values())}
        r = self.ep.run(["verify-audit"])
        assert r.returncode == 0, "verify-audit: %d\n%s%s" % (r.returncode, r.stdout, r.stderr)
        return summary

    def stop_all(self):
        for e in self.eps:
            if e.alive():
                rc = e.stop(timeout=30)
                assert rc == 0, "epsync exited %s on SIGTERM\n%s" % (rc, e.log()[-3000:])


class Writer(threading.Thread):
    """Keeps decisions arriving at about rate per second: mostly inserts,
    now and then an update of an earlier final decision's content, or its
    revocation.  Every statement is idempotent so that one whose outcome a
    PostgreSQL restart left unknown can simply be done again."""

    def __init__(self, world, rate=5.0, p_update=0.10, p_revoke=0.04, seed="writer"):
        super().__init__(daemon=True)
        self.w = world
        self.interval = 1.0 / rate
        self.p_update, self.p_revoke = p_update, p_revoke
        self.rng = random.Random(seed)
        self.ids = []
        self.final = []
        self.revoked = set()
        self.updates = 0
        self.reconnects = 0
        self.error = None
        self._halt = threading.Event()
        self._conn = None

    def _exec(self, sql, params):
        deadline = time.monotonic() + 60
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self.w.pg.connect(self.w.db)
                with self._conn.cursor() as cur:
                    cur.execute(sql, params)
                    return cur.fetchall() if cur.description else []
            except NOT_OUTAGES:
                raise
            except DB_ERRORS:
                self._conn = None
                self.reconnects += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _insert(self):
        row = h.decision_defaults()
        cols = list(row)
        # ON CONFLICT: the insert may have committed before a restart cut
        # the answer off.
        self._exec("INSERT INTO epsync_source.decisions (%s) VALUES (%s) "
                   "ON CONFLICT (decision_id) DO NOTHING" % (
                       ", ".join(cols), ", ".join(["%s"] * len(cols))),
                   [row[c] for c in cols])
        self.ids.append(row["decision_id"])
        self.final.append(row["decision_id"])

    def _update(self):
        did = self.rng.choice(self.final)
        self.updates += 1
        fine = 5000 + self.updates
        self._exec("UPDATE epsync_source.decisions SET fine_amount = %s, "
                   "penalty_content = %s WHERE decision_id = %s",
                   [fine, "警告，罚款人民币%d元" % fine, did])

    def _revoke(self):
        did = self.final.pop(self.rng.randrange(len(self.final)))
        self._exec("UPDATE epsync_source.decisions SET state = 'revoked' "
                   "WHERE decision_id = %s", [did])
        self.revoked.add(did)

    def run(self):
        try:
            nxt = time.monotonic()
            while not self._halt.is_set():
                roll = self.rng.random()
                if len(self.final) > 10 and roll < self.p_revoke:
                    self._revoke()
                elif len(self.final) > 10 and roll < self.p_revoke + self.p_update:
                    self._update()
                else:
                    self._insert()
                nxt += self.interval
                self._halt.wait(max(0.0, nxt - time.monotonic()))
        except Exception as exc:       # reported by stop()
            self.error = exc
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def stop(self):
        self._halt.set()
        self.join(30)
        assert not self.is_alive(), "writer did not stop"
        if self.error is not None:
            raise AssertionError("writer failed: %r" % self.error)
        return {"inserted": len(self.ids), "updated": self.updates,
                "revoked": len(self.revoked), "reconnects": self.reconnects}
