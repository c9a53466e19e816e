# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recorded platforms of tests/unit/data/platforms (see its README.md)."""

import os

import yaml

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "platforms")
NAMES = ("rhel9", "rhel10", "ubuntu2404", "debian12")


def _read(path):
    with open(path) as handle:
        return handle.read()


def load(name):
    """platform.yml of ``name`` plus the recorded outputs: auditctl_v,
    auditctl_s, systemctl_show (text) and rules_d ([(path, text)] as
    /etc/audit/rules.d, empty when nothing was recorded)."""
    directory = os.path.join(DATA, name)
    platform = yaml.safe_load(_read(os.path.join(directory, "platform.yml")))
    platform["name"] = name
    for key, filename in (("auditctl_v", "auditctl-v.txt"), ("auditctl_s", "auditctl-s.txt"),
                          ("systemctl_show", "systemctl-show.txt")):
        platform[key] = _read(os.path.join(directory, filename))
    rules_d = os.path.join(directory, "rules.d")
    names = sorted(os.listdir(rules_d)) if os.path.isdir(rules_d) else []
    platform["rules_d"] = [("/etc/audit/rules.d/" + n, _read(os.path.join(rules_d, n))) for n in names]
    return platform
