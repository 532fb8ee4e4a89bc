"""systemd/epsync.service: it passes `systemd-analyze verify` and carries the
directives docs/operations.md relies on.

Run: python3 tests/lib/runner.py tests/integration/test_systemd.py
(or directly: python3 tests/integration/test_systemd.py).

`systemd-analyze verify` refuses a unit whose ExecStart binary does not
exist, and /usr/local/bin/epsync exists only after `meson install`.  The test
therefore verifies a copy of the unit in a temporary directory with
ExecStart pointed at the built binary ($EPSYNC_BIN) or, without one, at
/bin/true; every other line is verified exactly as shipped.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "systemd", "epsync.service")
SHIPPED_BIN = "/usr/local/bin/epsync"


sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
try:        # runner.py reports harness.Skip as a skip
    from harness import Skip
except ImportError:
    Skip = unittest.SkipTest


def skip(why):
    raise Skip(why)


def unit_text():
    with open(UNIT, encoding="utf-8") as f:
        return f.read()


def directives(text):
    """[(section, key, value)] in file order; comments and blanks dropped."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, "not a key=value line: %r" % line
        out.append((section, key.strip(), value.strip()))
    return out


def values(text, key, section="Service"):
    return [v for s, k, v in directives(text) if s == section and k == key]


def one(text, key, section="Service"):
    vs = values(text, key, section)
    assert len(vs) == 1, "%s= appears %d times in [%s], expected once" % (key, len(vs), section)
    return vs[0]


def test_binary_for_verify():
    """ExecStart is the only line changed for verification."""
    text = unit_text()
    exec_start = one(text, "ExecStart")
    assert exec_start.startswith(SHIPPED_BIN + " "), exec_start
    copy = _verify_copy(text, "/bin/true")
    changed = [(a, b) for a, b in zip(text.splitlines(), copy.splitlines()) if a != b]
    assert len(changed) == 1 and changed[0][0].startswith("ExecStart="), changed


def _verify_copy(text, binary):
    return re.sub(r"(?m)^ExecStart=" + re.escape(SHIPPED_BIN) + r"\b",
                  "ExecStart=" + binary, text)


# Lines systemd-analyze may print in a container or on a minimal system that
# say nothing about our unit.
BENIGN = (
    re.compile(r"Failed to .*(cgroup|bus|connect to|D-Bus)", re.I),
    re.compile(r"^Unit .* not found", re.I),
    re.compile(r"is not a (mount|swap|path|socket)", re.I),
)


def test_systemd_analyze_verify():
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        skip("systemd-analyze not installed (package systemd)")
    binary = os.environ.get("EPSYNC_BIN") or "/bin/true"
    assert os.access(binary, os.X_OK), "EPSYNC_BIN=%s is not executable" % binary
    with tempfile.TemporaryDirectory(prefix="epsync-unit-") as d:
        path = os.path.join(d, "epsync.service")
        with open(path, "w", encoding="utf-8") as f:
            f.write(_verify_copy(unit_text(), binary))
        # --man=no: Documentation= names man pages that exist only once
        # installed (scripts/package --check verifies them installed).
        r = subprocess.run([analyze, "verify", "--man=no", path], capture_output=True,
                           text=True, timeout=60, cwd=d)
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    about_unit = [l for l in lines if "epsync" in l and not any(b.search(l) for b in BENIGN)]
    assert not about_unit, "systemd-analyze verify complains:\n" + "\n".join(about_unit)
    assert r.returncode == 0, "systemd-analyze verify exited %d:\n%s" % (
        r.returncode, "\n".join(lines))


