"""Run every Ansible integration target on this machine.

Each directory under tests/integration/targets is a role whose tasks use the
collection's modules in the four steps (check, apply, apply again, check
again) and then assert the real state of the host. Targets must clean up
after themselves in an always: block (rules they added, flags they set).
"""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGETS = os.path.join(HERE, "targets")
NAMES = sorted(
    d for d in os.listdir(TARGETS)
    if os.path.isfile(os.path.join(TARGETS, d, "tasks", "main.yml"))
) if os.path.isdir(TARGETS) else []


@pytest.mark.integration
@pytest.mark.parametrize("target", NAMES)
def test_target(target):
    if os.geteuid() != 0:
        pytest.skip("integration targets need root")
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": TARGETS,
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
    })
    # The venv running pytest also holds ansible-playbook.
    ansible_playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run(
        # Modules run on the system Python, as on any Debian target.
        [ansible_playbook, "-i", "localhost,", os.path.join(HERE, "run_target.yml"),
         "-e", "target=" + target, "-e", "ansible_python_interpreter=/usr/bin/python3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-5000:]
