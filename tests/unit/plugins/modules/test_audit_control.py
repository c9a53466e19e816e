# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""audit_control end to end against a recorded kernel, never the real one.

FakeKernel answers `auditctl -s`, `-l` and `ausyscall --dump` like Debian 12
(audit 3.0.9, HZ=250) and keeps the status the module changes, including the
locked kernel of AUDIT-SEMANTICS section 6: -e/-f/-b/-r/--backlog_wait_time
fail with EPERM (exit 255), --loginuid-immutable still works. Any other
command fails the test, so nothing here can reach this machine's kernel.
"""

import errno
import os

import pytest

from ansible.module_utils import basic
from ansible_collections.immutable.audit.plugins.module_utils import _files
from ansible_collections.immutable.audit.tests.unit.plugins.faults import FaultyIO, leftovers
from ansible_collections.immutable.audit.plugins.modules import audit_control

FINALIZE = "zz-immutable-finalize.rules"
RULES = "-w /etc/passwd -p wa -k identity\n-a always,exit -F arch=b64 -S adjtimex -k time\n"
LISTING = ["-w /etc/passwd -p wa -k identity", "-a always,exit -F arch=b64 -S adjtimex -F key=time"]
# Enough of `ausyscall <table> --dump` for the rules above.
SYSCALLS = "Using %s syscall table:\n0\tread\n1\twrite\n2\topen\n159\tadjtimex\n"
# option -> status key, as auditctl -s names them
STATUS_OPTIONS = {"-e": "enabled", "-f": "failure", "-b": "backlog_limit", "-r": "rate_limit",
                  "--backlog_wait_time": "backlog_wait_time"}
EPERM = {"-e": "enable", "-f": "failure", "-b": "backlog limit", "-r": "rate limit",
         "--backlog_wait_time": "backlog wait time"}


class FakeKernel(object):
    """The kernel's audit status and rules behind auditctl, driven by argv."""

    def __init__(self, enabled=1, lines=None):
        self.status = dict(enabled=enabled, failure=1, pid=612, rate_limit=0, backlog_limit=64, lost=0,
                           backlog=0, backlog_wait_time=15000, backlog_wait_time_actual=0)
        self.loginuid = [0, "unlocked"]
        self.lines = list(LISTING if lines is None else lines)
        self.commands = []
        self.deaf = False           # exit 0 and change nothing, as auditctl can

    def changes(self):
        """The commands that would change the kernel, as run."""
        return [c[1:] for c in self.commands
                if os.path.basename(c[0]) == "auditctl" and c[1] not in ("-s", "-l")]

    def run(self, args, environ_update=None, expand_user_and_vars=True):
        assert environ_update and environ_update.get("LANG") == "C"
        assert expand_user_and_vars is False
        self.commands.append(list(args))
        prog, rest = os.path.basename(args[0]), list(args[1:])
        if prog == "ausyscall" and len(rest) == 2 and rest[1] == "--dump":
            return 0, SYSCALLS % rest[0], ""
        assert prog == "auditctl", "unexpected command %r" % (args,)
        if rest == ["-s"]:
            text = "".join("%s %s\n" % item for item in self.status.items())
            return 0, text + "loginuid_immutable %d %s\n" % tuple(self.loginuid), ""
        if rest == ["-l"]:
            return 0, "".join(line + "\n" for line in self.lines) or "No rules\n", ""
        if rest == ["--loginuid-immutable"]:
            if not self.deaf:
                self.loginuid = [1, "locked"]
            return 0, "", ""
        assert len(rest) == 2 and rest[0] in STATUS_OPTIONS and rest[1].isdigit(), \
            "unexpected command %r" % (args,)
        if self.status["enabled"] == 2:
            return 255, "", "Error sending %s request (Operation not permitted)\n" % EPERM[rest[0]]
        value = int(rest[1])
        if rest[0] == "--backlog_wait_time" and value > 10 * 60 * 250:
            return 255, "", "Error sending backlog wait time request (Invalid argument)\n"
        if not self.deaf:
            self.status[STATUS_OPTIONS[rest[0]]] = value
        return 0, "", ""


