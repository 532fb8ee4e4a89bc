-- epsync state schema, version 2.
--
-- Decisions flagged for a re-read from the source (`epsync retry`) are
-- looked up at the end of every detection pass, every poll interval: an
-- index over the few flagged rows instead of a scan of the whole table.
CREATE INDEX decisions_recheck ON epsync.decisions (decision_id) WHERE recheck;
