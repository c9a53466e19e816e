# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Units for the auditctl wrapper with a fake run_command: no subprocess, no kernel."""

import gzip
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


def recorded_host(machine_files):
    """read(path) serving recorded files: {path: data file name or bytes}."""
    def read(path):
        name = machine_files.get(path)
        if name is None:
            return None
        if isinstance(name, bytes):
            return name
        with open(os.path.join(DATA, name), "rb") as handle:
            return handle.read()
    return read


# This machine's /boot has no config: /proc/config.gz (recorded snippet) and /proc/cmdline.
X86_64_HOST = {"/proc/cmdline": "kernel_config/cmdline-x86_64-6.18.txt",
               "/boot/config-6.18.44": "kernel_config/x86_64-6.18.config"}


def test_target_from_recorded_dumps():
    fake = FakeRun(dumps)
    target = A.Auditctl(fake).target(machine="x86_64", read=recorded_host(X86_64_HOST),
                                     release="6.18.44")
    assert [c[0] for c in fake.calls] == [["ausyscall", "x86_64", "--dump"],
                                          ["ausyscall", "i386", "--dump"]]
    assert target.native == "b64"
    assert target.syscall_number("b32", "stime") == 25
    assert target.syscall_number("b32", "newfstatat") is None
    assert target.syscall_name(None, 437) == "openat2"


def test_target_x86_64_tables_named():
    target = A.Auditctl(FakeRun(dumps)).target(machine="x86_64", read=recorded_host(X86_64_HOST),
                                               release="6.18.44")
    assert target.tables == {"b64": "x86_64", "b32": "i386"} and target.absent == {}
    assert target.arch_label("b32") == "b32 (i386)" and target.arch_label(None) == "b64 (x86_64)"


def test_target_x86_64_without_ia32_emulation_has_no_b32_abi():
    fake = FakeRun(dumps)
    cmdline = read_data("kernel_config/cmdline-x86_64-6.18.txt").replace("quiet", "quiet ia32_emulation=0")
    host = dict(X86_64_HOST, **{"/proc/cmdline": cmdline.encode()})
    target = A.Auditctl(fake).target(machine="x86_64", read=recorded_host(host), release="6.18.44")
    # the i386 table is still read: the kernel accepts and lists b32 rules loaded from other files
    assert [c[0] for c in fake.calls] == [["ausyscall", "x86_64", "--dump"], ["ausyscall", "i386", "--dump"]]
    assert not target.has_abi("b32") and target.has_abi("b64") and target.has_abi(None)
    assert "ia32_emulation=0" in target.absent["b32"]
    assert R.parse_listing("-a always,exit -F arch=b32 -S open -F key=x\n", target)[0].syscalls == (5,)


def test_target_aarch64_with_compat_maps_b32_to_arm():
    fake = FakeRun(dumps)
    host = {"/boot/config-6.1.0-arm64": "kernel_config/aarch64-compat.config"}
    target = A.Auditctl(fake).target(machine="aarch64", read=recorded_host(host),
                                     release="6.1.0-arm64")
    assert [c[0] for c in fake.calls] == [["ausyscall", "aarch64", "--dump"],
                                          ["ausyscall", "arm", "--dump"]]
    assert target.tables == {"b64": "aarch64", "b32": "arm"} and target.has_abi("b32")
    assert target.syscall_number("b64", "openat") == 56 and target.syscall_number("b64", "open") is None
    assert target.syscall_number("b32", "open") == 5


def test_target_aarch64_without_compat_has_no_b32_abi():
    fake = FakeRun(dumps)
    host = {"/proc/config.gz": gzip.compress(read_data("kernel_config/aarch64-nocompat.config").encode())}
    target = A.Auditctl(fake).target(machine="aarch64", read=recorded_host(host), release="5.14.0")
    assert not target.has_abi("b32")
    assert target.absent == {"b32": "CONFIG_COMPAT is not set in /proc/config.gz"}


def test_target_ppc64le_has_no_b32():
    fake = FakeRun(lambda args: (0, "Using ppc64le syscall table:\n0\trestart_syscall\n5\topen\n", ""))
    target = A.Auditctl(fake).target(machine="ppc64le", read=recorded_host({}), release="6.1.0")
    assert [c[0] for c in fake.calls] == [["ausyscall", "ppc64le", "--dump"]]
    assert set(target.syscalls) == {"b64"} and "no 32-bit" in target.absent["b32"]
    with pytest.raises(R.RuleError, match=r"arch b32 is not supported on this host \(ppc64le has no 32-bit"):
        R.parse_line("-a always,exit -F arch=b32 -S open -k x", target)


