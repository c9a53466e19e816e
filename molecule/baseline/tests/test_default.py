"""Verify the baseline guest after the reboot (testinfra).

converge.yml applied the cis and stig profiles and locked the kernel;
side_effect.yml rebooted and saved immutable.audit.audit_info's result to
/root/baseline-info.json. The booted kernel must hold exactly the persisted
rules, be locked, and auditd must receive the events.
"""

import json

RULES_FILE = "/etc/audit/rules.d/50-immutable-baseline.rules"


def _info(host):
    return json.loads(host.file("/root/baseline-info.json").content_string)


def test_live_rules_equal_persisted_rules(host):
    info = _info(host)
    assert info["drift"]["in_sync"], info["drift"]
    # '|| exit 3': testinfra takes exit status 255 for an SSH failure.
    assert host.check_output("auditctl -l || exit 3").splitlines() == info["live_rules"]


def test_kernel_is_locked_now_and_at_boot(host):
    status = dict(line.split(" ", 1) for line in
                  host.check_output("auditctl -s || exit 3").splitlines() if " " in line)
    assert status["enabled"] == "2"
    assert _info(host)["boot_lock"] == 2


def test_auditd_runs(host):
    assert _info(host)["auditd"]["running"]
    assert host.service("auditd").is_running


def test_baseline_rules_are_live(host):
    live = host.check_output("auditctl -l || exit 3").splitlines()
    assert "-w /etc/sudoers -p wa -k scope" in live
    assert "-w /etc/sudoers -p wa -k privilege_modification" in live
    assert "-a always,exit -S all -F path=/usr/bin/passwd -F perm=x -F auid>=1000 -F auid!=-1 -F key=privileged" in live
    assert any(" -F arch=b32 " in rule for rule in live)


def test_rules_file_and_log_permissions(host):
    rules = host.file(RULES_FILE)
    assert rules.user == "root" and rules.mode & 0o137 == 0
    logdir = host.file("/var/log/audit")
    assert logdir.user == "root" and logdir.mode & 0o027 == 0
    assert host.file("/var/log/audit/audit.log").mode & 0o137 == 0
