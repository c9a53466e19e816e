# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Units for inode flags: table, parsing, lsattr rendering, planning,
applying with a fake ioctl, mountinfo, path resolution and the walk."""

import errno
import itertools
import os
import shutil
import subprocess

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _flags as flags

A, I, D, E, DIRSYNC = (flags.BY_LETTER[c].mask for c in "aideD")
Target = flags.Target

MOUNTINFO = (
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "30 22 0:25 / /tmp/t rw,nosuid shared:7 - tmpfs tmpfs rw,size=1024k\n"
)


class FakeIO(object):
    """FlagsIO stand-in: flags per path, ext4's rule that an `i` inode
    refuses any other change, and injected failures.

    fail: {(mask, on): errno} makes a set that changes `mask` to `on` fail;
    fail_undo: the same, active once a failure happened (so the undo fails);
    drop: bits this "filesystem" accepts and silently discards.
    """

    def __init__(self, values, fail=None, fail_undo=None, drop=0):
        self.values = dict(values)
        self.fail = fail or {}
        self.fail_undo = fail_undo or {}
        self.drop = drop
        self.failed = False
        self.fds = {}
        self.sets = []

    def open(self, path):
        if path not in self.values:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        fd = len(self.fds) + 100
        self.fds[fd] = path
        return fd

    def close(self, fd):
        del self.fds[fd]

    def get(self, fd):
        return self.values[self.fds[fd]]

    def set(self, fd, value):
        path = self.fds[fd]
        old = self.values[path]
        changed = old ^ value
        if old & I and value & I and changed:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))
        failures = list(self.fail.items()) + (list(self.fail_undo.items()) if self.failed else [])
        for (mask, on), code in failures:
            if changed & mask and bool(value & mask) == on:
                self.failed = True
                raise OSError(code, os.strerror(code))
        self.sets.append(value)
        self.values[path] = value & ~self.drop

    def mountinfo(self):
        return MOUNTINFO


# --- table, parsing, rendering ------------------------------------------------

def test_table_is_lsattr_complete_and_unambiguous():
    assert len(flags.FLAGS) == 22
    for attr in ("letter", "name", "mask"):
        assert len(set(getattr(f, attr) for f in flags.FLAGS)) == 22
    assert all(bin(f.mask).count("1") == 1 for f in flags.FLAGS)
    assert "".join(f.letter for f in flags.FLAGS if not f.settable) == "EINV"


@pytest.mark.parametrize("items, mask", [
    (["a"], A),
    (["append_only", "IMMUTABLE"], A | I),
    (["a,i", " d "], A | I | flags.BY_LETTER["d"].mask),
    (["A"], flags.BY_LETTER["A"].mask),
    (["dax"], flags.BY_LETTER["x"].mask),
])
def test_parse_flags_letters_and_names(items, mask):
    assert flags.parse_flags(items) == mask


@pytest.mark.parametrize("items, message", [
    (["q"], "unknown flag 'q'"),
    (["ai"], "unknown flag 'ai'"),
    (["Append-Only"], "unknown flag 'Append-Only'"),
    (["E"], r"flag E \(encrypted\) is set by the filesystem"),
    (["indexed"], r"flag I \(indexed\) is set by the filesystem"),
    ([], "flags is empty"),
    ([" , "], "flags is empty"),
])
def test_parse_flags_errors(items, message):
    with pytest.raises(flags.FlagsError, match=message):
        flags.parse_flags(items)


# Recorded from `lsattr` / `lsattr -d` (e2fsprogs 1.47.0) on this project's
# ext4 after chattr +LETTER, next to the word FS_IOC_GETFLAGS returned.
LSATTR = [
    (0x80080, "-------A------e-------"),
    (0x80008, "--S-----------e-------"),
    (0x80020, "-----a--------e-------"),
    (0x80004, "--------c-----e-------"),
    (0x80040, "------d-------e-------"),
    (0x80010, "----i---------e-------"),
    (0x80001, "s-------------e-------"),
    (0x88000, "------------t-e-------"),
    (0x80002, "-u------------e-------"),
    (0x2080000, "--------------e-x-----"),
    (0x90000, "---D----------e-------"),
    (0xa0000, "-------------Te-------"),
    (0x81000, "-----------I--e-------"),
]


@pytest.mark.parametrize("mask, text", LSATTR)
def test_render_matches_recorded_lsattr(mask, text):
    assert flags.render(mask) == text


def test_render_all_and_nothing():
    assert flags.render(0) == "-" * 22
    assert flags.render(sum(f.mask for f in flags.FLAGS)) == "suSDiadAcEjItTeCxFNPVm"


@pytest.mark.skipif(shutil.which("lsattr") is None, reason="needs lsattr")
def test_get_and_render_agree_with_real_lsattr(tmp_path):
    # Reads only: no flag is set, so this is safe on any machine.
    (tmp_path / "f").write_text("x")
    io = flags.FlagsIO()
    for path, opt in ((str(tmp_path / "f"), []), (str(tmp_path), ["-d"])):
        try:
            fd = io.open(path)
            value = io.get(fd)
            io.close(fd)
        except OSError as exc:
            pytest.skip("no inode flags on %s: %s" % (tmp_path, exc))
        out = subprocess.run(["lsattr"] + opt + [path], capture_output=True, text=True, check=True).stdout
        assert out == "%s %s\n" % (flags.render(value), path)


# --- planning -----------------------------------------------------------------

def test_plan_plain_add_and_noop():
    assert flags.plan(E, add=A) == [(A, True)]
    assert flags.plan(E | A, add=A) == []
    assert flags.plan(E, remove=A) == []


def test_plan_immutable_file_gets_append_only_around_i():
    # ext4: an `i` inode refuses +a until `i` is cleared
    assert flags.plan(E | I, add=A) == [(I, False), (A, True), (I, True)]


def test_plan_i_removed_first_and_added_last():
    assert flags.plan(I, add=A, remove=I) == [(I, False), (A, True)]
    assert flags.plan(0, add=I | A) == [(A, True), (I, True)]
    assert flags.plan(I, add=I) == []


def test_plan_adds_a_first_and_removes_a_last():
    d = flags.BY_LETTER["d"].mask
    assert flags.plan(0, add=d | A) == [(A, True), (d, True)]
    assert flags.plan(A | d, remove=d | A) == [(d, False), (A, False)]


def test_plan_directory_only_flags_skipped_on_files():
    assert flags.plan(0, add=DIRSYNC | A, is_dir=False) == [(A, True)]
    assert flags.plan(0, add=DIRSYNC, is_dir=True) == [(DIRSYNC, True)]


def test_plan_refuses_a_flag_added_and_removed():
    with pytest.raises(ValueError, match="append_only"):
        flags.plan(0, add=A, remove=A)


SMALL = [A, I, flags.BY_LETTER["d"].mask, E]


def _subsets(bits):
    return [sum(c) for n in range(len(bits) + 1) for c in itertools.combinations(bits, n)]


@pytest.mark.parametrize("current", _subsets(SMALL))
def test_plan_reaches_target_under_ext4_rule_for_all_small_cases(current):
    for add in _subsets(SMALL):
        for remove in _subsets([b for b in SMALL if not b & add]):
            steps = flags.plan(current, add, remove)
            target = (current | add) & ~remove
            assert flags.outcome(current, steps) == target
            assert len(steps) == bin(current ^ target).count("1") + 2 * bool(
                current & target & I and (current ^ target))
            io = FakeIO({"/f": current})
            fd = io.open("/f")
            assert flags.apply_plan(io, fd, Target("/f", "/f", False, 1), current, steps) == target


# --- applying with a fake kernel ---------------------------------------------

def test_apply_i_to_a_sequence_on_fake_ext4():
    io = FakeIO({"/f": E | I})
    fd = io.open("/f")
    steps = flags.plan(E | I, add=A)
    assert flags.apply_plan(io, fd, Target("/f", "/f", False, 1), E | I, steps) == E | I | A
    assert io.sets == [E, E | A, E | A | I]


def test_apply_failure_restores_immutable_and_names_filesystem():
    io = FakeIO({"/tmp/t/f": E | I}, fail={(A, True): errno.EOPNOTSUPP})
    fd = io.open("/tmp/t/f")
    with pytest.raises(flags.FlagsError) as info:
        flags.apply_plan(io, fd, Target("/tmp/t/f", "/tmp/t/f", False, 1), E | I, flags.plan(E | I, add=A))
    assert io.values["/tmp/t/f"] == E | I
    err = info.value
    assert err.path == "/tmp/t/f" and err.errno == errno.EOPNOTSUPP
    assert err.mount == flags.Mount("/tmp/t", "tmpfs", "tmpfs")
    msg = str(err)
    assert "cannot set flag a (append_only) on /tmp/t/f" in msg
    assert "on tmpfs mounted at /tmp/t" in msg
    assert "nothing changed: the flags are back to ----i---------e-------" in msg


def test_apply_failure_with_failed_restore_says_so():
    io = FakeIO({"/f": I}, fail={(A, True): errno.EIO}, fail_undo={(I, True): errno.EIO})
    fd = io.open("/f")
    with pytest.raises(flags.FlagsError, match="restoring the original flags ----i----------------- FAILED"):
        flags.apply_plan(io, fd, Target("/f", "/f", False, 1), I, flags.plan(I, add=A))
    assert io.values["/f"] == 0


def test_apply_reports_what_the_filesystem_kept():
    io = FakeIO({"/f": 0}, drop=flags.BY_LETTER["m"].mask)
    fd = io.open("/f")
    m = flags.BY_LETTER["m"].mask
    assert flags.apply_plan(io, fd, Target("/f", "/f", False, 1), 0, flags.plan(0, add=m | A)) == A


def test_open_and_get_errors_name_the_path():
    io = FakeIO({})
    with pytest.raises(flags.FlagsError, match="cannot open /gone: No such file"):
        flags.open_inode(io, Target("/gone", "/gone", False, 1))


# --- mount table --------------------------------------------------------------

def test_parse_mountinfo_fields_escapes_and_optional_fields():
    text = (
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "40 22 0:40 / /mnt/my\\040disk\\134x rw master:3 propagate_from:2 - tmpfs my\\040src rw\n"
        "41 22 0:41 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw,lowerdir=/a\n"
        "garbage line\n"
    )
    assert flags.parse_mountinfo(text) == [
        flags.Mount("/", "ext4", "/dev/vda"),
        flags.Mount("/mnt/my disk\\x", "tmpfs", "my src"),
        flags.Mount("/var/lib/docker/overlay2/x/merged", "overlay", "overlay"),
    ]


def test_find_mount_longest_prefix_component_wise_and_overmount():
    mounts = flags.parse_mountinfo(MOUNTINFO + "31 30 0:26 / /tmp/t rw - overlay overlay rw\n")
    assert flags.find_mount(mounts, "/tmp/t/a").fstype == "overlay"
    assert flags.find_mount(mounts, "/tmp/t").fstype == "overlay"
    assert flags.find_mount(mounts, "/tmp/tt").fstype == "ext4"
    assert flags.find_mount([], "/x") is None


def test_touched_mounts_with_and_without_recurse():
    mounts = flags.parse_mountinfo(MOUNTINFO)
    assert [m.fstype for m in flags.touched_mounts(mounts, "/tmp", False)] == ["ext4"]
    assert [m.fstype for m in flags.touched_mounts(mounts, "/tmp", True)] == ["ext4", "tmpfs"]
    assert [m.fstype for m in flags.touched_mounts(mounts, "/tmp/t", True)] == ["tmpfs"]


@pytest.mark.parametrize("machine, long_size, numbers", [
    ("x86_64", 8, (0x80086601, 0x40086602)),
    ("aarch64", 8, (0x80086601, 0x40086602)),
    ("i686", 4, (0x80046601, 0x40046602)),
    ("ppc64le", 8, (0x40086601, 0x80086602)),
])
def test_ioctl_numbers(machine, long_size, numbers):
    assert flags.ioctl_numbers(machine, long_size) == numbers


# --- paths --------------------------------------------------------------------

def test_resolve_missing_symlink_follow_and_fifo(tmp_path):
    real = tmp_path / "real"
    real.write_text("x")
    (tmp_path / "link").symlink_to(real)
    os.mkfifo(str(tmp_path / "fifo"))
    with pytest.raises(flags.FlagsError, match="%s does not exist" % (tmp_path / "nope")):
        flags.resolve(str(tmp_path / "nope"), False)
    with pytest.raises(flags.FlagsError, match="is a symlink.*follow=true.*%s" % real):
        flags.resolve(str(tmp_path / "link"), False)
    assert flags.resolve(str(tmp_path / "link"), True) == Target(str(tmp_path / "link"), str(real), False, real.stat().st_ino)
    assert flags.resolve(str(tmp_path), False).is_dir
    with pytest.raises(flags.FlagsError, match="not a regular file or directory"):
        flags.resolve(str(tmp_path / "fifo"), False)


def test_walk_preorder_sorted_no_symlinks_followed(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z").write_text("")
    (tmp_path / "a").write_text("")
    (tmp_path / "c").symlink_to(tmp_path / "b")
    os.mkfifo(str(tmp_path / "d"))
    os.symlink(str(tmp_path), str(tmp_path.parent / (tmp_path.name + "-via")))
    try:
        # display paths keep the name the user gave; real paths are resolved
        root = flags.resolve(str(tmp_path.parent / (tmp_path.name + "-via")), True)
        targets, skipped = flags.walk(root)
    finally:
        os.unlink(str(tmp_path.parent / (tmp_path.name + "-via")))
    via = str(tmp_path.parent / (tmp_path.name + "-via"))
    assert targets == [
        Target(via, str(tmp_path), True, tmp_path.stat().st_ino),
        Target(via + "/a", str(tmp_path / "a"), False, (tmp_path / "a").stat().st_ino),
        Target(via + "/b", str(tmp_path / "b"), True, (tmp_path / "b").stat().st_ino),
        Target(via + "/b/z", str(tmp_path / "b" / "z"), False, (tmp_path / "b" / "z").stat().st_ino),
    ]
    assert skipped == 2
