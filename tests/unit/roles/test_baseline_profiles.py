# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The baseline role's rule profiles are canonical, well-formed data.

Profiles combine by text (the role de-duplicates with ``unique``), which only
works when every rule is written exactly as ``auditctl -l`` lists it. The
Target is built from the recorded x86_64 and i386 tables in tests/unit/data,
as in tests/unit/plugins/module_utils/conftest.py.
"""

import glob
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.immutable.audit.plugins.module_utils import _rules

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DATA = os.path.join(ROOT, "tests", "unit", "data")
PROFILES_DIR = os.path.join(ROOT, "roles", "baseline", "vars", "profiles")
NAMES = ("cis", "stig", "ospp", "pci_dss")
# roles/baseline/vars/main.yml builds the privileged-command rules with this template.
PRIVILEGED = ("-a always,exit -S all -F path=%s -F perm=x -F auid>=1000 -F auid!=-1 "
              "-F key=privileged")


def _table(name):
    table = {}
    with open(os.path.join(DATA, name)) as handle:
        for line in handle.read().splitlines():
            num, sep, call = line.partition("\t")
            if sep and num.isdigit():
                table[call] = int(num)
    return table


@pytest.fixture(scope="module", name="target")
def fixture_target():
    return _rules.Target({"b64": _table("syscalls_x86_64.tsv"), "b32": _table("syscalls_i386.tsv")},
                         native="b64")


def _load(name):
    with open(os.path.join(PROFILES_DIR, name + ".yml")) as handle:
        data = yaml.safe_load(handle)
    assert list(data) == ["__baseline_profile_" + name]
    return data["__baseline_profile_" + name]


@pytest.fixture(scope="module", name="profiles")
def fixture_profiles():
    return dict((name, _load(name)) for name in NAMES)


def test_every_profile_file_is_known():
    files = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(PROFILES_DIR, "*.yml")))
    assert files == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_rules_are_canonical(name, profiles, target):
    for group in profiles[name]:
        for text in group["rules"]:
            rule = _rules.parse_line(text, target)
            assert isinstance(rule, _rules.Rule), text
            assert rule.line == text, "%s: write %r as %r" % (group["id"], text, rule.line)


@pytest.mark.parametrize("name", NAMES)
def test_groups_are_well_formed(name, profiles):
    ids = [g["id"] for g in profiles[name]]
    assert len(ids) == len(set(ids))
    for group in profiles[name]:
        assert set(group) <= {"id", "title", "controls", "rules", "privileged"}, group["id"]
        assert group["title"] and isinstance(group["title"], str)
        assert group["controls"] and all(isinstance(c, str) and c for c in group["controls"]), group["id"]
        assert group["rules"] or group.get("privileged"), group["id"]
        assert len(group["rules"]) == len(set(group["rules"])), group["id"]


@pytest.mark.parametrize("name", NAMES)
def test_profile_is_a_valid_rule_set(name, profiles, target):
    rules = [r for g in profiles[name] for r in g["rules"]]
    assert len(_rules.parse_rules(rules, target)) == len(rules)


@pytest.mark.parametrize("name", NAMES)
def test_b32_rules_have_b64_twins(name, profiles):
    for group in profiles[name]:
        b32 = [r for r in group["rules"] if " -F arch=b32 " in r]
        b64 = [r for r in group["rules"] if " -F arch=b64 " in r]
        assert len(b32) == len(b64), group["id"]


def test_all_profiles_combined_and_deduplicated_are_accepted(profiles, target):
    combined = [r for name in NAMES for g in profiles[name] for r in g["rules"]]
    unique = list(dict.fromkeys(combined))
    assert len(unique) < len(combined)  # the profiles do share rules
    assert [r.line for r in _rules.parse_rules(unique, target)] == unique
    without_b32 = [r for r in unique if " -F arch=b32 " not in r]
    b64_only = _rules.Target({"b64": target.syscalls["b64"]}, native="b64")
    assert len(_rules.parse_rules(without_b32, b64_only)) == len(without_b32)


def test_absent_syscalls_are_refused(target):
    """The test would catch a syscall the x86_64 table lacks (stime is i386 only)."""
    with pytest.raises(_rules.RuleError, match="stime"):
        _rules.parse_line("-a always,exit -F arch=b64 -S stime -F key=time-change", target)


@pytest.mark.parametrize("path", ["/usr/bin/sudo", "/usr/lib/openssh/ssh-keysign",
                                  "/usr/lib/dbus-1.0/dbus-daemon-launch-helper"])
def test_privileged_rule_template_is_canonical(path, target):
    text = PRIVILEGED % path
    assert _rules.parse_line(text, target).line == text
    with open(os.path.join(ROOT, "roles", "baseline", "vars", "main.yml")) as handle:
        assert (PRIVILEGED % "\\1") in handle.read()


def test_controls_doc_is_up_to_date():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen_controls_doc.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
