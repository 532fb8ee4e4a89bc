"""The report's timeliness dimension, built from hand-made histories.

Each decision below is given a history in epsync.delivery_history as the
daemon would have written it (invalid for ten days then fixed; a platform
down over a deadline; published late then revoked; rejected past its
deadline; excluded for each reason; never sent; gone from the source), and
the report is checked against an independent computation here: deadlines
and working days late from conf/holidays.yaml, the categories from the
rules in docs/report.md.  Every format (JSON, text, CSV, HTML) must say
the same.  `--as-of` is checked by reporting, adding activity, and
reporting as of the earlier day.  The HTML is printed by headless
Chromium to an A4 PDF whose text is read back (page numbers, repeated
table headers, the bureau's name) and whose first page is kept as a PNG.
"""

import csv
import datetime
import io
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_report as base  # noqa: E402

CST = harness.CST
D = datetime.date
DAY = datetime.timedelta(days=1)
ORG = "石家庄市市场监督管理局"
CITY_NAME = "市行政执法监督信息平台"
PROV_NAME = "省行政执法公示网站"
BAD_CODE = "party_credit_code: check digit is wrong (expected M)"

# --- an independent calendar --------------------------------------------------------

_cal = None


def calendar():
    global _cal
    if _cal is None:
        with open(os.path.join(harness.REPO, "conf", "holidays.yaml")) as f:
            y = yaml.safe_load(f)
        hol, work = set(), set()
        for v in y.values():
            hol |= set(v.get("holidays") or [])
            work |= set(v.get("workdays") or [])
        _cal = (hol, work)
    return _cal


def is_workday(d):
    hol, work = calendar()
    return d in work or (d.weekday() < 5 and d not in hol)


def due_on(decided, n=7):
    d = decided
    while n:
        d += DAY
        n -= is_workday(d)
    return d


def working_days_late(due, published):
    """Working days from the day after the deadline up to the first working
    day on or after the publication (a rest-day publication counts as the
    next working day)."""
    if published <= due:
        return 0
    end = published
    while not is_workday(end):
        end += DAY
    return sum(1 for i in range(1, (end - due).days + 1) if is_workday(due + i * DAY))


def at(day, hour=10, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), CST)


# --- hand-made histories ----------------------------------------------------------------

def history(conn, did, target, steps):
    """steps: [(instant, state, reason, last_error)], oldest first."""
    with conn.cursor() as cur:
        for when, state, reason, err in steps:
            cur.execute("INSERT INTO epsync.delivery_history (decision_id, target, at, state, "
                        "reason, last_error) VALUES (%s, %s, %s, %s, %s, %s)",
                        (did, target, when, state, reason, err))


def pair(conn, did, target, steps, first_published=None, receipt=None):
    """The delivery as its last step left it, and its history."""
    when, state, reason, err = steps[-1]
    base.add_delivery(conn, did, target, state, first_published_at=first_published,
                      last_error=err, reason=reason, attempts=len(steps), receipt=receipt)
    history(conn, did, target, steps)


def published_steps(decided, pub):
    return [(at(decided, 18, 5), "pending", None, None), (pub, "published", None, None)]


EXCLUDED = {"H-CONF": ("confidential", "confidential"), "H-MINOR": ("minor", "minor"),
            "H-WARN": ("warning_only", "warning_only")}


