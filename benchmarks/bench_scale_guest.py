# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: audit_rules with 1,000, 5,000 and 20,000 rules in a TCG guest,
its time split between the module and auditctl + the kernel, and its memory.

    .venv/bin/python benchmarks/bench_scale_guest.py [--sizes 1000,5000,20000]
                                                       [--shapes syscall,watch_one_dir,watch_spread]

Runs nothing on this machine's kernel: every case gets a fresh throwaway
guest (``vm.py start --fast --replace``, a resumed snapshot with no audit
rules) that is stopped in ``finally``. Per shape and size:

1. ``apply``: immutable.audit.audit_rules loads the N rules into the empty
   kernel and writes its rules file;
2. ``1% changed``: the same task with the key of every 100th rule changed
   (N/100 rules replaced in the kernel and the file rewritten);
3. ``auditctl -R``: in another fresh guest, the kernel's own cost for the
   same N rules: one ``auditctl -R`` of the whole file (what ``augenrules
   --load`` does at boot, without its ``-D``), timed inside the guest, up to
   --raw-max rules.

In 1 and 2 the module finds ``auditctl`` through a wrapper first on its PATH
(the task's ``environment``) that logs each run's wall time with bash's
$EPOCHREALTIME (no extra process), so "auditctl + kernel" is the sum of every
auditctl process the module ran (its batches of ``auditctl -R``, the
listings that verify, ``-s``), and "module" is the task's time (timing
callback benchmarks/callback_plugins/bench_tasks.py) minus that. The
module's peak memory is ``ru_maxrss`` of its interpreter, from a Python
wrapper given as ``ansible_python_interpreter`` for that task (the largest
process among the module and its children; auditctl stays far below the
module). The wrapper's own start-up is charged to the module.

Shapes: ``syscall`` ``-a always,exit -F arch=b64 -S openat -F auid=N -k sN``
(no two match one event); ``watch_one_dir`` ``-w /srv/one/fN -p wa -k wN``
(every watch on one directory: one kernel parent-watch list); and
``watch_spread`` ``-w /srv/many/dNNN/fN -p wa -k wN`` (20 files a directory).

Target (issue 16): the module's own share of the 20,000-rule apply is the
smaller part (the time is dominated by auditctl and the kernel), and its
memory grows linearly with the rule count.
"""

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_harden import ROOT, Guest, Runner  # noqa: E402  (one guest/runner for the benchmarks)

PLAYBOOK = """\
- name: Apply a large rule set
  hosts: all
  gather_facts: false
  tasks:
    - name: Apply the rules
      immutable.audit.audit_rules:
        path: /etc/audit/rules.d/50-bench.rules
        rules: "{{ bench_rules }}"
      vars:
        ansible_python_interpreter: /opt/bench/python-rss
      environment:
        PATH: /opt/bench/bin:/usr/sbin:/usr/bin:/sbin:/bin
