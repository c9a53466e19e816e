# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Units for the auditctl wrapper with a fake run_command: no subprocess, no kernel."""

import os

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _auditctl as A
from ansible_collections.immutable.audit.plugins.module_utils import _rules as R

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data")


def read_data(name):
    with open(os.path.join(DATA, name)) as handle:
        return handle.read()


class FakeRun(object):
    """Records every call; answers from a function of the argument list."""

    def __init__(self, answer=None):
        self.calls = []
        self.files = []
        self._answer = answer or (lambda args: (0, "", ""))

    def __call__(self, args, **kwargs):
        self.calls.append((list(args), kwargs))
        if "-R" in args:
            with open(args[args.index("-R") + 1]) as handle:
                self.files.append(handle.read())
        return self._answer(args)


def dumps(args):
    if args[0] == "ausyscall":
        return 0, read_data("syscalls_%s.tsv" % args[1]), ""
    return 0, "", ""


# ------------------------------------------------------------------ status

def test_parse_status_recorded():
    status = A.parse_status(read_data("auditctl_status.txt"))
    assert status == {
        "enabled": 0, "failure": 1, "pid": 0, "rate_limit": 0, "backlog_limit": 64,
        "lost": 0, "backlog": 0, "backlog_wait_time": 15000, "backlog_wait_time_actual": 0,
        "loginuid_immutable": 0, "loginuid_immutable_locked": False,
    }


def test_parse_status_locked():
    status = A.parse_status("enabled 2\nfailure 1\nloginuid_immutable 1 locked\n"
                            "feature_bitmap 0x7f\n")
    assert status["enabled"] == 2
    assert status["loginuid_immutable"] == 1
    assert status["loginuid_immutable_locked"] is True
    assert status["feature_bitmap"] == "0x7f"


def test_status_runs_auditctl_s():
    fake = FakeRun(lambda args: (0, read_data("auditctl_status.txt"), ""))
    status = A.Auditctl(fake).status()
    assert status["backlog_limit"] == 64
    assert [c[0] for c in fake.calls] == [["auditctl", "-s"]]


# --------------------------------------------------------------- syscalls

def test_syscall_table_recorded_dump():
    fake = FakeRun(dumps)
    table = A.Auditctl(fake).syscall_table("x86_64")
    assert fake.calls[0][0] == ["ausyscall", "x86_64", "--dump"]
    assert table["read"] == 0
    assert table["open"] == 2
    assert table["adjtimex"] == 159
    assert table["openat2"] == 437
    assert "Using x86_64 syscall table:" not in table
    expected = len(read_data("syscalls_x86_64.tsv").splitlines()) - 1
    assert len(table) == expected


def test_syscall_table_empty_raises():
    with pytest.raises(A.AuditError) as info:
        A.Auditctl(FakeRun(lambda args: (0, "Using x86_64 syscall table:\n", ""))).syscall_table("x86_64")
    assert "printed no syscalls" in str(info.value)


def test_target_from_recorded_dumps():
    fake = FakeRun(dumps)
    target = A.Auditctl(fake).target(machine="x86_64")
    assert [c[0] for c in fake.calls] == [["ausyscall", "x86_64", "--dump"],
                                          ["ausyscall", "i386", "--dump"]]
    assert target.native == "b64"
    assert target.syscall_number("b32", "stime") == 25
    assert target.syscall_number("b32", "newfstatat") is None
    assert target.syscall_name(None, 437) == "openat2"


def test_target_unsupported_machine():
    with pytest.raises(A.AuditError):
        A.Auditctl(FakeRun(dumps)).target(machine="sparc64")


def test_rules_parses_listing(target):
    fake = FakeRun(lambda args: (0, read_data("listing.txt"), ""))
    rules = A.Auditctl(fake).rules(target)
    assert [r.line for r in rules] == read_data("listing.txt").splitlines()
    assert fake.calls[0][0] == ["auditctl", "-l"]


# ------------------------------------------------------------------- run

def test_run_passes_c_locale_and_no_expansion():
    fake = FakeRun(lambda args: (0, "out", "err"))
    assert A.Auditctl(fake).run(["auditctl", "-l"]) == (0, "out", "err")
    args, kwargs = fake.calls[0]
    assert args == ["auditctl", "-l"]
    assert kwargs["environ_update"]["LANG"] == "C"
    assert kwargs["environ_update"]["LC_ALL"] == "C"
    assert kwargs["expand_user_and_vars"] is False
    assert "use_unsafe_shell" not in kwargs or kwargs["use_unsafe_shell"] is False


