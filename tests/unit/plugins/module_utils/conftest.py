# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the rule engine units: a Target built from recorded tables.

tests/unit/data holds what this project's Debian 12 machine printed for
``ausyscall x86_64 --dump``, ``ausyscall i386 --dump`` and ``auditctl -s``,
so the units need no root, no kernel and no subprocess.
"""

import os

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _rules

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "data")

USERS = {"root": 0, "daemon": 1, "bin": 2, "nobody": 65534}
GROUPS = {"root": 0, "daemon": 1, "bin": 2, "sys": 3, "adm": 4, "shadow": 42, "nogroup": 65534}
DIRS = frozenset(("/", "/etc", "/etc/audit", "/etc/ssh", "/etc/sudoers.d", "/usr", "/usr/bin",
                  "/var", "/var/log", "/var/log/audit"))


def data_path(name):
    return os.path.join(DATA, name)


def read_data(name):
    with open(data_path(name)) as handle:
        return handle.read()


def load_syscalls(name):
    """{name: number} from a recorded ``ausyscall ARCH --dump`` (header line skipped)."""
    table = {}
    for line in read_data(name).splitlines():
        num, sep, call = line.partition("\t")
        if sep and num.isdigit():
            table[call] = int(num)
    return table


@pytest.fixture(scope="session")
def syscall_tables():
    return {"b64": load_syscalls("syscalls_x86_64.tsv"), "b32": load_syscalls("syscalls_i386.tsv")}


@pytest.fixture(scope="session")
def aarch64_tables():
    """``ausyscall aarch64 --dump`` (b64) and ``ausyscall arm --dump`` (b32), recorded here too
    (the tables are compiled into libaudit whatever the machine)."""
    return {"b64": load_syscalls("syscalls_aarch64.tsv"), "b32": load_syscalls("syscalls_arm.tsv")}


@pytest.fixture(scope="session")
def target(syscall_tables):
    """x86_64 host: native b64, fake users and groups, a fixed set of directories."""
    return _rules.Target(syscall_tables, native="b64", user=USERS.get, group=GROUPS.get,
                         is_dir=lambda path: path in DIRS)
