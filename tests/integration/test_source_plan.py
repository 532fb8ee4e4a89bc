"""The start-up check of the source's plan: a source whose poll order no
index serves gets one warning naming the index that would fix it.

The harness's source is a table indexed on (updated_at, decision_id).  The
variant without the index is what a case system may well have: a view
joining the decisions with a second table, and no index on the order.

Run: python3 tests/lib/runner.py tests/integration/test_source_plan.py
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

WARNING = "no index serves the source's poll order"
N = 30


def events(out, wanted):
    """The JSON log events of out whose message contains wanted."""
    found = []
    for ln in out.splitlines():
        try:
            ev = json.loads(ln)
        except ValueError:
            continue
        if isinstance(ev, dict) and wanted in ev.get("msg", ""):
            found.append(ev)
    return found


def warnings(out):
    return events(out, WARNING)


def run_once(w):
    r = w.ep.run(["once"], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def behind_a_join(w):
    """Turn the source into a view joining the decisions with a second
    table, without an index on the order."""
    with w.src.cursor() as cur:
        cur.execute("DROP INDEX epsync_source.decisions_poll_order")
        cur.execute("ALTER TABLE epsync_source.decisions RENAME TO decision_rows")
        cur.execute("CREATE TABLE epsync_source.filing (decision_id text PRIMARY KEY, "
                    "filed_by text NOT NULL)")
        cur.execute("INSERT INTO epsync_source.filing SELECT decision_id, 'registry' "
                    "FROM epsync_source.decision_rows")
        cur.execute("CREATE VIEW epsync_source.decisions AS SELECT r.* "
                    "FROM epsync_source.decision_rows r "
                    "JOIN epsync_source.filing f ON f.decision_id = r.decision_id")
        cur.execute("ANALYZE epsync_source.decision_rows")
        cur.execute("ANALYZE epsync_source.filing")


def test_indexed_source_gets_no_warning():
    w = h.World(log={"format": "json"})
    ids = h.insert_decisions(w.pg, w.db, N)
    out = run_once(w)
    assert warnings(out) == [], out[-3000:]
    for i in ids:
        assert w.states(i) == {"city": "published", "province": "published"}, i


def test_join_view_without_index_gets_the_warning_and_still_works():
    w = h.World(log={"format": "json"})
    ids = h.insert_decisions(w.pg, w.db, N)
    behind_a_join(w)
    out = run_once(w)
    found = warnings(out)
    assert len(found) == 1, out[-3000:]
    ev = found[0]
    assert ev["level"] == "warning" and "action" not in ev, ev
    # The index is on the table behind the view, on the order's columns.
    assert ev["create_index"] == \
        "CREATE INDEX ON epsync_source.decision_rows (updated_at, decision_id)", ev
    assert isinstance(ev["poll_ms"], int) and ev["poll_ms"] >= 0, ev
    for i in ids:
        assert w.states(i) == {"city": "published", "province": "published"}, i

    # The index it names makes the warning go.
    with w.src.cursor() as cur:
        cur.execute(ev["create_index"])
    out = run_once(w)
    assert warnings(out) == [], out[-3000:]


READ_ENDED = "source read transaction ended"


def test_long_read_reopens_its_transaction_and_misses_nothing():
    """A first pass over more rows than one transaction may hold: the
    cursor's transaction is closed and the read reopened from the last key
    read, and every decision is stored once.  Opening the cursor is cheap
    (so the hold is the shortest, 2 s), but four rows from the 11,000th on
    take a second each to read: the read cannot finish in one transaction."""
    off = {"enabled": False}
    w = h.World(log={"format": "json"}, targets={"city": off, "province": off})
    ids = h.insert_decisions(w.pg, w.db, 15500)
    with w.src.cursor() as cur:
        cur.execute("SELECT decision_id FROM epsync_source.decisions "
                    "ORDER BY updated_at, decision_id")
        order = [r[0] for r in cur.fetchall()]
        slow = [order[i] for i in (11000, 12000, 13000, 14000)]
        cur.execute("ALTER TABLE epsync_source.decisions RENAME TO decision_rows")
        cur.execute("CREATE FUNCTION epsync_source.pause() RETURNS boolean LANGUAGE sql "
                    "VOLATILE AS 'SELECT true FROM pg_sleep(1)'")
        cur.execute("CREATE VIEW epsync_source.decisions AS SELECT r.* "
                    "FROM epsync_source.decision_rows r "
                    "WHERE r.decision_id <> ALL (%s) OR epsync_source.pause()", (slow,))
        cur.execute("ANALYZE epsync_source.decision_rows")
    out = run_once(w)
    ended = events(out, READ_ENDED)
    # The hold ran out during the second fetch; a second transaction
    # carried the read on from the last key.
    assert len(ended) >= 2, out[-3000:]
    assert ended[0]["held_ms"] >= 2000, ended
    # No key is read twice: a new transaction starts after the last key read.
    assert 15500 - 5000 <= sum(ev["rows"] for ev in ended) <= 15500, ended
    stored = [r[0] for r in w.q("SELECT decision_id FROM epsync.decisions")]
    assert len(stored) == len(set(stored)) == 15500, len(stored)
    assert set(stored) == set(ids)
