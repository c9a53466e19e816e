"""Verify the drift audit of molecule/drift (testinfra).

prepare.yml audited the unconverged fleet (and ran playbooks/drift.yml once
without --check); converge.yml hardened both guests without the lock;
side_effect.yml tampered with `tampered`, locked both kernels, recorded the
audit state, ran the drift audits and recorded the state again. Everything
they wrote is under $MOLECULE_EPHEMERAL_DIRECTORY/drift:

  runs/<name>.json     the ansible-playbook runs (rc, delta, stdout, stderr)
  <name>/drift.*       the reports of the audit runs
  state/<host>.<before|after>.txt   the hosts' audit state around the audits

Tests without the `host` fixture read those files once; tests with it run
per guest.
"""

import json
import os
import pathlib
import xml.etree.ElementTree as ET

import pytest

OUT = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "drift"

DELETED_RULE = "-w /etc/sudoers -p wa -k scope"
APPENDED_RULE = "-w /etc/hosts -p wa -k tamper"
RULES_TASK = "immutable.audit.baseline : Apply the baseline rules to the rules file and the kernel"
CONF_TASK = "immutable.audit.auditd : Configure auditd.conf"
BOOT_TASK = "immutable.audit.auditd : Set kernel parameters for the next boot"
INFO_TASK = "Read the kernel audit state and the rules files"
# The categories the tampering of side_effect.yml must show, and nothing else.
TAMPERED_CATEGORIES = {"live rules", "persisted rules", "auditd.conf", "boot parameters", "sealed logs"}
SEAL_TASK = "Verify the sealed logs, their flags and hash chain, and that the chain extends the stored head"
# Drift audit wall time at most this times the no-op converge (issue 6).
TIME_BUDGET = 1.5


def _run(name):
    return json.loads((OUT / "runs" / (name + ".json")).read_text())


def _report(name):
    return json.loads((OUT / name / "drift.json").read_text())


def _findings(category, task, host="tampered", report="fleet"):
    entry = _report(report)["hosts"][host]
    return [f for f in entry["findings"] if f["category"] == category and f["task"] == task]


def _one(category, task):
    found = _findings(category, task)
    assert len(found) == 1, _report("fleet")["hosts"]["tampered"]["findings"]
    return found[0]


def _seconds(delta):
    hours, minutes, seconds = delta.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _state(name, label):
    sections, current = {}, None
    for line in (OUT / "state" / ("%s.%s.txt" % (name, label))).read_text().splitlines():
        if line.startswith("### "):
            current = line[4:]
            sections[current] = []
        else:
            sections[current].append(line)
    return sections


# --- refusal and the unconverged fleet (prepare.yml)


def test_refuses_to_run_without_check_mode():
    run = _run("nocheck")
    assert run["rc"] == 2
    assert "runs only in check mode" in run["stdout"] + run["stderr"]
    doc = _report("nocheck")
    assert doc["check_mode"] is False
    for name in ("clean", "tampered"):
        entry = doc["hosts"][name]
        assert entry["status"] == "failed"
        assert entry["errors"][0].startswith("Refuse to run without --check: failed:")
        # facts and the refusing assert: nothing else ran
        assert entry["tasks"] == 2
        assert entry["findings"] == []


def test_unconverged_unlocked_fleet_is_audited_to_the_end():
    run = _run("unconverged")
    assert run["rc"] == 0, run["stdout"][-3000:]
    doc = _report("unconverged")
    assert doc["summary"]["failed"] == 0 and doc["summary"]["unreachable"] == 0
    for entry in doc["hosts"].values():
        assert entry["status"] == "drifted"
        assert not [f for f in entry["findings"] if f["message"].startswith("task failed")]
        categories = {f["category"] for f in entry["findings"]}
        assert {"live rules", "persisted rules", "lock", "auditd.conf", "boot parameters"} <= categories
    assert "clean                      : ok=" in run["stdout"]


# --- the fleet audit (side_effect.yml)


def test_fleet_audit_run_fails_the_gate_on_drift():
    # IMMUTABLE_AUDIT_DRIFT_FAIL=1: exit 2 because `tampered` drifted, the report still written
    run = _run("fleet")
    assert run["rc"] == 2, run["stdout"][-3000:]
    assert "failed=0" in run["stdout"]
    assert "1 host drifted (tampered); failing the run (fail_on_drift)" in run["stdout"] + run["stderr"]
    doc = _report("fleet")
    assert doc["check_mode"] is True
    assert doc["playbook"].endswith("playbooks/drift.yml")
    assert doc["summary"]["hosts"] == 2
    assert doc["summary"]["compliant"] == 1 and doc["summary"]["drifted"] == 1
    assert doc["summary"]["failed"] == 0 and doc["summary"]["unreachable"] == 0
    assert doc["summary"]["ok"] is False
    assert "drift report: 2 hosts: 1 compliant, 1 drifted" in run["stdout"]


def test_clean_is_compliant():
    entry = _report("fleet")["hosts"]["clean"]
    assert entry["status"] == "compliant", entry["findings"]
    assert entry["compliant"] is True
    assert entry["errors"] == []
    assert entry["tasks"] > 15