@pytest.fixture
def kernel():
    return FakeKernel()


@pytest.fixture
def rules_d(tmp_path):
    directory = tmp_path / "rules.d"
    directory.mkdir()
    (directory / "10-base.rules").write_text(RULES)
    return directory


@pytest.fixture
def run(monkeypatch, kernel, rules_d, module_runner):
    """run(args, check=False, diff=False) -> (exception type, its kwargs)."""

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False, opt_dirs=None: "/usr/sbin/" + name)
    monkeypatch.setattr(basic.AnsibleModule, "run_command",
                        lambda self, args, **kwargs: kernel.run(args, **kwargs))

    def call(args, check=False, diff=False):
        args = dict(dict(rules_dir=str(rules_d)), _ansible_check_mode=check, _ansible_diff=diff, **args)
        return module_runner.run(audit_control.main, args, check=check, diff=diff)
    call.warnings = module_runner.warnings
    return call


def finalize(rules_d):
    path = rules_d / FINALIZE
    return path.read_text() if path.exists() else None


def body(text):
    return [line for line in text.splitlines() if not line.startswith("#")]


LOCK = dict(enabled=2, failure=2, backlog_limit=8192, loginuid_immutable=True)


def test_check_apply_again_check(run, kernel, rules_d):
    kind, res = run(LOCK, check=True, diff=True)
    assert kind == "exit" and res["changed"] is True
    assert res["live_changes"] == ["auditctl -b 8192", "auditctl -f 2", "auditctl --loginuid-immutable",
                                   "auditctl -e 2"]
    assert res["file_changed"] and res["locked"] is True and not res["reboot_required"]
    assert res["status"]["enabled"] == 1 and res["status_after"]["backlog_limit"] == 8192
    assert res["drift"] == dict(missing=[], extra=[], out_of_order=[])
    file_diff, status_diff = res["diff"]
    assert file_diff["before"] == "" and body(file_diff["after"]) == ["-b 8192", "-f 2", "--loginuid-immutable",
                                                                      "-e 2"]
    assert status_diff["before"] == "backlog_limit 64\nfailure 1\nloginuid_immutable 0 unlocked\nenabled 1\n"
    assert status_diff["after"] == "backlog_limit 8192\nfailure 2\nloginuid_immutable 1 locked\nenabled 2\n"
    assert kernel.changes() == [] and kernel.status["enabled"] == 1 and finalize(rules_d) is None

    kind, res = run(LOCK, diff=True)
    assert kind == "exit" and res["changed"] is True and res["locked"] is True
    assert kernel.changes() == [["-b", "8192"], ["-f", "2"], ["--loginuid-immutable"], ["-e", "2"]]
    assert (kernel.status["enabled"], kernel.status["failure"], kernel.status["backlog_limit"]) == (2, 2, 8192)
    assert kernel.loginuid == [1, "locked"]
    assert body(finalize(rules_d)) == ["-b 8192", "-f 2", "--loginuid-immutable", "-e 2"]
    assert oct((rules_d / FINALIZE).stat().st_mode & 0o777) == "0o640"
    assert res["status_after"]["enabled"] == 2 and res["diff"][1]["after"].endswith("enabled 2\n")

    for check in (False, True):
        del kernel.commands[:]
        kind, res = run(LOCK, check=check, diff=True)
        assert kind == "exit" and res["changed"] is False, check
        assert res["live_changes"] == [] and not res["file_changed"] and not res["reboot_required"]
        assert res["locked"] is True and res["drift"] is None
        assert kernel.changes() == []
        assert ["/usr/sbin/auditctl", "-l"] not in kernel.commands    # already locked: nothing compared
        assert res["diff"][0]["before"] == res["diff"][0]["after"]


