"""Soak 3: two `epsync run` processes share one state database while 2,000
decisions drain through platforms with light faults; twenty times, at a
random moment, one of the two (chosen at random) is SIGKILLed and started
again.  Deliveries leased by a killed process wait out their lease and are
taken over; answers that were in flight still land on the platforms and
must be recognised as replays.  Exactly once, nothing lost.

EPSYNC_TEST_SEED makes the kill schedule reproducible."""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soaklib as s  # noqa: E402

N = 2000
KILLS = 20
# Slow answers keep requests in flight when a kill lands; a few lost
# answers and transport failures on top.
LIGHT = {"slow": 1.0, "slow_ms": 60, "lost_answer": 0.02, "http5xx": 0.02, "reset": 0.01}
PROV_LIGHT = dict(LIGHT, record_retry=0.02)


def test_two_processes_sigkilled_twenty_times_exactly_once():
    rng = random.Random(os.environ.get("EPSYNC_TEST_SEED", "crash-matrix"))
    w = s.SoakWorld(faults={"city": LIGHT, "province": PROV_LIGHT}, seed=3, daemons=2,
                    targets={"city": {"max_in_flight": 4},
                             "province": {"max_in_flight": 2, "batch_size": 10}})
    w.insert_many(N)
    for e in w.eps:
        e.start_daemon()
    t0 = time.monotonic()
    victims = []
    for _ in range(KILLS):
        w.sleep(rng.uniform(0.05, 2.5), "the drain between kills")
        i = rng.randrange(len(w.eps))
        victims.append(i)
        w.eps[i].kill9()
        w.eps[i].start_daemon()
    at_last_kill = w.published_count()
    s.note("20 kills (%d of process 0) in %.1fs; %d of %d deliveries published then" % (
        victims.count(0), time.monotonic() - t0, at_last_kill, 2 * N))
    # The kills must have hit a live drain, not idle daemons.
    assert at_last_kill < 2 * N * 0.95, "drained before the last kill"
    took = w.settle(timeout=s.scaled(240), what="the drain after the kills")
    w.stop_all()
    summary = w.verdict()
    s.note("drained %.1fs after the last kill; %s" % (took, summary))
    assert summary["decisions"] == N