def test_run_raises_on_rc():
    fake = FakeRun(lambda args: (255, "", "Error sending delete rule data request (No such file or directory)\n"))
    with pytest.raises(A.AuditError) as info:
        A.Auditctl(fake).run(["auditctl", "-d", "always,exit"])
    assert info.value.rc == 255
    assert "No such file or directory" in str(info.value)
    assert info.value.details()["cmd"] == ["auditctl", "-d", "always,exit"]
    assert A.Auditctl(fake).run(["auditctl", "-d", "x"], check=False)[0] == 255


def test_custom_binary_paths():
    fake = FakeRun(lambda args: (0, "auditctl version 3.0.9\n", ""))
    ctl = A.Auditctl(fake, auditctl="/usr/sbin/auditctl")
    assert ctl.version() == "3.0.9"
    assert fake.calls[0][0] == ["/usr/sbin/auditctl", "-v"]


# ----------------------------------------------------------------- change

def test_change_immutable_mode_rc0_raises():
    fake = FakeRun(lambda args: (0, "", "The audit system is in immutable mode, no rule changes allowed\n"))
    with pytest.raises(A.AuditError) as info:
        A.Auditctl(fake).change(["-a", "always,exit", "-S", "all", "-F", "uid=0"])
    assert "immutable mode" in str(info.value)
    assert info.value.rc == 0
    assert fake.calls[0][0] == ["auditctl", "-a", "always,exit", "-S", "all", "-F", "uid=0"]


def test_change_rule_exists_raises():
    fake = FakeRun(lambda args: (255, "", "Error sending add rule data request (Rule exists)\n"))
    with pytest.raises(A.AuditError) as info:
        A.Auditctl(fake).change(["-a", "always,exit", "-S", "all"])
    assert "Rule exists" in str(info.value)


def test_change_ok():
    fake = FakeRun()
    A.Auditctl(fake).change(["-d", "always,exit", "-S", "all", "-F", "key=a b"])
    assert fake.calls[0][0] == ["auditctl", "-d", "always,exit", "-S", "all", "-F", "key=a b"]


def test_change_many_one_r_file(target):
    rules = R.parse_rules(["-w /etc/ssh -p wa -k my\\ key",
                           "-a always,exit -F arch=b64 -S open -F key=back\\\\slash"], target)
    arg_lists = [rules[0].add_args(prepend=True), rules[1].add_args(), rules[0].delete_args()]
    fake = FakeRun()
    A.Auditctl(fake).change_many(arg_lists)
    assert len(fake.calls) == 1
    args, kwargs = fake.calls[0]
    assert args[:2] == ["auditctl", "-R"]
    assert kwargs["expand_user_and_vars"] is False
    assert fake.files == [
        "-A always,exit -S all -F dir=/etc/ssh -F perm=wa -F key=my\\ key\n"
        "-a always,exit -F arch=b64 -S 2 -F key=back\\\\slash\n"
        "-d always,exit -S all -F dir=/etc/ssh -F perm=wa -F key=my\\ key\n"]
    # the batch file is gone afterwards
    assert not os.path.exists(args[2])
    # and auditctl -R reads it back as the same rules
    back = R.parse_text(fake.files[0], target)
    assert [r.line for r in back.rules] == [rules[0].line, rules[1].line]
    assert back.entries[2].rule.line == rules[0].line


def test_change_many_failure_raises():
    fake = FakeRun(lambda args: (1, "", "There was an error in line 2 of /tmp/x\n"))
    with pytest.raises(A.AuditError) as info:
        A.Auditctl(fake).change_many([["-a", "always,exit", "-S", "all", "-F", "uid=0"],
                                      ["-a", "always,exit", "-S", "all", "-F", "uid=1"]])
    assert info.value.rc == 1
    assert len(fake.calls) == 1


def test_change_many_single_and_empty():
    fake = FakeRun()
    ctl = A.Auditctl(fake)
    ctl.change_many([])
    assert fake.calls == []
    ctl.change_many([["-a", "always,exit", "-S", "all", "-F", "uid=0"]])
    assert [c[0] for c in fake.calls] == [["auditctl", "-a", "always,exit", "-S", "all", "-F", "uid=0"]]
