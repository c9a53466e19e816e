# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock-mode planner on recorded `auditctl -s` output, without I/O."""

import pytest

from ansible_collections.immutable.audit.plugins.module_utils._auditctl import parse_status
from ansible_collections.immutable.audit.plugins.module_utils._control import (
    FINALIZE_NAME, ControlError, plan, render, status_text, unmet, validate,
)
from ansible_collections.immutable.audit.plugins.module_utils._files import merge, version_key
from ansible_collections.immutable.audit.plugins.module_utils._rules import Target, parse_listing

TARGET = Target({"b64": {"open": 2, "adjtimex": 159, "settimeofday": 164}, "b32": {"adjtimex": 124}})
D = "/etc/audit/rules.d"
F = D + "/" + FINALIZE_NAME
BASE = D + "/10-base.rules"
RULES = "-w /etc/passwd -p wa -k identity\n-a always,exit -F arch=b64 -S adjtimex -k time\n"
LISTING = "-w /etc/passwd -p wa -k identity\n-a always,exit -F arch=b64 -S adjtimex -F key=time\n"
# `auditctl -s` as Debian 12 prints it (HZ=250: the default wait is 60 * HZ).
STATUS = """enabled 1
failure 1
pid 612
rate_limit 0
backlog_limit 64
lost 0
backlog 0
backlog_wait_time 15000
backlog_wait_time_actual 0
loginuid_immutable 0 unlocked
"""


def status(**changes):
    st = parse_status(STATUS)
    st.update(changes)
    return st


def run(wanted, files=None, st=None, listing=LISTING, **kw):
    files = [(BASE, RULES)] if files is None else files
    return plan(wanted, files, F, D, TARGET, status=status() if st is None else st,
                live_rules=parse_listing(listing, TARGET), **kw)


def body(text):
    return [line for line in text.splitlines() if not line.startswith("#")]


# ------------------------------------------------------------ values


@pytest.mark.parametrize("wanted", [
    dict(enabled=3), dict(failure=-1), dict(backlog_limit=2 ** 32), dict(rate_limit=-5),
    dict(backlog_wait_time=600001), dict(enabled=True), dict(backlog_limit="8192"),
    dict(loginuid_immutable=1),
])
def test_validate_refuses_out_of_range(wanted):
    with pytest.raises(ControlError) as info:
        validate(wanted)
    assert list(wanted)[0] in str(info.value)


def test_validate_keeps_only_managed_settings():
    assert validate(dict(enabled=2, failure=None, backlog_wait_time=0, loginuid_immutable=False)) == dict(
        enabled=2, backlog_wait_time=0, loginuid_immutable=False)


def test_default_name_sorts_after_the_files_distributions_ship():
    # Debian and RHEL ship rules.d/audit.rules, which sorts after every 99-*
    # name under ls -v; the audit examples use 99-finalize.rules.
    for name in ("audit.rules", "99-finalize.rules", "99-zz-last.rules", "zz-hardening.rules"):
        assert version_key(name) < version_key(FINALIZE_NAME), name


# ------------------------------------------------------- unlocked kernel


def test_lock_runs_every_change_with_e_last():
    p = run(dict(enabled=2, failure=2, backlog_limit=8192, rate_limit=100, backlog_wait_time=60000,
                 loginuid_immutable=True))
    assert p.live == [["-b", "8192"], ["-f", "2"], ["-r", "100"], ["--backlog_wait_time", "60000"],
                      ["--loginuid-immutable"], ["-e", "2"]]
    assert body(p.content) == ["-b 8192", "-f 2", "-r 100", "--backlog_wait_time 60000",
                               "--loginuid-immutable", "-e 2"]
    assert p.file_changed and not p.pending and not p.reboot_required
    assert p.expected == dict(enabled=2, failure=2, backlog_limit=8192, rate_limit=100,
                              backlog_wait_time=60000, loginuid_immutable=1, loginuid_immutable_locked=True)
    assert p.drift == dict(missing=[], extra=[], out_of_order=[])


def test_augenrules_view_of_the_result_ends_with_our_e():
    p = run(dict(enabled=2, failure=2, backlog_limit=8192, rate_limit=100))
    merged = merge([(BASE, RULES), (F, p.content)], TARGET)
    assert [m.text for m in merged.lines] == [
        "-b 8192", "-f 2", "-w /etc/passwd -p wa -k identity",
        "-a always,exit -F arch=b64 -S adjtimex -k time", "-r 100", "-e 2"]
    assert merged.lines[-1].source == F and not merged.problems


