# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drift_report callback: real ansible-playbook runs in check mode on this machine (connection local,
ansible.builtin modules on temporary files only, one host unreachable on 127.0.0.1 port 1), and the callback
object driven with TaskResult objects for what a playbook run cannot show cheaply (rescues)."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from ansible.executor.stats import AggregateStats
from ansible.executor.task_result import TaskResult
from ansible.inventory.host import Host
from ansible.playbook.task import Task

from ansible_collections.immutable.audit.plugins.callback import drift_report
from ansible_collections.immutable.audit.plugins.plugin_utils import _drift

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
BIN = os.path.dirname(sys.executable)
PLAYBOOK_BIN = os.path.join(BIN, "ansible-playbook")
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")

PLAYBOOK = """
- name: Drift check of temporary files
  hosts: all
  gather_facts: false
  tasks:
    - name: Rules file content <drifts> & more
      ansible.builtin.copy:
        dest: "{{ work }}/{{ inventory_hostname }}-rules.txt"
        content: "-w /etc/shadow -p wa -k identity <&>\\n"
        mode: "0600"
      tags: ["control:6.2.3.1"]
      when: inventory_hostname == 'drifty'

    - name: Mode of the config
      ansible.builtin.file:
        path: "{{ work }}/{{ inventory_hostname }}-conf.txt"
        mode: "0640"
      vars:
        drift_controls: [CIS-4.1.3, STIG-V-1]

    - name: A command in check mode
      ansible.builtin.command: /bin/true

    - name: A check that may fail, errors ignored
      ansible.builtin.command: /bin/false
      check_mode: false
      changed_when: false
      ignore_errors: true
      when: inventory_hostname == 'drifty'

    - name: Broken host
      ansible.builtin.fail:
        msg: "cannot read /etc/audit <denied>"
      when: inventory_hostname == 'broken'

    - name: Helper that really writes, not drift
      ansible.builtin.copy:
        dest: "{{ work }}/{{ inventory_hostname }}-written.txt"
        content: "x\\n"
        mode: "0644"
      check_mode: false
"""


def _prepare(tmp_path, hosts):
    work = tmp_path / "work"
    work.mkdir()
    for host in ("drifty", "clean", "broken"):
        (work / ("%s-rules.txt" % host)).write_text("-w /etc/passwd -p wa -k identity\n")
        conf = work / ("%s-conf.txt" % host)
        conf.write_text("x\n")
        conf.chmod(0o644 if host == "drifty" else 0o640)
    lines = ["[local]"]
    for host in hosts:
        if host == "gone":
            continue
        lines.append("%s ansible_connection=local ansible_python_interpreter=%s" % (host, sys.executable))
    if "gone" in hosts:
        lines += ["[dead]", "gone ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1 "
                  "ansible_ssh_timeout=5 ansible_user=nobody"]
    lines += ["[all:vars]", "work=%s" % work]
    (tmp_path / "inventory.ini").write_text("\n".join(lines) + "\n")
    (tmp_path / "drift-check.yml").write_text(PLAYBOOK)
    return work


