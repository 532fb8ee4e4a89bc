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


def warnings(out):
    found = []
    for ln in out.splitlines():
        try:
            ev = json.loads(ln)
        except ValueError:
            continue
        if isinstance(ev, dict) and WARNING in ev.get("msg", ""):
            found.append(ev)
    return found


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
