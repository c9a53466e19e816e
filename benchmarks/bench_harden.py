# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the no-op run of playbooks/harden.yml per host, against a hand-written equivalent.

    sudo .venv/bin/python benchmarks/bench_harden.py [--runs 3]

Runs nothing on this machine's kernel: everything happens in throwaway QEMU
guests (scripts/vm/vm.py, docs/vm.md), one at a time, each stopped in
``finally``.

1. Guest ``bench-harden-ours`` (``vm.py start --fast``, ``wait``): converge
   playbooks/harden.yml (immutable.audit.auditd, then immutable.audit.baseline
   with all four profiles, cis stig ospp pci_dss, and the lock), then run it
   --runs more times: the no-op runs. The timing callback
   benchmarks/callback_plugins/bench_tasks.py (shared with
   bench_audit_rules.py) records every task result per host; a task with a loop counts once. Reported: task entries per host on
   the no-op run (ran + skipped by a condition), changed (from the raw
   results, see the callback), and the wall time of the
   ansible-playbook process. The kernel's rules after the converge
   (``auditctl -l``) become the hand-written playbook's rule list.
2. Guest ``bench-harden-hand``: the same for benchmarks/handwritten_harden.yml
   (template of those rules ending in ``-e 2``, handler ``augenrules --load``,
   lineinfile for the auditd.conf keys, service started/enabled). Then it
   shows that on the locked kernel ``augenrules --load`` with a changed rules
   file leaves the kernel as it is and still exits 0.

Target (from the issue): at most 25 tasks per host on the no-op run.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
PLAYBOOK_BIN = os.path.join(VENV_BIN, "ansible-playbook")
VM_PY = os.path.join(ROOT, "scripts", "vm", "vm.py")
HARDEN = os.path.join(ROOT, "playbooks", "harden.yml")
HANDWRITTEN = os.path.join(ROOT, "benchmarks", "handwritten_harden.yml")
PROFILES = ["cis", "stig", "ospp", "pci_dss"]
TASK_LIMIT = 25

CALLBACKS = os.path.join(ROOT, "benchmarks", "callback_plugins")


