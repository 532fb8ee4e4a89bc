"""The command line as an operator meets it first: --help of every command
without a configuration, a missing configuration file, check-config's
options, the calendar and tabs it checks, --no-secrets, and the example
configuration's routing as README states it.

None of these needs PostgreSQL or a platform: the commands stop before
connecting anywhere (or are asked only to check)."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

COMMANDS = ["run", "once", "migrate", "check-config", "report", "show", "retry", "withdraw",
            "verify-audit", "status"]


def epsync(args, env_extra=None, config=None):
    """Run the binary with a clean $EPSYNC_CONFIG (unset unless given)."""
    env = {k: v for k, v in os.environ.items() if k not in ("EPSYNC_CONFIG", "NOTIFY_SOCKET")}
    env.update(env_extra or {})
    cmd = [h.require_epsync()] + (["-c", config] if config else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd="/")


def private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def a_config(tmp, calendar=None, extra="", secret=True, indent="  "):
    """A small valid configuration (its database is never contacted)."""
    secret_path = os.path.join(tmp, "city-secret")
    if secret:
        private(secret_path, "s3cret\n")
    cal = calendar or os.path.join(h.REPO, "conf", "holidays.yaml")
    text = ("database:\n{i}source: \"host=/nonexistent dbname=cases\"\n"
            "calendar: {cal}\n{extra}"
            "targets:\n{i}city:\n{i}{i}protocol: city\n{i}{i}base_url: https://city.example\n"
            "{i}{i}client_id: sjz\n{i}{i}client_secret_file: {sec}\n").format(
                i=indent, cal=cal, extra=extra, sec=secret_path)
    return private(os.path.join(tmp, "epsync.yaml"), text)


def test_every_command_prints_its_help_without_a_configuration():
    tmp = h.make_tmpdir()
    missing = os.path.join(tmp, "nowhere.yaml")
    r = epsync(["--help"], {"EPSYNC_CONFIG": missing})
    assert r.returncode == 0, r.stderr
    listed = re.findall(r"(?m)^  ([a-z][a-z-]+) ", r.stdout)
    assert listed == COMMANDS, listed
    for cmd in COMMANDS:
        for flag in ("--help", "-h"):
            r = epsync([cmd, flag], {"EPSYNC_CONFIG": missing})
            assert r.returncode == 0, (cmd, flag, r.returncode, r.stderr)
            assert r.stdout.startswith("usage: epsync [-c FILE] %s" % cmd), (cmd, r.stdout)
            assert r.stderr == "", (cmd, r.stderr)
        # After other arguments too, and with -c naming a file that is not there.
        r = epsync(["-c", missing, cmd, "SJZSJ-1", "--help"])
        assert r.returncode == 0 and r.stdout.startswith("usage: epsync [-c FILE] " + cmd), r
    r = epsync(["report", "--format", "csv", "-h"], {"EPSYNC_CONFIG": missing})
    assert r.returncode == 0 and "--from YYYY-MM-DD" in r.stdout, r.stdout
    r = epsync(["check-config", "--help"], {"EPSYNC_CONFIG": missing})
    assert "--no-secrets" in r.stdout, r.stdout


def test_help_is_not_taken_from_an_option_value_or_after_double_dash():
    tmp = h.make_tmpdir()
    missing = os.path.join(tmp, "nowhere.yaml")
    # "-h" is the reason's text here: the command runs (and needs its file).
    r = epsync(["withdraw", "SJZSJ-1", "--reason", "-h"], {"EPSYNC_CONFIG": missing})
    assert r.returncode == 78, (r.returncode, r.stdout, r.stderr)
    r = epsync(["show", "--", "-h"], {"EPSYNC_CONFIG": missing})
    assert r.returncode == 78, (r.returncode, r.stdout, r.stderr)


def test_a_missing_configuration_says_how_to_create_one():
    tmp = h.make_tmpdir()
    missing = os.path.join(tmp, "nowhere.yaml")
    for how, args, env in (("-c", ["-c", missing], {}),
                           ("$EPSYNC_CONFIG", [], {"EPSYNC_CONFIG": missing})):
        for cmd in (["report"], ["check-config"], ["run"], ["show", "X"]):
            r = epsync(args + cmd, env)
            assert r.returncode == 78, (how, cmd, r.returncode, r.stderr)
            err = r.stderr
            assert missing in err and "does not exist" in err, err
            assert "(%s)" % how in err, err            # where the path came from
            assert "epsync.yaml.example" in err and "install -m 600" in err, err
            assert "-c FILE" in err and "$EPSYNC_CONFIG" in err, err
            assert "No such file or directory" not in err, err


def test_check_config_refuses_unknown_options_and_arguments():
    tmp = h.make_tmpdir()
    cfg = a_config(tmp)
    assert epsync(["check-config"], config=cfg).returncode == 0
    for args in (["check-config", "--bogus"], ["check-config", "extra"],
                 ["check-config", "--no-secrets", "-x"], ["run", "--bogus"], ["once", "now"],
                 ["migrate", "--force"], ["verify-audit", "all"]):
        r = epsync(args, config=cfg)
        assert r.returncode == 64, (args, r.returncode, r.stdout, r.stderr)
        assert "unexpected argument" in r.stderr and args[0] + " --help" in r.stderr, r.stderr
        assert r.stdout == "", r.stdout


def test_check_config_checks_the_calendar():
    tmp = h.make_tmpdir()
    missing = os.path.join(tmp, "holidays-missing.yaml")
    cfg = a_config(tmp, calendar=missing)
    r = epsync(["check-config"], config=cfg)
    assert r.returncode == 78, (r.returncode, r.stdout)
    assert "%s:3:11: calendar: %s: No such file or directory" % (cfg, missing) in r.stderr, \
        r.stderr
    bad = private(os.path.join(tmp, "holidays-bad.yaml"),
                  "2026:\n  holidays: [2026-01-01]\n  workdays: [2026-02-30]\n")
    cfg = a_config(tmp, calendar=bad)
    r = epsync(["check-config", "--no-secrets"], config=cfg)
    assert r.returncode == 78, (r.returncode, r.stdout)
    assert re.search(r"^%s:3:11: calendar: %s:3:\d+: " % (re.escape(cfg), re.escape(bad)),
                     r.stderr), r.stderr
    good = a_config(tmp)
    r = epsync(["check-config"], config=good)
    assert r.returncode == 0, r.stderr


def test_a_tab_in_the_yaml_gets_advice_with_its_position():
    tmp = h.make_tmpdir()
    cfg = a_config(tmp, indent="\t")
    r = epsync(["check-config"], config=cfg)
    assert r.returncode == 78, (r.returncode, r.stdout)
    assert r.stderr.startswith(cfg + ":2:1: "), r.stderr
    assert "YAML does not allow tabs for indentation; use spaces" in r.stderr, r.stderr


def test_no_secrets_checks_everything_but_the_secrets():
    tmp = h.make_tmpdir()
    cfg = a_config(tmp, secret=False)        # the secret file is not there
    r = epsync(["check-config"], config=cfg)
    assert r.returncode == 78 and "city-secret" in r.stderr, (r.returncode, r.stderr)
    r = epsync(["check-config", "--no-secrets"], config=cfg)
    assert r.returncode == 0, r.stderr
    assert "secrets NOT checked (--no-secrets)" in r.stdout, r.stdout
    assert "city: file %s" % os.path.join(tmp, "city-secret") in r.stdout, r.stdout
    # Everything else is still checked.
    bad = a_config(tmp, secret=False, extra="poll: { intervall: 5s }\n")
    r = epsync(["check-config", "--no-secrets"], config=bad)
    assert r.returncode == 78 and "did you mean 'interval'" in r.stderr, r.stderr


def _readme():
    with open(os.path.join(h.REPO, "README.md"), encoding="utf-8") as f:
        return f.read()


def readme_routing():
    """{target: set of kinds} from README's "Routing" table."""
    text = _readme()
    start = text.index("**Routing.**")
    rows = re.findall(r"(?m)^\| (\w+) \| (.*?) \|$", text[start:start + 2000])
    out = {t: set(re.findall(r"`(\w+)`", kinds)) for t, kinds in rows if t != "target"}
    assert out, "README has no routing table after **Routing.**"
    return out


def printed_kinds(stdout):
    """{target: set of kinds} from check-config's output."""
    out, target = {}, None
    for line in stdout.splitlines():
        m = re.match(r"^  (\w+):$", line)
        if m:
            target = m.group(1)
        m = re.match(r"^    kinds: \[(.*)\]$", line)
        if m and target:
            out[target] = {k.strip() for k in m.group(1).split(",")}
    return out


def test_the_example_configuration_routes_what_readme_says():
    tmp = h.make_tmpdir()
    with open(os.path.join(h.REPO, "conf", "epsync.yaml"), encoding="utf-8") as f:
        text = f.read()
    text = text.replace("/etc/epsync/holidays.yaml", os.path.join(h.REPO, "conf", "holidays.yaml"))
    cfg = private(os.path.join(tmp, "epsync.yaml"), text)
    r = epsync(["check-config", "--no-secrets"], config=cfg)
    assert r.returncode == 0, r.stderr
    got, want = printed_kinds(r.stdout), readme_routing()
    assert want["city"] == set(h.ALL_KINDS), want          # the city takes every kind
    assert got == want, "example routes %s, README says %s" % (got, want)
