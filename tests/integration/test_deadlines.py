"""Deadline warnings from the daemon (deadline.c).

Both platforms fail every request, so nothing gets published: a decision
of September is past its deadline (one `deadline missed` error line per
target), an invalid one too, and a licence decided today with a deadline
of one working day is at risk (one `deadline at risk` warning per target).
Each line is written once, also across a restart (epsync.deadline_alerts
remembers it), and the status line carries the counts.
"""

import datetime
import os
import json
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402


def events(log):
    out = []
    for line in log.splitlines():
        try:
            out.append(json.loads(line[line.index("{"):]))
        except ValueError:
            pass
    return out


def lines(log, what, level=None):
    """(decision, target, due_on) of every `what` line (of that level)."""
    return [(e["decision"], e["target"], e["due_on"]) for e in events(log)
            if e.get("msg") == what and (level is None or e.get("level") == level)]


def counted(log, at_risk, missed):
    return any(e.get("msg") == "deadlines checked" and e.get("at_risk") == at_risk
               and e.get("missed") == missed for e in events(log))


def test_deadline_warnings_once_per_decision_and_target():
    w = harness.World(faults={"city": {"http5xx": 1.0}, "province": {"http5xx": 1.0}},
                      deadlines={"penalty": 7, "license": 1, "default": 20, "warn_before": 1},
                      log={"level": "info", "format": "json"})
    today = harness.today_cst()
    harness.insert_decision(w.src, decision_id="DL-MISSED", decided_on=datetime.date(2026, 9, 1))
    good = harness.valid_uscc("DL-BAD")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")     # a wrong check digit
    harness.insert_decision(w.src, decision_id="DL-BAD", decided_on=datetime.date(2026, 9, 2),
                            party_credit_code=bad)
    harness.insert_decision(w.src, decision_id="DL-RISK", kind="license", decided_on=today)
    w.ep.start_daemon()
    want_missed = {("DL-MISSED", t) for t in ("city", "province")} | \
                  {("DL-BAD", t) for t in ("city", "province")}
    want_risk = {("DL-RISK", t) for t in ("city", "province")}

    def seen():
        log = w.ep.log()
        m = {(d, t) for d, t, _ in lines(log, "deadline missed")}
        r = {(d, t) for d, t, _ in lines(log, "deadline at risk")}
        return m >= want_missed and r >= want_risk
    w.ep.wait_until(seen, timeout=120, what="the deadline lines")
    w.ep.wait_until(lambda: counted(w.ep.log(), 2, 4), timeout=120, what="the deadline counts")
    log = w.ep.log()
    missed = lines(log, "deadline missed")
    risk = lines(log, "deadline at risk")
    assert sorted((d, t) for d, t, _ in missed) == sorted(want_missed), missed
    assert sorted((d, t) for d, t, _ in risk) == sorted(want_risk), risk
    # the error line for what is missed, the warning for what is at risk
    assert len(lines(log, "deadline missed", "error")) == len(missed)
    assert len(lines(log, "deadline at risk", "warning")) == len(risk)
    assert dict((d, due) for d, _, due in missed)["DL-MISSED"] == "2026-09-10"
    w.ep.stop()
    # the daemon's own history (written by the schema's trigger) explains it
    assert w.q("SELECT count(*) FROM epsync.delivery_history "
               "WHERE decision_id = 'DL-MISSED' AND state = 'retry'")[0][0] >= 1
    r = w.ep.run(["report", "--format", "json", "--from", "2026-09-01"])
    assert r.returncode == 0, r.stderr
    missed = {(x["decision_id"], x["target"]): x for x in json.loads(r.stdout)["missed"]}
    # a platform that fails every request leaves its deliveries retrying (the
    # province); one whose token request fails is paused before any attempt,
    # so its deliveries still wait to be sent (the city)
    causes = {t: missed[("DL-MISSED", t)] for t in ("city", "province")}
    assert causes["province"]["missed_cause"] == "retrying", causes
    assert "平台故障或无法连接" in causes["province"]["cause"]
    assert causes["city"]["missed_cause"] in ("retrying", "pending"), causes
    assert missed[("DL-BAD", "city")]["missed_cause"] == "invalid"
    assert "校验位错误" in missed[("DL-BAD", "city")]["cause"]
    n = w.q("SELECT count(*) FROM epsync.deadline_alerts")[0][0]
    assert n == 6
    # a restart does not repeat them
    w.ep.start_daemon()
    w.ep.wait_until(lambda: counted(w.ep.log(), 2, 4), timeout=120,
                    what="the deadline check after the restart")
    log = w.ep.log()
    assert not lines(log, "deadline missed") and not lines(log, "deadline at risk"), log
    assert w.q("SELECT count(*) FROM epsync.deadline_alerts")[0][0] == 6
    w.ep.stop()
