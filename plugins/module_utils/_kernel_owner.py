# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whose kernel would auditctl change? The one decision every module that
touches the kernel or signals auditd makes first (DESIGN "Whose kernel").

The kernel audit subsystem is not namespaced: from a chroot, a container or a
build sandbox, auditctl drives the kernel of the machine underneath, and `-e 2`
locks that machine. The kernel refuses audit control from a user namespace
other than the initial one (ECONNREFUSED) and from a PID namespace other than
the initial one (EPERM), so what is left to tell apart is a process in the
initial namespaces whose root is not the machine's root (a chroot, or a
container started with the host's PID namespace).

The evidence, strongest first:

1. /proc is not mounted: nothing can be proven (a chroot or a bare sandbox).
2. The user or PID namespace is not the initial one (their inode numbers are
   fixed by the kernel since 3.8: PROC_USER_INIT_INO, PROC_PID_INIT_INO).
   Then PID 1 is whatever the container or sandbox runs, not the machine's
   init; its name is reported.
3. "/" is not the same inode as the root of kthreadd (PID 2, a kernel thread
   whose root is always the machine's) or of PID 1: a chroot, or a container
   sharing the host's PID namespace. If neither root can be read, a root that
   is no mount point in /proc/self/mountinfo still tells a chroot; otherwise
   the answer is "cannot tell" and counts as not ours.
4. Container markers (/run/systemd/container, /run/.containerenv,
   /.dockerenv, container= in PID 1's environment) name what was detected.
   They never make a host of a process that 1-3 found foreign. A marker alone,
   with the initial namespaces and the machine's root, is kept as evidence but
   does not decide: images converted from container images keep /.dockerenv
   when they boot as virtual machines (the project's own machines do), and no
   container runtime gives a process both the initial PID namespace and the
   machine's root.

Only the standard library; every file access goes through a Probe so that
unit tests replay recorded /proc layouts.
"""

from __future__ import annotations

import collections
import errno
import os

from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

from ansible_collections.immutable.audit.plugins.module_utils._errors import Failure

# include/linux/proc_ns.h (fixed since Linux 3.8)
PROC_USER_INIT_INO = 0xEFFFFFFD
PROC_PID_INIT_INO = 0xEFFFFFFC

MARKER_FILES = ("/run/systemd/container", "/run/.containerenv", "/.dockerenv")

# Options every kernel-touching module takes (doc fragment immutable.audit.live).
LIVE_ARGUMENT_SPEC = dict(
    live=dict(type="raw", default="auto"),
    allow_shared_kernel=dict(type="bool", default=False),
)

Decision = collections.namedtuple("Decision", "act skipped environment")
Decision.__doc__ = """act: touch the kernel or auditd; skipped: the environment's kind when auto
chose files only, else None; environment: the Environment (None when live was false)."""

Environment = collections.namedtuple("Environment", "own kind reason evidence")
Environment.__doc__ = """own: whether auditctl here drives the target's own kernel.
kind: host, chroot, container, sandbox, no-proc or unknown.
reason: one sentence naming what was detected (None on a host).
evidence: what was read, for the result and for bug reports."""


class Probe(object):
    """Reads the few files the decision needs; tests replace it."""

    def exists(self, path):
        return os.path.lexists(path)

    def read(self, path, size=65536):
        """The file's text, or None when it cannot be read."""
        try:
            with open(path, "rb") as handle:
                return handle.read(size).decode("utf-8", "replace")
        except (IOError, OSError):
            return None

    def ns_inode(self, name):
        """Inode number of /proc/self/ns/<name>, or None."""
        try:
            return os.stat("/proc/self/ns/%s" % name).st_ino
        except (IOError, OSError):
            return None

    def root_id(self, path):
        """(st_dev, st_ino) of a directory, or the errno name when it cannot be read."""
        try:
            st = os.stat(path)
        except (IOError, OSError) as exc:
            return errno.errorcode.get(exc.errno, str(exc.errno))
        return (st.st_dev, st.st_ino)


def _comm(probe, pid):
    stat = probe.read("/proc/%d/stat" % pid, 512)
    if not stat or "(" not in stat:
        return None
    return stat[stat.index("(") + 1:stat.rindex(")")]


def _markers(probe):
    found = [path for path in MARKER_FILES if probe.exists(path)]
    environ = probe.read("/proc/1/environ")
    if environ:
        for item in environ.split("\0"):
            if item.startswith("container="):
                found.append("PID 1 " + item)
    kind = probe.read("/run/systemd/container", 256)
    if kind and kind.strip():
        found.append("container type %s" % kind.strip())
    return found


def _root_is_a_mount(probe):
    """True/False: whether some mount of /proc/self/mountinfo is mounted at
    this process's "/"; None if unreadable. A chroot into a plain directory
    sees no mount at "/" (mounts outside its root are not listed)."""
    text = probe.read("/proc/self/mountinfo", 1 << 20)
    if text is None:
        return None
    return any(len(line.split()) > 4 and line.split()[4] == "/" for line in text.splitlines())


def detect(probe=None):
    """-> Environment. Decides whether the kernel auditctl reaches is the target's."""
    probe = probe or Probe()
    evidence = {}
    if not probe.exists("/proc/self/stat"):
        return Environment(False, "no-proc", "/proc is not mounted, so nothing shows that this is the "
                           "machine's own root (a chroot or a build sandbox)", evidence)
    markers = _markers(probe)
    evidence["markers"] = markers
    pid1 = _comm(probe, 1)
    evidence["pid1"] = pid1
    described = " (%s)" % ", ".join(markers) if markers else ""

    user_ns, pid_ns = probe.ns_inode("user"), probe.ns_inode("pid")
    evidence.update(user_ns=user_ns, pid_ns=pid_ns)
    if user_ns is not None and user_ns != PROC_USER_INIT_INO:
        return Environment(False, "container", "this runs in a user namespace other than the machine's: "
                           "a container%s" % described, evidence)
    if pid_ns is not None and pid_ns != PROC_PID_INIT_INO:
        kind = "container" if markers else "sandbox"
        return Environment(False, kind, "this runs in a PID namespace other than the machine's (PID 1 here "
                           "is %r, not the machine's init): a %s%s" % (pid1, kind, described), evidence)

    own_root = probe.root_id("/")
    evidence["root"] = list(own_root) if isinstance(own_root, tuple) else own_root
    reference = None
    for pid, expect in ((2, "kthreadd"), (1, None)):
        if expect and _comm(probe, pid) != expect:
            continue
        found = probe.root_id("/proc/%d/root/" % pid)
        evidence["root_of_pid%d" % pid] = list(found) if isinstance(found, tuple) else found
        if isinstance(found, tuple):
            reference = (pid, found)
            break
    if reference is not None:
        if own_root != reference[1]:
            kind = "container" if markers else "chroot"
            return Environment(False, kind, "/ is not the root of PID %d, the machine's root: a %s%s"
                               % (reference[0], kind, described), evidence)
        return Environment(True, "host", None, evidence)
    mounted = _root_is_a_mount(probe)
    evidence["root_is_mount"] = mounted
    if mounted is False:
        return Environment(False, "chroot", "no filesystem is mounted at / (a chroot into a directory)%s"
                           % described, evidence)
    return Environment(False, "unknown", "the roots of PID 1 and PID 2 cannot be read, so nothing shows "
                       "that / is the machine's root%s" % described, evidence)


def normalize_live(value, option="live"):
    """'auto', True or False from what the user wrote (booleans in any Ansible spelling)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in BOOLEANS_TRUE:
        return True
    if text in BOOLEANS_FALSE:
        return False
    raise Failure("%s must be auto, true or false, not %r; nothing was changed" % (option, value))


def decide(value, allow_shared_kernel, what, option="live", probe=None, environment=None):
    """Resolve a live option against the environment.

    -> (act, environment, skipped): act is whether to touch the kernel or auditd;
    skipped is the environment's kind when auto chose files only, else None.
    An explicit true where the kernel is not the target's fails, unless
    allow_shared_kernel says the user means it. ``what`` names the live
    action in messages ("change the kernel's audit rules")."""
    wanted = normalize_live(value, option)
    if wanted is False:
        return False, environment, None
    env = environment or detect(probe)
    if env.own or (wanted is True and allow_shared_kernel):
        return True, env, None
    if wanted == "auto":
        return False, env, env.kind
    raise Failure("%s: true, but %s. From here the task would %s of the machine underneath, not the "
                  "target's (the kernel audit subsystem is not namespaced); nothing was changed. Use %s: auto or "
                  "false to write the files only, or allow_shared_kernel: true if you really mean to change that "
                  "machine." % (option, env.reason, what, option), environment=env._asdict())


def resolve(module, what, option="live"):
    """decide() for a module with the LIVE_ARGUMENT_SPEC options (or ``option``
    in their place); warns when auto chose files only. -> Decision."""
    act, env, skipped = decide(module.params[option], module.params["allow_shared_kernel"], what, option)
    if skipped:
        module.warn(skipped_message(env, what, option))
    return Decision(act, skipped, env)


def skipped_message(env, what, option="live"):
    """The warning when auto chose files only."""
    return ("%s%s: the kernel here is not the target's, so %s: auto did not %s of the machine underneath; only "
            "files were written (say %s: false to mean it)"
            % (env.reason[0].upper(), env.reason[1:], option, what, option))
