# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit_rules module's own share of a large rule set, in process.

No kernel, no auditctl, no root: every phase audit_rules.run() goes through
is called directly on a Target built from the recorded syscall tables in
tests/unit/data, with the kernel listing made up from the rules the previous
run would have loaded. What the kernel spends adding and deleting rules is
not measured here (measure it in a guest).

Phases, in run()'s order: fit (drop_absent_syscalls), parse (parse_rules:
tokenise, validate, canonicalise), missing_path, render (render_file),
old_file (parse_text of the file the previous run wrote), merge
(_files.merge, the boot view), listing (parse_listing of ``auditctl -l``),
plan, order (effective_order), drift, simulate, args (arg_lists, the -R
batch) and verify (the after == predicted compare).

Shapes: ``onedir`` (-w /etc/bigfNNNNN -p wa -k big), ``spread`` (watches
over 100 directories) and ``syscall`` (distinct exit rules with -S).
Scenarios: ``empty`` (empty kernel, no file yet), ``change1`` (the kernel
and the file hold the set with 1% of the rules different, spread through
it) and ``noop`` (everything already in place).

    .venv/bin/python benchmarks/bench_planner.py [--sizes 1000,5000,20000]
        [--shapes onedir,spread,syscall] [--scenarios empty,change1,noop]
        [--budget SECONDS] [--no-memory]

A phase that takes longer than --budget (default 120 s) stops that size's
remaining runs of the shape (marked '>budget'), so a quadratic phase does
not keep the machine busy for hours.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# scripts/bootstrap.sh links the checkout into .cache/collections (as the
# unit tests use it).
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")
if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "immutable", "audit")):
    sys.exit("run scripts/bootstrap.sh first: the collection link is missing")
sys.path.insert(0, COLLECTIONS)

from ansible_collections.immutable.audit.plugins.module_utils import _files, _rules  # noqa: E402

DATA = os.path.join(ROOT, "tests", "unit", "data")
PATH = "/etc/audit/rules.d/50-bench.rules"
HEADER = ("Managed by immutable.audit.audit_rules: edits here are overwritten.",
          "One rule per line in the form auditctl -l prints.")
PHASES = ("fit", "parse", "missing_path", "render", "old_file", "merge", "listing",
          "plan", "order", "drift", "simulate", "args", "verify")


def _table(name):
    out = {}
    with open(os.path.join(DATA, name)) as handle:
        for line in handle:
            num, sep, call = line.rstrip("\n").partition("\t")
            if sep and num.isdigit():
                out[call] = int(num)
    return out


def make_target():
    tables = {"b64": _table("syscalls_x86_64.tsv"), "b32": _table("syscalls_i386.tsv")}
    # Directories: /, /etc, /etc/audit, /srv and /etc/dNNN; every watched
    # name (bigf..., f...) is a file.

    def is_dir(path):
        base = path.rstrip("/").rsplit("/", 1)[-1]
        return not (base.startswith("bigf") or base.startswith("f"))
    return _rules.Target(tables, user={"root": 0}.get, is_dir=is_dir,
                         tables={"b64": "x86_64", "b32": "i386"})


SYSCALLS = ("openat", "open", "creat", "truncate", "ftruncate", "unlink", "unlinkat",
            "rename", "renameat", "chmod", "fchmod", "fchmodat", "chown", "fchown")


def rule_text(shape, i, gen=0):
    """Rule number ``i`` of a shape; ``gen`` > 0 gives a different rule."""
    key = "big" if not gen else "big%d" % gen
    if shape == "onedir":
        return "-w /etc/bigf%05d -p wa -k %s" % (i, key)
    if shape == "spread":
        return "-w /etc/d%03d/f%05d -p wa -k %s" % (i % 100, i, key)
    if shape == "syscall":
        return ("-a always,exit -F arch=b64 -S %s -F dir=/srv/d%05d -F key=k%d%s"
                % (SYSCALLS[i % len(SYSCALLS)], i, i % 50, "" if not gen else "-%d" % gen))
    raise ValueError(shape)


