-- epsync state schema, version 4: least privilege (docs/operations.md "Database roles").
--
-- Three roles share the schema:
--   the owner    runs `epsync migrate`; owns the tables (DDL only);
--   epsync_daemon  what the daemon and the operator commands need: the
--                queue tables read and written, the audit log read and
--                appended to, nothing more (no UPDATE, DELETE or TRUNCATE
--                of epsync.audit, no ownership, so no trigger control);
--   epsync_report  reads everything, writes nothing.
-- epsync_daemon and epsync_report are group roles (NOLOGIN): the login roles
-- the daemon and the report run as are made members of them.

-- The chain head is the newest row of epsync.audit, read under an advisory
-- lock by every appender: there is no separate head row that the daemon
-- would need to UPDATE, and so could reset.
DROP TABLE epsync.audit_head;

-- The group roles, when missing and when the migrating role may create
-- roles; otherwise `epsync migrate` names the CREATE ROLE lines missing.
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['epsync_daemon', 'epsync_report'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation OR insufficient_privilege THEN
                NULL;
            END;
        END IF;
    END LOOP;
END $$;

REVOKE ALL ON SCHEMA epsync FROM PUBLIC;

-- The grants, applied again by every `epsync migrate` (so tables added by a
-- later migration get them too).  Tables named in append_only get SELECT
-- and INSERT only.  Returns one line per thing it could not do.
CREATE FUNCTION epsync.grant_roles() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    append_only CONSTANT text[] := ARRAY['audit', 'deadline_alerts'];
    read_only CONSTANT text[] := ARRAY['schema_version', 'delivery_history'];
    t record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'epsync_daemon') THEN
        RETURN NEXT 'role epsync_daemon is missing: CREATE ROLE epsync_daemon NOLOGIN;';
    ELSE
        GRANT USAGE ON SCHEMA epsync TO epsync_daemon;
        FOR t IN SELECT c.relname, pg_get_userbyid(c.relowner) AS owner,
                        pg_has_role(c.relowner, 'USAGE') AS mine
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'epsync' AND c.relkind IN ('r', 'p') LOOP
            IF NOT t.mine THEN
                RETURN NEXT format('epsync.%I belongs to %I, not to the role running migrate: '
                                   'ALTER TABLE epsync.%I OWNER TO %I;', t.relname, t.owner,
                                   t.relname, current_user);
                CONTINUE;
            END IF;
            EXECUTE format('REVOKE ALL ON epsync.%I FROM epsync_daemon, PUBLIC', t.relname);
            IF t.relname = ANY (append_only) THEN
                EXECUTE format('GRANT SELECT, INSERT ON epsync.%I TO epsync_daemon', t.relname);
            ELSIF t.relname = ANY (read_only) THEN
                EXECUTE format('GRANT SELECT ON epsync.%I TO epsync_daemon', t.relname);
            ELSE
                EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON epsync.%I TO epsync_daemon',
                               t.relname);
            END IF;
        END LOOP;
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA epsync TO epsync_daemon;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'epsync_report') THEN
        RETURN NEXT 'role epsync_report is missing: CREATE ROLE epsync_report NOLOGIN;';
    ELSE
        GRANT USAGE ON SCHEMA epsync TO epsync_report;
        FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'epsync' AND c.relkind IN ('r', 'p', 'v')
                   AND pg_has_role(c.relowner, 'USAGE') LOOP
            EXECUTE format('REVOKE ALL ON epsync.%I FROM epsync_report', t.relname);
            EXECUTE format('GRANT SELECT ON epsync.%I TO epsync_report', t.relname);
        END LOOP;
    END IF;
END $$;
REVOKE ALL ON FUNCTION epsync.grant_roles() FROM PUBLIC;
