# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""audit_seal end to end on a temporary log directory.

auditd is FakeAuditd from the module_utils tests (renames like auditd, in the
temporary directory); the module's signal_auditd is replaced by it, so no
signal reaches a process, and its SealIO keeps flags in a dict.
"""

import errno
import json
import os
import shutil
import tempfile

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _flags, _seal
from ansible_collections.immutable.audit.plugins.modules import audit_seal

from ansible_collections.immutable.audit.tests.unit.plugins.module_utils.test_seal import FakeAuditd, FakeFlags


@pytest.fixture
def env(tmp_path, monkeypatch, module_runner):
    auditd = FakeAuditd(tmp_path / "log")
    conf = tmp_path / "auditd.conf"
    conf.write_text("log_file = %s\nnum_logs = 5\n" % auditd.log)
    flags = FakeFlags()
    monkeypatch.setattr(audit_seal, "SealIO", lambda: _seal.SealIO(flags))
    monkeypatch.setattr(audit_seal, "signal_auditd", auditd.rotate)
    sealed_dir = str(tmp_path / "log" / "sealed")

    def call(check=False, diff=False, **args):
        args.setdefault("auditd_conf", str(conf))
        args.setdefault("sealed_dir", sealed_dir)
        return module_runner.run(audit_seal.main, args, check=check, diff=diff)
    call.auditd, call.flags, call.sealed_dir = auditd, flags, sealed_dir
    call.warnings, call.tmp_path = module_runner.warnings, tmp_path
    return call


def _fill(auditd):
    auditd.write(5)
    auditd.rotate()
    auditd.write(4)


def test_check_seal_again_check_then_verify(env):
    auditd = env.auditd
    _fill(auditd)
    signals = auditd.signals
    kind, res = env(check=True, diff=True, rotate="always")
    assert kind == "exit" and res["changed"] and res["rotated"] and res["pending"] == [auditd.log + ".1"]
    assert "would seal %s.1" % auditd.log in res["diff"]["after"]
    assert auditd.signals == signals and not os.path.exists(env.sealed_dir)

    kind, res = env(diff=True, rotate="always")
    assert kind == "exit" and res["changed"] and len(res["sealed"]) == 2 and res["records"] == 2
    assert "sealed audit-1732450000-1732450006-4567-4571.log" in res["diff"]["after"]
    head = res["head"]
    # the real state on disk: logs out of the chain, sealed, flagged
    assert sorted(n for n in os.listdir(auditd.dir) if n.startswith("audit.log")) == ["audit.log"]
    for entry in res["sealed"]:
        assert env.flags.flags[os.path.join(env.sealed_dir, entry["name"])] & _seal.IMMUTABLE
    with open(os.path.join(env.sealed_dir, "MANIFEST.jsonl")) as handle:
        assert [json.loads(line)["hash"] for line in handle][-1] == head

    kind, res = env()                       # rotate=auto, the live log is small
    assert kind == "exit" and res["changed"] is False and res["head"] == head
    kind, res = env(check=True)
    assert kind == "exit" and res["changed"] is False

    kind, res = env(state="verified", expected_head=head)
    assert kind == "exit" and res["changed"] is False and res["ok"] and res["findings"] == []
    assert res["segments"] == 2


def test_verify_fails_on_a_foreign_head_and_on_tampering(env):
    _fill(env.auditd)
    kind, res = env(rotate="always")
    name = res["sealed"][0]["name"]
    kind, res = env(state="verified", expected_head="e" * 64)
    assert kind == "fail" and "head not found" in res["msg"] and res["changed"] is False
    # the head store's names: the finding names those the manifest lost; sealed_logs lists the logs
    kind, res = env(state="verified", expected_head="e" * 64, expected_segments=[name, "audit-gone.log"])
    assert kind == "fail" and res["findings"][0]["segment"] == "audit-gone.log"
    assert [s["name"] for s in res["sealed_logs"]][0] == name and res["pruned_logs"] == []
    path = os.path.join(env.sealed_dir, name)
    with open(path, "ab") as handle:       # the fake flags do not stop this
        handle.write(b"type=USER_LOGIN msg=audit(1732459999.000:1): forged\n")
    kind, res = env(state="verified")
    assert kind == "fail" and name in res["msg"]
    assert sorted(f["kind"] for f in res["findings"]) == ["digest_mismatch", "size_mismatch"]


def test_prune_needs_a_reason_and_is_idempotent(env):
    _fill(env.auditd)
    kind, res = env(rotate="always")
    old = res["sealed"][0]["name"]
    kind, res = env(prune=[old])
    assert kind == "fail" and "prune_reason" in res["msg"]
    kind, res = env(prune=[old], prune_reason="retention", check=True)
    assert kind == "exit" and res["changed"] and res["pruned"] == [old]
    assert os.path.exists(os.path.join(env.sealed_dir, old))
    kind, res = env(prune=[old], prune_reason="retention")
    assert kind == "exit" and res["changed"] and res["pruned"] == [old]
    assert not os.path.exists(os.path.join(env.sealed_dir, old))
    kind, res = env(prune=[old], prune_reason="retention")
    assert kind == "exit" and res["changed"] is False
    kind, res = env(state="verified")
    assert kind == "exit" and res["ok"] and res["segments"] == 1


def test_refuses_flags_in_the_log_directory(env):
    _fill(env.auditd)
    kind, res = env(sealed_dir=env.auditd.dir, rotate="always")
    assert kind == "fail" and "log directory" in res["msg"]
    assert env.flags.flags == {} and env.auditd.signals == 1


def test_auditd_not_running_is_a_clear_failure(env, monkeypatch):
    def nothing():
        raise _seal.SealError("auditd is not running (no pid file /run/auditd.pid)")
    monkeypatch.setattr(audit_seal, "signal_auditd", nothing)
    env.auditd.write(1)
    kind, res = env(rotate="always")
    assert kind == "fail" and "auditd is not running" in res["msg"] and "already done" in res["msg"]


# --- a sealed directory must survive a reboot and hold flags ----------------

def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root) for n in dirs + files)


def test_volatile_sealed_dir_is_refused_with_nothing_changed(env):
    _fill(env.auditd)
    log_dir = env.auditd.dir
    # written by hand: tmpfs mounted on the log directory (the sealed dir does not exist yet)
    env.flags.mountinfo = lambda: ("22 1 254:0 / / rw - ext4 /dev/vda rw\n"
                                   "40 22 0:40 / %s rw,relatime - tmpfs tmpfs rw,size=1024k\n" % log_dir)
    before, signals = _tree(str(env.tmp_path)), env.auditd.signals
    for check in (True, False):
        kind, res = env(check=check, rotate="always")
        assert kind == "fail", res
        assert env.sealed_dir in res["msg"] and "nearest existing parent %s" % log_dir in res["msg"]
        assert "on tmpfs mounted at %s" % log_dir in res["msg"] and "allow_volatile" in res["msg"]
    # no directory created, no rotation signal, no manifest, no flag
    assert _tree(str(env.tmp_path)) == before and env.auditd.signals == signals and env.flags.flags == {}
    assert not os.path.exists(env.sealed_dir)
    # state=verified only reads: no check, the missing manifest is its own finding
    kind, res = env(state="verified")
    assert kind == "fail" and "manifest" in res["msg"] and "tmpfs" not in res["msg"]

    kind, res = env(rotate="always", allow_volatile=True)
    assert kind == "exit" and res["changed"] and len(res["sealed"]) == 2
    assert res["storage"]["volatile"] and res["storage"]["fstype"] == "tmpfs"
    assert [f["kind"] for f in res["findings"]] == ["volatile_storage"]
    assert len(env.warnings) == 1 and "gone at the next reboot" in env.warnings[0]


def test_sealed_dir_without_inode_flags_is_refused_even_when_volatile_is_allowed(env):
    _fill(env.auditd)

    def no_flags(fd):
        raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))
    env.flags.get = no_flags
    kind, res = env(rotate="always", allow_volatile=True)
    assert kind == "fail" and "cannot hold inode flags" in res["msg"] and "on ext4 mounted at /" in res["msg"]
    assert not os.path.exists(env.sealed_dir) and env.auditd.signals == 1


def test_overlay_sealed_dir_seals_with_a_weaker_protection_warning(env):
    _fill(env.auditd)
    # written by hand: a container's root overlay, its upper layer in another mount namespace
    env.flags.mountinfo = lambda: (
        "500 420 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/var/lib/docker/overlay2/x/diff,"
        "workdir=/var/lib/docker/overlay2/x/work\n")
    kind, res = env(rotate="always")
    assert kind == "exit" and [f["kind"] for f in res["findings"]] == ["weaker_protection"]
    assert "trusted.overlay.protattr" in env.warnings[0]


def test_real_mount_table_finds_dev_shm(env):
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    env.flags.mountinfo = _flags.FlagsIO().mountinfo      # this machine's mount table, fake flags
    shm = tempfile.mkdtemp(prefix="immutable-audit-test-", dir="/dev/shm")
    try:
        mounts = _flags.parse_mountinfo(_flags.FlagsIO().mountinfo())
        if _flags.find_mount(mounts, os.path.realpath(shm)).fstype != "tmpfs":
            pytest.skip("/dev/shm is not tmpfs here")
        _fill(env.auditd)
        kind, res = env(sealed_dir=os.path.join(shm, "sealed"), rotate="always")
        assert kind == "fail" and "on tmpfs mounted at /dev/shm" in res["msg"]
        assert os.listdir(shm) == [] and env.auditd.signals == 1
    finally:
        shutil.rmtree(shm)
