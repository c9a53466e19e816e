# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module that writes a file, with the write failing at every step with
every cause the issue names (EROFS, ENOSPC, EACCES, EPERM, EXDEV): a message
naming the path, the step and the cause, never a traceback; the kernel either
untouched or put back as found, ``changed`` true whenever it changed; the next
run after the fault converges and the one after is unchanged."""

import errno
import os

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _auditctl, _files
from ansible_collections.immutable.audit.plugins.modules import audit_rules, auditd_config, boot_params
from ansible_collections.immutable.audit.tests.unit.plugins.faults import (
    ERRNOS, LABEL, WRITE_STEPS, FaultyIO, leftovers,
)
from ansible_collections.immutable.audit.tests.unit.plugins.modules.test_audit_rules import (  # noqa: F401 pylint: disable=unused-import
    LISTED, RULES, kernel, run,
)

BEFORE_RENAME = WRITE_STEPS[:-1]


@pytest.fixture
def faulty(monkeypatch):
    io = FaultyIO()
    monkeypatch.setattr(_files, "IO", io)
    return io


def _arm(faulty, step, code):
    faulty.step, faulty.code = step, code


@pytest.mark.parametrize("code", ERRNOS, ids=lambda c: errno.errorcode[c])
@pytest.mark.parametrize("step", WRITE_STEPS)
def test_audit_rules_kernel_and_file_change_together(run, kernel, faulty, tmp_path, step, code):
    path = str(tmp_path / "50-test.rules")
    kind, res = run({"path": path, "rules": RULES[:1]})
    assert kind == "exit" and kernel.lines == LISTED[:1]
    old = open(path).read()

    _arm(faulty, step, code)
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "fail", res
    assert path in res["msg"] and "(%s)" % errno.errorcode[code] in res["msg"], res["msg"]
    assert open(path).read() == old and leftovers(tmp_path) == []
    if step in BEFORE_RENAME:
        # Found before the kernel was touched.
        assert "nothing was changed (the kernel was not touched)" in res["msg"]
        assert not res.get("changed") and kernel.lines == LISTED[:1]
        assert not [c for c in kernel.commands[-3:] if c[1] in ("-R", "-a", "-w", "-d")]
    else:
        assert "put back to the 1 rules it held before the task" in res["msg"]
        assert res["changed"] is True and res["live_restored"] is True
        assert kernel.lines == LISTED[:1]

    _arm(faulty, None, None)
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "exit" and res["changed"] and kernel.lines == LISTED
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "exit" and not res["changed"]


def test_audit_rules_when_putting_back_fails_too_it_says_what_differs(run, kernel, faulty, tmp_path):
    path = str(tmp_path / "50-test.rules")
    assert run({"path": path, "rules": RULES[:1]})[0] == "exit"
    real_change = kernel.change

    def no_deletes(argv):
        if argv[0] == "-d":
            return 255, "", "Error sending delete rule data request (Operation not permitted)\n"
        return real_change(argv)
    kernel.change = no_deletes
    _arm(faulty, "rename", errno.EROFS)
    kind, res = run({"path": path, "rules": RULES})
    assert kind == "fail" and res["changed"] is True and res["live_restored"] is False
    assert "Putting the kernel back failed too" in res["msg"] and "Read-only file system (EROFS)" in res["msg"]
    assert res["live_rules"] == LISTED == kernel.lines
    assert res["live_rules_before"] == LISTED[:1] and res["file_rules"] == LISTED[:1]


def test_audit_rules_keeps_the_selinux_context_of_the_replaced_file(run, kernel, faulty, tmp_path):
    path = str(tmp_path / "50-test.rules")
    assert run({"path": path, "rules": RULES[:1]})[0] == "exit"
    assert run({"path": path, "rules": RULES})[0] == "exit"
    assert faulty.labels == {path: LABEL}


def test_a_full_tmp_applies_change_by_change(run, kernel, faulty, tmp_path, monkeypatch):
    """No batch file can be written: one auditctl process per change instead."""
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(_auditctl.tempfile, "mkdtemp", full)
    kind, res = run({"path": str(tmp_path / "50-test.rules"), "rules": RULES})
    assert kind == "exit" and kernel.lines == LISTED
    assert not [c for c in kernel.commands if c[1] == "-R"]


def test_a_run_whose_controller_is_gone_stops_between_batches(run, kernel, tmp_path, monkeypatch):
    """Orphaned (the parent that started the module exited): no more batches,
    the file not written, the kernel put back."""
    monkeypatch.setattr(_auditctl, "BATCH", 2)
    monkeypatch.setattr(audit_rules.Auditctl.change_many, "__defaults__", (2, None))
    parents = iter([100] + [1] * 50)
    monkeypatch.setattr(audit_rules.os, "getppid", lambda: next(parents))
    path = str(tmp_path / "50-test.rules")
    rules = ["-w /etc/f%d -p wa -k many" % i for i in range(6)]
    kind, res = run({"path": path, "rules": rules})
    assert kind == "fail", res
    assert "stopped after 2 of 6 rule changes" in res["msg"] and "pid 100" in res["msg"]
    assert res["live_restored"] is True and kernel.lines == [] and not os.path.exists(path)


# ------------------------------------------------------- auditd_config, boot_params

class NoDaemon(object):
    def __init__(self, module):
        pass

    def pid(self):
        return None


@pytest.mark.parametrize("code", ERRNOS, ids=lambda c: errno.errorcode[c])
@pytest.mark.parametrize("step", WRITE_STEPS)
def test_auditd_config_fails_with_a_message(module_runner, faulty, monkeypatch, tmp_path, step, code):
    monkeypatch.setattr(auditd_config, "Daemon", NoDaemon)
    conf = tmp_path / "auditd.conf"
    conf.write_text("log_format = RAW\n")
    _arm(faulty, step, code)
    kind, res = module_runner.run(auditd_config.main, dict(path=str(conf), settings={"log_format": "ENRICHED"}))
    assert kind == "fail" and str(conf) in res["msg"] and errno.errorcode[code] in res["msg"], res
    assert conf.read_text() == "log_format = RAW\n" and leftovers(tmp_path) == []
    _arm(faulty, None, None)
    assert module_runner.run(auditd_config.main, dict(path=str(conf), settings={"log_format": "ENRICHED"}))[1][
        "changed"]


@pytest.mark.parametrize("code", ERRNOS, ids=lambda c: errno.errorcode[c])
def test_boot_params_fails_with_a_message(module_runner, faulty, monkeypatch, tmp_path, code):
    grub = tmp_path / "grub"
    grub.write_text('GRUB_CMDLINE_LINUX="quiet"\n')
    _arm(faulty, "rename", code)
    kind, res = module_runner.run(boot_params.main, dict(grub_file=str(grub), bootloader="none",
                                                         proc_cmdline=str(tmp_path / "cmdline")))
    assert kind == "fail" and "cannot replace %s" % grub in res["msg"], res
    assert grub.read_text() == 'GRUB_CMDLINE_LINUX="quiet"\n' and leftovers(tmp_path) == []


def test_a_missing_directory_is_named():
    with pytest.raises(_files.FileError) as info:
        _files.stage("/nonexistent-dir/x.rules", "x\n")
    assert str(info.value) == "cannot write /nonexistent-dir/x.rules: directory /nonexistent-dir does not exist (ENOENT)"


def test_a_pipe_without_reader_counts_as_a_gone_controller():
    read_end, write_end = os.pipe()
    try:
        assert audit_rules._output_closed(write_end) is False
        assert audit_rules._orphaned(os.getppid(), write_end) is None
        os.close(read_end)
        read_end = None
        assert audit_rules._output_closed(write_end) is True
        assert "connection is closed" in audit_rules._orphaned(os.getppid(), write_end)
    finally:
        os.close(write_end)
        if read_end is not None:
            os.close(read_end)
