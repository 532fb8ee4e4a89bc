"""Soak 2: PostgreSQL (the case database and the state database both)
restarted twice while decisions keep arriving, each time with one platform
down at the same moment: first a fast restart with the province down, then
an immediate (crash-like) stop, some seconds without a database at all, and
a start, with the city down.  The daemon stays up, reconnects, and in the
end everything is published exactly once per revision."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soaklib as s  # noqa: E402

SLOWISH = {"slow": 0.3, "slow_ms": 100, "http5xx": 0.02}


def reconnects(w):
    return sum(1 for ln in w.ep.log().splitlines() if "reconnected" in ln)


def test_postgres_restarted_twice_with_a_target_down():
    # The harness's clusters acknowledge commits before writing them
    # (synchronous_commit off), so an immediate stop may lose the last
    # ones; a real database does not, and this test kills it.
    pg = s.h.PgCluster(s.h.make_tmpdir("epsync-pg-"), settings={"synchronous_commit": "on"})
    w = s.SoakWorld(faults={"city": SLOWISH, "province": SLOWISH}, seed=2, pg=pg,
                    targets={"province": {"batch_size": 10}})
    writer = s.Writer(w, rate=5.0, seed="pg-restart")
    w.ep.start_daemon()
    writer.start()
    w.ep.wait_until(lambda: w.published_count() >= 20, timeout=30, what="first publications")
    w.sleep(s.scaled(5), "the run before the first restart")

    # 1: the province goes down, and PostgreSQL restarts meanwhile.
    w.prov.set_faults({"down": True})
    w.sleep(1.0, "the province outage")
    t0 = time.monotonic()
    w.pg.restart("fast")
    s.note("fast restart took %.1fs" % (time.monotonic() - t0))
    w.sleep(s.scaled(4), "the province outage after the restart")
    w.prov.set_faults(SLOWISH)
    w.ep.wait_until(lambda: reconnects(w) >= 1, timeout=30, what="a reconnection")
    w.sleep(s.scaled(8), "the run between the restarts")

    # 2: the city goes down; PostgreSQL dies without a shutdown checkpoint
    # and stays away for a few seconds.
    before = reconnects(w)
    w.city.set_faults({"down": True})
    w.sleep(1.0, "the city outage")
    w.pg.stop("immediate")
    w.sleep(s.scaled(4), "the database outage")
    w.pg.start()
    w.sleep(s.scaled(3), "the city outage after the restart")
    w.city.set_faults(SLOWISH)
    w.ep.wait_until(lambda: reconnects(w) > before, timeout=30, what="a second reconnection")
    w.sleep(s.scaled(8), "the run after the restarts")
    wrote = writer.stop()
    assert wrote["reconnects"] >= 2, wrote     # the writer saw both outages too

    for sim in w.sims:
        sim.set_faults({})
    took = w.settle(timeout=s.scaled(90), what="the drain after the restarts")
    assert w.ep.alive(), w.ep.log()[-3000:]
    w.stop_all()
    summary = w.verdict(writer)
    s.note("wrote %s; drained in %.1fs; %s" % (wrote, took, summary))
    assert wrote["updated"] > 0 and wrote["revoked"] > 0, wrote
