"""The baseline role on this machine, where that cannot change anything.

The role locks the kernel, so it never runs for real here (molecule/baseline
does that in a throwaway guest). These tests run only what is safe:
tests_invalid_input.yml, whose cases fail at argument validation or at the
role's first assert (in check mode, with baseline_image_build), and
tests_rules.yml, which includes only the rule computation
(roles/baseline/tasks/rules.yml: facts, find, set_fact).
"""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TESTS = os.path.join(ROOT, "tests", "roles", "baseline")
RULES_FILE = "/etc/audit/rules.d/50-immutable-baseline.rules"
FINALIZE_FILE = "/etc/audit/rules.d/zz-immutable-finalize.rules"


def _state():
    """What the role would change first: its files and the kernel's rules and status."""
    state = [os.path.exists(RULES_FILE), os.path.exists(FINALIZE_FILE)]
    if os.geteuid() == 0:
        for args in (["auditctl", "-l"], ["auditctl", "-s"]):
            out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
            state.append("\n".join(l for l in out.splitlines()
                                   if not l.startswith(("backlog ", "lost ", "backlog_wait_time_actual"))))
    return state


def _play(playbook, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    ansible_playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return subprocess.run(
        [ansible_playbook, "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=/usr/bin/python3", os.path.join(TESTS, playbook)]
        + list(extra),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.integration
def test_invalid_input_fails_at_argument_validation():
    before = _state()
    proc = _play("tests_invalid_input.yml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-20000:]
    assert "Validation of arguments failed" in out
    assert ("value of baseline_profiles must be one or more of: cis, stig, ospp, pci_dss. "
            "Got no match for: hipaa") in out
    assert "rescued=5" in out
    assert _state() == before


@pytest.mark.integration
def test_rule_computation():
    if os.geteuid() != 0:
        pytest.skip("finding setuid files on every filesystem needs root")
    before = _state()
    proc = _play("tests_rules.yml", "--check")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-20000:]
    assert "changed=0" in proc.stdout
    assert _state() == before
