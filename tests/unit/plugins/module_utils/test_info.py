# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit_info report from recorded inputs (Debian 12, audit 3.0.9)."""

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _info
from ansible_collections.immutable.audit.plugins.module_utils._auditctl import parse_status
from ansible_collections.immutable.audit.plugins.module_utils._files import merge
from ansible_collections.immutable.audit.plugins.module_utils._rules import effective_order
from ansible_collections.immutable.audit.plugins.module_utils._rules import Target

# Subsets of `ausyscall x86_64 --dump` and `ausyscall i386 --dump` (Debian 12).
B64 = {"open": 2, "rename": 82, "unlink": 87, "adjtimex": 159, "settimeofday": 164,
       "clock_settime": 227, "openat": 257, "unlinkat": 263, "renameat": 264}
B32 = {"open": 5, "unlink": 10, "stime": 25, "rename": 38, "settimeofday": 79,
       "adjtimex": 124, "clock_settime": 264}
TARGET = Target({"b64": B64, "b32": B32}, user={"root": 0}.get, group={"adm": 4}.get)

# `auditctl -s` on the project machine: kernel audit off, no auditd.
STATUS_IDLE = """enabled 0
failure 1
pid 0
rate_limit 0
backlog_limit 64
lost 0
backlog 0
backlog_wait_time 15000
backlog_wait_time_actual 0
loginuid_immutable 0 unlocked
"""
# The same fields on a Debian 12 host with auditd running and the lock set.
STATUS_LOCKED = """enabled 2
failure 1
pid 612
rate_limit 0
backlog_limit 8192
lost 0
backlog 0
backlog_wait_time 60000
backlog_wait_time_actual 0
loginuid_immutable 1 locked
"""

# `auditctl -l` after adding these rules as written:
#   -w /etc/passwd -p wa -k identity
#   -a always,exit -F arch=b64 -S settimeofday,adjtimex -k time-change
#   -a always,exit -F arch=b32 -S adjtimex,settimeofday,stime -k time-change
#   -a always,exit -F arch=b64 -S unlink,unlinkat,rename,renameat -F auid>=1000 -F auid!=unset -k delete
#   -a never,exclude -F msgtype=CWD
LISTING = """-w /etc/passwd -p wa -k identity
-a always,exit -F arch=b64 -S adjtimex,settimeofday -F key=time-change
-a always,exit -F arch=b32 -S stime,settimeofday,adjtimex -F key=time-change
-a always,exit -F arch=b64 -S rename,unlink,unlinkat,renameat -F auid>=1000 -F auid!=-1 -F key=delete
-a never,exclude -F msgtype=CWD
"""
LIVE = LISTING.splitlines()

# Debian 12's /etc/audit/rules.d/audit.rules as the auditd package installs it.
DEBIAN_BASE = """## First rule - delete all
-D

## Increase the buffers to survive stress events.
## Make this bigger for busy systems
-b 8192

## This determine how long to wait in burst of events
--backlog_wait_time 60000

## Set failure mode to syslog
-f 1

"""
CLEAN = (
    ("/etc/audit/rules.d/audit.rules", DEBIAN_BASE),
    ("/etc/audit/rules.d/30-identity.rules", "-w /etc/passwd -p aw -k identity\n"),
    ("/etc/audit/rules.d/40-time.rules",
     "-a always,exit -F arch=b64 -S settimeofday -S adjtimex -k time-change\n"
     "-a exit,always -F arch=i386 -S adjtimex,settimeofday,stime -k time-change\n"),
    ("/etc/audit/rules.d/50-delete.rules",
     "-a always,exit -F arch=b64 -S unlink,unlinkat,rename,renameat -F auid>=1000 "
     "-F auid!=4294967295 -k delete\n"
     "-a exclude,never -F msgtype=1307\n"),
    ("/etc/audit/rules.d/99-finalize.rules", "-e 2\n"),
)

# Debian GRUB command line with the audit parameters of the CIS benchmark.
GRUB = ("BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=2f0c4c1e-93c5-4b0d-a3f5-7d1f0e6a1b2c "
        "ro quiet audit=1 audit_backlog_limit=8192\n")