def test_verify_catches_mistakes():
    """The check above can fail: a misspelt key and a bad value are reported."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        skip("systemd-analyze not installed (package systemd)")
    broken = _verify_copy(unit_text(), "/bin/true").replace(
        "ProtectSystem=strict", "ProtectSystem=strickt\nWatchdogSecs=30s")
    with tempfile.TemporaryDirectory(prefix="epsync-unit-") as d:
        path = os.path.join(d, "epsync.service")
        with open(path, "w", encoding="utf-8") as f:
            f.write(broken)
        r = subprocess.run([analyze, "verify", path], capture_output=True, text=True,
                           timeout=60, cwd=d)
    out = r.stdout + r.stderr
    assert "WatchdogSecs" in out and "protect system" in out.lower(), out


def test_security_exposure_is_low():
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        skip("systemd-analyze not installed (package systemd)")
    with tempfile.TemporaryDirectory(prefix="epsync-unit-") as d:
        path = os.path.join(d, "epsync.service")
        with open(path, "w", encoding="utf-8") as f:
            f.write(_verify_copy(unit_text(), "/bin/true"))
        r = subprocess.run([analyze, "security", "--offline=true", "--no-pager", path],
                           capture_output=True, text=True, timeout=60, cwd=d)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    if r.returncode != 0 and not m and "offline" in (r.stderr or ""):
        skip("systemd-analyze security --offline not supported here")
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 1.2, "exposure %s > 1.2" % m.group(1)


REQUIRED = {
    "Type": "notify",
    "NotifyAccess": "main",
    "ExecStart": SHIPPED_BIN + " -c /etc/epsync/epsync.yaml run",
    "ExecReload": "/bin/kill -HUP $MAINPID",
    "WatchdogSec": "30s",
    "Restart": "on-failure",
    "RestartSec": "5s",
    "RestartPreventExitStatus": "78",
    "TimeoutStopSec": "20s",
    # start-up waits for the state database: READY=1 comes once it answers
    "TimeoutStartSec": "infinity",
    "User": "epsync",
    "Group": "epsync",
    "Environment": "EPSYNC_CONFIG=/etc/epsync/epsync.yaml",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "NoNewPrivileges": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "SystemCallFilter": ["@system-service", "~@privileged @resources"],
    "PrivateMounts": "yes",
    "PrivateUsers": "yes",
    "ProcSubset": "pid",
    "LimitCORE": "0",
    "StateDirectory": "epsync",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "UMask": "0077",
}


def test_required_directives():
    text = unit_text()
    wrong = []
    for key, want in REQUIRED.items():
        got = values(text, key)
        want = want if isinstance(want, list) else [want]
        if got != want:
            wrong.append("%s: expected [%r], found %r" % (key, want, got))
    assert not wrong, "\n".join(wrong)


def test_secrets_come_from_credentials():
    text = unit_text()
    creds = dict(v.split(":", 1) for v in values(text, "LoadCredential"))
    assert creds == {
        "city-secret": "/etc/epsync/credentials/city-secret",
        "province-secret": "/etc/epsync/credentials/province-secret",
        "anchor-key": "/etc/epsync/credentials/anchor-key",
    }, creds
    # No secret may travel in the environment (visible in /proc, systemctl show).
    for v in values(text, "Environment"):
        assert not re.search(r"secret|password|token", v, re.I), v


def test_installs_into_multi_user_target():
    text = unit_text()
    assert one(text, "WantedBy", "Install") == "multi-user.target"
    assert "network-online.target" in " ".join(values(text, "After", "Unit"))


def test_config_example_names_the_credentials():
    """conf/epsync.yaml, when written, must read the secrets LoadCredential
    provides, or the service cannot start."""
    conf = os.path.join(ROOT, "conf", "epsync.yaml")
    with open(conf, encoding="utf-8") as f:
        text = f.read()
    if not text.strip():
        skip("conf/epsync.yaml is still empty")
    for name in ("city-secret", "province-secret", "anchor-key"):
        assert re.search(r"(/run/credentials/epsync\.service|\$\{?CREDENTIALS_DIRECTORY\}?)/"
                         + name, text), name


if __name__ == "__main__":
    failed = 0
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
                print("ok   " + name)
            except Skip as e:
                print("skip " + name + ": " + str(e))
            except Exception as e:  # noqa: BLE001 - report every failure
                failed += 1
                print("FAIL " + name + ": " + repr(e))
    sys.exit(1 if failed else 0)
