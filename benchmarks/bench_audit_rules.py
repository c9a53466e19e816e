# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: 1000 audit rules, one changed; audit_rules against a full reload.

    sudo .venv/bin/python benchmarks/bench_audit_rules.py [--rules 1000]

Runs on this machine's real kernel, as root, and only when the kernel holds
no audit rules at all when it starts (``auditctl -l`` prints ``No rules``);
otherwise it aborts without touching anything. It only adds ordinary rules
(syscall rules and watches) and never changes the audit status (no -e, -f,
-b, -r, no auditd). Whatever happens it leaves the kernel with no rules and
deletes its temporary directory (rules.d for the module's ``path``, the
watched files, playbooks).

For two rule sets of --rules rules each,

  syscall  ``-a always,exit -F arch=b64 -S openat -F auid=N -k bench_N``
           (no two can match the same event), the middle rule's key changed;
  watch    ``-w /tmp/<tmp>/watched/fN -p wa -k bench_N``, the last rule's key
           changed, and separately the middle rule's key changed (watches may
           overlap, so the rules after a changed one have to move),

it measures

1. immutable.audit.audit_rules applying the whole set to an empty kernel
   through ansible-playbook (connection local): the playbook's wall time, the
   wall time minus an empty playbook's (ansible-playbook's fixed cost), and
   the task's own time from the timing callback benchmarks/callback_plugins/bench_tasks.py;
2. from the same loaded state, re-applying the set with one rule changed
   (a) with audit_rules and (b) the way ``augenrules --load`` does it:
   ``auditctl -D`` then ``auditctl -R`` with the full new set;
3. during 2a and 2b, a thread lists the kernel rules (``auditctl -l``) in a
   tight loop and records, for every rule that is in both the old and the new
   set, the longest time it was missing from the listing: "seen absent" is
   first to last sample that missed it (a lower bound), "bound" is last
   sample that had it to next sample that had it again (an upper bound).
   A rule that was missing but whose twin (the same rule with the extra key
   ``immutable-audit-moving``) was listed counts as absent but covered.

Kernel deletions for audit_rules are ``removed`` + ``moved`` from the module
result (each moved rule is deleted and added again) and, listed separately,
the twins deleted at the end (one per moved rule). For -D it is every rule.

Targets (from the issue): changing one rule of 1000 deletes at most one rule
in the kernel, no unchanged rule is ever absent, and it is at least 10x
faster than delete-all-and-reload.
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
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAYBOOK_BIN = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
TWIN_KEY = "immutable-audit-moving"
BENCH_KEY = "bench_"

CALLBACKS = os.path.join(ROOT, "benchmarks", "callback_plugins")

EMPTY_PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks: []
"""

RULES_PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: audit_rules
      immutable.audit.audit_rules:
        path: {path}
        rules: "{{{{ bench_rules }}}}"
"""


# ------------------------------------------------------------------ kernel

