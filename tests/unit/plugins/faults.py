# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A FileIO that fails at one chosen step with one chosen errno, the way the
kernel answers on a read-only, full or flagged filesystem."""

import errno
import os

from ansible_collections.immutable.audit.plugins.module_utils import _files

# Every step of a staged write, in the order stage() and commit() take them.
WRITE_STEPS = ("mkstemp", "write", "chmod", "chown", "selinux_context", "set_selinux_context", "rename")
# The causes the issue names: read-only, full, no permission, immutable flag, other filesystem.
ERRNOS = (errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EXDEV)
LABEL = b"system_u:object_r:auditd_etc_t:s0"


class FaultyIO(_files.FileIO):
    """Fails ``step`` with ``code``; files carry a fake SELinux label so that
    the keep-the-context steps run (this machine has no SELinux)."""

    def __init__(self, step=None, code=None):
        self.step, self.code = step, code
        self.labels = {}

    def _maybe_fail(self, step, path):
        if step == self.step:
            raise OSError(self.code, os.strerror(self.code), path)

    def mkstemp(self, directory, prefix):
        self._maybe_fail("mkstemp", directory)
        return super(FaultyIO, self).mkstemp(directory, prefix)

    def write(self, fd, data):
        if self.step == "write":
            os.close(fd)
        self._maybe_fail("write", fd)
        return super(FaultyIO, self).write(fd, data)

    def chmod(self, path, mode):
        self._maybe_fail("chmod", path)
        return super(FaultyIO, self).chmod(path, mode)

    def chown(self, path, uid, gid):
        self._maybe_fail("chown", path)
        return super(FaultyIO, self).chown(path, uid, gid)

    def selinux_context(self, path):
        self._maybe_fail("selinux_context", path)
        return LABEL if os.path.exists(path) else None

    def set_selinux_context(self, path, label):
        self._maybe_fail("set_selinux_context", path)
        self.labels[path] = label

    def rename(self, src, dst):
        self._maybe_fail("rename", dst)
        if src in self.labels:
            self.labels[dst] = self.labels.pop(src)
        return super(FaultyIO, self).rename(src, dst)


def leftovers(directory):
    """Temporary files a write left behind (none, whatever failed)."""
    return sorted(n for n in os.listdir(str(directory)) if n.startswith("."))