def _run(tmp_path, env_extra=None, config=None, args=("--check", "--diff")):
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("IMMUTABLE_AUDIT_DRIFT") or key.startswith("ANSIBLE_"):
            del env[key]
    env.update(ANSIBLE_CONFIG=config or os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_CALLBACKS_ENABLED="immutable.audit.drift_report",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0", PATH=BIN + os.pathsep + env.get("PATH", ""))
    env.update(env_extra or {})
    proc = subprocess.run([PLAYBOOK_BIN, "-i", str(tmp_path / "inventory.ini"), str(tmp_path / "drift-check.yml")]
                          + list(args), cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    return proc


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory):
    """One run over four hosts: drifted, compliant, failed and unreachable."""
    tmp_path = tmp_path_factory.mktemp("fleet")
    work = _prepare(tmp_path, ("drifty", "clean", "broken", "gone"))
    out = tmp_path / "report"
    proc = _run(tmp_path, {"IMMUTABLE_AUDIT_DRIFT_DIR": str(out)})
    return proc, out, work


def test_fleet_run_exit_status_and_summary_line(fleet_run):
    proc, out, _work = fleet_run
    # Ansible's own status for an unreachable host; the callback does not mask it.
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert ("drift report: 4 hosts: 1 compliant, 1 drifted, 1 failed, 1 unreachable"
            in proc.stdout), proc.stdout
    assert "Failure using method" not in proc.stdout + proc.stderr  # the callback raised nothing


def test_fleet_run_json(fleet_run):
    _proc, out, work = fleet_run
    doc = json.loads((out / "drift.json").read_text())
    assert doc["schema_version"] == 1 and doc["check_mode"] is True
    assert doc["playbook"].endswith("drift-check.yml")
    hosts = doc["hosts"]
    assert {h: hosts[h]["status"] for h in hosts} == {
        "drifty": "drifted", "clean": "compliant", "broken": "failed", "gone": "unreachable"}
    assert [h for h in hosts if hosts[h]["compliant"]] == ["clean"]
    assert hosts["clean"]["findings"] == [] and hosts["clean"]["tasks"] >= 2

    drifty = hosts["drifty"]["findings"]
    by_category = {}
    for item in drifty:
        by_category.setdefault(item["category"], []).append(item)
    assert sorted(by_category) == ["other", "permissions"]
    content = [f for f in by_category["other"] if f["task"] == "Rules file content <drifts> & more"][0]
    assert content["module"] == "ansible.builtin.copy"
    assert content["controls"] == ["6.2.3.1"]
    assert "-w /etc/passwd -p wa -k identity" in content["diff"]
    assert "+-w /etc/shadow -p wa -k identity <&>" in content["diff"]
    mode = by_category["permissions"][0]
    assert mode["expected"] == ["%s/drifty-conf.txt mode 0640" % work]
    assert mode["actual"] == ["%s/drifty-conf.txt mode 0644" % work]
    assert mode["controls"] == ["CIS-4.1.3", "STIG-V-1"]
    ignored = [f for f in by_category["other"] if f["task"] == "A check that may fail, errors ignored"][0]
    assert ignored["message"].startswith("task failed (errors ignored)")
    # the real write (check_mode: false) and the skipped command are not drift
    assert not [f for f in drifty if "Helper" in f["task"] or "A command" in f["task"]]

    assert hosts["broken"]["errors"] == ["Broken host: failed: cannot read /etc/audit <denied>"]
    assert "Connection refused" in hosts["gone"]["errors"][0] or "port 1" in hosts["gone"]["errors"][0]
    s = doc["summary"]
    assert (s["hosts"], s["compliant"], s["drifted"], s["failed"], s["unreachable"], s["ok"]) == (4, 1, 1, 1, 1, False)
    assert s["findings"] == 3 and s["by_category"]["permissions"] == 1


def test_fleet_run_junit(fleet_run):
    _proc, out, _work = fleet_run
    root = ET.parse(str(out / "drift.xml")).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert len(cases) == 2 * len(_drift.CATEGORIES) + 2
    assert cases["drifty: permissions"].find("failure") is not None
    assert cases["drifty: other"].find("failure") is not None
    assert cases["drifty: lock"].find("failure") is None
    assert all(len(list(cases["clean: %s" % c])) == 0 for c in _drift.CATEGORIES)
    assert cases["broken: failed"].find("error") is not None
    assert cases["gone: unreachable"].find("error") is not None
    assert root.get("tests") == str(len(cases)) and root.get("failures") == "2" and root.get("errors") == "2"


def test_fleet_run_junit_reads_in_a_junit_consumer(fleet_run):
    # junitparser is what CI systems' JUnit importers behave like: it must
    # read every case with its verdict.
    junitparser = pytest.importorskip("junitparser")
    _proc, out, _work = fleet_run
    xml = junitparser.JUnitXml.fromfile(str(out / "drift.xml"))
    verdicts = {}
    for suite in xml:
        for case in suite:
            kinds = [type(r).__name__ for r in case.result]
            verdicts[case.name] = kinds[0] if kinds else "passed"
    assert verdicts["drifty: permissions"] == "Failure"
    assert verdicts["broken: failed"] == "Error" and verdicts["gone: unreachable"] == "Error"
    assert verdicts["clean: live rules"] == "passed"
    assert sum(1 for v in verdicts.values() if v == "passed") == len(verdicts) - 4


def test_fleet_run_html(fleet_run):
    _proc, out, _work = fleet_run
    page = (out / "drift.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "&lt;drifts&gt; &amp; more" in page and "<drifts>" not in page
    assert "identity &lt;&amp;&gt;" in page
    order = [page.index('data-host="%s"' % h) for h in ("gone", "broken", "drifty", "clean")]
    assert order == sorted(order)
    assert not [n for n in os.listdir(str(out)) if n.startswith(".")]  # no temporary file left


def test_fail_on_drift_makes_ansible_playbook_exit_2(tmp_path):
    _prepare(tmp_path, ("drifty", "clean"))
    proc = _run(tmp_path, {"IMMUTABLE_AUDIT_DRIFT_DIR": str(tmp_path / "r"), "IMMUTABLE_AUDIT_DRIFT_FAIL": "true"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "1 host drifted (drifty); failing the run (fail_on_drift)" in proc.stdout + proc.stderr
    assert json.loads((tmp_path / "r" / "drift.json").read_text())["summary"]["drifted"] == 1

    # the same drift without the option: the play itself succeeded
    proc = _run(tmp_path, {"IMMUTABLE_AUDIT_DRIFT_DIR": str(tmp_path / "r2")})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_fail_on_drift_from_ini_passes_a_compliant_fleet(tmp_path):
    _prepare(tmp_path, ("clean",))
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\ncollections_path = %s\nstdout_callback = default\ninterpreter_python = auto_silent\n"
                   "[callback_drift_report]\noutput_dir = from-ini\nfail_on_drift = true\n" % COLLECTIONS)
    proc = _run(tmp_path, config=str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "from-ini" / "drift.json").read_text())
    assert doc["summary"]["ok"] is True and doc["hosts"]["clean"]["status"] == "compliant"
    assert "drift report: 1 host: 1 compliant, 0 drifted" in proc.stdout


# ----------------------------------------------------------------- callback object, no playbook run

class FakeDisplay:
    verbosity = 0

    def __init__(self):
        self.lines = []

    def display(self, msg, **kwargs):
        self.lines.append(msg)

    def error(self, msg, **kwargs):
        self.lines.append("ERROR " + msg)

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _callback(tmp_path, fail=False):
    cb = drift_report.CallbackModule(display=FakeDisplay())
    # what set_options would load from the configuration (the real runs above cover that path)
    cb._plugin_options = {"output_dir": str(tmp_path / "out"), "fail_on_drift": fail}
    return cb


def _result(host, name, action, data, **task_attrs):
    task = Task.load(dict(name=name, action=action, **task_attrs))
    return TaskResult(Host(host), task, data, task_fields={"check_mode": True})


def test_rescued_failure_is_a_finding_not_a_failed_host(tmp_path):
    cb = _callback(tmp_path)
    stats = AggregateStats()
    cb.v2_playbook_on_start(type("PB", (), {"_file_name": "site.yml"})())
    cb.v2_runner_on_failed(_result("web", "Verify seals", "immutable.audit.audit_seal", {"msg": "chain broken"},
                                   tags=["control:4.1.4"]))
    stats.increment("rescued", "web")
    stats.increment("ok", "web")
    cb.v2_runner_on_ok(_result("web", "Lock", "immutable.audit.audit_control", {
        "changed": True, "status": {"enabled": 1}, "status_after": {"enabled": 2}, "live_changes": ["auditctl -e 2"],
        "file_changed": False, "pending": {}, "drift": None}))
    stats.increment("ok", "db")
    cb.v2_playbook_on_stats(stats)
    doc = json.loads((tmp_path / "out" / "drift.json").read_text())
    web = doc["hosts"]["web"]
    assert web["status"] == "drifted" and web["errors"] == []
    found = [(f["category"], f["controls"]) for f in web["findings"]]
    assert found == [("lock", []), ("sealed logs", ["4.1.4"])]
    assert web["findings"][1]["message"] == "task failed (rescued): chain broken"
    assert doc["hosts"]["db"]["status"] == "compliant"  # in the stats, no result of ours
    assert cb.written == str(tmp_path / "out")
    assert any(line.startswith("drift report: 2 hosts: 1 compliant, 1 drifted") for line in cb._display.lines)


def test_failure_counted_in_stats_is_a_failed_host(tmp_path):
    cb = _callback(tmp_path, fail=True)
    stats = AggregateStats()
    cb.v2_runner_on_failed(_result("web", "Rules", "immutable.audit.audit_rules", {"msg": "auditctl: not found"}))
    stats.increment("failures", "web")
    cb.v2_runner_on_unreachable(_result("db", "Gathering Facts", "ansible.builtin.setup", {"msg": "timed out"}))
    stats.increment("dark", "db")
    cb.v2_playbook_on_stats(stats)  # no SystemExit: ansible-playbook fails on its own
    hosts = json.loads((tmp_path / "out" / "drift.json").read_text())["hosts"]
    assert hosts["web"]["status"] == "failed" and hosts["web"]["errors"] == ["Rules: failed: auditctl: not found"]
    assert hosts["db"]["status"] == "unreachable" and not hosts["db"]["compliant"]


def test_fail_on_drift_raises_system_exit(tmp_path):
    cb = _callback(tmp_path, fail=True)
    stats = AggregateStats()
    cb.v2_runner_on_ok(_result("web", "Copy", "ansible.builtin.copy", {
        "changed": True, "diff": [{"before": "a\n", "after": "b\n", "before_header": "/etc/x"}]}))
    stats.increment("ok", "web")
    with pytest.raises(SystemExit) as exc:
        cb.v2_playbook_on_stats(stats)
    assert exc.value.code == 2
    assert (tmp_path / "out" / "drift.xml").exists() and (tmp_path / "out" / "drift.html").exists()
    assert any("failing the run" in line for line in cb._display.lines)


def test_callback_declares_itself():
    assert drift_report.CallbackModule.CALLBACK_TYPE == "aggregate"
    assert drift_report.CallbackModule.CALLBACK_NEEDS_ENABLED is True
    assert drift_report.CallbackModule.CALLBACK_NAME == "immutable.audit.drift_report"
