# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit_info module end to end with a recorded auditctl/ausyscall,
a temporary rules.d, kernel command line and /proc (no kernel is queried)."""


import pytest

from ansible.module_utils import basic
from ansible_collections.immutable.audit.plugins.modules import audit_info

AUDITCTL = "/usr/sbin/auditctl"
AUSYSCALL = "/usr/sbin/ausyscall"

# Recorded on Debian 12 (audit 3.0.9), auditd running as pid 612.
STATUS = """enabled 1
failure 1
pid 612
rate_limit 0
backlog_limit 8192
lost 0
backlog 0
backlog_wait_time 60000
backlog_wait_time_actual 0
loginuid_immutable 0 unlocked
"""
LISTING = """-w /etc/passwd -p wa -k identity
-a always,exit -F arch=b64 -S adjtimex,settimeofday -F key=time-change
-w /tmp/debug -p wa -k debug
"""
# Subsets of `ausyscall x86_64 --dump` / `ausyscall i386 --dump`.
TABLES = {
    "x86_64": "Using x86_64 syscall table:\n2\topen\n159\tadjtimex\n164\tsettimeofday\n",
    "i386": "Using i386 syscall table:\n5\topen\n79\tsettimeofday\n124\tadjtimex\n",
}
# Only these commands may run: the module reads and never changes anything.
READ_ONLY = ([AUDITCTL, "-s"], [AUDITCTL, "-l"], [AUDITCTL, "-v"])


class Recorder(object):
    """A recorded run_command; ``answers`` overrides an answer per command."""

    def __init__(self):
        self.calls = []
        self.answers = {}

    def __call__(self, args, **kwargs):
        assert kwargs["environ_update"]["LANG"] == "C" and kwargs["expand_user_and_vars"] is False
        self.calls.append(list(args))
        key = tuple(args)
        if key in self.answers:
            return self.answers[key]
        if args == [AUDITCTL, "-s"]:
            return 0, STATUS, ""
        if args == [AUDITCTL, "-l"]:
            return 0, LISTING, ""
        if args == [AUDITCTL, "-v"]:
            return 0, "auditctl version 3.0.9\n", ""
        if args[0] == AUSYSCALL and args[2:] == ["--dump"] and args[1] in TABLES:
            return 0, TABLES[args[1]], ""
        raise AssertionError("unexpected command %r" % (args,))

    def read_only(self):
        return all(c in READ_ONLY or (c[0] == AUSYSCALL and c[2:] == ["--dump"]) for c in self.calls)


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A rules.d, /proc/cmdline and /proc/612/comm under tmp_path."""
    rules_d = tmp_path / "rules.d"
    rules_d.mkdir()
    (rules_d / "audit.rules").write_text("-D\n-b 8192\n-f 1\n")
    # no final newline: its last line is glued to the next file's first
    (rules_d / "30-identity.rules").write_text("-w /etc/passwd -p aw -k identity\n-w /etc/group -p wa -k identity")
    (rules_d / "40-time.rules").write_text(
        "-a always,exit -F arch=b64 -S settimeofday -S adjtimex -k time-change\n")
    (rules_d / "99-finalize.rules").write_text("-e 2\n")
    (rules_d / "README").write_text("not a rules file\n")
    (tmp_path / "cmdline").write_text("BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 ro quiet audit=1 "
                                      "audit_backlog_limit=8192\n")
    (tmp_path / "proc" / "612").mkdir(parents=True)
    (tmp_path / "proc" / "612" / "comm").write_text("auditd\n")
    monkeypatch.setattr(audit_info, "_PROC", str(tmp_path / "proc"))
    return tmp_path


@pytest.fixture
def run(monkeypatch, module_runner):
    """run(args, check=False) -> (exception type, result); run.recorder, run.warnings."""
    recorder = Recorder()
    bins = {"auditctl": AUDITCTL, "ausyscall": AUSYSCALL}

    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, args, **kw: recorder(args, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: bins.get(name))

    def call(args, check=False):
        return module_runner.run(audit_info.main, args, check=check)
    call.recorder = recorder
    call.warnings = module_runner.warnings
    call.bins = bins
    return call


