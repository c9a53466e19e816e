# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sealing finished audit logs and verifying the seal: the one implementation.

Used by the audit_seal module and, unchanged, as an on-host script: a role
copies this file with _flags.py and _auditd_conf.py (the only two files it
imports; both import nothing but the standard library) into one directory
and runs ``python3 <dir>/_seal.py seal|verify ...`` (see main()). That is
why it does not use _files.atomic_write: _files imports the rule engine.

Layout (docs/sealing.md has the whole design):

    sealed_dir/                 +a: entries can be added, never renamed or removed
        audit-<t0>-<t1>-<s0>-<s1>.log   +i: one finished log each
        MANIFEST.jsonl          +a: hash-chained records, appended only
        .staging/               no flags: files in transit, intents, the lock

A segment moves through these states (the crash-safety state machine):

    T0 in the chain        log_dir/audit.log.N
    T1 staged              rename into .staging/take-<dev>-<ino> (one atomic
                           rename on one filesystem; across filesystems copy,
                           fsync, rename .part -> take, unlink the source only
                           if it is still the same inode)
    T2 intent              .staging/intent-<staged>.json: final name, size,
                           sha256, first/last event
    T3 linked              link(staged, sealed_dir/<name>): never overwrites
    T4 unstaged            unlink the staged name; one name left
    T5 recorded            seal record appended to the manifest
    T6 immutable           +i on the sealed file
    T7 done                intent removed

