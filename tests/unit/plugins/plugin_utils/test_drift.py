# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift findings from realistic module results (shaped as the modules' RETURN docs), the report
document, its JUnit XML and its HTML (escaping)."""

import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _seal
from ansible_collections.immutable.audit.plugins.plugin_utils import _drift

RULES_FILE = "/etc/audit/rules.d/50-immutable.rules"
WEIRD = "-a always,exit -F arch=b64 -S open -F exit=-EACCES -F key=<access&denied>"


# ----------------------------------------------------------------- realistic results

def audit_rules_result(**over):
    """audit_rules in check mode with --diff: two rules missing live, one extra, one out of order,
    the rules file differs."""
    result = {
        "changed": True, "path": RULES_FILE,
        "rules": ["-w /etc/passwd -p wa -k identity", "-w /etc/shadow -p wa -k identity",
                  "-a never,exit -F arch=b64 -S adjtimex -F auid=0",
                  "-a always,exit -F arch=b64 -S adjtimex,settimeofday -F key=time", WEIRD],
        "added": ["-w /etc/shadow -p wa -k identity", WEIRD], "removed": ["-w /tmp/debug -p wa -k debug"],
        "moved": ["-a never,exit -F arch=b64 -S adjtimex -F auid=0"],
        "live_drift": {"missing": ["-w /etc/shadow -p wa -k identity", WEIRD],
                       "extra": ["-w /tmp/debug -p wa -k debug"],
                       "out_of_order": ["-a never,exit -F arch=b64 -S adjtimex -F auid=0"]},
        "locked": False, "reboot_required": False, "pending": {"add": [], "remove": []},
        "file_changed": True, "skipped": [], "warnings_boot": [],
        "diff": [
            {"before_header": RULES_FILE, "after_header": RULES_FILE,
             "before": "-w /etc/passwd -p wa -k identity\n",
             "after": "-w /etc/passwd -p wa -k identity\n-w /etc/shadow -p wa -k identity\n" + WEIRD + "\n"},
            {"before_header": "kernel (auditctl -l)", "after_header": "kernel (auditctl -l)",
             "before": "-w /etc/passwd -p wa -k identity\n-w /tmp/debug -p wa -k debug\n",
             "after": "-w /etc/passwd -p wa -k identity\n-w /etc/shadow -p wa -k identity\n"},
        ],
    }
    result.update(over)
    return result


def audit_control_result(**over):
    """audit_control in check mode with --diff on an unlocked kernel: lock and backlog limit would change."""
    status = {"enabled": 1, "failure": 1, "pid": 612, "rate_limit": 0, "backlog_limit": 64, "lost": 0,
              "backlog": 0, "backlog_wait_time": 15000, "backlog_wait_time_actual": 0,
              "loginuid_immutable": 0, "loginuid_immutable_locked": False}
    after = dict(status, enabled=2, backlog_limit=8192, loginuid_immutable=1, loginuid_immutable_locked=True,
                 lost=5, pid=613)
    result = {
        "changed": True, "path": "/etc/audit/rules.d/zz-immutable-finalize.rules",
        "status": status, "status_after": after, "locked": True, "file_changed": True,
        "live_changes": ["auditctl -b 8192", "auditctl --loginuid-immutable", "auditctl -e 2"],
        "reboot_required": False, "pending": {}, "drift": {"missing": [], "extra": [], "out_of_order": []},
        "diff": [
            {"before_header": "/etc/audit/rules.d/zz-immutable-finalize.rules",
             "after_header": "/etc/audit/rules.d/zz-immutable-finalize.rules",
             "before": "", "after": "# managed\n-b 8192\n--loginuid-immutable\n-e 2\n"},
            {"before_header": "kernel (auditctl -s)", "after_header": "kernel (auditctl -s)",
             "before": "enabled 1\nbacklog_limit 64\n", "after": "enabled 2\nbacklog_limit 8192\n"},
        ],
    }
    result.update(over)
    return result


AUDIT_INFO = {
    "changed": False, "rules_dir": "/etc/audit/rules.d", "locked": False,
    "status": {"enabled": 1, "locked": False, "pid": 612},
    "live_rules": ["-w /etc/passwd -p wa -k identity", "-w /tmp/x -p wa -k debug"],
    "persisted_rules": [], "persisted_controls": [], "boot_lock": 2,
    "drift": {"missing": ["-w /etc/shadow -p wa -k identity"], "extra": ["-w /tmp/x -p wa -k debug"],
              "out_of_order": ["-a never,exit -F arch=b64 -S adjtimex -F auid=0"], "in_sync": False},
    "problems": [{"kind": "no_final_newline", "file": "/etc/audit/rules.d/10-base.rules", "lineno": 4,
                  "line": "-f 1-w /etc/passwd -p wa -k identity",
                  "message": "/etc/audit/rules.d/10-base.rules has no final newline: augenrules glues its last "
                             "line to the first line of /etc/audit/rules.d/20-identity.rules"}],
    "auditd": {"running": True, "pid": 612}, "version": "3.0.9",
    "kernel_cmdline": {"audit": "1", "audit_backlog_limit": None},
}

AUDITD_CONFIG = {
    "changed": True, "path": "/etc/audit/auditd.conf",
    "changed_keys": ["max_log_file_action", "space_left_action", "tcp_listen_port"],
    "added_keys": ["tcp_listen_port"], "file_changed": True, "running": True, "reloaded": True,
    "restart_required": True, "restart_keys": ["tcp_listen_port"],
    "settings": {"log_file": "/var/log/audit/audit.log", "max_log_file_action": "KEEP_LOGS",
                 "space_left_action": "email", "tcp_listen_port": "60"},
    "diff": {"before_header": "/etc/audit/auditd.conf", "after_header": "/etc/audit/auditd.conf",
             "before": "log_file = /var/log/audit/audit.log\nmax_log_file_action = ROTATE\n"
                       "space_left_action = SYSLOG\n",
             "after": "log_file = /var/log/audit/audit.log\nmax_log_file_action = KEEP_LOGS\n"
                      "space_left_action = email\ntcp_listen_port = 60\n"},
}

BOOT_PARAMS = {
    "changed": True, "changed_params": ["audit_backlog_limit"], "grub_file_changed": True,
    "bootloader": "update-grub", "bootloader_updated": True,
    "cmdline_linux": "quiet audit=1 audit_backlog_limit=8192",
    "current": {"audit": "1", "audit_backlog_limit": None},
    "pending": {"audit_backlog_limit": "8192"}, "reboot_required": True,
    "diff": [{"before_header": "/etc/default/grub", "after_header": "/etc/default/grub",
              "before": 'GRUB_CMDLINE_LINUX="quiet audit=1"\n',
              "after": 'GRUB_CMDLINE_LINUX="quiet audit=1 audit_backlog_limit=8192"\n'}],
}

CHATTR = {
    "changed": True, "examined": 3, "changed_count": 1, "skipped_count": 0,
    "results": [{"path": "/var/log/audit-sealed", "before": "--------------e-------",
                 "after": "-----a--------e-------", "changed": True},
                {"path": "/var/log/audit-sealed/2026-01.log", "before": "-----a--------e-------",
                 "after": "-----a--------e-------", "changed": False}],
    "diff": {"before": "--------------e------- /var/log/audit-sealed\n",
             "after": "-----a--------e------- /var/log/audit-sealed\n"},
}

FILE_MODE = {
    "changed": True, "path": "/etc/audit/auditd.conf", "mode": "0644", "owner": "root", "group": "root",
    "state": "file", "uid": 0, "gid": 0, "size": 10,
    "diff": {"before": {"path": "/etc/audit/auditd.conf", "mode": "0644"},
             "after": {"path": "/etc/audit/auditd.conf", "mode": "0640"}},
}


def categories(found):
    return [f["category"] for f in found]


def one(found, category):
    matches = [f for f in found if f["category"] == category]
    assert len(matches) == 1, found
    return matches[0]


# ----------------------------------------------------------------- findings per module

def test_audit_rules_check_mode_maps_every_part():
    found = _drift.task_findings("Baseline rules", "immutable.audit.audit_rules", audit_rules_result(),
                                 True, ["6.2.3.1"])
    assert categories(found) == ["live rules", "rule order", "persisted rules"]
    live = one(found, "live rules")
    assert live["expected"] == ["-w /etc/shadow -p wa -k identity", WEIRD]
    assert live["actual"] == ["-w /tmp/debug -p wa -k debug"]
    assert "2 rules missing from the kernel" in live["message"]
    assert "kernel (auditctl -l)" in live["diff"] and "+-w /etc/shadow -p wa -k identity" in live["diff"]
    order = one(found, "rule order")
    assert order["expected"] == order["actual"] == ["-a never,exit -F arch=b64 -S adjtimex -F auid=0"]
    persisted = one(found, "persisted rules")
    assert persisted["expected"] == ["-w /etc/shadow -p wa -k identity", WEIRD]
    assert persisted["actual"] == []
    assert persisted["diff"].startswith("--- " + RULES_FILE)
    assert all(f["controls"] == ["6.2.3.1"] and f["module"] == "immutable.audit.audit_rules"
               and f["task"] == "Baseline rules" for f in found)


def test_audit_rules_in_sync_is_no_finding():
    result = audit_rules_result(changed=False, file_changed=False, added=[], removed=[], moved=[],
                                live_drift={"missing": [], "extra": [], "out_of_order": []}, diff=[])
    assert _drift.task_findings("t", "immutable.audit.audit_rules", result, True) == []


def test_audit_rules_short_name_and_no_diff():
    result = audit_rules_result()
    del result["diff"]
    found = _drift.task_findings("t", "audit_rules", result, True)
    assert categories(found) == ["live rules", "rule order", "persisted rules"]
    assert one(found, "persisted rules")["diff"] == ""


def test_audit_rules_applied_is_no_finding_but_locked_kernel_is():
    assert _drift.task_findings("t", "immutable.audit.audit_rules", audit_rules_result(), False) == []
    locked = audit_rules_result(
        changed=True, locked=True, reboot_required=True, added=[], removed=[], moved=[],
        pending={"add": ["-w /etc/shadow -p wa -k identity"], "remove": ["-w /tmp/debug -p wa -k debug"]},
        live_drift={"missing": ["-w /etc/shadow -p wa -k identity"], "extra": ["-w /tmp/debug -p wa -k debug"],
                    "out_of_order": []})
    found = _drift.task_findings("t", "immutable.audit.audit_rules", locked, False)
    assert categories(found) == ["live rules"]
    assert "kernel locked" in found[0]["message"]


def test_audit_control_lock_status_and_file():
    found = _drift.task_findings("Lock", "immutable.audit.audit_control", audit_control_result(), True)
    lock = [f for f in found if f["category"] == "lock"]
    assert lock[0]["expected"] == ["enabled 2"] and lock[0]["actual"] == ["enabled 1"]
    assert lock[1]["expected"] == ["-e 2"]  # the finalize file
    status = [f for f in found if f["category"] == "status settings"]
    assert status[0]["expected"] == ["backlog_limit 8192", "loginuid_immutable 1", "loginuid_immutable_locked True"]
    assert status[0]["actual"] == ["backlog_limit 64", "loginuid_immutable 0", "loginuid_immutable_locked False"]
    # pid and lost move on their own: never drift
    assert not [f for f in found if "pid" in " ".join(f["expected"]) or "lost" in " ".join(f["expected"])]
    assert status[1]["expected"] == ["-b 8192", "--loginuid-immutable"]


def test_audit_control_pending_on_locked_kernel():
    status = {"enabled": 2, "failure": 1, "backlog_limit": 64}
    result = audit_control_result(status=status, status_after=dict(status), file_changed=False, changed=False,
                                  live_changes=[], reboot_required=True, diff=[],
                                  pending={"backlog_limit": {"current": 64, "wanted": 8192, "after_reboot": 8192}})
    for check_mode in (True, False):
        found = _drift.task_findings("t", "immutable.audit.audit_control", result, check_mode)
        item = one(found, "status settings")
        assert item["expected"] == ["backlog_limit 8192"] and item["actual"] == ["backlog_limit 64"]
        assert "only a reboot" in item["message"]


def test_audit_control_compliant():
    status = {"enabled": 2, "failure": 1, "backlog_limit": 8192, "pid": 612}
    result = audit_control_result(status=status, status_after=dict(status, pid=700), file_changed=False,
                                  changed=False, live_changes=[], diff=[], drift=None)
    assert _drift.task_findings("t", "immutable.audit.audit_control", result, True) == []


def test_audit_info_drift_and_problems():
    found = _drift.task_findings("Read", "immutable.audit.audit_info", AUDIT_INFO, True)
    assert categories(found) == ["live rules", "rule order", "persisted rules"]
    assert found[0]["expected"] == ["-w /etc/shadow -p wa -k identity"]
    assert found[0]["actual"] == ["-w /tmp/x -p wa -k debug"]
    assert "no final newline" in found[2]["message"]
    assert found[2]["actual"] == ["/etc/audit/rules.d/10-base.rules:4: -f 1-w /etc/passwd -p wa -k identity"]
    # audit_info only reports: the same outside check mode
    assert categories(_drift.task_findings("Read", "audit_info", AUDIT_INFO, False)) == categories(found)
    in_sync = dict(AUDIT_INFO, problems=[], drift={"missing": [], "extra": [], "out_of_order": [], "in_sync": True})
    assert _drift.task_findings("Read", "immutable.audit.audit_info", in_sync, True) == []


def test_auditd_config():
    found = _drift.task_findings("auditd.conf", "immutable.audit.auditd_config", AUDITD_CONFIG, True)
    assert categories(found) == ["auditd.conf", "auditd.conf"]
    assert found[0]["expected"] == ["max_log_file_action = KEEP_LOGS", "space_left_action = email",
                                    "tcp_listen_port = 60"]
    assert found[0]["actual"] == ["max_log_file_action = ROTATE", "space_left_action = SYSLOG",
                                  "tcp_listen_port (absent)"]
    assert "+max_log_file_action = KEEP_LOGS" in found[0]["diff"]
    assert "restart" in found[1]["message"]
    unchanged = dict(AUDITD_CONFIG, changed=False, file_changed=False, changed_keys=[], added_keys=[],
                     restart_required=False, restart_keys=[], diff={})
    assert _drift.task_findings("t", "immutable.audit.auditd_config", unchanged, True) == []


def test_boot_params():
    found = _drift.task_findings("Boot", "immutable.audit.boot_params", BOOT_PARAMS, True)
    assert categories(found) == ["boot parameters", "boot parameters"]
    assert found[0]["expected"] == ["audit_backlog_limit=8192"]
    assert found[0]["actual"] == ["audit_backlog_limit (absent)"]
    assert "GRUB_CMDLINE_LINUX" in found[1]["diff"]
    # the GRUB file finding in the documented forms: name=value wanted, name=value or (absent) found
    assert found[1]["expected"] == ["audit_backlog_limit=8192"]
    assert found[1]["actual"] == ["audit_backlog_limit (absent)"]
    dropped = dict(BOOT_PARAMS, changed_params=["audit"], pending={}, reboot_required=False,
                   diff=[{"before": "GRUB_CMDLINE_LINUX='quiet audit=0 audit_backlog_limit=8192'\n",
                          "after": 'GRUB_CMDLINE_LINUX="quiet audit=1 audit_backlog_limit=8192"\n'}])
    item = one(_drift.task_findings("Boot", "immutable.audit.boot_params", dropped, True), "boot parameters")
    assert (item["expected"], item["actual"]) == (["audit=1"], ["audit=0"])
    # without --diff the file's old value is unknown
    nodiff = dict(dropped, diff=None)
    item = one(_drift.task_findings("Boot", "immutable.audit.boot_params", nodiff, True), "boot parameters")
    assert (item["expected"], item["actual"]) == (["audit=1"], [])
    # after applying, the running kernel still lacks it until a reboot
    assert categories(_drift.task_findings("Boot", "immutable.audit.boot_params", BOOT_PARAMS, False)) == \
        ["boot parameters"]


def test_chattr():
    found = _drift.task_findings("Flags", "immutable.audit.chattr", CHATTR, True)
    item = one(found, "flags")
    assert item["expected"] == ["-----a--------e------- /var/log/audit-sealed"]
    assert item["actual"] == ["--------------e------- /var/log/audit-sealed"]
    assert _drift.task_findings("Flags", "immutable.audit.chattr", CHATTR, False) == []


def test_audit_seal_findings():
    result = {"changed": False, "verified": False,
              "findings": [{"path": "/var/log/audit-sealed/2026-01.log", "message": "hash chain broken at record 17",
                            "expected": "sha256:ab", "actual": "sha256:cd"}]}
    item = one(_drift.task_findings("Verify", "immutable.audit.audit_seal", result, True), "sealed logs")
    assert item["message"] == "hash chain broken at record 17"
    assert item["expected"] == ["sha256:ab"] and item["actual"] == ["sha256:cd"]
    bare = _drift.task_findings("Verify", "immutable.audit.audit_seal", {"verified": False}, False)
    assert categories(bare) == ["sealed logs"]


def test_audit_seal_findings_name_the_cause_and_the_segment():
    name = "audit-1732450000-1732453600-4567-9999.log"
    findings = [
        _seal.finding("missing", "%s is missing (sealed in manifest line 1)" % name, segment=name, record=1,
                      expected="%s present" % name, actual="%s absent" % name),
        _seal.finding("head_not_found", "head not found: the recorded head %s is not in the manifest" % ("a" * 64),
                      expected="chain extends head %s" % ("a" * 64), actual="head %s" % ("b" * 64)),
        _seal.finding("head_not_found", "head not found: ... no longer names: %s" % name, segment=name,
                      expected="chain extends head x", actual="head y"),
        _seal.finding("flag_missing", "is not immutable (i)", segment=name, expected="+i", actual="without i"),
        _seal.finding("serial_gap", "serial gap", segment=name, severity="warning"),
    ]
    result = {"failed": True, "ok": False, "msg": "the seal does not verify", "findings": findings}
    found = _drift.task_findings("Verify", "immutable.audit.audit_seal", result, True)
    assert categories(found) == ["sealed logs"] * 5
    messages = [f["message"] for f in found]
    assert messages[0] == "missing: %s is missing (sealed in manifest line 1)" % name
    assert messages[1].startswith("head_not_found: head not found: the recorded head")
    assert found[1]["expected"] == ["chain extends head %s" % ("a" * 64)]
    assert found[1]["actual"] == ["head %s" % ("b" * 64)]
    assert messages[2] == "head_not_found: head not found: ... no longer names: %s" % name
    assert messages[3] == "flag_missing: is not immutable (i) [%s]" % name
    assert messages[4] == "serial_gap (warning): serial gap [%s]" % name


def test_copy_outside_check_mode_is_no_finding():
    """The controller's head store (playbooks/tasks/verify_seal.yml) writes with copy, check_mode false and
    changed_when false inside a check-mode drift audit: that is no drift, either way."""
    stored = {"changed": False, "dest": "/home/u/.local/state/immutable.audit/seal-heads/web1.json",
              "diff": {"before": "", "after": "{}"}}
    assert _drift.task_findings("Store the verified chain head on the controller", "ansible.builtin.copy",
                                stored, False) == []
    assert _drift.task_findings("Store", "ansible.builtin.copy", dict(stored, changed=True), False) == []


def test_builtin_file_mode_is_permissions():
    for module in ("ansible.builtin.file", "file", "ansible.legacy.file"):
        item = one(_drift.task_findings("Mode", module, FILE_MODE, True, ["CIS-1"]), "permissions")
        assert item["expected"] == ["/etc/audit/auditd.conf mode 0640"]
        assert item["actual"] == ["/etc/audit/auditd.conf mode 0644"]
        assert item["controls"] == ["CIS-1"]


def test_builtin_copy_without_diff_uses_the_arguments():
    result = {"changed": True, "dest": "/etc/x", "mode": "0600", "owner": "root",
              "invocation": {"module_args": {"dest": "/etc/x", "mode": "0644", "owner": "root"}}}
    item = one(_drift.task_findings("Copy", "ansible.builtin.copy", result, True), "permissions")
    assert item["expected"] == ["/etc/x mode 0644"] and item["actual"] == ["/etc/x mode 0600"]


def test_builtin_content_and_attributes():
    content = {"changed": True, "diff": [{"before_header": "/etc/x", "after_header": "/etc/x",
                                          "before": "a\n", "after": "b\n"}]}
    item = one(_drift.task_findings("Tpl", "ansible.builtin.template", content, True), "other")
    assert "content differs" in item["message"] and "-a\n+b\n" in item["diff"]
    attrs = {"changed": True, "diff": {"before": {"path": "/l", "attributes": "e"},
                                       "after": {"path": "/l", "attributes": "ae"}}}
    assert categories(_drift.task_findings("Attr", "file", attrs, True)) == ["flags"]


def test_other_module_changed_in_check_mode_only():
    result = {"changed": True, "msg": "1 package would be installed",
              "diff": {"prepared": "+ auditd 1:3.0.9-1"}}
    item = one(_drift.task_findings("Pkg", "ansible.builtin.apt", result, True), "other")
    assert item["message"] == "1 package would be installed" and "auditd" in item["diff"]
    assert _drift.task_findings("Pkg", "ansible.builtin.apt", result, False) == []
    assert _drift.task_findings("Pkg", "ansible.builtin.apt", dict(result, changed=False), True) == []
    # a module of another collection that happens to share a name is not ours
    assert categories(_drift.task_findings("x", "other.coll.audit_rules", {"changed": True}, True)) == ["other"]


def test_loop_results_item_by_item():
    result = {"changed": True, "results": [dict(FILE_MODE, _ansible_item_label="/etc/audit/auditd.conf"),
                                           {"changed": False, "item": "b", "ansible_loop_var": "item"},
                                           {"skipped": True, "item": "c", "ansible_loop_var": "item"}]}
    found = _drift.task_findings("Modes", "ansible.builtin.file", result, True)
    assert categories(found) == ["permissions"]
    assert found[0]["task"] == "Modes (item=/etc/audit/auditd.conf)"


def test_controls_from_vars_and_tags():
    tags = ["control:6.2.3.1", "control:4.1", "always"]
    assert _drift.controls_of({"drift_controls": ["6.2.3.1", "STIG V-1"]}, tags) == ["6.2.3.1", "STIG V-1", "4.1"]
    assert _drift.controls_of({"drift_controls": "A, B"}, []) == ["A", "B"]
    assert _drift.controls_of({"drift_controls": "{{ x }}"}, None) == []
    assert _drift.controls_of(None, ["control:"]) == []


def test_failure_finding_and_message():
    item = _drift.failure_finding("Verify", "immutable.audit.audit_seal", {"msg": "bad seal"}, "errors ignored")
    assert item["category"] == "sealed logs" and item["message"] == "task failed (errors ignored): bad seal"
    assert _drift.failure_finding("x", "ansible.builtin.assert", {}, "rescued")["category"] == "other"
    loop = {"results": [dict(item, ansible_loop_var="item") for item in (
        {"failed": True, "msg": "one"}, {"failed": False}, {"failed": True, "msg": "two"})]}
    assert _drift.result_message(loop) == "one; two"


def test_unknown_category_refused():
    with pytest.raises(ValueError):
        _drift.finding("nope", "t", "m", "x")


def test_diff_text_forms():
    assert _drift.diff_text(None) == ""
    assert _drift.diff_text({"before": "same\n", "after": "same\n"}) == ""
    text = _drift.diff_text({"before": "a", "after": "b"})
    assert "\\ No newline at end of file" in text
    assert _drift.diff_text({"before": {"mode": "0644"}, "after": {"mode": "0600"}}).count('"mode"') == 2


# ----------------------------------------------------------------- report document

def fleet():
    """Four hosts: drifted (many findings), compliant, failed, unreachable."""
    web = _drift.task_findings("Baseline rules", "immutable.audit.audit_rules", audit_rules_result(), True,
                               ["6.2.3.1"])
    web += _drift.task_findings("Lock", "immutable.audit.audit_control", audit_control_result(), True)
    db = _drift.task_findings("Mode", "ansible.builtin.file", FILE_MODE, True)
    hosts = {
        "web1.example.com": _drift.host_entry(web, tasks=5),
        "db1.example.com": _drift.host_entry(db, tasks=5),
        "ok1.example.com": _drift.host_entry([], tasks=5),
        "broken1.example.com": _drift.host_entry(db, ["Baseline rules: failed: auditctl not found"], failed=True,
                                                 tasks=2),
        "gone1.example.com": _drift.host_entry([], ["Gathering Facts: unreachable: Connection refused"],
                                               unreachable=True, tasks=1),
    }
    return _drift.report(hosts, "2026-01-02T03:04:05+00:00", ["playbooks/drift.yml"], True)


def test_host_status():
    assert _drift.host_entry([])["status"] == "compliant"
    assert _drift.host_entry([])["compliant"] is True
    assert _drift.host_entry([], ["x"], failed=True)["compliant"] is False
    assert _drift.host_entry([], ["x"], failed=True)["status"] == "failed"
    assert _drift.host_entry([], ["x"], unreachable=True, failed=True)["status"] == "unreachable"
    item = _drift.finding("other", "t", "m", "x")
    assert _drift.host_entry([item])["status"] == "drifted"


def test_report_schema():
    doc = json.loads(_drift.to_json(fleet()))
    assert set(doc) == {"schema_version", "generated", "playbook", "playbooks", "check_mode", "hosts", "summary",
                        "categories"}
    assert doc["playbook"] == "playbooks/drift.yml" and doc["check_mode"] is True
    assert list(doc["hosts"]) == sorted(doc["hosts"])
    for entry in doc["hosts"].values():
        assert set(entry) == {"compliant", "status", "findings", "errors", "tasks"}
        assert entry["status"] in _drift.STATUSES
        for item in entry["findings"]:
            assert set(item) == {"category", "task", "module", "expected", "actual", "diff", "controls", "message"}
            assert item["category"] in _drift.CATEGORIES
            assert all(isinstance(x, str) for x in item["expected"] + item["actual"] + item["controls"])
            assert isinstance(item["diff"], str)
    s = doc["summary"]
    assert (s["hosts"], s["compliant"], s["drifted"], s["failed"], s["unreachable"]) == (5, 1, 2, 1, 1)
    assert s["ok"] is False
    assert s["findings"] == sum(len(e["findings"]) for e in doc["hosts"].values())
    assert s["by_category"]["permissions"] == 2 and s["hosts_by_category"]["permissions"] == 2
    assert _drift.summary_line(doc).startswith("drift report: 5 hosts: 1 compliant, 2 drifted, 1 failed")


def test_hosts_worst_first():
    assert _drift.ordered_hosts(fleet()) == ["gone1.example.com", "broken1.example.com", "web1.example.com",
                                             "db1.example.com", "ok1.example.com"]


def test_junit_structure():
    doc = fleet()
    root = ET.fromstring(_drift.to_junit(doc).encode("utf-8"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1 and suites[0].get("name") == "immutable.audit.drift"
    cases = suites[0].findall("testcase")
    names = [c.get("name") for c in cases]
    # three reporting hosts x every category, plus one error case per failed or unreachable host
    assert len(cases) == 3 * len(_drift.CATEGORIES) + 2
    assert "web1.example.com: live rules" in names and "ok1.example.com: other" in names
    assert "broken1.example.com: failed" in names and "gone1.example.com: unreachable" in names
    failures = [c for c in cases if c.find("failure") is not None]
    errors = [c for c in cases if c.find("error") is not None]
    assert sorted(c.get("name") for c in failures) == sorted(
        "%s: %s" % (h, f["category"]) for h in ("web1.example.com", "db1.example.com")
        for f in {f["category"]: f for f in doc["hosts"][h]["findings"]}.values())
    assert len(errors) == 2
    for element in (root, suites[0]):
        assert element.get("tests") == str(len(cases))
        assert element.get("failures") == str(len(failures))
        assert element.get("errors") == str(len(errors))
    ok_cases = [c for c in cases if c.get("name").startswith("ok1.example.com: ")]
    assert all(len(list(c)) == 0 for c in ok_cases)  # passed
    live = [c for c in cases if c.get("name") == "web1.example.com: live rules"][0].find("failure")
    assert WEIRD in live.text and live.get("type") == "live rules"
    assert "auditctl not found" in [c for c in errors if "broken1" in c.get("name")][0].find("error").text


def test_junit_survives_control_characters():
    item = _drift.finding("other", "t\x1b[31m", "m", "colour \x1b[0m and \x00")
    doc = _drift.report({"h": _drift.host_entry([item])}, "now")
    root = ET.fromstring(_drift.to_junit(doc).encode("utf-8"))
    assert root.get("failures") == "1"


def test_html_escapes_everything():
    doc = fleet()
    page = _drift.to_html(doc)
    assert WEIRD not in page
    assert "key=&lt;access&amp;denied&gt;" in page
    assert "<access&denied>" not in page
    evil = _drift.finding("other", "<script>alert(1)</script>", "m", 'x" onmouseover="y', ["</pre><b>"],
                          diff="+<img src=x>\n")
    page = _drift.to_html(_drift.report({"<h&1>": _drift.host_entry([evil])}, "now"))
    assert "<script>alert(1)" not in page and "<img src=x>" not in page and "</pre><b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'data-host="&lt;h&amp;1&gt;"' in page
    assert 'x&quot; onmouseover=&quot;y' in page


def test_html_self_contained_and_ordered():
    page = _drift.to_html(fleet())
    assert "http://" not in page and "https://" not in page and "src=" not in page and "<link" not in page
    positions = [page.index('data-host="%s"' % h) for h in _drift.ordered_hosts(fleet())]
    assert positions == sorted(positions)
    assert 'id="count-compliant"><span class="n">1</span>' in page
    assert "4 of 5 hosts not compliant" in page
    # readable without JS: nothing is hidden but the filter form that needs JS
    assert page.count(" hidden") == 1 and '<form id="filters" class="filters" hidden' in page