def test_only_what_differs_runs():
    p = run(dict(enabled=1, failure=2, backlog_limit=64))
    assert p.live == [["-f", "2"]]
    assert p.drift is None            # no lock, so the rules are not compared


def test_unchanged_when_kernel_and_file_match():
    wanted = dict(enabled=2, failure=2, backlog_limit=8192, loginuid_immutable=True)
    current = render(validate(wanted))
    p = run(wanted, files=[(BASE, RULES), (F, current)],
            st=status(enabled=2, failure=2, backlog_limit=8192, loginuid_immutable=1,
                      loginuid_immutable_locked=True))
    assert (p.live, p.file_changed, p.pending, p.expected) == ([], False, {}, {})
    assert p.content == current


def test_settings_not_given_stay_in_the_file():
    current = render(dict(enabled=2, backlog_limit=8192))
    p = run(dict(failure=2), files=[(BASE, RULES), (F, current)])
    assert body(p.content) == ["-b 8192", "-f 2", "-e 2"]
    assert p.live == [["-f", "2"]]


def test_nothing_managed_writes_nothing():
    p = run({})
    assert (p.content, p.file_changed, p.live) == (None, False, [])


def test_loginuid_false_removes_the_line_and_the_file_when_empty():
    current = render(dict(loginuid_immutable=True))
    p = run(dict(loginuid_immutable=False), files=[(BASE, RULES), (F, current)])
    assert p.content is None and p.file_changed
    assert p.live == [] and not p.pending


def test_loginuid_set_cannot_be_cleared_live():
    p = run(dict(loginuid_immutable=False), st=status(loginuid_immutable=1, loginuid_immutable_locked=True))
    assert p.live == []
    assert p.pending == dict(loginuid_immutable=dict(current=True, wanted=False, after_reboot=False))
    assert p.reboot_required and not p.warnings


def test_loginuid_set_but_unlocked_is_locked():
    p = run(dict(loginuid_immutable=True), st=status(loginuid_immutable=1, loginuid_immutable_locked=False))
    assert p.live == [["--loginuid-immutable"]]


def test_setting_the_kernel_does_not_report_is_refused_live_only():
    st = status()
    del st["backlog_wait_time"]
    with pytest.raises(ControlError, match="does not report backlog_wait_time.*live=false"):
        run(dict(backlog_wait_time=60000), st=st)
    p = run(dict(backlog_wait_time=60000), st=st, live=False)
    assert body(p.content) == ["--backlog_wait_time 60000"] and p.live == []


def test_image_build_mode_writes_only_the_file():
    # No status and no listing exist in an image build: none is read.
    p = plan(dict(enabled=2), [(BASE, RULES)], F, D, TARGET, live=False)
    assert body(p.content) == ["-e 2"] and p.live == [] and p.drift is None


def test_live_only_leaves_the_file_alone():
    current = render(dict(enabled=1))
    p = run(dict(failure=2), files=[(BASE, RULES), (F, current)], persist=False)
    assert p.content == current and not p.file_changed and p.live == [["-f", "2"]]


def test_neither_persist_nor_live_is_refused():
    with pytest.raises(ControlError, match="nothing would be managed"):
        run(dict(enabled=2), persist=False, live=False)


@pytest.mark.parametrize("path", ["/etc/audit/audit.rules", D + "/zz.conf", D + "/sub/zz.rules"])
def test_path_must_be_a_rules_file_in_rules_dir(path):
    with pytest.raises(ControlError, match="augenrules reads no other file"):
        plan(dict(enabled=2), [], path, D, TARGET, live=False)


# --------------------------------------------------------- locked kernel


def test_locked_kernel_stages_the_file_and_reports_pending():
    p = run(dict(enabled=2, backlog_limit=8192, failure=2), st=status(enabled=2))
    assert p.live == []
    assert body(p.content) == ["-b 8192", "-f 2", "-e 2"]
    assert p.pending == dict(backlog_limit=dict(current=64, wanted=8192, after_reboot=8192),
                             failure=dict(current=1, wanted=2, after_reboot=2))
    assert p.reboot_required and p.file_changed and not p.warnings


def test_locked_kernel_still_takes_loginuid_immutable():
    p = run(dict(enabled=2, loginuid_immutable=True), st=status(enabled=2))
    assert p.live == [["--loginuid-immutable"]] and not p.pending


