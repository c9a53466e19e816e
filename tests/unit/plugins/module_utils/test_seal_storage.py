# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does the sealed directory survive a reboot and hold inode flags?

assess_storage and storage_verdict are pure: they get the path, the text of
/proc/self/mountinfo and the errno of FS_IOC_GETFLAGS. The tables are
tests/unit/data/mountinfo/dev-machine.txt (recorded on this project's
machine) and the constants below, which are WRITTEN BY HAND in the real
format. The last tests use the real reader (SealIO.storage_facts) on a
temporary directory under /dev/shm (tmpfs here), removed afterwards; no
flag is set anywhere.
"""

import errno
import io as _io
import os
import shutil
import tempfile

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _flags, _seal
from ansible_collections.immutable.audit.tests.unit.plugins.module_utils.test_seal import FakeAuditd, FakeFlags

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "data",
                    "mountinfo")

with open(os.path.join(DATA, "dev-machine.txt")) as _handle:
    DEV_MACHINE = _handle.read()

# Written by hand (not recorded): a server with a separate /var/log on xfs, a
# tmpfs on /var/log/audit/tmp-sealed, a ramfs, an NFS share whose mount
# point has a blank (\040), the EFI partition (vfat) and a tmpfs at /var/log
# look-alike /var/logs to check path component boundaries.
SERVER = "\n".join([
    "22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw",
    "23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
    "24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw",
    "25 22 0:5 / /dev rw,nosuid shared:8 - devtmpfs devtmpfs rw,size=4010604k,nr_inodes=1002651,mode=755",
    "26 22 252:2 / /var/log rw,relatime shared:30 - xfs /dev/mapper/vg-log rw,attr2,inode64,noquota",
    "27 26 0:40 / /var/log/audit/tmp-sealed rw,nosuid,nodev,relatime shared:31 - tmpfs tmpfs rw,size=65536k,mode=700",
    "28 22 0:41 / /mnt/ram rw,relatime shared:32 - ramfs ramfs rw",
    "29 22 0:42 / /srv/audit\\040archive rw,relatime shared:33 - nfs4 files.example.com:/export/audit "
    "rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys",
    "30 22 8:1 / /boot/efi rw,relatime shared:34 - vfat /dev/sda1 "
    "rw,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,errors=remount-ro",
    "31 22 0:43 / /var/logs rw,relatime shared:35 - tmpfs tmpfs rw,size=1024k",
]) + "\n"

# Written by hand: overlayroot (Ubuntu's overlayroot package, a live system):
# / is an overlay whose upper layer is on the tmpfs /media/root-rw.
OVERLAYROOT = "\n".join([
    "20 1 0:30 / / rw,relatime shared:1 - overlay overlayroot rw,lowerdir=/media/root-ro,"
    "upperdir=/media/root-rw/overlay,workdir=/media/root-rw/overlay-workdir/_,uuid=on",
    "24 20 0:5 / /media/root-rw rw,relatime shared:3 - tmpfs tmpfs-root rw,size=4021552k,inode64",
    "25 20 8:2 / /media/root-ro ro,relatime shared:4 - ext4 /dev/sda2 ro",
]) + "\n"

# Written by hand: inside a Docker container; the overlay was mounted in the
# host's mount namespace, so its upper layer is not in this table.
CONTAINER = "\n".join([
    "500 420 0:52 / / rw,relatime master:230 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC:"
    "/var/lib/docker/overlay2/l/DEF,upperdir=/var/lib/docker/overlay2/0123/diff,"
    "workdir=/var/lib/docker/overlay2/0123/work,nouserxattr",
    "501 500 0:55 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
    "502 500 0:56 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64",
]) + "\n"


def verdict(path, mountinfo, probe=None, allow=False, checked=None, exists=True):
    info = _seal.assess_storage(path, checked or path, mountinfo, probe, exists)
    refusal, findings = _seal.storage_verdict(info, allow)
    return info, refusal, findings


# --- pure --------------------------------------------------------------------

def test_recorded_machine_root_is_fine_and_dev_shm_is_refused():
    info, refusal, findings = verdict("/var/log/audit/sealed", DEV_MACHINE)
    assert (info["fstype"], info["mount_point"], info["volatile"], info["flags"]) == ("ext4", "/", False, True)
    assert refusal is None and findings == []
    info, refusal, findings = verdict("/dev/shm/sealed", DEV_MACHINE)
    assert (info["fstype"], info["mount_point"], info["volatile"]) == ("tmpfs", "/dev/shm", True)
    assert "/dev/shm/sealed" in refusal and "on tmpfs mounted at /dev/shm" in refusal
    assert "gone at the next reboot" in refusal and "nothing was changed" in refusal
    assert "allow_volatile" in refusal
    # /dev itself is devtmpfs, /proc and /sys answer ENOTTY
    assert verdict("/dev/sealed", DEV_MACHINE)[0]["fstype"] == "devtmpfs"
    assert "on devtmpfs mounted at /dev" in verdict("/dev/sealed", DEV_MACHINE)[1]
    info, refusal, findings = verdict("/proc/sealed", DEV_MACHINE, probe=errno.ENOTTY, allow=True)
    assert info["flags"] is False and "on proc mounted at /proc" in refusal
    assert "cannot hold inode flags" in refusal and "ENOTTY" in refusal


def test_allow_volatile_is_a_warning_finding():
    info, refusal, findings = verdict("/dev/shm/sealed", DEV_MACHINE, allow=True)
    assert refusal is None
    assert [(f["kind"], f["severity"]) for f in findings] == [("volatile_storage", "warning")]
    assert "on tmpfs mounted at /dev/shm" in findings[0]["message"]
    assert findings[0]["actual"] == "tmpfs at /dev/shm"


def test_hand_written_server_table():
    assert verdict("/var/log/audit/sealed", SERVER)[0]["fstype"] == "xfs"
    info, refusal, _f = verdict("/var/log/audit/tmp-sealed", SERVER)
    assert info["mount_point"] == "/var/log/audit/tmp-sealed" and "on tmpfs" in refusal
    info, refusal, _f = verdict("/mnt/ram/sealed", SERVER)
    assert info["fstype"] == "ramfs" and info["volatile"] and "ramfs keeps its files in memory" in refusal
    # component boundaries: /var/logs is not under /var/log, /var/log/auditx not under /var/log/audit/...
    assert verdict("/var/logs/sealed", SERVER)[0]["fstype"] == "tmpfs"
    assert verdict("/var/log/audit/tmp-sealedx", SERVER)[0]["fstype"] == "xfs"
    # \040 is a blank; nfs and vfat answer ENOTTY: refused even with allow_volatile
    info, refusal, _f = verdict("/srv/audit archive/sealed", SERVER, probe=errno.ENOTTY, allow=True)
    assert (info["fstype"], info["mount_point"]) == ("nfs4", "/srv/audit archive")
    assert "on nfs4 mounted at /srv/audit archive (source files.example.com:/export/audit)" in refusal
    info, refusal, _f = verdict("/boot/efi/sealed", SERVER, probe=errno.EOPNOTSUPP)
    assert info["fstype"] == "vfat" and "cannot hold inode flags" in refusal and "Operation not supported" in refusal


def test_nearest_existing_parent_is_named():
    info, refusal, _f = verdict("/var/log/audit/tmp-sealed/a/b", SERVER, checked="/var/log/audit/tmp-sealed",
                                exists=False)
    assert info["exists"] is False
    assert "/var/log/audit/tmp-sealed/a/b (checked its nearest existing parent /var/log/audit/tmp-sealed)" in refusal


def test_overlay_over_tmpfs_is_volatile_other_overlays_are_weaker():
    info, refusal, _f = verdict("/var/log/audit/sealed", OVERLAYROOT)
    assert info["fstype"] == "overlay" and info["volatile"] and info["overlay_upper"] == "/media/root-rw/overlay"
    assert "its upper layer /media/root-rw/overlay is on tmpfs mounted at /media/root-rw" in refusal
    info, refusal, findings = verdict("/var/log/audit/sealed", OVERLAYROOT, allow=True)
    assert refusal is None and [f["kind"] for f in findings] == ["volatile_storage", "weaker_protection"]
    # a container's root: the upper layer is not in this table, so not volatile; weaker protection
    info, refusal, findings = verdict("/var/log/audit/sealed", CONTAINER)
    assert refusal is None and not info["volatile"]
    assert [f["kind"] for f in findings] == ["weaker_protection"]
    assert "trusted.overlay.protattr" in findings[0]["message"]
    assert "(/var/lib/docker/overlay2/0123/diff)" in findings[0]["message"]


def test_unreadable_mount_table_or_other_probe_errors():
    info, refusal, findings = verdict("/var/log/audit/sealed", None)
    assert refusal is None and [f["kind"] for f in findings] == ["storage_unknown"]
    assert verdict("/proc/x", None, probe=errno.ENOTTY)[1] is not None          # the flags still decide
    info, refusal, findings = verdict("/var/log/audit/sealed", DEV_MACHINE, probe=errno.EACCES)
    assert info["flags"] is None and refusal is None and findings == []        # left to the seal itself


def test_upper_dirs_unescapes():
    text = ("20 1 0:30 / /my\\040root rw - overlay overlay rw,lowerdir=/lo,upperdir=/up\\054per\\040x,workdir=/w\n"
            + SERVER)
    assert _flags.upper_dirs(text) == {"/my root": "/up,per x"}


# --- seal() refuses before anything changes ----------------------------------

class Volatile(FakeFlags):
    def __init__(self, mountinfo, probe=None):
        super(Volatile, self).__init__()
        self._mountinfo = mountinfo
        self.probe = probe

    def mountinfo(self):
        return self._mountinfo

    def get(self, fd):
        if self.probe is not None:
            raise OSError(self.probe, os.strerror(self.probe))
        return super(Volatile, self).get(fd)


def _tmpfs_at(path):
    return "22 1 254:0 / / rw - ext4 /dev/vda rw\n25 22 0:23 / %s rw,relatime - tmpfs tmpfs rw\n" % (
        str(path).replace(" ", "\\040"))


def test_seal_refuses_with_nothing_changed_and_check_mode_too(tmp_path):
    auditd = FakeAuditd(tmp_path / "log")
    auditd.write(3)
    auditd.rotate()
    sealed_dir = str(tmp_path / "log" / "sealed")
    flags = Volatile(_tmpfs_at(tmp_path / "log"))
    io = _seal.SealIO(flags)
    for check in (True, False):
        with pytest.raises(_seal.SealError) as err:
            _seal.seal(sealed_dir, auditd.log, num_logs=5, rotate="always", signal_fn=auditd.rotate, io=io,
                       check=check)
        assert "on tmpfs mounted at %s" % (tmp_path / "log") in str(err.value)
        assert "already done" not in str(err.value)
    assert not os.path.exists(sealed_dir) and auditd.signals == 1 and flags.flags == {}
    assert os.path.exists(auditd.log + ".1")
    result = _seal.seal(sealed_dir, auditd.log, num_logs=5, rotate="always", signal_fn=auditd.rotate, io=io,
                        allow_volatile=True, sleep=lambda s: None)
    assert len(result["sealed"]) == 1 and result["discarded"] and result["storage"]["volatile"] is True
    assert [f["kind"] for f in result["findings"]] == ["volatile_storage"]
    # no flags at all: refused even when volatile is allowed, nothing changed
    other = str(tmp_path / "other")
    with pytest.raises(_seal.SealError) as err:
        _seal.seal(other, auditd.log, num_logs=5, rotate="always", signal_fn=auditd.rotate,
                   io=_seal.SealIO(Volatile(DEV_MACHINE, probe=errno.ENOTTY)), allow_volatile=True)
    assert "cannot hold inode flags" in str(err.value) and not os.path.exists(other)


def test_script_allow_volatile(tmp_path, capsys):
    auditd = FakeAuditd(tmp_path / "log")
    auditd.write(2)
    auditd.rotate()
    conf = tmp_path / "auditd.conf"
    conf.write_text("log_file = %s\nnum_logs = 5\n" % auditd.log)
    sealed_dir = str(tmp_path / "log" / "sealed")
    io = _seal.SealIO(Volatile(_tmpfs_at(tmp_path / "log")))
    argv = ["seal", "--sealed-dir", sealed_dir, "--auditd-conf", str(conf), "--rotate", "never"]
    assert _seal.main(argv, io=io, out=_io.StringIO()) == 2
    assert "gone at the next reboot" in capsys.readouterr().err and not os.path.exists(sealed_dir)
    out = _io.StringIO()
    assert _seal.main(argv + ["--allow-volatile"], io=io, out=out) == 0
    err = capsys.readouterr().err
    assert err.startswith("seal: warning: sealed_dir %s " % sealed_dir) and "is on tmpfs mounted at" in err
    assert '"volatile_storage"' in out.getvalue()


# --- the real reader on this machine's tmpfs ---------------------------------

@pytest.fixture
def shm():
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    path = tempfile.mkdtemp(prefix="immutable-audit-test-", dir="/dev/shm")
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_real_reader_detects_tmpfs(shm, tmp_path):
    checked, exists, mountinfo, probe = _seal.SealIO().storage_facts(shm)
    info = _seal.assess_storage(shm, checked, mountinfo, probe, exists)
    if info["fstype"] != "tmpfs":
        pytest.skip("/dev/shm is %s here, not tmpfs" % info["fstype"])
    assert info["exists"] and info["volatile"] and info["mount_point"] == "/dev/shm"
    # not there yet: its nearest existing parent; through a symlink: resolved first
    checked, exists, mountinfo, probe = _seal.SealIO().storage_facts(os.path.join(shm, "a", "b"))
    assert (checked, exists) == (os.path.realpath(shm), False)
    link = tmp_path / "link"
    os.symlink(shm, str(link))
    checked, exists, mountinfo, probe = _seal.SealIO().storage_facts(str(link / "sealed"))
    info = _seal.assess_storage(str(link / "sealed"), checked, mountinfo, probe, exists)
    assert checked == os.path.realpath(shm) and info["fstype"] == "tmpfs"
    refusal, _findings = _seal.storage_verdict(info)
    assert "%s (checked its nearest existing parent %s)" % (link / "sealed", checked) in refusal
    # and tmp_path (where the other seal tests run) is not volatile
    checked, exists, mountinfo, probe = _seal.SealIO().storage_facts(str(tmp_path))
    assert not _seal.assess_storage(str(tmp_path), checked, mountinfo, probe, exists)["volatile"]


def test_real_reader_refuses_seal_under_dev_shm(shm, tmp_path):
    auditd = FakeAuditd(tmp_path / "log")
    auditd.write(2)
    auditd.rotate()
    sealed_dir = os.path.join(shm, "sealed")
    flags = FakeFlags()
    flags.mountinfo = _flags.FlagsIO().mountinfo          # the real mount table, fake flags
    with pytest.raises(_seal.SealError) as err:
        _seal.seal(sealed_dir, auditd.log, num_logs=5, rotate="always", signal_fn=auditd.rotate,
                   io=_seal.SealIO(flags))
    assert "on tmpfs mounted at /dev/shm" in str(err.value)
    assert os.listdir(shm) == [] and auditd.signals == 1 and flags.flags == {}
