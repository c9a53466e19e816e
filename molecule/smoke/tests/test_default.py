"""Verify the smoke guest from outside (testinfra over SSH)."""


def test_auditd_is_running(host):
    auditd = host.service("auditd")
    assert auditd.is_running
    assert auditd.is_enabled


def test_kernel_audit_enabled(host):
    # '|| exit 3': testinfra takes exit status 255 for an SSH failure.
    out = host.check_output("auditctl -s || exit 3")
    assert "enabled 1" in out.splitlines()


def test_audit_boot_parameters(host):
    cmdline = host.file("/proc/cmdline").content_string.split()
    assert "audit=1" in cmdline
    assert "audit_backlog_limit=8192" in cmdline


def test_guest_rebooted_and_kept_its_disk(host):
    # converge.yml left both markers; side_effect.yml rebooted the guest: the
    # one on tmpfs is gone, the one on the overlay disk stayed.
    assert not host.file("/run/smoke-converged").exists
    assert host.file("/root/smoke-converged").content_string == "converged\n"