# /proc/cmdline of the project machine: no audit parameters, init arguments after --.
PROJECT = ("mitigations=auto,no_guest_host,no_guest_guest console=ttyS0 quiet reboot=k panic=1 "
           "rdinit=/process_api -- --firecracker-init --addr 0.0.0.0:2024\n")


def _report(files=CLEAN, status=STATUS_LOCKED, listing=LISTING, cmdline=GRUB, comm="auditd\n"):
    return _info.report(parse_status(status), listing, files, cmdline, comm, "3.0.9", TARGET)


# ------------------------------------------------------------ kernel_cmdline

@pytest.mark.parametrize("text, expected", [
    (GRUB, {"audit": "1", "audit_backlog_limit": "8192"}),
    (PROJECT, {"audit": None, "audit_backlog_limit": None}),
    ("", {"audit": None, "audit_backlog_limit": None}),
    # the handler runs for every occurrence: the last one wins
    ("audit=1 quiet audit=0 audit_backlog_limit=64 audit_backlog_limit=320",
     {"audit": "0", "audit_backlog_limit": "320"}),
    # quotes around the value or the whole parameter are dropped
    ('audit="1" "audit_backlog_limit=8192"', {"audit": "1", "audit_backlog_limit": "8192"}),
    # names compare with - and _ as equal
    ("audit-backlog-limit=320", {"audit": None, "audit_backlog_limit": "320"}),
    # after -- everything belongs to init
    ("audit=1 -- audit=0 audit_backlog_limit=1", {"audit": "1", "audit_backlog_limit": None}),
    # a bare word is no audit= parameter; off is kept as written
    ("audit", {"audit": None, "audit_backlog_limit": None}),
    ("audit=off\taudit_backlog_limit=8192\n", {"audit": "off", "audit_backlog_limit": "8192"}),
])
def test_kernel_cmdline(text, expected):
    assert _info.kernel_cmdline(text) == expected


def test_cmdline_params_quoting_like_next_arg():
    params = _info.cmdline_params('dyndbg="file audit.c +p" "init=/bin/sh -x" a="" =x b="c')
    assert params == {"dyndbg": "file audit.c +p", "init": "/bin/sh -x", "a": "",
                      "=x": None, "b": "c"}


# --------------------------------------------------------------- auditd_state

@pytest.mark.parametrize("status, comm, expected", [
    (STATUS_LOCKED, "auditd\n", {"running": True, "pid": 612}),
    (STATUS_IDLE, None, {"running": False, "pid": None}),
    # another audit consumer holds the socket
    (STATUS_LOCKED, "auditbeat\n", {"running": False, "pid": None}),
    # the registered process is gone
    (STATUS_LOCKED, None, {"running": False, "pid": None}),
])
def test_auditd_state(status, comm, expected):
    assert _info.auditd_state(parse_status(status), comm) == expected


# ------------------------------------------------------------------ boot_lock

def _files(*texts):
    return [("/etc/audit/rules.d/%02d.rules" % (10 * i), t) for i, t in enumerate(texts, 1)]


@pytest.mark.parametrize("texts, expected", [
    ((DEBIAN_BASE,), None),
    ((DEBIAN_BASE, "-w /etc/passwd -p wa\n", "-e 2\n"), 2),
    # the last -e wins, even a weaker one (also reported as e_overridden)
    (("-e 2\n", "-w /etc/passwd -p wa\n", "-e 1\n"), 1),
    # an indented -e 2 is not hoisted: it locks mid-load and the final -e 1 is refused
    (("  -e 2\n-w /etc/passwd -p wa\n", "-e 1\n"), 2),
    # auditctl -R stops at an invalid line and never reaches the -e at the end
    (("-w /etc/passwd -p wa\n-w etc/shadow -p wa\n", "-e 2\n"), None),
    (("-w /etc/passwd -p wa\n", "-w /etc/passwd -p wa\n", "-e 2\n"), None),
    # unless a -c (continue) or -i (ignore) line came first
    (("-c\n-w etc/shadow -p wa\n", "-e 2\n"), 2),
    (("-i\n-w /etc/passwd -p wa\n-w /etc/passwd -p wa\n", "-e 2\n"), 2),
    # a file without final newline glues its -e onto the next file's first line
    (("-e 2", "-w /etc/passwd -p wa\n"), None),
])
def test_boot_lock(texts, expected):
    assert _info.boot_lock(merge(_files(*texts), TARGET)) == expected


