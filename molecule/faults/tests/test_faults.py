"""Verify the faults guest (testinfra): after side_effect.yml's three faults
and recoveries, the kernel holds exactly what rules.d loads (the 1,501 rules
of the run whose controller was killed, applied again), no temporary file is
left, and the recorded results say what each fault did."""

import json


def _results(host):
    return json.loads(host.file("/root/faults.json").content_string)


def test_kernel_equals_rules_d_at_the_end(host):
    listing = host.check_output("auditctl -l || exit 3").splitlines()
    persisted = host.check_output("cat /etc/audit/rules.d/40-faults.rules").splitlines()
    rules = [line for line in persisted if line and not line.startswith("#")]
    assert len(rules) == 1501
    assert sorted(rules) == sorted(line for line in listing if "key=faults" in line or "-k faults" in line)


def test_no_temporary_file_is_left(host):
    names = host.check_output("ls -a /etc/audit/rules.d /etc/audit").split()
    assert not [n for n in names if n.startswith(".40-faults") or n.startswith(".auditd.conf")]


def test_each_fault_was_named(host):
    res = _results(host)
    assert "(ENOSPC)" in res["full"]["msg"]
    assert "(EROFS)" in res["ro"]["rules_msg"] and "(EROFS)" in res["ro"]["conf_msg"]
    assert res["full"]["before"] == res["full"]["after"]


def test_the_killed_apply_left_kernel_and_file_as_found(host):
    kill = _results(host)["kill"]
    assert "killed the controller" in kill["run"]
    assert kill["after"]["kernel"] == kill["before"]["kernel"]
    assert kill["after"]["file"] == kill["before"]["file"]
    assert int(kill["after"]["missing"]) == 0
