# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules files on disk: atomic writes and the rules.d merge view.

``merge`` reproduces what Debian 12's augenrules builds from
/etc/audit/rules.d (AUDIT-SEMANTICS.md section 5) and reports what would
bite at boot; it is pure. The few functions that touch the filesystem are
small and named for it.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

from ansible_collections.immutable.audit.plugins.module_utils._rules import (
    Control, Rule, RuleError, parse_line,
)

RULES_D = "/etc/audit/rules.d"
# Control lines augenrules hoists: the last of each wins; -e goes last.
_HOISTED = ("-D", "-b", "-f", "-e")


class FileError(Exception):
    """A file could not be read or written; names the path, the operation and the cause."""

    def __init__(self, message, path=None, operation=None, errno_name=None):
        super(FileError, self).__init__(message)
        self.path = path
        self.operation = operation
        self.errno_name = errno_name


# What an operator does about the causes that are not self-explanatory.
_HINTS = {
    errno.EPERM: "an immutable or append-only flag (lsattr) refuses it even to root",
    errno.EACCES: "the task lacks the permission (become: true?), or a security module refuses it",
    errno.EXDEV: "the temporary file and the target are on different filesystems",
}


def os_error(exc, operation, path):
    """The one place an OSError becomes a FileError: path, operation, cause."""
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    hint = _HINTS.get(exc.errno)
    message = "cannot %s %s: %s (%s)%s" % (operation, path, exc.strerror or exc, name, "; " + hint if hint else "")
    return FileError(message, path=path, operation=operation, errno_name=name)


class FileIO(object):
    """Every filesystem call of a read or a write, one method each, so that
    tests make any single step fail (tests/unit/plugins/module_utils/test_files_faults.py)."""

    def read(self, path):
        with open(path, "rb") as handle:
            return handle.read()

    def mkstemp(self, directory, prefix):
        return tempfile.mkstemp(prefix=prefix, dir=directory)

    def write(self, fd, data):
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def chmod(self, path, mode):
        os.chmod(path, mode)

    def chown(self, path, uid, gid):
        os.chown(path, uid, gid)

    def selinux_context(self, path):
        """The file's security.selinux label, or None where there is none."""
        try:
            return os.getxattr(path, "security.selinux")
        except OSError as exc:
            if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.ENOENT):
                return None
            raise

    def set_selinux_context(self, path, label):
        os.setxattr(path, "security.selinux", label)

    def rename(self, src, dst):
        os.rename(src, dst)

    def unlink(self, path):
        os.unlink(path)

    def fsync_dir(self, directory):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


IO = FileIO()


def read_text(path, io=None):
    """The file's text, or None if it does not exist."""
    try:
        return (io or IO).read(path).decode("utf-8", "surrogateescape")
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise os_error(exc, "read", path)