"""

# Installed on each guest: the timing wrapper of auditctl and the memory
# wrapper of the module's interpreter. Both append to files under /run/bench.
SETUP = r"""set -e
mkdir -p /opt/bench/bin /run/bench
cat > /opt/bench/bin/auditctl <<'EOF'
#!/bin/bash
start=$EPOCHREALTIME
/usr/sbin/auditctl "$@"
rc=$?
echo "$start $EPOCHREALTIME $1" >> /run/bench/auditctl.log
exit $rc
EOF
cat > /opt/bench/python-rss <<'EOF'
#!/usr/bin/python3
import resource, subprocess, sys
rc = subprocess.call(["/usr/bin/python3"] + sys.argv[1:])
with open("/run/bench/rss.log", "a") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)
EOF
chmod 755 /opt/bench/bin/auditctl /opt/bench/python-rss
"""

SHAPES = ("syscall", "watch_one_dir", "watch_spread")
PER_DIR = 20


def rules(shape, n, changed=False):
    """The N rules of a shape; with ``changed`` every 100th key ends in ``x``."""
    out = []
    for i in range(n):
        key = ("s%d" if shape == "syscall" else "w%d") % i
        if changed and i % 100 == 50:
            key += "x"
        if shape == "syscall":
            out.append("-a always,exit -F arch=b64 -S openat -F auid=%d -F key=%s" % (100000 + i, key))
        elif shape == "watch_one_dir":
            out.append("-w /srv/one/f%d -p wa -k %s" % (i, key))
        else:
            out.append("-w /srv/many/d%04d/f%d -p wa -k %s" % (i // PER_DIR, i, key))
    return out


def dirs_command(shape, n):
    if shape == "watch_one_dir":
        return "mkdir -p /srv/one"
    if shape == "watch_spread":
        return "mkdir -p $(seq -f /srv/many/d%%04g 0 %d)" % ((n - 1) // PER_DIR)
    return "true"


def ssh_ok(guest, command):
    proc = guest.ssh(command)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise RuntimeError("on %s: %s failed (rc=%d): %s" % (guest.name, command, proc.returncode, tail))
    return proc.stdout


def kernel_count(guest):
    out = ssh_ok(guest, "/usr/sbin/auditctl -l")
    return sum(1 for line in out.splitlines() if line.strip() and line.strip() != "No rules")


def run_module(runner, guest, work, shape, n, changed, label):
    ssh_ok(guest, ": > /run/bench/auditctl.log; : > /run/bench/rss.log")
    play = runner.play(guest.inventory, os.path.join(work, "play.yml"),
                       {"bench_rules": rules(shape, n, changed)}, label)
    task = [t for t in play["hosts"][guest.name]["tasks"] if t["task"] == "Apply the rules"][0]
    runs = []
    for line in ssh_ok(guest, "cat /run/bench/auditctl.log").splitlines():
        start, end, first = (line.split() + [""])[:3]
        runs.append((float(end) - float(start), first))
    rss = [int(x) for x in ssh_ok(guest, "cat /run/bench/rss.log").split()]
    count = kernel_count(guest)
    ctl = sum(seconds for seconds, _first in runs)
    res = task.get("result") or {}
    return {
        "task": task["seconds"], "auditctl": ctl, "module": task["seconds"] - ctl,
        "auditctl_runs": len(runs), "rss_mb": max(rss) / 1024.0 if rss else None,
        "kernel_rules": count, "changed": task["changed"],
        "added": len(res.get("added") or []), "removed": len(res.get("removed") or []),
    }


def kernel_only(guest, shape, n):
    """One auditctl -R of the whole set in the guest: the kernel's own cost."""
    text = "\n".join(rules(shape, n)) + "\n"
    with tempfile.NamedTemporaryFile("w", suffix=".rules", delete=False) as f:
        f.write(text)
    try:
        up = subprocess.run(["bash", "-c", "cat %s | %s %s ssh %s -- 'cat > /run/bench/full.rules'"
                             % (f.name, sys.executable, os.path.join(ROOT, "scripts", "vm", "vm.py"),
                                guest.name)], capture_output=True, text=True, check=False)
        if up.returncode != 0:
            raise RuntimeError("copy to %s failed: %s" % (guest.name, up.stderr[-2000:]))
    finally:
        os.unlink(f.name)
    out = ssh_ok(guest, "s=$EPOCHREALTIME; /usr/sbin/auditctl -R /run/bench/full.rules >/dev/null; "
                        "e=$EPOCHREALTIME; echo \"$s $e\"")
    start, end = out.split()[-2:]
    return {"seconds": float(end) - float(start), "kernel_rules": kernel_count(guest)}