# ------------------------------------------------------- persisted_kernel_lines

def test_persisted_lines_in_kernel_order_after_deletions():
    merged = merge(_files(
        "-w /etc/passwd -p wa -k identity\n-a never,exclude -F msgtype=CWD\n",
        # -A prepends in its list; -W removes the rule while the file loads
        "-A always,exit -F arch=b64 -S adjtimex -k t\n-W /etc/passwd -p wa -k identity\n",
        "-w /etc/shadow -p wa -k identity\n-w /etc/shadow -p wa -k identity\n",
    ), TARGET)
    assert [r.line for r in effective_order(_info.persisted_kernel_rules(merged))] == [
        "-a always,exit -F arch=b64 -S adjtimex -F key=t",
        "-w /etc/shadow -p wa -k identity",
        "-a never,exclude -F msgtype=CWD",
    ]


def test_persisted_lines_indented_delete_all_clears_earlier_rules():
    merged = merge(_files("-w /etc/passwd -p wa\n", " -D\n-w /etc/shadow -p wa\n"), TARGET)
    # augenrules does not hoist the indented -D: it deletes what was loaded before it
    assert [r.line for r in _info.persisted_kernel_rules(merged)] == ["-w /etc/shadow -p wa"]


# --------------------------------------------------------------------- report

def test_report_clean_locked_host_in_sync():
    rep = _report()
    assert rep["status"] == dict(parse_status(STATUS_LOCKED), locked=True)
    assert rep["status"]["enabled"] == 2 and rep["status"]["loginuid_immutable_locked"] is True
    assert rep["live_rules"] == LIVE
    assert rep["persisted_rules"] == [
        {"line": LIVE[0], "file": "/etc/audit/rules.d/30-identity.rules", "lineno": 1},
        {"line": LIVE[1], "file": "/etc/audit/rules.d/40-time.rules", "lineno": 1},
        {"line": LIVE[2], "file": "/etc/audit/rules.d/40-time.rules", "lineno": 2},
        {"line": LIVE[3], "file": "/etc/audit/rules.d/50-delete.rules", "lineno": 1},
        {"line": LIVE[4], "file": "/etc/audit/rules.d/50-delete.rules", "lineno": 2},
    ]
    base = "/etc/audit/rules.d/audit.rules"
    assert rep["persisted_controls"] == [
        {"line": "-D", "option": "-D", "value": None, "file": base, "lineno": 2},
        {"line": "-b 8192", "option": "-b", "value": "8192", "file": base, "lineno": 6},
        {"line": "-f 1", "option": "-f", "value": "1", "file": base, "lineno": 12},
        {"line": "--backlog_wait_time 60000", "option": "--backlog_wait_time", "value": "60000",
         "file": base, "lineno": 9},
        {"line": "-e 2", "option": "-e", "value": "2",
         "file": "/etc/audit/rules.d/99-finalize.rules", "lineno": 1},
    ]
    assert rep["boot_lock"] == 2
    assert rep["drift"] == {"missing": [], "extra": [], "out_of_order": [], "in_sync": True}
    assert rep["problems"] == []
    assert rep["auditd"] == {"running": True, "pid": 612}
    assert rep["version"] == "3.0.9"
    assert rep["kernel_cmdline"] == {"audit": "1", "audit_backlog_limit": "8192"}