def seed(conn, today):
    """The histories; returns {(id, target): expectation dict}."""
    exp = {}

    def expect(did, target, decided, tl, pub=None, cause=None, excl=None):
        exp[(did, target)] = dict(decided=decided, due=due_on(decided), tl=tl, pub=pub,
                                  cause=cause, excl=excl)

    # invalid for ten days, then corrected and published: late at both
    d = D(2026, 9, 1)
    base.add_decision(conn, "H-INVALID10", d)
    for t, minute in (("city", 5), ("province", 20)):
        pub = at(d + 10 * DAY, 10, minute)
        pair(conn, "H-INVALID10", t, [(at(d, 18, 5), "invalid", BAD_CODE, None),
                                      (at(d + 10 * DAY, 10), "pending", None, None),
                                      (pub, "published", None, None)], pub, "R-1")
        expect("H-INVALID10", t, d, "late", pub=pub.date())
    # the city platform down over the deadline; the province on time
    d = D(2026, 9, 2)
    base.add_decision(conn, "H-DOWN", d)
    pub = at(D(2026, 9, 15), 9)
    pair(conn, "H-DOWN", "city", [(at(d, 18, 5), "pending", None, None),
                                  (at(d, 18, 6), "retry", None, "HTTP 503 服务暂不可用"),
                                  (pub, "published", None, None)], pub, "R-2")
    expect("H-DOWN", "city", d, "late", pub=pub.date())
    pub = at(d, 18, 7)
    pair(conn, "H-DOWN", "province", published_steps(d, pub), pub, "R-3")
    expect("H-DOWN", "province", d, "on_time", pub=pub.date())
    # published late, then revoked: still late; the province on time, then revoked
    d = D(2026, 9, 3)
    base.add_decision(conn, "H-REVOKED", d)
    pub = at(D(2026, 9, 16), 10)
    pair(conn, "H-REVOKED", "city",
         published_steps(d, pub) + [(at(D(2026, 9, 20)), "withdraw_pending", "revoked", None),
                                    (at(D(2026, 9, 21)), "withdrawn", "revoked", None)], pub)
    expect("H-REVOKED", "city", d, "late", pub=pub.date())
    pub = at(d + DAY, 9)
    pair(conn, "H-REVOKED", "province",
         published_steps(d, pub) + [(at(D(2026, 9, 20)), "withdraw_pending", "revoked", None),
                                    (at(D(2026, 9, 21)), "withdrawn", "revoked", None)], pub)
    expect("H-REVOKED", "province", d, "on_time", pub=pub.date())
    # rejected past its deadline
    d = D(2026, 9, 4)
    base.add_decision(conn, "H-REJECTED", d)
    pair(conn, "H-REJECTED", "city", [(at(d, 18, 5), "pending", None, None),
                                      (at(d, 18, 6), "rejected", "1001 证件号码格式错误", None)])
    expect("H-REJECTED", "city", d, "missed", cause="rejected")
    pub = at(d + DAY, 9)
    pair(conn, "H-REJECTED", "province", published_steps(d, pub), pub)
    expect("H-REJECTED", "province", d, "on_time", pub=pub.date())
    # still retrying past its deadline
    d = D(2026, 9, 7)
    base.add_decision(conn, "H-RETRYING", d)
    for t in ("city", "province"):
        pair(conn, "H-RETRYING", t, [(at(d, 18, 5), "pending", None, None),
                                     (at(d, 18, 6), "retry", None, "connection refused")])
        expect("H-RETRYING", t, d, "missed", cause="retrying")
    # invalid and never corrected
    d = D(2026, 9, 8)
    base.add_decision(conn, "H-STILLBAD", d, invalid_reasons=[BAD_CODE])
    for t in ("city", "province"):
        pair(conn, "H-STILLBAD", t, [(at(d, 18, 5), "invalid", BAD_CODE, None)])
        expect("H-STILLBAD", t, d, "missed", cause="invalid")
    # no delivery row at all: waiting to be sent
    d = D(2026, 9, 9)
    base.add_decision(conn, "H-NOROWS", d)
    for t in ("city", "province"):
        expect("H-NOROWS", t, d, "missed", cause="pending")
    # gone from the source before it was sent
    d = D(2026, 9, 10)
    base.add_decision(conn, "H-GONE", d, missing_since=at(D(2026, 9, 11)))
    for t in ("city", "province"):
        pair(conn, "H-GONE", t, [(at(d, 18, 5), "pending", None, None)])
        expect("H-GONE", t, d, "missed", cause="missing_from_source")
    # excluded, for each reason; a kind neither platform takes; cancelled
    d = D(2026, 9, 11)
    for did, (reason, key) in EXCLUDED.items():
        base.add_decision(conn, did, d, exclude_reason=reason)
        for t in ("city", "province"):
            pair(conn, did, t, [(at(d, 18, 5), "excluded", reason, None)])
            expect(did, t, d, "outside", excl=key)
    base.add_decision(conn, "H-LEVY", d, kind="levy")
    for t in ("city", "province"):
        pair(conn, "H-LEVY", t, [(at(d, 18, 5), "excluded", "kind not routed to this target",
                                  None)])
        exp[("H-LEVY", t)] = dict(decided=d, due=due_on(d, 20), tl="outside", pub=None,
                                  cause=None, excl="not_routed")
    base.add_decision(conn, "H-CANCEL", d)
    for t in ("city", "province"):
        pair(conn, "H-CANCEL", t, [(at(d, 18, 5), "pending", None, None),
                                   (at(d, 18, 6), "cancelled", "revoked before publication",
                                    None)])
        expect("H-CANCEL", t, d, "outside", excl="cancelled")
    return exp


