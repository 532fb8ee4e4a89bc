-- epsync state schema, version 5.
--
-- One row per running daemon, upserted every `metrics.interval` by the
-- process itself and removed when it stops cleanly.  A row whose
-- heartbeat is older than three intervals belongs to a daemon that died:
-- `epsync status` says so.  `targets` carries each target's pause as the
-- daemon sees it: {"city": {"paused": true, "reason": "...", "since": 1764633600}}.
CREATE TABLE epsync.daemons (
    owner          text PRIMARY KEY,          -- the lease owner: host:pid:random
    host           text NOT NULL,
    pid            integer NOT NULL,
    version        text NOT NULL,
    started_at     timestamptz NOT NULL,
    heartbeat_at   timestamptz NOT NULL,
    interval_s     integer NOT NULL,
    targets        jsonb NOT NULL DEFAULT '{}',
    metrics_listen text                       -- NULL: no metrics endpoint
);
