"""The README's first command in its --local form: a check-mode drift audit
of this machine.

It must finish, write its report, and change nothing: no rules file, no
kernel rule.
"""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES_FILE = "/etc/audit/rules.d/50-immutable.rules"


def _listing():
    return subprocess.run(["auditctl", "-l"], capture_output=True, text=True, check=True).stdout


@pytest.mark.integration
def test_demo_reports_drift_and_changes_nothing():
    if os.geteuid() != 0:
        pytest.skip("the demo reads the kernel's audit state: needs root")
    report = os.path.join(ROOT, "output", "drift-localhost.json")
    if os.path.exists(report):
        os.remove(report)
    before = _listing()
    had_file = os.path.exists(RULES_FILE)
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo.sh"), "--local"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    with open(report) as handle:
        data = json.load(handle)
    assert data["host"] == "localhost"
    assert data["compliant"] is (not data["missing_in_kernel"] and not data["rules_file_differs"]
                                 and not data["out_of_order"])
    assert "-w /etc/passwd -p wa -k identity" in data["missing_in_kernel"] + _listing().splitlines()
    assert _listing() == before
    assert os.path.exists(RULES_FILE) == had_file
