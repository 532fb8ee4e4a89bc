"""The case-database fixture: tests/fixtures/casedb.sql + tools/gen_casedb.py
+ sql/source-view.example.sql, loaded into a throw-away PostgreSQL.

Checks that the view has exactly the source columns epsync reads, that the
state and kind mappings and the updated_at triggers work, and that the
generator's manifest tells the truth about every decision (recomputed here
from the view with the simulators' own check-digit code).

Run: python3 tests/lib/runner.py tests/integration/test_casedb.py
"""
import datetime
import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import harness  # noqa: E402
import simcommon  # noqa: E402  (tests/sim, put on the path by harness)

REPO = harness.REPO
GEN = os.path.join(REPO, "tools", "gen_casedb.py")
N = 600
SEED = "casedb-test"

# docs/rules.md "The source relation" (plus license_content and
# valid_from, which the province's licence record reads), with their types.
COLUMNS = {
    "decision_id": "text", "updated_at": "timestamp with time zone", "state": "text",
    "kind": "text", "decided_on": "date", "confidential": "boolean",
    "doc_no": "text", "case_name": "text", "party_name": "text", "party_type": "text",
    "party_credit_code": "text", "legal_rep": "text", "party_id_type": "text",
    "party_id_no": "text", "party_address": "text", "party_phone": "text",
    "violation_type": "text", "violation_facts": "text", "legal_basis": "text",
    "penalty_types": "text", "penalty_content": "text", "license_content": "text",
    "fine_amount": "numeric", "confiscated_amount": "numeric", "license_revoked": "text",
    "valid_from": "date", "valid_until": "date", "publicity_until": "date",
    "authority_name": "text", "authority_credit_code": "text",
    "source_unit": "text", "source_unit_credit_code": "text", "remarks": "text",
}

_db = {}


def run_gen(*args):
    return subprocess.run([sys.executable, GEN, *args], capture_output=True, timeout=300)