_env = {}


def env():
    if not _env:
        pg, dbname, ep, tmp = base.setup_state(
            report={"organisation": ORG},
            targets={"city": {"display_name": CITY_NAME},
                     "province": {"display_name": PROV_NAME}})
        conn = pg.connect(dbname)
        _env.update(pg=pg, db=dbname, ep=ep, tmp=tmp, conn=conn,
                    exp=seed(conn, harness.today_cst()))
    return _env


PERIOD = ["--from", "2026-09-01", "--to", "2026-09-30"]


def expected_sums(exp):
    sums = {}
    for (did, t), e in exp.items():
        s = sums.setdefault(t, {"must_publish": 0, "timeliness": {k: 0 for k in (
            "on_time", "late", "missed", "not_due", "outside")},
            "missed_by_cause": {k: 0 for k in ("invalid", "rejected", "retrying", "pending",
                                               "missing_from_source")},
            "excluded_by_reason": {k: 0 for k in ("confidential", "minor", "warning_only",
                                                  "not_routed", "cancelled", "other")}})
        s["timeliness"][e["tl"]] += 1
        if e["tl"] != "outside":
            s["must_publish"] += 1
        if e["cause"]:
            s["missed_by_cause"][e["cause"]] += 1
        if e["excl"]:
            s["excluded_by_reason"][e["excl"]] += 1
    return sums


def expected_decisions(exp):
    """A decision once: missed > late > not yet due > on time; else outside."""
    per = {}
    for (did, t), e in exp.items():
        per.setdefault(did, set()).add(e["tl"])
    tot = {k: 0 for k in ("on_time", "late", "missed", "not_due", "outside")}
    for tls in per.values():
        for k in ("missed", "late", "not_due", "on_time", "outside"):
            if k in tls:
                tot[k] += 1
                break
    tot["in_scope"] = len(per)
    tot["must_publish"] = len(per) - tot["outside"]
    return tot


def test_timeliness_keys_agree_with_an_independent_calendar():
    e = env()
    exp = e["exp"]
    j = base.report_json(e["ep"], *PERIOD)
    sums = expected_sums(exp)
    for t in ("city", "province"):
        got = j["targets"][t]
        for k, v in sums[t].items():
            assert got[k] == v, (t, k, got[k], v)
        assert got["missed"] == sums[t]["timeliness"]["missed"]
    dt = expected_decisions(exp)
    assert j["decisions_total"] == dt, (j["decisions_total"], dt)
    assert j["organisation"] == ORG
    assert j["targets"]["city"]["display_name"] == CITY_NAME
    decs = {d["decision_id"]: d for d in j["decisions"]}
    for (did, t), x in exp.items():
        cell = decs[did]["targets"][t]
        assert decs[did]["due_on"] == x["due"].isoformat(), (did, decs[did]["due_on"], x["due"])
        assert cell["timeliness"] == x["tl"], (did, t, cell)
        if x["pub"]:
            assert cell["first_published_at"][:10] == x["pub"].isoformat()
            assert cell["working_days_late"] == working_days_late(x["due"], x["pub"]), (did, t)
        else:
            assert cell["first_published_at"] is None and cell["working_days_late"] is None
        assert cell["missed_cause"] == x["cause"] and cell["excluded_reason"] == x["excl"]
    # the lists: every late publication, every missed deadline
    late = {(x["decision_id"], x["target"]): x for x in j["late"]}
    missed = {(x["decision_id"], x["target"]): x for x in j["missed"]}
    assert set(late) == {k for k, x in exp.items() if x["tl"] == "late"}
    assert set(missed) == {k for k, x in exp.items() if x["tl"] == "missed"}
    for k, x in late.items():
        want = exp[k]
        assert x["working_days_late"] == working_days_late(want["due"], want["pub"])
        assert x["published_on"] == want["pub"].isoformat()
        assert x["due_on"] == want["due"].isoformat() and x["kind"] == "penalty"
    inv = late[("H-INVALID10", "city")]
    assert inv["history"][0]["what"] == "invalid"
    assert (inv["history"][0]["from"], inv["history"][0]["to"]) == ("2026-09-01", "2026-09-11")
    assert "校验未通过（2026-09-01 至 2026-09-11）：当事人统一社会信用代码：校验位错误（应为 M）" \
        in inv["cause"], inv["cause"]
    down = late[("H-DOWN", "city")]
    assert "平台故障或无法连接（2026-09-02 至 2026-09-15）：HTTP 503 服务暂不可用" in down["cause"]
    assert missed[("H-REJECTED", "city")]["missed_cause"] == "rejected"
    assert "1001 证件号码格式错误" in missed[("H-REJECTED", "city")]["cause"]
    assert "起至今" in missed[("H-STILLBAD", "city")]["cause"]
    assert missed[("H-GONE", "city")]["cause"].startswith("案件系统中已不存在")
    # the needs-a-human list speaks Chinese for validation reasons
    attn = [a for a in j["needs_attention"] if a["decision_id"] == "H-STILLBAD"]
    assert attn and "校验位错误（应为 M）" in attn[0]["reason_text"]


