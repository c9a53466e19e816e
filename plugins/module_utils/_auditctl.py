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

import gzip
import grp
import os
import pwd
import shutil
import tempfile

from ansible_collections.immutable.audit.plugins.module_utils._dirs import DirProbe
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

# The kernel option that says whether 32-bit programs run, per machine.
_COMPAT_OPTION = {"x86_64": "CONFIG_IA32_EMULATION", "aarch64": "CONFIG_COMPAT"}

# Rule changes per auditctl -R process: small enough that a stop between two
# batches comes within a second or two on a slow host, large enough that the
# process start-up (about 10 ms) stays a small share.
BATCH = 1000

# Reads of auditctl -l at most until two agree (see Auditctl.listing).
LISTING_TRIES = 4

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


def _kernel_bool(value):
    """A boolean kernel parameter as the kernel reads it (kstrtobool), or None."""
    value = value.lower()
    if value[:1] in ("y", "t", "1") or value == "on":
        return True
    if value[:1] in ("n", "f", "0") or value == "off":
        return False
    return None


def _config_value(config, option):
    """``y``/``m`` of ``option`` in a kernel config text, or None when not set."""
    for line in config.splitlines():
        if line.startswith(option + "="):
            return line.split("=", 1)[1].strip().strip('"')
    return None


def b32_abi(machine, cmdline=None, config=None, config_source=None):
    """Whether the kernel runs 32-bit programs: (bool, why) - pure.

    ``cmdline`` is /proc/cmdline and ``config`` the kernel's build config
    (/boot/config-RELEASE or /proc/config.gz), each None when unreadable.
    x86_64: the ia32 emulation, unless CONFIG_IA32_EMULATION is off, or
    ``ia32_emulation=0`` is on the command line (or it is off by default,
    CONFIG_IA32_EMULATION_DEFAULT_DISABLED, and not turned on). aarch64:
    CONFIG_COMPAT. Machines without a 32-bit table (ppc64le) have none.
    Without a readable config the ABI is assumed (rules for it still load),
    so an unknown kernel keeps its 32-bit coverage.
    """
    b32 = _ARCH_TABLES.get(machine, (None, None))[1]
    if b32 is None:
        return False, "%s has no 32-bit syscall ABI" % machine
    option = _COMPAT_OPTION.get(machine)
    source = config_source or "the kernel config"
    setting = None
    for word in (cmdline or "").split(" -- ", 1)[0].split():
        name, eq, value = word.partition("=")
        if machine == "x86_64" and name == "ia32_emulation" and eq:
            setting = _kernel_bool(value)
    if option and config is not None:
        if _config_value(config, option) not in ("y", "m"):
            return False, "%s is not set in %s" % (option, source)
        if (machine == "x86_64" and setting is not True
                and _config_value(config, "CONFIG_IA32_EMULATION_DEFAULT_DISABLED") == "y"):
            return False, ("CONFIG_IA32_EMULATION_DEFAULT_DISABLED is set in %s and the "
                           "kernel command line has no ia32_emulation=1" % source)
    if setting is False:
        return False, "ia32_emulation=0 is on the kernel command line"
    if option and config is None:
        return True, "no kernel config to read; the %s ABI is assumed" % b32
    return True, "%s is set in %s" % (option, source) if option else "%s ABI" % b32


