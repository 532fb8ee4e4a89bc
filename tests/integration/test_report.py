"""epsync report against a real PostgreSQL (docs/report.md).

The state database is created with `epsync migrate` and seeded with
decisions and deliveries directly, in every state the daemon can leave
them in; then the binary's report is checked: every category, deadlines
across a public holiday and a make-up working day, overdue against late,
the needs-a-human list, every format agreeing with JSON and JSON agreeing
with SQL counts, the HTML page in a headless browser, and 100,000
decisions in under 2 seconds.

No platform is contacted: the targets of the configuration point at a
closed port, the report only reads the state database.
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402

UTC = datetime.timezone.utc
CST = harness.CST
REV = "a" * 64
CATS = ["published_on_time", "published_late", "pending", "retry", "overdue", "rejected",
        "invalid", "excluded", "cancelled", "withdrawn", "withdraw_pending"]

_envs = {}


Target = harness.OfflineTarget


def setup_state(dbname=None, **overrides):
    """A migrated state database and an Epsync runner for it."""
    pg = harness.shared_cluster()
    tmp = harness.make_tmpdir()
    dbname = dbname or harness.fresh_dbname("state")
    pg.createdb(dbname)
    targets = [Target("city", tmp), Target("province", tmp)]
    cfg = harness.write_config(tmp, pg, targets, dbname=dbname, **overrides)
    ep = harness.Epsync(config=cfg)
    r = ep.run(["migrate"])
    assert r.returncode == 0, "migrate failed: %s%s" % (r.stdout, r.stderr)
    return pg, dbname, ep, tmp


def env(name="recent"):
    """A state database shared by the tests of one kind: "recent" holds
    decisions relative to today, "fixed" decisions of fixed dates, so
    neither's exact counts see the other's rows.  Deadline for licences:
    3 days, so a decision of 2026-09-30 falls due on the make-up Saturday
    2026-10-10."""
    if name not in _envs:
        pg, dbname, ep, tmp = setup_state(deadlines={"penalty": 7, "license": 3, "default": 20})
        _envs[name] = dict(pg=pg, db=dbname, ep=ep, tmp=tmp, conn=pg.connect(dbname))
    return _envs[name]


def add_decision(conn, did, decided_on, kind="penalty", exclude_reason=None,
                 invalid_reasons=None, missing_since=None, first_seen=None):
    """A decision row; it reached epsync (first_seen) on the evening of
    its decision day unless told otherwise."""
    first_seen = first_seen or datetime.datetime.combine(decided_on, datetime.time(18), CST)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO epsync.decisions (decision_id, kind, decided_on, src_state, "
                    "revision, fields, exclude_reason, invalid_reasons, missing_since, "
                    "first_seen_at) "
                    "VALUES (%s, %s, %s, 'final', %s, %s, %s, %s, %s, %s)",
                    (did, kind, decided_on, REV,
                     json.dumps({"party_name": "石家庄某商贸有限公司", "doc_no": did}),
                     exclude_reason, invalid_reasons, missing_since, first_seen))


def add_delivery(conn, did, target, state, first_published_at=None, last_error=None,
                 reason=None, attempts=0, receipt=None):
    published = first_published_at is not None and state not in ("cancelled", "excluded")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO epsync.deliveries (decision_id, target, state, want_revision, "
                    "published_revision, receipt, reason, last_error, total_attempts, "
                    "first_published_at, published_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (did, target, state, REV, REV if published else None, receipt, reason,
                     last_error, attempts, first_published_at, first_published_at))


def report(ep, *args, expect=0):
    r = ep.run(["report"] + list(args))
    assert r.returncode == expect, "report %s: exit %d\n%s%s" % (
        " ".join(args), r.returncode, r.stdout, r.stderr)
    return r


def report_json(ep, *args):
    return json.loads(report(ep, "--format", "json", *args).stdout)


def at(day, hour=10):
    """An instant on a CST calendar day."""
    return datetime.datetime.combine(day, datetime.time(hour), CST)


# --- a period relative to today: every category -------------------------------------

def recent_period():
    today = harness.today_cst()
    return today - datetime.timedelta(days=120), today


def seed_recent():
    """Decisions of the last 120 days covering every category; returns
    the expected category per (decision, target)."""
    e = env()
    if "recent" in e:
        return e["recent"]
    c = e["conn"]
    today = harness.today_cst()
    old = today - datetime.timedelta(days=70)     # far past any 7- or 20-working-day deadline
    new = today                                    # due in the future
    exp = {}

    def d(did, decided, city, province, **kw):
        add_decision(c, did, decided, **kw)
        for target, spec in (("city", city), ("province", province)):
            if spec is None:
                continue
            cat, state = spec[0], spec[1]
            opts = spec[2] if len(spec) > 2 else {}
            add_delivery(c, did, target, state, **opts)
            exp[(did, target)] = cat

    d("R-ONTIME", old, ("published_on_time", "published", {"first_published_at": at(old, 11),
                                                             "receipt": "C-1", "attempts": 1}),
      ("published_late", "published", {"first_published_at": at(old + datetime.timedelta(days=30)),
                                       "receipt": "P-1", "attempts": 3}))
    d("R-UPDATE", old, ("published_on_time", "pending", {"first_published_at": at(old, 12)}),
      ("published_on_time", "retry", {"first_published_at": at(old, 13),
                                      "last_error": "busy"}))
    d("R-OVERDUE", old, ("overdue", "retry", {"last_error": "连接超时 (timeout after 5s)",
                                             "attempts": 17}),
      ("overdue", "pending", {}))
    d("R-NEW", new, ("pending", "pending", {}), ("retry", "retry", {"last_error": "HTTP 503",
                                                                     "attempts": 1}))
    d("R-REJECT", old, ("rejected", "rejected", {"last_error": "1001 证件号码格式错误: <id_no>, \"x\"",
                                                 "attempts": 1}),
      ("excluded", "excluded", {"reason": "kind not routed"}))
    d("R-INVALID", old, ("invalid", "invalid", {"reason": "party_credit_code: check digit"}),
      ("invalid", "invalid", {"reason": "party_credit_code: check digit"}),
      invalid_reasons=["party_credit_code: check digit"])
    d("R-GONE", old, ("withdrawn", "withdrawn", {"first_published_at": at(old, 9)}),
      ("withdraw_pending", "withdraw_pending", {"first_published_at": at(old, 9)}))
    d("R-CANCEL", new, ("cancelled", "cancelled", {}), ("excluded", "excluded",
                                                       {"reason": "confidential"}),
      exclude_reason=None)
    d("R-MISSING", old, ("published_on_time", "published", {"first_published_at": at(old, 15)}),
      ("published_on_time", "published", {"first_published_at": at(old, 16)}),
      missing_since=datetime.datetime.now(UTC) - datetime.timedelta(days=2))
    # No delivery rows yet: owed to both (city overdue), inspection is not
    # routed to the province target (excluded there).
    add_decision(c, "R-NOROWS", old, kind="inspection")
    exp[("R-NOROWS", "city")] = "overdue"
    exp[("R-NOROWS", "province")] = "excluded"
    # Outside the period: must not count.
    add_decision(c, "R-BEFORE", old - datetime.timedelta(days=200))
    add_delivery(c, "R-BEFORE", "city", "rejected", last_error="old")
    e["recent"] = exp
    return exp


def expected_counts(exp):
    counts = {t: {k: 0 for k in CATS} for t in ("city", "province")}
    for (did, target), cat in exp.items():
        counts[target][cat] += 1
    for t in counts:
        counts[t]["in_scope"] = sum(counts[t][k] for k in CATS)
    return counts


def test_every_category_is_counted_once_per_target():
    exp = seed_recent()
    frm, to = recent_period()
    j = report_json(env()["ep"], "--from", frm.isoformat(), "--to", to.isoformat())
    assert set(j) >= {"generated_at", "from", "to", "targets", "decisions"}
    assert j["from"] == frm.isoformat() and j["to"] == to.isoformat()
    got = {}
    for dec in j["decisions"]:
        assert set(dec) >= {"decision_id", "kind", "decided_on", "due_on", "targets"}
        for target, cell in dec["targets"].items():
            assert set(cell) >= {"state", "category", "published_at", "receipt", "attempts",
                                 "last_error"}
            got[(dec["decision_id"], target)] = cell["category"]
    assert got == exp
    counts = expected_counts(exp)
    for t in ("city", "province"):
        state_part = {k: j["targets"][t][k] for k in counts[t]}
        assert state_part == counts[t], (t, j["targets"][t], counts[t])
    # every state key is present even at zero, and the timeliness keys
    assert set(j["targets"]["city"]) == set(CATS) | {
        "in_scope", "display_name", "must_publish", "missed", "timeliness", "missed_by_cause",
        "excluded_by_reason"}
    by_id = {d["decision_id"]: d for d in j["decisions"]}
    city = by_id["R-OVERDUE"]["targets"]["city"]
    assert city["attempts"] == 17 and city["last_error"] == "连接超时 (timeout after 5s)"
    assert by_id["R-ONTIME"]["targets"]["city"]["receipt"] == "C-1"
    assert by_id["R-ONTIME"]["targets"]["city"]["published_at"].endswith("+08:00")
    assert by_id["R-NOROWS"]["targets"]["city"]["state"] is None


def test_json_agrees_with_sql_counts():
    seed_recent()
    e = env()
    frm, to = recent_period()
    j = report_json(e["ep"], "--from", frm.isoformat(), "--to", to.isoformat())
    rows = e["pg"].psql(
        "SELECT dl.target, dl.state, dl.first_published_at IS NOT NULL, count(*) "
        "FROM epsync.deliveries dl JOIN epsync.decisions d USING (decision_id) "
        "WHERE d.decided_on BETWEEN %s AND %s GROUP BY 1, 2, 3", dbname=e["db"],
        params=(frm, to))
    sql = {}
    for target, state, published, n in rows:
        sql.setdefault(target, {}).setdefault((state, published), 0)
        sql[target][(state, published)] += n
    n_decisions = e["pg"].psql("SELECT count(*) FROM epsync.decisions WHERE decided_on "
                               "BETWEEN %s AND %s", dbname=e["db"], params=(frm, to))[0][0]
    no_rows = e["pg"].psql(
        "SELECT count(*) FROM epsync.decisions d WHERE decided_on BETWEEN %s AND %s AND NOT "
        "EXISTS (SELECT 1 FROM epsync.deliveries dl WHERE dl.decision_id = d.decision_id "
        "AND dl.target = %s)", dbname=e["db"], params=(frm, to, "city"))[0][0]
    for t in ("city", "province"):
        s, r = sql[t], j["targets"][t]
        for state in ("rejected", "invalid", "cancelled", "withdrawn", "withdraw_pending"):
            assert r[state] == s.get((state, False), 0) + s.get((state, True), 0), (t, state)
        published = sum(n for (st, p), n in s.items()
                        if p and st in ("published", "pending", "retry"))
        assert r["published_on_time"] + r["published_late"] == published, t
        waiting = sum(n for (st, p), n in s.items() if not p and st in ("pending", "retry"))
        extra = no_rows if t == "city" else 0     # R-NOROWS is owed to city
        assert r["pending"] + r["retry"] + r["overdue"] == waiting + extra, t
        assert r["in_scope"] == n_decisions, t
        assert r["in_scope"] == sum(r[k] for k in CATS), t


def test_needs_a_human_list_has_deadline_reason_and_advice():
    seed_recent()
    frm, to = recent_period()
    j = report_json(env()["ep"], "--from", frm.isoformat(), "--to", to.isoformat())
    attn = {(a["decision_id"], a["target"], a["issue"]): a for a in j["needs_attention"]}
    assert set(attn) == {
        ("R-OVERDUE", "city", "overdue"), ("R-OVERDUE", "province", "overdue"),
        ("R-NOROWS", "city", "overdue"), ("R-REJECT", "city", "rejected"),
        ("R-INVALID", "city", "invalid"), ("R-INVALID", "province", "invalid"),
        ("R-MISSING", None, "missing_from_source"),
    }, sorted(map(str, attn))
    rej = attn[("R-REJECT", "city", "rejected")]
    assert rej["reason"] == "1001 证件号码格式错误: <id_no>, \"x\""
    assert "epsync retry R-REJECT" in rej["advice"]
    dec = {d["decision_id"]: d for d in j["decisions"]}
    assert rej["due_on"] == dec["R-REJECT"]["due_on"]
    assert attn[("R-INVALID", "city", "invalid")]["reason"] == "party_credit_code: check digit"
    assert attn[("R-OVERDUE", "city", "overdue")]["reason"] == "连接超时 (timeout after 5s)"
    assert attn[("R-MISSING", None, "missing_from_source")]["missing_since"]
    assert "epsync withdraw R-MISSING" in attn[("R-MISSING", None, "missing_from_source")]["advice"]
    assert j["thresholds"] == {"small_fine_person_yuan": 1000, "small_fine_org_yuan": 10000}


def text_summary(text, labels):
    """{category key: [numbers...]} from the text report's state summary."""
    out = {}
    start = text.index("当前状态") if "当前状态" in text else text.index("Current state")
    text = text[start:]
    for key, label in labels.items():
        m = re.search(r"^%s +([\d ]+)$" % re.escape(label), text, re.M)
        assert m, "no summary line for %s (%s) in:\n%s" % (key, label, text)
        out[key] = [int(x) for x in m.group(1).split()]
    return out