def auditctl(*args, check=True):
    proc = subprocess.run(["auditctl"] + list(args), capture_output=True, text=True,
                          env=dict(os.environ, LANG="C", LC_ALL="C"), check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("auditctl %s failed (rc=%d): %s"
                           % (" ".join(args), proc.returncode, (proc.stderr or proc.stdout).strip()))
    return proc


def listing():
    out = auditctl("-l").stdout
    return [] if out.strip() == "No rules" else out.splitlines()


def ours(line):
    return BENCH_KEY in line or TWIN_KEY in line


def load_file(path, lines):
    """auditctl -R with ordinary rules only (never -e/-b/-f/-D lines)."""
    for line in lines:
        if not (line.startswith("-w ") or line.startswith("-a ") or line.startswith("-d ")
                or line.startswith("-W ")):
            raise RuntimeError("refusing to load a non-rule line: %r" % line)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    auditctl("-R", path)


def delete_all(scratch):
    """Empty the kernel. -D only when every live rule is ours; else delete ours one by one."""
    live = listing()
    if not live:
        return 0.0
    start = time.monotonic()
    if all(ours(line) for line in live):
        auditctl("-D")
    else:
        print("WARNING: rules not made by this benchmark appeared; deleting only ours",
              file=sys.stderr)
        dels = ["-W" + line[2:] if line.startswith("-w ") else "-d" + line[2:]
                for line in live if ours(line)]
        load_file(os.path.join(scratch, "delete.rules"), dels)
    return time.monotonic() - start


# ------------------------------------------------------------------ sampler

class Sampler(threading.Thread):
    """Lists the kernel rules in a loop; tracks absence of the unchanged rules."""

    def __init__(self, unchanged):
        super(Sampler, self).__init__(daemon=True)
        self.unchanged = list(unchanged)
        self.twin_of = dict((twin_line(line), line) for line in self.unchanged)
        self.stop_flag = threading.Event()
        self.times = []
        self.errors = 0
        self.last_present = {}
        self.first_missing = {}
        self.last_missing = {}
        self.uncovered_first = {}
        self.uncovered_last = {}
        self.max_seen = 0.0
        self.max_bound = 0.0
        self.max_uncovered_seen = 0.0
        self.ever_missing = set()
        self.ever_uncovered = set()
        self.twins_seen = set()
        self.foreign_twins = set()
        self.foreign_samples = 0

    def run(self):
        while not self.stop_flag.is_set():
            t0 = time.monotonic()
            proc = subprocess.run(["auditctl", "-l"], capture_output=True, text=True,
                                  env=dict(os.environ, LANG="C", LC_ALL="C"), check=False)
            t1 = time.monotonic()
            if proc.returncode != 0:
                self.errors += 1
                continue
            lines = [] if proc.stdout.strip() == "No rules" else proc.stdout.splitlines()
            self.sample((t0 + t1) / 2, lines)

    def sample(self, t, lines):
        self.times.append(t)
        present = set(lines)
        if any(not ours(line) for line in lines):
            self.foreign_samples += 1
        twins = set(line for line in lines if TWIN_KEY in line)
        for tw in twins:
            if tw in self.twin_of:
                self.twins_seen.add(tw)
            else:
                self.foreign_twins.add(tw)
        for line in self.unchanged:
            if line in present:
                if line in self.first_missing:
                    self.max_seen = max(self.max_seen, self.last_missing[line] - self.first_missing.pop(line))
                    self.max_bound = max(self.max_bound, t - self.last_present.get(line, self.t_begin))
                if line in self.uncovered_first:
                    self.max_uncovered_seen = max(self.max_uncovered_seen,
                                                  self.uncovered_last[line] - self.uncovered_first.pop(line))
                self.last_present[line] = t
                continue
            self.ever_missing.add(line)
            self.first_missing.setdefault(line, t)
            self.last_missing[line] = t
            if twin_line(line) in twins:
                if line in self.uncovered_first:
                    self.max_uncovered_seen = max(self.max_uncovered_seen,
                                                  self.uncovered_last[line] - self.uncovered_first.pop(line))
            else:
                self.ever_uncovered.add(line)
                self.uncovered_first.setdefault(line, t)
                self.uncovered_last[line] = t

    def begin(self):
        self.t_begin = time.monotonic()
        self.start()
        # wait for at least one sample of the starting state
        while not self.times and self.is_alive():
            time.sleep(0.001)

    def finish(self):
        self.stop_flag.set()
        self.join()
        end = self.times[-1] if self.times else time.monotonic()
        still = sorted(self.first_missing)
        for line in still:   # absent when sampling stopped
            self.max_seen = max(self.max_seen, self.last_missing[line] - self.first_missing[line])
            self.max_bound = max(self.max_bound, end - self.last_present.get(line, self.t_begin))
        for line in list(self.uncovered_first):
            self.max_uncovered_seen = max(self.max_uncovered_seen,
                                          self.uncovered_last[line] - self.uncovered_first[line])
        gaps = [b - a for a, b in zip(self.times, self.times[1:])]
        return {
            "samples": len(self.times),
            "errors": self.errors,
            "interval_median": statistics.median(gaps) if gaps else None,
            "interval_max": max(gaps) if gaps else None,
            "ever_missing": len(self.ever_missing),
            "ever_uncovered": len(self.ever_uncovered),
            "max_absent_seen": self.max_seen if self.ever_missing else 0.0,
            "max_absent_bound": self.max_bound if self.ever_missing else 0.0,
            "max_uncovered_seen": self.max_uncovered_seen if self.ever_uncovered else 0.0,
            "absent_at_end": len(still),
            "twins_seen": len(self.twins_seen),
            "foreign_twins": len(self.foreign_twins),
            "foreign_samples": self.foreign_samples,
        }


def twin_line(line):
    """How the kernel lists the module's twin of a rule (one more key)."""
    if line.startswith("-w "):
        return line + " -k " + TWIN_KEY
    return line + " -F key=" + TWIN_KEY


# ------------------------------------------------------------------ ansible

class Runner(object):
    def __init__(self, work):
        self.work = work
        self.env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                        ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACK_PLUGINS=CALLBACKS,
                        ANSIBLE_CALLBACKS_ENABLED="bench_tasks",
                        ANSIBLE_LOCAL_TEMP=os.path.join(work, "ansible-local"),
                        ANSIBLE_REMOTE_TEMP=os.path.join(work, "ansible-remote"),
                        BENCH_TASKS_OUT=os.path.join(work, "timer.json"))
        self.empty = os.path.join(work, "empty.yml")
        with open(self.empty, "w") as f:
            f.write(EMPTY_PLAY)

    def playbook(self, play, extra=None):
        argv = [PLAYBOOK_BIN, "-i", "localhost,", "-c", "local",
                "-e", "ansible_python_interpreter=/usr/bin/python3"]
        if extra:
            argv += ["-e", "@" + extra]
        argv.append(play)
        if os.path.exists(self.env["BENCH_TASKS_OUT"]):
            os.remove(self.env["BENCH_TASKS_OUT"])
        start = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env, cwd=self.work, check=False)
        wall = time.monotonic() - start
        if proc.returncode != 0:
            raise RuntimeError("ansible-playbook failed (rc=%d):\n%s\n%s"
                               % (proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))
        with open(self.env["BENCH_TASKS_OUT"]) as f:
            tasks = json.load(f)
        return wall, tasks

    def empty_wall(self, runs=3):
        return statistics.median([self.playbook(self.empty)[0] for _run in range(runs)])

    def apply(self, name, path, rules):
        varfile = os.path.join(self.work, name + ".json")
        play = os.path.join(self.work, name + ".yml")
        with open(varfile, "w") as f:
            json.dump({"bench_rules": rules}, f)
        with open(play, "w") as f:
            f.write(RULES_PLAY.format(path=path))
        wall, tasks = self.playbook(play, varfile)
        task = [t for t in tasks if t["task"] == "audit_rules"][0]
        if task["status"] not in ("ok", "changed"):
            raise RuntimeError("audit_rules failed: %s" % task["result"].get("msg"))
        return wall, task["seconds"], task["result"]


