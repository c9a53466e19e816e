# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whose kernel: detect() replayed on /proc layouts recorded on this project's
machine (tests/unit/data/kernel_owner/*.json, made with record.py there), plus
layouts of machines that cannot be made here, derived from a recording with
the one difference stated; and the live option's decision."""

import glob
import json
import os

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _kernel_owner
from ansible_collections.immutable.audit.plugins.module_utils._errors import Failure

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "data", "kernel_owner")


def _load(name):
    with open(os.path.join(DATA, name + ".json")) as handle:
        return json.load(handle)


class Replay(object):
    """Answers exactly the recorded calls; anything else fails the test, so a
    detect() that starts reading something new must be recorded again."""

    def __init__(self, recording, **changed):
        # Keyed by method and path (a read's size limit is not part of the question).
        self.answers = {}
        for method, args, answer in recording["calls"]:
            self.answers[(method, args[0])] = tuple(answer) if isinstance(answer, list) else answer
        for key, answer in changed.items():
            self.answers[tuple(key.split(":", 1))] = answer

    def _answer(self, method, arg):
        try:
            return self.answers[(method, arg)]
        except KeyError:
            raise AssertionError("detect() asked %s(%r), which the recording does not hold" % (method, arg))

    def exists(self, path):
        return self._answer("exists", path)

    def read(self, path, size=65536):
        return self._answer("read", path)

    def ns_inode(self, name):
        return self._answer("ns_inode", name)

    def root_id(self, path):
        return self._answer("root_id", path)


RECORDED = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(DATA, "*.json")))


def test_every_environment_of_the_issue_was_recorded():
    assert set(RECORDED) >= {"firecracker-vm", "chroot-no-proc", "chroot-proc", "chroot-mountpoint",
                             "unshare-pid", "unshare-user", "systemd-nspawn"}


@pytest.mark.parametrize("name", RECORDED)
def test_replayed_recording_gives_what_was_detected_there(name):
    recording = _load(name)
    env = _kernel_owner.detect(Replay(recording))
    assert [env.own, env.kind, env.reason] == [recording["detected"][k] for k in ("own", "kind", "reason")]


@pytest.mark.parametrize("name, own, kind, words", [
    # The project's machines: a VM whose PID 1 is not a classic init and that
    # keeps /.dockerenv from its image; the namespaces and PID 2's root say host.
    ("firecracker-vm", True, "host", None),
    ("chroot-no-proc", False, "no-proc", "/proc is not mounted"),
    ("chroot-proc", False, "chroot", "not the root of PID 2"),
    # A tree that is a mount point of its own shows a mount at "/", and is
    # still told apart by PID 2's root.
    ("chroot-mountpoint", False, "chroot", "not the root of PID 2"),
    ("unshare-pid", False, "container", "PID namespace other than the machine's"),
    ("unshare-user", False, "container", "user namespace other than the machine's"),
    ("systemd-nspawn", False, "container", "container=systemd-nspawn"),
])
def test_recorded_environments(name, own, kind, words):
    env = _kernel_owner.detect(Replay(_load(name)))
    assert (env.own, env.kind) == (own, kind)
    if words:
        assert words in env.reason


def test_a_systemd_host_with_a_readable_pid1_root_and_no_marker():
    """A plain server: derived from the VM's recording without /.dockerenv, PID 1 systemd."""
    probe = Replay(_load("firecracker-vm"), **{
        "exists:/.dockerenv": False,
        "read:/proc/1/stat": "1 (systemd) S 0 1 1 0 -1 4194560 0 0 0 0\n"})
    env = _kernel_owner.detect(probe)
    assert (env.own, env.kind, env.evidence["markers"]) == (True, "host", [])


def test_a_container_with_the_hosts_pid_namespace_is_told_by_its_root():
    """docker run --privileged --pid=host: initial namespaces, an overlay root."""
    probe = Replay(_load("firecracker-vm"), **{"root_id:/": (47, 1)})
    env = _kernel_owner.detect(probe)
    assert (env.own, env.kind) == (False, "container")
    assert "/.dockerenv" in env.reason and "not the root of PID 2" in env.reason


def test_without_a_readable_reference_root_a_plain_directory_root_is_a_chroot():
    """No kthreadd and no readable PID 1 root: mountinfo's missing "/" mount decides."""
    recording = _load("chroot-proc")
    probe = Replay(recording, **{"read:/proc/2/stat": None, "root_id:/proc/1/root/": "EACCES",
                                 "read:/proc/self/mountinfo": "27 1 254:0 /srv/tree/proc /proc rw - proc proc rw\n"})
    env = _kernel_owner.detect(probe)
    assert (env.own, env.kind) == (False, "chroot")
    assert "no filesystem is mounted at /" in env.reason


def test_nothing_readable_is_not_ours():
    probe = Replay(_load("firecracker-vm"), **{"read:/proc/2/stat": None, "root_id:/proc/1/root/": "EACCES",
                                               "read:/proc/self/mountinfo": "27 1 254:0 / / rw - ext4 vda rw\n"})
    env = _kernel_owner.detect(probe)
    assert (env.own, env.kind) == (False, "unknown")


HOST = _kernel_owner.Environment(True, "host", None, {})
CHROOT = _kernel_owner.Environment(False, "chroot", "/ is not the root of PID 2, the machine's root: a chroot", {})


@pytest.mark.parametrize("value, env, expected", [
    ("auto", HOST, (True, None)),
    ("auto", CHROOT, (False, "chroot")),
    (True, HOST, (True, None)),
    ("yes", HOST, (True, None)),
    (False, CHROOT, (False, None)),
    ("false", HOST, (False, None)),
    ("no", CHROOT, (False, None)),
])
def test_decide(value, env, expected):
    act, _env, skipped = _kernel_owner.decide(value, False, "change the audit rules", environment=env)
    assert (act, skipped) == expected


def test_explicit_true_in_a_chroot_fails_naming_the_environment_and_the_override():
    with pytest.raises(Failure) as info:
        _kernel_owner.decide(True, False, "change the audit rules", environment=CHROOT)
    msg = str(info.value)
    assert "live: true, but / is not the root of PID 2" in msg
    assert "a chroot" in msg and "allow_shared_kernel: true" in msg and "nothing was changed" in msg
    assert info.value.details["environment"]["kind"] == "chroot"


def test_allow_shared_kernel_only_with_an_explicit_true():
    assert _kernel_owner.decide(True, True, "x", environment=CHROOT)[0] is True
    # auto stays files-only: the override is for a deliberate true.
    assert _kernel_owner.decide("auto", True, "x", environment=CHROOT)[:3:2] == (False, "chroot")


def test_false_never_looks_at_the_environment():
    class Untouchable(object):
        def __getattr__(self, name):
            raise AssertionError("detect() ran for live: false")
    assert _kernel_owner.decide(False, False, "x", probe=Untouchable()) == (False, None, None)


@pytest.mark.parametrize("value", ["maybe", "", 2, None])
def test_bad_values_fail_with_nothing_changed(value):
    with pytest.raises(Failure) as info:
        _kernel_owner.normalize_live(value)
    assert "live must be auto, true or false" in str(info.value)