ZH = {"in_scope": "期间内决定", "published_on_time": "按时公示", "published_late": "超期公示",
      "pending": "待公示（未到期）", "retry": "重试中（未到期）", "overdue": "逾期待发送",
      "rejected": "平台拒收", "invalid": "校验未通过", "excluded": "不予公示",
      "cancelled": "已取消", "withdrawn": "已撤回", "withdraw_pending": "撤回中"}
EN = {"in_scope": "decisions in scope", "published_on_time": "published on time",
      "published_late": "published late", "pending": "pending, not yet due",
      "retry": "retrying, not yet due", "overdue": "overdue, not published",
      "rejected": "rejected by the platform", "invalid": "failed validation",
      "excluded": "excluded", "cancelled": "cancelled", "withdrawn": "withdrawn",
      "withdraw_pending": "withdrawal pending"}


def display_width(s):
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else
               0 if unicodedata.combining(ch) else 1 for ch in s)


def test_text_csv_html_numbers_agree_with_json():
    seed_recent()
    ep = env()["ep"]
    frm, to = recent_period()
    period = ["--from", frm.isoformat(), "--to", to.isoformat()]
    j = report_json(ep, *period)
    ts = j["targets"]
    for lang, labels in (("zh", ZH), ("en", EN)):
        text = report(ep, *period, "--lang", lang).stdout
        nums = text_summary(text, labels)
        for key, vals in nums.items():
            assert vals == [ts["city"][key], ts["province"][key]], (lang, key, vals)
        for line in text.splitlines():
            assert display_width(line) <= 100, "too wide: %r" % line
        # the needs-a-human list comes before the summary
        first = "需要人工处理" if lang == "zh" else "Needs a human"
        assert text.index(first) < text.index(labels["in_scope"])
        assert "R-REJECT" in text and "1001 证件号码格式错误" in text
    raw = subprocess.run([ep.binary, "-c", ep.config, "report", *period, "--format", "csv"],
                         capture_output=True).stdout
    assert raw.startswith(b"\xef\xbb\xbf")
    body = raw[3:].decode("utf-8")
    assert "\r\n" in body and "\n" not in body.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(body, newline="")))
    header, rows = rows[0], rows[1:]
    assert len(header) == 18
    csv_counts = {t: {k: 0 for k in CATS} for t in ("city", "province")}
    for r in rows:
        csv_counts[r[4]][r[6]] += 1
    for t in ("city", "province"):
        for k in CATS:
            assert csv_counts[t][k] == ts[t][k], (t, k)
    assert len(rows) == ts["city"]["in_scope"] + ts["province"]["in_scope"]
    rej = [r for r in rows if r[0] == "R-REJECT" and r[4] == "city"][0]
    assert rej[11] == "1001 证件号码格式错误: <id_no>, \"x\""
    html = report(ep, *period, "--format", "html").stdout
    state_table = html[html.index('id="summary"'):]
    for key in ["in_scope"] + CATS:
        m = re.search(r'<tr data-key="%s"[^>]*>.*?</tr>' % key, state_table)
        assert m, key
        vals = [int(x) for x in re.findall(r'<td class="n">(\d+)</td>', m.group(0))]
        assert vals == [ts["city"][key], ts["province"][key]], (key, vals)
    assert html.count('<tr data-issue=') == len(j["needs_attention"])
    assert "1001 证件号码格式错误: &lt;id_no&gt;, &quot;x&quot;" in html
    weekly = j["weekly"]
    bars = re.findall(r'<rect class="published" data-week="([^"]+)" data-value="(\d+)"', html)
    assert {w: int(v) for w, v in bars} == {w["week"]: w["published"]
                                             for w in weekly[-len(bars):]}