# ------------------------------------------------------------------ rule sets

def syscall_set(n):
    return ["-a always,exit -F arch=b64 -S openat -F auid=%d -F key=%s%d" % (i, BENCH_KEY, i)
            for i in range(100000, 100000 + n)]


def watch_set(n, wdir):
    return ["-w %s/f%d -p wa -k %s%d" % (wdir, i, BENCH_KEY, i) for i in range(n)]


def change_key(rules, index):
    changed = list(rules)
    changed[index] = changed[index] + "_changed"
    return changed


# ------------------------------------------------------------------ one case

ATTEMPTS = 3


class Interference(Exception):
    """Rules not made by this benchmark showed up (someone else uses the kernel)."""


def wait_clear(work, timeout=300):
    """Wait until the kernel holds no rule that is not ours (never touch those)."""
    deadline = time.monotonic() + timeout
    said = False
    while True:
        others = [line for line in listing() if not ours(line)]
        if not others:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("foreign audit rules stayed for %d s: %s" % (timeout, others[:3]))
        if not said:
            print("waiting: %d audit rules not made by this benchmark are loaded" % len(others),
                  file=sys.stderr)
            said = True
        time.sleep(2)


def restore(runner, work, path, set_name, base):
    """Kernel and the module's file back to the loaded base set; returns the module run."""
    wait_clear(work)
    delete_all(work)
    load_file(os.path.join(work, "base.rules"), base)
    wall, task, res = runner.apply(set_name + "-reset", path, base)
    if listing() != base:
        raise Interference("could not restore the base state")
    if res["added"] or res["removed"] or res["moved"]:
        raise Interference("re-applying the loaded set changed the kernel")
    return wall, task


