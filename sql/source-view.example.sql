-- epsync_source.decisions: the one relation epsync reads (docs/rules.md).
--
-- For the DBA of the case database.  epsync never touches the case
-- system's tables; it reads this view, with the columns below and nothing
-- else.  This example sits over the schema of tests/fixtures/casedb.sql
-- (schema `cms`); adapt the FROM clause and the CASE tables to your own
-- system and keep the column names and types.
--
--  decision_id   text         stable unique key; never reused, never renumbered
--  updated_at    timestamptz  must move on EVERY change of ANY column below:
--                             here the latest updated_at of all joined rows,
--                             each kept by a BEFORE UPDATE trigger
--  state         text         'final' (in force: publish), 'revoked'
--                             (withdraw everywhere); anything else is ignored
--  kind          text         penalty | license | inspection | coercion | levy | other
--  decided_on    date
--  confidential  boolean      true: never published, listed as excluded
--
-- and the decision's fields (docs/rules.md, "The source relation").  party_address,
-- party_phone and the ID number are read so that epsync can scrub them out
-- of free text; epsync never sends them and never logs them.  Columns that
-- must NOT reach epsync at all (bank accounts, officers' names, internal
-- notes) are simply not selected.
--
-- Rows soft-deleted in the case system disappear from the view; epsync
-- reports a published decision that vanished instead of withdrawing it,
-- so revoke (已撤销) rather than delete what was published.
--
-- Performance: epsync polls with
--   WHERE updated_at >= $1 ORDER BY updated_at, decision_id LIMIT $2
-- GREATEST(...) over joined rows cannot use an index, so each poll scans
-- the join.  Up to a few hundred thousand decisions that is cheap; beyond,
-- have the party/case triggers also touch cms.decision.updated_at and
-- expose d.updated_at alone (indexed: decision_updated_at).

CREATE SCHEMA IF NOT EXISTS epsync_source;

CREATE OR REPLACE VIEW epsync_source.decisions AS
SELECT
    d.decision_no                                   AS decision_id,
    GREATEST(d.updated_at, c.updated_at, p.updated_at, a.updated_at) AS updated_at,
    -- 审批状态 → state.  Only 已生效 is in force; 已撤销 covers revoked,
    -- confirmed unlawful and to-be-remade: all are taken down.
    CASE d.approval_status
        WHEN '已生效' THEN 'final'
        WHEN '已撤销' THEN 'revoked'
        WHEN '审批中' THEN 'approving'
        WHEN '退回'   THEN 'returned'
        ELSE 'draft'                                -- 草稿
    END                                             AS state,
    -- Both spellings of the kind: short codes and, in migrated rows, the
    -- Chinese names.  Unknown codes publish as 'other' rather than vanish.
    CASE upper(btrim(d.kind_code))
        WHEN 'CF' THEN 'penalty'    WHEN '行政处罚' THEN 'penalty'
        WHEN 'XK' THEN 'license'    WHEN '行政许可' THEN 'license'
        WHEN 'JC' THEN 'inspection' WHEN '行政检查' THEN 'inspection'
        WHEN 'QZ' THEN 'coercion'   WHEN '行政强制' THEN 'coercion'
        WHEN 'ZS' THEN 'levy'       WHEN '行政征收' THEN 'levy'
        ELSE 'other'
    END                                             AS kind,
    d.decided_on                                    AS decided_on,
    d.not_public                                    AS confidential,

    d.doc_no                                        AS doc_no,
    c.case_name                                     AS case_name,
    p.party_name                                    AS party_name,
    CASE p.party_kind
        WHEN '法人'       THEN 'legal_person'
        WHEN '非法人组织' THEN 'other_org'
        WHEN '个体工商户' THEN 'individual_business'
        WHEN '自然人'     THEN 'natural_person'
    END                                             AS party_type,
    p.credit_code                                   AS party_credit_code,
    p.legal_rep                                     AS legal_rep,
    -- GB/T 2261-style codes of the ID type → the words the platforms expect.
    CASE p.id_type
        WHEN '111' THEN '身份证'
        WHEN '414' THEN '护照'
        WHEN '516' THEN '港澳居民来往内地通行证'
        WHEN '511' THEN '台湾居民来往大陆通行证'
        ELSE p.id_type
    END                                             AS party_id_type,
    p.id_no                                         AS party_id_no,
    p.address                                       AS party_address,
    p.phone                                         AS party_phone,

    c.cause                                         AS violation_type,
    d.facts                                         AS violation_facts,
    d.legal_basis                                   AS legal_basis,
    array_to_string(d.penalty_categories, ',')      AS penalty_types,
    -- One content column in the case system; licences carry it as
    -- license_content (the XK_NR field), everything else as penalty_content.
    CASE WHEN upper(btrim(d.kind_code)) IN ('XK', '行政许可') THEN NULL ELSE d.content END
                                                    AS penalty_content,
    CASE WHEN upper(btrim(d.kind_code)) IN ('XK', '行政许可') THEN d.content END
                                                    AS license_content,
    d.fine_amount                                   AS fine_amount,
    d.confiscated_amount                            AS confiscated_amount,
    d.license_action                                AS license_revoked,
    d.valid_from                                    AS valid_from,
    d.valid_until                                   AS valid_until,
    d.publicity_until                               AS publicity_until,

    -- The deciding authority reports its own decisions, so it is also the
    -- data source unit (数据来源单位); change this if a central office
    -- submits on the districts' behalf.
    a.unit_name                                     AS authority_name,
    a.credit_code                                   AS authority_credit_code,
    a.unit_name                                     AS source_unit,
    a.credit_code                                   AS source_unit_credit_code,
    d.remarks                                       AS remarks
FROM cms.decision d
JOIN cms.case_file c ON c.id = d.case_id
JOIN cms.party p     ON p.id = c.party_id
JOIN cms.org_unit a  ON a.id = d.authority_id
WHERE NOT d.is_deleted;

COMMENT ON VIEW epsync_source.decisions IS
    'Read by epsync (enforcement publicity sync). Columns as epsync docs/rules.md describes them; see sql/source-view.example.sql.';

-- Access for epsync: a login role that can read this view and nothing else
-- of the case system.  The view runs with its owner's rights (not
-- security_invoker), so epsync needs no privilege on schema cms.
--
--   CREATE ROLE epsync LOGIN;          -- peer/cert authentication, no password
--   GRANT USAGE ON SCHEMA epsync_source TO epsync;
--   GRANT SELECT ON epsync_source.decisions TO epsync;
--
-- epsync's own state (schema `epsync`) may live in this database or in
-- another one (database.state in epsync.yaml); there it needs CREATE on the
-- database for `epsync migrate`.