def _read_file(path):
    """The bytes of ``path``, or None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _uname():
    return os.uname()


def _text(data):
    return data.decode("utf-8", "replace") if data is not None else None


def read_kernel_facts(read, release):
    """(cmdline, config, config_source) through ``read(path) -> bytes or None``."""
    cmdline = _text(read("/proc/cmdline"))
    for path in ("/boot/config-%s" % release, "/proc/config.gz"):
        data = read(path)
        if data is None:
            continue
        if path.endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (IOError, OSError, EOFError):
                continue
        return cmdline, _text(data), path
    return cmdline, None, None


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

    def listing(self, tries=LISTING_TRIES):
        """``auditctl -l``, read until two reads in a row agree.

        With a few thousand rules on a loaded host one read can miss rules
        (the replies are netlink messages, dropped when the socket buffer
        overflows; auditctl still exits 0): found in molecule/faults, where a
        listing without one of 2,000 watches made the planner re-add it. A
        rule set planned from such a read is wrong, so it is read again."""
        previous = self.run([self.auditctl, "-l"])[1]
        for _attempt in range(tries - 1):
            current = self.run([self.auditctl, "-l"])[1]
            if current == previous:
                return current
            previous = current
        raise AuditError("auditctl -l gave a different listing on each of %d reads (rules changing meanwhile, "
                         "or replies lost on a loaded host); nothing was changed by this read" % tries,
                         [self.auditctl, "-l"])

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

    def target(self, machine=None, read=None, release=None):
        """A Target with this host's syscall tables and name resolvers.

        Whether the kernel runs 32-bit programs (b32_abi) is decided from
        /proc/cmdline and the kernel config, read through ``read(path) ->
        bytes or None`` (tests hand in recordings); without, the Target marks
        b32 absent and desired b32 rules are left out.
        """
        uname = _uname()
        machine = machine or uname[4]
        if machine not in _ARCH_TABLES:
            raise AuditError("unsupported machine type %s" % machine)
        b64, b32 = _ARCH_TABLES[machine]
        syscalls = {"b64": self.syscall_table(b64)}
        tables = {"b64": b64}
        if b32:
            # Loaded even without the ABI: such a kernel still accepts and
            # lists b32 rules (loaded from other files), which must parse.
            syscalls["b32"] = self.syscall_table(b32)
            tables["b32"] = b32
        has_b32, why = b32_abi(machine, *read_kernel_facts(read or _read_file, release or uname[2]))
        return Target(syscalls, native="b64", user=_uid, group=_gid, is_dir=DirProbe().is_dir,
                      tables=tables, absent={} if has_b32 else {"b32": why},
                      known_anywhere=self._known_anywhere(syscalls))

    def _known_anywhere(self, loaded):
        """name -> bool: in a table of any architecture ausyscall has. The other
        tables are read only when a name is missing from the loaded ones."""
        cache = []

        def known(name):
            if any(name in table for table in loaded.values()):
                return True
            if not cache:
                names = set()
                for table in sorted(set(t for pair in _ARCH_TABLES.values() for t in pair if t)):
                    try:
                        names.update(self.syscall_table(table))
                    except AuditError:
                        pass  # a table this ausyscall was built without
                cache.append(names)
            return name in cache[0]
        return known

    def change(self, args):
        """Add or delete one rule from its argument list; raise if refused."""
        rc, out, err = self.run([self.auditctl] + list(args), check=False)
        text = (err or out).strip()
        if rc != 0 or "immutable mode" in text or "Error" in text:
            raise AuditError("auditctl %s: %s" % (" ".join(args), text or "rc=%s" % rc),
                             [self.auditctl] + list(args), rc, out, err)

    def change_many(self, arg_lists, batch=BATCH, stop=None):
        """Apply many rule changes in order with ``auditctl -R``, ``batch``
        changes a process (about 100 times faster than one process each).

        -R stops at the first failing line and reports why only to syslog: on
        failure the caller re-lists the kernel and applies what is left one
        change at a time, which names the rule and auditctl's reason. Between
        batches ``stop()`` is asked whether to go on (a module whose
        controller is gone stops instead of changing the kernel unattended);
        a true answer raises AuditError with what it says. Where no batch
        file can be written (a full or read-only /tmp) the changes go one
        process each."""
        arg_lists = list(arg_lists)
        for start in range(0, len(arg_lists), batch):
            if start and stop is not None:
                why = stop()
                if why:
                    raise AuditError("stopped after %d of %d rule changes: %s" % (start, len(arg_lists), why))
            chunk = arg_lists[start:start + batch]
            if len(chunk) == 1:
                self.change(chunk[0])
                continue
            rc = self._batch(chunk)
            if rc is None:
                for args in chunk:
                    self.change(args)
            elif rc != 0:
                raise AuditError("auditctl -R stopped at a rule change", [self.auditctl, "-R"], rc)

    def _batch(self, arg_lists):
        """rc of ``auditctl -R`` over a temporary file of the changes, or None
        when the file cannot be written."""
        try:
            tmpdir = tempfile.mkdtemp(prefix="immutable-audit-")
        except OSError:
            return None
        try:
            path = os.path.join(tmpdir, "batch.rules")
            try:
                with open(path, "w") as handle:
                    for args in arg_lists:
                        handle.write(" ".join(_escape(a) for a in args) + "\n")
                os.chmod(path, 0o600)
            except OSError:
                return None
            return self.run([self.auditctl, "-R", path], check=False)[0]
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)


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
