"""The documentation stands on its own and agrees with the code.

* No file of the repository (outside .ci/) points at a document outside it.
* Every page of docs/ is linked from README.md, and every relative link in
  README.md and docs/ leads to a file that exists.
* The manual pages name every configuration key of src/config_keys.c's tables
  and every command of src/main.c's table; README names every command.
* `epsync --help` (when a binary is given in $EPSYNC_BIN) lists no command
  the manual page lacks.
* debian/changelog, NEWS.md and meson.build name the same version.

Run: python3 tests/lib/runner.py tests/integration/test_docs.py
"""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Documents that live outside the repository; spelled in pieces so that this
# file does not name them itself.
FORBIDDEN = ["../" + "shared", "SPEC" + ".md", "PROTOCOLS" + ".md", "DOMAIN" + ".md",
             "STYLE" + ".md", "SPEC" + " §"]


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def repo_files():
    """The files of the repository: git's list, else a walk of the tree."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True).stdout
        files = [f for f in out.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(ROOT):
            dirs[:] = [x for x in dirs if not x.startswith((".", "build", "dist"))]
            files += [os.path.relpath(os.path.join(d, n), ROOT) for n in names]
    return [f for f in files if not f.startswith(".ci/") and os.path.isfile(os.path.join(ROOT, f))]


def test_no_reference_outside_the_repository():
    found = []
    for rel in repo_files():
        with open(os.path.join(ROOT, rel), "rb") as f:
            data = f.read()
        for pat in FORBIDDEN:
            for lineno, line in enumerate(data.split(b"\n"), 1):
                if pat.encode() in line:
                    found.append("%s:%d: %s" % (rel, lineno, pat))
    assert not found, "references to documents outside the repository:\n" + "\n".join(found)


def test_every_docs_page_linked_from_readme():
    readme = read("README.md")
    pages = sorted(p for p in os.listdir(os.path.join(ROOT, "docs")) if p.endswith(".md"))
    assert pages, "docs/ has no page"
    missing = [p for p in pages if not re.search(r"\]\(docs/%s(#[^)]*)?\)" % re.escape(p), readme)]
    assert not missing, "docs pages not linked from README.md: %s" % missing


def test_relative_links_resolve():
    broken = []
    for rel in ["README.md", "NEWS.md"] + ["docs/" + p for p in os.listdir(os.path.join(ROOT, "docs"))
                                          if p.endswith(".md")]:
        if not os.path.exists(os.path.join(ROOT, rel)):
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", read(rel)):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(rel), target.split("#")[0]))
            if not os.path.exists(os.path.join(ROOT, path)):
                broken.append("%s -> %s" % (rel, target))
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def config_keys():
    """Every key name of the tables in src/config_keys.c: { "name", T_... }."""
    keys = set(re.findall(r'\{\s*"([a-z_]+)",\s*T_[A-Z_]+', read("src/config_keys.c")))
    assert len(keys) > 40, "cannot read the key tables of src/config_keys.c (%d keys)" % len(keys)
    return keys


def test_man_page_names_every_config_key():
    man = read("man/epsync.yaml.5.scd")
    missing = []
    for k in sorted(config_keys()):
        bold = r"\*(?:[\w.]+\.)?%s(?:\.[\w.]+)?\*" % re.escape(k)
        heading = r"(?m)^# %s$" % re.escape(k)
        if not re.search(bold, man) and not re.search(heading, man):
            missing.append(k)
    assert not missing, "keys of src/config_keys.c missing from epsync.yaml(5): %s" % missing


def commands():
    names = re.findall(r'\{\s*"([a-z-]+)",\s*"[^"]*",\s*"', read("src/main.c"))
    assert len(names) >= 8, "cannot read the command table of src/main.c"
    return names


def test_man_page_and_readme_name_every_command():
    man, readme = read("man/epsync.8.scd"), read("README.md")
    no_man = [c for c in commands() if "*%s*" % c not in man]
    no_readme = [c for c in commands() if not re.search(r"\b%s\b" % re.escape(c), readme)]
    assert not no_man, "commands missing from epsync(8): %s" % no_man
    assert not no_readme, "commands missing from README.md: %s" % no_readme


def test_man_page_names_every_exit_status():
    man = read("man/epsync.8.scd")
    for status in ("0", "1", "64", "69", "78"):
        assert "*%s*" % status in man, "exit status %s missing from epsync(8)" % status


def test_help_agrees_with_the_man_page():
    binary = os.environ.get("EPSYNC_BIN") or os.path.join(ROOT, "build", "epsync")
    if not os.access(binary, os.X_OK):
        import harness
        raise harness.Skip("no epsync binary (set EPSYNC_BIN)")
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30).stdout
    listed = re.findall(r"(?m)^  ([a-z][a-z-]+) ", out)
    assert set(listed) == set(commands()), (listed, commands())
    man = read("man/epsync.8.scd")
    assert all("*%s*" % c in man for c in listed)
    for opt in ("-c", "--help", "--version"):
        assert opt in out and "*%s*" % opt in man, opt


def test_package_version_is_the_build_version():
    """debian/changelog's newest entry, NEWS.md's newest release and
    meson.build's project version are one version."""
    meson = re.search(r"version\s*:\s*'([^']+)'", read("meson.build")).group(1)
    deb = re.match(r"epsync \(([^)]+)\)", read("debian/changelog")).group(1)
    news = re.search(r"(?m)^## (\S+)", read("NEWS.md")).group(1)
    assert deb.split("-")[0] == meson, "debian/changelog %s, meson.build %s" % (deb, meson)
    assert news == meson, "NEWS.md's newest release %s, meson.build %s" % (news, meson)
