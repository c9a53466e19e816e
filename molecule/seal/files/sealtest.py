# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest-side harness of molecule/seal (runs as root in a throwaway QEMU guest,
never on the developer's machine: it loads the CPU, signals auditd and kills
seals).

It drives the sealing script the seal role installed (``_seal.py`` in
LIB_DIR, the same code as the audit_seal module) and prints one JSON object:

  reliability   stress-ng (CPU, memory, I/O) + a writer that creates and
                removes watched files named after a sequence number + a seal
                every few seconds, for a fixed time; then counts, in every
                sealed log, the live log and the rotation chain, the audit
                events of each sequence number.
  killsteps     kills a seal (SIGKILL, a real process death) before each of
                its mutating calls in turn, and halfway through each manifest
                append; after every kill the next seal must converge, verify
                clean and keep every event in exactly one file.
  tamper        one tampering case on one sealed log: modify (after
                clearing +i), delete, truncate, or rewrite the whole manifest
                consistently (the chain then verifies in itself).
  events        the event census of `reliability` alone (key, paths).
"""

import argparse
import collections
import glob
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

LIB_DIR = os.environ.get("SEAL_LIB_DIR", "/usr/local/lib/immutable-audit")
sys.path.insert(0, LIB_DIR)

import _seal  # noqa: E402  (installed by the seal role)

SEALED_DIR = "/var/log/audit/sealed"
LOG_FILE = "/var/log/audit/audit.log"
WORK_DIR = "/var/tmp/sealwl"          # watched: -w /var/tmp/sealwl -p wa -k sealwl
KEY = "sealwl"
SEAL_CMD = [sys.executable, os.path.join(LIB_DIR, "_seal.py"), "seal"]
VERIFY_CMD = [sys.executable, os.path.join(LIB_DIR, "_seal.py"), "verify"]

_ID = re.compile(r"msg=audit\(([0-9]+\.[0-9]+:[0-9]+)\)")
_NAME = re.compile(r' name="?' + re.escape(WORK_DIR) + r'/w-([0-9]+)"? .*nametype=(CREATE|DELETE)')


# --- the event census ---------------------------------------------------------

def log_files():
    """Every file that can hold events: sealed logs, the chain, the live log."""
    files = sorted(glob.glob(os.path.join(SEALED_DIR, "audit-*.log")))
    files += sorted(glob.glob(LOG_FILE + ".*"))
    files += sorted(glob.glob(os.path.join(SEALED_DIR, _seal.STAGING, "take-*")))
    files.append(LOG_FILE)
    return files


def census(files=None):
    """Workload events across the files: which sequence numbers each event
    created or deleted, every record line seen more than once (a log sealed
    twice, or left in the chain after sealing), and events whose records
    are in two files (auditd writes an event record by record, so a
    rotation can fall between them: SYSCALL in one log, PATH in the next)."""
    keyed = set()                            # event ids of SYSCALL records with key=sealwl
    named = {}                               # event id -> (seq, CREATE|DELETE)
    places = collections.defaultdict(set)    # event id -> files holding one of its records
    seen = collections.Counter()             # record line -> times seen
    for path in files or log_files():
        try:
            handle = open(path, "r", errors="replace")
        except FileNotFoundError:
            continue
        with handle:
            for line in handle:
                match = _ID.search(line)
                if not match:
                    continue
                event = match.group(1)
                seen[line] += 1
                places[event].add(path)
                if line.startswith("type=SYSCALL") and 'key="%s"' % KEY in line:
                    keyed.add(event)
                elif line.startswith("type=PATH"):
                    name = _NAME.search(line)
                    if name:
                        named[event] = (int(name.group(1)), name.group(2))
    seqs = collections.defaultdict(set)
    for event, (seq, kind) in named.items():
        if event in keyed:
            seqs[seq].add(kind)
    return dict(events=len(keyed), records=sum(seen.values()),
                duplicate_records=sum(n - 1 for n in seen.values() if n > 1),
                split_at_rotation=sum(1 for event in keyed if len(places[event]) > 1),
                seqs=seqs)


def coverage(seqs, generated):
    """Sequence numbers 1..generated with both their CREATE and DELETE event."""
    missing = [n for n in range(1, generated + 1) if seqs.get(n) != {"CREATE", "DELETE"}]
    return dict(complete=generated - len(missing), missing=len(missing), missing_sample=missing[:20])


# --- kernel and auditd state --------------------------------------------------

def lost():
    out = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^lost ([0-9]+)", out, re.M).group(1))


def suspended_since(epoch):
    """Journal lines since epoch that say auditd suspended logging."""
    out = subprocess.run(["journalctl", "--no-pager", "-o", "short-iso", "--since", "@%d" % int(epoch)],
                         capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if "suspend" in line.lower()]


def run_seal(*extra):
    proc = subprocess.run(SEAL_CMD + list(extra), capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return "done", json.loads(proc.stdout)
    if "another seal is running" in proc.stderr:
        return "busy", proc.stderr.strip()
    return "failed", proc.stderr.strip()


def verify(expected_head=None):
    argv = VERIFY_CMD + (["--expected-head", expected_head] if expected_head else [])
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return json.loads(proc.stdout) if proc.stdout else dict(ok=False, error=proc.stderr)


# --- reliability ------------------------------------------------------------

def writer(stop, state, pause):
    """Create and remove one watched file per sequence number: two audit
    events (CREATE, DELETE), each naming the number."""
    os.makedirs(WORK_DIR, exist_ok=True)
    seq = 0
    while not stop.is_set():
        seq += 1
        path = "%s/w-%d" % (WORK_DIR, seq)
        with open(path, "w") as handle:
            handle.write("%d\n" % seq)
        os.unlink(path)
        state["generated"] = seq
        time.sleep(pause)


def sealer(stop, state, interval):
    while not stop.is_set():
        began = time.time()
        status, result = run_seal("--rotate", "always")
        state["seconds"].append(time.time() - began)
        state[status] += 1
        if status == "done":
            state["segments_sealed"] += len(result["sealed"])
        elif status == "failed":
            state["errors"].append(result)
        stop.wait(interval)


def reliability(args):
    start = time.time()
    lost_before = lost()
    # One CPU worker at half load, one memory worker, one I/O (sync) worker:
    # on the test guest's single TCG vCPU a full-load CPU worker as well
    # would leave a seal every ~12 s instead of every few seconds.
    stress = subprocess.Popen(["stress-ng", "--cpu", "1", "--cpu-load", "50", "--vm", "1", "--vm-bytes", "48M",
                               "--io", "1", "--timeout", "%ds" % (args.duration + 5), "--quiet"])
    stop = threading.Event()
    wstate = dict(generated=0)
    sstate = collections.Counter()
    sstate["errors"] = []
    sstate["seconds"] = []
    threads = [threading.Thread(target=writer, args=(stop, wstate, args.pause)),
               threading.Thread(target=sealer, args=(stop, sstate, args.interval))]
    for thread in threads:
        thread.start()
    time.sleep(args.duration)
    stop.set()
    for thread in threads:
        thread.join()
    stress.terminate()
    stress_rc = stress.wait()
    time.sleep(2)                                   # let auditd write the last records
    # take what auditd or a timer rotated meanwhile (waiting for a timer's seal)
    final_status, _final = run_seal("--rotate", "never", "--lock-wait", "600")
    numbers = census()
    report = verify()
    out = dict(
        duration_s=round(time.time() - start, 1), workload_s=args.duration, seal_interval_s=args.interval,
        generated=wstate["generated"], expected_events=2 * wstate["generated"],
        events_found=numbers["events"], records_found=numbers["records"],
        duplicate_records=numbers["duplicate_records"], split_at_rotation=numbers["split_at_rotation"],
        seals_done=sstate["done"], seals_busy=sstate["busy"], seals_failed=sstate["failed"],
        seal_errors=sstate["errors"][:5], segments_sealed=sstate["segments_sealed"],
        seal_seconds=_spread(sstate["seconds"]),
        final_seal=final_status,
        lost_before=lost_before, lost_after=lost(), suspended=suspended_since(start),
        stress_ng_rc=stress_rc, verify_ok=report.get("ok"), verify_findings=report.get("findings"),
        segments=report.get("segments"), records=report.get("records"), head=report.get("head"),
        boots=report.get("boots"))
    out.update(coverage(numbers["seqs"], wstate["generated"]))
    return out


def _spread(values):
    """min / median / max, rounded, of a list of seconds."""
    if not values:
        return None
    ordered = sorted(values)
    return dict(min=round(ordered[0], 2), median=round(ordered[len(ordered) // 2], 2), max=round(ordered[-1], 2))


# --- kill at each step --------------------------------------------------------

MUTATING = ("mkdir", "rename", "link", "unlink", "copy", "write_new", "append", "add_flags", "remove_flags")


class KillIO(_seal.SealIO):
    """SealIO that records the names of its mutating calls (`trace`) and, in
    a process that is to die, SIGKILLs it before its `at`-th mutating call,
    or (torn) after writing half of that call's manifest append."""

    def __init__(self, at=None, torn=False):
        super(KillIO, self).__init__()
        self.at, self.torn, self.trace = at, torn, []

    def _tick(self, name, args):
        self.trace.append(name)
        if len(self.trace) == self.at:
            if name == "append" and self.torn and len(args[1]) > 2:
                _seal.SealIO.append(self, args[0], args[1][:len(args[1]) // 2])
            os.kill(os.getpid(), signal.SIGKILL)


def _killing(name):
    def method(self, *args):
        self._tick(name, args)
        return getattr(_seal.SealIO, name)(self, *args)
    return method


for _name in MUTATING:
    setattr(KillIO, _name, _killing(_name))


def _generate(count):
    os.makedirs(WORK_DIR, exist_ok=True)
    for _count in range(count):
        path = "%s/w-kill" % WORK_DIR
        with open(path, "w") as handle:
            handle.write("x\n")
        os.unlink(path)


def _seal_in_child(at, torn):
    """fork; the child seals (rotate always) with KillIO; returns how it ended."""
    pid = os.fork()
    if pid == 0:
        try:
            _seal.seal(SEALED_DIR, LOG_FILE, rotate="always", io=KillIO(at, torn))
        except BaseException:
            os._exit(3)
        os._exit(0)
    _pid, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return "killed"
    return "completed" if os.WEXITSTATUS(status) == 0 else "error"


def killsteps(args):
    """Kill a real seal process at every mutating step in turn (and halfway
    through every manifest append); after each kill, a normal seal must
    finish the work: verify clean, nothing pending, every workload event in
    exactly one file."""
    _generate(20)
    _seal.seal(SEALED_DIR, LOG_FILE, rotate="always")         # start from a clean seal
    _generate(20)
    probe = KillIO()                       # a clean seal, traced
    _seal.seal(SEALED_DIR, LOG_FILE, rotate="always", io=probe)
    steps = probe.trace
    cases, failures = [], []
    for at in range(1, len(steps) + 1):
        for torn in ((False, True) if steps[at - 1] == "append" else (False,)):
            _generate(args.events)
            ended = _seal_in_child(at, torn)
            recovery = _seal.seal(SEALED_DIR, LOG_FILE, rotate="never")
            again = _seal.seal(SEALED_DIR, LOG_FILE, rotate="never")
            report = _seal.verify(SEALED_DIR)
            numbers = census()
            case = dict(at=at, step=steps[at - 1], torn=torn, ended=ended,
                        recovered=bool(recovery["changed"]), repaired=recovery["repaired"],
                        second_run_changed=again["changed"], findings=report["findings"],
                        ok=report["ok"], events=numbers["events"], duplicate_records=numbers["duplicate_records"],
                        chain_left=sorted(glob.glob(LOG_FILE + ".*")))
            cases.append(case)
            if (ended != "killed" or not report["ok"] or report["findings"] or again["changed"]
                    or numbers["duplicate_records"] or case["chain_left"]):
                failures.append(case)
    return dict(steps=steps, kills=len(cases), cases=cases, failures=failures,
                segments=_seal.verify(SEALED_DIR)["segments"])


# --- tampering ----------------------------------------------------------------

def _clear(path, mask):
    _seal.SealIO().remove_flags(path, mask)


def tamper(args):
    sealed = os.path.join(SEALED_DIR, args.segment) if args.segment else None
    if args.case == "modify":
        _clear(sealed, _seal.IMMUTABLE)
        with open(sealed, "r+b") as handle:
            handle.seek(os.path.getsize(sealed) // 2)
            byte = handle.read(1)
            handle.seek(-1, os.SEEK_CUR)
            handle.write(b"X" if byte != b"X" else b"Y")
    elif args.case == "truncate":
        _clear(sealed, _seal.IMMUTABLE)
        os.truncate(sealed, os.path.getsize(sealed) // 2)
    elif args.case == "delete":
        _clear(SEALED_DIR, _seal.APPEND)
        _clear(sealed, _seal.IMMUTABLE)
        os.unlink(sealed)
        _seal.SealIO().add_flags(SEALED_DIR, _seal.APPEND)
    elif args.case == "rewrite":
        rewrite_manifest()
    return verify(args.expected_head)


def rewrite_manifest():
    """What an attacker with root does to hide the other cases: rebuild the
    whole chain from the sealed files as they are now, so that it is
    consistent in itself, and put the flags back."""
    io = _seal.SealIO()
    manifest = os.path.join(SEALED_DIR, _seal.MANIFEST_NAME)
    records = _seal.parse_chain(io.read_bytes(manifest)).records
    prev, lines = _seal.GENESIS, []
    for record in records:
        path = os.path.join(SEALED_DIR, record["name"]) if record.get("type") == "seal" else None
        if path is None or not os.path.exists(path):
            continue
        seg = io.segment(path)
        fields = {k: v for k, v in record.items() if k not in ("hash", "prev", "seq", "type", "at", "v")
                  and not k.startswith("_")}
        fields.update(size=seg.size, sha256=seg.sha256)
        new = _seal.make_record(prev, len(lines) + 1, "seal", record["at"], **fields)
        lines.append(_seal.record_line(new))
        prev = new["hash"]
        io.add_flags(path, _seal.IMMUTABLE)
    _clear(manifest, _seal.APPEND)
    with open(manifest, "wb") as handle:
        handle.write(b"".join(lines))
    io.add_flags(manifest, _seal.APPEND)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="job", required=True)
    rel = sub.add_parser("reliability")
    rel.add_argument("--duration", type=int, default=180)
    rel.add_argument("--interval", type=float, default=3.0)
    rel.add_argument("--pause", type=float, default=0.01)
    kill = sub.add_parser("killsteps")
    kill.add_argument("--events", type=int, default=5)
    tam = sub.add_parser("tamper")
    tam.add_argument("case", choices=["modify", "delete", "truncate", "rewrite", "none"])
    tam.add_argument("--segment")
    tam.add_argument("--expected-head")
    sub.add_parser("events")
    args = parser.parse_args()
    if args.job == "reliability":
        out = reliability(args)
    elif args.job == "killsteps":
        out = killsteps(args)
    elif args.job == "tamper":
        out = tamper(args)
    else:
        numbers = census()
        numbers["seqs"] = len(numbers["seqs"])
        out = numbers
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