def test_target_filter_reports_one_target():
    seed_recent()
    frm, to = recent_period()
    j = report_json(env()["ep"], "--from", frm.isoformat(), "--to", to.isoformat(),
                    "--target", "province")
    assert list(j["targets"]) == ["province"]
    assert all(list(d["targets"]) == ["province"] for d in j["decisions"])


# --- deadlines over the National Day holiday ---------------------------------------

def test_deadline_across_public_holiday_and_makeup_working_day():
    e = env("fixed")
    c = e["conn"]
    day = datetime.date(2026, 9, 30)
    # Penalty, N = 7: 1-7 October are holidays, Saturday 10 October is a
    # working day: due Thursday 2026-10-15.  One second before midnight CST
    # on the 15th is on time, midnight is late.
    add_decision(c, "H-PENALTY", day)
    add_delivery(c, "H-PENALTY", "city", "published",
                 first_published_at=datetime.datetime(2026, 10, 15, 15, 59, 59, tzinfo=UTC))
    add_delivery(c, "H-PENALTY", "province", "published",
                 first_published_at=datetime.datetime(2026, 10, 15, 16, 0, 0, tzinfo=UTC))
    # Licence, N = 3 here: due on the make-up Saturday 2026-10-10.
    add_decision(c, "H-LICENSE", day, kind="license")
    add_delivery(c, "H-LICENSE", "city", "published", first_published_at=at(
        datetime.date(2026, 10, 10), 17))
    add_delivery(c, "H-LICENSE", "province", "published", first_published_at=at(
        datetime.date(2026, 10, 12), 9))
    j = report_json(e["ep"], "--from", "2026-09-30", "--to", "2026-09-30")
    dec = {d["decision_id"]: d for d in j["decisions"]}
    assert set(dec) == {"H-PENALTY", "H-LICENSE"}
    assert dec["H-PENALTY"]["due_on"] == "2026-10-15"
    assert dec["H-PENALTY"]["targets"]["city"]["category"] == "published_on_time"
    assert dec["H-PENALTY"]["targets"]["city"]["published_at"] == "2026-10-15T23:59:59+08:00"
    assert dec["H-PENALTY"]["targets"]["province"]["category"] == "published_late"
    assert dec["H-LICENSE"]["due_on"] == "2026-10-10"
    assert dec["H-LICENSE"]["targets"]["city"]["category"] == "published_on_time"
    assert dec["H-LICENSE"]["targets"]["province"]["category"] == "published_late"
    assert j["warnings"] == []         # 2026 is in the shipped calendar