def test_locked_kernel_unchanged_when_it_runs_what_is_wanted():
    current = render(dict(enabled=2, failure=1))
    p = run(dict(enabled=2, failure=1), files=[(BASE, RULES), (F, current)], st=status(enabled=2),
            listing="-w /etc/shadow -p wa\n")      # drift does not matter any more
    assert (p.live, p.pending, p.file_changed, p.drift) == ([], {}, False, None)


def test_locked_kernel_strict_fails_with_the_pending_changes():
    with pytest.raises(ControlError) as info:
        run(dict(enabled=2, backlog_limit=8192), st=status(enabled=2), strict=True)
    # strict writes nothing, so the boot loads what is on disk: no -b at all
    assert "backlog_limit (now 64, wanted 8192, after reboot the kernel default (no rules file sets it))" in str(info.value)
    assert info.value.details["pending"] == dict(backlog_limit=dict(current=64, wanted=8192, after_reboot=None))


def test_locked_kernel_strict_reports_the_value_already_staged_on_disk():
    # Found on a real locked guest: 16384 staged earlier, 4096 live, strict asks 2048.
    staged = "-b 16384\n-e 2\n"
    with pytest.raises(ControlError) as info:
        run(dict(backlog_limit=2048), files=[(BASE, RULES), (F, staged)],
            st=status(enabled=2, backlog_limit=4096), strict=True)
    assert info.value.details["pending"] == dict(backlog_limit=dict(current=4096, wanted=2048, after_reboot=16384))
    assert info.value.details["reboot_required"] is True


def test_locked_kernel_unlock_is_pending():
    p = run(dict(enabled=1), st=status(enabled=2))
    assert p.pending == dict(enabled=dict(current=2, wanted=1, after_reboot=1)) and p.live == []


def test_locked_kernel_without_persist_warns_what_a_reboot_brings():
    p = run(dict(backlog_limit=8192), st=status(enabled=2), persist=False,
            files=[(BASE, "-b 320\n" + RULES)])
    assert p.pending == dict(backlog_limit=dict(current=64, wanted=8192, after_reboot=320))
    assert "after a reboot it would be 320, not 8192" in p.warnings[0]


# ------------------------------------------------------- lock and drift


def test_lock_refused_while_rules_drift():
    listing = "-a always,exit -F arch=b64 -S adjtimex -F key=time\n-w /etc/shadow -p wa\n"
    with pytest.raises(ControlError) as info:
        run(dict(enabled=2), listing=listing)
    msg = str(info.value)
    assert "refusing to lock" in msg and "immutable.audit.audit_rules" in msg and "force_lock" in msg
    assert "1 missing in the kernel: -w /etc/passwd -p wa -k identity" in msg
    assert "1 only in the kernel: -w /etc/shadow -p wa" in msg
    assert info.value.details["drift"]["missing"] == ["-w /etc/passwd -p wa -k identity"]


def test_lock_refused_when_rules_are_out_of_order():
    # Two exit rules for the same syscall: the first that matches decides
    # the key, so their order matters.
    rules = "-a always,exit -F arch=b64 -S adjtimex -F key=a\n-a always,exit -F arch=b64 -S adjtimex -F key=b\n"
    listing = "\n".join(reversed(rules.splitlines())) + "\n"
    with pytest.raises(ControlError, match="1 out of order"):
        run(dict(enabled=2), files=[(BASE, rules)], listing=listing)


def test_order_that_cannot_matter_is_no_reason_to_refuse_the_lock():
    # A path watch lives in the kernel's inode hash: its order relative to a
    # syscall rule changes nothing (docs/rule-order.md).
    listing = "\n".join(reversed(LISTING.splitlines())) + "\n"
    assert run(dict(enabled=2), listing=listing).live == [["-e", "2"]]


def test_force_lock_locks_anyway_and_warns():
    p = run(dict(enabled=2), listing="No rules\n", force_lock=True)
    assert p.live == [["-e", "2"]]
    assert p.drift["missing"] and "force_lock" in p.warnings[0]


def test_drift_does_not_matter_without_a_live_lock():
    assert run(dict(enabled=1), listing="No rules\n").live == []
    assert run(dict(enabled=2), listing="No rules\n", live=False).live == []


# ------------------------------------------- other rules files that override


