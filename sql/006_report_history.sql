-- epsync state schema, version 6: the history the sync-status report reads.
--
-- delivery_history keeps one row for every change of a delivery's state
-- (and of its first publication time), written by a trigger, so no code
-- path can forget it.  The report reads it for two things: why a
-- publication was late or a deadline missed (invalid from … to …, the
-- platform failing from … to …, waiting in the queue), and the report "as
-- it stood" at the end of an earlier day (`epsync report --as-of`).
-- Rows are never updated; nothing deletes them.
--
-- deadline_alerts remembers which "deadline at risk" / "deadline missed"
-- log lines were written, so a restart or a second daemon never repeats
-- one (INSERT … ON CONFLICT DO NOTHING decides who writes it).

CREATE TABLE epsync.delivery_history (
    id                 bigserial PRIMARY KEY,
    decision_id        text NOT NULL,
    target             text NOT NULL,
    at                 timestamptz NOT NULL DEFAULT now(),
    state              text NOT NULL,
    reason             text,                 -- invalid / excluded / rejected explanation
    last_error         text,                 -- the platform's words, verbatim
    first_published_at timestamptz
);
CREATE INDEX delivery_history_pair ON epsync.delivery_history (decision_id, target, at);

-- The trigger writes as the schema's owner (SECURITY DEFINER): the
-- daemon's role needs no privilege on the history, so it cannot rewrite it.
CREATE FUNCTION epsync.delivery_history_record() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, epsync AS $$
BEGIN
    INSERT INTO epsync.delivery_history (decision_id, target, at, state, reason, last_error,
                                         first_published_at)
    VALUES (NEW.decision_id, NEW.target, now(), NEW.state, NEW.reason, NEW.last_error,
            NEW.first_published_at);
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_history_insert AFTER INSERT ON epsync.deliveries
    FOR EACH ROW EXECUTE FUNCTION epsync.delivery_history_record();
CREATE TRIGGER deliveries_history_update AFTER UPDATE ON epsync.deliveries
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
                       OR OLD.first_published_at IS DISTINCT FROM NEW.first_published_at
                       OR OLD.reason IS DISTINCT FROM NEW.reason)
    EXECUTE FUNCTION epsync.delivery_history_record();

-- What happened before this version, read back from the audit log: every
-- event of a delivery names its transition ("pending->published", "op=publish
-- result=ok pending->published ...", "new->invalid"), a detection names one
-- per target ("city:new->pending"); state changes carry their reason, attempts
-- the platform's words.
INSERT INTO epsync.delivery_history (decision_id, target, at, state, reason, last_error)
SELECT decision_id, target, at, state, reason, last_error FROM (
    SELECT a.seq, a.decision_id, a.target, a.at, m[1] AS state,
           CASE WHEN a.operation NOT IN ('attempt', 'settle') THEN a.message END AS reason,
           CASE WHEN a.operation IN ('attempt', 'settle') THEN a.message END AS last_error
    FROM epsync.audit a, regexp_match(a.detail, '->([a-z_]+)') m
    WHERE a.target IS NOT NULL AND a.decision_id IS NOT NULL
    UNION ALL
    SELECT a.seq, a.decision_id, t[1], a.at, t[2], NULL, NULL
    FROM epsync.audit a, regexp_matches(a.detail, '([^ :]+):[a-z_]+->([a-z_]+)', 'g') t
    WHERE a.operation = 'detect' AND a.decision_id IS NOT NULL
) e
WHERE e.state IN ('pending', 'published', 'retry', 'rejected', 'invalid', 'withdraw_pending',
                  'withdrawn', 'excluded', 'cancelled')
ORDER BY e.seq;

-- A delivery the audit log says nothing about: as it is now.
INSERT INTO epsync.delivery_history (decision_id, target, at, state, reason, last_error,
                                     first_published_at)
SELECT dl.decision_id, dl.target, dl.updated_at, dl.state, dl.reason, dl.last_error,
       dl.first_published_at
FROM epsync.deliveries dl
WHERE NOT EXISTS (SELECT 1 FROM epsync.delivery_history h
                  WHERE h.decision_id = dl.decision_id AND h.target = dl.target);

-- The deadline check reads what cannot move on by itself: few rows, and
-- rarely changed, so the index costs the queue nothing.
CREATE INDEX deliveries_stuck ON epsync.deliveries (decision_id)
    WHERE state IN ('invalid', 'rejected');

CREATE TABLE epsync.deadline_alerts (
    decision_id text NOT NULL,
    target      text NOT NULL,
    alert       text NOT NULL CHECK (alert IN ('at_risk', 'missed')),
    due_on      date NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (decision_id, target, alert, due_on)
);
