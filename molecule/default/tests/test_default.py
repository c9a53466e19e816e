"""Verify the locked guest of molecule/default from outside (testinfra).

converge.yml loaded 32 STIG rules and locked the kernel; side_effect.yml
staged a changed set (one rule added, one removed) on the locked kernel and
rebooted. These tests read the guest's real state: kernel status and listing,
the rules file, auditd, and the files side_effect.yml left in /root.
"""

import json

import pytest

RULES_FILE = "/etc/audit/rules.d/50-immutable.rules"
ADDED_KEY = "-F key=modules"
REMOVED = "-w /etc/issue.net -p wa -k system-locale"


def _status(host):
    # '|| exit 3': testinfra takes exit status 255 for an SSH failure.
    out = host.check_output("auditctl -s || exit 3")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _listing(host):
    return host.check_output("auditctl -l || exit 3").splitlines()


def _json(host, path):
    return json.loads(host.file(path).content_string)


def test_kernel_is_locked_with_the_converged_settings(host):
    status = _status(host)
    assert status["enabled"] == "2"
    assert status["backlog_limit"] == "8192"
    assert status["failure"] == "1"


def test_live_rules_are_the_rules_file(host):
    lines = host.file(RULES_FILE).content_string.splitlines()
    declared = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    live = _listing(host)
    assert live == declared
    # The changed set of side_effect.yml is the one loaded at boot.
    assert len(live) == 32
    assert REMOVED not in live
    assert [ln for ln in live if ln.endswith(ADDED_KEY)] == [
        "-a always,exit -F arch=b64 -S init_module,delete_module,finit_module -F key=modules"
    ]
    assert "-w /etc/shadow -p wa -k identity" in live


def test_live_rules_are_what_the_module_staged(host):
    staged = _json(host, "/root/staged.json")
    assert _listing(host) == staged["rules"]


def test_auditd_is_active(host):
    assert host.check_output("systemctl is-active auditd") == "active"
    assert host.service("auditd").is_enabled
    # auditd is the kernel's audit daemon, not some other process.
    pid = _status(host)["pid"]
    assert pid != "0"
    assert host.file(f"/proc/{pid}/comm").content_string.strip() == "auditd"


def _sections(text):
    sections, name = {}, None
    for line in text.splitlines():
        if line.startswith("### "):
            name = line[4:]
            sections[name] = []
        else:
            sections[name].append(line)
    return sections


def test_plain_auditctl_was_refused(host):
    sections = _sections(host.file("/root/refusal.txt").content_string)
    assert set(sections) == {"before", "add", "delete", "flush", "after"}
    msg = "The audit system is in immutable mode, no rule changes allowed"
    # Exit 0 although nothing changed (AUDIT-SEMANTICS §6).
    assert sections["add"] == [msg, "rc=0"]
    assert sections["delete"] == [msg, "rc=0"]
    assert sections["flush"][-1] == "rc=255"
    assert "Operation not permitted" in "\n".join(sections["flush"])
    assert len(sections["before"]) == 32
    assert sections["after"] == sections["before"]
    assert "-w /tmp -p wa -k refused" not in sections["after"]
    assert "-w /etc/hosts -p wa -k system-locale" in sections["after"]


def test_changed_set_was_staged_for_a_reboot(host):
    staged = _json(host, "/root/staged.json")
    assert staged["changed"] is True
    assert staged["locked"] is True
    assert staged["reboot_required"] is True
    assert staged["pending"]["remove"] == [REMOVED]
    assert len(staged["pending"]["add"]) == 1
    assert staged["pending"]["add"][0].endswith(ADDED_KEY)
    assert staged["added"] == [] and staged["removed"] == []


@pytest.mark.parametrize("module", ["audit_rules", "audit_control"])
def test_nothing_pending_after_the_reboot(host, module):
    result = _json(host, "/root/after_reboot.json")[module]
    assert result["changed"] is False
    assert result["reboot_required"] is False
    assert result["locked"] is True
    assert not result.get("failed", False)


def test_kernel_refuses_to_unlock(host):
    # auditctl exits 255 for the refused request; '|| exit 3' keeps testinfra
    # from taking that for an SSH failure.
    cmd = host.run("auditctl -e 0 || exit 3")
    assert cmd.rc == 3
    assert "Operation not permitted" in cmd.stderr + cmd.stdout
    assert _status(host)["enabled"] == "2"


def test_kernel_refuses_to_flush(host):
    before = _listing(host)
    cmd = host.run("auditctl -D || exit 3")
    assert cmd.rc == 3
    assert _listing(host) == before


def test_audit_boot_parameter(host):
    assert "audit=1" in host.file("/proc/cmdline").content_string.split()