def test_overdue_is_not_late_and_late_is_not_overdue():
    e = env("fixed")
    c = e["conn"]
    day = datetime.date(2026, 3, 2)                # Monday; N = 7: due 2026-03-11
    add_decision(c, "L-1", day)
    add_delivery(c, "L-1", "city", "published", first_published_at=at(datetime.date(2026, 3, 12)))
    add_delivery(c, "L-1", "province", "retry", last_error="HTTP 502", attempts=40)
    j = report_json(e["ep"], "--from", "2026-03-02", "--to", "2026-03-02")
    (d,) = j["decisions"]
    assert d["due_on"] == "2026-03-11"
    assert d["targets"]["city"]["category"] == "published_late"
    today = harness.today_cst()
    want = "overdue" if today > datetime.date(2026, 3, 11) else "retry"
    assert d["targets"]["province"]["category"] == want
    issues = {(a["target"], a["issue"]) for a in j["needs_attention"]}
    assert ("city", "overdue") not in issues   # late is history, not a to-do
    if want == "overdue":
        assert ("province", "overdue") in issues
    # the chart counts both as missed deadlines in the week they fell due
    week = {w["week"]: w for w in j["weekly"]}["2026-W11"]
    assert week["overdue"] == (2 if want == "overdue" else 1)
    assert week["published"] == 1                # the city publication of 12 March


