"""Verify the faults guest (testinfra): after side_effect.yml's two faults
and recoveries, the kernel holds exactly what rules.d loads, no temporary
file is left, and the recorded results say what each fault did."""

import json


def _results(host):
    return json.loads(host.file("/root/faults.json").content_string)


def test_kernel_equals_rules_d_at_the_end(host):
    listing = host.check_output("auditctl -l || exit 3").splitlines()
    persisted = host.check_output("cat /etc/audit/rules.d/40-faults.rules").splitlines()
    rules = [line for line in persisted if line and not line.startswith("#")]
    assert len(rules) == 500
    assert sorted(rules) == sorted(line for line in listing if "key=faults" in line or "-k faults" in line)


def test_no_temporary_file_is_left(host):
    names = host.check_output("ls -a /etc/audit/rules.d /etc/audit").split()
    assert not [n for n in names if n.startswith(".40-faults") or n.startswith(".auditd.conf")]


def test_each_fault_was_named(host):
    res = _results(host)
    assert "(ENOSPC)" in res["full"]["msg"]
    assert "(EROFS)" in res["ro"]["rules_msg"] and "(EROFS)" in res["ro"]["conf_msg"]
    assert res["full"]["before"] == res["full"]["after"]