def test_report_idle_machine_with_one_live_rule():
    rules_d = [("/etc/audit/rules.d/audit.rules", DEBIAN_BASE)]
    rep = _report(rules_d, STATUS_IDLE, "-w /tmp/x -p wa -k immutable_audit_info_test\n", PROJECT, None)
    assert rep["status"]["locked"] is False and rep["status"]["enabled"] == 0
    assert rep["live_rules"] == ["-w /tmp/x -p wa -k immutable_audit_info_test"]
    assert rep["persisted_rules"] == [] and rep["boot_lock"] is None
    assert rep["drift"] == {"missing": [], "extra": ["-w /tmp/x -p wa -k immutable_audit_info_test"],
                            "out_of_order": [], "in_sync": False}
    assert rep["auditd"] == {"running": False, "pid": None}
    assert rep["kernel_cmdline"] == {"audit": None, "audit_backlog_limit": None}


def test_report_no_rules_anywhere():
    rep = _report([], STATUS_IDLE, "No rules\n", "", None)
    assert rep["live_rules"] == [] and rep["persisted_rules"] == [] and rep["persisted_controls"] == []
    assert rep["drift"]["in_sync"] is True and rep["problems"] == [] and rep["boot_lock"] is None


def test_report_drift_missing_extra_out_of_order():
    # the kernel lacks the exclude rule, has a debugging watch nobody
    # persisted, and holds two rules whose order matters the other way round
    d = "/etc/audit/rules.d/"
    first = "-a always,exit -F arch=b64 -S rename,unlink,unlinkat,renameat -F key=first"
    files = CLEAN + ((d + "60-pair.rules", first + "\n" + LIVE[3].replace("-F auid>=1000 -F auid!=-1 ", "")
                      .replace("key=delete", "key=second") + "\n"),)
    second = LIVE[3].replace("-F auid>=1000 -F auid!=-1 ", "").replace("key=delete", "key=second")
    listing = "\n".join([LIVE[1], LIVE[2], LIVE[0], LIVE[3], second, first,
                         "-w /tmp/debug -p wa -k debug"]) + "\n"
    drift = _report(files=files, listing=listing)["drift"]
    assert drift["missing"] == [LIVE[4]]
    assert drift["extra"] == ["-w /tmp/debug -p wa -k debug"]
    # the identity watch listed after the time rules is no drift: a path
    # watch never competes with syscall rules (docs/rule-order.md)
    assert drift["out_of_order"] == [second]
    assert drift["in_sync"] is False


def test_report_problems_exactly_as_merge_reports_them():
    d = "/etc/audit/rules.d/"
    files = [
        (d + "10-base.rules", DEBIAN_BASE + "-e 2\n"),
        # no final newline: the watch is glued to the next file's first line
        (d + "30-identity.rules", "-w /etc/passwd -p wa -k identity\n-w /etc/group -p wa -k identity"),
        (d + "40-time.rules",
         "-a always,exit -F arch=b64 -S adjtimex,settimeofday -k time-change\n"
         "-a always,exit -F arch=b32 -S adjtimex,settimeofday,stime -k time-change\r\n"
         "-w /etc/localtime\t-p wa -k time-change\n"
         "  -e 2\n"
         "-w /etc/passwd -p wa -k identity\n"),
        (d + "99-finalize.rules", "-e 1\n"),
    ]
    rep = _report(files)
    assert rep["problems"] == merge(files, TARGET).problems
    found = [(p["kind"], p["file"], p["lineno"]) for p in rep["problems"]]
    assert found == [
        ("no_final_newline", d + "30-identity.rules", 2),
        ("invalid", d + "30-identity.rules", 2),
        ("invalid", d + "40-time.rules", 2),          # CRLF
        ("invalid", d + "40-time.rules", 3),          # tab
        ("indented_control", d + "40-time.rules", 4),
        ("e_overridden", d + "10-base.rules", 14),
        ("duplicate", d + "40-time.rules", 5),
    ]
    assert rep["problems"][0]["line"] == (
        "-w /etc/group -p wa -k identity-a always,exit -F arch=b64 -S adjtimex,settimeofday -k time-change")
    # the load stops at the glued line, before the indented -e 2 and the final -e 1
    assert rep["boot_lock"] is None
    assert [p["line"] for p in rep["persisted_rules"]] == [LIVE[0], LIVE[0]]
    assert rep["drift"]["missing"] == [] and rep["drift"]["extra"] == LIVE[1:]
