# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chattr module end to end on real temporary paths, with the flags
ioctl replaced by a fake (no inode flag is set on this machine)."""

import errno
import os

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _flags
from ansible_collections.immutable.audit.plugins.modules import chattr

A, I, E = (_flags.BY_LETTER[c].mask for c in "aie")


class FakeIO(object):
    """Flags per real path (every inode starts with `e`, like ext4), ext4's
    `i` rule, and optional errors for chosen paths."""

    flags = {}
    errors = {}
    mounts = "22 1 254:0 / / rw - ext4 /dev/vda rw\n"

    def open(self, path):
        return path

    def close(self, fd):
        pass

    def get(self, fd):
        return self.flags.get(fd, E)

    def set(self, fd, value):
        old = self.get(fd)
        if old & I and value & I and old ^ value:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))
        if fd in self.errors:
            raise OSError(self.errors[fd], os.strerror(self.errors[fd]))
        self.flags[fd] = value

    def mountinfo(self):
        return self.mounts


@pytest.fixture
def run(monkeypatch, module_runner):
    """run(args, check=False, diff=False) -> (exception type, its kwargs);
    run.warnings: what the module warned in the last call."""
    monkeypatch.setattr(FakeIO, "flags", {})
    monkeypatch.setattr(FakeIO, "errors", {})
    monkeypatch.setattr(chattr, "FlagsIO", FakeIO)

    def call(args, check=False, diff=False):
        return module_runner.run(chattr.main, args, check=check, diff=diff)
    call.warnings = module_runner.warnings
    return call


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "f").write_text("x")
    (tmp_path / "d" / "sub" / "g").write_text("x")
    (tmp_path / "d" / "link").symlink_to(tmp_path / "d" / "f")
    # a fake auditd.conf whose log lives elsewhere, so the guard stays quiet
    (tmp_path / "auditd.conf").write_text("log_file = %s/log/audit.log\n" % tmp_path)
    return tmp_path


def _args(tree, **kw):
    args = dict(path=[str(tree / "d")], flags=["a"], recurse=True, auditd_conf=str(tree / "auditd.conf"))
    args.update(kw)
    return args


def test_check_apply_again_check(run, tree):
    d = str(tree / "d")
    kind, res = run(_args(tree), check=True, diff=True)
    assert kind == "exit" and res["changed"] is True
    assert FakeIO.flags == {}
    assert (res["examined"], res["changed_count"], res["skipped_count"]) == (4, 4, 1)
    assert [r["path"] for r in res["results"]] == [d, d + "/f", d + "/sub", d + "/sub/g"]
    assert res["results"][0] == dict(path=d, before="--------------e-------", after="-----a--------e-------", changed=True)
    assert res["diff"]["before"].splitlines()[0] == "--------------e------- " + d
    assert res["diff"]["after"].splitlines()[3] == "-----a--------e------- " + d + "/sub/g"

    kind, res = run(_args(tree), diff=True)
    assert res["changed"] is True and res["changed_count"] == 4
    assert set(FakeIO.flags.values()) == {E | A} and len(FakeIO.flags) == 4

    for check in (False, True):
        kind, res = run(_args(tree), check=check, diff=True)
        assert kind == "exit" and res["changed"] is False
        assert res["examined"] == 4 and res["changed_count"] == 0
        # unchanged walked files are only counted; the named path is always listed
        assert res["results"] == [dict(path=d, before="-----a--------e-------", after="-----a--------e-------", changed=False)]
        assert res["diff"] == dict(before="", after="")


def test_remove_and_immutable_ordering(run, tree):
    f = str(tree / "d" / "f")
    FakeIO.flags[f] = E | I
    kind, res = run(_args(tree, path=[f], recurse=False))
    assert kind == "exit" and FakeIO.flags[f] == E | I | A
    kind, res = run(_args(tree, path=[f], recurse=False, flags=["i", "append_only"], state="absent"))
    assert FakeIO.flags[f] == E and res["changed"] is True


def test_symlink_without_follow_fails_with_follow_changes_target(run, tree):
    link = str(tree / "d" / "link")
    kind, res = run(_args(tree, path=[link], recurse=False))
    assert kind == "fail"
    assert "%s is a symlink" % link in res["msg"] and "follow=true" in res["msg"]
    assert FakeIO.flags == {} and res["changed"] is False
    kind, res = run(_args(tree, path=[link], recurse=False, follow=True))
    assert FakeIO.flags == {str(tree / "d" / "f"): E | A}
    assert res["results"][0]["path"] == link


def test_missing_path_fails_before_anything_changes(run, tree):
    kind, res = run(_args(tree, path=[str(tree / "d"), str(tree / "nope")]))
    assert kind == "fail"
    assert res["msg"].startswith("%s does not exist" % (tree / "nope"))
    assert FakeIO.flags == {} and res["examined"] == 0


@pytest.fixture
def audit_logs(tree):
    logs = tree / "log"
    logs.mkdir()
    for name in ("audit.log", "audit.log.1", "audit.log.9", "other.log"):
        (logs / name).write_text("")
    (tree / "auditd.conf").write_text("# test\nlog_file = %s/audit.log\nnum_logs = 2\n" % logs)
    return logs


@pytest.mark.parametrize("name, recurse, flag", [
    ("audit.log", False, "a"),
    ("audit.log.9", False, "immutable"),
    ("", False, "a"),
    ("", True, "i"),
])
def test_guard_refuses_audit_log_and_chain(run, tree, audit_logs, name, recurse, flag):
    path = str(audit_logs / name) if name else str(audit_logs)
    kind, res = run(_args(tree, path=[path], recurse=recurse, flags=[flag]), check=True)
    assert kind == "fail"
    msg = res["msg"]
    assert msg.startswith("refusing to add ")
    assert path in msg
    for words in ("events are lost", "refuses to start", "moved out of the rotation chain",
                  "immutable.audit.audit_seal", "allow_audit_log=true", str(tree / "auditd.conf")):
        assert words in msg
    assert FakeIO.flags == {} and res["examined"] == 0


def test_guard_refuses_a_hard_link_to_the_log(run, tree, audit_logs):
    os.link(str(audit_logs / "audit.log"), str(tree / "d" / "sub" / "hardlink"))
    kind, res = run(_args(tree))
    assert kind == "fail"
    assert res["msg"].startswith("refusing to add a (append_only) to %s:" % (tree / "d" / "sub" / "hardlink"))
    assert FakeIO.flags == {}


def test_guard_allows_other_files_removal_and_override(run, tree, audit_logs):
    other = str(audit_logs / "other.log")
    log = str(audit_logs / "audit.log")
    assert run(_args(tree, path=[other], recurse=False))[0] == "exit"
    # d (no_dump) does not stop auditd; only a and i are guarded
    assert run(_args(tree, path=[log], recurse=False, flags=["d"]))[0] == "exit"
    FakeIO.flags[log] = E | A
    assert run(_args(tree, path=[log], recurse=False, state="absent"))[0] == "exit"
    assert FakeIO.flags[log] == E
    kind, res = run(_args(tree, path=[log], recurse=False, allow_audit_log=True))
    assert kind == "exit" and FakeIO.flags[log] == E | A


@pytest.mark.skipif(not os.path.isdir("/var/log/audit"), reason="needs auditd's default log directory")
def test_guard_uses_auditd_defaults_when_conf_missing(run, tree):
    # Check mode and the fake ioctl: /var/log/audit is only lstat()ed.
    args = _args(tree, path=["/var/log/audit"], recurse=False, auditd_conf=str(tree / "absent.conf"))
    kind, res = run(args, check=True)
    assert kind == "fail" and res["msg"].startswith("refusing to add a (append_only) to /var/log/audit:")


def test_failure_midway_reports_what_changed(run, tree):
    FakeIO.errors[str(tree / "d" / "sub")] = errno.EOPNOTSUPP
    kind, res = run(_args(tree))
    assert kind == "fail"
    assert "cannot set flag a (append_only) on %s: Operation not supported" % (tree / "d" / "sub") in res["msg"]
    assert "on ext4 mounted at /" in res["msg"]
    assert "2 path(s) had already been changed" in res["msg"]
    assert [r["path"] for r in res["results"]] == [str(tree / "d"), str(tree / "d" / "f")]
    assert res["changed"] is True


def test_overlay_warning(run, tree, monkeypatch):
    monkeypatch.setattr(FakeIO, "mounts", FakeIO.mounts + "40 22 0:40 / %s rw - overlay overlay rw\n" % (tree / "d" / "sub"))
    kind = run(_args(tree))[0]
    assert kind == "exit"
    assert len(run.warnings) == 1 and run.warnings[0].startswith("%s is overlayfs" % (tree / "d" / "sub"))
    # without recurse the overlay below is not reached
    run(_args(tree, recurse=False))
    assert run.warnings == []


def test_bad_flag_is_one_clear_failure(run, tree):
    kind, res = run(_args(tree, flags=["ai"]))
    assert kind == "fail" and res["msg"].startswith("unknown flag 'ai'")
