# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The baseline role on x86_64 and aarch64: which hosts it accepts, when it
keeps the b32 rules, and that missing_syscall reaches audit_rules.

The role's own expressions (vars/main.yml, the assert of tasks/rules.yml) are
rendered with Ansible's templar on the facts of each kind of host.
"""

import os

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(ROOT, "roles", "baseline")


def _yaml(*parts):
    with open(os.path.join(ROLE, *parts)) as handle:
        return yaml.safe_load(handle)


def _render(expr, architecture, cmdline=None, **overrides):
    variables = dict(_yaml("defaults", "main.yml"))
    variables.update(_yaml("vars", "main.yml"))
    variables.update(overrides)
    variables["ansible_facts"] = {"architecture": architecture, "cmdline": cmdline or {}}
    return Templar(loader=DataLoader(), variables=variables).template(expr)


def _arch_check():
    tasks = _yaml("tasks", "rules.yml")
    (check,) = [t for t in tasks if "ansible.builtin.assert" in t]
    return check["ansible.builtin.assert"]["that"][0]


@pytest.mark.parametrize("architecture, accepted", [
    ("x86_64", True), ("aarch64", True), ("ppc64le", False), ("s390x", False), ("armv7l", False)])
def test_architectures(architecture, accepted):
    assert _render("{{ %s }}" % _arch_check(), architecture) is accepted
    # without profiles any host is fine
    assert _render("{{ %s }}" % _arch_check(), architecture, baseline_profiles=[]) is True


@pytest.mark.parametrize("architecture, cmdline, b32, kept", [
    # x86_64 as before: kept unless ia32_emulation=0
    ("x86_64", {}, "auto", True),
    ("x86_64", {"ia32_emulation": "0"}, "auto", False),
    ("x86_64", {"ia32_emulation": "0"}, True, True),
    ("x86_64", {}, False, False),
    # aarch64: kept, audit_rules leaves them out where the kernel lacks CONFIG_COMPAT
    ("aarch64", {}, "auto", True),
    ("aarch64", {}, False, False),
    ("ppc64le", {}, "auto", False),
])
def test_keep_b32(architecture, cmdline, b32, kept):
    assert _render("{{ __baseline_keep_b32 | bool }}", architecture, cmdline, baseline_b32=b32) is kept


def test_missing_syscall_is_passed_to_audit_rules():
    tasks = _yaml("tasks", "main.yml")
    (apply,) = [t for t in tasks if "immutable.audit.audit_rules" in t]
    assert apply["immutable.audit.audit_rules"]["missing_syscall"] == "{{ baseline_missing_syscall }}"
    assert _yaml("defaults", "main.yml")["baseline_missing_syscall"] == "skip"
    spec = _yaml("meta", "argument_specs.yml")["argument_specs"]["main"]["options"]["baseline_missing_syscall"]
    assert spec["default"] == "skip" and spec["choices"] == ["skip", "fail"]
