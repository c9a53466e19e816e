# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inode flags (what chattr sets and lsattr shows) without a subprocess per file.

Pure parts: the flag table, parsing user input, rendering lsattr's short
form, the planner, the mountinfo parser and the directory walk's shape.
Every system call on an inode goes through FlagsIO, the one class tests
replace with a fake.

Rules this follows (AUDIT-SEMANTICS §7):
- flags are only ever changed one bit at a time on the value just read from
  the kernel; the whole word is never replaced from user input, because that
  is how `chattr =a` loses `e` and other flags it was not told about;
- on ext4 an `i` inode refuses every other flag change, so `i` is cleared
  first and set again last, and a failed step undoes the earlier ones so a
  file never ends up less protected than it was.
"""

import collections
import errno
import fcntl
import os
import platform
import re
import stat
import struct

Flag = collections.namedtuple("Flag", "letter name mask settable dir_only")

# lsattr's column order (e2fsprogs lib/e2p/pf.c, 22 columns) with the
# kernel's FS_*_FL bits (include/uapi/linux/fs.h). `dir_only` flags are
# masked away by ext4 on regular files (EXT4_REG_FLMASK): planning them for
# a file would promise a change the kernel silently drops. The read-only
# ones are set by the filesystem itself; FS_IOC_SETFLAGS ignores or refuses
# them, so asking for them is an input error.
FLAGS = (
    Flag("s", "secure_deletion", 0x00000001, True, False),
    Flag("u", "undeletable", 0x00000002, True, False),
    Flag("S", "synchronous_updates", 0x00000008, True, False),
    Flag("D", "synchronous_directory_updates", 0x00010000, True, True),
    Flag("i", "immutable", 0x00000010, True, False),
    Flag("a", "append_only", 0x00000020, True, False),
    Flag("d", "no_dump", 0x00000040, True, False),
    Flag("A", "no_atime", 0x00000080, True, False),
    Flag("c", "compressed", 0x00000004, True, False),
    Flag("E", "encrypted", 0x00000800, False, False),
    Flag("j", "data_journalling", 0x00004000, True, False),
    Flag("I", "indexed", 0x00001000, False, False),
    Flag("t", "no_tail_merging", 0x00008000, True, False),
    Flag("T", "top_of_directory_hierarchy", 0x00020000, True, True),
    Flag("e", "extents", 0x00080000, True, False),
    Flag("C", "no_copy_on_write", 0x00800000, True, False),
    Flag("x", "dax", 0x02000000, True, False),
    Flag("F", "casefold", 0x40000000, True, True),
    Flag("N", "inline_data", 0x10000000, False, False),
    Flag("P", "project_hierarchy", 0x20000000, True, True),
    Flag("V", "verity", 0x00100000, False, False),
    Flag("m", "no_compression", 0x00000400, True, False),
)
BY_LETTER = dict((f.letter, f) for f in FLAGS)
BY_NAME = dict((f.name, f) for f in FLAGS)
IMMUTABLE = BY_LETTER["i"].mask
APPEND = BY_LETTER["a"].mask
# The flags that protect content: what the audit-log guard and the
# overlayfs warning are about.
PROTECTIVE = IMMUTABLE | APPEND
DIR_ONLY = sum(f.mask for f in FLAGS if f.dir_only)
# Adds are applied `a` first and removes `a` last so that, between steps,
# a file is never less protected than at either end.
_ADD_ORDER = sorted(FLAGS, key=lambda f: f.mask != APPEND)
_REMOVE_ORDER = sorted(FLAGS, key=lambda f: f.mask == APPEND)


class FlagsError(Exception):
    """Any failure about flags: bad input, or a refused system call.

    The module turns it into one fail_json; str() is the whole message.
    `mount` (a Mount) is set when a system call failed, so callers and
    tests need not parse the message for the filesystem.
    """

    def __init__(self, msg, path=None, errno_=None, mount=None):
        super(FlagsError, self).__init__(msg)
        self.path = path
        self.errno = errno_
        self.mount = mount


def parse_flags(items):
    """Return the mask for a list of flag letters and/or names.

    Each item is one letter (case matters: `a` is append_only, `A` is
    no_atime) or one name (case does not matter); commas separate items too.
    Strings of several letters such as `ai` are refused rather than guessed,
    because some names read as letters (`dax` is x, not d+a+x).
    """
    mask = 0
    for item in items:
        for word in str(item).split(","):
            word = word.strip()
            if not word:
                continue
            flag = BY_LETTER.get(word) or BY_NAME.get(word.lower())
            if flag is None:
                raise FlagsError(
                    "unknown flag %r: use one lsattr letter or name per item, one of %s"
                    % (word, ", ".join("%s (%s)" % (f.letter, f.name) for f in FLAGS if f.settable)))
            if not flag.settable:
                raise FlagsError(
                    "flag %s (%s) is set by the filesystem itself and cannot be changed with chattr"
                    % (flag.letter, flag.name))
            mask |= flag.mask
    if not mask:
        raise FlagsError("flags is empty: name at least one flag")
    return mask


_RENDERED = {}


def render(mask):
    """lsattr's short form: 22 columns, a letter where the flag is set."""
    # Memoised: a large tree repeats a few words thousands of times.
    text = _RENDERED.get(mask)
    if text is None:
        text = _RENDERED[mask] = "".join(f.letter if mask & f.mask else "-" for f in FLAGS)
    return text


