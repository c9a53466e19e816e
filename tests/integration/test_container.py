# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every kernel-touching module run inside a container-like sandbox on this
machine, with default options and then with the live switch set to true.

The sandbox: ``unshare --mount --pid --fork --mount-proc`` (its own PID
namespace with PID 1 the sandbox's first process, its own /proc) running
ansible-playbook with the local connection. Inside it, before anything else,
a tmpfs covers /etc/audit (private to the sandbox's mount namespace) and a
stub ``auditctl`` that records its arguments and exits 1 comes first on the
PATH, so a module that decided wrongly fails instead of reaching the
kernel; every path the modules write is under the test's temp dir. This
machine's ``auditctl -s`` settings and ``-l`` are compared before and after.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
COUNTERS = ("lost", "backlog", "backlog_wait_time_actual")

STUB = """#!/bin/sh
echo "$*" >> %s
echo "auditctl stub: refused $*" >&2
exit 1
"""

# Each module with default options (live/reload auto), then with an explicit
# true, which must fail naming the environment.
TASKS = """
- name: Kernel-touching modules in a sandbox
  hosts: localhost
  gather_facts: false
  vars:
    tmp: {tmp}
  tasks:
    - name: Rules with the defaults
      immutable.audit.audit_rules:
        path: "{{{{ tmp }}}}/rules.d/50-test.rules"
        rules: ["-w /etc/passwd -p wa -k identity"]
      register: rules_auto
    - name: The lock with the defaults
      immutable.audit.audit_control:
        enabled: 2
        rules_dir: "{{{{ tmp }}}}/rules.d"
      register: control_auto
    - name: auditd.conf with the defaults
      immutable.audit.auditd_config:
        path: "{{{{ tmp }}}}/auditd.conf"
        settings: {{log_format: ENRICHED}}
      register: config_auto
    - name: Info with the defaults
      immutable.audit.audit_info:
        rules_dir: "{{{{ tmp }}}}/rules.d"
      register: info_auto
    - name: Seal with the defaults, rotating
      immutable.audit.audit_seal:
        auditd_conf: "{{{{ tmp }}}}/auditd.conf"
        log_file: "{{{{ tmp }}}}/log/audit.log"
        sealed_dir: "{{{{ tmp }}}}/log/sealed"
        rotate: always
      register: seal_auto
    - name: Boot parameters with the defaults
      immutable.audit.boot_params:
        grub_file: "{{{{ tmp }}}}/grub"
      register: boot_auto
    - name: Restart auditd with the defaults
      immutable.audit.auditd_service:
        state: restarted
      register: service_auto
    - name: Rules, live true
      immutable.audit.audit_rules:
        path: "{{{{ tmp }}}}/rules.d/60-test.rules"
        rules: ["-w /etc/group -p wa -k identity"]
        live: true
      register: rules_true
      ignore_errors: true
    - name: The lock, live true
      immutable.audit.audit_control:
        enabled: 2
        rules_dir: "{{{{ tmp }}}}/rules.d"
        path: "{{{{ tmp }}}}/rules.d/zz-other.rules"
        live: true
      register: control_true
      ignore_errors: true
    - name: auditd.conf, reload true
      immutable.audit.auditd_config:
        path: "{{{{ tmp }}}}/auditd.conf"
        settings: {{log_format: RAW}}
        reload: true
      register: config_true
      ignore_errors: true
    - name: Restart auditd, live true
      immutable.audit.auditd_service:
        state: restarted
        live: true
      register: service_true
      ignore_errors: true
    - name: Hand the results to the test
      ansible.builtin.copy:
        content: >-
          {{{{ dict(rules_auto=rules_auto, control_auto=control_auto, config_auto=config_auto,
                   info_auto=info_auto, seal_auto=seal_auto, boot_auto=boot_auto, rules_true=rules_true,
                   control_true=control_true, config_true=config_true, service_auto=service_auto,
                   service_true=service_true) | to_json }}}}
        dest: "{{{{ tmp }}}}/results.json"
        mode: "0600"
"""


def _host_audit_state():
    env = dict(os.environ, LANG="C", LC_ALL="C")
    status = subprocess.run(["auditctl", "-s"], env=env, capture_output=True, text=True, check=False)
    rules = subprocess.run(["auditctl", "-l"], env=env, capture_output=True, text=True, check=False)
    settings = [line for line in status.stdout.splitlines() if line.split(" ", 1)[0] not in COUNTERS]
    return status.returncode, settings, rules.returncode, rules.stdout


@pytest.fixture
def sandbox(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (unshare of the PID and mount namespaces)")
    for tool in ("unshare", "auditctl"):
        if shutil.which(tool) is None:
            pytest.skip("'%s' not found" % tool)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    calls = tmp_path / "auditctl.calls"
    (stubs / "auditctl").write_text(STUB % calls)
    (stubs / "auditctl").chmod(0o755)
    (tmp_path / "rules.d").mkdir()
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "audit.log").write_text("type=DAEMON_START msg=audit(1.0:1): x\n")
    (tmp_path / "auditd.conf").write_text("log_format = RAW\nnum_logs = 5\n")
    (tmp_path / "grub").write_text('GRUB_CMDLINE_LINUX="quiet"\n')
    return tmp_path, stubs, calls


def test_modules_in_a_sandbox_touch_nothing_live(sandbox):
    tmp, stubs, calls = sandbox
    play = tmp / "play.yml"
    play.write_text(TASKS.format(tmp=tmp))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=str(stubs) + os.pathsep + os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"])
    inner = ("mount -t tmpfs -o size=1m immutable-audit-test /etc/audit && exec %s -i localhost, -c local "
             "-e ansible_python_interpreter=%s %s" % (PLAYBOOK, sys.executable, play))
    before = _host_audit_state()
    proc = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", inner],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    after = _host_audit_state()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert after == before
    assert not calls.exists(), calls.read_text()
    with open(str(tmp / "results.json")) as handle:
        res = json.load(handle)

    for name in ("rules_auto", "control_auto", "config_auto", "info_auto", "seal_auto", "boot_auto",
                 "service_auto"):
        assert res[name]["live_skipped"] in ("container", "sandbox"), (name, res[name])
    assert res["rules_auto"]["changed"] and res["rules_auto"]["added"] == []
    assert "-w /etc/passwd -p wa -k identity" in (tmp / "rules.d" / "50-test.rules").read_text()
    assert res["control_auto"]["live_changes"] == [] and res["control_auto"]["locked"] is None
    assert (tmp / "rules.d" / "zz-immutable-finalize.rules").read_text().splitlines()[-1] == "-e 2"
    assert res["config_auto"]["reloaded"] is False and "log_format = ENRICHED" in (tmp / "auditd.conf").read_text()
    assert res["info_auto"]["live_rules"] is None and res["info_auto"]["persisted_rules"]
    assert res["seal_auto"]["rotated"] is False
    assert res["boot_auto"]["bootloader"] == "none" and res["boot_auto"]["reboot_required"] is False
    assert res["service_auto"]["changed"] is False
    # The warning says why, in the play's output.
    assert "PID namespace other than the machine's" in out

    for name, option in (("rules_true", "live"), ("control_true", "live"), ("config_true", "reload"),
                         ("service_true", "live")):
        assert res[name]["failed"], (name, res[name])
        assert res[name]["msg"].startswith("%s: true, but this runs in a PID namespace other than the machine's"
                                           % option), res[name]["msg"]
        assert "allow_shared_kernel: true" in res[name]["msg"]
    assert not (tmp / "rules.d" / "60-test.rules").exists()
    assert not (tmp / "rules.d" / "zz-other.rules").exists()
    assert "log_format = ENRICHED" in (tmp / "auditd.conf").read_text()