def vm(*args, check=True, timeout=900):
    proc = subprocess.run([sys.executable, VM_PY] + list(args), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("vm.py %s failed (rc=%d): %s" % (" ".join(args), proc.returncode,
                                                            (proc.stderr or proc.stdout)[-2000:]))
    return proc


class Guest(object):
    """One throwaway guest, started --fast, always stopped."""

    def __init__(self, name, work):
        self.name = name
        self.work = work
        self.inventory = None
        self.boot_seconds = None

    def __enter__(self):
        start = time.monotonic()
        try:
            conf = json.loads(vm("start", self.name, "--fast", "--replace", "--json").stdout)
            if isinstance(conf, list):
                conf = conf[0]
            vm("wait", self.name)
        except BaseException:
            vm("stop", self.name, check=False)
            raise
        self.boot_seconds = time.monotonic() - start
        self.inventory = os.path.join(self.work, self.name + ".ini")
        with open(self.inventory, "w") as f:
            f.write("%s ansible_host=%s ansible_port=%d ansible_user=%s "
                    "ansible_ssh_private_key_file=%s ansible_python_interpreter=/usr/bin/python3\n"
                    % (self.name, conf["address"], conf["port"], conf["user"], conf["identity_file"]))
        return self

    def __exit__(self, *exc):
        proc = vm("stop", self.name, check=False)
        print("stopped %s: %s" % (self.name, (proc.stdout or proc.stderr).strip()))
        return False

    def ssh(self, command):
        # ssh joins the remote argv with spaces: one string is the shell command
        return vm("ssh", self.name, "--", command, check=False)


class Runner(object):
    def __init__(self, work):
        self.work = work
        self.env = dict(
            os.environ,
            ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
            ANSIBLE_CALLBACK_PLUGINS=CALLBACKS,
            ANSIBLE_CALLBACKS_ENABLED="bench_tasks",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_HOST_KEY_CHECKING="False",
            ANSIBLE_PIPELINING="True",
            # as molecule/*/molecule.yml: one SSH connection per guest, kept open
            ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=300s "
                             "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no "
                             "-o LogLevel=ERROR -o ServerAliveInterval=10",
            PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
        self.count = 0
        # seconds one ansible-playbook may take (bench_scale_guest.py raises it)
        self.timeout = 1800

    def play(self, inventory, playbook, extra_vars, label):
        self.count += 1
        out = os.path.join(self.work, "tasks-%02d.json" % self.count)
        varsfile = os.path.join(self.work, "vars-%02d.json" % self.count)
        with open(varsfile, "w") as f:
            json.dump(extra_vars, f)
        env = dict(self.env, BENCH_TASKS_OUT=out)
        start = time.monotonic()
        proc = subprocess.run([PLAYBOOK_BIN, "-i", inventory, "-e", "@" + varsfile, playbook],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=self.timeout,
                              check=False)
        wall = time.monotonic() - start
        log = os.path.join(self.work, "play-%02d.log" % self.count)
        with open(log, "w") as f:
            f.write(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise RuntimeError("%s failed (rc=%d):\n%s"
                               % (label, proc.returncode, (proc.stdout + proc.stderr)[-5000:]))
        with open(out) as f:
            results = json.load(f)
        hosts = sorted(set(r["host"] for r in results))
        per_host = {}
        for host in hosts:
            mine = [r for r in results if r["host"] == host]
            per_host[host] = {
                "entries": len(mine),
                "skipped": sum(not r["ran"] for r in mine),
                "changed": sum(r["changed"] for r in mine),
                "failed": sum(r["status"] in ("failed", "unreachable") for r in mine),
                "tasks": mine,
            }
        print("%s: %.1f s, %s" % (label, wall, ", ".join(
            "%s %d tasks (%d skipped), changed %d, failed %d"
            % (h, p["entries"], p["skipped"], p["changed"], p["failed"]) for h, p in per_host.items())))
        return {"wall": wall, "hosts": per_host}


def measure(runner, guest, playbook, extra_vars, runs, label):
    converge = runner.play(guest.inventory, playbook, extra_vars, label + " converge")
    noops = [runner.play(guest.inventory, playbook, extra_vars, "%s no-op %d" % (label, i + 1))
             for i in range(runs)]
    host = noops[0]["hosts"][guest.name]
    return {"label": label, "boot": guest.boot_seconds, "converge": converge,
            "noops": noops, "walls": [n["wall"] for n in noops], "host": host,
            "noop_changed": max(n["hosts"][guest.name]["changed"] for n in noops),
            "noop_failed": max(n["hosts"][guest.name]["failed"] for n in noops)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=3, help="no-op runs per playbook (median)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (QEMU guests, as molecule does)")
    for path in (PLAYBOOK_BIN, VM_PY):
        if not os.path.exists(path):
            sys.exit("missing %s" % path)

    facts = {"nproc": os.cpu_count(), "kernel": platform.release(),
             "load_start": "%.2f %.2f %.2f" % os.getloadavg()}
    work = tempfile.mkdtemp(prefix="bench-harden-", dir="/tmp")
    runner = Runner(work)
    rows = []
    locked_demo = None
    try:
        image = subprocess.run([os.path.join(ROOT, "scripts", "vm", "build-image.sh")],
                               capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        print("image %s" % image)

        with Guest("bench-harden-ours", work) as guest:
            print("guest %s up in %.1f s" % (guest.name, guest.boot_seconds))
            ours = measure(runner, guest, HARDEN, {"baseline_profiles": PROFILES}, args.runs,
                           "harden.yml (auditd + baseline, %s, lock)" % " ".join(PROFILES))
            live = guest.ssh("auditctl -l")
            status = guest.ssh("auditctl -s")
            if live.returncode != 0:
                raise RuntimeError("auditctl -l in the guest failed: %s" % live.stderr)
            rules = [line for line in live.stdout.splitlines() if line.strip()]
            ours["rules"] = len(rules)
            ours["locked"] = "enabled 2" in status.stdout
        rows.append(ours)

        with Guest("bench-harden-hand", work) as guest:
            print("guest %s up in %.1f s" % (guest.name, guest.boot_seconds))
            hand = measure(runner, guest, HANDWRITTEN, {"hand_rules": rules}, args.runs,
                           "handwritten_harden.yml (template + augenrules --load)")
            live = guest.ssh("auditctl -l").stdout.splitlines()
            status = guest.ssh("auditctl -s").stdout
            hand["rules"] = len(live)
            hand["same_rules"] = live == rules
            hand["locked"] = "enabled 2" in status
            # A changed rules file on the locked kernel: augenrules --load.
            demo = guest.ssh(
                "echo '-w /etc/bench-harden-new -p wa -k bench_new' >> /etc/audit/rules.d/50-hand.rules; "
                "augenrules --load >/tmp/augenrules.out 2>&1; rc=$?; "
                "echo rc=$rc; auditctl -l | grep -c bench_new; tail -n 3 /tmp/augenrules.out")
            locked_demo = demo.stdout.strip()
        rows.append(hand)
    finally:
        if args.keep:
            print("logs kept in %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    facts["load_end"] = "%.2f %.2f %.2f" % os.getloadavg()
    report(rows, facts, args.runs, locked_demo)


def report(rows, facts, runs, locked_demo):
    print()
    print("harden.yml no-op run per host: nproc=%s, host kernel %s, TCG guests (384 MiB, 1 vCPU)"
          % (facts["nproc"], facts["kernel"]))
    print("load average at start: %s, at end: %s" % (facts["load_start"], facts["load_end"]))
    print()
    print("| playbook | tasks on the no-op run (ran + skipped) | changed | no-op wall s, median of %d "
          "(min-max) | converge wall s | rules live | locked |" % runs)
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        h = r["host"]
        print("| %s | %d (%d + %d) | %d | %.1f (%.1f-%.1f) | %.1f | %d | %s |"
              % (r["label"], h["entries"], h["entries"] - h["skipped"], h["skipped"],
                 r["noop_changed"], statistics.median(r["walls"]), min(r["walls"]), max(r["walls"]),
                 r["converge"]["wall"], r["rules"], "yes" if r["locked"] else "NO"))
    print()
    ours = rows[0]
    print("Tasks of the harden.yml no-op run (host %s):" % list(ours["noops"][0]["hosts"])[0])
    for t in ours["host"]["tasks"]:
        status = t["status"]
        if t["ran"] and t["status"] == "skipped":
            status = "ran*"
        print("  %-8s %5.2f s  %s" % (status, t["seconds"], t["task"]))
    print("  (ran*: the module ran; its result carries a non-empty 'skipped' list, so Ansible shows the "
          "task as skipped)")
    if len(rows) > 1:
        print("hand-written playbook: kernel rules equal harden.yml's: %s"
              % ("yes" if rows[1].get("same_rules") else "NO"))
    if locked_demo is not None:
        print("augenrules --load with a changed file on the locked kernel "
              "(rc, count of the new rule live, last lines):")
        print("  " + locked_demo.replace("\n", "\n  "))
    ok = (ours["host"]["entries"] <= TASK_LIMIT and ours["noop_changed"] == 0
          and ours["noop_failed"] == 0)
    print()
    print("TASK LIMIT HOLDS: %d <= %d tasks per host, changed=0" % (ours["host"]["entries"], TASK_LIMIT)
          if ok else "TASK LIMIT MISSED: %d tasks per host (limit %d), changed=%d"
          % (ours["host"]["entries"], TASK_LIMIT, ours["noop_changed"]))


if __name__ == "__main__":
    main()