def test_uncovered_calendar_year_is_warned():
    e = env("fixed")
    add_decision(e["conn"], "Y-2031", datetime.date(2031, 5, 6))
    j = report_json(e["ep"], "--from", "2031-01-01", "--to", "2031-12-31")
    assert any("2031" in w for w in j["warnings"]), j["warnings"]
    text = report(e["ep"], "--from", "2031-01-01", "--to", "2031-12-31").stdout
    assert "2031" in text and "日历" in text


# --- the command line ------------------------------------------------------------------

def test_usage_errors_exit_64():
    ep = env()["ep"]
    for args in (["--from", "2026-02-30"], ["--to", "yesterday"], ["--format", "xml"],
                 ["--target", "nowhere"], ["--lang", "fr"],
                 ["--from", "2026-05-01", "--to", "2026-04-01"], ["stray"], ["--bogus"]):
        r = ep.run(["report"] + args)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
        assert r.stderr.strip(), args


def test_default_period_is_this_year_in_cst():
    j = report_json(env()["ep"])
    today = harness.today_cst()
    assert j["from"] == "%04d-01-01" % today.year
    assert j["to"] == today.isoformat()


def test_output_file_is_written_whole():
    e = env()
    out = os.path.join(e["tmp"], "report.html")
    r = report(e["ep"], "--format", "html", "--from", "2026-01-01", "--to", "2026-12-31",
               "-o", out)
    assert r.stdout == ""
    with open(out, encoding="utf-8") as f:
        html = f.read()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert not [n for n in os.listdir(e["tmp"]) if n.startswith(".report.html.")]
    r = e["ep"].run(["report", "-o", os.path.join(e["tmp"], "no", "such", "dir.txt")])
    assert r.returncode == 1 and "cannot write" in r.stderr


