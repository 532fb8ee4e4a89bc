"""Who may read the report, and who did what.

A legal clerk runs `epsync report` under an unprivileged OS account (the harness's
PostgreSQL account when the tests run as root), with a
configuration of their own (mode 600, in their own directory) that names a
read-only database role and no platform secret at all.  The role here is
given exactly what docs/report.md says a clerk's role gets; with
them the report works and a write (`epsync retry`) is refused.

An operator action run through sudo is audited with the invoking person's
name, not the account it ran as.

systemd/epsync-report.service passes `systemd-analyze verify`, and its own
command writes last month's HTML and CSV.
"""

import datetime
import json
import os
import shutil
import pwd
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_report as base  # noqa: E402

ROLE = "legal_clerk"
# docs/report.md: the clerk's login role joins the group epsync_report, which
# `epsync migrate` (run by the test's set-up) created and granted SELECT to.
GRANTS = ["CREATE ROLE %s LOGIN IN ROLE epsync_report" % ROLE]


def clerk_config(pg, dbname, path):
    """The clerk's own configuration: the report role, no secrets."""
    conninfo = "host=%s port=%d dbname=%s user=%s" % (pg.sockdir, pg.port, dbname, ROLE)
    text = harness.to_yaml({
        "database": {"source": conninfo, "state": conninfo},
        "calendar": os.path.join(harness.REPO, "conf", "holidays.yaml"),
        "report": {"organisation": "石家庄市市场监督管理局"},
        "targets": {
            "city": {"protocol": "city", "base_url": "https://zfjd.example.gov.cn",
                     "client_id": "sjz-scjg", "display_name": "市行政执法监督信息平台"},
            "province": {"protocol": "province", "base_url": "https://zfgs.example.gov.cn",
                         "app_id": "130100-scjg", "kinds": ["penalty", "license"]},
        },
    }) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)


def as_clerk(args, home):
    """Run as the unprivileged account when we are root (else as ourselves)."""
    if os.geteuid() != 0:
        return subprocess.run(args, capture_output=True, text=True, timeout=120)
    user = harness._test_user()
    os.chown(home, user.pw_uid, user.pw_gid)
    for name in os.listdir(home):
        os.chown(os.path.join(home, name), user.pw_uid, user.pw_gid)
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": home}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=home,
                          user=user.pw_uid, group=user.pw_gid, extra_groups=[])


def test_a_clerk_without_root_or_secrets_runs_the_report():
    pg, dbname, ep, tmp = base.setup_state()
    conn = pg.connect(dbname)
    base.add_decision(conn, "A-1", harness.today_cst())
    base.add_delivery(conn, "A-1", "city", "pending")
    if not pg.psql("SELECT 1 FROM pg_roles WHERE rolname = %s", params=(ROLE,)):
        pg.psql(GRANTS[0])
    for sql in GRANTS[1:]:
        pg.psql(sql, dbname=dbname)
    home = harness.make_tmpdir("epsync-clerk-")
    os.chmod(home, 0o700)
    cfg = os.path.join(home, "report.yaml")
    clerk_config(pg, dbname, cfg)
    binary = ep.binary
    r = as_clerk([binary, "-c", cfg, "report", "--format", "json"], home)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["organisation"] == "石家庄市市场监督管理局"
    assert [d["decision_id"] for d in j["decisions"]] == ["A-1"]
    assert j["targets"]["city"]["display_name"] == "市行政执法监督信息平台"
    out = os.path.join(home, "monthly.html")
    r = as_clerk([binary, "-c", cfg, "report", "--format", "html", "-o", out], home)
    assert r.returncode == 0 and os.path.getsize(out) > 0, r.stderr
    if os.geteuid() == 0:
        assert pwd.getpwuid(os.stat(out).st_uid).pw_name == harness.TEST_USER
    # the role reads, it does not write
    r = as_clerk([binary, "-c", cfg, "retry", "A-1"], home)
    assert r.returncode != 0
    assert "permission denied" in r.stderr.lower(), r.stderr
    conn.close()


