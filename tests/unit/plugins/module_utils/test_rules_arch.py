# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules fitted to the target's own syscall tables (drop_absent_syscalls).

The aarch64 and arm tables are ``ausyscall aarch64 --dump`` and
``ausyscall arm --dump`` as this project's x86_64 machine prints them (the
tables are compiled into libaudit, the machine type does not matter).
"""

import os

import pytest
import yaml

from ansible_collections.immutable.audit.plugins.module_utils import _rules as R

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
NO_COMPAT = "CONFIG_COMPAT is not set in /boot/config-6.1.0-arm64"


def _profile(name):
    with open(os.path.join(ROOT, "roles", "baseline", "vars", "profiles", name + ".yml")) as handle:
        return [r for g in yaml.safe_load(handle)["__baseline_profile_" + name] for r in g["rules"]]


@pytest.fixture(scope="module", name="known_anywhere")
def fixture_known_anywhere(aarch64_tables, syscall_tables):
    """What Auditctl.target() answers: a name in any table ausyscall has (here the four recorded)."""
    names = set()
    for tables in (aarch64_tables, syscall_tables):
        for table in tables.values():
            names.update(table)
    return names.__contains__


@pytest.fixture(scope="module", name="aarch64")
def fixture_aarch64(aarch64_tables, known_anywhere):
    """aarch64 kernel without CONFIG_COMPAT: no b32 table."""
    return R.Target({"b64": aarch64_tables["b64"]}, tables={"b64": "aarch64"}, absent={"b32": NO_COMPAT},
                    known_anywhere=known_anywhere)


@pytest.fixture(scope="module", name="aarch64_compat")
def fixture_aarch64_compat(aarch64_tables, known_anywhere):
    return R.Target(aarch64_tables, tables={"b64": "aarch64", "b32": "arm"}, known_anywhere=known_anywhere)


@pytest.fixture(scope="module", name="x86_64")
def fixture_x86_64(syscall_tables):
    return R.Target(syscall_tables, tables={"b64": "x86_64", "b32": "i386"})


def test_recorded_tables_are_the_aarch64_ones(aarch64_tables):
    b64, arm = aarch64_tables["b64"], aarch64_tables["b32"]
    assert b64["openat"] == 56 and b64["fchownat"] == 54 and b64["io_setup"] == 0
    assert not {"open", "creat", "chown", "lchown", "chmod", "rename", "unlink", "rmdir"} & set(b64)
    assert arm["open"] == 5 and arm["chown"] == 182 and arm["openat"] == 322


def test_nothing_to_drop_returns_the_lines_unchanged(x86_64):
    lines = ["-w /etc/passwd -p wa -k identity", "# comment", "",
             "-a always,exit -F arch=b64 -S open,openat -F key=x", "-a always,exit -S all -F uid=0"]
    assert R.drop_absent_syscalls(lines, x86_64) == (lines, [])


def test_missing_names_are_dropped_numbers_kept(aarch64):
    lines = ["-a always,exit -F arch=b64 -S open -S openat,creat -S 2 -F exit=-EACCES -k access"]
    out, gaps = R.drop_absent_syscalls(lines, aarch64)
    assert out == ["-a always,exit -F arch=b64 -S openat -S 2 -F exit=-EACCES -k access"]
    (gap,) = gaps
    assert (gap.lineno, gap.arch, gap.missing, gap.no_abi) == (1, "b64", ["open", "creat"], False)
    assert gap.kept == out[0] and gap.text == lines[0]
    assert "syscalls open, creat are not in the syscall table of arch b64 (aarch64)" in gap.describe(aarch64)
    assert R.parse_rules(out, aarch64)[0].line == \
        "-a always,exit -F arch=b64 -S io_submit,openat -F exit=-EACCES -F key=access"


def test_rule_with_no_syscall_left_is_left_out(aarch64):
    out, gaps = R.drop_absent_syscalls(["-w /etc/passwd -p wa",
                                        "-a always,exit -S rename,unlink -F key=delete"], aarch64)
    assert out == ["-w /etc/passwd -p wa", ""]
    assert gaps[0].kept is None and gaps[0].arch is None and gaps[0].missing == ["rename", "unlink"]
    assert "b64 (aarch64)" in gaps[0].describe(aarch64)
    assert "no other syscall is left" in gaps[0].describe(aarch64)


def test_b32_without_abi_is_left_out(aarch64):
    lines = ["-a always,exit -F arch=b32 -S openat -F key=x",
             "-a always,exit -F arch=b32 -F path=/usr/bin/su -F perm=x -F key=y",
             "-a always,exit -F arch=arm -S open -F key=z"]
    out, gaps = R.drop_absent_syscalls(lines, aarch64)
    assert out == ["", "", ""]
    assert [(g.arch, g.no_abi, g.missing, g.kept) for g in gaps] == [("b32", True, [], None)] * 3
    assert gaps[0].describe(aarch64) == ("this kernel has no arch b32 ABI (%s), so the rule is left out"
                                         % NO_COMPAT)


def test_b32_with_compat_uses_the_arm_table(aarch64_compat):
    lines = ["-a always,exit -F arch=b32 -S open,chown,query_module,openat -F key=x"]
    out, gaps = R.drop_absent_syscalls(lines, aarch64_compat)
    # arm has open and chown (which aarch64 lacks), but not query_module
    assert out == ["-a always,exit -F arch=b32 -S open,chown,openat -F key=x"]
    assert gaps[0].missing == ["query_module"] and "b32 (arm)" in gaps[0].describe(aarch64_compat)
    assert R.parse_rules(out, aarch64_compat)[0].line == \
        "-a always,exit -F arch=b32 -S open,chown,openat -F key=x"


def test_rule_made_equal_to_another_is_left_out(aarch64):
    lines = ["-a always,exit -F arch=b64 -S unlinkat,renameat -F key=delete",
             "-a always,exit -F arch=b64 -S rename,rmdir,unlink,unlinkat,renameat -F key=delete",
             "-a always,exit -F arch=b64 -S rename,unlinkat,renameat -F key=delete"]
    out, gaps = R.drop_absent_syscalls(lines, aarch64)
    assert out == [lines[0], "", ""]
    assert [(g.duplicate, g.kept) for g in gaps] == [(1, None), (1, None)]
    assert "duplicates rule 1" in gaps[0].describe(aarch64)
    # between two reduced rules, the first stays
    out, gaps = R.drop_absent_syscalls(lines[1:], aarch64)
    assert out == ["-a always,exit -F arch=b64 -S unlinkat,renameat -F key=delete", ""]
    assert gaps[1].duplicate == 1


def test_lines_the_parser_refuses_are_left_to_it(aarch64):
    lines = ["-a always,exit -F arch=b64 -S open\t-k x", "-a always,exclude -S open",
             "-a always,exit -F arch=sparc -S open", "-w /etc -p wa -S open", "-e 2",
             "-a always,exit -F arch=b64 -S all -F key=x"]
    assert R.drop_absent_syscalls(lines, aarch64) == (lines, [])


def test_escaped_values_survive_the_rewrite(aarch64):
    out, _gaps = R.drop_absent_syscalls(["-a always,exit -F arch=b64 -S open,openat -F key=my\\ key"],
                                        aarch64)
    assert out == ["-a always,exit -F arch=b64 -S openat -F key=my\\ key"]
    assert R.parse_rules(out, aarch64)[0].keys == ("my key",)


# --------------------------------------------------------- the CIS profile

CIS_X86_ONLY = {
    # b64 rule (by key and errno) -> the syscalls aarch64 lacks
    "exit=-EACCES -F auid>=1000 -F auid!=-1 -F key=access": ["open", "creat"],
    "exit=-EPERM -F auid>=1000 -F auid!=-1 -F key=access": ["open", "creat"],
    "-S chmod,fchmod,fchmodat": ["chmod"],
    "-S chown,fchown,lchown,fchownat": ["chown", "lchown"],
    "key=delete": ["rename", "unlink"],
    "key=kernel_modules": ["create_module", "query_module"],
}


def _expected_missing(text):
    for part, missing in CIS_X86_ONLY.items():
        if part in text and " -F arch=b64 " in text:
            return missing
    return None


def test_cis_on_aarch64_without_compat(aarch64):
    cis = _profile("cis")
    out, gaps = R.drop_absent_syscalls(cis, aarch64)
    by_line = dict((g.lineno, g) for g in gaps)
    for pos, text in enumerate(cis, 1):
        gap = by_line.get(pos)
        if " -F arch=b32 " in text:
            assert gap.no_abi and gap.kept is None and out[pos - 1] == "", text
        elif _expected_missing(text):
            assert gap.missing == _expected_missing(text), text
            assert gap.kept == out[pos - 1] and gap.kept, text
            assert not set(gap.missing) & set(R.tokenize(gap.kept)[R.tokenize(gap.kept).index("-S") + 1].split(","))
        else:
            # every other rule's syscalls exist on aarch64: kept as written
            assert gap is None and out[pos - 1] == text, text
    rules = R.parse_rules(out, aarch64)
    assert len(rules) == len([t for t in cis if " -F arch=b32 " not in t])
    assert all(r.arch in (None, "b64") for r in rules)


def test_cis_on_aarch64_with_compat_keeps_b32_on_the_arm_table(aarch64_compat):
    cis = _profile("cis")
    out, gaps = R.drop_absent_syscalls(cis, aarch64_compat)
    b32_gaps = [g for g in gaps if g.arch == "b32"]
    # arm has open, creat, chown, stime, ...: only the obsolete module-load names go
    assert [(g.missing, g.kept is not None) for g in b32_gaps] == [
        (["create_module", "query_module"], True)]
    rules = R.parse_rules(out, aarch64_compat)
    assert len(rules) == len(cis)
    assert sum(1 for r in rules if r.arch == "b32") == sum(1 for t in cis if " -F arch=b32 " in t)


def test_cis_and_stig_combined_on_aarch64(aarch64):
    combined = list(dict.fromkeys(_profile("cis") + _profile("stig")))
    out, gaps = R.drop_absent_syscalls(combined, aarch64)
    dups = [g for g in gaps if g.duplicate]
    # STIG's delete rule (with rmdir) reduces to CIS's
    assert len(dups) == 1 and "rmdir" in dups[0].missing
    assert combined[dups[0].duplicate - 1].endswith("key=delete")
    R.parse_rules(out, aarch64)


def test_cis_on_x86_64_is_untouched(x86_64):
    cis = _profile("cis")
    assert R.drop_absent_syscalls(cis, x86_64) == (cis, [])


def test_a_name_no_architecture_has_is_refused_whatever_missing_syscall_says(aarch64, x86_64):
    """A typo is not an absent syscall: it fails on every target instead of being dropped."""
    for target in (aarch64, x86_64):
        with pytest.raises(R.RuleError) as info:
            R.drop_absent_syscalls(["-a always,exit -F arch=b64 -S openat,opne -k access"], target)
        assert "unknown syscall opne: no architecture's syscall table has it" in str(info.value)
        assert info.value.lineno == 1