def describe(mask):
    """`a (append_only), i (immutable)` for messages."""
    return ", ".join("%s (%s)" % (f.letter, f.name) for f in FLAGS if mask & f.mask)


def plan(current, add=0, remove=0, is_dir=True):
    """Return the ordered single-bit steps [(mask, on), ...] from current to
    (current | add) & ~remove, with no step for a bit already right.

    ext4 refuses any change on an `i` inode other than clearing `i`
    (ext4_ioctl_check_immutable), so: an `i` being removed goes first, an `i`
    being added goes last, and an `i` that stays is cleared around the other
    steps and set again at the end.
    """
    if add & remove:
        raise ValueError("flags both added and removed: %s" % describe(add & remove))
    if not is_dir:
        add &= ~DIR_ONLY
    adds = add & ~current
    removes = remove & current
    middle = [(f.mask, True) for f in _ADD_ORDER if adds & ~IMMUTABLE & f.mask]
    middle += [(f.mask, False) for f in _REMOVE_ORDER if removes & ~IMMUTABLE & f.mask]
    if removes & IMMUTABLE:
        return [(IMMUTABLE, False)] + middle
    if adds & IMMUTABLE:
        return middle + [(IMMUTABLE, True)]
    if current & IMMUTABLE and middle:
        return [(IMMUTABLE, False)] + middle + [(IMMUTABLE, True)]
    return middle


def step(value, change):
    """The flags word after one (mask, on) step."""
    mask, on = change
    return value | mask if on else value & ~mask


def outcome(current, steps):
    """The flags word after all steps."""
    for change in steps:
        current = step(current, change)
    return current


# --- mount table -------------------------------------------------------------

Mount = collections.namedtuple("Mount", "mount_point fstype source")
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field):
    # The kernel escapes space, tab, newline and backslash as \ooo.
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text):
    """Mounts from /proc/self/mountinfo, in file order (later ones are on top).

    Line format (proc(5)): id parent major:minor root mount_point options
    [optional fields...] - fstype source super_options
    """
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        mounts.append(Mount(_unescape(fields[4]), fields[sep + 1], _unescape(fields[sep + 2])))
    return mounts