def test_only_changed_settings_run(run, kernel, rules_d):
    kernel.status["backlog_limit"] = 8192
    kind, res = run(dict(backlog_limit=8192, rate_limit=200, backlog_wait_time=60000))
    assert kind == "exit" and res["changed"]
    assert kernel.changes() == [["-r", "200"], ["--backlog_wait_time", "60000"]]
    assert (kernel.status["rate_limit"], kernel.status["backlog_wait_time"]) == (200, 60000)
    assert ["/usr/sbin/auditctl", "-l"] not in kernel.commands                  # no lock, no listing
    assert body(finalize(rules_d)) == ["-b 8192", "-r 200", "--backlog_wait_time 60000"]


def test_locked_kernel_stages_and_reports_pending(run, kernel, rules_d):
    kernel.status["enabled"] = 2
    kernel.lines = ["-w /etc/shadow -p wa"]         # drift no longer matters on a locked kernel
    args = dict(enabled=2, backlog_limit=8192, loginuid_immutable=True)
    kind, res = run(args, diff=True)
    assert kind == "exit" and res["changed"] is True
    assert res["reboot_required"] is True and res["locked"] is True
    assert res["pending"] == dict(backlog_limit=dict(current=64, wanted=8192, after_reboot=8192))
    # Only the one change a locked kernel takes was run.
    assert kernel.changes() == [["--loginuid-immutable"]] and res["live_changes"] == ["auditctl --loginuid-immutable"]
    assert kernel.status["backlog_limit"] == 64 and kernel.loginuid == [1, "locked"]
    assert body(finalize(rules_d)) == ["-b 8192", "--loginuid-immutable", "-e 2"]
    assert res["diff"][1]["after"] == "backlog_limit 64\nloginuid_immutable 1 locked\nenabled 2\n"

    del kernel.commands[:]
    kind, res = run(args)
    assert kind == "exit" and res["changed"] is False and res["reboot_required"] is True
    assert kernel.changes() == []


def test_locked_kernel_strict_fails_and_changes_nothing(run, kernel, rules_d):
    kernel.status["enabled"] = 2
    kind, res = run(dict(enabled=2, backlog_limit=8192, strict=True))
    assert kind == "fail"
    assert "strict" in res["msg"] and "backlog_limit (now 64, wanted 8192, after reboot the kernel default" in res["msg"]
    assert res["pending"]["backlog_limit"]["wanted"] == 8192 and res["changed"] is False
    assert kernel.changes() == [] and finalize(rules_d) is None


def test_lock_refused_while_rules_drift(run, kernel, rules_d):
    kernel.lines = LISTING[:1] + ["-w /etc/shadow -p wa"]
    kind, res = run(dict(enabled=2))
    assert kind == "fail"
    assert "refusing to lock" in res["msg"] and "immutable.audit.audit_rules" in res["msg"]
    assert res["drift"]["missing"] == [LISTING[1]] and res["drift"]["extra"] == ["-w /etc/shadow -p wa"]
    assert kernel.changes() == [] and kernel.status["enabled"] == 1 and finalize(rules_d) is None

    kind, res = run(dict(enabled=2, force_lock=True))
    assert kind == "exit" and res["changed"] and kernel.status["enabled"] == 2
    assert kernel.changes() == [["-e", "2"]]
    assert "force_lock" in run.warnings[0]


def test_overriding_file_is_refused(run, kernel, rules_d):
    (rules_d / "zz-local.rules").write_text("-e 1\n")
    kind, res = run(dict(enabled=2))
    assert kind == "fail" and str(rules_d / "zz-local.rules") in res["msg"]
    assert "sorts after the finalize file" in res["msg"]
    assert kernel.changes() == [] and finalize(rules_d) is None


def test_indented_e_in_another_file_is_refused(run, kernel, rules_d):
    (rules_d / "10-base.rules").write_text(RULES + "  -e 2\n")
    kind, res = run(dict(enabled=2, backlog_limit=8192))
    assert kind == "fail"
    assert res["msg"].startswith("%s:3: '  -e 2'" % (rules_d / "10-base.rules"))
    assert kernel.changes() == [] and finalize(rules_d) is None


