# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""auditd_service end to end on the recorded platforms: the module's own
System reads the recorded tool outputs; commands, signals and /proc are
replaced by a fake auditd. Nothing runs or is signalled on this machine."""

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _kernel_owner
from ansible_collections.immutable.audit.plugins.module_utils._auditctl import parse_status
from ansible_collections.immutable.audit.plugins.modules import auditd_service
from ansible_collections.immutable.audit.tests.unit.platforms import NAMES, load

NEW_PID = 4242


class FakeSystem(auditd_service.System):
    """The recorded platform behind the module's System: the reads are real
    parsing of recorded output, the writes change a fake auditd."""

    platform = None
    log = None          # every argv run and signal sent, in order
    state = None

    def __init__(self, module):
        super(FakeSystem, self).__init__(module)
        self.pid_files = ()
        self.init_script = self.state["init_script"]
        self.run_dir = self.state["run_dir"]

    @classmethod
    def setup(cls, name, tmp_path, stop_works=True, start_works=True, running=True):
        cls.platform = load(name)
        cls.log = []
        run_dir = tmp_path / "run-systemd-system"
        if cls.platform["systemd"]:
            run_dir.mkdir()
        init_script = tmp_path / "init.d-auditd"
        if cls.platform["initscript"]:
            init_script.write_text("#!/bin/sh\n")
        cls.state = dict(pid=parse_status(cls.platform["auditctl_s"])["pid"] if running else None,
                         clock=0.0, stop_works=stop_works, start_works=start_works,
                         run_dir=str(run_dir), init_script=str(init_script))

    def which(self, name):
        return self.platform["commands"].get(name)

    def command(self, argv, check=True):
        self.log.append(" ".join(argv))
        commands, state = self.platform["commands"], self.state
        out = ""
        if argv == [commands["auditctl"], "-v"]:
            out = self.platform["auditctl_v"]
        elif argv == [commands["auditctl"], "-s"]:
            out = self.platform["auditctl_s"].replace("\npid %d\n" % parse_status(self.platform["auditctl_s"])["pid"],
                                                      "\npid %d\n" % (state["pid"] or 0))
        elif argv[1:3] == ["show", "auditd.service"]:
            out = self.platform["systemctl_show"]
        elif argv[1:] == ["--signal", "stop"]:
            if state["stop_works"]:
                state["pid"] = None
        elif argv[-2:] in (["start", "auditd.service"], ["auditd", "start"]):
            if state["pid"] is None:
                state["pid"] = NEW_PID if state["start_works"] else None
        elif argv[-2:] in (["restart", "auditd.service"], ["auditd", "restart"]):
            state["pid"] = NEW_PID if state["start_works"] else None
        elif argv[1:] == ["--signal", "reload"]:
            pass
        else:
            raise AssertionError("unexpected command %r" % argv)
        return 0, out, ""

    def alive(self, pid):
        return pid is not None and pid == self.state["pid"]

    def signal(self, pid, name):
        self.log.append("kill -%s %d" % (name, pid))
        if name == "TERM" and self.state["stop_works"]:
            self.state["pid"] = None

    def sleep(self, seconds):
        self.state["clock"] += seconds

    def now(self):
        return self.state["clock"]


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(auditd_service, "System", FakeSystem)
    return FakeSystem


READS = ("-v", "-s", "show")


def _acted(log):
    """The log without the read-only commands."""
    return [line for line in log if not any(line.endswith(" " + r) or (" %s " % r) in line for r in READS)]


@pytest.mark.parametrize("name", NAMES)
def test_restart_per_platform(module_runner, fake, tmp_path, name):
    fake.setup(name, tmp_path)
    expected = fake.platform["expected"]
    status, result = module_runner.run(auditd_service.main, dict(state="restarted"))
    assert status == "exit", result
    assert result["changed"] and result["method"] == expected["restart"]
    assert result["commands"] == expected["restart_commands"]
    assert _acted(fake.log) == [c for c in expected["restart_commands"] if not c.startswith("wait")]
    assert result["pid_before"] == parse_status(fake.platform["auditctl_s"])["pid"]
    assert result["pid"] == NEW_PID
    assert result["refuse_manual_stop"] is expected["refuse_manual_stop"]
    assert result["start_loads_rules"] is expected["start_loads_rules"]
    assert result["version"] == fake.platform["auditctl_v"].split()[-1]
    assert result["live_skipped"] is None


@pytest.mark.parametrize("name", NAMES)
def test_check_mode_reports_the_plan_and_runs_nothing(module_runner, fake, tmp_path, name):
    fake.setup(name, tmp_path)
    status, result = module_runner.run(auditd_service.main, dict(state="restarted"), check=True)
    assert status == "exit", result
    assert result["changed"] and result["commands"] == fake.platform["expected"]["restart_commands"]
    assert _acted(fake.log) == []
    assert result["pid"] is None


@pytest.mark.parametrize("name", NAMES)
def test_reload_per_platform(module_runner, fake, tmp_path, name):
    fake.setup(name, tmp_path)
    status, result = module_runner.run(auditd_service.main, dict(state="reloaded"))
    assert status == "exit", result
    assert result["commands"] == fake.platform["expected"]["reload_commands"]
    assert _acted(fake.log) == fake.platform["expected"]["reload_commands"]
    assert result["pid"] == result["pid_before"]


def test_not_running_is_started(module_runner, fake, tmp_path):
    fake.setup("rhel9", tmp_path, running=False)
    status, result = module_runner.run(auditd_service.main, dict(state="restarted"))
    assert status == "exit", result
    assert result["method"] == "start" and result["pid_before"] is None and result["pid"] == NEW_PID
    assert _acted(fake.log) == ["/usr/bin/systemctl start auditd.service"]


def test_daemon_that_does_not_stop_fails_before_the_start(module_runner, fake, tmp_path):
    fake.setup("rhel9", tmp_path, stop_works=False)
    status, result = module_runner.run(auditd_service.main, dict(state="restarted", timeout=2))
    assert status == "fail"
    assert "still runs 2 s after it was told to stop" in result["msg"]
    assert "already done: /usr/sbin/auditctl --signal stop" in result["msg"]
    assert result["commands"] == ["/usr/sbin/auditctl --signal stop"]
    assert "/usr/bin/systemctl start auditd.service" not in fake.log


def test_daemon_that_does_not_come_back_fails(module_runner, fake, tmp_path):
    fake.setup("debian12", tmp_path, start_works=False)
    status, result = module_runner.run(auditd_service.main, dict(state="restarted", timeout=1))
    assert status == "fail"
    assert "no auditd process runs afterwards" in result["msg"]
    assert result["commands"] == ["/usr/bin/systemctl restart auditd.service"]


def test_without_systemd_service_restarts(module_runner, fake, tmp_path):
    fake.setup("ubuntu2404", tmp_path)
    fake.platform["systemd"] = False
    (tmp_path / "run-systemd-system").rmdir()
    status, result = module_runner.run(auditd_service.main, dict(state="restarted"))
    assert status == "exit", result
    assert result["method"] == "service" and result["systemd"] is False
    assert _acted(fake.log) == ["/usr/sbin/service auditd restart"]
    assert not [line for line in fake.log if "systemctl" in line]


@pytest.mark.parametrize("env", [
    _kernel_owner.Environment(False, "chroot", "/ is not the root of PID 2, the machine's root: a chroot", {}),
    _kernel_owner.Environment(False, "container", "this runs in a user namespace other than the machine's: "
                              "a container", {}),
])
def test_foreign_kernel_auto_does_nothing(module_runner, fake, tmp_path, monkeypatch, env):
    fake.setup("rhel9", tmp_path)
    monkeypatch.setattr(_kernel_owner, "detect", lambda probe=None: env)
    status, result = module_runner.run(auditd_service.main, dict(state="restarted"))
    assert status == "exit", result
    assert result["changed"] is False and result["live_skipped"] == env.kind
    assert result["commands"] == [] and result["method"] is None
    assert fake.log == []       # not even a read
    assert module_runner.warnings and "restart the audit daemon" in module_runner.warnings[0]


def test_foreign_kernel_explicit_live_fails(module_runner, fake, tmp_path, monkeypatch):
    fake.setup("rhel9", tmp_path)
    env = _kernel_owner.Environment(False, "chroot", "/ is not the root of PID 2, the machine's root: a chroot", {})
    monkeypatch.setattr(_kernel_owner, "detect", lambda probe=None: env)
    status, result = module_runner.run(auditd_service.main, dict(state="restarted", live=True))
    assert status == "fail" and "restart the audit daemon" in result["msg"]
    assert fake.log == []


def test_live_false_does_nothing(module_runner, fake, tmp_path):
    fake.setup("rhel9", tmp_path)
    status, result = module_runner.run(auditd_service.main, dict(state="restarted", live=False))
    assert status == "exit" and result["changed"] is False and fake.log == []


def test_bad_timeout(module_runner, fake, tmp_path):
    fake.setup("rhel9", tmp_path)
    status, result = module_runner.run(auditd_service.main, dict(state="restarted", timeout=0))
    assert status == "fail" and "timeout must be 1 or more" in result["msg"]
    assert fake.log == []