def test_text_csv_and_html_say_what_json_says():
    e = env()
    ep = e["ep"]
    j = base.report_json(ep, *PERIOD)
    text = base.report(ep, *PERIOD).stdout
    # the lists come before the counts, the late one first
    assert text.index("超期公示明细（%d）" % len(j["late"])) < text.index(
        "逾期未公示明细（%d）" % len(j["missed"])) < text.index("需要人工处理") \
        < text.index("公示时效")
    late_text = text[:text.index("逾期未公示明细")]
    for x in j["late"]:
        name = CITY_NAME if x["target"] == "city" else PROV_NAME
        i = late_text.index("\n  %s  %s  " % (x["decision_id"], name))
        entry = late_text[i:i + 400].split("\n    原因")[0]
        assert "超期 %d 个工作日" % x["working_days_late"] in entry, entry
    missed_text = text[text.index("逾期未公示明细"):text.index("需要人工处理")]
    for x in j["missed"]:
        assert "\n  %s  " % x["decision_id"] in missed_text
    assert CITY_NAME in text and ORG in text
    assert "2026年9月1日 至 2026年9月30日" in text
    # the timeliness table: per target, then the decisions once
    tl = text[text.index("公示时效"):text.index("当前状态")]
    for label, key in (("按时公示", "on_time"), ("超期公示", "late"), ("逾期未公示", "missed")):
        m = re.search(r"^%s +(\d+) +(\d+) +(\d+)$" % label, tl, re.M)
        assert m, label
        assert [int(x) for x in m.groups()] == [j["targets"]["city"]["timeliness"][key],
                                                j["targets"]["province"]["timeliness"][key],
                                                j["decisions_total"][key]], label
    # CSV: one row per pair, its timeliness and working days late
    raw = subprocess.run([ep.binary, "-c", ep.config, "report", *PERIOD, "--format", "csv"],
                         capture_output=True).stdout
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    head, rows = rows[0], rows[1:]
    col = {h: i for i, h in enumerate(head)}
    decs = {d["decision_id"]: d for d in j["decisions"]}
    for r in rows:
        cell = decs[r[0]]["targets"][r[4]]
        assert r[col["时效代码"]] == cell["timeliness"]
        wdl = cell["working_days_late"]
        assert r[col["超期工作日"]] == ("" if wdl is None else str(wdl)), (r, cell)
        assert r[col["未公示原因代码"]] == (cell["missed_cause"] or "")
        assert r[col["不计入原因代码"]] == (cell["excluded_reason"] or "")
    # HTML: the same lists and numbers
    html = base.report(ep, *PERIOD, "--format", "html").stdout
    late_rows = re.findall(r'<tr data-decision="([^"]+)" data-target="([^"]+)">(.*?)</tr>',
                           html[html.index('id="late"'):html.index('id="missed"')])
    assert {(a, b) for a, b, _ in late_rows} == {(x["decision_id"], x["target"]) for x in j["late"]}
    for a, b, row in late_rows:
        want = [x for x in j["late"] if (x["decision_id"], x["target"]) == (a, b)][0]
        assert '<td class="n wdl">%d</td>' % want["working_days_late"] in row
    table = html[html.index('id="timeliness"'):]
    for key in ("must_publish", "on_time", "late", "missed", "not_due"):
        m = re.search(r'<tr data-key="%s"[^>]*>.*?</tr>' % key, table)
        vals = [int(x) for x in re.findall(r'<td class="n">(\d+)</td>', m.group(0))]
        per = [j["targets"][t][key] if key == "must_publish" else
               j["targets"][t]["timeliness"][key] for t in ("city", "province")]
        assert vals == per + [j["decisions_total"][key]], (key, vals)
    for cause in ("invalid", "rejected", "retrying", "pending", "missing_from_source"):
        m = re.search(r'<tr data-key="missed_by_cause.%s"[^>]*>.*?</tr>' % cause, table)
        vals = [int(x) for x in re.findall(r'<td class="n">(\d+)</td>', m.group(0))]
        assert vals == [j["targets"][t]["missed_by_cause"][cause] for t in ("city", "province")]
    assert "<thead>" in html and "counter(page)" in html and ORG in html
    assert "制表：" in html and "审核：" in html and "日期：" in html
    assert ">2026-W36<" in html or "2026-W36" in html