def test_refused_change_that_exits_0_fails(run, kernel, rules_d):
    kernel.deaf = True
    kind, res = run(dict(backlog_limit=8192))
    assert kind == "fail"
    assert "backlog_limit is 64, not 8192" in res["msg"]
    assert "Already done: ran auditctl -b 8192; wrote %s." % (rules_d / FINALIZE) in res["msg"]


def test_value_the_kernel_refuses_puts_back_what_was_done(run, kernel, rules_d):
    kind, res = run(dict(backlog_limit=8192, backlog_wait_time=600000))
    assert kind == "fail"
    assert "Invalid argument" in res["msg"] and res["rc"] == 255
    assert "The settings the task had changed were put back (auditctl -b 64)" in res["msg"]
    assert res["changed"] is True and res["live_restored"] is True
    assert kernel.status["backlog_limit"] == 64 and kernel.status["backlog_wait_time"] == 15000
    # The kernel vets values before they are persisted: nothing reached the file.
    assert not (rules_d / FINALIZE).exists()
    assert not [n for n in os.listdir(str(rules_d)) if n.startswith(".")]


def test_image_build_mode_never_asks_the_kernel(run, kernel, rules_d):
    kind, res = run(dict(enabled=2, live=False))
    assert kind == "exit" and res["changed"] and res["locked"] is None
    assert res["status"] == {} and res["live_changes"] == []
    assert [os.path.basename(c[0]) for c in kernel.commands] == ["ausyscall", "ausyscall"]
    assert body(finalize(rules_d)) == ["-e 2"]


def test_loginuid_cannot_be_cleared_live(run, kernel, rules_d):
    kernel.loginuid = [1, "locked"]
    (rules_d / FINALIZE).write_text("--loginuid-immutable\n-e 1\n")
    kind, res = run(dict(loginuid_immutable=False))
    assert kind == "exit" and res["changed"] and res["reboot_required"]
    assert res["pending"] == dict(loginuid_immutable=dict(current=True, wanted=False, after_reboot=False))
    assert body(finalize(rules_d)) == ["-e 1"] and kernel.changes() == []


def test_invalid_value_fails_before_anything(run, kernel, rules_d):
    kind, res = run(dict(backlog_limit=-1))
    assert kind == "fail" and "backlog_limit must be an integer from 0" in res["msg"]
    assert kernel.changes() == [] and finalize(rules_d) is None


# ------------------------------------------------------------ file faults

@pytest.mark.parametrize("step", ["mkstemp", "write", "chmod", "rename"])
def test_a_failing_finalize_write_leaves_the_kernel_as_found(run, kernel, rules_d, monkeypatch, step):
    """Staged before the first setting: a full disk changes nothing; a rename
    that fails after -b was applied puts -b back."""
    io = FaultyIO(step, errno.ENOSPC)
    monkeypatch.setattr(_files, "IO", io)
    kind, res = run(dict(backlog_limit=8192, failure=2))
    assert kind == "fail" and str(rules_d / FINALIZE) in res["msg"] and "(ENOSPC)" in res["msg"], res
    assert kernel.status["backlog_limit"] == 64 and kernel.status["failure"] == 1
    assert finalize(rules_d) is None and leftovers(rules_d) == []
    if step == "rename":
        assert res["changed"] is True and res["live_restored"] is True
        assert "put back (auditctl -f 1; auditctl -b 64)" in res["msg"]
    else:
        assert "Nothing was changed" in res["msg"] and not res.get("changed")
    io.step = None
    assert run(dict(backlog_limit=8192, failure=2))[1]["changed"]
    assert kernel.status["backlog_limit"] == 8192 and kernel.status["failure"] == 2
    assert not run(dict(backlog_limit=8192, failure=2))[1]["changed"]
