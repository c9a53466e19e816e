# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ubuntu 24.04's rules.d/audit.rules (its -D / -b 8192 / --backlog_wait_time
60000 / -f 1 preamble, recorded in tests/unit/data/platforms/ubuntu2404) with
the collection's files beside it: the augenrules view (_files.merge) and
audit_control's planner (_control.plan) keep the preamble, never touch the
distribution's file, and end the load with our -e line."""

import os

from ansible_collections.immutable.audit.plugins.module_utils._auditctl import parse_status
from ansible_collections.immutable.audit.plugins.module_utils._control import FINALIZE_NAME, plan
from ansible_collections.immutable.audit.plugins.module_utils._files import merge, version_key
from ansible_collections.immutable.audit.plugins.module_utils._rules import Control, Target, parse_listing
from ansible_collections.immutable.audit.tests.unit.platforms import load

TARGET = Target({"b64": {"adjtimex": 159, "settimeofday": 164, "clock_settime": 227},
                 "b32": {"adjtimex": 124, "settimeofday": 79, "clock_settime": 264}})
D = "/etc/audit/rules.d"
UBUNTU = D + "/audit.rules"
BASELINE = D + "/50-immutable-baseline.rules"
FINALIZE = D + "/" + FINALIZE_NAME
BASELINE_TEXT = (
    "-w /etc/passwd -p wa -k identity\n"
    "-w /etc/shadow -p wa -k identity\n"
    "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change\n"
    "-a always,exit -F arch=b32 -S adjtimex,settimeofday,clock_settime -k time-change\n"
    "-w /etc/audit/ -p wa -k auditconfig\n")
# as the kernel lists them: syscalls in number order per arch
LISTING = (
    "-w /etc/passwd -p wa -k identity\n"
    "-w /etc/shadow -p wa -k identity\n"
    "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -F key=time-change\n"
    "-a always,exit -F arch=b32 -S settimeofday,adjtimex,clock_settime -F key=time-change\n"
    "-w /etc/audit -p wa -k auditconfig\n")


def rules_d():
    files = load("ubuntu2404")["rules_d"] + [(BASELINE, BASELINE_TEXT)]
    return sorted(files, key=lambda item: version_key(os.path.basename(item[0])))


def test_the_recorded_file_is_the_package_preamble():
    ((path, text),) = load("ubuntu2404")["rules_d"]
    assert path == UBUNTU
    assert [line for line in text.splitlines() if line and not line.startswith("#")] == \
        ["-D", "-b 8192", "--backlog_wait_time 60000", "-f 1"]


def test_finalize_sorts_after_the_distribution_file_and_ours():
    names = [os.path.basename(p) for p in (UBUNTU, BASELINE, FINALIZE)]
    assert sorted(names, key=version_key)[-1] == FINALIZE_NAME


def test_lock_plan_keeps_the_preamble_and_ends_with_e():
    status = parse_status(load("ubuntu2404")["auditctl_s"])
    files = rules_d()
    p = plan(dict(enabled=2), files, FINALIZE, D, TARGET, status=status,
             live_rules=parse_listing(LISTING, TARGET))
    # only our finalize file is written; the distribution's file is left as it is
    assert p.file_changed and p.current_text is None
    assert p.content.splitlines()[-1] == "-e 2"
    assert [line for line in p.content.splitlines() if not line.startswith("#")] == ["-e 2"]
    assert p.live[-1] == ["-e", "2"]
    assert not p.pending and not any(p.drift.values())

    merged = merge(files + [(FINALIZE, p.content)], TARGET)
    assert merged.problems == []
    assert [m.text for m in merged.lines[:3]] == ["-D", "-b 8192", "-f 1"]
    assert merged.control("-b") == "8192" and merged.control("-f") == "1"
    assert merged.control("--backlog_wait_time") == "60000"
    last = merged.lines[-1]
    assert (last.text, last.source) == ("-e 2", FINALIZE)
    assert isinstance(last.entry, Control)
    assert len(merged.rules) == 5
    # every line of the distribution's file is still loaded from it
    assert {m.text for m in merged.lines if m.source == UBUNTU} == \
        {"-D", "-b 8192", "--backlog_wait_time 60000", "-f 1"}


def test_persisting_the_same_backlog_and_failure_changes_nothing_at_boot():
    status = parse_status(load("ubuntu2404")["auditctl_s"])
    files = rules_d()
    p = plan(dict(enabled=2, backlog_limit=8192, failure=1), files, FINALIZE, D, TARGET, status=status,
             live_rules=parse_listing(LISTING, TARGET))
    merged = merge(files + [(FINALIZE, p.content)], TARGET)
    assert merged.problems == []
    assert merged.control("-b") == "8192" and merged.control("-f") == "1"
    assert merged.lines[-1].text == "-e 2"
    # the kernel already runs -b 8192 and -f 1: only the lock runs live
    assert p.live == [["-e", "2"]]