def test_tampered_has_exactly_the_tampered_categories():
    entry = _report("fleet")["hosts"]["tampered"]
    assert entry["status"] == "drifted"
    assert {f["category"] for f in entry["findings"]} == TAMPERED_CATEGORIES, entry["findings"]


def test_deleted_live_rule():
    item = _one("live rules", RULES_TASK)
    assert item["module"] == "immutable.audit.audit_rules"
    assert item["expected"] == [DELETED_RULE]
    assert item["actual"] == []
    assert "kernel locked" in item["message"]
    assert item["controls"] == ["6.2.3", "6.2.4"]


def test_appended_rule_in_the_rules_file():
    item = _one("persisted rules", RULES_TASK)
    assert item["expected"] == []
    assert item["actual"] == [APPENDED_RULE]
    assert "+" + APPENDED_RULE not in item["diff"] and "-" + APPENDED_RULE in item["diff"]


def test_kernel_against_rules_files():
    # audit_info: the deleted rule is in the files but not in the kernel, and so is the
    # appended one (a boot would load it).
    item = _one("live rules", INFO_TASK)
    assert item["module"] == "immutable.audit.audit_info"
    assert sorted(item["expected"]) == sorted([DELETED_RULE, APPENDED_RULE])
    assert item["actual"] == []
    assert item["controls"] == ["6.2.3.21"]


def test_changed_auditd_conf_key():
    item = _one("auditd.conf", CONF_TASK)
    assert [x.lower() for x in item["expected"]] == ["max_log_file_action = keep_logs"]
    assert item["actual"] == ["max_log_file_action = rotate"]
    assert item["controls"] == ["6.2.1", "6.2.2"]


def test_audit_dropped_from_grub():
    item = _one("boot parameters", BOOT_TASK)
    assert item["expected"] == ["audit=1"]
    assert item["actual"] == ["audit (absent)"]
    assert "GRUB_CMDLINE_LINUX" in item["diff"]
    # The running kernel (QEMU's command line) still has audit=1: nothing pending.
    assert "lacks" not in item["message"]


def test_sealed_dir_lost_its_append_only_flag():
    # The failed verification is a finding, and so is each of its own findings.
    found = _findings("sealed logs", SEAL_TASK)
    assert any("not append-only" in f["message"] and "/var/log/audit/sealed" in f["message"] for f in found), found
    assert ["/var/log/audit/sealed +a"] in [f["expected"] for f in found], found
    assert ["/var/log/audit/sealed without a"] in [f["actual"] for f in found], found
    assert not _findings("sealed logs", SEAL_TASK, host="clean")


def test_junit_fails_only_the_tampered_categories():
    root = ET.parse(OUT / "fleet" / "drift.xml").getroot()
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 2 * len(_report("fleet")["categories"])
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {"tampered: %s" % c for c in TAMPERED_CATEGORIES}
    assert not [c for c in cases if c.find("error") is not None]
    suite = root.find("testsuite")
    assert suite.get("failures") == str(len(TAMPERED_CATEGORIES))
    assert suite.get("errors") == "0"


def test_html_report():
    page = (OUT / "fleet" / "drift.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert 'data-host="tampered"' in page and 'data-host="clean"' in page
    assert "1 of 2 hosts not compliant" in page


def test_gate_passes_a_compliant_fleet():
    run = _run("clean")
    assert run["rc"] == 0, run["stdout"][-3000:]
    doc = _report("clean")
    assert list(doc["hosts"]) == ["clean"]
    assert doc["hosts"]["clean"]["compliant"] is True
    assert doc["summary"]["ok"] is True


# --- nothing changed on the hosts


def test_audit_changed_nothing(host):
    name = host.backend.get_hostname()
    before, after = _state(name, "before"), _state(name, "after")
    assert set(before) == {"auditctl -l", "auditctl -s", "sha256sum", "stat"}
    assert before == after
    # and the guest is still in that state now
    assert host.check_output("auditctl -l || exit 3").splitlines() == after["auditctl -l"]
    assert "enabled 2" in after["auditctl -s"]
    tampered = name == "tampered"
    assert (DELETED_RULE in after["auditctl -l"]) is not tampered
    assert ("audit=1" in host.file("/etc/default/grub").content_string) is not tampered


# --- drift audit vs no-op converge (docs/benchmarks.md)


def test_noop_converge_changed_nothing():
    run = _run("harden_noop")
    assert run["rc"] == 0, run["stdout"][-3000:]
    assert "changed=0" in run["stdout"] and "failed=0" in run["stdout"]


@pytest.mark.parametrize("budget", [TIME_BUDGET])
def test_drift_audit_time(budget):
    audit, converge = _seconds(_run("clean")["delta"]), _seconds(_run("harden_noop")["delta"])
    print("drift audit %.1f s, no-op converge %.1f s, ratio %.2f" % (audit, converge, audit / converge))
    assert audit <= budget * converge