def one_case(runner, work, path, set_name, where, base, new, empty, n):
    """(a) audit_rules and (b) -D + -R from the same loaded base state."""
    new_set = set(new)
    unchanged = [line for line in base if line in new_set]
    case = "%s: change %s rule" % (set_name, where)

    # (a) audit_rules
    restore(runner, work, path, set_name, base)
    sampler = Sampler(unchanged)
    sampler.begin()
    wall, task, res = runner.apply("%s-%s-a" % (set_name, where), path, new)
    sa = sampler.finish()
    after = listing()
    if sa["foreign_samples"] or any(not ours(line) for line in after):
        raise Interference("foreign rules listed during (a)")
    moved = len(res["moved"])
    a = {"case": case, "kind": "audit_rules", "wall": wall, "net": wall - empty, "task": task,
         "deleted": len(res["removed"]) + moved, "twins": moved,
         "removed": len(res["removed"]), "moved": moved, "added": len(res["added"]),
         "sample": sa, "final_ok": sorted(after) == sorted(new)}
    print("%s/%s (a) audit_rules: %.2f s wall, %.2f s task, removed %d moved %d"
          % (set_name, where, wall, task, a["removed"], moved))

    # back to base; the module's run on an unchanged kernel is measured too
    r_wall, r_task = restore(runner, work, path, set_name, base)
    again = {"case": "%s: re-apply, kernel already holds all %d" % (set_name, n),
             "kind": "initial", "wall": r_wall, "net": r_wall - empty, "task": r_task,
             "deleted": 0, "added": 0}

    # (b) what augenrules --load does: -D then -R with the full new set
    newfile = os.path.join(work, "audit.rules")
    with open(newfile, "w") as f:
        f.write("\n".join(new) + "\n")
    os.chmod(newfile, 0o600)
    sampler = Sampler(unchanged)
    sampler.begin()
    start = time.monotonic()
    if not all(ours(line) for line in listing()):
        sampler.finish()
        raise Interference("foreign rules before -D; not running it")
    auditctl("-D")
    t_d = time.monotonic() - start
    auditctl("-R", newfile)
    t_b = time.monotonic() - start
    sb = sampler.finish()
    after = listing()
    if sb["foreign_samples"] or any(not ours(line) for line in after):
        raise Interference("foreign rules listed during (b)")
    b = {"case": case, "kind": "-D + -R", "wall": t_b, "net": t_b, "task": t_b, "t_D": t_d,
         "deleted": n, "twins": 0, "sample": sb, "final_ok": after == new}
    print("%s/%s (b) -D + -R: %.2f s (-D %.2f s)" % (set_name, where, t_b, t_d))
    a["vs"] = b
    return a, b, again