def test_file_sorting_after_the_finalize_file_is_refused():
    late = D + "/zz-local.rules"
    with pytest.raises(ControlError) as info:
        run(dict(enabled=2), files=[(BASE, RULES), (late, "-e 1\n")])
    assert late in str(info.value) and "sorts after the finalize file" in str(info.value)


def test_later_file_refused_even_when_only_backlog_is_persisted():
    with pytest.raises(ControlError, match="zz-local.rules sorts after"):
        run(dict(backlog_limit=8192), files=[(BASE, RULES), (D + "/zz-local.rules", "-b 320\n")])


def test_earlier_e_is_dropped_by_augenrules_so_ours_wins():
    p = run(dict(enabled=2), files=[(BASE, RULES), (D + "/99-finalize.rules", "-e 1\n")])
    assert body(p.content) == ["-e 2"] and p.live == [["-e", "2"]]


def test_indented_e_in_another_file_is_refused():
    with pytest.raises(ControlError) as info:
        run(dict(enabled=2), files=[(BASE, RULES + "  -e 2\n" + "-w /etc/group -p wa\n")])
    msg = str(info.value)
    assert msg.startswith("%s:3: '  -e 2' changes the audit state before the finalize file's '-e 2'" % BASE)
    assert "indented" in msg


def test_indented_backlog_overrides_ours():
    with pytest.raises(ControlError, match="10-base.rules:1: ' -b 320' overrides the finalize file's '-b 8192'"):
        run(dict(backlog_limit=8192), files=[(BASE, " -b 320\n" + RULES)])


def test_indented_backlog_with_our_value_is_harmless():
    p = run(dict(backlog_limit=8192), files=[(BASE, " -b 8192\n" + RULES)])
    assert body(p.content) == ["-b 8192"]


def test_loginuid_false_refused_while_another_file_sets_it():
    with pytest.raises(ControlError, match="10-base.rules:3: '--loginuid-immutable' makes loginuid immutable"):
        run(dict(loginuid_immutable=False), files=[(BASE, RULES + "--loginuid-immutable\n")])


def test_invalid_line_before_ours_stops_the_load_so_lock_is_refused():
    bad = RULES + "-a always,exit -S nosuchcall\n"
    with pytest.raises(ControlError) as info:
        run(dict(enabled=2), files=[(BASE, bad)], force_lock=True)
    assert str(info.value).startswith(BASE + ":3: syscall 'nosuchcall'")
    assert "the -e line" in str(info.value)


def test_invalid_line_does_not_matter_for_hoisted_settings_or_after_c():
    bad = RULES + "-a always,exit -S nosuchcall\n"
    assert body(run(dict(backlog_limit=8192), files=[(BASE, bad)]).content) == ["-b 8192"]
    p = run(dict(enabled=2), files=[(BASE, "-c\n" + bad)], force_lock=True)
    assert p.live == [["-e", "2"]]


def test_foreign_lines_in_the_finalize_file_are_refused():
    with pytest.raises(ControlError, match="does not belong in the finalize file.*audit_rules"):
        run(dict(enabled=2), files=[(BASE, RULES), (F, "-e 2\n-w /etc/shadow -p wa\n")])
    with pytest.raises(ControlError, match="finalize file"):
        run(dict(enabled=2), files=[(BASE, RULES), (F, "-D\n-e 2\n")])
    with pytest.raises(ControlError, match=":1: .*-e must be 0, 1 or 2.*holds only the control lines"):
        run(dict(enabled=2), files=[(BASE, RULES), (F, "-e 3\n")])


def test_hand_edited_finalize_file_is_normalised():
    p = run(dict(failure=2), files=[(BASE, RULES), (F, "-e 2\n   -b 320\n-e 1\n")])
    assert body(p.content) == ["-b 320", "-f 2", "-e 1"] and p.file_changed


# ----------------------------------------------------- helpers for the module


def test_unmet_names_what_the_kernel_did_not_take():
    p = run(dict(enabled=2, backlog_limit=8192))
    assert unmet(p, status(enabled=2, backlog_limit=8192)) == []
    assert unmet(p, status()) == ["backlog_limit is 64, not 8192", "enabled is 1, not 2"]


def test_status_text_shows_the_managed_settings():
    text = status_text(status(), dict(enabled=2, loginuid_immutable=True))
    assert text == "loginuid_immutable 0 unlocked\nenabled 1\n"
