-- epsync state schema, version 7: less work per delivery.
--
-- delivery_history is written once per statement instead of once per row:
-- an outcome flush or a detection batch changes up to a thousand
-- deliveries in one UPDATE or INSERT, and a row-level trigger ran one
-- INSERT for each.  The statement-level triggers read the changed rows
-- from the statement's transition tables and write the same history rows
-- (every inserted delivery; an updated one only when its state, its first
-- publication time or its reason changed) in one INSERT … SELECT.  An
-- INSERT … ON CONFLICT DO UPDATE fires both: its inserted rows are in the
-- insert trigger's table, its updated ones in the update trigger's.
-- Still SECURITY DEFINER: the daemon's role cannot write the history.

DROP TRIGGER deliveries_history_insert ON epsync.deliveries;
DROP TRIGGER deliveries_history_update ON epsync.deliveries;
DROP FUNCTION epsync.delivery_history_record();

CREATE FUNCTION epsync.delivery_history_inserted() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, epsync AS $$
BEGIN
    INSERT INTO epsync.delivery_history (decision_id, target, at, state, reason, last_error,
                                         first_published_at)
    SELECT n.decision_id, n.target, now(), n.state, n.reason, n.last_error,
           n.first_published_at
    FROM new_rows n;
    RETURN NULL;
END $$;

-- Planned on every call (EXECUTE): the join's best plan depends on how
-- many rows the statement changed, one or a thousand.  A claim that finds
-- nothing due still fires the trigger; it returns before planning anything.
CREATE FUNCTION epsync.delivery_history_updated() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, epsync AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    EXECUTE 'INSERT INTO epsync.delivery_history (decision_id, target, at, state, reason, '
            '                                     last_error, first_published_at) '
            'SELECT n.decision_id, n.target, now(), n.state, n.reason, n.last_error, '
            '       n.first_published_at '
            'FROM new_rows n JOIN old_rows o USING (decision_id, target) '
            'WHERE o.state IS DISTINCT FROM n.state '
            '   OR o.first_published_at IS DISTINCT FROM n.first_published_at '
            '   OR o.reason IS DISTINCT FROM n.reason';
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_history_insert AFTER INSERT ON epsync.deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION epsync.delivery_history_inserted();
CREATE TRIGGER deliveries_history_update AFTER UPDATE ON epsync.deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION epsync.delivery_history_updated();

-- deliveries_next duplicated deliveries_due for no query: the one that
-- reads it (the time until the next due delivery, a minimum over
-- GREATEST(next_attempt_at, lease_until)) cannot take its order from an
-- index on next_attempt_at and only uses the index's predicate, which
-- deliveries_due has too.  Every new delivery paid an entry in it.
DROP INDEX epsync.deliveries_next;