# ------------------------------------------------------------------ main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--rules", type=int, default=1000)
    args = parser.parse_args()
    n = args.rules

    if os.geteuid() != 0:
        sys.exit("needs root (it loads audit rules into the running kernel)")
    if not os.path.exists(PLAYBOOK_BIN):
        sys.exit("no %s: create the venv first" % PLAYBOOK_BIN)
    pre = auditctl("-l").stdout.strip()
    if pre != "No rules":
        sys.exit("ABORT: the kernel already holds audit rules; this benchmark only runs on a "
                 "kernel with none (it uses auditctl -D). auditctl -l printed:\n" + pre[:2000])
    status = auditctl("-s").stdout
    if "enabled 2" in status:
        sys.exit("ABORT: the kernel audit configuration is locked (enabled 2)")

    facts = {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "auditctl": auditctl("-v").stdout.strip(),
        "python": platform.python_version(),
        "load_start": "%.2f %.2f %.2f" % os.getloadavg(),
    }
    work = tempfile.mkdtemp(prefix="bench-audit-", dir="/tmp")
    rows = []
    try:
        rulesd = os.path.join(work, "rules.d")
        wdir = os.path.join(work, "watched")
        os.mkdir(rulesd, 0o750)
        os.mkdir(wdir)
        for i in range(n):
            open(os.path.join(wdir, "f%d" % i), "w").close()
        path = os.path.join(rulesd, "50-bench.rules")
        runner = Runner(work)
        empty = runner.empty_wall()
        print("machine: nproc=%(nproc)s kernel=%(kernel)s %(auditctl)s" % facts)
        print("empty ansible-playbook (median of 3): %.2f s" % empty)

        sets = [
            ("syscall", syscall_set(n), [("middle", n // 2)]),
            ("watch", watch_set(n, wdir), [("last", n - 1), ("middle", n // 2)]),
        ]
        for set_name, base, changes in sets:
            for attempt in range(ATTEMPTS):
                wait_clear(work)
                delete_all(work)
                if listing():
                    continue
                if os.path.exists(path):
                    os.remove(path)
                wall, task, res = runner.apply(set_name + "-initial", path, base)
                if listing() == base:
                    break
                print("interference: the kernel listing after the initial apply is not the "
                      "set (foreign rules?); retrying", file=sys.stderr)
            else:
                raise RuntimeError("could not measure the initial apply without interference")
            rows.append({"case": "%s: apply %d to empty kernel" % (set_name, n),
                         "kind": "initial", "wall": wall, "net": wall - empty, "task": task,
                         "deleted": len(res["removed"]) + len(res["moved"]),
                         "added": len(res["added"])})
            print("%s: initial apply %.2f s wall, %.2f s task" % (set_name, wall, task))
            for where, index in changes:
                for attempt in range(ATTEMPTS):
                    try:
                        a, b, again = one_case(runner, work, path, set_name, where, base,
                                               change_key(base, index), empty, n)
                        break
                    except Interference as exc:
                        print("interference (%s); retrying the case" % exc, file=sys.stderr)
                    except RuntimeError as exc:
                        if all(ours(line) for line in listing()):
                            raise
                        print("failed while foreign rules were loaded (%s); retrying the case"
                              % str(exc)[:300], file=sys.stderr)
                else:
                    raise RuntimeError("could not measure %s/%s without interference"
                                       % (set_name, where))
                if where == changes[0][0]:
                    rows.append(again)
                rows.append(a)
                rows.append(b)
            delete_all(work)
    finally:
        try:
            delete_all(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            end = listing()
            left = [line for line in end if ours(line)]
            print("kernel at end: %d rules of this benchmark, %d others (auditctl -l: %s)"
                  % (len(left), len(end) - len(left), end[0] if end else "No rules"))
            if left:
                print("ERROR: the kernel still holds rules of this benchmark", file=sys.stderr)
    facts["load_end"] = "%.2f %.2f %.2f" % os.getloadavg()
    report(rows, empty, facts, n)


def report(rows, empty, facts, n):
    print()
    print("audit_rules benchmark: %d rules, nproc=%s, kernel %s, %s"
          % (n, facts["nproc"], facts["kernel"], facts["auditctl"]))
    print("empty ansible-playbook wall time: %.2f s (subtracted for 'net')" % empty)
    print("load average at start: %s, at end: %s" % (facts["load_start"], facts["load_end"]))
    print()
    head = ("| case | method | wall s | net s | task s | kernel deletions | unchanged rules "
            "ever absent | max absent s (seen / bound) | absent & no twin | samples, "
            "interval median / max ms |")
    print(head)
    print("|" + "---|" * 10)
    for r in rows:
        if r["kind"] == "initial":
            print("| %s | audit_rules | %.2f | %.2f | %.2f | %d | - | - | - | - |"
                  % (r["case"], r["wall"], r["net"], r["task"], r["deleted"]))
            continue
        s = r["sample"]
        dels = "%d" % r["deleted"]
        if r["twins"]:
            dels += " (removed %d + moved %d) + %d twins" % (r["removed"], r["moved"], r["twins"])
        print("| %s | %s | %.2f | %.2f | %.2f | %s | %d | %.3f / %.3f | %d (max %.3f s) | %d, %.1f / %.1f |"
              % (r["case"], r["kind"], r["wall"], r["net"], r["task"], dels, s["ever_missing"],
                 s["max_absent_seen"], s["max_absent_bound"], s["ever_uncovered"],
                 s["max_uncovered_seen"], s["samples"], 1000 * (s["interval_median"] or 0),
                 1000 * (s["interval_max"] or 0)))
    print()
    print("Targets: at most 1 kernel deletion; no unchanged rule ever absent; >= 10x faster "
          "than -D + -R (net = playbook wall minus empty playbook; wall = whole playbook).")
    print()
    print("| case | deletions <= 1 | never absent | never uncovered (twin counts) | "
          "speedup net | speedup wall | >= 10x (net) | final listing ok |")
    print("|" + "---|" * 8)
    all_ok = True
    for r in rows:
        if r["kind"] != "audit_rules":
            continue
        b = r["vs"]
        s = r["sample"]
        kernel_dels = r["deleted"] + r["twins"]
        d_ok = kernel_dels <= 1
        absent_ok = s["ever_missing"] == 0 and s["absent_at_end"] == 0
        cover_ok = s["ever_uncovered"] == 0
        sp_net = b["wall"] / r["net"] if r["net"] > 0 else float("inf")
        sp_wall = b["wall"] / r["wall"]
        fast_ok = sp_net >= 10
        final = r["final_ok"] and b["final_ok"]
        all_ok = all_ok and d_ok and absent_ok and fast_ok and final
        print("| %s | %s (%d) | %s (%d) | %s | %.1fx | %.1fx | %s | %s |"
              % (r["case"], yes(d_ok), kernel_dels, yes(absent_ok), s["ever_missing"],
                 yes(cover_ok), sp_net, sp_wall, yes(fast_ok), yes(final)))
    print()
    for r in rows:
        if r["kind"] == "-D + -R":
            print("%s, -D + -R: auditctl -D alone took %.2f s for %d rules (%.1f ms per rule)"
                  % (r["case"], r["t_D"], n, 1000 * r["t_D"] / n))
    for r in rows:
        if r["kind"] == "audit_rules" and r["sample"]["twins_seen"]:
            print("%s, audit_rules: twins seen in the listing: %d"
                  % (r["case"], r["sample"]["twins_seen"]))
        if r["kind"] != "initial" and (r["sample"]["errors"] or r["sample"]["foreign_twins"]):
            print("%s, %s: sampler errors %d, unexpected twin lines %d"
                  % (r["case"], r["kind"], r["sample"]["errors"], r["sample"]["foreign_twins"]))
    print()
    print("ALL TARGETS HOLD" if all_ok else "SOME TARGETS MISSED (see the table above)")


def yes(flag):
    return "yes" if flag else "NO"


if __name__ == "__main__":
    main()
