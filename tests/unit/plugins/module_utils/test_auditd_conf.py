# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Units for the auditd.conf parser and auditd's log paths."""

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _auditd_conf as conf

# Debian 12's /etc/audit/auditd.conf (auditd 1:3.0.9-1), as shipped.
DEBIAN_12 = """\
#
# This file controls the configuration of the audit daemon
#

local_events = yes
write_logs = yes
log_file = /var/log/audit/audit.log
log_group = adm
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 8
num_logs = 5
priority_boost = 4
name_format = NONE
##name = mydomain
max_log_file_action = ROTATE
space_left = 75
space_left_action = SYSLOG
verify_email = yes
action_mail_acct = root
admin_space_left = 50
admin_space_left_action = SUSPEND
disk_full_action = SUSPEND
disk_error_action = SUSPEND
use_libwrap = yes
##tcp_listen_port = 60
tcp_listen_queue = 5
tcp_max_per_addr = 1
##tcp_client_ports = 1024-65535
tcp_client_max_idle = 0
transport = TCP
krb5_principal = auditd
##krb5_key_file = /etc/audit/audit.key
distribute_network = no
q_depth = 2000
overflow_action = SYSLOG
max_restarts = 10
plugin_dir = /etc/audit/plugins.d
end_of_event_timeout = 2
"""


def test_parse_debian_file_keeps_every_line_in_order():
    lines = conf.parse(DEBIAN_12)
    assert "\n".join(line.text for line in lines) + "\n" == DEBIAN_12
    assert [line.key for line in lines[:7]] == [None, None, None, None, "local_events", "write_logs", "log_file"]
    settings = conf.settings(lines)
    assert settings["log_file"] == "/var/log/audit/audit.log"
    assert settings["num_logs"] == "5"
    # `##name = mydomain` is a comment, not a key `##name`
    assert "name" not in settings and "##name" not in settings


def test_parse_odd_spacing_and_comments():
    text = "  # indented comment\n\tlog_file\t=\t/srv/a b.log  \nnum_logs=3\n   \nflush =INCREMENTAL\n"
    lines = conf.parse(text)
    assert [(line.key, line.value) for line in lines] == [
        (None, None), ("log_file", "/srv/a b.log"), ("num_logs", "3"), (None, None), ("flush", "INCREMENTAL")]
    assert lines[1].text == "\tlog_file\t=\t/srv/a b.log  "


def test_settings_last_repeated_key_wins():
    assert conf.settings(conf.parse("num_logs = 2\nnum_logs = 9\n")) == {"num_logs": "9"}


@pytest.mark.parametrize("bad, number", [
    ("log_file /var/log/audit/audit.log", 1),
    ("num_logs = 5\n= 5", 2),
    ("# ok\nlog file = /x", 2),
])
def test_parse_rejects_lines_without_key_and_equals(bad, number):
    with pytest.raises(conf.AuditdConfError, match=r"test\.conf line %d: expected" % number):
        conf.parse(bad, "test.conf")


def _listdir(names):
    def listdir(path):
        assert path == "/var/log/audit"
        return names
    return listdir


def test_log_paths_defaults_without_conf():
    paths = conf.log_paths({}, _listdir([]))
    assert paths == conf.LogPaths("/var/log/audit/audit.log", "/var/log/audit", ["/var/log/audit/audit.log"])


def test_log_paths_num_logs_and_existing_rotated_files():
    names = ["audit.log", "audit.log.2", "audit.log.7", "audit.log.12", "audit.log.gz", "audit.log.1.bak",
             "other.log.1", "audit.logX.1"]
    paths = conf.log_paths({"num_logs": "3"}, _listdir(names))
    assert paths.chain == [
        "/var/log/audit/audit.log", "/var/log/audit/audit.log.1", "/var/log/audit/audit.log.2",
        "/var/log/audit/audit.log.3", "/var/log/audit/audit.log.7", "/var/log/audit/audit.log.12"]


def test_log_paths_custom_log_file_and_missing_dir():
    def listdir(path):
        raise FileNotFoundError(2, "No such file or directory", path)
    paths = conf.log_paths({"log_file": "/srv/logs/a.log", "num_logs": "1"}, listdir)
    assert paths == conf.LogPaths("/srv/logs/a.log", "/srv/logs", ["/srv/logs/a.log", "/srv/logs/a.log.1"])


@pytest.mark.parametrize("settings, message", [
    ({"log_file": "audit.log"}, "log_file must be an absolute path"),
    ({"num_logs": "five"}, "num_logs must be a number"),
])
def test_log_paths_refuses_nonsense(settings, message):
    with pytest.raises(conf.AuditdConfError, match=message):
        conf.log_paths(settings, _listdir([]))


def test_read_settings_file_missing_is_defaults(tmp_path):
    assert conf.read_settings(str(tmp_path / "absent.conf")) == {}


def test_read_settings_reads_file(tmp_path):
    path = tmp_path / "auditd.conf"
    path.write_text("log_file = %s/audit.log\n" % tmp_path)
    assert conf.read_settings(str(path)) == {"log_file": "%s/audit.log" % tmp_path}


def test_read_settings_unreadable_is_an_error(tmp_path):
    with pytest.raises(conf.AuditdConfError, match="cannot read"):
        conf.read_settings(str(tmp_path))
