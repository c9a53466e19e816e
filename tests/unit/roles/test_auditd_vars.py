# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which vars file the auditd role includes for each platform family.

The role's include task is rendered with Ansible's own templating and the
real ansible.builtin.first_found lookup, over the role's vars/main.yml, for
the facts of the min subset (what the role gathers) of each family; the file
chosen and its values are checked, and for the recorded platforms
(tests/unit/data/platforms) against the recorded units."""

import os

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import lookup_loader
from ansible.template import Templar

from ansible_collections.immutable.audit.tests.unit.platforms import NAMES, load

ROLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                    "roles", "auditd")


def _yaml(*parts):
    with open(os.path.join(ROLE, *parts)) as handle:
        return yaml.safe_load(handle)


def _include_task():
    (task,) = [t for t in _yaml("tasks", "main.yml") if "ansible.builtin.include_vars" in t]
    return task


def chosen(facts, plugins=False):
    """-> (file name, the family vars, the rendered __auditd_packages)."""
    variables = dict(_yaml("vars", "main.yml"), ansible_facts=facts, role_path=ROLE, auditd_plugins=plugins)
    loader = DataLoader()
    templar = Templar(loader=loader, variables=variables)
    # the task's expression, evaluated with the real lookup plugin (by its
    # short name: the plugin loader here has no collection finder for the FQCN)
    assert _include_task()["ansible.builtin.include_vars"]["file"] == \
        "{{ lookup('ansible.builtin.first_found', __auditd_vars_files) }}"
    terms = templar.template(variables["__auditd_vars_files"])
    (path,) = lookup_loader.get("first_found", loader=loader, templar=templar).run([terms], variables)
    family = _yaml("vars", os.path.basename(path))
    assert os.path.dirname(path) == os.path.join(ROLE, "vars")
    variables.update(family)
    templar = Templar(loader=DataLoader(), variables=variables)
    return os.path.basename(path), family, templar.template(variables["__auditd_packages"])


def facts(distribution, major, os_family):
    return dict(distribution=distribution, distribution_major_version=major, os_family=os_family)


def test_include_comes_right_after_the_facts_of_the_min_subset():
    tasks = _yaml("tasks", "main.yml")
    assert tasks[0]["ansible.builtin.setup"] == {"gather_subset": ["min"]}
    assert tasks[1] is not None and "ansible.builtin.include_vars" in tasks[1]


@pytest.mark.parametrize("name", NAMES)
def test_recorded_platform_gets_its_file(name):
    platform = load(name)
    expected = platform["expected"]
    filename, family, packages = chosen(platform["facts"])
    assert filename == expected["vars_file"]
    assert family["__auditd_family_packages"] == expected["packages"] == packages
    assert family["__auditd_plugin_packages"] == expected["plugin_packages"]
    assert family["__auditd_rules_service"] == expected["rules_service"]
    # the unit the family ships, as systemctl show printed it
    assert ("RefuseManualStop=yes" in platform["systemctl_show"]) is family["__auditd_refuse_manual_stop"]
    loads_on_start = "argv[]=/sbin/augenrules --load" in platform["systemctl_show"]
    assert loads_on_start is (family["__auditd_rules_service"] == "auditd.service")
    assert platform["commands"]["auditctl"] == family["__auditd_sbin_dir"] + "/auditctl"


@pytest.mark.parametrize("host, filename, packages, rules_service", [
    (facts("RedHat", "8", "RedHat"), "RedHat.yml", ["audit"], "auditd.service"),
    (facts("Rocky", "9", "RedHat"), "RedHat.yml", ["audit"], "auditd.service"),
    (facts("AlmaLinux", "8", "RedHat"), "RedHat.yml", ["audit"], "auditd.service"),
    (facts("OracleLinux", "9", "RedHat"), "RedHat.yml", ["audit"], "auditd.service"),
    (facts("Rocky", "10", "RedHat"), "RedHat_10.yml", ["audit"], "audit-rules.service"),
    (facts("CentOS", "10", "RedHat"), "RedHat_10.yml", ["audit"], "audit-rules.service"),
    (facts("Fedora", "41", "RedHat"), "Fedora.yml", ["audit"], "audit-rules.service"),
    (facts("Ubuntu", "22", "Debian"), "Ubuntu.yml", ["auditd"], "auditd.service"),
    (facts("Debian", "12", "Debian"), "Debian.yml", ["auditd"], "auditd.service"),
    (facts("Archlinux", "NA", "Archlinux"), "default.yml", ["audit"], "auditd.service"),
])
def test_family_file(host, filename, packages, rules_service):
    name, family, rendered = chosen(host)
    assert (name, rendered, family["__auditd_rules_service"]) == (filename, packages, rules_service)


def test_plugins_add_the_plugin_package():
    assert chosen(facts("Ubuntu", "24", "Debian"), plugins=True)[2] == ["auditd", "audispd-plugins"]
    assert chosen(facts("RedHat", "9", "RedHat"), plugins=True)[2] == ["audit", "audispd-plugins"]


def test_every_family_file_sets_the_same_variables():
    names = sorted(n for n in os.listdir(os.path.join(ROLE, "vars")) if n != "main.yml" and n.endswith(".yml"))
    keys = [sorted(_yaml("vars", n)) for n in names]
    assert all(k == keys[0] for k in keys), dict(zip(names, keys))
    assert all(k.startswith("__auditd_") for k in keys[0])
