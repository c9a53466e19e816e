# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that runs auditctl and ausyscall.

Every command goes through the ``run_command`` callable the module hands in
(``AnsibleModule.run_command``), with an argument list, no shell, no user or
variable expansion and LANG=C, so tests can replace it with a recording.
auditctl exits 0 for changes the kernel refused (AUDIT-SEMANTICS section 6):
callers must re-list the rules after applying and trust only the listing.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import tempfile

from ansible_collections.immutable.audit.plugins.module_utils._rules import (
    Target, parse_listing,
)

C_ENV = {"LANG": "C", "LC_ALL": "C"}

# uname -m -> (ausyscall table for b64, table for b32 or None)
_ARCH_TABLES = {
    "x86_64": ("x86_64", "i386"),
    "aarch64": ("aarch64", "arm"),
    "ppc64le": ("ppc64le", None),
    "ppc64": ("ppc64", "ppc"),
    "s390x": ("s390x", "s390"),
}

# Keys of `auditctl -s` whose values are numbers.
_STATUS_INTS = ("enabled", "failure", "pid", "rate_limit", "backlog_limit", "lost",
                "backlog", "backlog_wait_time", "backlog_wait_time_actual")


class AuditError(Exception):
    """A command of the audit userspace failed or the kernel refused a change."""

    def __init__(self, message, cmd=None, rc=None, stdout="", stderr=""):
        super(AuditError, self).__init__(message)
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def details(self):
        return {"cmd": self.cmd, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}


def parse_status(text):
    """``auditctl -s`` output -> dict; numbers as ints, loginuid_immutable split."""
    status = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        key, value = parts[0], parts[1]
        if key == "loginuid_immutable":
            status[key] = int(value)
            status["loginuid_immutable_locked"] = len(parts) > 2 and parts[2] == "locked"
        elif key in _STATUS_INTS or value.lstrip("-").isdigit():
            status[key] = int(value)
        else:
            status[key] = " ".join(parts[1:])
    return status


def _escape(arg):
    return arg.replace("\\", "\\\\").replace(" ", "\\ ")


class Auditctl(object):
    """Runs auditctl/ausyscall through ``run_command(args, **kwargs)``."""

    def __init__(self, run_command, auditctl="auditctl", ausyscall="ausyscall"):
        self._run_command = run_command
        self.auditctl = auditctl
        self.ausyscall = ausyscall

    def run(self, args, check=True):
        rc, out, err = self._run_command(args, environ_update=C_ENV,
                                         expand_user_and_vars=False)
        if check and rc != 0:
            raise AuditError("%s failed (rc=%s): %s" % (" ".join(args), rc,
                                                        (err or out).strip()),
                             args, rc, out, err)
        return rc, out, err

    def status(self):
        return parse_status(self.run([self.auditctl, "-s"])[1])

    def listing(self):
        return self.run([self.auditctl, "-l"])[1]

    def rules(self, target):
        return parse_listing(self.listing(), target)

    def version(self):
        out = self.run([self.auditctl, "-v"])[1].strip()
        return out.rsplit(" ", 1)[-1] if out else None

    def syscall_table(self, table):
        out = self.run([self.ausyscall, table, "--dump"])[1]
        names = {}
        for line in out.splitlines():
            num, _sep, name = line.partition("\t")
            if num.isdigit() and name:
                names[name.strip()] = int(num)
        if not names:
            raise AuditError("ausyscall %s --dump printed no syscalls" % table)
        return names

    def target(self, machine=None):
        """A Target with this host's syscall tables and name resolvers."""
        machine = machine or os.uname()[4]
        if machine not in _ARCH_TABLES:
            raise AuditError("unsupported machine type %s" % machine)
        b64, b32 = _ARCH_TABLES[machine]
        syscalls = {"b64": self.syscall_table(b64)}
        if b32:
            syscalls["b32"] = self.syscall_table(b32)
        return Target(syscalls, native="b64", user=_uid, group=_gid, is_dir=os.path.isdir)

    def change(self, args):
        """Add or delete one rule from its argument list; raise if refused."""
        rc, out, err = self.run([self.auditctl] + list(args), check=False)
        text = (err or out).strip()
        if rc != 0 or "immutable mode" in text or "Error" in text:
            raise AuditError("auditctl %s: %s" % (" ".join(args), text or "rc=%s" % rc),
                             [self.auditctl] + list(args), rc, out, err)

    def change_many(self, arg_lists):
        """Apply many rule changes with one ``auditctl -R`` (about 100 times
        faster than one process each). -R stops at the first failing line and
        reports why only to syslog: on failure the caller re-lists the kernel
        and applies what is left one change at a time, which names the rule
        and auditctl's reason."""
        if not arg_lists:
            return
        if len(arg_lists) == 1:
            self.change(arg_lists[0])
            return
        tmpdir = tempfile.mkdtemp(prefix="immutable-audit-")
        try:
            path = os.path.join(tmpdir, "batch.rules")
            with open(path, "w") as handle:
                for args in arg_lists:
                    handle.write(" ".join(_escape(a) for a in args) + "\n")
            os.chmod(path, 0o600)
            rc, _out, _err = self.run([self.auditctl, "-R", path], check=False)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if rc != 0:
            raise AuditError("auditctl -R stopped at a rule change", [self.auditctl, "-R"], rc)


def _uid(name):
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def _gid(name):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None