def _args(host, **kw):
    return dict(dict(rules_dir=str(host / "rules.d"), cmdline_path=str(host / "cmdline")), **kw)


def test_report_check_and_normal_mode_identical(run, host):
    results = []
    for check in (True, False):
        kind, res = run(_args(host), check=check)
        assert kind == "exit"
        results.append(res)
    assert results[0] == results[1]
    res = results[0]
    rules_d = str(host / "rules.d")
    assert res["changed"] is False and res["rules_dir"] == rules_d
    assert res["status"]["enabled"] == 1 and res["status"]["locked"] is False
    assert res["status"]["backlog_limit"] == 8192 and res["status"]["pid"] == 612
    assert res["live_rules"] == LISTING.splitlines()
    assert res["persisted_rules"] == [
        {"line": "-w /etc/passwd -p wa -k identity", "file": rules_d + "/30-identity.rules", "lineno": 1},
    ]
    assert [(c["line"], c["file"]) for c in res["persisted_controls"]] == [
        ("-D", rules_d + "/audit.rules"), ("-b 8192", rules_d + "/audit.rules"),
        ("-f 1", rules_d + "/audit.rules"), ("-e 2", rules_d + "/99-finalize.rules")]
    assert [(p["kind"], p["file"], p["lineno"]) for p in res["problems"]] == [
        ("no_final_newline", rules_d + "/30-identity.rules", 2),
        ("invalid", rules_d + "/30-identity.rules", 2),
    ]
    # the glued line stops auditctl -R before the -e 2 at the end
    assert res["boot_lock"] is None
    assert res["drift"] == {
        "missing": [],
        "extra": ["-a always,exit -F arch=b64 -S adjtimex,settimeofday -F key=time-change",
                  "-w /tmp/debug -p wa -k debug"],
        "out_of_order": [], "in_sync": False}
    assert res["auditd"] == {"running": True, "pid": 612}
    assert res["version"] == "3.0.9"
    assert res["kernel_cmdline"] == {"audit": "1", "audit_backlog_limit": "8192"}
    assert run.recorder.read_only()
    assert [AUDITCTL, "-s"] in run.recorder.calls and [AUDITCTL, "-l"] in run.recorder.calls


def test_auditd_not_running_and_rules_dir_missing(run, host):
    run.recorder.answers[(AUDITCTL, "-s")] = (0, STATUS.replace("pid 612", "pid 0"), "")
    kind, res = run(_args(host, rules_dir=str(host / "nowhere")), check=True)
    assert kind == "exit" and res["changed"] is False
    assert res["auditd"] == {"running": False, "pid": None}
    assert res["persisted_rules"] == [] and res["problems"] == []
    assert res["drift"]["extra"] == res["live_rules"]
    assert run.warnings == ["rules_dir %s does not exist: no rules are persisted there" % (host / "nowhere")]


def test_auditctl_missing_fails_with_install_hint(run, host):
    del run.bins["auditctl"]
    kind, res = run(_args(host))
    assert kind == "fail"
    assert res["msg"].startswith("auditctl was not found: install the audit userspace (package auditd")
    assert run.recorder.calls == []


def test_auditctl_error_is_one_failure_with_details(run, host):
    err = "Error sending status request (Operation not permitted)\n"
    run.recorder.answers[(AUDITCTL, "-s")] = (255, "", err)
    kind, res = run(_args(host))
    assert kind == "fail"
    assert "Operation not permitted" in res["msg"]
    assert res["rc"] == 255 and res["stderr"] == err and res["cmd"] == [AUDITCTL, "-s"]
    assert run.recorder.calls == [[AUDITCTL, "-s"]]


def test_unreadable_cmdline_fails(run, host):
    kind, res = run(_args(host, cmdline_path=str(host / "missing")))
    assert kind == "fail"
    assert res["msg"] == "cannot read the kernel command line: %s does not exist" % (host / "missing")
    assert run.recorder.read_only()