@contextlib.contextmanager
def fresh(name, work, shape, n):
    """A guest resumed from the snapshot, with the wrappers and directories, always stopped."""
    with Guest(name, work) as guest:
        ssh_ok(guest, SETUP)
        ssh_ok(guest, dirs_command(shape, n))
        if kernel_count(guest) != 0:
            raise RuntimeError("the fresh guest %s already holds audit rules" % name)
        yield guest


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--raw-max", type=int, default=5000,
                        help="time the one auditctl -R reference only up to this many rules (the kernel's "
                             "duplicate check makes it grow with the square of the count: 85 s for 5,000 "
                             "syscall rules in TCG, about 23 min projected for 20,000)")
    parser.add_argument("--no-change", action="store_true",
                        help="only the apply to an empty kernel (a 20,000-rule case takes most of an hour in TCG)")
    parser.add_argument("--name", default="bench-scale")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    shapes = [s for s in args.shapes.split(",") if s]
    bad = [s for s in shapes if s not in SHAPES]
    if bad:
        parser.error("unknown shape(s) %s; choose from %s" % (", ".join(bad), ", ".join(SHAPES)))

    work = tempfile.mkdtemp(prefix="bench-scale-")
    with open(os.path.join(work, "play.yml"), "w") as f:
        f.write(PLAYBOOK)
    runner = Runner(work)
    runner.timeout = 4 * 3600  # the kernel's part of 20,000 rules grows with the square of the count
    rows = []
    print("machine: %s, %d CPUs, load %s" % (platform.node(), os.cpu_count(), os.getloadavg()))
    for shape in shapes:
        for n in sizes:
            with fresh(args.name, work, shape, n) as guest:
                apply = run_module(runner, guest, work, shape, n, False, "%s %d apply" % (shape, n))
                change = None if args.no_change else run_module(runner, guest, work, shape, n, True,
                                                                "%s %d 1%% changed" % (shape, n))
            raw = None
            if n <= args.raw_max:
                with fresh(args.name, work, shape, n) as guest:
                    raw = kernel_only(guest, shape, n)
            row = {"shape": shape, "rules": n, "apply": apply, "change": change, "auditctl_R": raw}
            rows.append(row)
            print(json.dumps(row), flush=True)
    report(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    problems = check(rows)
    for p in problems:
        print("TARGET MISSED: " + p)
    return 1 if problems else 0


def report(rows):
    print()
    print("| shape | rules | run | task s | module s | auditctl + kernel s (runs) | module share "
          "| peak RSS MB | kernel rules after | one `auditctl -R` of the set s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        for run in ("apply", "change"):
            r = row[run]
            if r is None:
                continue
            print("| %s | %d | %s | %.1f | %.1f | %.1f (%d) | %.0f%% | %.1f | %d | %s |" % (
                row["shape"], row["rules"], "apply to empty kernel" if run == "apply" else "1% changed",
                r["task"], r["module"], r["auditctl"], r["auditctl_runs"],
                100.0 * r["module"] / r["task"], r["rss_mb"], r["kernel_rules"],
                "%.1f" % row["auditctl_R"]["seconds"] if run == "apply" and row["auditctl_R"] else "-"))
    print()
    print("Memory per 1,000 rules (peak RSS difference between sizes, apply runs):")
    for shape in sorted(set(r["shape"] for r in rows)):
        mine = sorted((r for r in rows if r["shape"] == shape), key=lambda r: r["rules"])
        steps = ["%d->%d: %.2f MB" % (a["rules"], b["rules"],
                                      (b["apply"]["rss_mb"] - a["apply"]["rss_mb"]) * 1000.0
                                      / (b["rules"] - a["rules"]))
                 for a, b in zip(mine, mine[1:])]
        print("  %s: %s" % (shape, ", ".join(steps) or "one size only"))


def check(rows):
    problems = []
    for row in rows:
        for run in ("apply", "change"):
            r = row[run]
            if r is not None and r["kernel_rules"] != row["rules"]:
                problems.append("%s %d %s: the kernel holds %d rules"
                                % (row["shape"], row["rules"], run, r["kernel_rules"]))
        if row["change"] is not None and row["change"]["added"] != row["rules"] // 100:
            problems.append("%s %d: 1%% changed replaced %d rules, not %d" % (
                row["shape"], row["rules"], row["change"]["added"], row["rules"] // 100))
        if row["rules"] == max(r["rules"] for r in rows) and row["apply"]["module"] > row["apply"]["auditctl"]:
            problems.append("%s %d apply: the module's own part (%.1f s) exceeds auditctl + kernel (%.1f s)"
                            % (row["shape"], row["rules"], row["apply"]["module"], row["apply"]["auditctl"]))
    return problems


if __name__ == "__main__":
    sys.exit(main())
