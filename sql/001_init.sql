-- epsync state schema, version 1.
--
-- One row per decision (what the source last said, already masked), one
-- row per (decision, target) delivery (what is due there and what the
-- platform last said), and the append-only, hash-chained audit log.
-- Applied by `epsync migrate` inside one transaction.

CREATE SCHEMA IF NOT EXISTS epsync;

CREATE TABLE epsync.schema_version (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- What the source said about a decision, as of the last detection.
-- `fields` is the masked field set (docs/rules.md): natural persons' ID numbers
-- masked, addresses and phones dropped, free text scrubbed.  The raw row
-- never leaves the source database.
CREATE TABLE epsync.decisions (
    decision_id      text PRIMARY KEY,
    kind             text NOT NULL,
    decided_on       date,
    src_state        text NOT NULL,            -- final | revoked
    confidential     boolean NOT NULL DEFAULT false,
    revision         text NOT NULL,            -- 64 hex digits, SHA-256 of the canonical field set
    fields           jsonb NOT NULL,           -- masked fields, payload mappings read these
    src_updated_at   timestamptz,
    publicity_end    date,                     -- end of the publicity period, NULL: none
    exclude_reason   text,                     -- confidential | minor | warning_only, NULL: publishable
    invalid_reasons  text[],                   -- local validation failures (all targets)
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    changed_at       timestamptz NOT NULL DEFAULT now(),
    seen_at          timestamptz NOT NULL DEFAULT now(),   -- last time a scan saw the row
    missing_since    timestamptz,                          -- vanished from the source
    recheck          boolean NOT NULL DEFAULT false        -- re-read from the source (epsync retry)
);
CREATE INDEX decisions_decided_on ON epsync.decisions (decided_on);

-- One row per (decision, target): the desired outcome and the progress
-- towards it.  The engine converges `published_revision` to `want_revision`
-- (publish, then update) or, when `want_withdraw`, takes the publication
-- down.  Only one process works on a row at a time (lease).
CREATE TABLE epsync.deliveries (
    decision_id        text NOT NULL REFERENCES epsync.decisions (decision_id),
    target             text NOT NULL,
    state              text NOT NULL CHECK (state IN ('pending','published','retry','rejected',
                            'invalid','withdraw_pending','withdrawn','excluded','cancelled')),
    want_revision      text NOT NULL,
    want_withdraw      boolean NOT NULL DEFAULT false,
    withdraw_type      text,                   -- REVOKED | EXPIRED | OPERATOR
    withdraw_reason    text,
    published_revision text,                   -- what the platform holds now, NULL: nothing
    receipt            text,                   -- city receiptNo / province recordId
    reason             text,                   -- excluded / invalid / rejected explanation
    last_code          text,                   -- platform code of the last failure
    last_error         text,                   -- platform message of the last failure, verbatim
    last_http          integer,
    attempts           integer NOT NULL DEFAULT 0,   -- attempts of the current operation
    total_attempts     integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    lease_owner        text,
    lease_until        timestamptz,
    first_attempt_at   timestamptz,
    first_published_at timestamptz,            -- start of the publicity period
    published_at       timestamptz,            -- last successful publish/update
    withdrawn_at       timestamptz,
    expires_on         date,                   -- end of the publicity period (CST), NULL: none
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (decision_id, target)
);
-- The claim query walks this index only: rows with something to do.
CREATE INDEX deliveries_due ON epsync.deliveries (target, next_attempt_at)
    WHERE state IN ('pending', 'retry', 'withdraw_pending');
CREATE INDEX deliveries_expiry ON epsync.deliveries (expires_on) WHERE state = 'published';
-- deliveries is a work queue: every outcome leaves a dead entry in
-- deliveries_due, which each claim walks past until vacuum removes it.
ALTER TABLE epsync.deliveries SET (autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);

-- Change-detection progress, one row per source relation.
CREATE TABLE epsync.watermarks (
    relation        text PRIMARY KEY,
    high_updated_at timestamptz,
    last_poll_at    timestamptz,
    last_reconcile_at timestamptz
);

-- Append-only audit log.  hash = SHA-256(prev_hash || canonical event)
-- where the canonical event is computed by audit.c (audit_canonical).
CREATE TABLE epsync.audit (
    seq          bigint PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor        text NOT NULL,              -- daemon, or the OS user of a CLI action
    decision_id  text,
    target       text,
    operation    text NOT NULL,              -- detect, state, attempt, retry, withdraw, ...
    attempt      integer,
    http_status  integer,
    code         text,
    message      text,
    latency_ms   integer,
    receipt      text,
    body_sha256  text,
    detail       text,                       -- e.g. "pending->published", request id
    prev_hash    text NOT NULL,
    hash         text NOT NULL
);
CREATE INDEX audit_decision ON epsync.audit (decision_id, seq);

-- The chain head: one row, locked by every appender, so the chain is a
-- total order even with several daemons.
CREATE TABLE epsync.audit_head (
    id    integer PRIMARY KEY CHECK (id = 1),
    seq   bigint NOT NULL,
    hash  text NOT NULL
);
INSERT INTO epsync.audit_head VALUES (1, 0, repeat('0', 64));

CREATE FUNCTION epsync.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'epsync.audit is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON epsync.audit
    FOR EACH ROW EXECUTE FUNCTION epsync.audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON epsync.audit
    FOR EACH STATEMENT EXECUTE FUNCTION epsync.audit_append_only();