def test_kind_filter_and_english():
    e = env()
    j = base.report_json(e["ep"], *PERIOD, "--kind", "levy")
    assert [d["decision_id"] for d in j["decisions"]] == ["H-LEVY"]
    assert j["kind"] == "levy"
    en = base.report(e["ep"], *PERIOD, "--lang", "en").stdout
    assert "Late publications" in en and "working day(s) late" in en
    assert "check digit is wrong (expected M)" in en and "校验位" not in en


def comparable(j):
    """What an as-of report must reproduce."""
    decs = {d["decision_id"]: {t: (c["category"], c["timeliness"], c["working_days_late"],
                                   c["missed_cause"]) for t, c in d["targets"].items()}
            for d in j["decisions"]}
    return (j["targets"], j["decisions_total"], decs,
            sorted((x["decision_id"], x["target"]) for x in j["late"]),
            sorted((x["decision_id"], x["target"]) for x in j["missed"]))


def test_as_of_reproduces_an_earlier_report():
    e = env()
    conn = e["conn"]
    yesterday = harness.today_cst() - DAY
    before = base.report_json(e["ep"], *PERIOD)
    # more activity today: the rejected one corrected and published, the
    # retrying one published, a late-registered decision of September
    with conn.cursor() as cur:
        cur.execute("UPDATE epsync.deliveries SET state = 'published', first_published_at = now(), "
                    "published_at = now(), published_revision = want_revision "
                    "WHERE decision_id IN ('H-REJECTED', 'H-RETRYING') AND target = 'city'")
    base.add_decision(conn, "H-LATECOMER", D(2026, 9, 14), first_seen=datetime.datetime.now(CST))
    base.add_delivery(conn, "H-LATECOMER", "city", "pending")
    now = base.report_json(e["ep"], *PERIOD)
    assert comparable(now) != comparable(before)
    assert now["targets"]["city"]["timeliness"]["late"] == \
        before["targets"]["city"]["timeliness"]["late"] + 2
    late = {(x["decision_id"], x["target"]): x for x in now["late"]}
    assert "案件系统提供该决定时已过期限" not in late[("H-REJECTED", "city")]["cause"]
    assert "平台拒收（2026-09-04 至 " in late[("H-REJECTED", "city")]["cause"]
    missed = {(x["decision_id"], x["target"]): x for x in now["missed"]}
    assert "案件系统提供该决定时已过期限" in missed[("H-LATECOMER", "city")]["cause"]
    old = base.report_json(e["ep"], *PERIOD, "--as-of", yesterday.isoformat())
    assert old["as_of"] == yesterday.isoformat()
    assert comparable(old) == comparable(before)
    # and a day in September gives September's numbers
    sept = base.report_json(e["ep"], "--from", "2026-09-01", "--as-of", "2026-09-14")
    decs = {d["decision_id"]: d["targets"] for d in sept["decisions"]}
    assert decs["H-DOWN"]["city"]["timeliness"] == "missed"          # published on the 15th
    assert decs["H-DOWN"]["city"]["missed_cause"] == "retrying"
    assert decs["H-INVALID10"]["city"]["timeliness"] == "late"       # published on the 11th
    assert decs["H-REVOKED"]["city"]["timeliness"] == "not_due"      # due the 14th
    assert decs["H-REVOKED"]["city"]["state"] == "pending"
    assert "H-LATECOMER" not in decs
    r = e["ep"].run(["report", "--as-of", (harness.today_cst() + DAY).isoformat()])
    assert r.returncode == 64