def upper_dirs(text):
    """{mount_point: upperdir} of the overlay mounts in mountinfo text (a
    later mount on one point wins). The kernel escapes a comma in an option
    value as \\054, so splitting the super options on commas is safe."""
    uppers = {}
    for line in text.splitlines():
        fields = line.split(" ")
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        if fields[sep + 1] != "overlay" or len(fields) <= sep + 3:
            continue
        for option in fields[sep + 3].split(","):
            if option.startswith("upperdir="):
                uppers[_unescape(fields[4])] = _unescape(option[len("upperdir="):])
    return uppers


def _under(path, mount_point):
    return mount_point == "/" or path == mount_point or path.startswith(mount_point + "/")


def find_mount(mounts, path):
    """The mount an absolute, resolved path lives on (None if none matches)."""
    best = None
    for mount in mounts:
        # >= so that of two mounts on one point the later (visible) one wins
        if _under(path, mount.mount_point) and (
                best is None or len(mount.mount_point) >= len(best.mount_point)):
            best = mount
    return best


def touched_mounts(mounts, path, recurse):
    """Mounts a change on path reaches: its own, and with recurse every mount
    below it, since the walk crosses mount points like chattr -R does."""
    found = [find_mount(mounts, path)]
    if recurse:
        found += [m for m in mounts if m.mount_point != path and _under(m.mount_point, path)]
    return [m for m in found if m is not None]


# --- the one place with system calls on inodes -------------------------------

def ioctl_numbers(machine, long_size):
    """(FS_IOC_GETFLAGS, FS_IOC_SETFLAGS) for a CPU architecture.

    They are declared _IOR/_IOW('f', 1/2, long), so the number encodes
    sizeof(long) although the kernel reads and writes an int. alpha, mips,
    powerpc and sparc lay the direction bits out differently.
    """
    if machine.startswith(("alpha", "mips", "ppc", "powerpc", "sparc")):
        read, write, dir_shift = 2, 4, 29
    else:
        read, write, dir_shift = 2, 1, 30
    base = (long_size << 16) | (ord("f") << 8)
    return (read << dir_shift) | base | 1, (write << dir_shift) | base | 2


FS_IOC_GETFLAGS, FS_IOC_SETFLAGS = ioctl_numbers(platform.machine(), struct.calcsize("l"))
# The kernel's flags argument is an unsigned int, whatever the number says.
_INT = struct.Struct("I")
_ZERO = _INT.pack(0)
# O_NONBLOCK: opening a FIFO or device never hangs if one slips in by a
# race; O_NOFOLLOW: a symlink swapped in after the checks is refused (ELOOP)
# instead of followed. Read-only is enough for both ioctls.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class FlagsIO(object):
    """open/close, FS_IOC_GETFLAGS/SETFLAGS and the mount table; raises OSError."""

    def open(self, path):
        return os.open(path, _OPEN_FLAGS)

    def close(self, fd):
        os.close(fd)

    def get(self, fd):
        return _INT.unpack(fcntl.ioctl(fd, FS_IOC_GETFLAGS, _ZERO))[0]

    def set(self, fd, value):
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, _INT.pack(value))

    def mountinfo(self):
        with open("/proc/self/mountinfo") as f:
            return f.read()


def _error(io, target, doing, exc):
    """FlagsError for a failed system call, naming the filesystem."""
    try:
        mount = find_mount(parse_mountinfo(io.mountinfo()), target.real)
    except (IOError, OSError):
        mount = None
    code = exc.errno
    msg = "cannot %s %s: %s (%s)" % (doing, target.path, os.strerror(code), errno.errorcode.get(code, code))
    if mount is not None:
        msg += " on %s mounted at %s" % (mount.fstype, mount.mount_point)
    if code in (errno.EOPNOTSUPP, errno.ENOTTY):
        msg += "; this filesystem does not support inode flags or this flag (tmpfs takes only a, i, d, A)"
    elif code == errno.EPERM:
        msg += "; a and i need root (CAP_LINUX_IMMUTABLE), and an immutable file refuses other changes"
    return FlagsError(msg, target.path, code, mount)