def rule_set(shape, n, changed=()):
    changed = set(changed)
    return [rule_text(shape, i, 1 if i in changed else 0) for i in range(n)]


class Timer(object):
    def __init__(self, budget):
        self.budget = budget
        self.times = {}
        self.over = False

    def __call__(self, phase, func, *args):
        gc.collect()
        start = time.perf_counter()
        out = func(*args)
        took = time.perf_counter() - start
        self.times[phase] = self.times.get(phase, 0.0) + took
        if took > self.budget:
            self.over = True
        return out


def run_once(shape, n, scenario, budget, trace=False):
    """Every phase of audit_rules.run() (exclusive: false, a live kernel) once.

    ``trace``: record the peak with tracemalloc (which slows every phase
    down, so the times of a traced run are not reported).
    """
    target = make_target()
    lines = rule_set(shape, n)
    if scenario == "empty":
        before_lines = None
    elif scenario == "change1":
        step = 100
        before_lines = rule_set(shape, n, changed=range(step // 2, n, step))
    else:
        before_lines = lines
    if before_lines is None:
        old_text, listing = None, ""
    else:
        before = _rules.parse_rules(before_lines, target)
        old_text = _rules.render_file(before, HEADER)
        listing = "\n".join(r.line for r in _rules.effective_order(before)) + "\n"
        del before
    t = Timer(budget)
    if trace:
        tracemalloc.start()
    fitted, gaps = t("fit", _rules.drop_absent_syscalls, lines, target)
    desired = t("parse", _rules.parse_rules, fitted, target)
    t("missing_path", lambda: [r for r in desired if _rules.missing_path(r, target) is None])
    new_text = t("render", _rules.render_file, desired, HEADER)
    if old_text == new_text:
        old_rules = desired
    else:
        old_rules = t("old_file", lambda: _rules.parse_text(old_text, target, PATH, strict=False).rules
                      if old_text else [])
    merged = t("merge", _files.merge, [(PATH, new_text)], target)
    assert not merged.problems, merged.problems[:3]
    managed = set(r.line for r in old_rules)
    live = t("listing", _rules.parse_listing, listing, target)
    planned = t("plan", _rules.plan, desired, live, target, managed)
    t("order", lambda: [r.line for r in _rules.effective_order(desired)])
    drift = t("drift", _rules.drift, desired, live, target, managed)
    predicted = t("simulate", _rules.simulate, live, planned)
    t("args", planned.arg_lists)
    # What the kernel lists afterwards when it did what was planned.
    after = list(predicted)
    t("verify", lambda: after != predicted)
    peak = 0
    if trace:
        _cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    ops = len(planned.operations())
    summary = "ops=%d missing=%d extra=%d out_of_order=%d" % (
        ops, len(drift["missing"]), len(drift["extra"]), len(drift["out_of_order"]))
    return t.times, peak, t.over, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--shapes", default="onedir,spread,syscall")
    parser.add_argument("--scenarios", default="empty,change1,noop")
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the second, tracemalloc run that measures the peak")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print("python %s; times in seconds; peakMB = tracemalloc peak over the phases, "
          "from a second run (MB)" % sys.version.split()[0])
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    head = ["shape", "n", "scenario"] + list(PHASES) + ["total", "peakMB", "result"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for shape in args.shapes.split(","):
        skip = False
        for n in sizes:
            for scenario in args.scenarios.split(","):
                if skip:
                    print("| %s | %d | %s | %s |" % (shape, n, scenario, " | ".join(
                        [">budget"] * (len(PHASES) + 3))))
                    continue
                times, _peak, over, summary = run_once(shape, n, scenario, args.budget)
                peak = 0
                if not args.no_memory and not over:
                    peak = run_once(shape, n, scenario, args.budget, trace=True)[1]
                cells = ["%.3f" % times[p] if p in times else "-" for p in PHASES]
                cells += ["%.2f" % sum(times.values()), "%.1f" % (peak / 1e6), summary]
                print("| %s | %d | %s | %s |" % (shape, n, scenario, " | ".join(cells)))
                sys.stdout.flush()
                if over:
                    skip = True
    return 0


if __name__ == "__main__":
    sys.exit(main())