def test_history_before_schema_6_is_read_back_from_the_audit_log():
    """A state database of version 2 with its audit log: `epsync migrate`
    rebuilds the history from it, so causes and --as-of cover the past."""
    pg = harness.shared_cluster()
    dbname = harness.fresh_dbname("old")
    pg.createdb(dbname)
    conn = pg.connect(dbname)
    with conn.cursor() as cur:
        for name in ("001_init.sql", "002_recheck_index.sql"):
            with open(os.path.join(harness.REPO, "sql", name), encoding="utf-8") as f:
                cur.execute(f.read())
        cur.execute("INSERT INTO epsync.schema_version (version) VALUES (1), (2)")
    d = D(2026, 9, 1)
    base.add_decision(conn, "OLD-1", d)
    pub = at(d + 10 * DAY, 10, 5)
    base.add_delivery(conn, "OLD-1", "city", "published", first_published_at=pub, receipt="R-9")
    events = [  # (instant, target, operation, detail, message)
        (at(d, 18, 5), None, "detect", "state=final revision=aaaaaaaaaaaa city:new->invalid", None),
        (at(d, 18, 5), "city", "state", "new->invalid", BAD_CODE),
        (at(d + 10 * DAY, 10), None, "detect", "state=final revision=bbbbbbbbbbbb "
         "city:invalid->pending", None),
        (pub, "city", "attempt", "op=publish result=ok pending->published request_id=x", None),
    ]
    with conn.cursor() as cur:
        for seq, (when, target, op, detail, msg) in enumerate(events, 1):
            cur.execute("INSERT INTO epsync.audit (seq, at, actor, decision_id, target, operation, "
                        "detail, message, prev_hash, hash) VALUES (%s, %s, 'daemon', 'OLD-1', %s, "
                        "%s, %s, %s, %s, %s)", (seq, when, target, op, detail, msg, "0" * 64,
                                                "0" * 64))
    tmp = harness.make_tmpdir()
    cfg = harness.write_config(tmp, pg, [base.Target("city", tmp), base.Target("province", tmp)],
                               dbname=dbname, targets={"province": None})
    ep = harness.Epsync(config=cfg)
    r = ep.run(["migrate"])
    assert r.returncode == 0, r.stderr
    hist = [s for (s,) in pg.psql("SELECT state FROM epsync.delivery_history "
                                  "WHERE decision_id = 'OLD-1' ORDER BY at, id", dbname=dbname)]
    assert hist == ["invalid", "invalid", "pending", "published"], hist
    j = base.report_json(ep, *PERIOD)
    late = {(x["decision_id"], x["target"]): x for x in j["late"]}
    assert "校验未通过（2026-09-01 至 2026-09-11）：当事人统一社会信用代码：校验位错误（应为 M）" \
        in late[("OLD-1", "city")]["cause"], late
    old = base.report_json(ep, *PERIOD, "--as-of", "2026-09-05")
    cell = old["decisions"][0]["targets"]["city"]
    assert (cell["state"], cell["timeliness"]) == ("invalid", "not_due"), cell
    conn.close()


# --- written by statement, read as before -------------------------------------------------

