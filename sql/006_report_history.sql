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

-- What existed before this version: one row per delivery, as it is now.
INSERT INTO epsync.delivery_history (decision_id, target, at, state, reason, last_error,
                                     first_published_at)
SELECT decision_id, target, updated_at, state, reason, last_error, first_published_at
FROM epsync.deliveries;

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
