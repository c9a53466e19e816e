# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module that touches the kernel or signals auditd, run where the
kernel is not the target's (detect() answers a chroot or a container), with
default options and with an explicit live switch.

Any auditctl command, any signal and any boot loader command fails the test:
the stand-ins raise, so a module that reached them cannot pass. ausyscall
(it only prints syscall tables) answers from the recorded Debian 12 tables.
"""

import os

import pytest

from ansible.module_utils import basic
from ansible_collections.immutable.audit.plugins.module_utils import _kernel_owner
from ansible_collections.immutable.audit.plugins.modules import (
    audit_control, audit_info, audit_rules, audit_seal, auditd_config, boot_params,
)

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "data")

CHROOT = _kernel_owner.Environment(False, "chroot", "/ is not the root of PID 2, the machine's root: a chroot", {})
CONTAINER = _kernel_owner.Environment(
    False, "container", "this runs in a PID namespace other than the machine's (PID 1 here is 'sh', not the "
    "machine's init): a container (/.dockerenv)", {})


class Forbidden(AssertionError):
    pass


class Commands(object):
    """run_command: ausyscall from recordings, everything else is forbidden."""

    def __init__(self):
        self.calls = []

    def __call__(self, args, **kwargs):
        self.calls.append(list(args))
        if os.path.basename(args[0]) == "ausyscall" and args[2:] == ["--dump"]:
            name = {"x86_64": "syscalls_x86_64.tsv", "i386": "syscalls_i386.tsv"}[args[1]]
            with open(os.path.join(DATA, name)) as handle:
                return 0, handle.read(), ""
        raise Forbidden("ran %r where the kernel is not the target's" % (args,))

    def forbidden(self):
        return [c for c in self.calls if os.path.basename(c[0]) != "ausyscall"]


class NoDaemon(object):
    """auditd_config's Daemon: looking auditd up or signalling it is forbidden."""

    def __init__(self, module):
        pass

    def pid(self):
        raise Forbidden("looked up the running auditd where it is not the target's")

    def reload(self, pid):
        raise Forbidden("signalled auditd where it is not the target's")


def _no_signal(*args, **kwargs):
    raise Forbidden("signalled auditd to rotate where it is not the target's")