reconcile() runs first on every seal and moves each interrupted segment on
from the state it finds: a staged file without an intent starts at T1; with
an intent and both names on one inode it is at T3; with only the sealed
name and no record it is at T4 and is recorded only if its digest still
matches the intent; recorded without +i it is at T5. Nothing is ever
written over, a segment is only recorded once (the manifest is checked by
name and digest first) and a name is only unlinked when another name of the
same inode, or an identical sealed copy, exists.
"""

import collections
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import signal as _signal
import stat
import sys
import time

try:
    from ansible_collections.immutable.audit.plugins.module_utils._flags import (
        APPEND, IMMUTABLE, FlagsError, FlagsIO, Target, apply_plan, find_mount, parse_mountinfo, plan, upper_dirs,
    )
    from ansible_collections.immutable.audit.plugins.module_utils._auditd_conf import (
        DEFAULT_LOG_FILE, AuditdConfError, log_paths, read_settings,
    )
except ImportError:  # installed as a script beside _flags.py and _auditd_conf.py
    from _flags import (  # type: ignore
        APPEND, IMMUTABLE, FlagsError, FlagsIO, Target, apply_plan, find_mount, parse_mountinfo, plan, upper_dirs,
    )
    from _auditd_conf import DEFAULT_LOG_FILE, AuditdConfError, log_paths, read_settings  # type: ignore

DEFAULT_SEALED_DIR = "/var/log/audit/sealed"
MANIFEST_NAME = "MANIFEST.jsonl"
STAGING = ".staging"
GENESIS = "0" * 64
VERSION = 1
DEFAULT_MIN_SIZE = 1024 * 1024
DEFAULT_TIMEOUT = 10.0
DEFAULT_LOCK_WAIT = 60.0
PID_FILES = ("/run/auditd.pid", "/var/run/auditd.pid")

_EVENT = re.compile(br"msg=audit\(([0-9]+)\.([0-9]+):([0-9]+)\)")
_TYPE = re.compile(br"^(?:node=\S+ )?type=(\S+)")
_TAKE = re.compile(r"take-([0-9]+)-([0-9]+)$")
_CHUNK = 1024 * 1024

Event = collections.namedtuple("Event", "sec ms serial")
Segment = collections.namedtuple("Segment", "size sha256 first last dev ino mtime")


class SealError(Exception):
    """Sealing cannot go on; the message names the path and what was done."""


# --- pure: events, names, records --------------------------------------------

def scan(lines):
    """(first, last) Event of an iterable of byte lines, or (None, None).

    Records auditd writes itself (type=DAEMON_*) are left out when the file
    has others: their serial is auditd's own, not the kernel's, and would
    spoil the continuity check. A file of DAEMON records only uses them.
    """
    first = last = dfirst = dlast = None
    for line in lines:
        match = _EVENT.search(line)
        if match is None:
            continue
        event = Event(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        kind = _TYPE.match(line)
        if kind is not None and kind.group(1).startswith(b"DAEMON_"):
            dfirst = dfirst or event
            dlast = event
            continue
        first = first or event
        last = event
    if first is None:
        return dfirst, dlast
    return first, last


def event_dict(event):
    return None if event is None else {"time": "%d.%03d" % (event.sec, event.ms), "serial": event.serial}


def segment_name(first, last, sha256):
    """audit-<first epoch>-<last epoch>-<first serial>-<last serial>.log"""
    if first is None:
        return "audit-noevents-%s.log" % sha256[:16]
    return "audit-%d-%d-%d-%d.log" % (first.sec, last.sec, first.serial, last.serial)


def unique_name(name, taken):
    """name, or name with -2, -3 ... before .log if taken(name)."""
    if not taken(name):
        return name
    stem = name[:-len(".log")]
    number = 2
    while taken("%s-%d.log" % (stem, number)):
        number += 1
    return "%s-%d.log" % (stem, number)


def canonical(record):
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def record_hash(record):
    """sha256 of the canonical JSON of the record without its hash."""
    body = dict((k, v) for k, v in record.items() if k != "hash")
    return hashlib.sha256(canonical(body).encode("ascii")).hexdigest()


def make_record(prev, seq, kind, at, **fields):
    record = dict(fields, v=VERSION, seq=seq, type=kind, at=int(at), prev=prev)
    record["hash"] = record_hash(record)
    return record


def record_line(record):
    return (canonical(record) + "\n").encode("ascii")


def finding(kind, message, segment=None, record=None, severity="error", expected=None, actual=None):
    """One verification finding; expected/actual say what the seal recorded and what is there now."""
    return {"kind": kind, "severity": severity, "segment": segment, "record": record, "message": message,
            "expected": expected, "actual": actual}


Chain = collections.namedtuple("Chain", "records head findings torn_tail")


def parse_chain(data):
    """Check the hash chain of the manifest bytes.

    Returns Chain(records, head, findings, torn_tail): the records in order
    (each a dict, its 1-based line number under `_line`), the last hash
    (GENESIS when empty), findings, and the bytes of an unterminated last
    line (a crash in the middle of an append) or None.

    A torn line in the middle is legitimate only when the very next record
    is a `torn` record that carries its length and sha256: an append-only
    manifest cannot be repaired in place, so the repair is itself appended.
    """
    records, findings = [], []
    prev, seq = GENESIS, 0
    torn_tail = None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        torn_tail = lines.pop()
    pending_torn = None
    for number, raw in enumerate(lines, 1):
        try:
            record = json.loads(raw.decode("ascii"))
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            if pending_torn is not None:
                findings.append(finding("chain_broken", "manifest line %d cannot be read" % pending_torn[0],
                                        record=pending_torn[0]))
            pending_torn = (number, raw)
            continue
        record["_line"] = number
        if pending_torn is not None:
            torn_line, torn_raw = pending_torn
            pending_torn = None
            if not (record.get("type") == "torn" and record.get("length") == len(torn_raw)
                    and record.get("sha256") == hashlib.sha256(torn_raw).hexdigest()):
                findings.append(finding(
                    "chain_broken", "chain broken at manifest line %d: the line cannot be read and no torn "
                    "record after it accounts for it (manifest edited)" % torn_line, record=torn_line))
        stored = record.get("hash")
        body = dict((k, v) for k, v in record.items() if k != "_line")
        if stored != record_hash(body):
            findings.append(finding(
                "chain_broken", "chain broken at record %d (manifest line %d): its hash does not match its "
                "content (record altered)" % (seq + 1, number), segment=record.get("name"), record=number))
        elif record.get("prev") != prev:
            findings.append(finding(
                "chain_broken", "chain broken at record %d (manifest line %d): prev does not name the record "
                "before it (records removed, inserted or reordered)" % (seq + 1, number),
                segment=record.get("name"), record=number))
        elif record.get("seq") != seq + 1:
            findings.append(finding(
                "chain_broken", "chain broken at record %d (manifest line %d): seq is %r" % (
                    seq + 1, number, record.get("seq")), segment=record.get("name"), record=number))
        seq += 1
        prev = stored if isinstance(stored, str) else prev
        records.append(record)
    if pending_torn is not None:
        findings.append(finding("chain_broken", "manifest line %d cannot be read" % pending_torn[0],
                                record=pending_torn[0]))
    return Chain(records, prev, findings, torn_tail)


def active_segments(records):
    """{name: seal record} of segments sealed and not pruned, in chain order;
    and {name: prune record} of pruned ones."""
    active, pruned = collections.OrderedDict(), {}
    for record in records:
        if record.get("type") == "seal":
            active[record.get("name")] = record
        elif record.get("type") == "prune":
            for name in record.get("names") or []:
                active.pop(name, None)
                pruned[name] = record
    return active, pruned


def continuity(records):
    """Findings about the kernel serials between consecutive sealed segments.

    Within one boot the next segment's first serial is the previous one's
    last + 1, or the same serial when the rotation fell between the records
    of one event (see _boots). A serial that goes down starts a new boot epoch (the kernel
    counts from 1 again after a reboot): that is no finding. A serial that
    jumps forward means records never reached these logs: lost in the
    kernel (backlog, rate limit), written while auditd was stopped, or a
    segment taken away before it was sealed.
    """
    findings = []
    previous = None
    for record in records:
        if record.get("type") != "seal" or not record.get("first"):
            continue
        if previous is not None:
            last, first = previous["last"]["serial"], record["first"]["serial"]
            if first > last + 1:
                findings.append(finding(
                    "serial_gap", "serial gap between %s and %s: serials %d to %d are in neither" % (
                        previous["name"], record["name"], last + 1, first - 1),
                    segment=record["name"], record=record.get("_line"), severity="warning"))
        previous = record
    return findings


def head_findings(records, expected_head, expected_segments=()):
    """The current chain must extend the head the controller recorded.

    expected_segments are the sealed logs the controller saw at that head
    (its head store keeps them): when the head is gone, those the manifest
    names neither as sealed nor as pruned are what a consistent rewrite took
    away, and the finding names them.

    Every chain extends the empty one: GENESIS is the head of a manifest
    without records, which a first seal with nothing rotated leaves.
    """
    if not expected_head or expected_head == GENESIS:
        return []
    hashes = [r.get("hash") for r in records]
    if expected_head in hashes:
        return []
    active, pruned = active_segments(records)
    gone = [n for n in expected_segments or () if n not in active and n not in pruned]
    message = ("head not found: the recorded head %s is not in the manifest (%d records): "
               "the manifest was rewritten or cut short" % (expected_head, len(records)))
    if gone:
        message += "; sealed logs recorded at that head that the manifest no longer names: %s" % ", ".join(gone)
    return [finding("head_not_found", message, segment=", ".join(gone) or None,
                    expected="chain extends head %s" % expected_head,
                    actual="head %s" % hashes[-1] if hashes else "no records (manifest empty or missing)")]


def decide_rotate(mode, live_size, min_size):
    """Whether to signal auditd: always, never, or auto (the live log holds
    at least min_size bytes; so a second run right after the first finds
    nothing to rotate and nothing to seal, and reports unchanged)."""
    if mode == "never" or live_size is None:
        return False
    if mode == "always":
        return True
    return live_size >= min_size


def check_layout(sealed_dir, manifest, log_file, chain):
    """SealError if the sealed directory or the manifest would put flags where
    auditd rotates (AUDIT-SEMANTICS §8). A subdirectory of the log directory
    is fine: auditd only renames audit.log and audit.log.<N>."""
    sealed = os.path.realpath(sealed_dir)
    log_dir = os.path.realpath(os.path.dirname(log_file))
    chain = set(os.path.realpath(p) for p in chain)
    if sealed == log_dir or log_dir.startswith(sealed.rstrip("/") + "/"):
        raise SealError("sealed_dir %s is auditd's log directory %s or contains it: a and i there stop "
                        "auditd's rotation and logging; use a subdirectory such as %s/sealed"
                        % (sealed_dir, log_dir, log_dir))
    for path in (sealed, os.path.realpath(manifest)):
        if path in chain:
            raise SealError("%s is in auditd's rotation chain; flags there stop logging" % path)
    if os.path.dirname(os.path.realpath(manifest)) == log_dir:
        raise SealError("manifest %s is in auditd's log directory; put it in sealed_dir" % manifest)


# --- pure: does the sealed directory keep what is sealed? --------------------

# Filesystems that keep their files in memory: whatever is sealed there is
# gone at the next reboot.
VOLATILE_FSTYPES = ("tmpfs", "ramfs", "devtmpfs")
# What FS_IOC_GETFLAGS answers on a filesystem without inode flags (/proc,
# /sys, nfs, vfat, ...; AUDIT-SEMANTICS §7). Any other error (EACCES, ...)
# says nothing about the filesystem and is left to the seal itself.
NO_FLAGS_ERRNOS = (errno.ENOTTY, errno.EOPNOTSUPP, errno.ENOSYS)
_VOLATILE_OPTION = "allow_volatile (script: --allow-volatile; seal role: seal_allow_volatile)"


def assess_storage(path, checked, mountinfo, probe, exists=True):
    """What the filesystem of a sealed directory is; pure.

    path: sealed_dir as given (for messages); checked: the directory actually
    looked at, sealed_dir or, when it does not exist yet, its nearest existing
    parent (exists False), symlinks resolved (SealIO.storage_facts); mountinfo: the text of
    /proc/self/mountinfo, or None when it cannot be read; probe: None when
    FS_IOC_GETFLAGS on `checked` answered, else its errno.

    The mount is the longest mount point that is `checked` or one of its
    parents, whole path components only (/var/log is not the mount of
    /var/logs), the later of two mounts on one point (the visible one).

    An overlay is volatile when its upper layer (upperdir), looked up in the
    same table, is on a volatile filesystem: a live system or overlayroot
    keeps its writes in RAM exactly like tmpfs. An upper layer that is not
    in this table (a container's root, mounted in another mount namespace)
    cannot be judged and is not called volatile; every overlay is reported
    as weaker protection (the flags are enforced on the merged view only).

    Returns a dict: path, checked, exists, mount_point, fstype, source (None when
    unknown), volatile (bool), volatile_reason, flags (True, False, or None
    when the probe failed for another reason), flags_error, overlay_upper.
    """
    mounts = parse_mountinfo(mountinfo) if mountinfo is not None else []
    mount = find_mount(mounts, checked)
    info = dict(path=path, checked=checked, exists=exists, mount_point=None, fstype=None, source=None, volatile=False,
                volatile_reason=None, flags=None, flags_error=None, overlay_upper=None)
    if probe is None:
        info["flags"] = True
    else:
        info["flags_error"] = "%s (%s)" % (os.strerror(probe), errno.errorcode.get(probe, probe))
        if probe in NO_FLAGS_ERRNOS:
            info["flags"] = False
    if mount is None:
        return info
    info.update(mount_point=mount.mount_point, fstype=mount.fstype, source=mount.source)
    if mount.fstype in VOLATILE_FSTYPES:
        info.update(volatile=True, volatile_reason="%s keeps its files in memory only" % mount.fstype)
    elif mount.fstype == "overlay":
        upper = upper_dirs(mountinfo).get(mount.mount_point)
        info["overlay_upper"] = upper
        below = find_mount(mounts, upper) if upper else None
        if below is not None and below.mount_point != mount.mount_point and below.fstype in VOLATILE_FSTYPES:
            info.update(volatile=True, volatile_reason="its upper layer %s is on %s mounted at %s, in memory only"
                        % (upper, below.fstype, below.mount_point))
    return info


def storage_verdict(info, allow_volatile=False):
    """(refusal, findings) for assess_storage's dict; pure.

    refusal is the message to fail with (None to go on): a volatile
    filesystem unless allow_volatile, and a filesystem without inode flags
    always (sealing without i and a is not sealing). findings are warnings
    for the result: volatile_storage (allowed), weaker_protection (overlay),
    storage_unknown (the mount table could not be read or has no match).
    """
    where = info["path"]
    if not info["exists"]:
        where = "%s (checked its nearest existing parent %s)" % (info["path"], info["checked"])
    if info["fstype"] is not None:
        on = "on %s mounted at %s (source %s)" % (info["fstype"], info["mount_point"], info["source"])
    else:
        on = "on a filesystem the mount table does not show"
    findings = []
    if info["flags"] is False:
        return ("sealed_dir %s is %s, which cannot hold inode flags (FS_IOC_GETFLAGS on %s: %s): sealing without "
                "i on the logs and a on the directory is not sealing; nothing was changed. Use a directory on "
                "ext4, xfs or btrfs" % (where, on, info["checked"], info["flags_error"]), findings)
    if info["volatile"]:
        text = ("sealed_dir %s is %s: %s, so every sealed log would be gone at the next reboot"
                % (where, on, info["volatile_reason"]))
        if not allow_volatile:
            advice = ("Use a directory on a disk filesystem (the default is %s), or set %s if the directory is "
                      "copied elsewhere before a reboot" % (DEFAULT_SEALED_DIR, _VOLATILE_OPTION))
            return ("%s; nothing was changed. %s" % (text, advice), findings)
        findings.append(finding("volatile_storage", text + " (allowed by allow_volatile)", severity="warning",
                                expected="sealed_dir on a filesystem that survives a reboot",
                                actual="%s at %s" % (info["fstype"], info["mount_point"])))
    if info["fstype"] == "overlay":
        findings.append(finding(
            "weaker_protection", "sealed_dir %s is on overlayfs mounted at %s: append_only and immutable are "
            "enforced on the merged view only and stored as the xattr trusted.overlay.protattr; the files in the "
            "upper layer%s are not protected" % (where, info["mount_point"],
                                                 " (%s)" % info["overlay_upper"] if info["overlay_upper"] else ""),
            severity="warning", expected="sealed_dir on a filesystem with native inode flags",
            actual="overlay at %s" % info["mount_point"]))
    if info["fstype"] is None:
        findings.append(finding(
            "storage_unknown", "the filesystem of sealed_dir %s is unknown (the mount table /proc/self/mountinfo "
            "cannot be read or has no mount for it): whether it survives a reboot was not checked" % where,
            severity="warning"))
    return None, findings


# --- the one place with file system calls -----------------------------------

class SealIO(object):
    """Every call that reads or changes the file system; raises OSError.

    Tests replace or wrap it to inject a crash before any mutating call:
    mkdir, rename, link, unlink, copy, write_new, append, add_flags,
    remove_flags.
    """

    def __init__(self, flags_io=None):
        self.flags_io = flags_io or FlagsIO()

    # reading
    def lstat(self, path):
        try:
            return os.lstat(path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise

    def listdir(self, path):
        return os.listdir(path)

    def read_bytes(self, path):
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except IOError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise

    def segment(self, path):
        """Segment of the regular file at path (read through one descriptor)."""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            digest = hashlib.sha256()
            counted = _Counted(handle, digest)
            first, last = scan(counted)
            size = counted.size
        return Segment(size, digest.hexdigest(), first, last, st.st_dev, st.st_ino, int(st.st_mtime))

    def storage_facts(self, path):
        """(checked, exists, mountinfo, probe) for assess_storage: the only
        reads the storage check makes. checked is path or, when it does not
        exist yet, its nearest existing parent, with symlinks resolved;
        mountinfo the mount table's text (None if it cannot be read); probe
        None when FS_IOC_GETFLAGS on checked answers, else its errno."""
        current = os.path.abspath(path)
        while not os.path.exists(current) and os.path.dirname(current) != current:
            current = os.path.dirname(current)
        checked = os.path.realpath(current)
        try:
            mountinfo = self.flags_io.mountinfo()
        except (IOError, OSError):
            mountinfo = None
        probe = None
        try:
            self.get_flags(checked)
        except OSError as exc:
            probe = exc.errno
        return checked, checked == os.path.realpath(path), mountinfo, probe

    def get_flags(self, path):
        fd = self.flags_io.open(path)
        try:
            return self.flags_io.get(fd)
        finally:
            self.flags_io.close(fd)

    @contextlib.contextmanager
    def lock(self, path, wait=0.0, clock=time.time, sleep=time.sleep):
        """Hold an exclusive flock on path; wait up to `wait` seconds for
        another seal (the two timers, or a timer and the module) to finish."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            deadline = clock() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except (IOError, OSError) as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if clock() >= deadline:
                        raise SealError("another seal is running (lock %s held for %g s)" % (path, wait))
                    sleep(0.2)
            yield
        finally:
            os.close(fd)

    # changing
    def mkdir(self, path):
        os.mkdir(path, 0o700)
        self.fsync_dir(os.path.dirname(path))

    def rename(self, src, dst):
        os.rename(src, dst)
        self.fsync_dir(os.path.dirname(dst))
        if os.path.dirname(src) != os.path.dirname(dst):
            self.fsync_dir(os.path.dirname(src))

    def link(self, src, dst):
        os.link(src, dst)
        self.fsync_dir(os.path.dirname(dst))

    def unlink(self, path):
        os.unlink(path)
        self.fsync_dir(os.path.dirname(path))

    def copy(self, src, dst):
        """Copy src to a new dst (O_EXCL), data fsynced, mode kept."""
        with open(src, "rb") as source:
            mode = os.fstat(source.fileno()).st_mode & 0o7777
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
            with os.fdopen(fd, "wb") as target:
                while True:
                    chunk = source.read(_CHUNK)
                    if not chunk:
                        break
                    target.write(chunk)
                target.flush()
                os.fsync(target.fileno())

    def write_new(self, path, data):
        """Write a staging file whole: temp file, fsync, rename."""
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
        self.fsync_dir(os.path.dirname(path))

    def append(self, path, data):
        """Append with O_APPEND, which an append-only (+a) file allows."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)

    def add_flags(self, path, mask):
        return self._change(path, mask, 0)

    def remove_flags(self, path, mask):
        return self._change(path, 0, mask)

    def _change(self, path, add, remove):
        st = os.lstat(path)
        target = Target(path, path, stat.S_ISDIR(st.st_mode), st.st_ino)
        fd = self.flags_io.open(path)
        try:
            current = self.flags_io.get(fd)
            steps = plan(current, add, remove, target.is_dir)
            if not steps:
                return current
            return apply_plan(self.flags_io, fd, target, current, steps)
        finally:
            self.flags_io.close(fd)

    def fsync_dir(self, path):
        fd = os.open(path or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Counted(object):
    """Lines passed through to scan() while hashing and counting them."""

    def __init__(self, lines, digest):
        self._lines = lines
        self._digest = digest
        self.size = 0

    def __iter__(self):
        for line in self._lines:
            self._digest.update(line)
            self.size += len(line)
            yield line


def signal_auditd(pid_files=PID_FILES, kill=os.kill, read=None):
    """Send SIGUSR1 (rotate) to the running auditd, found by its pid file and
    checked by /proc/<pid>/comm so that a stale pid file never signals
    another process."""
    read = read or _read_small
    for pid_file in pid_files:
        text = read(pid_file)
        if text is None:
            continue
        try:
            pid = int(text.strip())
        except ValueError:
            raise SealError("%s does not hold a pid: %r" % (pid_file, text[:40]))
        comm = read("/proc/%d/comm" % pid)
        if comm is None or comm.strip() != "auditd":
            raise SealError("%s names pid %d, which is not auditd (%r): auditd is not running, so no rotation"
                            % (pid_file, pid, (comm or "").strip()))
        kill(pid, _signal.SIGUSR1)
        return pid
    raise SealError("auditd is not running (no pid file %s), so the log cannot be rotated; "
                    "set rotate=never to seal what is already rotated" % " or ".join(pid_files))


def _read_small(path):
    try:
        with open(path) as handle:
            return handle.read(256)
    except (IOError, OSError):
        return None


# --- sealing -----------------------------------------------------------------

class _Run(object):
    """One seal or verify run: paths, the IO, and what it did."""

    def __init__(self, sealed_dir, manifest, io, clock):
        self.sealed_dir = sealed_dir
        self.manifest = manifest or os.path.join(sealed_dir, MANIFEST_NAME)
        self.staging = os.path.join(sealed_dir, STAGING)
        self.io = io
        self.clock = clock
        self.result = dict(rotated=False, sealed=[], repaired=[], discarded=[], pruned=[],
                           flags_set=[], pending=[], findings=[], changed=False)
        self._chain = None

    def sealed(self, name):
        return os.path.join(self.sealed_dir, name)

    def staged(self, name):
        return os.path.join(self.staging, name)

    def chain(self):
        if self._chain is None:
            self._chain = parse_chain(self.io.read_bytes(self.manifest) or b"")
        return self._chain

    def did(self, key, value):
        self.result[key].append(value)
        self.result["changed"] = True

    def append(self, kind, **fields):
        chain = self.chain()
        if chain.torn_tail is not None:
            # A crash tore the last append: end that line, and account for it.
            self.io.append(self.manifest, b"\n")
            torn = make_record(chain.head, len(chain.records) + 1, "torn", self.clock(), length=len(chain.torn_tail),
                               sha256=hashlib.sha256(chain.torn_tail).hexdigest())
            self.io.append(self.manifest, record_line(torn))
            self.did("repaired", "manifest: ended a torn last line and appended a torn record for it")
            self._chain = None
            chain = self.chain()
        record = make_record(chain.head, len(chain.records) + 1, kind, self.clock(), **fields)
        self.io.append(self.manifest, record_line(record))
        self._chain = None
        return record


def _flag_ok(io, path, mask):
    try:
        return io.get_flags(path) & mask == mask
    except OSError:
        return False


def seal(sealed_dir, log_file=DEFAULT_LOG_FILE, manifest=None, num_logs=None, rotate="auto",
         min_size=DEFAULT_MIN_SIZE, prune=(), prune_reason=None, check=False, signal_fn=None, io=None,
         clock=time.time, sleep=time.sleep, timeout=DEFAULT_TIMEOUT, lock_wait=DEFAULT_LOCK_WAIT,
         allow_volatile=False):
    """Rotate (maybe), move every rotated log out of the chain, seal and record it.

    One seal runs at a time (a flock in .staging); a second one waits up to
    lock_wait seconds for it.

    Returns a dict: changed, rotated, sealed [{name, size, sha256, first,
    last}], repaired [text], discarded [empty rotated files removed],
    pruned [names], flags_set [paths], pending (check mode: what would be
    sealed), head, records, findings, storage (assess_storage's dict).
    Raises SealError.

    Before anything changes (in check mode too) the sealed directory's
    filesystem is checked (assess_storage, storage_verdict): volatile
    (tmpfs, ramfs, devtmpfs, an overlay over one) is refused unless
    allow_volatile, then it is a volatile_storage finding; one without inode
    flags is always refused.
    """
    io = io or SealIO()
    run = _Run(sealed_dir, manifest, io, clock)
    conf = {"log_file": log_file}
    if num_logs is not None:
        conf["num_logs"] = str(num_logs)
    paths = log_paths(conf, listdir=_lister(io))
    check_layout(sealed_dir, run.manifest, paths.log_file, paths.chain)
    checked, exists, mountinfo, probe = io.storage_facts(sealed_dir)
    storage = assess_storage(sealed_dir, checked, mountinfo, probe, exists)
    refusal, warnings = storage_verdict(storage, allow_volatile)
    if refusal is not None:
        raise SealError(refusal)
    run.result["storage"] = storage
    run.result["findings"].extend(warnings)
    live = io.lstat(paths.log_file)
    wants_rotation = decide_rotate(rotate, live.st_size if live is not None else None, min_size)
    if wants_rotation and num_logs is not None and int(num_logs) < 2:
        raise SealError("num_logs is %s in auditd.conf: auditd keeps no rotated file below 2, so nothing can be "
                        "sealed; set num_logs to 2 or more" % num_logs)
    if check:
        return _check(run, paths, wants_rotation, prune)
    try:
        _prepare(run)
        with io.lock(run.staged("lock"), lock_wait, clock, sleep):
            _reconcile(run)
            if wants_rotation:
                _rotate(run, paths.log_file, signal_fn or signal_auditd, sleep, clock, timeout)
            _take_all(run, paths.log_file)
            _seal_staged(run)
            if prune:
                _prune(run, list(prune), prune_reason)
            _protect(run)
    except OSError as exc:
        raise SealError("%s: %s; %s" % (getattr(exc, "filename", None) or sealed_dir, os.strerror(exc.errno or 0),
                                        _summary(run.result)))
    except (SealError, FlagsError) as exc:
        raise SealError("%s; %s" % (exc, _summary(run.result)))
    chain = run.chain()
    run.result.update(head=chain.head, records=len(chain.records))
    return run.result


def _summary(result):
    done = []
    for key in ("sealed", "repaired", "discarded", "pruned", "flags_set"):
        if result[key]:
            items = [i["name"] if isinstance(i, dict) else i for i in result[key]]
            done.append("%s: %s" % (key, ", ".join(items)))
    if result["rotated"]:
        done.insert(0, "auditd was rotated")
    return "already done: " + ("; ".join(done) if done else "nothing") + \
        ". Run again: an interrupted seal is completed from where it stopped"


def _lister(io):
    def listdir(path):
        return io.listdir(path)
    return listdir


def _rotated(io, log_file):
    """[(N, path)] of rotated files, oldest (highest N) first."""
    directory, base = os.path.split(log_file)
    pattern = re.compile(re.escape(base) + r"\.([0-9]+)$")
    try:
        names = io.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        match = pattern.match(name)
        if match and int(match.group(1)) >= 1:
            found.append((int(match.group(1)), os.path.join(directory, name)))
    return sorted(found, reverse=True)


def _check(run, paths, wants_rotation, prune):
    """What a seal would do, without doing it."""
    io, result = run.io, run.result
    result["rotated"] = wants_rotation
    for _n, path in _rotated(io, paths.log_file):
        result["pending"].append(path)
    if io.lstat(run.staging) is not None:
        for name in sorted(io.listdir(run.staging)):
            if _TAKE.match(name) or name.startswith("intent-"):
                result["pending"].append(run.staged(name))
    for path in (run.sealed_dir, run.manifest):
        if io.lstat(path) is None or not _flag_ok(io, path, APPEND):
            result["flags_set"].append(path)
    chain = run.chain()
    active, _pruned = active_segments(chain.records)
    result["pruned"] = [name for name in prune if name in active]
    result["changed"] = bool(wants_rotation or result["pending"] or result["flags_set"] or result["pruned"])
    result.update(head=chain.head, records=len(chain.records))
    return result


def _prepare(run):
    """The directories and flags, before the lock (which lives in .staging);
    a seal starting at the same moment may create them first."""
    io = run.io
    for path in (run.sealed_dir, run.staging):
        if io.lstat(path) is None:
            try:
                io.mkdir(path)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
            run.result["changed"] = True
    _protect(run)


def _protect(run):
    """+a on the sealed directory and the manifest (created empty if need be)."""
    io = run.io
    if io.lstat(run.manifest) is None:
        io.append(run.manifest, b"")
        run.result["changed"] = True
    for path in (run.sealed_dir, run.manifest):
        if not io.get_flags(path) & APPEND:
            io.add_flags(path, APPEND)
            if path not in run.result["flags_set"]:
                run.did("flags_set", path)


def _rotate(run, log_file, signal_fn, sleep, clock, timeout):
    """SIGUSR1, then wait (bounded) until audit.log.1 is the former live log."""
    io = run.io
    before = io.lstat(log_file)
    if before is None:
        return
    signal_fn()
    run.result["rotated"] = True
    run.result["changed"] = True
    deadline = clock() + timeout
    while True:
        now = io.lstat(log_file + ".1")
        if now is not None and (now.st_dev, now.st_ino) == (before.st_dev, before.st_ino):
            return
        if clock() >= deadline:
            raise SealError("auditd was sent SIGUSR1 but %s.1 is not the former %s after %g s: check auditd "
                            "(journalctl -u auditd) and its log directory" % (log_file, log_file, timeout))
        sleep(0.1)


def _take_all(run, log_file):
    """Move every rotated file out of the chain into staging (T0 -> T1)."""
    io = run.io
    staging_dev = io.lstat(run.staging).st_dev
    for _n, path in _rotated(io, log_file):
        st = io.lstat(path)
        if st is None or not stat.S_ISREG(st.st_mode):
            continue
        target = run.staged("take-%d-%d" % (st.st_dev, st.st_ino))
        if st.st_dev == staging_dev:
            if io.lstat(target) is None:
                try:
                    io.rename(path, target)
                except OSError as exc:
                    if exc.errno == errno.ENOENT:     # auditd rotated it away meanwhile
                        continue
                    if exc.errno != errno.EXDEV:
                        raise
                    # One device number, two mounts (a bind mount, a systemd
                    # unit's ReadWritePaths=): rename cannot cross, copy does.
                    _take_across(run, path, st, target)
            continue
        _take_across(run, path, st, target)


def _take_across(run, path, st, target):
    """Another file system: copy, fsync, publish in staging, then unlink the
    source only while it is still the inode that was copied."""
    io = run.io
    if io.lstat(target) is None:
        part = target + ".part"
        if io.lstat(part) is not None:
            io.unlink(part)
        io.copy(path, part)
        io.rename(part, target)
    source, copied = io.segment(path), io.segment(target)
    if (source.size, source.sha256) != (copied.size, copied.sha256):
        raise SealError("copy of %s in %s differs from the source; the source was kept" % (path, target))
    now = io.lstat(path)
    if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
        io.unlink(path)


def _intent_path(run, staged_name):
    return run.staged("intent-%s.json" % staged_name)


def _read_intent(run, path):
    try:
        return json.loads((run.io.read_bytes(path) or b"").decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None


def _reconcile(run):
    """Carry every interrupted segment on from the state it is in."""
    io = run.io
    for name in sorted(io.listdir(run.staging)):
        if name.endswith(".tmp") or name.endswith(".part"):
            io.unlink(run.staged(name))         # never published: its source is still there
            continue
        if not (name.startswith("intent-") and name.endswith(".json")):
            continue
        intent = _read_intent(run, run.staged(name))
        if intent is None:
            io.unlink(run.staged(name))         # torn before its rename: T1, start again
            continue
        _finish(run, intent, run.staged(name), repair=True)
    _finish_prunes(run)


def _finish(run, intent, intent_path, repair=False):
    """T2 -> T7 for one segment, from whichever state it is in."""
    io = run.io
    staged = run.staged(intent["staged"])
    final = run.sealed(intent["name"])
    st_staged, st_final = io.lstat(staged), io.lstat(final)
    note = []
    if st_staged is not None and st_final is None:                      # T2
        io.link(staged, final)
        st_final = io.lstat(final)
        note.append("linked")
    if st_staged is not None:
        if (st_staged.st_dev, st_staged.st_ino) == (st_final.st_dev, st_final.st_ino):   # T3
            io.unlink(staged)
            note.append("unstaged")
        else:
            # The final name holds another file: keep both, choose a new name.
            io.unlink(intent_path)
            run.result["repaired"].append("%s: the name was taken meanwhile, sealing it again" % intent["staged"])
            return None
    if st_final is None:
        raise SealError("%s is neither staged (%s) nor sealed; the intent %s is kept for inspection"
                        % (intent["name"], staged, intent_path))
    active, _pruned = active_segments(run.chain().records)
    record = active.get(intent["name"])
    if record is None:                                                  # T4
        now = io.segment(final)
        if (now.size, now.sha256) != (intent["size"], intent["sha256"]):
            raise SealError(
                "%s changed between its move and its record (size %d, sha256 %s; the intent %s says %d, %s): "
                "not recorded; inspect it" % (final, now.size, now.sha256, intent_path, intent["size"], intent["sha256"]))
        record = run.append("seal", name=intent["name"], size=intent["size"], sha256=intent["sha256"],
                            first=intent["first"], last=intent["last"])
        note.append("recorded")
    if not io.get_flags(final) & IMMUTABLE:                             # T5
        io.add_flags(final, IMMUTABLE)
        note.append("made immutable")
    io.unlink(intent_path)                                              # T6 -> T7
    entry = dict((k, record[k]) for k in ("name", "size", "sha256", "first", "last"))
    if repair:
        run.did("repaired", "%s: %s" % (intent["name"], ", ".join(note + ["intent done"])))
    else:
        run.did("sealed", entry)
    return entry


def _seal_staged(run):
    """T1 -> T7 for every staged file, oldest events first."""
    io = run.io
    staged = []
    for name in io.listdir(run.staging):
        if _TAKE.match(name):
            staged.append((name, io.segment(run.staged(name))))

    def order(item):
        seg = item[1]
        if seg.first is None:
            return (seg.mtime, 0, 0)
        return (seg.first.sec, seg.first.ms, seg.first.serial)
    for name, seg in sorted(staged, key=order):
        if seg.size == 0:
            io.unlink(run.staged(name))
            run.did("discarded", name)
            continue
        active, _pruned = active_segments(run.chain().records)
        same = [r for r in active.values() if (r["size"], r["sha256"]) == (seg.size, seg.sha256)]
        if same:
            # Identical bytes are sealed already (a copy whose source survived
            # a crash): sealing them again would double-seal.
            io.unlink(run.staged(name))
            run.did("repaired", "%s: identical to sealed %s, removed from staging" % (name, same[0]["name"]))
            continue
        final = unique_name(segment_name(seg.first, seg.last, seg.sha256),
                            lambda n: io.lstat(run.sealed(n)) is not None or n in active)
        intent = dict(staged=name, name=final, size=seg.size, sha256=seg.sha256,
                      first=event_dict(seg.first), last=event_dict(seg.last))
        path = _intent_path(run, name)
        io.write_new(path, canonical(intent).encode("ascii"))
        if _finish(run, intent, path) is None:
            _seal_staged(run)
            return


def _prune(run, names, reason):
    """Record, then remove, sealed segments: the record says they are gone on
    purpose, so verification passes and the removal stays visible."""
    active, pruned = active_segments(run.chain().records)
    unknown = [n for n in names if n not in active and n not in pruned]
    if unknown:
        raise SealError("cannot prune %s: not sealed segments in %s" % (", ".join(unknown), run.manifest))
    todo = [n for n in names if n in active]
    if todo:
        run.append("prune", names=todo, reason=reason or "")
        run.result["changed"] = True
    _finish_prunes(run, report=todo)


def _finish_prunes(run, report=()):
    """Remove files that a prune record names and that still exist."""
    io = run.io
    _active, pruned = active_segments(run.chain().records)
    left = [n for n in sorted(pruned) if io.lstat(run.sealed(n)) is not None]
    if not left:
        for name in report:
            run.did("pruned", name)
        return
    io.remove_flags(run.sealed_dir, APPEND)
    try:
        for name in left:
            io.remove_flags(run.sealed(name), IMMUTABLE)
            io.unlink(run.sealed(name))
            if name in report:
                run.did("pruned", name)
            else:
                run.did("repaired", "%s: pruned in the manifest, removed now" % name)
    finally:
        io.add_flags(run.sealed_dir, APPEND)


# --- verifying ---------------------------------------------------------------

def verify(sealed_dir, manifest=None, expected_head=None, io=None, flags=True, expected_segments=()):
    """Check the seal; read only. Returns dict(ok, head, records, segments,
    findings, boots, sealed_logs, pruned_logs). ok is False when any finding
    has severity error.

    flags=False leaves out the a and i checks: for a copy (shipped to the
    controller), where the flags are not kept; everything else, the chain,
    the head and every digest, is checked the same (a pruned log the copy
    still holds is archived, not unfinished). sealed_logs lists the
    active segments (name, size, sha256, first, last) in chain order, which
    is what a ship fetches; pruned_logs the names pruned on purpose.
    """
    io = io or SealIO()
    run = _Run(sealed_dir, manifest, io, time.time)
    findings = []
    data = io.read_bytes(run.manifest)
    if data is None:
        findings.append(finding("manifest_missing", "manifest %s does not exist" % run.manifest))
        data = b""
    chain = parse_chain(data)
    findings.extend(chain.findings)
    if chain.torn_tail is not None:
        findings.append(finding("torn_tail", "the manifest's last line is unterminated (a seal was interrupted; "
                                "the next seal repairs it)", severity="warning"))
    active, pruned = active_segments(chain.records)
    for name, record in active.items():
        findings.extend(_check_segment(io, run.sealed(name), name, record, flags))
    # In a copy (flags=False) a pruned log that is still there is the archive
    # keeping what the host let go: the reason it was shipped, no finding.
    for name in pruned if flags else ():
        if io.lstat(run.sealed(name)) is not None:
            findings.append(finding("prune_unfinished", "%s is pruned in the manifest but still present (the next "
                                    "seal removes it)" % name, segment=name, severity="warning"))
    findings.extend(continuity(chain.records))
    findings.extend(head_findings(chain.records, expected_head, expected_segments))
    for path, what in ((run.sealed_dir, "sealed directory"), (run.manifest, "manifest")) if flags else ():
        if io.lstat(path) is not None and not _flag_ok(io, path, APPEND):
            findings.append(finding("flag_missing", "the %s %s is not append-only (a)" % (what, path), segment=None,
                                    expected="%s +a" % path, actual="%s without a" % path))
    findings.extend(_strays(run, io, active, pruned))
    return dict(ok=not any(f["severity"] == "error" for f in findings), head=chain.head,
                records=len(chain.records), segments=len(active), findings=findings,
                boots=1 + _boots(chain.records) if active else 0,
                sealed_logs=[dict((k, r.get(k)) for k in ("name", "size", "sha256", "first", "last"))
                             for r in active.values()],
                pruned_logs=sorted(pruned))


def _check_segment(io, path, name, record, flags=True):
    st = io.lstat(path)
    if st is None:
        return [finding("missing", "%s is missing (sealed in manifest line %s)" % (name, record.get("_line")),
                        segment=name, record=record.get("_line"), expected="%s present" % name,
                        actual="%s absent" % name)]
    seg = io.segment(path)
    found = []
    if seg.size < record["size"]:
        found.append(finding("truncated", "%s is truncated: %d bytes, sealed with %d" % (name, seg.size, record["size"]),
                             segment=name, record=record.get("_line"), expected="%d bytes" % record["size"],
                             actual="%d bytes" % seg.size))
    elif seg.size != record["size"]:
        found.append(finding("size_mismatch", "%s has %d bytes, sealed with %d" % (name, seg.size, record["size"]),
                             segment=name, record=record.get("_line"), expected="%d bytes" % record["size"],
                             actual="%d bytes" % seg.size))
    if seg.sha256 != record["sha256"]:
        found.append(finding("digest_mismatch", "%s does not match its sealed sha256 (%s, now %s)"
                             % (name, record["sha256"], seg.sha256), segment=name, record=record.get("_line"),
                             expected="sha256 %s" % record["sha256"], actual="sha256 %s" % seg.sha256))
    if flags and not _flag_ok(io, path, IMMUTABLE):
        found.append(finding("flag_missing", "%s is not immutable (i)" % name, segment=name,
                             record=record.get("_line"), expected="%s +i" % name, actual="%s without i" % name))
    return found


def _strays(run, io, active, pruned):
    found = []
    for name in sorted(io.listdir(run.sealed_dir)) if io.lstat(run.sealed_dir) is not None else []:
        path = run.sealed(name)
        if name == STAGING or path == run.manifest or name in active or name in pruned:
            continue
        found.append(finding("unrecorded", "%s is in the sealed directory but not in the manifest" % name,
                             segment=name, severity="warning"))
    if io.lstat(run.staging) is not None:
        for name in sorted(io.listdir(run.staging)):
            if _TAKE.match(name) or name.startswith("intent-"):
                found.append(finding("pending", "%s waits in %s (an interrupted seal; the next seal finishes it)"
                                     % (name, run.staging), segment=name, severity="warning"))
    return found


def _boots(records):
    """Serial decreases between consecutive seal records (new boot epochs).

    An equal serial is the same event: auditd writes an event record by
    record, so a rotation can fall between the records of one event (seen
    with auditd 3.0.9: SYSCALL in one log, its CWD and PATH in the next).
    """
    count, last = 0, None
    for record in records:
        if record.get("type") != "seal" or not record.get("first"):
            continue
        if last is not None and record["first"]["serial"] < last:
            count += 1
        last = record["last"]["serial"]
    return count


# --- script entry ------------------------------------------------------------

def main(argv=None, io=None, signal_fn=None, out=None):
    """Command line for the on-host timer (the seal role installs this file
    with _flags.py and _auditd_conf.py in one directory):

        python3 _seal.py seal [--sealed-dir D] [--manifest M] [--auditd-conf C]
                              [--log-file F] [--rotate auto|always|never] [--min-size BYTES]
                              [--lock-wait SECONDS] [--allow-volatile]
        python3 _seal.py verify [--sealed-dir D] [--manifest M] [--expected-head H] [--no-flags]

    --no-flags verifies a copy without its a and i flags (playbooks/seal_ship.yml
    runs it on the controller on the shipped logs). --allow-volatile seals into
    a sealed directory on tmpfs (or another volatile filesystem) with a warning
    instead of refusing (seal(allow_volatile)); warnings also go to stderr.
    Prints the result as JSON. Exit 0: done / verified clean; 1: verify
    found errors; 2: failure (message on stderr).
    """
    import argparse
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="_seal.py", description="Seal and verify finished audit logs.")
    parser.add_argument("job", choices=["seal", "verify"])
    parser.add_argument("--sealed-dir", default=DEFAULT_SEALED_DIR)
    parser.add_argument("--manifest")
    parser.add_argument("--auditd-conf", default="/etc/audit/auditd.conf")
    parser.add_argument("--log-file")
    parser.add_argument("--rotate", choices=["auto", "always", "never"], default="auto")
    parser.add_argument("--min-size", type=int, default=DEFAULT_MIN_SIZE)
    parser.add_argument("--lock-wait", type=float, default=DEFAULT_LOCK_WAIT,
                        help="seconds to wait for another seal to finish")
    parser.add_argument("--allow-volatile", action="store_true",
                        help="seal: a sealed directory on tmpfs, ramfs or devtmpfs is a warning, not a refusal")
    parser.add_argument("--expected-head")
    parser.add_argument("--no-flags", dest="flags", action="store_false",
                        help="verify a copy: leave out the a and i checks (a copy keeps no flags)")
    args = parser.parse_args(argv)
    try:
        if args.job == "verify":
            result = verify(args.sealed_dir, args.manifest, args.expected_head, io=io, flags=args.flags)
        else:
            conf = read_settings(args.auditd_conf)
            result = seal(args.sealed_dir, args.log_file or conf.get("log_file") or DEFAULT_LOG_FILE,
                          args.manifest, conf.get("num_logs"), args.rotate, args.min_size, io=io,
                          signal_fn=signal_fn, lock_wait=args.lock_wait, allow_volatile=args.allow_volatile)
            for warning in result["findings"]:
                sys.stderr.write("seal: warning: %s\n" % warning["message"])
    except (SealError, AuditdConfError, FlagsError, OSError) as exc:
        sys.stderr.write("seal: %s\n" % exc)
        return 2
    out.write(json.dumps(result, sort_keys=True) + "\n")
    return 1 if args.job == "verify" and not result["ok"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
