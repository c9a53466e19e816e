# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sealing and verifying, on temporary directories only.

auditd is simulated (FakeAuditd renames the chain as auditd does on SIGUSR1);
no signal reaches a real process. Most tests keep the flags in a dict
(FakeFlags); the `real` tests set real a and i with the flags ioctls on
files under pytest's temporary directory (ext4 here), and their fixture
clears every flag again, also when a test fails.
"""

import errno
import hashlib
import io as _io
import json
import os
import re

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _flags, _seal
from ansible_collections.immutable.audit.plugins.module_utils._seal import Event

A, I = _flags.APPEND, _flags.IMMUTABLE
T0 = 1732450000


class FakeAuditd(object):
    """Writes realistic records and rotates like auditd: audit.log.N-1 ->
    audit.log.N ... audit.log -> audit.log.1, then a new audit.log."""

    def __init__(self, log_dir, num_logs=5, serial=4567):
        self.dir = str(log_dir)
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "audit.log")
        self.num_logs = num_logs
        self.serial = serial
        self.time = T0 * 1000 + 123
        self.rotated = []           # the bytes of every rotated generation
        self.signals = 0
        open(self.log, "ab").close()

    def write(self, events):
        with open(self.log, "ab") as handle:
            for dummy in range(events):
                stamp = "%d.%03d:%d" % (self.time // 1000, self.time % 1000, self.serial)
                handle.write((
                    'type=SYSCALL msg=audit(%s): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c '
                    'items=1 ppid=1 pid=4242 auid=1000 uid=0 comm="vi" exe="/usr/bin/vim.basic" key="identity"\n'
                    'type=PATH msg=audit(%s): item=0 name="/etc/passwd" inode=1311 dev=fe:01 mode=0100644 '
                    'nametype=NORMAL\n'
                    'type=PROCTITLE msg=audit(%s): proctitle=7669002F6574632F706173737764\n'
                    % (stamp, stamp, stamp)).encode())
                self.serial += 1
                self.time += 1500

    def rotate(self):
        self.signals += 1
        for n in range(self.num_logs - 1, 0, -1):
            src = "%s.%d" % (self.log, n - 1) if n > 1 else self.log
            if os.path.exists(src):
                os.rename(src, "%s.%d" % (self.log, n))
        with open(self.log + ".1", "rb") as handle:
            self.rotated.append(handle.read())
        open(self.log, "ab").close()


class FakeFlags(object):
    """FlagsIO with the flags in a dict keyed by path (no ioctl)."""

    def __init__(self):
        self.flags = {}

    def open(self, path):
        if not os.path.exists(path):
            raise OSError(errno.ENOENT, "no such file", path)
        return path

    def close(self, fd):
        pass

    def get(self, fd):
        return self.flags.get(fd, 0)

    def set(self, fd, value):
        self.flags[fd] = value

    def mountinfo(self):
        return "22 1 254:0 / / rw - ext4 /dev/vda rw\n"


class Crash(Exception):
    """The process is killed here."""


MUTATING = ("mkdir", "rename", "link", "unlink", "copy", "write_new", "append", "add_flags", "remove_flags")


class CrashIO(_seal.SealIO):
    """SealIO that counts mutating calls and dies at call number `at`
    (before it, or for append optionally halfway through the write)."""

    def __init__(self, flags_io=None, at=None, torn=False):
        super(CrashIO, self).__init__(flags_io)
        self.at = at
        self.torn = torn
        self.calls = []

    def _tick(self, name, args):
        self.calls.append((name, args[0] if args else None))
        if self.at is not None and len(self.calls) == self.at:
            if name == "append" and self.torn and len(args[1]) > 2:
                _seal.SealIO.append(self, args[0], args[1][:len(args[1]) // 2])
            raise Crash("killed at %s%r" % (name, args[:1]))


def _wrap(name):
    def method(self, *args):
        self._tick(name, args)
        return getattr(_seal.SealIO, name)(self, *args)
    return method


for _name in MUTATING:
    setattr(CrashIO, _name, _wrap(_name))


def sealed_bytes(sealed_dir):
    """{name: bytes} of the sealed logs."""
    out = {}
    for name in os.listdir(sealed_dir):
        if name.startswith("audit-"):
            with open(os.path.join(sealed_dir, name), "rb") as handle:
                out[name] = handle.read()
    return out


def assert_each_once(auditd, sealed_dir):
    """Every rotated generation is sealed, exactly once, byte for byte."""
    sealed = sorted(sealed_bytes(sealed_dir).values())
    expected = sorted(g for g in auditd.rotated if g)
    assert sealed == expected


def records(manifest):
    with open(manifest, "rb") as handle:
        return [json.loads(line) for line in handle.read().splitlines()]


@pytest.fixture
def host(tmp_path):
    """(auditd, sealed_dir, fake flags) on a temporary tree."""
    auditd = FakeAuditd(tmp_path / "log")
    return auditd, str(tmp_path / "log" / "sealed"), FakeFlags()


def do_seal(auditd, sealed_dir, io, **kw):
    kw.setdefault("rotate", "always")
    return _seal.seal(sealed_dir, auditd.log, num_logs=auditd.num_logs, signal_fn=auditd.rotate, io=io,
                      sleep=lambda s: None, **kw)


# --- pure --------------------------------------------------------------------

def test_scan_first_last_skips_daemon_records():
    lines = [b"type=DAEMON_START msg=audit(1732449999.000:77): op=start ver=3.0.9 res=success\n",
             b"type=SYSCALL msg=audit(1732450000.123:4567): arch=c000003e syscall=257\n",
             b"garbage without a stamp\n",
             b"node=web1 type=PATH msg=audit(1732450001.5:4568): item=0 name=\"/etc/shadow\"\n",
             b"type=DAEMON_ROTATE msg=audit(1732450009.000:78): op=rotate-logs res=success\n"]
    assert _seal.scan(lines) == (Event(1732450000, 123, 4567), Event(1732450001, 5, 4568))
    assert _seal.scan(lines[:1]) == (Event(1732449999, 0, 77), Event(1732449999, 0, 77))
    assert _seal.scan([b"no events\n"]) == (None, None)


def test_names_carry_the_event_range_and_stay_unique():
    first, last = Event(1732450000, 123, 4567), Event(1732453600, 991, 9999)
    assert _seal.segment_name(first, last, "ab" * 32) == "audit-1732450000-1732453600-4567-9999.log"
    assert _seal.segment_name(None, None, "ab" * 32) == "audit-noevents-abababababababab.log"
    taken = {"a.log", "a-2.log"}
    assert _seal.unique_name("a.log", taken.__contains__) == "a-3.log"
    assert _seal.unique_name("b.log", taken.__contains__) == "b.log"


def _chain(n):
    out, prev = [], _seal.GENESIS
    for i in range(n):
        record = _seal.make_record(prev, i + 1, "seal", 1700000000 + i, name="s%d.log" % i, size=10, sha256="0" * 64,
                                   first={"time": "1.000", "serial": 10 * i + 1},
                                   last={"time": "2.000", "serial": 10 * i + 10})
        out.append(record)
        prev = record["hash"]
    return out


def _text(recs):
    return b"".join(_seal.record_line(r) for r in recs)


def test_hash_chain_is_canonical_json_without_hash():
    recs = _chain(3)
    body = dict(recs[1])
    del body["hash"]
    expected = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert recs[1]["hash"] == expected and recs[2]["prev"] == recs[1]["hash"] and recs[0]["prev"] == "0" * 64
    chain = _seal.parse_chain(_text(recs))
    assert chain.findings == [] and chain.head == recs[2]["hash"] and len(chain.records) == 3


@pytest.mark.parametrize("tamper, where", [
    ("alter", 2), ("remove", 2), ("swap", 2), ("garbage", 2),
])
def test_chain_breaks_are_located(tamper, where):
    recs = _chain(4)
    lines = _text(recs).splitlines(True)
    if tamper == "alter":
        lines[1] = lines[1].replace(b'"size":10', b'"size":11')
    elif tamper == "remove":
        del lines[1]
    elif tamper == "swap":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines[1] = b"not json\n"
    findings = _seal.parse_chain(b"".join(lines)).findings
    assert findings and findings[0]["kind"] == "chain_broken"
    assert "line %d" % where in findings[0]["message"]


def test_torn_line_needs_its_torn_record():
    recs = _chain(1)
    torn = _seal.record_line(_chain(2)[1])[:40]
    chain = _seal.parse_chain(_text(recs) + torn)
    assert chain.torn_tail == torn and chain.findings == []
    repair = _seal.make_record(recs[0]["hash"], 2, "torn", 1, length=len(torn), sha256=hashlib.sha256(torn).hexdigest())
    assert _seal.parse_chain(_text(recs) + torn + b"\n" + _seal.record_line(repair)).findings == []
    bogus = _seal.make_record(recs[0]["hash"], 2, "torn", 1, length=3, sha256="0" * 64)
    found = _seal.parse_chain(_text(recs) + torn + b"\n" + _seal.record_line(bogus)).findings
    assert [f["kind"] for f in found] == ["chain_broken"]


def test_continuity_gap_and_reboot():
    def rec(name, first, last):
        return {"type": "seal", "name": name, "first": {"serial": first}, "last": {"serial": last}}
    recs = [rec("a", 1, 100), rec("b", 101, 200), rec("c", 250, 300), rec("d", 1, 40)]
    found = _seal.continuity(recs)
    assert [(f["kind"], f["segment"], f["severity"]) for f in found] == [("serial_gap", "c", "warning")]
    assert "201 to 249" in found[0]["message"] and "between b and c" in found[0]["message"]
    assert _seal._boots(recs) == 1


def test_event_split_by_a_rotation_is_no_gap_and_no_boot():
    """auditd writes an event record by record; a rotation between them puts
    the SYSCALL in one log and its PATH in the next (auditd 3.0.9 on the
    VM), so consecutive logs share a serial."""
    def rec(name, first, last):
        return {"type": "seal", "name": name, "first": {"serial": first}, "last": {"serial": last}}
    recs = [rec("a", 2, 423), rec("b", 423, 995), rec("c", 996, 1558)]
    assert _seal.continuity(recs) == []
    assert _seal._boots(recs) == 0


def test_every_chain_extends_the_empty_one():
    """A first seal with nothing rotated leaves an empty manifest, head
    GENESIS; the controller stores it and must not call that manifest, or
    any later chain, rewritten."""
    record = _seal.make_record(_seal.GENESIS, 1, "seal", 1, name="a.log")
    assert _seal.head_findings([], _seal.GENESIS) == []
    assert _seal.head_findings([record], _seal.GENESIS) == []
    assert [f["kind"] for f in _seal.head_findings([record], "f" * 64)] == ["head_not_found"]


def test_head_and_rotation_decisions():
    recs = _chain(3)
    assert _seal.head_findings(recs, recs[1]["hash"]) == []
    assert _seal.head_findings(recs, None) == []
    assert _seal.head_findings(recs, "f" * 64)[0]["kind"] == "head_not_found"
    assert _seal.decide_rotate("auto", 10, 100) is False
    assert _seal.decide_rotate("auto", 100, 100) is True
    assert _seal.decide_rotate("always", 0, 100) is True
    assert _seal.decide_rotate("never", 10 ** 9, 100) is False
    assert _seal.decide_rotate("always", None, 100) is False


@pytest.mark.parametrize("sealed, manifest, ok", [
    ("/var/log/audit/sealed", None, True),
    ("/srv/sealed", None, True),
    ("/var/log/audit", None, False),
    ("/var/log", None, False),
    ("/var/log/audit/sealed", "/var/log/audit/MANIFEST", False),
    ("/var/log/audit/sealed", "/var/log/audit/audit.log.3", False),
])
def test_layout_guard(sealed, manifest, ok):
    chain = ["/var/log/audit/audit.log", "/var/log/audit/audit.log.1", "/var/log/audit/audit.log.3"]
    args = (sealed, manifest or sealed + "/MANIFEST.jsonl", "/var/log/audit/audit.log", chain)
    if ok:
        _seal.check_layout(*args)
    else:
        with pytest.raises(_seal.SealError):
            _seal.check_layout(*args)


def test_signal_auditd_checks_the_process():
    sent = []
    files = {"/run/auditd.pid": "612\n", "/proc/612/comm": "auditd\n"}
    assert _seal.signal_auditd(kill=lambda p, s: sent.append((p, s)), read=files.get) == 612
    assert sent == [(612, _seal._signal.SIGUSR1)]
    files["/proc/612/comm"] = "bash\n"
    with pytest.raises(_seal.SealError, match="not auditd"):
        _seal.signal_auditd(kill=lambda p, s: sent.append((p, s)), read=files.get)
    with pytest.raises(_seal.SealError, match="not running"):
        _seal.signal_auditd(kill=lambda p, s: sent.append((p, s)), read={}.get)
    assert len(sent) == 1


# --- seal and verify with fake flags ----------------------------------------

def test_seal_verify_and_unchanged_second_run(host):
    auditd, sealed_dir, flags = host
    auditd.write(5)
    auditd.rotate()
    auditd.write(4)
    io = _seal.SealIO(flags)
    result = do_seal(auditd, sealed_dir, io)
    assert result["changed"] and result["rotated"] and len(result["sealed"]) == 2
    names = [s["name"] for s in result["sealed"]]
    assert names == ["audit-1732450000-1732450006-4567-4571.log", "audit-1732450007-1732450012-4572-4575.log"]
    assert not [n for n in os.listdir(auditd.dir) if re.match(r"audit\.log\.\d+$", n)]
    assert flags.flags[os.path.join(sealed_dir, names[0])] & I
    assert flags.flags[sealed_dir] & A and flags.flags[os.path.join(sealed_dir, "MANIFEST.jsonl")] & A
    assert not flags.flags.get(auditd.log) and not flags.flags.get(auditd.dir)
    assert_each_once(auditd, sealed_dir)
    report = _seal.verify(sealed_dir, io=io, expected_head=result["head"])
    assert report["ok"] and report["findings"] == [] and report["segments"] == 2 and report["records"] == 2
    # nothing rotated since, the live log is small: auto does nothing
    signals = auditd.signals
    again = do_seal(auditd, sealed_dir, io, rotate="auto")
    assert again["changed"] is False and again["sealed"] == [] and again["head"] == result["head"]
    assert auditd.signals == signals
    check = do_seal(auditd, sealed_dir, io, rotate="auto", check=True)
    assert check["changed"] is False and check["pending"] == []


def test_check_mode_reports_and_changes_nothing(host):
    auditd, sealed_dir, flags = host
    auditd.write(2)
    auditd.rotate()
    result = do_seal(auditd, sealed_dir, _seal.SealIO(flags), check=True)
    assert result["changed"] and result["rotated"] and result["pending"] == [auditd.log + ".1"]
    assert auditd.signals == 1 and not os.path.exists(sealed_dir) and flags.flags == {}


def test_empty_rotated_file_is_discarded(host):
    auditd, sealed_dir, flags = host
    auditd.rotate()
    result = do_seal(auditd, sealed_dir, _seal.SealIO(flags), rotate="never")
    assert result["discarded"] and result["sealed"] == []
    assert _seal.verify(sealed_dir, io=_seal.SealIO(flags))["ok"]


def test_rotation_that_never_happens_times_out(host):
    auditd, sealed_dir, flags = host
    auditd.write(1)
    clock = iter(range(100)).__next__
    with pytest.raises(_seal.SealError, match="is not the former"):
        _seal.seal(sealed_dir, auditd.log, num_logs=5, rotate="always", signal_fn=lambda: None,
                   io=_seal.SealIO(flags), sleep=lambda s: None, clock=clock, timeout=5)


def test_num_logs_below_two_is_refused(host):
    auditd, sealed_dir, flags = host
    with pytest.raises(_seal.SealError, match="num_logs"):
        _seal.seal(sealed_dir, auditd.log, num_logs="1", rotate="always", signal_fn=auditd.rotate,
                   io=_seal.SealIO(flags))


def _clean_run_calls(tmp_path):
    auditd = FakeAuditd(tmp_path / "probe" / "log")
    _scenario(auditd)
    io = CrashIO(FakeFlags())
    do_seal(auditd, str(tmp_path / "probe" / "log" / "sealed"), io)
    return io.calls


def _scenario(auditd):
    auditd.write(5)
    auditd.rotate()
    auditd.write(4)
    auditd.rotate()
    auditd.write(3)


def test_crash_at_every_step_then_recover(tmp_path):
    """Kill the seal before each mutating call in turn (after the intent,
    after the link, after unstaging, after the manifest append, before the
    flag, ...); the next run must finish it: nothing lost, nothing sealed
    twice, verify clean."""
    calls = _clean_run_calls(tmp_path)
    kinds = set(call[0] for call in calls)
    assert {"rename", "write_new", "link", "unlink", "append", "add_flags"} <= kinds
    for at in range(1, len(calls) + 1):
        for torn in ((False, True) if calls[at - 1][0] == "append" else (False,)):
            root = tmp_path / ("crash%d%s" % (at, "t" if torn else ""))
            auditd = FakeAuditd(root / "log")
            _scenario(auditd)
            sealed_dir = str(root / "log" / "sealed")
            flags = FakeFlags()
            with pytest.raises(Crash):
                do_seal(auditd, sealed_dir, CrashIO(flags, at=at, torn=torn))
            result = do_seal(auditd, sealed_dir, _seal.SealIO(flags), rotate="never")
            assert result["changed"], (at, calls[at - 1])
            assert_each_once(auditd, sealed_dir)
            report = _seal.verify(sealed_dir, io=_seal.SealIO(flags))
            assert report["ok"] and report["findings"] == [], (at, calls[at - 1], report["findings"])
            assert report["segments"] == len([g for g in auditd.rotated if g]) >= 2
            assert do_seal(auditd, sealed_dir, _seal.SealIO(flags), rotate="never")["changed"] is False


def test_torn_manifest_append_is_accounted_for(host):
    """Die halfway through writing the second seal record: the next run ends
    the torn line, appends a `torn` record for it and seals again."""
    auditd, sealed_dir, flags = host
    _scenario(auditd)
    calls = _clean_run_calls_for(auditd, sealed_dir)
    appends = [i + 1 for i, (name, path) in enumerate(calls) if name == "append" and path.endswith(".jsonl")]
    io = CrashIO(flags, at=appends[2], torn=True)     # [0] creates the manifest
    with pytest.raises(Crash):
        do_seal(auditd, sealed_dir, io)
    result = do_seal(auditd, sealed_dir, _seal.SealIO(flags), rotate="never")
    assert any("torn" in r for r in result["repaired"])
    with open(os.path.join(sealed_dir, "MANIFEST.jsonl"), "rb") as handle:
        lines = handle.read().splitlines()
    kinds = [json.loads(line)["type"] if line.startswith(b"{") and line.endswith(b"}") else "TORN" for line in lines]
    assert kinds == ["seal", "TORN", "torn", "seal", "seal"]
    report = _seal.verify(sealed_dir, io=_seal.SealIO(flags))
    assert report["ok"] and report["findings"] == []
    assert_each_once(auditd, sealed_dir)


def _clean_run_calls_for(auditd, sealed_dir):
    """The mutating calls a clean run would make on a copy of this scenario."""
    root = os.path.join(os.path.dirname(auditd.dir), "probe2")
    twin = FakeAuditd(os.path.join(root, "log"))
    _scenario(twin)
    io = CrashIO(FakeFlags())
    do_seal(twin, os.path.join(root, "log", "sealed"), io)
    return io.calls


def test_cross_filesystem_take_copies_then_unlinks(host, monkeypatch):
    auditd, sealed_dir, flags = host
    _scenario(auditd)
    io = CrashIO(flags)
    real_lstat = _seal.SealIO.lstat

    def lstat(self, path):
        # the log directory pretends to be another device
        st = real_lstat(self, path)
        if st is not None and os.path.dirname(path) == auditd.dir and os.path.basename(path).startswith("audit.log"):
            return os.stat_result((st.st_mode, st.st_ino, st.st_dev + 1) + tuple(st)[3:])
        return st
    monkeypatch.setattr(CrashIO, "lstat", lstat)
    result = do_seal(auditd, sealed_dir, io)
    assert len(result["sealed"]) == 3 and "copy" in [call[0] for call in io.calls]
    assert_each_once(auditd, sealed_dir)
    assert _seal.verify(sealed_dir, io=_seal.SealIO(flags))["ok"]


def test_rename_across_mounts_of_one_device_falls_back_to_copy(host, monkeypatch):
    """A bind mount (a systemd unit's ReadWritePaths=) keeps the device
    number but rename(2) across it is EXDEV: the take copies instead."""
    auditd, sealed_dir, flags = host
    _scenario(auditd)
    io = CrashIO(flags)
    real_rename = _seal.SealIO.rename

    def rename(self, src, dst):
        if os.path.dirname(src) == auditd.dir:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src)
        return real_rename(self, src, dst)
    monkeypatch.setattr(_seal.SealIO, "rename", rename)
    result = do_seal(auditd, sealed_dir, io)
    assert len(result["sealed"]) == 3 and "copy" in [call[0] for call in io.calls]
    assert_each_once(auditd, sealed_dir)
    assert not [n for n in os.listdir(auditd.dir) if n.startswith("audit.log.")]
    assert _seal.verify(sealed_dir, io=_seal.SealIO(flags))["ok"]


def test_second_seal_waits_for_the_lock_then_gives_up(tmp_path):
    lock = str(tmp_path / "lock")
    clock = iter(range(0, 1000)).__next__
    naps = []
    with _seal.SealIO().lock(lock):
        with pytest.raises(_seal.SealError, match="another seal is running .* held for 5 s"):
            with _seal.SealIO().lock(lock, wait=5, clock=clock, sleep=naps.append):
                pass
    assert len(naps) == 4
    with _seal.SealIO().lock(lock, wait=5, clock=clock, sleep=naps.append):
        pass                                   # free again: no wait
    assert len(naps) == 4


def test_staged_duplicate_of_a_sealed_log_is_not_sealed_twice(host):
    auditd, sealed_dir, flags = host
    auditd.write(3)
    auditd.rotate()
    io = _seal.SealIO(flags)
    first = do_seal(auditd, sealed_dir, io, rotate="never")
    name = first["sealed"][0]["name"]
    # a copy whose source survived a crash comes back through the chain
    with open(os.path.join(sealed_dir, name), "rb") as src, open(auditd.log + ".1", "wb") as dst:
        dst.write(src.read())
    again = do_seal(auditd, sealed_dir, io, rotate="never")
    assert again["sealed"] == [] and any("identical" in r for r in again["repaired"])
    assert len(sealed_bytes(sealed_dir)) == 1


def test_prune_is_recorded_and_verifies(host):
    auditd, sealed_dir, flags = host
    _scenario(auditd)
    io = _seal.SealIO(flags)
    result = do_seal(auditd, sealed_dir, io)
    old = result["sealed"][0]["name"]
    pruned = do_seal(auditd, sealed_dir, io, rotate="never", prune=[old], prune_reason="retention")
    assert pruned["pruned"] == [old] and pruned["changed"]
    assert not os.path.exists(os.path.join(sealed_dir, old)) and flags.flags[sealed_dir] & A
    last = records(os.path.join(sealed_dir, "MANIFEST.jsonl"))[-1]
    assert last["type"] == "prune" and last["names"] == [old] and last["reason"] == "retention"
    report = _seal.verify(sealed_dir, io=io, expected_head=result["head"])
    assert report["ok"] and report["findings"] == [] and report["segments"] == 2
    assert do_seal(auditd, sealed_dir, io, rotate="never", prune=[old], prune_reason="x")["changed"] is False
    with pytest.raises(_seal.SealError, match="not sealed"):
        do_seal(auditd, sealed_dir, io, rotate="never", prune=["audit-1-2-3-4.log"], prune_reason="x")


def test_verify_lists_the_sealed_and_the_pruned_logs(host):
    auditd, sealed_dir, flags = host
    _scenario(auditd)
    io = _seal.SealIO(flags)
    sealed = do_seal(auditd, sealed_dir, io)["sealed"]
    do_seal(auditd, sealed_dir, io, rotate="never", prune=[sealed[0]["name"]], prune_reason="shipped")
    report = _seal.verify(sealed_dir, io=io)
    assert report["sealed_logs"] == sealed[1:]
    assert report["pruned_logs"] == [sealed[0]["name"]]


def test_verify_without_flags_is_for_copies(host, tmp_path):
    """A copy on the controller keeps no flags: flags=False checks all but a and i."""
    auditd, sealed_dir, flags = host
    _scenario(auditd)
    io = _seal.SealIO(flags)
    result = do_seal(auditd, sealed_dir, io)
    names = [s["name"] for s in result["sealed"]]
    bare = _seal.SealIO(FakeFlags())            # the same files, no flag anywhere
    with_flags = _seal.verify(sealed_dir, io=bare, expected_head=result["head"])
    assert not with_flags["ok"]
    assert sorted(f["kind"] for f in with_flags["findings"]) == ["flag_missing"] * (len(names) + 2)
    copy = _seal.verify(sealed_dir, io=bare, expected_head=result["head"], flags=False)
    assert copy["ok"] and copy["findings"] == []
    # everything else is still checked: a digest, and the head
    path = os.path.join(sealed_dir, names[1])
    with open(path, "r+b") as handle:
        handle.seek(5)
        handle.write(b"X")
    kinds = [(f["kind"], f["segment"]) for f in _seal.verify(sealed_dir, io=bare, flags=False)["findings"]]
    assert kinds == [("digest_mismatch", names[1])]
    kinds = [f["kind"] for f in _seal.verify(sealed_dir, io=bare, expected_head="e" * 64, flags=False)["findings"]]
    assert "head_not_found" in kinds


def test_copy_keeps_pruned_logs_without_a_finding(host):
    """An archive copy still holds a log the host pruned: archived, not unfinished."""
    auditd, sealed_dir, flags = host
    _scenario(auditd)
    io = _seal.SealIO(flags)
    sealed = do_seal(auditd, sealed_dir, io)["sealed"]
    name = sealed[0]["name"]
    with open(os.path.join(sealed_dir, name), "rb") as handle:
        kept = handle.read()
    do_seal(auditd, sealed_dir, io, rotate="never", prune=[name], prune_reason="shipped")
    with open(os.path.join(sealed_dir, name), "wb") as handle:
        handle.write(kept)
    assert [f["kind"] for f in _seal.verify(sealed_dir, io=io)["findings"]] == ["prune_unfinished"]
    assert _seal.verify(sealed_dir, io=io, flags=False)["findings"] == []


def test_head_not_found_names_the_logs_a_rewrite_took_away():
    recs, prev = [], _seal.GENESIS
    for seq, name in enumerate(["a.log", "b.log", "c.log"], 1):
        rec = _seal.make_record(prev, seq, "seal", T0, name=name, size=1, sha256="0" * 64, first=None, last=None)
        recs.append(rec)
        prev = rec["hash"]
    pruned = _seal.make_record(prev, 4, "prune", T0, names=["a.log"], reason="r")
    # the rewrite keeps the prune of a.log and drops b.log
    rewritten, prev = [], _seal.GENESIS
    for seq, rec in enumerate([recs[0], recs[2]], 1):
        fields = dict((k, rec[k]) for k in ("name", "size", "sha256", "first", "last"))
        new = _seal.make_record(prev, seq, "seal", T0, **fields)
        rewritten.append(new)
        prev = new["hash"]
    rewritten.append(_seal.make_record(prev, 3, "prune", T0, names=["a.log"], reason="r"))
    found = _seal.head_findings(rewritten, pruned["hash"], ["b.log", "c.log"])
    assert [f["kind"] for f in found] == ["head_not_found"]
    assert found[0]["segment"] == "b.log" and "no longer names: b.log" in found[0]["message"]
    assert found[0]["expected"] == "chain extends head %s" % pruned["hash"]
    assert found[0]["actual"] == "head %s" % rewritten[-1]["hash"]
    # without the names the finding still says what happened
    bare = _seal.head_findings(rewritten, pruned["hash"])
    assert bare[0]["segment"] is None and "rewritten or cut short" in bare[0]["message"]
    assert _seal.head_findings(recs + [pruned], pruned["hash"], ["b.log"]) == []


def test_script_main(host):
    auditd, sealed_dir, flags = host
    _scenario(auditd)
    conf = os.path.join(auditd.dir, "..", "auditd.conf")
    with open(conf, "w") as handle:
        handle.write("log_file = %s\nnum_logs = 5\n" % auditd.log)
    out = _io.StringIO()
    io = _seal.SealIO(flags)
    assert _seal.main(["seal", "--sealed-dir", sealed_dir, "--auditd-conf", conf, "--rotate", "always"],
                      io=io, signal_fn=auditd.rotate, out=out) == 0
    sealed = json.loads(out.getvalue())
    assert len(sealed["sealed"]) == 3
    out = _io.StringIO()
    assert _seal.main(["verify", "--sealed-dir", sealed_dir, "--expected-head", sealed["head"]], io=io, out=out) == 0
    assert json.loads(out.getvalue())["ok"]
    assert _seal.main(["verify", "--sealed-dir", sealed_dir, "--expected-head", "f" * 64], io=io,
                      out=_io.StringIO()) == 1
    # --no-flags: the same files without any flag (a copy) verify
    bare = _seal.SealIO(FakeFlags())
    assert _seal.main(["verify", "--sealed-dir", sealed_dir, "--expected-head", sealed["head"]], io=bare,
                      out=_io.StringIO()) == 1
    out = _io.StringIO()
    assert _seal.main(["verify", "--no-flags", "--sealed-dir", sealed_dir, "--expected-head", sealed["head"]],
                      io=bare, out=out) == 0
    assert json.loads(out.getvalue())["findings"] == []
    assert _seal.main(["seal", "--sealed-dir", auditd.dir, "--auditd-conf", conf], io=io, out=out) == 2


# --- real flags on ext4 under the temporary directory -------------------------

def clear_flags(root):
    """Remove a and i from everything under root (files first, then dirs)."""
    io = _seal.SealIO()
    for directory, dirs, files in os.walk(root, topdown=False):
        for path in [os.path.join(directory, f) for f in files] + [directory]:
            if os.path.islink(path):
                continue
            if io.get_flags(path) & _flags.PROTECTIVE:
                io.remove_flags(path, _flags.PROTECTIVE)


def flagged(root):
    io = _seal.SealIO()
    out = []
    for directory, dirs, files in os.walk(root):
        for path in [directory] + [os.path.join(directory, f) for f in files]:
            if not os.path.islink(path) and io.get_flags(path) & _flags.PROTECTIVE:
                out.append(path)
    return out


@pytest.fixture
def real(tmp_path):
    """(auditd, sealed_dir) with real flags; every flag is cleared afterwards."""
    root = tmp_path / "real"
    root.mkdir()
    probe = root / "probe"
    probe.write_text("x")
    try:
        _seal.SealIO().add_flags(str(probe), A)
        _seal.SealIO().remove_flags(str(probe), A)
    except (_flags.FlagsError, OSError) as exc:
        pytest.skip("cannot set inode flags here: %s" % exc)
    auditd = FakeAuditd(root / "log")
    try:
        yield auditd, str(root / "log" / "sealed")
    finally:
        clear_flags(str(root))
        assert flagged(str(root)) == []


def _tamper(path, action):
    io = _seal.SealIO()
    io.remove_flags(path, I)
    action(path)


def test_real_flags_seal_and_tamper_cases(real):
    auditd, sealed_dir = real
    _scenario(auditd)
    io = _seal.SealIO()
    result = do_seal(auditd, sealed_dir, io)
    names = [s["name"] for s in result["sealed"]]
    assert len(names) == 3
    for name in names:
        assert io.get_flags(os.path.join(sealed_dir, name)) & I
    manifest = os.path.join(sealed_dir, "MANIFEST.jsonl")
    assert io.get_flags(sealed_dir) & A and io.get_flags(manifest) & A
    assert not io.get_flags(auditd.log) & _flags.PROTECTIVE and not io.get_flags(auditd.dir) & _flags.PROTECTIVE
    head = result["head"]
    assert _seal.verify(sealed_dir, expected_head=head)["findings"] == []
    # the kernel enforces them: a sealed log cannot be changed, the dir entry not removed
    with pytest.raises(OSError):
        open(os.path.join(sealed_dir, names[0]), "ab").close()
    with pytest.raises(OSError):
        os.unlink(os.path.join(sealed_dir, names[0]))
    with pytest.raises(OSError):
        open(manifest, "wb").close()
    # second run: nothing new, unchanged
    assert do_seal(auditd, sealed_dir, io, rotate="auto")["changed"] is False

    def kinds(**kw):
        return sorted((f["kind"], f["segment"]) for f in _seal.verify(sealed_dir, **kw)["findings"])

    # 1: clear +i and modify a sealed file in place (same size)
    def flip(path):
        with open(path, "r+b") as handle:
            handle.seek(10)
            handle.write(b"X")
    _tamper(os.path.join(sealed_dir, names[0]), flip)
    assert kinds() == [("digest_mismatch", names[0]), ("flag_missing", names[0])]
    # 2: truncate another
    _tamper(os.path.join(sealed_dir, names[1]), lambda p: os.truncate(p, 100))
    assert ("truncated", names[1]) in kinds() and ("digest_mismatch", names[1]) in kinds()
    # 3: delete the third (needs the directory's a lifted)
    io.remove_flags(sealed_dir, A)
    _tamper(os.path.join(sealed_dir, names[2]), os.unlink)
    io.add_flags(sealed_dir, A)
    assert ("missing", names[2]) in kinds()


def test_real_flags_rewritten_manifest_needs_the_head(real):
    auditd, sealed_dir = real
    _scenario(auditd)
    io = _seal.SealIO()
    head = do_seal(auditd, sealed_dir, io)["head"]
    manifest = os.path.join(sealed_dir, "MANIFEST.jsonl")
    recs = records(manifest)
    # root removes the first log and rewrites a consistent chain without it
    io.remove_flags(sealed_dir, A)
    io.remove_flags(os.path.join(sealed_dir, recs[0]["name"]), I)
    os.unlink(os.path.join(sealed_dir, recs[0]["name"]))
    io.remove_flags(manifest, A)
    prev, lines = _seal.GENESIS, []
    for seq, rec in enumerate(recs[1:], 1):
        fields = dict((k, rec[k]) for k in ("name", "size", "sha256", "first", "last"))
        new = _seal.make_record(prev, seq, "seal", rec["at"], **fields)
        lines.append(_seal.record_line(new))
        prev = new["hash"]
    with open(manifest, "wb") as handle:
        handle.write(b"".join(lines))
    io.add_flags(manifest, A)
    io.add_flags(sealed_dir, A)
    # consistent in itself: only the serial gap is left as a trace...
    alone = _seal.verify(sealed_dir)
    assert alone["ok"] and [f["kind"] for f in alone["findings"]] == []
    # ...the controller's head finds it
    found = _seal.verify(sealed_dir, expected_head=head)
    assert not found["ok"] and [f["kind"] for f in found["findings"]] == ["head_not_found"]


def test_real_flags_edited_record_breaks_the_chain(real):
    auditd, sealed_dir = real
    _scenario(auditd)
    io = _seal.SealIO()
    do_seal(auditd, sealed_dir, io)
    manifest = os.path.join(sealed_dir, "MANIFEST.jsonl")
    with open(manifest, "rb") as handle:
        data = handle.read()
    io.remove_flags(manifest, A)
    with open(manifest, "wb") as handle:
        handle.write(re.sub(br'"size":(\d+)', br'"size":1\1', data, count=1))
    found = _seal.verify(sealed_dir)["findings"]
    kinds = [f["kind"] for f in found]
    assert kinds[0] == "chain_broken" and "record 1" in found[0]["message"]
    assert "flag_missing" in kinds


def test_real_flags_serial_gap_and_reboot(real):
    auditd, sealed_dir = real
    io = _seal.SealIO()
    auditd.write(3)
    auditd.rotate()
    auditd.serial += 50            # records lost between the two logs
    auditd.write(3)
    auditd.rotate()
    auditd.serial = 1              # a reboot: the kernel counts again
    auditd.write(3)
    do_seal(auditd, sealed_dir, io)
    report = _seal.verify(sealed_dir)
    assert report["ok"] and report["boots"] == 2
    assert [(f["kind"], f["severity"]) for f in report["findings"]] == [("serial_gap", "warning")]


def test_real_flags_crash_points(real):
    """The crash matrix again with real a and i, at the interesting steps."""
    auditd, sealed_dir = real
    _scenario(auditd)
    probe = CrashIO()
    root = os.path.dirname(auditd.dir)
    twin = FakeAuditd(os.path.join(root, "twin", "log"))
    _scenario(twin)
    do_seal(twin, os.path.join(root, "twin", "log", "sealed"), probe)
    calls = probe.calls
    first_seal = next(i for i, (name, _p) in enumerate(calls) if name == "write_new")
    # 1-based numbers of the calls to die at, i.e. the state just before them:
    # after the take (before the intent), after the intent, after the link,
    # after unstaging, after the manifest append (before +i), after +i.
    points = [first_seal + k + 1 for k in range(6)]
    assert [calls[p - 1][0] for p in points] == ["write_new", "link", "unlink", "append", "add_flags", "unlink"]
    for n, at in enumerate(sorted(set(points))):
        twin = FakeAuditd(os.path.join(root, "c%d" % n, "log"))
        _scenario(twin)
        sealed = os.path.join(root, "c%d" % n, "log", "sealed")
        with pytest.raises(Crash):
            do_seal(twin, sealed, CrashIO(at=at))
        do_seal(twin, sealed, _seal.SealIO(), rotate="never")
        assert_each_once(twin, sealed)
        assert _seal.verify(sealed)["findings"] == []


def test_findings_say_what_was_recorded_and_what_is_there():
    f = _seal.finding("flag_missing", "x is not immutable (i)", segment="x", expected="x +i", actual="x without i")
    assert (f["expected"], f["actual"]) == ("x +i", "x without i")
    assert _seal.finding("pending", "waits")["expected"] is None
