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
from ansible_collections.immutable.audit.plugins.module_utils import _rules
from ansible_collections.immutable.audit.plugins.modules import audit_rules

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "data")


def _read(name):
    with open(os.path.join(DATA, name)) as handle:
        return handle.read()


class FakeKernel(object):
    """Audit rules and status as the kernel keeps them, driven by argv."""

    def __init__(self):
        self.enabled = 1
        self.lines = []
        self.commands = []
        self.ignore_adds = False
        tables = {"b64": _table("syscalls_x86_64.tsv"), "b32": _table("syscalls_i386.tsv")}
        self.target = _rules.Target(tables, user={"root": 0}.get)

    def run(self, args, environ_update=None, expand_user_and_vars=True):
        assert environ_update and environ_update.get("LANG") == "C"
        assert expand_user_and_vars is False
        self.commands.append(list(args))
        prog, rest = os.path.basename(args[0]), args[1:]
        if prog == "ausyscall":
            return 0, _read("syscalls_x86_64.tsv" if rest[0] == "x86_64" else "syscalls_i386.tsv"), ""
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
def kernel():
    return FakeKernel()


@pytest.fixture
def run(monkeypatch, kernel, module_runner):
    """run(args, check=False, diff=False) -> (exception type, result dict)."""
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, **kw: "/usr/sbin/" + name)
    monkeypatch.setattr(basic.AnsibleModule, "run_command",
                        lambda self, args, **kw: kernel.run(args, **kw))

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
                                                     "-w /etc/shadow -p wa"]})
    assert kind == "fail"
    assert "kexec_file_load" in res["msg"] and "arch b32" in res["msg"] and res["position"] == 3
    assert _changes(kernel) == [] and kernel.lines == [] and not os.path.exists(path)


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


def test_refused_rule_reports_what_the_kernel_already_changed(run, kernel, tmp_path):
    path = str(tmp_path / "50-test.rules")
    real_change = kernel.change

    def refuse_time_rule(argv):
        if "key=time" in argv:
            return 255, "", "Error sending add rule data request (Invalid argument)\n"
        return real_change(argv)
    kernel.change = refuse_time_rule
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "fail"
    assert "Invalid argument" in res["msg"] and "key=time" in " ".join(res["cmd"])
    assert res["live_changed"] == {"added": [LISTED[0]], "removed": []}
    assert kernel.lines == [LISTED[0]] and not os.path.exists(path)