class Staged(object):
    """A file's new content, complete and fsynced beside its final path (same
    directory, so the rename is atomic), not yet in place. Staging first lets
    a module find out that the disk is full or read-only before it changes
    the kernel; ``commit`` puts it in place, ``discard`` forgets it."""

    def __init__(self, path, tmp, io):
        self.path = path
        self.tmp = tmp
        self._io = io

    def commit(self):
        """Rename into place and fsync the directory. A failing directory
        fsync after the rename is not an error: the new file is in place."""
        try:
            self._io.rename(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            raise os_error(exc, "replace", self.path)
        self.tmp = None
        try:
            self._io.fsync_dir(os.path.dirname(self.path) or ".")
        except OSError:
            pass

    def discard(self):
        if self.tmp is not None:
            try:
                self._io.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None


def stage(path, content, mode=0o640, uid=0, gid=0, io=None):
    """-> Staged: the new content written, fsynced, owned and labelled (the
    replaced file's SELinux context kept) beside ``path``. Raises FileError
    naming the step, with nothing left behind."""
    io = io or IO
    directory = os.path.dirname(path) or "."
    try:
        fd, tmp = io.mkstemp(directory, ".%s." % os.path.basename(path))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise FileError("cannot write %s: directory %s does not exist (ENOENT)" % (path, directory),
                            path=path, operation="write", errno_name="ENOENT")
        raise os_error(exc, "create a temporary file for", path)
    staged = Staged(path, tmp, io)
    step = "write"
    try:
        io.write(fd, content.encode("utf-8", "surrogateescape"))
        step = "set the mode of"
        io.chmod(tmp, mode)
        if os.geteuid() == 0:
            step = "set the owner of"
            io.chown(tmp, uid, gid)
        step = "read the SELinux context of"
        label = io.selinux_context(path)
        if label is not None:
            step = "keep the SELinux context of"
            io.set_selinux_context(tmp, label)
    except OSError as exc:
        staged.discard()
        raise os_error(exc, step, path)
    return staged


def needs_write(path, content, mode, uid=0, gid=0, io=None):
    """Whether ``path`` lacks this content, mode or (as root) owner."""
    if read_text(path, io) != content:
        return True
    try:
        st = os.stat(path)
    except OSError as exc:
        raise os_error(exc, "stat", path)
    owner_ok = os.geteuid() != 0 or (st.st_uid, st.st_gid) == (uid, gid)
    return (st.st_mode & 0o7777) != mode or not owner_ok


def atomic_write(path, content, mode=0o640, uid=0, gid=0, io=None):
    """Write ``content`` to ``path`` only if it differs; return True if written.

    Temp file in the same directory, fsync, owner, mode and SELinux context
    set before the rename, then the directory fsynced: a crash leaves the old
    or the new file, never a torn one.
    """
    if not needs_write(path, content, mode, uid, gid, io):
        return False
    stage(path, content, mode, uid, gid, io).commit()
    return True


def remove(path, io=None):
    """Remove ``path``; return True if it existed."""
    io = io or IO
    try:
        io.unlink(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise os_error(exc, "remove", path)
    try:
        io.fsync_dir(os.path.dirname(path) or ".")
    except OSError:
        pass
    return True


def _order(s, pos):
    """Weight of one non-digit character, as GNU filevercmp ranks them."""
    if pos == len(s):
        return -1
    c = s[pos]
    if c.isdigit():
        return 0
    if c.isascii() and c.isalpha():
        return ord(c)
    if c == "~":
        return -2
    return ord(c) + 256


def _verrevcmp(a, b):
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ca, cb = _order(a, i), _order(b, j)
            if ca != cb:
                return ca - cb
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and j < len(b) and a[i].isdigit() and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _prefix_len(s):
    """Length of ``s`` without its file suffixes (like '.rules' or '.tar.gz')."""
    n = len(s)
    prefix = 0
    i = 0
    while i < n:
        i += 1
        prefix = i
        while i + 1 < n and s[i] == "." and ((s[i + 1].isascii() and s[i + 1].isalpha()) or s[i + 1] == "~"):
            i += 2
            while i < n and ((s[i].isascii() and s[i].isalnum()) or s[i] == "~"):
                i += 1
    return prefix


def filevercmp(a, b):
    """GNU filevercmp, the order of ``ls -v`` (and so of augenrules).

    Names compare first without their suffixes; digit runs compare as
    numbers; letters sort before other characters.
    """
    if a == b:
        return 0
    if not a or not b:
        return -1 if not a else 1
    for special in (".", ".."):
        if a == special or b == special:
            return -1 if a == special else 1
    if a.startswith(".") != b.startswith("."):
        return -1 if a.startswith(".") else 1
    pa, pb = _prefix_len(a), _prefix_len(b)
    result = _verrevcmp(a[:pa], b[:pb])
    if result or (pa == len(a) and pb == len(b)):
        return result
    return _verrevcmp(a, b)


def _ls_v_cmp(a, b):
    # ls -v breaks filevercmp's ties ("1" and "01") by plain byte order.
    return filevercmp(a, b) or (a > b) - (a < b)


version_key = functools.cmp_to_key(_ls_v_cmp)


def read_rules_d(directory=RULES_D):
    """[(path, text)] of the *.rules files augenrules reads, in its order."""
    try:
        names = os.listdir(directory)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return []
        raise os_error(exc, "list", directory)
    files = []
    for name in sorted((n for n in names if n.endswith(".rules")), key=version_key):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            files.append((path, read_text(path)))
    return files


class MergedLine(object):
    """One line of the merged rules as augenrules emits it."""

    __slots__ = ("text", "source", "lineno", "entry")

    def __init__(self, text, source, lineno, entry):
        self.text = text
        self.source = source
        self.lineno = lineno
        self.entry = entry

    def as_dict(self):
        return {"line": self.text, "file": self.source, "lineno": self.lineno}


class Merged(object):
    """The merged rules: lines in load order, rules, controls, and problems."""

    def __init__(self, lines, problems):
        self.lines = lines
        self.problems = problems

    @property
    def rules(self):
        return [m.entry for m in self.lines if isinstance(m.entry, Rule)]

    @property
    def controls(self):
        return [m.entry for m in self.lines if isinstance(m.entry, Control)]

    def control(self, option):
        """The value the load ends with for ``option`` (e.g. '-e'), or None."""
        value = None
        for entry in self.controls:
            if entry.option == option:
                value = entry.value
        return value


def _problem(kind, message, source=None, lineno=None, line=None):
    return {"kind": kind, "message": message, "file": source, "lineno": lineno, "line": line}


def merge(files, target):
    """What ``augenrules`` makes of ``files`` ([(path, text)], in ls -v order).

    Returns a Merged whose lines are in the order auditctl -R will load them
    and whose problems list what would fail or surprise at boot: a file with
    no final newline (its last line is glued to the next file's first),
    CRLF, tabs, invalid rules (auditctl -R stops there), indented control
    lines (not hoisted: an indented -e 2 locks in the middle of the load),
    more than one -e (only the last counts), and duplicates (the second
    stops the load).
    """
    problems = []
    physical = []       # (text, source, lineno)
    carry = None
    for path, text in files:
        if text is None:
            continue
        lines = text.split("\n")
        complete = text.endswith("\n") or text == ""
        if complete:
            lines = lines[:-1]
        for i, line in enumerate(lines, 1):
            if carry is not None and i == 1:
                problems.append(_problem(
                    "no_final_newline",
                    "%s has no final newline: augenrules glues its last line to the first "
                    "line of %s" % (carry[1], path), carry[1], carry[2], carry[0] + line))
                physical.append((carry[0] + line, carry[1], carry[2]))
                carry = None
                continue
            if i == len(lines) and not complete:
                carry = (line, path, i)
                continue
            physical.append((line, path, i))
        if carry is not None and carry[1] != path:
            physical.append(carry)
            carry = None
    if carry is not None:
        physical.append(carry)

    hoisted = {}
    body = []
    e_lines = []
    for text, source, lineno in physical:
        stripped = text.strip(" ")
        if not stripped or text.startswith("#"):
            continue
        opt = stripped.split(" ", 1)[0]
        if opt in _HOISTED and text != stripped and not stripped.startswith("#"):
            problems.append(_problem(
                "indented_control",
                "indented %s line: augenrules does not hoist it, so it runs in the middle "
                "of the load%s" % (opt, " and locks the kernel before later rules load"
                                   if stripped.startswith("-e 2") else ""),
                source, lineno, text))
        try:
            entry = parse_line(text, target, source, lineno)
        except RuleError as exc:
            problems.append(_problem("invalid", "%s; auditctl -R stops at this line and "
                                     "loads nothing after it" % exc.problem, source, lineno, text))
            body.append(MergedLine(text, source, lineno, None))
            continue
        if entry is None:
            continue
        line = MergedLine(text, source, lineno, entry)
        if text.startswith(_HOISTED) and isinstance(entry, Control) and entry.option in _HOISTED:
            if entry.option == "-e":
                e_lines.append(line)
            hoisted[entry.option] = line
            continue
        body.append(line)
    if len(e_lines) > 1:
        last = e_lines[-1]
        for line in e_lines[:-1]:
            problems.append(_problem(
                "e_overridden",
                "'%s' is dropped by augenrules: the last -e line wins ('%s' in %s:%s)"
                % (line.text, last.text, last.source, last.lineno),
                line.source, line.lineno, line.text))
    ordered = [hoisted[o] for o in ("-D", "-b", "-f") if o in hoisted] + body
    if "-e" in hoisted:
        ordered.append(hoisted["-e"])
    seen = {}
    for line in ordered:
        if isinstance(line.entry, Rule):
            first = seen.get(line.entry.line)
            if first is not None:
                problems.append(_problem(
                    "duplicate",
                    "duplicate of %s:%s; auditctl -R fails on it and loads nothing after it"
                    % (first.source, first.lineno), line.source, line.lineno, line.text))
            else:
                seen[line.entry.line] = line
    return Merged(ordered, problems)
