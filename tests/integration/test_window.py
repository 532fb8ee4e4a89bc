"""Change detection over an overlap window of several key pages.

Each poll reads the window [watermark - overlap, now] as pages of keys
(updated_at, decision_id), KEY_ROWS keys at most per page.  A poll
remembers every page it read (its bounds and a digest of its keys); the
next poll, finding exactly the same keys in the same range, does not
compare them with the state database again.  Pages are re-aligned to the
previous poll's page boundaries.

The test here proves that this shortcut never hides a change.  The window
holds 12,000 rows (three pages).  Once the daemon reads an unchanged
window without comparing anything (the shortcut is really in use):

1. one transaction commits late into pages already read: a new decision
   into a full page, another into the short last page, and an edit of the
   full page's last key, which stays in that page;
2. then rows are edited in place (a changed field, an updated_at one
   millisecond on) in every page, and the last key of the first page
   moves just past its end.

Every one of those changes must be found, and the shortcut must be in use
again afterwards.

The bulk rows are of a kind no target takes (levy): they become `excluded`
without a single request, so the simulators only see the few decisions
that the test means to publish.
"""

import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

KEY_ROWS = 5000            # keys per page of a poll (src/source.c)
BULK = 12000               # rows in the window: pages of 5000, 5000 and 2000 keys
SPACING_MS = 150           # between consecutive bulk rows: 31 to 1 minutes ago
UNROUTED = "levy"          # harness.write_config routes no target to this kind
BOTH_PUBLISHED = {"city": "published", "province": "published"}


class World(h.World):
    """h.World, whose config routes no target to the UNROUTED kind."""

    def __init__(self, **overrides):
        super().__init__(**overrides)
        for target in h.base_config(self.pg, [self.city, self.prov])["targets"].values():
            assert UNROUTED not in target["kinds"], target