def test_batches_write_one_history_row_per_change():
    """Detection inserts and outcome updates change hundreds of deliveries per
    statement; the history gets exactly one row for each new delivery and
    for each change of state, and none for a lease taken or given back."""
    w = harness.World()
    ids = harness.insert_decisions(w.pg, w.db, 300)
    w.ep.start_daemon()

    def published():
        return w.q("SELECT count(*) FROM epsync.deliveries WHERE state = 'published'")[0][0]
    w.ep.wait_until(lambda: published() == 2 * len(ids), timeout=120, what="all published")
    assert w.ep.stop() == 0
    rows = w.q("SELECT decision_id, target, array_agg(state ORDER BY id), "
               "count(first_published_at) FROM epsync.delivery_history "
               "GROUP BY decision_id, target")
    assert len(rows) == 2 * len(ids), len(rows)
    assert {r[0] for r in rows} == set(ids)
    bad = [r for r in rows if r[2] != ["pending", "published"] or r[3] != 1]
    assert not bad, bad[:5]

    # One statement inserting some deliveries and updating others (ON CONFLICT),
    # then one changing a column the history ignores and one changing reasons.
    w.q("INSERT INTO epsync.decisions (decision_id, kind, src_state, revision, fields) "
        "SELECT 'H-' || g, 'penalty', 'final', 'r', '{}' FROM generate_series(1, 40) g")
    w.q("INSERT INTO epsync.deliveries (decision_id, target, state, want_revision) "
        "SELECT 'H-' || g, 'city', 'pending', 'r' FROM generate_series(1, 20) g")
    before = w.q("SELECT max(id) FROM epsync.delivery_history")[0][0]
    w.q("INSERT INTO epsync.deliveries AS d (decision_id, target, state, want_revision) "
        "SELECT 'H-' || g, 'city', CASE WHEN mod(g, 2) = 0 THEN 'invalid' ELSE 'pending' END, 'r' "
        "FROM generate_series(11, 40) g "
        "ON CONFLICT (decision_id, target) DO UPDATE SET state = EXCLUDED.state")
    w.q("UPDATE epsync.deliveries SET attempts = attempts + 1, lease_owner = 'x' "
        "WHERE starts_with(decision_id, 'H-')")
    w.q("UPDATE epsync.deliveries SET reason = 'why ' || decision_id "
        "WHERE decision_id IN ('H-1', 'H-2', 'H-3')")
    w.state.commit()
    got = w.q("SELECT decision_id, state, reason FROM epsync.delivery_history WHERE id > %s",
              before)
    want = sorted([("H-%d" % g, "invalid", None) for g in range(12, 21, 2)]
                  + [("H-%d" % g, "invalid" if g % 2 == 0 else "pending", None)
                     for g in range(21, 41)]
                  + [("H-%d" % g, "pending", "why H-%d" % g) for g in (1, 2, 3)])
    assert sorted(got) == want, got


# --- printed ------------------------------------------------------------------------------

def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise harness.Skip("no headless browser")


def test_printed_page_has_numbers_headers_and_the_bureau():
    e = env()
    if not shutil.which("pdftotext") or not shutil.which("pdftoppm"):
        raise harness.Skip("poppler-utils not installed (scripts/bootstrap extras)")
    out = os.path.join(e["tmp"], "report.html")
    base.report(e["ep"], *PERIOD, "--format", "html", "-o", out)
    pdf = os.path.join(e["tmp"], "report.pdf")
    profile = harness.make_tmpdir("epsync-chromium-")
    r = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                        "--user-data-dir=" + profile, "--no-pdf-header-footer",
                        "--print-to-pdf=" + pdf, "file://" + out],
                       capture_output=True, text=True, timeout=180)
    assert os.path.exists(pdf), r.stderr
    # the pages as pictures, for a human to look at (EPSYNC_REPORT_PNG=prefix)
    keep = os.environ.get("EPSYNC_REPORT_PNG")
    if keep:
        subprocess.run(["pdftoppm", "-png", "-r", "70", pdf, keep], check=True)
    info = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    assert re.search(r"Page size:\s+59[45](\.\d+)? x 84[12](\.\d+)? pts \(A4\)", info), info
    text = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True,
                          text=True).stdout
    per_page = text.split("\f")
    assert ORG in per_page[0] and CITY_NAME in text
    for n in range(1, pages + 1):
        assert re.search(r"第\s*%d\s*页，共\s*%d\s*页" % (n, pages), per_page[n - 1]), \
            (n, per_page[n - 1][-300:])
    assert "制表：" in text and "审核：" in text
    # a table that runs over a page break repeats its header on the next page
    heads = [p for p in per_page[1:pages] if "决定编号" in p]
    rows_on = [p for p in per_page[1:pages] if re.search(r"H-[A-Z0-9]+", p)]
    assert len(heads) >= len(rows_on), (len(heads), len(rows_on))


def teardown_module():
    if _env:
        _env["conn"].close()
        _env.clear()
