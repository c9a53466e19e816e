# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""audit_rules end to end against a recorded kernel.

FakeKernel answers auditctl and ausyscall like the real ones on Debian 12
(recorded syscall tables and status), including the locked kernel of
AUDIT-SEMANTICS section 6: rule changes print "immutable mode" and exit 0,
``-R`` prints nothing and exits 0, and nothing changes.
"""

import os

import pytest

from ansible.module_utils import basic
from ansible_collections.immutable.audit.plugins.module_utils import _auditctl, _rules
from ansible_collections.immutable.audit.plugins.modules import audit_rules

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "data")


def _read(name):
    with open(os.path.join(DATA, name)) as handle:
        return handle.read()


# machine -> (b64 table, b32 table), as _auditctl maps them
TABLES = {"x86_64": ("x86_64", "i386"), "aarch64": ("aarch64", "arm")}
# What the host files say (read through _auditctl._read_file): recorded on
# this project's x86_64 machine; the arm64 configs are hand-written snippets.
HOSTS = {
    "x86_64": {"/proc/cmdline": "kernel_config/cmdline-x86_64-6.18.txt",
               "/boot/config-6.18.44": "kernel_config/x86_64-6.18.config"},
    "aarch64": {"/proc/cmdline": None, "/boot/config-6.18.44": "kernel_config/aarch64-nocompat.config"},
    "aarch64-compat": {"/proc/cmdline": None,
                       "/boot/config-6.18.44": "kernel_config/aarch64-compat.config"},
}


class FakeKernel(object):
    """Audit rules and status as the kernel keeps them, driven by argv.

    ``host`` names the machine (HOSTS): its syscall tables and the kernel
    config that decides whether there is a b32 ABI.
    """

    def __init__(self, host="x86_64"):
        self.enabled = 1
        self.lines = []
        self.commands = []
        self.ignore_adds = False
        self.machine = host.split("-")[0]
        self.files = HOSTS[host]
        b64, b32 = TABLES[self.machine]
        tables = {"b64": _table("syscalls_%s.tsv" % b64), "b32": _table("syscalls_%s.tsv" % b32)}
        self.target = _rules.Target(tables, user={"root": 0}.get)

    def read(self, path):
        name = self.files.get(path)
        if name is None:
            return None
        with open(os.path.join(DATA, name), "rb") as handle:
            return handle.read()

    def run(self, args, environ_update=None, expand_user_and_vars=True):
        assert environ_update and environ_update.get("LANG") == "C"
        assert expand_user_and_vars is False
        self.commands.append(list(args))
        prog, rest = os.path.basename(args[0]), args[1:]
        if prog == "ausyscall":
            # ausyscall prints every architecture's table on any machine
            # (recorded from Debian 12's); the other tables are read only to
            # tell an absent syscall from a typo.
            assert rest[1:] == ["--dump"], args
            return 0, _read("syscalls_%s.tsv" % rest[0]), ""
        assert prog == "auditctl", args
        if rest == ["-s"]:
            return 0, _read("auditctl_status.txt").replace("enabled 0", "enabled %d" % self.enabled), ""
        if rest == ["-l"]:
            return 0, "\n".join(self.lines) + "\n" if self.lines else "No rules\n", ""
        if rest[0] == "-R":
            if self.enabled == 2:
                return 0, "", ""
            with open(rest[1]) as handle:
                for text in handle.read().splitlines():
                    rc, _out, err = self.change(_rules.tokenize(text))
                    if rc or err:
                        return 1, "", ""
            return 0, "", ""
        return self.change(rest)

    def change(self, argv):
        assert argv[0] in ("-a", "-A", "-d"), "unexpected command %r" % argv
        if self.enabled == 2:
            return 0, "", "The audit system is in immutable mode, no rule changes allowed\n"
        rule = _rules.parse_line(" ".join(a.replace(" ", "\\ ") for a in argv[:1] + ["x"] + argv[2:])
                                 .replace(" x ", " %s " % argv[1], 1), self.target)
        line = (rule.rule if isinstance(rule, _rules.Deletion) else rule).line
        if argv[0] == "-d":
            if line not in self.lines:
                return 255, "", "Error sending delete rule data request (No such file or directory)\n"
            self.lines.remove(line)
            return 0, "", ""
        if line in self.lines:
            return 255, "", "Error sending add rule data request (Rule exists)\n"
        if not self.ignore_adds:
            same = [i for i, live in enumerate(self.lines) if _list_of(live) == rule.list]
            if argv[0] == "-A":
                self.lines.insert(same[0] if same else len(self.lines), line)
            else:
                self.lines.insert(same[-1] + 1 if same else len(self.lines), line)
        return 0, "", ""


def _list_of(line):
    return "exit" if line.startswith("-w") or line.startswith(" -p") else line.split(",", 1)[1].split(" ", 1)[0]


def _table(name):
    out = {}
    for line in _read(name).splitlines():
        num, _sep, sc = line.partition("\t")
        if num.isdigit():
            out[sc] = int(num)
    return out


@pytest.fixture
def kernel(request):
    """x86_64 unless parametrized (indirect) with a HOSTS name."""
    return FakeKernel(getattr(request, "param", "x86_64"))


@pytest.fixture
def run(monkeypatch, kernel, module_runner):
    """run(args, check=False, diff=False) -> (exception type, result dict)."""
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, **kw: "/usr/sbin/" + name)
    monkeypatch.setattr(basic.AnsibleModule, "run_command",
                        lambda self, args, **kw: kernel.run(args, **kw))
    monkeypatch.setattr(_auditctl, "_uname", lambda: ("Linux", "host", "6.18.44", "#1", kernel.machine))
    monkeypatch.setattr(_auditctl, "_read_file", kernel.read)

    def call(args, check=False, diff=False):
        return module_runner.run(audit_rules.main, args, check=check, diff=diff)
    return call


RULES = [
    "-w /etc/passwd -p aw -k identity",
    "-a exit,always -F arch=x86_64 -S settimeofday -S adjtimex -k time",
]
LISTED = [
    "-w /etc/passwd -p wa -k identity",
    "-a always,exit -F arch=b64 -S adjtimex,settimeofday -F key=time",
]


def _changes(kernel):
    return [c for c in kernel.commands if c[1] not in ("-s", "-l", "--dump") and "--dump" not in c]


def test_four_steps_then_real_state(run, kernel, tmp_path):
    path = str(tmp_path / "50-test.rules")
    kind, res = run({"path": path, "rules": RULES}, check=True, diff=True)
    assert kind == "exit" and res["changed"] and res["added"] == LISTED
    assert kernel.lines == [] and not os.path.exists(path) and _changes(kernel) == []
    assert res["diff"][1]["after"] == "\n".join(LISTED) + "\n"

    kind, res = run({"path": path, "rules": RULES})
    assert kind == "exit" and res["changed"]
    assert kernel.lines == LISTED
    with open(path) as handle:
        assert [line for line in handle.read().splitlines() if not line.startswith("#")] == LISTED
    mtime = os.stat(path).st_mtime_ns

    kernel.commands[:] = []
    for check in (False, True):
        kind, res = run({"path": path, "rules": RULES}, check=check)
        assert kind == "exit" and not res["changed"], res
        assert res["added"] == res["removed"] == []
    assert _changes(kernel) == []
    assert os.stat(path).st_mtime_ns == mtime and kernel.lines == LISTED


def test_locked_kernel_stages_file_and_reports_reboot(run, kernel, tmp_path):
    path = str(tmp_path / "50-test.rules")
    kernel.lines = [LISTED[0]]
    kernel.enabled = 2
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "exit", res
    assert res["changed"] and res["file_changed"] and res["locked"] and res["reboot_required"]
    assert res["pending"] == {"add": [LISTED[1]], "remove": []}
    assert res["added"] == []
    assert _changes(kernel) == [], "nothing may be sent to a locked kernel"
    assert kernel.lines == [LISTED[0]]
    assert os.path.exists(path)
    # Again: the file is staged, the kernel still locked: unchanged, still pending.
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "exit" and not res["changed"] and res["reboot_required"]


def test_silently_refused_change_fails_and_keeps_file(run, kernel, tmp_path):
    path = str(tmp_path / "50-test.rules")
    kernel.ignore_adds = True
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "fail"
    assert "not the planned one" in res["msg"]
    assert res["expected"] == LISTED and res["actual"] == []
    assert not os.path.exists(path)


def test_bad_rule_fails_before_any_change(run, kernel, tmp_path):
    path = str(tmp_path / "50-test.rules")
    kind, res = run({"path": path, "rules": RULES + ["-a always,exit -F arch=b32 -S kexec_file_load -k x",
                                                     "-w /etc/shadow -p wa"],
                     "missing_syscall": "fail"})
    assert kind == "fail"
    assert "kexec_file_load" in res["msg"] and "arch b32" in res["msg"] and res["position"] == 3
    assert _changes(kernel) == [] and kernel.lines == [] and not os.path.exists(path)
    kind, res = run({"path": path, "rules": RULES + ["-a always,exit -F arch=b64 -S adjtimex -F uid=nosuchuser"]})
    assert kind == "fail" and "nosuchuser" in res["msg"] and res["position"] == 3
    assert _changes(kernel) == [] and kernel.lines == [] and not os.path.exists(path)


def test_a_syscall_no_architecture_has_fails_with_the_default(run, kernel, tmp_path):
    """missing_syscall: skip drops syscalls absent on this arch, never a typo."""
    path = str(tmp_path / "50-test.rules")
    kind, res = run({"path": path, "rules": RULES + ["-a always,exit -F arch=b64 -S adjtimex,settimeofdya -k t"]})
    assert kind == "fail", res
    assert "unknown syscall settimeofdya: no architecture's syscall table has it" in res["msg"]
    assert res["position"] == 3 and "nothing was changed" in res["msg"]
    assert _changes(kernel) == [] and kernel.lines == [] and not os.path.exists(path)


def test_syscall_absent_from_i386_is_dropped_by_default(run, kernel, tmp_path, module_runner):
    """kexec_file_load is x86_64 only: skip (the default) leaves the b32 rule out."""
    path = str(tmp_path / "50-test.rules")
    bad = "-a always,exit -F arch=b32 -S kexec_file_load -k x"
    kind, res = run({"path": path, "rules": RULES + [bad]})
    assert kind == "exit" and kernel.lines == LISTED and res["rules"] == LISTED
    assert res["skipped_rules"] == [{"rule": bad, "missing_syscalls": ["kexec_file_load"], "arch": "b32",
                                     "reason": res["dropped_syscalls"][0]["reason"]}]
    assert res["dropped_syscalls"][0]["table"] == "i386"
    assert module_runner.warnings == ["rule 3 '%s': %s" % (bad, res["dropped_syscalls"][0]["reason"])]
    assert "kexec_file_load is not in the syscall table of arch b32 (i386)" in module_runner.warnings[0]


def test_foreign_rules_survive_unless_exclusive(run, kernel, tmp_path):
    path = str(tmp_path / "50-test.rules")
    foreign = "-w /etc/hosts -p wa -k foreign"
    kernel.lines = [foreign]
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "exit" and kernel.lines == [foreign] + LISTED
    kind, res = run({"path": path, "rules": RULES, "exclusive": True})
    assert kind == "exit" and res["removed"] == [foreign]
    assert kernel.lines == LISTED


def test_absent_removes_own_rules_only(run, kernel, tmp_path):
    path = str(tmp_path / "50-test.rules")
    run({"path": path, "rules": RULES})
    kernel.lines.append("-w /etc/hosts -p wa -k foreign")
    kind, res = run({"path": path, "state": "absent"})
    assert kind == "exit" and res["changed"] and sorted(res["removed"]) == sorted(LISTED)
    assert kernel.lines == ["-w /etc/hosts -p wa -k foreign"] and not os.path.exists(path)
    kind, res = run({"path": path, "state": "absent"})
    assert kind == "exit" and not res["changed"]


def test_refused_rule_puts_the_kernel_back_and_says_so(run, kernel, tmp_path):
    """The kernel refuses the second rule after accepting the first: the first
    is deleted again, the file never written, and changed is true."""
    path = str(tmp_path / "50-test.rules")
    kernel.lines = ["-w /etc/hosts -p wa -k net"]
    real_change = kernel.change

    def refuse_time_rule(argv):
        if "key=time" in argv and argv[0] != "-d":
            return 255, "", "Error sending add rule data request (Invalid argument)\n"
        return real_change(argv)
    kernel.change = refuse_time_rule
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "fail"
    assert "Invalid argument" in res["msg"] and "key=time" in " ".join(res["cmd"])
    assert "put back to the 1 rules it held before" in res["msg"]
    assert res["changed"] is True and res["live_restored"] is True
    assert res["live_rules"] == ["-w /etc/hosts -p wa -k net"]
    assert kernel.lines == ["-w /etc/hosts -p wa -k net"] and not os.listdir(str(tmp_path))
    # the next run, the cause removed, converges; the one after is unchanged
    kernel.change = real_change
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "exit" and res["changed"] and kernel.lines[-2:] == LISTED
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "exit" and not res["changed"]


# ------------------------------------------------------------ aarch64 hosts

def _cis():
    import yaml
    root = os.path.dirname(os.path.dirname(DATA))
    with open(os.path.join(os.path.dirname(root), "roles", "baseline", "vars", "profiles", "cis.yml")) as handle:
        return [r for g in yaml.safe_load(handle)["__baseline_profile_cis"] for r in g["rules"]]


def _file_rules(path):
    with open(path) as handle:
        return [line for line in handle.read().splitlines() if not line.startswith("#")]


@pytest.mark.parametrize("kernel", ["aarch64"], indirect=True)
def test_cis_on_aarch64_without_compat(run, kernel, tmp_path, module_runner):
    path = str(tmp_path / "50-cis.rules")
    cis = _cis()
    args = {"path": path, "rules": cis, "missing_path": "skip"}
    kind, res = run(args)
    assert kind == "exit", res
    dropped = res["dropped_syscalls"]
    b32 = [r for r in cis if " -F arch=b32 " in r]
    # every b32 rule is left out (no CONFIG_COMPAT), each with its warning
    left_out = [d for d in dropped if d["kept"] is None]
    assert [d["rule"] for d in left_out] == b32
    assert all(d["no_abi"] and "CONFIG_COMPAT is not set in /boot/config-6.18.44" in d["reason"]
               for d in left_out)
    assert [s["rule"] for s in res["skipped_rules"] if "missing_syscalls" in s] == b32
    # the b64 rules with x86-only syscalls lose just those
    reduced = [d for d in dropped if d["kept"] is not None]
    assert sorted(n for d in reduced for n in d["missing_syscalls"]) == sorted(
        ["open", "creat"] * 2 + ["chmod", "chown", "lchown", "rename", "unlink", "create_module",
                                 "query_module"])
    assert all(d["arch"] == "b64" and d["table"] == "aarch64" for d in reduced)
    for entry in dropped:
        assert "rule %d '%s': %s" % (entry["position"], entry["rule"], entry["reason"]) in module_runner.warnings
    # every other rule stays; the kernel and the file hold the same, no b32, no missing name
    watches_skipped = len([s for s in res["skipped_rules"] if "missing" in s])
    assert len(kernel.lines) == len(cis) - len(b32) - watches_skipped
    assert kernel.lines == res["rules"] == _file_rules(path)
    names = set(n for d in reduced for n in d["missing_syscalls"])
    for line in kernel.lines:
        assert "arch=b32" not in line
        if " -S " in line:
            assert not names & set(line.split(" -S ")[1].split(" ")[0].split(",")), line
    # listed in aarch64 numbering (fchownat 54, fchown 55)
    assert "-a always,exit -F arch=b64 -S fchownat,fchown -F auid>=1000 -F auid!=-1 -F key=perm_mod" \
        in kernel.lines
    # and again: unchanged, nothing sent to the kernel
    kernel.commands[:] = []
    kind, res = run(args)
    assert kind == "exit" and not res["changed"] and _changes(kernel) == []


@pytest.mark.parametrize("kernel", ["aarch64-compat"], indirect=True)
def test_cis_on_aarch64_with_compat_keeps_b32_rules(run, kernel, tmp_path):
    path = str(tmp_path / "50-cis.rules")
    cis = _cis()
    kind, res = run({"path": path, "rules": cis, "missing_path": "skip"})
    assert kind == "exit", res
    b32_live = [line for line in kernel.lines if " -F arch=b32 " in line]
    assert len(b32_live) == len([r for r in cis if " -F arch=b32 " in r])
    # arch=b32 is the arm table: chown and lchown exist there, listed in arm numbering
    assert "-a always,exit -F arch=b32 -S lchown,fchown,chown,fchownat -F auid>=1000 -F auid!=-1 " \
        "-F key=perm_mod" in b32_live
    assert [(d["arch"], d["table"], d["missing_syscalls"]) for d in res["dropped_syscalls"]
            if d["arch"] == "b32"] == [("b32", "arm", ["create_module", "query_module"])]
    assert not any(d["kept"] is None for d in res["dropped_syscalls"])


@pytest.mark.parametrize("kernel", ["aarch64"], indirect=True)
def test_missing_syscall_fail_changes_nothing(run, kernel, tmp_path, module_runner):
    path = str(tmp_path / "50-cis.rules")
    kind, res = run({"path": path, "rules": _cis(), "missing_path": "skip", "missing_syscall": "fail"})
    assert kind == "fail"
    assert _changes(kernel) == [] and kernel.lines == [] and not os.path.exists(path)
    assert "nothing was changed" in res["msg"].lower() and "missing_syscall: skip" in res["msg"]
    assert "syscalls open, creat are not in the syscall table of arch b64 (aarch64)" in res["msg"]
    assert "this kernel has no arch b32 ABI" in res["msg"]
    first = res["dropped_syscalls"][0]
    assert res["rule"] == first["rule"] and res["position"] == first["position"]
    assert len(res["dropped_syscalls"]) == len([r for r in _cis() if " -F arch=b32 " in r]) + 6
    # check mode fails the same way
    kind, res = run({"path": path, "rules": _cis(), "missing_path": "skip", "missing_syscall": "fail"},
                    check=True)
    assert kind == "fail" and _changes(kernel) == []


@pytest.mark.parametrize("kernel", ["aarch64"], indirect=True)
def test_absent_state_finds_rules_written_without_the_dropped_syscalls(run, kernel, tmp_path):
    path = str(tmp_path / "50-test.rules")
    rules = ["-a always,exit -F arch=b64 -S open,openat -F key=x", "-a always,exit -F arch=b32 -S open -F key=y"]
    kind, res = run({"path": path, "rules": rules})
    assert kind == "exit" and kernel.lines == ["-a always,exit -F arch=b64 -S openat -F key=x"]
    os.remove(path)
    kind, res = run({"path": path, "rules": rules, "state": "absent"})
    assert kind == "exit" and res["removed"] == ["-a always,exit -F arch=b64 -S openat -F key=x"]
    assert kernel.lines == []