def open_inode(io, target):
    try:
        return io.open(target.real)
    except OSError as exc:
        raise _error(io, target, "open", exc)


def get_flags(io, fd, target):
    try:
        return io.get(fd)
    except OSError as exc:
        raise _error(io, target, "read the flags of", exc)


def apply_plan(io, fd, target, current, steps):
    """Carry out plan() steps on an open inode; return the flags read back.

    The read-back is what gets reported: some filesystems accept a flag and
    silently drop it. If a step fails, the steps already done are undone in
    reverse order (each intermediate state was accepted on the way in, so
    it is accepted on the way back) and FlagsError says which state the
    inode is in now.
    """
    value = current
    done = []
    for change in steps:
        new = step(value, change)
        try:
            io.set(fd, new)
        except OSError as exc:
            mask, on = change
            err = _error(io, target, "%s flag %s on" % ("set" if on else "clear", describe(mask)), exc)
            err.args = (err.args[0] + "; " + _undo(io, fd, target, current, value, done),)
            raise err
        done.append(change)
        value = new
    return get_flags(io, fd, target)


def _undo(io, fd, target, original, value, done):
    try:
        for mask, on in reversed(done):
            value = step(value, (mask, not on))
            io.set(fd, value)
        now = io.get(fd)
    except OSError as exc:
        return ("restoring the original flags %s FAILED (%s): check it with lsattr -d %s and fix it by hand"
                % (render(original), os.strerror(exc.errno), target.path))
    if now == original:
        return "nothing changed: the flags are back to %s" % render(now)
    return ("the flags are now %s, not the original %s: check it with lsattr -d %s"
            % (render(now), render(original), target.path))


# --- what to change ---------------------------------------------------------

# path: as named or found (for messages and results); real: resolved, for
# the system calls; ino: the inode number, free from readdir, so the guard
# can recognise a hard link to a protected file without a stat per file.
Target = collections.namedtuple("Target", "path real is_dir ino")


def resolve(path, follow):
    """Target for a path the user named; FlagsError if it cannot carry flags."""
    try:
        st = os.lstat(path)
        real = os.path.realpath(path)
        if stat.S_ISLNK(st.st_mode):
            if not follow:
                raise FlagsError(
                    "%s is a symlink, which has no inode flags of its own: set follow=true to change "
                    "the file it points to (%s), or name that file" % (path, real), path)
            st = os.stat(real)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise FlagsError("%s does not exist (or is a symlink to nothing)" % path, path, exc.errno)
        raise FlagsError("cannot examine %s: %s" % (path, os.strerror(exc.errno)), path, exc.errno)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise FlagsError(
            "%s is not a regular file or directory; inode flags are only changed on those "
            "(opening a device or FIFO can have side effects)" % path, path)
    return Target(path, real, stat.S_ISDIR(st.st_mode), st.st_ino)


def walk(root):
    """Return (targets, skipped): root and, for a directory, everything
    below it in pre-order, sorted by name.

    Symlinks are not followed and, like special files, not changed; they
    are only counted in `skipped`. The entry type comes from readdir, so the
    walk costs no stat() per file.
    """
    targets = [root]
    skipped = 0
    stack = [(root, _entries(root.real))]
    while stack:
        parent, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        if entry.is_dir(follow_symlinks=False):
            child = Target(os.path.join(parent.path, entry.name), entry.path, True, entry.inode())
            targets.append(child)
            stack.append((child, _entries(entry.path)))
        elif entry.is_file(follow_symlinks=False):
            targets.append(Target(os.path.join(parent.path, entry.name), entry.path, False, entry.inode()))
        else:
            skipped += 1
    return targets, skipped


def _entries(directory):
    try:
        with os.scandir(directory) as it:
            return iter(sorted(it, key=lambda e: e.name))
    except OSError as exc:
        raise FlagsError("cannot list %s: %s" % (directory, os.strerror(exc.errno)), directory, exc.errno)
