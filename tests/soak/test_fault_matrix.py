"""Soak 1: every fault mode of the simulators, one at a time, first light
(20 % of requests, ~10 s) and then total (100 %, ~5 s), then off, while a
writer keeps inserting, updating and revoking decisions.  Afterwards the
backlog drains and the simulators judge: every revision published exactly
once, every final decision live at its latest revision on both platforms,
every revoked one withdrawn, and the audit chain intact.

Modes that are not a rate get their own light and total form: a short
downtime window and then `down`; a province clock off by less than the
300 s tolerance and then by more; city tokens that live 3 s and then 1 s.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soaklib as s  # noqa: E402

LIGHT_S, HEAVY_S, OFF_S = s.scaled(10), s.scaled(5), s.scaled(1.5)


def rate(key, r, **extra):
    out = {key: r}
    out.update(extra)
    return out


def both(key, **extra):
    """A rate mode of both platforms: (name, city light, city total,
    province light, province total, fault counter)."""
    return (key, rate(key, 0.2, **extra), rate(key, 1.0, **extra),
            rate(key, 0.2, **extra), rate(key, 1.0, **extra), key)


MODES = [
    both("http5xx"),
    both("http429", retry_after=1),
    both("busy"),
    both("slow", slow_ms=1500),
    both("reset"),
    both("html"),
    ("html200",) + both("html", html_status=200)[1:],
    both("truncated"),
    both("oversized"),
    both("lost_answer"),
    ("lost_answer_truncated",) + both("lost_answer", lost_answer_mode="truncated")[1:],
    both("reject"),
    # Modes of one platform only: the other platform is clean meanwhile.
    ("token_revoke/record_retry", rate("token_revoke_rate", 0.2),
     rate("token_revoke_rate", 1.0), rate("record_retry", 0.2), rate("record_retry", 1.0),
     None),
    ("token_ttl/short_results", {"token_ttl_s": 3}, {"token_ttl_s": 1},
     rate("short_results", 0.2), rate("short_results", 1.0), None),
    ("clock_offset", {}, {}, {"clock_offset_s": -250}, {"clock_offset_s": 400}, None),
    ("down", {"downtime": [[LIGHT_S * 0.4, LIGHT_S * 0.6]]}, {"down": True},
     {"downtime": [[LIGHT_S * 0.4, LIGHT_S * 0.6]]}, {"down": True}, "down"),
]


def counters(w):
    return {sim.kind: dict(sim.stats()["faults_injected"], **{
        "req:" + k: v for k, v in sim.stats()["requests"].items()}) for sim in w.sims}


def grew(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


def test_fault_matrix_one_mode_at_a_time_while_decisions_arrive():
    w = s.SoakWorld(seed=1, targets={"province": {"batch_size": 5}})
    writer = s.Writer(w, rate=4.0, seed="matrix")
    w.ep.start_daemon()
    writer.start()
    w.sleep(2, "the clean start")
    unfired = []
    for name, cl, ch, pl, ph, key in MODES:
        before = counters(w)
        for phase, cf, pf, secs in (("20%", cl, pl, LIGHT_S), ("100%", ch, ph, HEAVY_S)):
            w.city.set_faults(cf)
            w.prov.set_faults(pf)
            w.sleep(secs, "fault mode %s at %s" % (name, phase))
        after = counters(w)
        # The mode really fired against what epsync sent (at 100 % any
        # request at all suffices).
        if key is not None:
            for kind in ("city", "province"):
                if not grew(before[kind], after[kind], key):
                    unfired.append((name, kind))
        w.city.set_faults({})
        w.prov.set_faults({})
        w.sleep(OFF_S, "the pause after %s" % name)
        s.note("%-26s %s" % (name, w.by_state()))
    # Modes of one platform: each left its mark too.
    totals = counters(w)
    for kind, what in (("city", "token_revoke"), ("city", "req:token_issued"),
                       ("province", "record_retry"), ("province", "short_results"),
                       ("province", "req:A0402")):
        if not totals[kind].get(what):
            unfired.append((what, kind))
    assert totals["city"].get("req:token_issued", 0) >= 5, totals["city"]
    assert not unfired, "fault modes that never fired: %s" % unfired
    wrote = writer.stop()

    # Permanent refusals wait for an operator; the faults are gone now.
    w.sleep(1.0)
    n_rejected = w.rejected()
    assert n_rejected > 0, "the reject mode rejected nothing"
    r = w.ep.run(["retry", "--state", "rejected"])
    assert r.returncode == 0, r.stdout + r.stderr
    took = w.settle(timeout=s.scaled(120), what="the drain after the matrix")
    w.stop_all()
    summary = w.verdict(writer)
    s.note("wrote %s; %d rejected requeued; drained in %.1fs; %s" % (
        wrote, n_rejected, took, summary))
    assert wrote["updated"] > 0 and wrote["revoked"] > 0, wrote