def test_missing_schema_exits_69():
    pg = harness.shared_cluster()
    tmp = harness.make_tmpdir()
    dbname = pg.createdb(harness.fresh_dbname("empty"))
    cfg = harness.write_config(tmp, pg, [Target("city", tmp)], dbname=dbname)
    r = harness.Epsync(config=cfg).run(["report"])
    assert r.returncode == 69, (r.returncode, r.stderr)
    assert "epsync migrate" in r.stderr


# --- HTML in a browser -------------------------------------------------------------------

def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise harness.Skip("chromium not installed")


def test_html_renders_in_headless_chromium():
    browser = chromium()
    e = env()
    seed_recent()
    frm, to = recent_period()
    out = os.path.join(e["tmp"], "status.html")
    report(e["ep"], "--format", "html", "--from", frm.isoformat(), "--to", to.isoformat(),
           "-o", out)
    os.chmod(e["tmp"], 0o755)
    os.chmod(out, 0o644)
    profile = harness.make_tmpdir("epsync-chromium-")
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"]
    url = "file://" + out
    r = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.search(r'<svg[^>]*id="weekly-chart"', r.stdout), r.stdout[:2000]
    assert 'data-key="overdue"' in r.stdout
    console = [l for l in r.stderr.splitlines()
               if "CONSOLE" in l or "Uncaught" in l or "ERR_FILE_NOT_FOUND" in l]
    assert not console, console
    png = os.path.join(e["tmp"], "status.png")
    r = subprocess.run(base + ["--screenshot=" + png, "--window-size=1240,1754", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(png) > 10000


# --- scale ------------------------------------------------------------------------------

def test_100k_decisions_are_reported_completely():
    pg, dbname, ep, tmp = setup_state()
    with pg.connect(dbname).cursor() as cur:
        cur.execute("""
            INSERT INTO epsync.decisions (decision_id, kind, decided_on, src_state, revision, fields)
            SELECT 'S-' || lpad(i::text, 6, '0'), CASE WHEN i % 5 = 0 THEN 'license' ELSE 'penalty' END,
                   DATE '2026-01-02' + (i % 300), 'final', repeat('a', 64), '{}'::jsonb
            FROM generate_series(1, 100000) i;
            INSERT INTO epsync.deliveries (decision_id, target, state, want_revision, receipt,
                   last_error, total_attempts, first_published_at)
            SELECT d.decision_id, t.target,
                   (ARRAY['published','published','published','retry','rejected'])[1 + abs(hashtext(d.decision_id || t.target)) % 5],
                   repeat('a', 64), 'R' || d.decision_id, NULL, 1,
                   d.decided_on + interval '3 days'
            FROM epsync.decisions d CROSS JOIN (VALUES ('city'), ('province')) t(target);
            UPDATE epsync.deliveries SET first_published_at = NULL, last_error = '平台繁忙，请稍后重试'
            WHERE state <> 'published';
        """)
        # What autovacuum does to a live database: hint bits, statistics.
        cur.execute("VACUUM ANALYZE epsync.decisions")
        cur.execute("VACUUM ANALYZE epsync.deliveries")
    # Speed is measured by bench/run, never asserted here: this test checks
    # that every format handles 100,000 decisions completely.
    for fmt in ("json", "csv", "text", "html"):
        r = ep.run(["report", "--format", fmt, "--from", "2026-01-01", "--to", "2026-12-31",
                    "-o", os.path.join(tmp, "big." + fmt)])
        assert r.returncode == 0, r.stderr
    with open(os.path.join(tmp, "big.json"), encoding="utf-8") as f:
        j = json.load(f)
    assert len(j["decisions"]) == 100000
    total = pg.psql("SELECT target, count(*) FROM epsync.deliveries GROUP BY 1", dbname=dbname)
    for target, n in total:
        assert j["targets"][target]["in_scope"] == n
    states = dict(((t, s), n) for t, s, n in pg.psql(
        "SELECT target, state, count(*) FROM epsync.deliveries GROUP BY 1, 2", dbname=dbname))
    for t in ("city", "province"):
        assert j["targets"][t]["rejected"] == states.get((t, "rejected"), 0)
        assert (j["targets"][t]["published_on_time"] + j["targets"][t]["published_late"]
                == states.get((t, "published"), 0))


def teardown_module():
    for e in _envs.values():
        e["conn"].close()
    _envs.clear()
