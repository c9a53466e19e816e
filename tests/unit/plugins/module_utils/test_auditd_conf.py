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


# ---- managing keys (validate, edit, restart_keys) ----

@pytest.mark.parametrize("key, value, expected", [
    ("max_log_file_action", "keep_logs", "KEEP_LOGS"),
    ("flush", "Incremental_Async", "INCREMENTAL_ASYNC"),
    ("log_format", "enriched", "ENRICHED"),
    ("use_libwrap", False, "no"),
    ("write_logs", "YES", "yes"),
    ("num_logs", 5, "5"),
    ("num_logs", "007", "7"),
    ("space_left", "25%", "25%"),
    ("admin_space_left", 50, "50"),
    ("space_left_action", "exec /usr/local/sbin/notify", "EXEC /usr/local/sbin/notify"),
    ("disk_full_action", "  halt ", "HALT"),
    ("tcp_client_ports", "1-1023", "1-1023"),
    ("tcp_client_ports", "1024", "1024"),
    ("log_file", "/srv/audit/audit.log", "/srv/audit/audit.log"),
    ("action_mail_acct", "security@example.com", "security@example.com"),
    ("q_depth", 99999, "99999"),
])
def test_canonical_values(key, value, expected):
    assert conf.canonical(key, value) == expected


@pytest.mark.parametrize("key, value, accepted", [
    ("num_logs", 1000, "from 0 to 999"),
    ("num_logs", -1, "from 0 to 999"),
    ("num_logs", True, "from 0 to 999"),
    ("space_left", "0%", "percentage of the log partition from 1% to 99%"),
    ("space_left", "10 %", "percentage"),
    ("max_log_file_action", "exec /bin/true", "IGNORE, SYSLOG, SUSPEND, ROTATE, KEEP_LOGS"),
    ("disk_full_action", "email", "IGNORE, SYSLOG, ROTATE, SUSPEND, SINGLE, HALT"),
    ("disk_error_action", "rotate", "IGNORE, SYSLOG, SUSPEND, SINGLE, HALT"),
    ("space_left_action", "exec", "EXEC /absolute/path"),
    ("space_left_action", "exec bin/notify", "EXEC /absolute/path"),
    ("space_left_action", "halt now", "EXEC /absolute/path"),
    ("log_format", "nolog", "RAW, ENRICHED"),
    ("tcp_listen_port", 0, "from 1 to 65535"),
    ("tcp_max_per_addr", 1025, "from 1 to 1024"),
    ("tcp_client_ports", "1023-1", "LOW-HIGH"),
    ("log_file", "/var/log/audit/", "absolute path to a file"),
    ("log_file", "/a/audit.log", "at least 4 characters"),
    ("plugin_dir", "etc/audit/plugins.d", "absolute path"),
    ("name", "two words", "one word"),
    ("local_events", "on", "yes or no"),
])
def test_canonical_refuses_with_key_value_and_accepted(key, value, accepted):
    with pytest.raises(conf.AuditdConfError) as info:
        conf.canonical(key, value)
    assert str(info.value).startswith("invalid value %r for %s: expected" % (value, key))
    assert accepted in str(info.value)


def test_validate_unknown_key_lists_valid_keys():
    with pytest.raises(conf.AuditdConfError, match=r"unknown auditd.conf key 'max_log_size'; valid keys: "
                       r"local_events, write_logs, .*, end_of_event_timeout$"):
        conf.validate({"max_log_size": 8})


def test_validate_deprecated_duplicate_and_missing_values():
    with pytest.raises(conf.AuditdConfError, match="disp_qos is deprecated"):
        conf.validate({"disp_qos": "lossy"})
    with pytest.raises(conf.AuditdConfError, match="num_logs is given twice"):
        conf.validate({"num_logs": 1, "NUM_LOGS": 2})
    with pytest.raises(conf.AuditdConfError, match="no value for freq: expected a whole number"):
        conf.validate({"freq": None})
    with pytest.raises(conf.AuditdConfError, match="longer than 158 characters"):
        conf.validate({"log_file": "/var/log/" + "a" * 150})


def test_validate_keeps_order_and_lowercases_keys():
    assert list(conf.validate({"Space_Left_Action": "email", "freq": 20}).items()) == [
        ("space_left_action", "EMAIL"), ("freq", "20")]