def psql_file(pg, dbname, path):
    r = subprocess.run([os.path.join(pg.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-h", pg.sockdir, "-p", str(pg.port), "-U", "postgres", "-d", dbname,
                        "-f", path], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "psql -f %s failed:\n%s" % (path, r.stderr)


def loaded():
    """The database, the manifest and the generator's stderr (loaded once)."""
    if _db:
        return _db
    pg = harness.shared_cluster()
    tmp = harness.make_tmpdir("epsync-casedb-")
    dbname = pg.createdb(harness.fresh_dbname("casedb"))
    data, manifest = os.path.join(tmp, "data.sql"), os.path.join(tmp, "manifest.json")
    r = run_gen("--decisions", str(N), "--seed", SEED, "-o", data, "--manifest", manifest)
    assert r.returncode == 0, r.stderr.decode()
    psql_file(pg, dbname, os.path.join(REPO, "tests", "fixtures", "casedb.sql"))
    psql_file(pg, dbname, data)
    psql_file(pg, dbname, os.path.join(REPO, "sql", "source-view.example.sql"))
    with open(manifest, encoding="utf-8") as f:
        _db.update(pg=pg, dbname=dbname, manifest=json.load(f), stderr=r.stderr.decode())
    return _db


def rows(sql, params=None):
    db = loaded()
    conn = db["pg"].connect(db["dbname"])
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        conn.close()


def execute(sql, params=None):
    db = loaded()
    conn = db["pg"].connect(db["dbname"])
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
    finally:
        conn.close()


def view_row(decision_id):
    r = rows("SELECT * FROM epsync_source.decisions WHERE decision_id = %s", (decision_id,))
    return r[0] if r else None


def test_view_has_exactly_the_source_columns():
    got = rows("SELECT column_name, data_type FROM information_schema.columns "
               "WHERE table_schema = 'epsync_source' AND table_name = 'decisions' "
               "ORDER BY ordinal_position")
    assert {r["column_name"]: r["data_type"] for r in got} == COLUMNS, got
    # The harness's stand-in table, which other tests use in place of this
    # view, must offer the same columns.
    db = loaded()
    other = harness.fresh_dbname("standin")
    harness.case_db(db["pg"], other).close()
    conn = db["pg"].connect(other)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = 'epsync_source' AND table_name = 'decisions'")
            stand_in = {r[0] for r in cur.fetchall()}
    finally:
        conn.close()
    assert stand_in == set(COLUMNS), "harness SOURCE_DDL differs: %s" % (
        stand_in ^ set(COLUMNS))


def test_every_decision_appears_once():
    n = rows("SELECT count(*) AS n, count(DISTINCT decision_id) AS d "
             "FROM epsync_source.decisions")[0]
    assert n["n"] == N and n["d"] == N, n
    m = loaded()["manifest"]["categories"]
    assert sum(len(v) for v in m.values()) == N
    assert all(m[c] for c in m), "a category is empty: %s" % {c: len(v) for c, v in m.items()}


_gen = None


def gen():
    """tools/gen_casedb.py as a module (for its age rule)."""
    global _gen
    if _gen is None:
        import importlib.util
        spec = importlib.util.spec_from_file_location("gen_casedb", GEN)
        _gen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_gen)
    return _gen


def test_the_generator_uses_epsyncs_age_rule():
    """One rule (src/mask.c): an adult on the 18th birthday; born on
    29 February, on 1 March.  The same boundaries as tests/unit/test_mask.c."""
    d = datetime.date
    g = gen()
    for birth, adult in ((d(2008, 8, 8), d(2026, 8, 8)), (d(2008, 2, 29), d(2026, 3, 1)),
                         (d(2008, 2, 28), d(2026, 2, 28)), (d(2008, 3, 1), d(2026, 3, 1)),
                         (d(1996, 2, 29), d(2014, 3, 1))):
        assert g.adult_on(birth) == adult, (birth, g.adult_on(birth))
    assert g.born_18_years_before(d(2026, 8, 8)) == [d(2008, 8, 8)]
    assert g.born_18_years_before(d(2026, 3, 1)) == [d(2008, 3, 1), d(2008, 2, 29)]
    assert g.born_18_years_before(d(2028, 2, 29)) == []


def _expected_category(r, today):
    """What epsync must make of a view row, from the row alone."""
    if r["state"] not in ("final", "revoked"):
        return "draft"
    if r["state"] == "revoked":
        return "revoked"
    if r["confidential"]:
        return "confidential"
    if r["party_type"] in ("legal_person", "other_org") or (
            r["party_type"] == "individual_business" and r["party_credit_code"]):
        if not simcommon.uscc_valid(r["party_credit_code"]):
            return "invalid_bad_uscc"
    if r["party_type"] == "natural_person" and r["party_id_type"] == "身份证":
        idno = r["party_id_no"]
        if not simcommon.idno_valid(idno):
            return "invalid_bad_idno"
        birth = datetime.date(int(idno[6:10]), int(idno[10:12]), int(idno[12:14]))
        if r["decided_on"] < gen().adult_on(birth):
            return "minor"
    if r["kind"] == "penalty" and not (r["doc_no"] or "").strip():
        return "invalid_missing_doc_no"
    return "valid"


def test_manifest_matches_the_rows():
    db = loaded()
    today = datetime.date.fromisoformat(db["manifest"]["today"])
    want = {}
    for c, ids in db["manifest"]["categories"].items():
        for i in ids:
            want[i] = c
    wrong = []
    for r in rows("SELECT * FROM epsync_source.decisions"):
        got = _expected_category(r, today)
        if got != want.get(r["decision_id"]):
            wrong.append("%s: manifest %s, row says %s" % (r["decision_id"],
                                                         want.get(r["decision_id"]), got))
    assert not wrong, "\n".join(wrong[:20])


def test_valid_decisions_have_what_validation_requires():
    db = loaded()
    today = datetime.date.fromisoformat(db["manifest"]["today"])
    valid = set(db["manifest"]["categories"]["valid"])
    problems = []
    for r in rows("SELECT * FROM epsync_source.decisions"):
        if r["decision_id"] not in valid:
            continue
        need = ["party_name", "party_type", "authority_name", "authority_credit_code",
                "source_unit", "source_unit_credit_code"]
        if r["kind"] == "penalty":
            need += ["doc_no", "violation_type", "violation_facts", "legal_basis",
                     "penalty_types", "penalty_content"]
            if "罚款" in r["penalty_types"].split(","):
                need.append("fine_amount")
        if r["kind"] == "license":
            need += ["doc_no", "license_content"]
        if r["party_type"] == "legal_person":
            need += ["party_credit_code", "legal_rep"]
        if r["party_type"] == "natural_person":
            need += ["party_id_type", "party_id_no"]
        missing = [k for k in need if r[k] is None or str(r[k]).strip() == ""]
        if missing:
            problems.append("%s lacks %s" % (r["decision_id"], missing))
        if not simcommon.uscc_valid(r["authority_credit_code"]):
            problems.append("%s: authority code" % r["decision_id"])
        if r["decided_on"] > today:
            problems.append("%s: decided in the future" % r["decision_id"])
        for k in ("fine_amount", "confiscated_amount"):
            if r[k] is not None and r[k] < 0:
                problems.append("%s: %s < 0" % (r["decision_id"], k))
    assert not problems, "\n".join(problems[:20])


def test_state_mapping_and_updated_at_trigger():
    d = rows("SELECT d.decision_no, d.id, d.approval_status, c.party_id FROM cms.decision d "
             "JOIN cms.case_file c ON c.id = d.case_id "
             "WHERE d.approval_status = '已生效' ORDER BY d.id LIMIT 1")[0]
    before = view_row(d["decision_no"])
    assert before["state"] == "final"
    expect = {"已撤销": "revoked", "草稿": "draft", "审批中": "approving", "退回": "returned",
              "已生效": "final"}
    last = before["updated_at"]
    for status, state in expect.items():
        execute("UPDATE cms.decision SET approval_status = %s WHERE id = %s", (status, d["id"]))
        r = view_row(d["decision_no"])
        assert r["state"] == state, (status, r["state"])
        assert r["updated_at"] > last, "updated_at did not move on %s" % status
        last = r["updated_at"]
    # A change in a joined row (the party's phone) moves the view's updated_at too.
    execute("UPDATE cms.party SET phone = phone WHERE id = %s", (d["party_id"],))
    r = view_row(d["decision_no"])
    assert r["updated_at"] > last
    # Soft deletion removes the row from the view.
    execute("UPDATE cms.decision SET is_deleted = true WHERE id = %s", (d["id"],))
    assert view_row(d["decision_no"]) is None
    execute("UPDATE cms.decision SET is_deleted = false WHERE id = %s", (d["id"],))


def test_kind_mapping_covers_both_spellings():
    got = rows("SELECT DISTINCT d.kind_code, v.kind FROM cms.decision d "
               "JOIN epsync_source.decisions v ON v.decision_id = d.decision_no")
    expect = {"CF": "penalty", "行政处罚": "penalty", "XK": "license", "行政许可": "license",
              "JC": "inspection", "行政检查": "inspection", "QZ": "coercion",
              "行政强制": "coercion", "ZS": "levy", "行政征收": "levy"}
    seen = set()
    for r in got:
        code = r["kind_code"].strip().upper()
        assert r["kind"] == expect.get(code, "other"), r
        seen.add(r["kind"])
    assert seen == {"penalty", "license", "inspection", "coercion", "levy", "other"}, seen
    assert any(r["kind_code"] != r["kind_code"].strip() for r in got), "no hand-typed codes"
    assert any(r["kind_code"] == "行政处罚" for r in got), "no Chinese kind names"


def test_messy_text_survives_loading():
    r = rows("""SELECT
        count(*) FILTER (WHERE strpos(violation_facts, 'D:\\案件材料\\') > 0
                           AND strpos(violation_facts, '\\\\nas01\\zf') > 0) AS backslashes,
        count(*) FILTER (WHERE violation_facts LIKE '%"正品"%') AS quotes,
        count(*) FILTER (WHERE party_name ~ '[𠀀-𯿽]' OR legal_rep ~ '[𠀀-𯿽]') AS beyond_bmp,
        count(*) FILTER (WHERE length(violation_facts) = 50000) AS long_facts,
        count(*) FILTER (WHERE strpos(violation_facts, party_address) > 0) AS address_in_facts,
        count(*) FILTER (WHERE party_id_no LIKE '%X') AS x_ids,
        count(*) FILTER (WHERE party_name ~ '^(欧阳|司马|上官|诸葛|东方|皇甫|慕容|令狐|尉迟|公孙)')
            AS compound_surnames,
        count(*) FILTER (WHERE extract(isodow FROM decided_on) >= 6) AS weekend,
        min(decided_on) AS first, max(decided_on) AS last
        FROM epsync_source.decisions""")[0]
    for k in ("backslashes", "quotes", "beyond_bmp", "long_facts", "address_in_facts",
              "x_ids", "compound_surnames", "weekend"):
        assert r[k] > 0, "no %s in %d decisions: %s" % (k, N, r)
    today = datetime.date.fromisoformat(loaded()["manifest"]["today"])
    assert r["last"] <= today and r["first"] >= today - datetime.timedelta(days=27), r


def test_summary_on_stderr_matches_manifest():
    db = loaded()
    for c, ids in db["manifest"]["categories"].items():
        assert any(line.split() == [c, str(len(ids))] for line in db["stderr"].splitlines()), (
            c, len(ids), db["stderr"])


def test_generator_is_deterministic_across_chunks():
    """12,000 decisions span two chunks made by two processes; a past --today
    keeps every timestamp clear of the wall clock."""
    args = ["--decisions", "12000", "--seed", "7", "--today", "2026-03-31", "--days", "40"]
    a, b = run_gen(*args), run_gen(*args)
    assert a.returncode == 0 and b.returncode == 0, a.stderr.decode()
    assert hashlib.sha256(a.stdout).digest() == hashlib.sha256(b.stdout).digest()
    other = run_gen("--decisions", "50", "--seed", "8", "--today", "2026-03-31")
    assert other.stdout != a.stdout[:len(other.stdout)]
