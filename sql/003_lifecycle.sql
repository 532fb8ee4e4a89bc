-- epsync state schema, version 3: leases with tokens, deadline-first
-- claims, revisions over the masked field set.
--
-- Leases.  Every claim (and every hand-over by the detector) gives the row
-- a fresh lease_token; an outcome is recorded only by the holder of the
-- current token, so a process whose lease ran out never overwrites what
-- the process that claimed the row after it recorded.
ALTER TABLE epsync.deliveries ADD COLUMN lease_token bigint;
CREATE SEQUENCE epsync.lease_tokens;

-- Deadlines.  due_on is the decision's legal deadline (decided_on + N
-- working days, counted with the holiday calendar by epsync), copied to
-- each delivery so that claims walk one index in deadline order: the
-- earliest deadline first, withdrawals before publications of the same
-- deadline.  Filled for existing rows by the detector (see below).
ALTER TABLE epsync.deliveries ADD COLUMN due_on date;
DROP INDEX epsync.deliveries_due;
CREATE INDEX deliveries_due ON epsync.deliveries (target, due_on, want_withdraw DESC, next_attempt_at)
    WHERE state IN ('pending', 'retry', 'withdraw_pending');
CREATE INDEX deliveries_next ON epsync.deliveries (next_attempt_at)
    WHERE state IN ('pending', 'retry', 'withdraw_pending');

-- Revisions.  Up to version 2 a revision hashed the unmasked field set;
-- from version 3 it hashes the masked one (what the platforms receive).
-- Rows stored before are flagged; the detector recomputes their revision
-- from the stored (masked) fields, and their deadline, without sending
-- anything (audit event "revision rebased").
ALTER TABLE epsync.decisions ADD COLUMN legacy boolean NOT NULL DEFAULT false;
UPDATE epsync.decisions SET legacy = true;
CREATE INDEX decisions_legacy ON epsync.decisions (decision_id) WHERE legacy;
