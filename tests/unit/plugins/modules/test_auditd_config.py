# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""auditd_config end to end on a temporary auditd.conf, with the running
auditd replaced by a fake (no signal is sent on this machine)."""

import os
import re
import stat

import pytest

from ansible_collections.immutable.audit.plugins.modules import auditd_config

DEBIAN_12 = (
    "#\n# This file controls the configuration of the audit daemon\n#\n\n"
    "local_events = yes\nwrite_logs = yes\nlog_file = /var/log/audit/audit.log\nlog_group = adm\n"
    "log_format = ENRICHED\nflush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = 8\nnum_logs = 5\n"
    "priority_boost = 4\nname_format = NONE\n##name = mydomain\nmax_log_file_action = ROTATE\n"
    "space_left = 75\nspace_left_action = SYSLOG\nverify_email = yes\naction_mail_acct = root\n"
    "admin_space_left = 50\nadmin_space_left_action = SUSPEND\ndisk_full_action = SUSPEND\n"
    "disk_error_action = SUSPEND\nuse_libwrap = yes\n##tcp_listen_port = 60\ntcp_listen_queue = 5\n"
    "tcp_max_per_addr = 1\n##tcp_client_ports = 1024-65535\ntcp_client_max_idle = 0\ntransport = TCP\n"
    "krb5_principal = auditd\n##krb5_key_file = /etc/audit/audit.key\ndistribute_network = no\n"
    "q_depth = 2000\noverflow_action = SYSLOG\nmax_restarts = 10\nplugin_dir = /etc/audit/plugins.d\n"
    "end_of_event_timeout = 2\n")

CIS = {"max_log_file_action": "keep_logs", "space_left_action": "email", "action_mail_acct": "root",
       "admin_space_left_action": "halt", "disk_full_action": "halt", "disk_error_action": "halt"}


class FakeDaemon(object):
    """auditd with a pid (or not running), recording the signals sent."""

    running_pid = 4242
    signals = []
    error = None

    def __init__(self, module):
        self.module = module

    def pid(self):
        return self.running_pid

    def reload(self, pid):
        if self.error:
            raise OSError(self.error, os.strerror(self.error))
        self.signals.append(pid)


@pytest.fixture
def run(monkeypatch, module_runner):
    monkeypatch.setattr(FakeDaemon, "running_pid", 4242)
    monkeypatch.setattr(FakeDaemon, "signals", [])
    monkeypatch.setattr(FakeDaemon, "error", None)
    monkeypatch.setattr(auditd_config, "Daemon", FakeDaemon)

    def call(args, check=False, diff=False):
        return module_runner.run(auditd_config.main, args, check=check, diff=diff)
    call.warnings = module_runner.warnings
    return call


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "auditd.conf"
    path.write_text(DEBIAN_12)
    path.chmod(0o640)
    return path


def test_check_apply_again_check(run, conf):
    args = dict(path=str(conf), settings=CIS)
    kind, res = run(args, check=True, diff=True)
    assert kind == "exit" and res["changed"] is True
    assert conf.read_text() == DEBIAN_12 and FakeDaemon.signals == []
    # in the file's order
    assert res["changed_keys"] == ["max_log_file_action", "space_left_action", "admin_space_left_action",
                                   "disk_full_action", "disk_error_action"]
    assert res["added_keys"] == [] and res["reloaded"] is True and res["restart_required"] is False
    assert res["diff"]["before"] == DEBIAN_12
    assert "max_log_file_action = KEEP_LOGS\n" in res["diff"]["after"]
    assert res["settings"]["disk_error_action"] == "HALT"

    kind, res = run(args, diff=True)
    assert res["changed"] is True and res["reloaded"] is True
    assert FakeDaemon.signals == [4242]
    text = conf.read_text()
    assert text == res["diff"]["after"]
    assert len(text.splitlines()) == len(DEBIAN_12.splitlines())
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640

    for check in (False, True):
        kind, res = run(args, check=check, diff=True)
        assert kind == "exit" and res["changed"] is False
        assert res["changed_keys"] == [] and res["reloaded"] is False
        assert res["diff"]["before"] == res["diff"]["after"] == text
    assert FakeDaemon.signals == [4242]


def test_restart_keys_and_appended_key(run, conf):
    kind, res = run(dict(path=str(conf), settings={"tcp_listen_port": 60, "q_depth": 1000, "freq": 20}))
    assert res["changed_keys"] == ["freq", "q_depth", "tcp_listen_port"]
    assert res["added_keys"] == ["tcp_listen_port"]
    assert res["restart_required"] is True and res["restart_keys"] == ["q_depth", "tcp_listen_port"]
    assert conf.read_text().endswith("end_of_event_timeout = 2\ntcp_listen_port = 60\n")
    assert FakeDaemon.signals == [4242]


def test_not_running_no_reload_no_restart(run, conf, monkeypatch):
    monkeypatch.setattr(FakeDaemon, "running_pid", None)
    kind, res = run(dict(path=str(conf), settings={"local_events": False}))
    assert res["changed"] is True and res["running"] is False
    assert res["reloaded"] is False and res["restart_required"] is False
    assert res["restart_keys"] == ["local_events"]
    assert FakeDaemon.signals == []


def test_reload_false(run, conf):
    kind, res = run(dict(path=str(conf), settings={"num_logs": 9}, reload=False))
    assert res["changed"] is True and res["reloaded"] is False and FakeDaemon.signals == []
    assert "num_logs = 9\n" in conf.read_text()


def test_mode_alone_is_fixed(run, conf):
    conf.chmod(0o666)
    kind, res = run(dict(path=str(conf), settings={}), check=True)
    assert res["changed"] is True and res["changed_keys"] == []
    kind, res = run(dict(path=str(conf), settings={}))
    assert res["changed"] is True and stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert conf.read_text() == DEBIAN_12


def test_missing_file_is_created(run, tmp_path):
    path = tmp_path / "new.conf"
    kind, res = run(dict(path=str(path), settings={}))
    assert res["changed"] is False and not path.exists()
    kind, res = run(dict(path=str(path), settings={"flush": "sync", "freq": 0}))
    assert res["changed"] is True and path.read_text() == "flush = SYNC\nfreq = 0\n"


@pytest.mark.parametrize("settings, message", [
    ({"max_log_size": 8}, "unknown auditd.conf key 'max_log_size'; valid keys: local_events, "),
    ({"num_logs": 1000}, "invalid value 1000 for num_logs: expected a whole number from 0 to 999"),
    ({"disk_full_action": "email"}, "invalid value 'email' for disk_full_action"),
    ({"freq": 0}, "flush = INCREMENTAL_ASYNC needs freq above 0"),
    ({"admin_space_left": 80}, r"space_left \(75 MB\) must be larger than admin_space_left \(80 MB\)"),
])
def test_invalid_settings_change_nothing(run, conf, settings, message):
    kind, res = run(dict(path=str(conf), settings=settings))
    assert kind == "fail"
    assert res["msg"].endswith("; nothing was changed")
    assert re.search(message, res["msg"])
    assert conf.read_text() == DEBIAN_12 and FakeDaemon.signals == []


def test_unknown_key_in_file_warns(run, conf):
    conf.write_text(DEBIAN_12 + "frobnicate = 1\n")
    kind, res = run(dict(path=str(conf), settings={}))
    assert kind == "exit"
    assert run.warnings == ["%s has the key 'frobnicate', which auditd 3.0 does not know: auditd refuses "
                            "to load the file" % conf]


def test_unparsable_file_fails(run, conf):
    conf.write_text("log_file /var/log/audit/audit.log\n")
    kind, res = run(dict(path=str(conf), settings={"freq": 1}))
    assert kind == "fail" and "line 1: expected `key = value`" in res["msg"]


def test_signal_failure_says_the_file_was_written(run, conf, monkeypatch):
    monkeypatch.setattr(FakeDaemon, "error", 3)
    kind, res = run(dict(path=str(conf), settings={"num_logs": 7}))
    assert kind == "fail"
    assert res["msg"].startswith("%s was written, but auditd (pid 4242) could not be sent SIGHUP" % conf)
    assert "num_logs = 7\n" in conf.read_text()


def test_daemon_finds_auditd_by_pid_file_and_comm(tmp_path, monkeypatch):
    """The real Daemon.pid with a fake /proc and pid file; auditctl absent."""
    proc = tmp_path / "proc"
    (proc / "77").mkdir(parents=True)
    (proc / "77" / "comm").write_text("auditd\n")
    (proc / "78").mkdir()
    (proc / "78" / "comm").write_text("bash\n")
    pid_file = tmp_path / "auditd.pid"

    class Module(object):
        def get_bin_path(self, name):
            return None

    daemon = auditd_config.Daemon(Module())
    monkeypatch.setattr(daemon, "proc", str(proc))
    monkeypatch.setattr(daemon, "pid_file", str(pid_file))
    assert daemon.pid() is None
    pid_file.write_text("77\n")
    assert daemon.pid() == 77
    pid_file.write_text("78\n")          # a stale pid file naming another process
    assert daemon.pid() is None