@pytest.fixture(params=[CHROOT, CONTAINER], ids=["chroot", "container"])
def foreign(request, monkeypatch, module_runner, tmp_path):
    env = request.param
    monkeypatch.setattr(_kernel_owner, "detect", lambda probe=None: env)
    commands = Commands()
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, args, **kw: commands(args, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/sbin/" + name)
    monkeypatch.setattr(auditd_config, "Daemon", NoDaemon)
    monkeypatch.setattr(audit_seal, "signal_auditd", _no_signal)

    def call(main, args, check=False):
        return module_runner.run(main, args, check=check)
    call.env, call.commands, call.warnings, call.tmp = env, commands, module_runner.warnings, tmp_path
    return call


def _assert_skipped(foreign, result):
    assert result["live_skipped"] == foreign.env.kind
    assert foreign.commands.forbidden() == []
    assert any(foreign.env.reason[1:] in w and "the kernel here is not the target's" in w
               for w in foreign.warnings), foreign.warnings


def _assert_refused(foreign, kind, result, option="live"):
    assert kind == "fail"
    assert result["msg"].startswith("%s: true, but %s" % (option, foreign.env.reason))
    assert "allow_shared_kernel: true" in result["msg"] and "nothing was changed" in result["msg"]
    assert foreign.commands.forbidden() == []


# ---------------------------------------------------------------- audit_rules

def test_audit_rules_writes_the_file_only(foreign):
    path = str(foreign.tmp / "50-test.rules")
    args = dict(path=path, rules=["-w /etc/passwd -p wa -k identity"])
    for check in (True, False):
        kind, res = foreign(audit_rules.main, args, check=check)
        assert kind == "exit" and res["changed"] and res["file_changed"], res
        assert res["added"] == [] and res["locked"] is False and res["reboot_required"] is False
        _assert_skipped(foreign, res)
        assert os.path.exists(path) is (not check)
    kind, res = foreign(audit_rules.main, args)
    assert kind == "exit" and not res["changed"]
    with open(path) as handle:
        assert "-w /etc/passwd -p wa -k identity\n" in handle.read()


@pytest.mark.parametrize("value", [True, "yes", "true"])
def test_audit_rules_explicit_live_fails_naming_the_environment(foreign, value):
    path = str(foreign.tmp / "50-test.rules")
    kind, res = foreign(audit_rules.main, dict(path=path, rules=["-w /etc/passwd -p wa"], live=value))
    _assert_refused(foreign, kind, res)
    assert res["environment"]["kind"] == foreign.env.kind
    assert not os.path.exists(path)


def test_audit_rules_live_false_is_quiet(foreign):
    path = str(foreign.tmp / "50-test.rules")
    kind, res = foreign(audit_rules.main, dict(path=path, rules=["-w /etc/passwd -p wa"], live=False))
    assert kind == "exit" and res["live_skipped"] is None and foreign.warnings == []
    assert foreign.commands.forbidden() == []


def test_allow_shared_kernel_reaches_the_kernel(foreign):
    """The override really acts: the first auditctl command is attempted."""
    path = str(foreign.tmp / "50-test.rules")
    with pytest.raises(Forbidden):
        foreign(audit_rules.main, dict(path=path, rules=["-w /etc/passwd -p wa"], live=True,
                                       allow_shared_kernel=True))
    assert foreign.commands.forbidden()[0][1:] == ["-s"]


# ---------------------------------------------------------------- audit_control

def test_audit_control_persists_the_lock_only(foreign):
    rules_d = foreign.tmp / "rules.d"
    rules_d.mkdir()
    kind, res = foreign(audit_control.main, dict(enabled=2, rules_dir=str(rules_d)))
    assert kind == "exit" and res["changed"] and res["live_changes"] == [] and res["locked"] is None, res
    _assert_skipped(foreign, res)
    assert (rules_d / "zz-immutable-finalize.rules").read_text().splitlines()[-1] == "-e 2"


def test_audit_control_explicit_live_fails(foreign):
    rules_d = foreign.tmp / "rules.d"
    rules_d.mkdir()
    kind, res = foreign(audit_control.main, dict(enabled=2, rules_dir=str(rules_d), live=True))
    _assert_refused(foreign, kind, res)
    assert os.listdir(str(rules_d)) == []


# ---------------------------------------------------------------- auditd_config

def test_auditd_config_edits_without_looking_for_auditd(foreign):
    conf = foreign.tmp / "auditd.conf"
    conf.write_text("log_format = RAW\n")
    kind, res = foreign(auditd_config.main, dict(path=str(conf), settings={"log_format": "ENRICHED"}))
    assert kind == "exit" and res["changed"] and not res["reloaded"] and not res["running"], res
    _assert_skipped(foreign, res)
    assert "log_format = ENRICHED" in conf.read_text()


def test_auditd_config_explicit_reload_fails(foreign):
    conf = foreign.tmp / "auditd.conf"
    conf.write_text("log_format = RAW\n")
    kind, res = foreign(auditd_config.main, dict(path=str(conf), settings={"log_format": "ENRICHED"},
                                                 reload=True))
    _assert_refused(foreign, kind, res, option="reload")
    assert conf.read_text() == "log_format = RAW\n"


# ---------------------------------------------------------------- audit_info

def test_audit_info_reads_the_files_not_the_machine_underneath(foreign):
    rules_d = foreign.tmp / "rules.d"
    rules_d.mkdir()
    (rules_d / "30-identity.rules").write_text("-w /etc/passwd -p wa -k identity\n-e 2\n")
    kind, res = foreign(audit_info.main, dict(rules_dir=str(rules_d), cmdline_path=str(foreign.tmp / "none")))
    assert kind == "exit" and not res["changed"], res
    _assert_skipped(foreign, res)
    assert res["live_rules"] is None and res["drift"] is None and res["locked"] is None
    assert res["kernel_cmdline"] is None and res["auditd"] == {"running": None, "pid": None}
    assert [r["line"] for r in res["persisted_rules"]] == ["-w /etc/passwd -p wa -k identity"]
    assert res["boot_lock"] == 2


# ---------------------------------------------------------------- audit_seal

def test_audit_seal_does_not_signal_auditd(foreign):
    logs = foreign.tmp / "log"
    logs.mkdir()
    (logs / "audit.log").write_text("type=DAEMON_START msg=audit(1.0:1): x\n")
    conf = foreign.tmp / "auditd.conf"
    conf.write_text("log_file = %s\nnum_logs = 5\n" % (logs / "audit.log"))
    kind, res = foreign(audit_seal.main, dict(auditd_conf=str(conf), sealed_dir=str(foreign.tmp / "sealed"),
                                              rotate="always"), check=True)
    assert kind == "exit" and res["rotated"] is False, res
    _assert_skipped(foreign, res)


# ---------------------------------------------------------------- boot_params

def test_boot_params_edits_grub_defaults_only(foreign):
    grub = foreign.tmp / "grub"
    grub.write_text('GRUB_CMDLINE_LINUX="quiet"\n')
    kind, res = foreign(boot_params.main, dict(grub_file=str(grub), proc_cmdline="/nonexistent"))
    assert kind == "exit" and res["changed"] and res["bootloader"] == "none", res
    assert res["live_skipped"] == foreign.env.kind and res["reboot_required"] is False and res["pending"] == {}
    assert foreign.commands.calls == []
    assert grub.read_text() == 'GRUB_CMDLINE_LINUX="quiet audit=1 audit_backlog_limit=8192"\n'