X86_CONFIG = read_data("kernel_config/x86_64-6.18.config")
X86_CMDLINE = read_data("kernel_config/cmdline-x86_64-6.18.txt")


@pytest.mark.parametrize("machine, cmdline, config, expected", [
    # recorded: this machine (6.18, IA32 emulation built in and on by default)
    ("x86_64", X86_CMDLINE, X86_CONFIG, True),
    ("x86_64", X86_CMDLINE.replace("quiet", "ia32_emulation=0"), X86_CONFIG, False),
    ("x86_64", X86_CMDLINE.replace("quiet", "ia32_emulation=off"), X86_CONFIG, False),
    ("x86_64", X86_CMDLINE.replace("quiet", "ia32_emulation=N"), None, False),
    ("x86_64", X86_CMDLINE.replace("quiet", "ia32_emulation=1"), X86_CONFIG, True),
    # after " -- " the words are init's, not the kernel's
    ("x86_64", X86_CMDLINE.replace("--firecracker-init", "ia32_emulation=0"), X86_CONFIG, True),
    ("x86_64", X86_CMDLINE, X86_CONFIG.replace("CONFIG_IA32_EMULATION=y",
                                               "# CONFIG_IA32_EMULATION is not set"), False),
    # 6.7+: built in but off unless ia32_emulation=1
    ("x86_64", X86_CMDLINE, X86_CONFIG.replace("# CONFIG_IA32_EMULATION_DEFAULT_DISABLED is not set",
                                               "CONFIG_IA32_EMULATION_DEFAULT_DISABLED=y"), False),
    ("x86_64", X86_CMDLINE.replace("quiet", "ia32_emulation=1"),
     X86_CONFIG.replace("# CONFIG_IA32_EMULATION_DEFAULT_DISABLED is not set",
                        "CONFIG_IA32_EMULATION_DEFAULT_DISABLED=y"), True),
    # no config to read: assumed (today's behaviour), unless the cmdline says no
    ("x86_64", None, None, True),
    ("aarch64", "console=ttyAMA0 root=/dev/vda2", read_data("kernel_config/aarch64-compat.config"), True),
    ("aarch64", "console=ttyAMA0 root=/dev/vda2", read_data("kernel_config/aarch64-nocompat.config"), False),
    # ia32_emulation means nothing on arm64
    ("aarch64", "ia32_emulation=0", read_data("kernel_config/aarch64-compat.config"), True),
    ("aarch64", None, None, True),
    ("ppc64le", None, None, False),
])
def test_b32_abi(machine, cmdline, config, expected):
    has, why = A.b32_abi(machine, cmdline, config, "/boot/config-test")
    assert has is expected, why
    assert why


def test_read_kernel_facts_prefers_boot_config():
    host = {"/proc/cmdline": b"ro quiet\n", "/boot/config-6.1.0": b"CONFIG_COMPAT=y\n",
            "/proc/config.gz": gzip.compress(b"# CONFIG_COMPAT is not set\n")}
    read = recorded_host(host)
    assert A.read_kernel_facts(read, "6.1.0") == ("ro quiet\n", "CONFIG_COMPAT=y\n", "/boot/config-6.1.0")
    del host["/boot/config-6.1.0"]
    assert A.read_kernel_facts(read, "6.1.0")[1:] == ("# CONFIG_COMPAT is not set\n", "/proc/config.gz")
    host["/proc/config.gz"] = b"not gzip"
    assert A.read_kernel_facts(recorded_host(host), "6.1.0") == ("ro quiet\n", None, None)


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


def _lister(outputs):
    calls = []

    def run_command(args, **kwargs):
        calls.append(list(args))
        return 0, outputs[min(len(calls), len(outputs)) - 1], ""
    return run_command, calls


def test_a_listing_that_lost_a_rule_is_read_again():
    """One read without a rule (netlink replies dropped), then two full ones."""
    full = "-w /etc/a -p wa -k x\n-w /etc/b -p wa -k x\n"
    run_command, calls = _lister(["-w /etc/a -p wa -k x\n", full, full])
    assert A.Auditctl(run_command).listing() == full
    assert len(calls) == 3


def test_a_listing_that_never_settles_fails():
    run_command, _calls = _lister(["a\n", "b\n", "a\n", "b\n"])
    with pytest.raises(A.AuditError) as info:
        A.Auditctl(run_command).listing()
    assert "different listing on each of 4 reads" in str(info.value)