def test_retry_under_sudo_is_audited_with_the_invoking_person():
    pg, dbname, ep, tmp = base.setup_state()
    conn = pg.connect(dbname)
    base.add_decision(conn, "S-1", harness.today_cst())
    base.add_delivery(conn, "S-1", "city", "rejected", reason="1001 证件号码格式错误")
    base.add_decision(conn, "S-2", harness.today_cst())
    base.add_delivery(conn, "S-2", "city", "rejected", reason="1001 证件号码格式错误")
    me = pwd.getpwuid(os.getuid()).pw_name
    r = ep.run(["retry", "S-1"], env={"SUDO_USER": "zhang.san"})
    assert r.returncode == 0, r.stderr
    r = ep.run(["retry", "S-2"], env={"SUDO_USER": ""})
    assert r.returncode == 0, r.stderr
    actors = [a for (a,) in pg.psql("SELECT actor FROM epsync.audit WHERE operation = 'retry' "
                                    "ORDER BY seq", dbname=dbname)]
    assert actors == ["zhang.san (sudo as %s)" % me, me], actors
    assert ep.run(["verify-audit"]).returncode == 0
    conn.close()


def unit_exec_start(path):
    """The ExecStart= command of a unit file, continuation lines joined."""
    with open(path, encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    line = [l for l in text.splitlines() if l.startswith("ExecStart=")][0]
    return line[len("ExecStart="):]


def test_monthly_report_unit_writes_last_months_html_and_csv():
    unit = os.path.join(harness.REPO, "systemd", "epsync-report.service")
    timer = os.path.join(harness.REPO, "systemd", "epsync-report.timer")
    tmpdir = harness.make_tmpdir("epsync-unit-")
    if shutil.which("systemd-analyze"):
        # verify a copy whose binary exists here
        for src in (unit, timer):
            with open(src, encoding="utf-8") as f:
                text = f.read().replace("/usr/local/bin/epsync", "/bin/true")
            with open(os.path.join(tmpdir, os.path.basename(src)), "w") as f:
                f.write(text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                            os.path.join(tmpdir, "epsync-report.service"),
                            os.path.join(tmpdir, "epsync-report.timer")],
                           capture_output=True, text=True)
        bad = [l for l in r.stderr.splitlines()
               if "epsync-report" in l and "user" not in l.lower() and "group" not in l.lower()]
        assert not bad, r.stderr
    # the unit's own command, with this build's binary and a scratch directory
    pg, dbname, ep, tmp = base.setup_state()
    conn = pg.connect(dbname)
    first = harness.today_cst().replace(day=1)
    last_month = first - datetime.timedelta(days=1)
    base.add_decision(conn, "M-1", last_month)
    base.add_decision(conn, "M-2", first)          # this month: not in last month's report
    out = os.path.join(tmpdir, "legal")
    os.mkdir(out)
    cmd = unit_exec_start(unit).replace("/usr/local/bin/epsync", ep.binary)
    argv = cmd.split(None, 2)          # /bin/sh -ec 'script'
    script = argv[2].strip().strip("'").replace("%%", "%")
    env = dict(os.environ, TZ="Asia/Shanghai", EPSYNC_CONFIG=ep.config,
               EPSYNC_REPORT_DIR=out)
    env.pop("SUDO_USER", None)
    r = subprocess.run([argv[0], argv[1], script], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    month = last_month.strftime("%Y-%m")
    assert sorted(os.listdir(out)) == ["epsync-report-%s.csv" % month,
                                       "epsync-report-%s.html" % month]
    with open(os.path.join(out, "epsync-report-%s.csv" % month), encoding="utf-8-sig") as f:
        body = f.read()
    assert "M-1," in body and "M-2," not in body
    conn.close()
