"""Verify the chattr behaviour matrix on the guest's ext4 (AUDIT-SEMANTICS §7).

converge.yml set +a on /srv/sealed-test/append (recursively) and +i on the
files in /srv/sealed-test/frozen with immutable.audit.chattr. Each probe runs
one system call in the guest as root and prints OK or the errno name.
"""

import json
import time
import uuid

import pytest

ROOT = "/srv/sealed-test"
A_FILE = f"{ROOT}/append/app.log"
I_FILE = f"{ROOT}/frozen/release.tar"

PROBE = r"""
import errno, os, sys
op, path = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else None
try:
    if op == "append":
        with open(path, "a") as f:
            f.write(arg + "\n")
    elif op == "write":  # open for write without O_APPEND, no truncation
        os.close(os.open(path, os.O_WRONLY))
    elif op == "overwrite":
        with open(path, "w") as f:
            f.write(arg + "\n")
    elif op == "truncate":
        os.truncate(path, 0)
    elif op == "rename":
        os.rename(path, arg)
    elif op == "unlink":
        os.unlink(path)
    elif op == "rmdir":
        os.rmdir(path)
    elif op == "link":
        os.link(path, arg)
    elif op == "chmod":
        os.chmod(path, 0o600)
    elif op == "create":
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    elif op == "read":
        sys.stdout.write(open(path).read())
    else:
        sys.exit("unknown op " + op)
except OSError as e:
    print(errno.errorcode[e.errno])
    sys.exit(1)
print("OK")
"""


def probe(host, op, path, arg=None):
    args = [op, path] + ([arg] if arg is not None else [])
    cmd = host.run("python3 -c %s " + " ".join(["%s"] * len(args)), PROBE, *args)
    assert cmd.rc in (0, 1), cmd.stderr
    return cmd.stdout.strip().splitlines()[-1]


def flags(host, path):
    return host.check_output("lsattr -d %s", path).split()[0]


def test_tree_is_on_ext4(host):
    assert host.check_output("findmnt -no FSTYPE -T %s", ROOT) == "ext4"


@pytest.mark.parametrize("path", [
    f"{ROOT}/append", f"{ROOT}/append/sub", f"{ROOT}/append/empty",
    A_FILE, f"{ROOT}/append/other.log", f"{ROOT}/append/sub/nested.log",
])
def test_append_tree_flags(host, path):
    f = flags(host, path)
    assert len(f) == 22
    assert f[5] == "a"
    assert "i" not in f
    assert "e" in f  # only the one bit changed; extents kept


@pytest.mark.parametrize("path", [I_FILE, f"{ROOT}/frozen/SHA256SUMS"])
def test_immutable_file_flags(host, path):
    f = flags(host, path)
    assert f[4] == "i"
    assert "a" not in f
    assert "e" in f


def test_frozen_directory_itself_is_not_sealed(host):
    f = flags(host, f"{ROOT}/frozen")
    assert "i" not in f and "a" not in f


def test_append_only_file_allows_append(host):
    marker = "appended-" + uuid.uuid4().hex
    assert probe(host, "append", A_FILE, marker) == "OK"
    content = host.file(A_FILE).content_string.splitlines()
    assert content[0] == "first"
    assert content[-1] == marker


@pytest.mark.parametrize("op,arg", [
    ("write", None), ("overwrite", "clobbered"), ("truncate", None),
    ("rename", f"{A_FILE}.moved"), ("unlink", None),
    ("link", f"{ROOT}/hardlink"), ("chmod", None),
])
def test_append_only_file_refuses(host, op, arg):
    assert probe(host, op, A_FILE, arg) == "EPERM"
    assert host.file(A_FILE).exists
    assert host.file(A_FILE).content_string.startswith("first\n")
    assert not host.file(f"{A_FILE}.moved").exists
    assert not host.file(f"{ROOT}/hardlink").exists


@pytest.mark.parametrize("op,arg", [
    ("append", "appended"), ("write", None), ("overwrite", "clobbered"),
    ("truncate", None), ("rename", f"{I_FILE}.moved"), ("unlink", None),
    ("link", f"{ROOT}/hardlink"), ("chmod", None),
])
def test_immutable_file_refuses(host, op, arg):
    assert probe(host, op, I_FILE, arg) == "EPERM"
    assert host.file(I_FILE).content_string == "release\n"
    assert not host.file(f"{I_FILE}.moved").exists


def test_sealed_files_stay_readable(host):
    assert probe(host, "read", I_FILE) == "OK"
    assert probe(host, "read", f"{ROOT}/append/other.log") == "OK"


def test_append_only_directory_allows_create_refuses_unlink_and_rename(host):
    new = f"{ROOT}/append/new-{uuid.uuid4().hex}"
    assert probe(host, "create", new) == "OK"
    # A new entry does not inherit a (ext4 does not inherit a or i) ...
    assert "a" not in flags(host, new)
    # ... so writing to it is allowed; only the directory's entries are sealed.
    assert probe(host, "overwrite", new, "written") == "OK"
    assert host.file(new).content_string == "written\n"
    assert probe(host, "unlink", new) == "EPERM"
    assert probe(host, "rename", new, new + ".moved") == "EPERM"
    assert host.file(new).exists
    assert not host.file(new + ".moved").exists


def test_append_only_directory_refuses_rmdir_and_rename(host):
    assert probe(host, "rmdir", f"{ROOT}/append/empty") == "EPERM"
    assert probe(host, "rename", f"{ROOT}/append/sub", f"{ROOT}/moved-sub") == "EPERM"
    assert probe(host, "rename", f"{ROOT}/append", f"{ROOT}/moved-append") == "EPERM"
    assert host.file(f"{ROOT}/append/empty").is_directory
    assert host.file(f"{ROOT}/append/sub/nested.log").exists


def test_guard_refused_the_live_audit_log(host):
    guard = json.loads(host.file("/root/guard.json").content_string)
    assert guard["failed"] is True
    assert guard["changed"] is False
    assert "refusing to add" in guard["msg"]
    assert "/var/log/audit/audit.log" in guard["msg"]
    for path in ("/var/log/audit/audit.log", "/var/log/audit"):
        f = flags(host, path)
        assert "a" not in f and "i" not in f


def test_auditd_keeps_logging(host):
    assert host.check_output("systemctl is-active auditd") == "active"
    marker = "chattr-verify-" + uuid.uuid4().hex
    # '|| exit 3': testinfra takes exit status 255 for an SSH failure.
    host.run_expect([0], "auditctl -m %s || exit 3", marker)
    for _attempt in range(20):
        if host.run("grep -q %s /var/log/audit/audit.log", marker).rc == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"{marker} never reached /var/log/audit/audit.log")
    assert host.run("grep -c %s /var/log/audit/audit.log", marker).stdout.strip() == "1"
