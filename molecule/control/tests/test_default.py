"""Verify the control guest after the reboot (testinfra).

converge.yml set -f 0, -b 4096, -r 500, --backlog_wait_time 30000,
--loginuid-immutable and -e 2 with immutable.audit.audit_control;
side_effect.yml staged -b 16384 on the locked kernel, had -b 2048 with
strict=true refused, and rebooted. The kernel must now show the staged
values, loaded at boot from the finalize file.
"""

import json

FINALIZE = "zz-immutable-finalize.rules"
RULES_D = "/etc/audit/rules.d"


def _status_lines(host):
    # '|| exit 3': testinfra takes exit status 255 for an SSH failure.
    return host.check_output("auditctl -s || exit 3").splitlines()


def _status(host):
    return dict(line.split(" ", 1) for line in _status_lines(host) if " " in line)


def test_kernel_shows_the_staged_settings_after_the_reboot(host):
    status = _status(host)
    assert status["enabled"] == "2"
    assert status["failure"] == "0"
    assert status["backlog_limit"] == "16384"
    assert status["rate_limit"] == "500"
    assert status["backlog_wait_time"] == "30000"
    assert status["loginuid_immutable"] == "1 locked"


def test_finalize_file_sorts_last(host):
    names = host.check_output("ls -v %s", RULES_D).split()
    assert names[-1] == FINALIZE
    assert "audit.rules" in names


def test_finalize_file_holds_the_settings_with_lock_last(host):
    text = host.file(f"{RULES_D}/{FINALIZE}").content_string
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines == [
        "-b 16384",
        "-f 0",
        "-r 500",
        "--backlog_wait_time 30000",
        "--loginuid-immutable",
        "-e 2",
    ]


def test_staged_change_was_reported_not_applied(host):
    saved = json.loads(host.file("/root/staged.json").content_string)
    staged = saved["staged"]
    assert staged["changed"] is True
    assert staged.get("failed", False) is False
    assert staged["reboot_required"] is True
    assert staged["locked"] is True
    assert staged["live_changes"] == []
    assert staged["pending"] == {
        "backlog_limit": {"current": 4096, "wanted": 16384, "after_reboot": 16384}
    }


def test_strict_refused_with_nothing_changed(host):
    strict = json.loads(host.file("/root/staged.json").content_string)["strict"]
    assert strict["failed"] is True
    assert strict["changed"] is False
    assert "backlog_limit" in strict["msg"]
    # Nothing of the refused value reached the file or the kernel.
    assert "2048" not in host.file(f"{RULES_D}/{FINALIZE}").content_string
    assert _status(host)["backlog_limit"] != "2048"


def test_nothing_pending_after_the_reboot(host):
    after = json.loads(host.file("/root/after_reboot.json").content_string)
    assert after["changed"] is False
    assert after["reboot_required"] is False
    assert after["pending"] == {}
    assert after["locked"] is True


def test_locked_kernel_refuses_status_changes(host):
    for cmd in ("auditctl -b 8192 || exit 3", "auditctl -f 1 || exit 3",
                "auditctl -e 1 || exit 3"):
        res = host.run(cmd)
        assert res.rc == 3, cmd
        assert "Operation not permitted" in res.stdout + res.stderr
    status = _status(host)
    assert status["backlog_limit"] == "16384"
    assert status["failure"] == "0"
    assert status["enabled"] == "2"


def test_auditd_is_active(host):
    assert host.check_output("systemctl is-active auditd") == "active"
    assert _status(host)["pid"] != "0"