def test_edit_changes_only_needed_lines_and_appends_missing_keys():
    wanted = conf.validate({"max_log_file_action": "keep_logs", "space_left_action": "syslog",
                            "num_logs": 5, "tcp_listen_port": 60, "admin_space_left_action": "halt"})
    result = conf.edit(conf.parse(DEBIAN_12), wanted)
    assert result.changed_keys == ["max_log_file_action", "admin_space_left_action", "tcp_listen_port"]
    assert result.added_keys == ["tcp_listen_port"]
    old, new = DEBIAN_12.splitlines(), result.text.splitlines()
    assert [(a, b) for a, b in zip(old, new) if a != b] == [
        ("max_log_file_action = ROTATE", "max_log_file_action = KEEP_LOGS"),
        ("admin_space_left_action = SUSPEND", "admin_space_left_action = HALT")]
    # the commented example stays a comment; the key is appended at the end
    assert new[len(old):] == ["tcp_listen_port = 60"] and "##tcp_listen_port = 60" in new


def test_edit_same_value_in_other_spelling_is_no_change():
    text = "  Max_Log_File_Action = keep_logs\nspace_left_action = exec /usr/bin/x\nnum_logs = 05\n"
    wanted = conf.validate({"max_log_file_action": "KEEP_LOGS", "space_left_action": "EXEC /usr/bin/x",
                            "num_logs": 5})
    result = conf.edit(conf.parse(text), wanted)
    assert result.text == text and result.changed_keys == []


def test_edit_rewrites_lines_auditd_cannot_read_and_every_repeat():
    text = "\tnum_logs=5\nflush = SYNC\nlog_format = ENRICHED # RAW / ENRICHED\nflush = DATA\n"
    wanted = conf.validate({"num_logs": 5, "flush": "sync", "log_format": "enriched"})
    result = conf.edit(conf.parse(text), wanted)
    # `num_logs=5` has no spaces and a trailing comment is an extra token: auditd refuses both
    assert result.text == "\tnum_logs = 5\nflush = SYNC\nlog_format = ENRICHED\nflush = SYNC\n"
    assert result.changed_keys == ["num_logs", "log_format", "flush"]


def test_edit_empty_file_and_nothing_wanted():
    assert conf.edit([], {}) == conf.Edit("", [], [])
    assert conf.edit([], conf.validate({"freq": 50})).text == "freq = 50\n"


def test_unknown_keys_of_existing_file():
    lines = conf.parse("dispatcher = /sbin/audispd\nlog_file = /var/log/audit/audit.log\nfoo = 1\n")
    assert conf.unknown_keys(lines) == ["foo"]


@pytest.mark.parametrize("after, touched, message", [
    ({"flush": "INCREMENTAL", "freq": "0"}, {"flush"}, "needs freq above 0"),
    ({"flush": "incremental_async"}, {"freq"}, "needs freq above 0"),
    ({"space_left": "50", "admin_space_left": "75"}, {"space_left"}, r"space_left \(50 MB\) must be larger"),
    ({"space_left": "50", "admin_space_left": "50"}, {"admin_space_left"}, "must be larger"),
])
def test_check_consistency_refuses(after, touched, message):
    with pytest.raises(conf.AuditdConfError, match=message):
        conf.check_consistency(after, touched)


@pytest.mark.parametrize("after, touched", [
    ({"flush": "INCREMENTAL", "freq": "0"}, {"num_logs"}),      # not this task's doing
    ({"flush": "SYNC", "freq": "0"}, {"flush"}),
    ({"space_left": "25%", "admin_space_left": "50"}, {"space_left"}),  # units differ: auditd decides
    ({"space_left": "75", "admin_space_left": "50"}, {"space_left"}),
])
def test_check_consistency_accepts(after, touched):
    conf.check_consistency(after, touched)


def test_restart_keys():
    before = {"q_depth": "2000"}
    wanted = {"q_depth": "1200", "tcp_listen_port": "60", "flush": "SYNC", "local_events": "no"}
    assert conf.restart_keys(before, wanted, list(wanted)) == ["local_events", "q_depth", "tcp_listen_port"]
    # a reload grows the queue; without a q_depth line the default is 2000
    assert conf.restart_keys({}, {"q_depth": "4000"}, ["q_depth"]) == []
    assert conf.restart_keys({}, {"q_depth": "1000"}, ["q_depth"]) == ["q_depth"]
    assert conf.restart_keys({}, {"flush": "SYNC"}, ["flush"]) == []
