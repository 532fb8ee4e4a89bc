"""Soak 4: the provincial gateway's clock is off (ahead, and later behind)
by more than its 300 s tolerance for a while and then corrected, while the
city revokes every token every few seconds and decisions keep arriving.
During an offset nothing reaches the province and nothing is lost; after
each correction the province catches up.  A revoked token is renewed and
the call repeated: never a failed attempt."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soaklib as s  # noqa: E402

REVOKE_EVERY_S = 2.5
OFFSET_S = s.scaled(12)


class Revoker:
    """Revokes the city's tokens every REVOKE_EVERY_S while the test sleeps."""

    def __init__(self, w):
        self.w = w
        self.count = 0

    def sleep(self, seconds, what):
        left = seconds
        while left > 0:
            step = min(REVOKE_EVERY_S, left)
            self.w.sleep(step, what)
            left -= step
            self.w.city.revoke_tokens()
            self.count += 1


def province_waiting(w):
    """(deliveries due at the province, of which in retry after A0402)."""
    return tuple(w.q("SELECT count(*), count(*) FILTER (WHERE state = 'retry' "
                     "AND last_code = 'A0402') FROM epsync.deliveries "
                     "WHERE target = 'province' AND state = ANY(%s)", list(s.DUE_STATES))[0])


def test_clock_offset_then_corrected_with_city_tokens_revoked():
    w = s.SoakWorld(seed=4, targets={"province": {"batch_size": 10}}, log={"format": "json"})
    writer = s.Writer(w, rate=5.0, seed="clock-tokens")
    rv = Revoker(w)
    w.ep.start_daemon()
    writer.start()
    rv.sleep(s.scaled(6), "the run before the offset")

    for offset in (400, -400):
        w.prov.set_faults({"clock_offset_s": offset})
        rv.sleep(2.0, "the start of the offset")
        frozen = w.prov.stats()["publications_total"]
        rv.sleep(OFFSET_S, "the offset of %+ds" % offset)
        # Nothing got through, and what arrived meanwhile waits in retry.
        assert w.prov.stats()["publications_total"] == frozen, "published through the offset"
        # (A target whose every request fails is paused: the rest of what
        # arrives waits as pending.)
        waiting, a0402 = province_waiting(w)
        assert waiting >= 20 and a0402 >= 1, (waiting, a0402, w.by_state())
        w.prov.set_faults({})
        w.ep.wait_until(lambda: province_waiting(w)[0] <= 5, timeout=s.scaled(20),
                        what="the province to catch up after the correction")
        s.note("offset %+ds: %d deliveries waited, %d in retry after A0402" % (
            offset, waiting, a0402))
        rv.sleep(s.scaled(6), "the run after the correction")
    wrote = writer.stop()
    took = w.settle(timeout=s.scaled(60), what="the drain")
    w.stop_all()
    summary = w.verdict(writer)
    s.note("wrote %s; %d token revocations; drained in %.1fs; %s" % (
        wrote, rv.count, took, summary))

    # The operator was told about the clock, at error level.
    events = [json.loads(ln) for ln in w.ep.log().splitlines()]
    clock = [ev for ev in events if ev.get("level") == "error"
             and ev.get("target") == "province" and "clock" in json.dumps(ev)]
    assert clock, "no error line about the province clock"
    # Every revocation cost a renewal, none cost an attempt.
    st = w.city.stats()["requests"]
    assert st.get("unauthorized", 0) >= rv.count // 2, (st, rv.count)
    assert st.get("token_issued", 0) >= rv.count // 2, (st, rv.count)
    failed = [ev for ev in events if ev.get("target") == "city"
              and ev.get("level") in ("warning", "error")]
    assert not failed, failed[:3]
    retried = w.q("SELECT count(*) FROM epsync.audit WHERE target = 'city' "
                  "AND detail LIKE '%%->retry%%'")[0][0]
    assert retried == 0, "%d city deliveries audited as retried" % retried