class StatementLog:
    """Which statements the daemon sends, read from PostgreSQL's own log.

    Two kinds are counted: reads of a page of keys from the source, and
    comparisons of a page of keys with the state database (the step that
    the shortcut skips).  Parameters are left out of the log: a page of
    keys is a 5000-element array."""

    COMPARE = "LEFT JOIN epsync.decisions d ON d.decision_id = u.id"
    KEYS = "ORDER BY r.updated_at, r.decision_id::text LIMIT"

    def __init__(self, pg, dbname):
        self.path = pg.logfile
        conn = pg.connect()
        with conn.cursor() as cur:
            for setting in ("log_statement = 'all'", "log_parameter_max_length = 0"):
                cur.execute('ALTER DATABASE "%s" SET %s' % (dbname, setting))
        conn.close()

    def mark(self):
        return os.path.getsize(self.path)

    def declared(self, since):
        """How many long reads (one cursor over the source) were opened since the mark."""
        with open(self.path, "rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
        return sum(1 for ln in text.splitlines() if "LOG:" in ln and "DECLARE epsync_read" in ln)

    def counts(self, since):
        """(key pages read, key pages compared) since the mark."""
        with open(self.path, "rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
        keys = compared = 0
        for ln in text.splitlines():
            if "LOG:" not in ln:
                continue
            if self.COMPARE in ln:
                compared += 1
            elif self.KEYS in ln and "to_jsonb" not in ln:
                keys += 1
        return keys, compared


def wait(w, predicate, timeout, what, now):
    """w.ep.wait_until, with what now() says added to a timeout's message."""
    try:
        return w.ep.wait_until(predicate, timeout=timeout, interval=0.1, what=what)
    except TimeoutError as exc:
        raise TimeoutError("%s\nat the end: %s" % (exc, now())) from None


def wait_for_shortcut(w, log, what):
    """Wait until the daemon reads the whole window at least once without
    comparing a single page with the state database: nothing changed, so
    every page's keys equal the last poll's.  A poll here makes one read
    of keys per page (three to five pages) and one that finds the end, so
    twelve reads in a row without a comparison span a whole poll or more."""
    seen = []

    def quiet():
        start = log.mark()
        time.sleep(2.0)
        seen.append(log.counts(start))
        keys, compared = seen[-1]
        return keys >= 12 and compared == 0
    wait(w, quiet, 120, "%s: a poll that compares no page" % what,
         lambda: "(key pages read, compared) per 2 s: %s" % seen[-8:])


def keys_in_order(conn):
    """The source's keys as the daemon pages them: [(decision_id, updated_at)]."""
    with conn.cursor() as cur:
        cur.execute("SELECT decision_id, updated_at FROM epsync_source.decisions "
                    "ORDER BY updated_at, decision_id")
        return cur.fetchall()


def stored(w, decision_id):
    rows = w.q("SELECT revision, src_updated_at, fields->>'remarks' FROM epsync.decisions "
               "WHERE decision_id = %s", decision_id)
    return rows[0] if rows else None


def test_no_change_hides_behind_a_page_already_read():
    w = World(poll={"interval": "300ms", "overlap": "1h", "reconcile_every": "24h"},
              log={"format": "json"})
    log = StatementLog(w.pg, w.db)

    # 12,000 rows one after the other, 150 ms apart, from 31 to 1 minutes
    # ago: the window (overlap 1 h) holds them all, as pages of keys
    # 1-5000, 5001-10000 and 10001-12000.
    h.insert_decisions(w.pg, w.db, BULK, kind=UNROUTED)
    with w.src.cursor() as cur:
        cur.execute("WITH o AS (SELECT decision_id, row_number() OVER (ORDER BY decision_id) AS n "
                    "           FROM epsync_source.decisions) "
                    "UPDATE epsync_source.decisions d "
                    "SET updated_at = now() - interval '31 minutes' "
                    "                 + o.n * interval '%d milliseconds' "
                    "FROM o WHERE d.decision_id = o.decision_id" % SPACING_MS)
    keys = keys_in_order(w.src)
    assert len(keys) == BULK and len(keys) > 2 * KEY_ROWS

    def key(rank):            # the rank-th key of the window, counting from 1
        return keys[rank - 1]

    def between(rank):        # an updated_at strictly between key rank and rank + 1
        return key(rank)[1] + datetime.timedelta(milliseconds=SPACING_MS // 2)

    begin = log.mark()
    w.ep.start_daemon()
    w.ep.wait_until(lambda: w.q("SELECT count(*) FROM epsync.decisions")[0][0] == BULK,
                    timeout=120, what="the bulk rows stored")
    # The first key poll has nothing to compare with and compares every
    # page: proof that the statement log shows the comparisons at all.
    wait(w, lambda: log.counts(begin)[1] >= 3, 120, "a poll comparing every page",
         lambda: "(key pages read, compared): %s" % (log.counts(begin),))
    assert w.q("SELECT count(*) FROM epsync.deliveries WHERE state <> 'excluded'")[0][0] == 0
    # The backlog (more than a page) was read through one cursor, not page by page.
    assert log.declared(begin) >= 1
    # The following polls find nothing new and compare nothing.
    wait_for_shortcut(w, log, "after the bulk load")

    def edit(conn, rank, shift_ms, **extra):
        """Change a field of the rank-th bulk row and move its updated_at by
        shift_ms, which keeps it between the same neighbours.  What the
        test expects stored afterwards: (rank, decision, revision before,
        new updated_at, new remarks)."""
        did, upd = key(rank)
        old = stored(w, did)
        assert old is not None, did
        new_upd = upd + datetime.timedelta(milliseconds=shift_ms)
        remarks = "补正 %d" % rank
        h.update_decision(conn, did, updated_at=new_upd, remarks=remarks, **extra)
        return (rank, did, old[0], new_upd, remarks)

    def wait_stored(edits):
        """Every edit stored as a new revision, with one more detect event."""
        def done():
            for _, did, old_rev, new_upd, remarks in edits:
                rev, upd, rem = stored(w, did)
                if rev == old_rev or upd != new_upd or rem != remarks:
                    return False
            return True
        wait(w, done, 120, "the edits stored anew",
             lambda: [(e[0], e[1], e[2][:12], stored(w, e[1])[0][:12]) for e in edits])
        for rank, did, _, _, _ in edits:
            detects = w.q("SELECT count(*) FROM epsync.audit "
                          "WHERE decision_id = %s AND operation = 'detect'", did)[0][0]
            assert detects == 2, (rank, did, detects)

    # 1. A batch committed late, all of it into pages already read and
    #    remembered, none of it moving the watermark: a new decision in the
    #    middle of the full second page (about 15 minutes ago), another in
    #    the short last page (about 3 minutes ago), and the last key of the
    #    second page edited and moved one millisecond earlier, so that it
    #    stays the last key of that page.  The second page now holds more
    #    keys than one read returns: its end, where the edited row is, must
    #    still be compared, in this poll or the next.
    batch = w.pg.connect(w.db)
    batch.autocommit = False
    late_full = h.insert_decision(batch, updated_at=between(6500))
    late_short = h.insert_decision(batch, updated_at=between(11500))
    page_end = edit(batch, 2 * KEY_ROWS, -1)
    batch.commit()
    batch.close()
    w.wait_states(late_full["decision_id"], BOTH_PUBLISHED)
    w.wait_states(late_short["decision_id"], BOTH_PUBLISHED)
    wait_stored([page_end])
    # The second page was split where the read stopped: the re-aligned
    # pages are remembered in turn, and skipped again while nothing changes.
    wait_for_shortcut(w, log, "after the late commits")

    # 2. Rows edited in place, each moved one millisecond later: one in
    #    the middle of each page (the first of them also becomes a kind the
    #    targets take, so it must reach both), and the last key of the
    #    first page, which thereby moves just past that page's end.
    edits = [edit(w.src, 2500, 1, kind="penalty"), edit(w.src, 7500, 1),
             edit(w.src, 11000, 1), edit(w.src, KEY_ROWS, 1)]
    wait_stored(edits)
    w.wait_states(edits[0][1], BOTH_PUBLISHED)
    wait_for_shortcut(w, log, "after the edits")

    # Nothing else was published, each decision once, and nothing was sent twice.
    routed = {late_full["decision_id"], late_short["decision_id"], edits[0][1]}
    for sim in (w.city, w.prov):
        sent = sorted((r["decision_id"], r["op"]) for r in sim.records())
        assert sent == sorted((d, "publish") for d in routed), (sim.kind, sent)
        sim.assert_clean()

    assert w.ep.stop() == 0, w.ep.log()[-3000:]
    problems = []
    for ln in w.ep.log().splitlines():
        try:
            ev = json.loads(ln)
        except ValueError:
            problems.append(ln)
            continue
        if ev.get("level") == "error":
            problems.append(ln)
    assert not problems, "\n".join(problems[:20])
