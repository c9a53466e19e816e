"""The seal playbooks on this machine, on files under pytest's tmp_path only.

playbooks/tasks/verify_seal.yml (as playbooks/drift.yml's block runs it,
with the drift_report callback) and playbooks/seal_ship.yml against
localhost, with a fake auditd.conf whose log_file is in tmp_path and
audit.log.1..4 written here. Sealing uses rotate=never, so no auditd is ever
signalled; /etc/audit and /var/log/audit are never read or written. The
sealed files get real a and i flags (tmp_path is ext4 here; tmpfs supports
them too from Linux 6.0); the `site` fixture clears every flag under its
root when the test ends, passed or failed, so pytest can delete tmp_path.
"""
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible_collections.immutable.audit.plugins.module_utils import _flags, _seal
from ansible_collections.immutable.audit.tests.unit.plugins.module_utils.test_seal import clear_flags, flagged

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLAYBOOKS = os.path.join(ROOT, "playbooks")
HOST = "localhost"
T0 = 1732450000

pytestmark = pytest.mark.integration


# --- the site: logs, auditd.conf, sealed dir, head store, ship dir, all in tmp_path

class Site(object):
    def __init__(self, root):
        self.root = str(root)
        self.log_dir = os.path.join(self.root, "log")
        self.log = os.path.join(self.log_dir, "audit.log")
        self.conf = os.path.join(self.root, "auditd.conf")
        self.sealed_dir = os.path.join(self.log_dir, "sealed")
        self.manifest = os.path.join(self.sealed_dir, "MANIFEST.jsonl")
        self.heads = os.path.join(self.root, "heads")
        self.head_file = os.path.join(self.heads, HOST + ".json")
        self.ship = os.path.join(self.root, "ship")
        self.report = os.path.join(self.root, "report")
        self.inventory = os.path.join(self.root, "inventory.ini")
        os.makedirs(self.log_dir)
        with open(self.conf, "w") as handle:
            handle.write("log_file = %s\nnum_logs = 5\nmax_log_file_action = ROTATE\n" % self.log)
        with open(self.inventory, "w") as handle:
            # No sudo here and already root: become is switched off for the host.
            handle.write("%s ansible_connection=local ansible_python_interpreter=/usr/bin/python3 "
                         "ansible_become=false\n" % HOST)
        self.serial = 4567
        self.time = T0 * 1000 + 123
        # auditd's chain as it is after four rotations: audit.log.4 is the oldest
        for name in ["audit.log.4", "audit.log.3", "audit.log.2", "audit.log.1", "audit.log"]:
            self.write(os.path.join(self.log_dir, name), 20)

    def write(self, path, events):
        with open(path, "ab") as handle:
            for _n in range(events):
                stamp = "%d.%03d:%d" % (self.time // 1000, self.time % 1000, self.serial)
                handle.write((
                    'type=SYSCALL msg=audit(%s): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c '
                    'a1=7ffd2b1c a2=941 a3=1b6 items=2 ppid=1201 pid=4242 auid=1000 uid=0 gid=0 euid=0 suid=0 '
                    'fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="vi" exe="/usr/bin/vim.basic" '
                    'subj=unconfined key="identity"\n'
                    'type=CWD msg=audit(%s): cwd="/root"\n'
                    'type=PATH msg=audit(%s): item=0 name="/etc/passwd" inode=1311 dev=fe:01 mode=0100644 '
                    'ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0\n'
                    'type=PROCTITLE msg=audit(%s): proctitle=7669002F6574632F706173737764\n'
                    % (stamp, stamp, stamp, stamp)).encode())
                self.serial += 1
                self.time += 1500

    def records(self):
        with open(self.manifest, "rb") as handle:
            return [json.loads(line) for line in handle.read().splitlines()]

    def manifest_bytes(self):
        with open(self.manifest, "rb") as handle:
            return handle.read()

    def stored(self):
        with open(self.head_file) as handle:
            return json.load(handle)

    def stored_bytes(self):
        with open(self.head_file, "rb") as handle:
            return handle.read()


@pytest.fixture
def site(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a and i need CAP_LINUX_IMMUTABLE (root)")
    root = tmp_path / "site"
    root.mkdir()
    probe = str(root / "probe")
    with open(probe, "w") as handle:
        handle.write("x")
    try:
        _seal.SealIO().add_flags(probe, _flags.APPEND)
        _seal.SealIO().remove_flags(probe, _flags.APPEND)
    except (_flags.FlagsError, OSError) as exc:
        pytest.skip("cannot set inode flags under %s: %s" % (root, exc))
    os.unlink(probe)
    try:
        yield Site(root)
    finally:
        clear_flags(str(root))
        assert flagged(str(root)) == []


# --- running playbooks

def play(site, playbook, *extra, **kw):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1", IMMUTABLE_AUDIT_SEAL_HEADS=site.heads,
               ANSIBLE_CALLBACKS_ENABLED="immutable.audit.drift_report", IMMUTABLE_AUDIT_DRIFT_DIR=site.report)
    env.update(kw.get("env") or {})
    for key in kw.get("unset") or ():
        env.pop(key, None)
    ansible_playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run(
        [ansible_playbook, "-i", site.inventory, playbook, "-e", "seal_sealed_dir=" + site.sealed_dir,
         "-e", "seal_auditd_conf=" + site.conf] + list(extra),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    proc.out = proc.stdout + proc.stderr
    return proc


def seal(site):
    """Seal what is rotated, as the timer would, but never signal auditd (rotate=never)."""
    path = os.path.join(site.root, "seal.yml")
    with open(path, "w") as handle:
        yaml.safe_dump([{
            "name": "Seal the rotated logs of the fake auditd",
            "hosts": "all", "gather_facts": False,
            "tasks": [{"name": "Seal", "immutable.audit.audit_seal": {
                "state": "sealed", "rotate": "never", "auditd_conf": site.conf, "sealed_dir": site.sealed_dir},
                "register": "sealed"},
                {"name": "Show", "ansible.builtin.debug": {"var": "sealed.sealed"}}]}], handle)
    proc = play(site, path)
    assert proc.returncode == 0, proc.out[-20000:]
    return site.records()


def drift_playbook(site):
    """playbooks/drift.yml's seal block, as it is there, in a check-mode play of its own (the rest of
    drift.yml audits the real auditd and rules of the machine, which this test must not touch)."""
    with open(os.path.join(PLAYBOOKS, "drift.yml")) as handle:
        drift = yaml.safe_load(handle)
    blocks = [t for t in drift[0]["tasks"] if "seal" in t.get("name", "")]
    assert len(blocks) == 1
    block = copy.deepcopy(blocks[0])
    for task in block["block"]:
        if "ansible.builtin.import_tasks" in task:
            task["ansible.builtin.import_tasks"] = os.path.join(PLAYBOOKS, task["ansible.builtin.import_tasks"])
    path = os.path.join(site.root, "drift_seal.yml")
    with open(path, "w") as handle:
        yaml.safe_dump([{"name": "Drift audit of the sealed logs", "hosts": "all", "gather_facts": False,
                         "check_mode": True, "tasks": [block]}], handle)
    return path


def drift(site, **kw):
    proc = play(site, drift_playbook(site), "--check", "--diff", **kw)
    assert proc.returncode == 0, proc.out[-20000:]
    with open(os.path.join(site.report, "drift.json")) as handle:
        return json.load(handle)["hosts"][HOST]


def ship(site, *extra):
    return play(site, os.path.join(PLAYBOOKS, "seal_ship.yml"), "-e", "seal_ship_dir=" + site.ship, *extra)


def lift(site, path, mask):
    _seal.SealIO().remove_flags(path, mask)


def rewrite_without(site, drop):
    """What a root can do: remove one sealed log and rebuild a consistent chain without it."""
    recs = site.records()
    lift(site, site.sealed_dir, _flags.APPEND)
    lift(site, site.manifest, _flags.APPEND)
    lift(site, os.path.join(site.sealed_dir, drop), _flags.IMMUTABLE)
    os.unlink(os.path.join(site.sealed_dir, drop))
    prev, lines, seq = _seal.GENESIS, [], 0
    for rec in recs:
        if rec.get("name") == drop:
            continue
        seq += 1
        fields = dict((k, v) for k, v in rec.items() if k not in ("hash", "prev", "seq", "type", "at", "v"))
        new = _seal.make_record(prev, seq, rec["type"], rec["at"], **fields)
        lines.append(_seal.record_line(new))
        prev = new["hash"]
    with open(site.manifest, "wb") as handle:
        handle.write(b"".join(lines))
    _seal.SealIO().add_flags(site.manifest, _flags.APPEND)
    _seal.SealIO().add_flags(site.sealed_dir, _flags.APPEND)
    return prev


def seal_findings(host):
    return [f for f in host["findings"] if f["category"] == "sealed logs"]


# --- the tests

def test_host_that_does_not_seal_is_no_finding(site):
    host = drift(site)
    assert host["status"] == "compliant" and host["findings"] == []
    assert not os.path.exists(site.head_file)


def test_drift_stores_the_head_and_finds_a_consistent_rewrite(site):
    recs = seal(site)
    assert len(recs) == 4 and [r["type"] for r in recs] == ["seal"] * 4
    # the live log and the log directory never get a flag
    assert not _seal.SealIO().get_flags(site.log) & _flags.PROTECTIVE
    assert not _seal.SealIO().get_flags(site.log_dir) & _flags.PROTECTIVE

    host = drift(site)
    assert host["status"] == "compliant", host
    stored = site.stored()
    assert stored["head"] == recs[-1]["hash"] and stored["records"] == 4 and stored["segments"] == 4
    assert stored["host"] == HOST and stored["names"] == [r["name"] for r in recs]
    assert stored["verified_at"].endswith("Z")
    assert oct(os.stat(site.head_file).st_mode & 0o777) == "0o600"
    # again: the head store's write is no drift, the head the same
    assert drift(site)["status"] == "compliant"
    assert site.stored()["head"] == recs[-1]["hash"]

    before = site.stored_bytes()
    dropped = recs[1]["name"]
    new_head = rewrite_without(site, dropped)
    assert _seal.verify(site.sealed_dir)["ok"]          # consistent in itself
    host = drift(site)
    assert host["status"] == "drifted"
    found = seal_findings(host)
    head = [f for f in found if f["message"].startswith("head_not_found")]
    assert len(head) == 1, found
    assert dropped in head[0]["message"]
    assert head[0]["expected"] == ["chain extends head %s" % recs[-1]["hash"]]
    assert head[0]["actual"] == ["head %s" % new_head]
    assert any("task failed (rescued)" in f["message"] for f in found)
    # never advanced after a failed verification
    assert site.stored_bytes() == before


def test_stored_head_without_manifest_is_a_finding(site):
    recs = seal(site)
    assert drift(site)["status"] == "compliant"
    before = site.stored_bytes()
    clear_flags(site.sealed_dir)
    shutil.rmtree(site.sealed_dir)                     # sealed logs and manifest deleted
    host = drift(site)
    assert host["status"] == "drifted"
    messages = [f["message"] for f in seal_findings(host)]
    assert any(m.startswith("manifest_missing: manifest %s does not exist" % site.manifest) for m in messages)
    head = [m for m in messages if m.startswith("head_not_found")]
    assert head and all(r["name"] in head[0] for r in recs)
    assert [f["actual"] for f in seal_findings(host) if f["message"].startswith("head_not_found")] == [
        ["no records (manifest empty or missing)"]]
    assert site.stored_bytes() == before


def test_default_head_store_is_under_home(site, tmp_path):
    seal(site)
    home = str(tmp_path / "home")
    os.makedirs(home)
    host = drift(site, env={"HOME": home}, unset=["IMMUTABLE_AUDIT_SEAL_HEADS"])
    assert host["status"] == "compliant"
    path = os.path.join(home, ".local", "state", "immutable.audit", "seal-heads", HOST + ".json")
    with open(path) as handle:
        assert json.load(handle)["head"] == site.records()[-1]["hash"]
    assert not os.path.exists(site.head_file)


def test_ship_verify_copies_then_prune_by_name(site):
    recs = seal(site)
    assert drift(site)["status"] == "compliant"
    names = [r["name"] for r in recs]
    oldest = names[0]
    manifest = site.manifest_bytes()
    copies = os.path.join(site.ship, HOST)

    # --check: reports, ships and prunes nothing
    proc = ship(site, "--check", "-e", json.dumps({"seal_prune": [oldest], "seal_prune_reason": "shipped"}))
    assert proc.returncode == 0, proc.out[-20000:]
    assert "would prune: %s" % oldest in proc.out and "would ship" in proc.out
    assert not os.path.exists(site.ship)
    assert site.manifest_bytes() == manifest
    assert os.path.exists(os.path.join(site.sealed_dir, oldest))

    # refusals: no reason, a pattern, a name the manifest does not hold, no seal_ship_dir
    for extra, text in (({"seal_prune": [oldest]}, "seal_prune_reason is required with seal_prune"),
                        ({"seal_prune": ["audit-*.log"], "seal_prune_reason": "x"}, "by name only"),
                        ({"seal_prune": ["audit-1-2-3-4.log"], "seal_prune_reason": "x"},
                         "audit-1-2-3-4.log: not sealed logs")):
        proc = ship(site, "-e", json.dumps(extra))
        assert proc.returncode == 2 and text in proc.out, proc.out[-20000:]
    proc = play(site, os.path.join(PLAYBOOKS, "seal_ship.yml"))
    assert proc.returncode == 2 and "seal_ship_dir is required" in proc.out
    assert site.manifest_bytes() == manifest

    # ship and prune the oldest log
    head_before = site.stored()["head"]
    proc = ship(site, "-e", json.dumps({"seal_prune": [oldest], "seal_prune_reason": "retention, SEC-42"}))
    assert proc.returncode == 0, proc.out[-20000:]
    assert sorted(os.listdir(copies)) == sorted(names + ["MANIFEST.jsonl"])
    for rec in recs:
        with open(os.path.join(copies, rec["name"]), "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == rec["sha256"]
    assert not os.path.exists(os.path.join(site.sealed_dir, oldest))
    last = site.records()[-1]
    assert last["type"] == "prune" and last["names"] == [oldest] and last["reason"] == "retention, SEC-42"
    report = _seal.verify(site.sealed_dir, expected_head=head_before)
    assert report["ok"] and report["findings"] == [] and report["pruned_logs"] == [oldest]
    assert site.stored()["head"] == last["hash"] and oldest not in site.stored()["names"]
    # the drift audit agrees, and the copy (which keeps the pruned log) verifies without flags
    assert drift(site)["status"] == "compliant"
    proc = ship(site)
    assert proc.returncode == 0, proc.out[-20000:]
    copy_report = _seal.verify(copies, expected_head=last["hash"], flags=False)
    assert copy_report["ok"] and copy_report["findings"] == []
    # pruning it again is a no-op, not a refusal
    proc = ship(site, "-e", json.dumps({"seal_prune": [oldest], "seal_prune_reason": "again"}))
    assert proc.returncode == 0 and "already pruned: %s" % oldest in proc.out, proc.out[-20000:]
    assert site.records()[-1]["hash"] == last["hash"]


def test_ship_refuses_a_host_without_manifest_and_a_tampered_seal(site):
    proc = ship(site)
    assert proc.returncode == 2 and "has no manifest" in proc.out, proc.out[-20000:]
    recs = seal(site)
    assert drift(site)["status"] == "compliant"
    rewrite_without(site, recs[0]["name"])
    proc = ship(site, "-e", json.dumps({"seal_prune": [recs[1]["name"]], "seal_prune_reason": "x"}))
    assert proc.returncode == 2 and "head not found" in proc.out, proc.out[-20000:]
    assert not os.path.exists(os.path.join(site.ship, HOST, recs[1]["name"]))
    assert os.path.exists(os.path.join(site.sealed_dir, recs[1]["name"]))
