# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner at scale: the linear plan, simulate, effective_order and
_drop_duplicates give exactly what the former pairwise code gave.

The reference implementations below are the code _rules.py had before it
was made linear (issue 16), kept here only to compare against: on the
corpus, on generated rule sets and on a few thousand rules. For plan, only
the search that changed is replaced (PairwiseIndex, the former scan over
every appended and kept rule); the rest of the planner did not change.
"""

import glob
import os
import random

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _rules as R

CORPUS_FILES = sorted(glob.glob(os.path.join("/work/shared/corpus", "*.rules")))


# ------------------------------------------------------- the former code

def ref_effective_order(rules):
    ordered = []
    for lst in R.LISTS:
        seq = []
        for rule in rules:
            if rule.list == lst:
                if rule.prepend:
                    seq.insert(0, rule)
                else:
                    seq.append(rule)
        ordered.extend(seq)
    return ordered


def ref_simulate(live, plan_):
    lists = dict((lst, [r.line for r in live if r.list == lst]) for lst in R.LISTS)
    for verb, rule in plan_.operations():
        seq = lists[rule.list]
        if verb == "prepend":
            seq.insert(0, rule.line)
        elif verb == "add":
            seq.append(rule.line)
        elif rule.line in seq:
            seq.remove(rule.line)
    return [line for lst in R.LISTS for line in lists[lst]]


class PairwiseIndex(object):
    """The former search of _plan_list: compare with every stored rule.

    The planner asked "does this rule may_overlap an appended rule" and
    "... a kept rule after it in the kernel" by scanning them all; with this
    in place of _OverlapIndex, R.plan is that former planner.
    """

    def __init__(self):
        self.stored = []

    def add(self, rule, number):
        self.stored.append((rule, number))

    def highest(self, rule):
        found = [n for r, n in self.stored if R.may_overlap(rule, r)]
        return max(found) if found else None


_PLAN = R.plan


def ref_plan(desired, live, target, managed=None):
    saved = R._OverlapIndex, R.effective_order
    R._OverlapIndex, R.effective_order = PairwiseIndex, ref_effective_order
    try:
        return _PLAN(desired, live, target, managed)
    finally:
        R._OverlapIndex, R.effective_order = saved


def ref_drop_duplicates(lines, gaps, target):
    canonical = {}
    for pos, text in enumerate(lines, 1):
        try:
            entry = R.parse_line(text, target, None, pos)
        except R.RuleError:
            continue
        if isinstance(entry, R.Rule):
            canonical[pos] = entry.line
    reduced = set(g.lineno for g in gaps if g.kept is not None)
    for gap in gaps:
        line = canonical.get(gap.lineno)
        if gap.kept is None or line is None:
            continue
        for pos in sorted(canonical):
            if pos != gap.lineno and canonical[pos] == line and (pos < gap.lineno or pos not in reduced):
                gap.kept, gap.duplicate = None, pos
                lines[gap.lineno - 1] = ""
                del canonical[gap.lineno]
                break


# ------------------------------------------------------------- helpers

def _plan_lines(p):
    return {"prepend": [r.line for r in p.prepend], "twins": [r.line for r in p.twins],
            "move": [r.line for r in p.move], "append": [r.line for r in p.append],
            "delete": [r.line for r in p.delete]}


def _assert_same(desired, live, target, managed=None):
    new = R.plan(desired, live, target, managed)
    old = ref_plan(desired, live, target, managed)
    assert _plan_lines(new) == _plan_lines(old)
    assert R.simulate(live, new) == ref_simulate(live, old)
    assert [r.line for r in R.effective_order(desired)] == \
        [r.line for r in ref_effective_order(desired)]
    return new


def _corpus(path, target):
    with open(path) as handle:
        return R.parse_text(handle.read(), target, source=path, strict=False).rules


def _unique(rules):
    seen = set()
    out = []
    for r in rules:
        if r.line not in seen:
            seen.add(r.line)
            out.append(r)
    return out


# Rule pieces chosen so that many pairs overlap and many do not: the same
# and different paths, arches, syscall sets, single-valued fields, lists.
_WATCHES = ["/etc/passwd", "/etc/shadow", "/etc/audit", "/etc/ssh", "/etc/group", "/usr/bin"]
_SYSCALLS = ["open", "openat", "creat", "unlink", "rename", "chmod", "adjtimex", "settimeofday"]
_EXTRA = ["-F auid>=1000", "-F auid!=unset", "-F auid=1000", "-F auid=1001", "-F uid=0",
          "-F exe=/usr/bin/su", "-F exe=/usr/bin/sudo", "-F success=0", "-F success=1",
          "-F exit=-EACCES", "-F path=/etc/passwd", "-F path=/etc/shadow", "-F dir=/etc/ssh",
          "-F perm=wa", "-F euid=0", "-F subj_type=unconfined_t"]


def _random_rule(rng):
    kind = rng.random()
    key = " -k k%d" % rng.randrange(4) if rng.random() < 0.7 else ""
    if kind < 0.3:
        return "-w %s -p %s%s" % (rng.choice(_WATCHES), rng.choice(["wa", "r", "rwxa", "x"]), key)
    if kind < 0.38:
        return rng.choice(["-a always,user -F uid=0", "-a never,user -F uid=%d" % rng.randrange(3),
                           "-a always,task -F uid=%d" % rng.randrange(3),
                           "-a never,exclude -F msgtype=CWD", "-a always,exclude -F uid=%d"
                           % rng.randrange(3)])
    head = "-%s %s" % ("A" if rng.random() < 0.1 else "a",
                       rng.choice(["always,exit", "always,exit", "never,exit"]))
    arch = rng.choice(["", " -F arch=b64", " -F arch=b64", " -F arch=b32"])
    sys = ""
    if rng.random() < 0.8:
        sys = " -S " + ",".join(rng.sample(_SYSCALLS, rng.randint(1, 3)))
    extra = "".join(" " + e for e in rng.sample(_EXTRA, rng.randint(0, 2)))
    return head + arch + sys + extra + key


def _random_set(rng, target, n):
    rules = []
    seen = set()
    while len(rules) < n:
        text = _random_rule(rng)
        try:
            rule = R.parse_line(text, target)
        except R.RuleError:
            continue
        if rule.line in seen:
            continue
        seen.add(rule.line)
        rules.append(rule)
    return rules


def _as_live(rules, target):
    listing = "\n".join(r.line for r in R.effective_order(rules)) + "\n"
    return R.parse_listing(listing, target)


# --------------------------------------------------------------- tests

@pytest.mark.skipif(not CORPUS_FILES, reason="no corpus")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=[os.path.basename(p) for p in CORPUS_FILES])
def test_corpus_plans_equal_the_pairwise_planner(target, path):
    rules = _unique(_corpus(path, target))
    rng = random.Random(path)
    _assert_same(rules, [], target)
    _assert_same(rules, _as_live(rules, target), target)
    # The kernel holds the set shuffled, with a tenth missing and a few extra.
    live = list(rules)
    rng.shuffle(live)
    live = _as_live(live[len(live) // 10:], target)
    _assert_same(rules, live, target)
    _assert_same(rules, live, target, managed=set(r.line for r in live[::3]))
    # Every 20th rule changed (another key), the kernel in file order.
    changed = [R.parse_line(r.text + " -k changed", target) if i % 20 == 10 and r.list == "exit"
               else r for i, r in enumerate(rules)]
    _assert_same(changed, _as_live(rules, target), target, managed=set(r.line for r in rules))
    # One corpus loaded, the other desired.
    for other in CORPUS_FILES:
        _assert_same(_unique(_corpus(other, target)), _as_live(rules, target), target)


@pytest.mark.parametrize("seed", range(300))
def test_generated_plans_equal_the_pairwise_planner(target, seed):
    rng = random.Random(seed)
    pool = _random_set(rng, target, 60)
    desired = rng.sample(pool, rng.randint(0, 40))
    live = rng.sample(pool, rng.randint(0, 40))
    if rng.random() < 0.5:
        # Mostly in the desired order, a few swapped.
        live = [r for r in desired if rng.random() < 0.8]
        for _n in range(rng.randint(0, 3)):
            if len(live) > 1:
                i, j = rng.randrange(len(live)), rng.randrange(len(live))
                live[i], live[j] = live[j], live[i]
        live += [r for r in pool if r not in desired and rng.random() < 0.1]
    live = _as_live(live, target) if rng.random() < 0.5 else R.effective_order(live)
    managed = None if rng.random() < 0.5 else set(r.line for r in pool if rng.random() < 0.7)
    _assert_same(desired, live, target, managed)
    new = R.drift(desired, live, target, managed)
    # drift is built on plan: the same plan gives the same drift.
    old = ref_plan(_unique(desired), live, target, managed)
    assert new["out_of_order"] == [r.line for r in old.move]
    assert new["extra"] == [r.line for r in old.delete]


@pytest.mark.parametrize("seed", range(100))
def test_simulate_equals_list_operations_with_repeated_lines(target, seed):
    """Lines the live listing already holds (a twin left by an interrupted
    run) and lines added twice: each delete removes the first occurrence."""
    rng = random.Random(seed)
    pool = _random_set(rng, target, 8)
    live = [rng.choice(pool) for _n in range(rng.randint(0, 10))]
    plan_ = R.Plan()
    for attr in ("prepend", "twins", "move", "append", "delete"):
        getattr(plan_, attr).extend(rng.choice(pool) for _n in range(rng.randint(0, 6)))
    assert R.simulate(live, plan_) == ref_simulate(live, plan_)


def test_effective_order_with_prepends(target):
    rules = [R.parse_line(t, target) for t in (
        "-a always,exit -F arch=b64 -S openat -k a", "-A always,exit -F arch=b64 -S open -k b",
        "-a always,user -F uid=0", "-A always,exit -F arch=b64 -S creat -k c",
        "-A never,user -F uid=1", "-a always,exit -F arch=b64 -S unlink -k d")]
    assert [r.line for r in R.effective_order(rules)] == [
        "-a never,user -F uid=1", "-a always,user -F uid=0",
        "-a always,exit -F arch=b64 -S creat -F key=c", "-a always,exit -F arch=b64 -S open -F key=b",
        "-a always,exit -F arch=b64 -S openat -F key=a", "-a always,exit -F arch=b64 -S unlink -F key=d"]
    assert R.effective_order(rules) == ref_effective_order(rules)


def _gaps(gaps):
    return [(g.lineno, g.kept, g.duplicate, list(g.missing), g.no_abi) for g in gaps]


def _drop_both(lines, target, monkeypatch):
    new = R.drop_absent_syscalls(lines, target)
    with monkeypatch.context() as m:
        m.setattr(R, "_drop_duplicates", ref_drop_duplicates)
        old = R.drop_absent_syscalls(lines, target)
    assert new[0] == old[0]
    assert _gaps(new[1]) == _gaps(old[1])
    return new


@pytest.fixture(name="aarch64")
def fixture_aarch64(aarch64_tables, syscall_tables):
    names = set()
    for tables in (aarch64_tables, syscall_tables):
        for table in tables.values():
            names.update(table)
    return R.Target({"b64": aarch64_tables["b64"]}, tables={"b64": "aarch64"},
                    absent={"b32": "no compat"}, known_anywhere=names.__contains__)


@pytest.mark.skipif(not CORPUS_FILES, reason="no corpus")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=[os.path.basename(p) for p in CORPUS_FILES])
def test_corpus_drop_duplicates_as_before(aarch64, path, monkeypatch):
    with open(path) as handle:
        lines = handle.read().split("\n")
    _out, gaps = _drop_both(lines, aarch64, monkeypatch)
    assert any(g.kept is not None for g in gaps)


def test_drop_duplicates_cases(aarch64, monkeypatch):
    lines = [
        "-a always,exit -F arch=b64 -S open,openat -k x",      # 1 reduced, first
        "-a always,exit -F arch=b64 -S creat,openat -k x",     # 2 reduced: 1 is left out, so of 3
        "-a always,exit -F arch=b64 -S openat -k x",           # 3 as written
        "-a always,exit -F arch=b64 -S open,unlinkat -k y",    # 4 reduced: duplicate of 6
        "-a always,exit -F arch=b64 -S creat,unlinkat -k y",   # 5 reduced: duplicate of 6
        "-a always,exit -F arch=b64 -S unlinkat -k y",         # 6 as written
        "-a always,exit -F arch=b64 -S open,renameat -k z",    # 7 reduced, kept
        "-a always,exit -F arch=b64 -S creat,renameat -k z",   # 8 reduced: duplicate of 7
        "-a always,exit -F arch=b64 -S open -k w",             # 9 nothing left
    ]
    _out, gaps = _drop_both(lines, aarch64, monkeypatch)
    assert [(g.lineno, g.duplicate) for g in gaps] == [
        (1, 3), (2, 3), (4, 6), (5, 6), (7, None), (8, 7), (9, None)]


@pytest.mark.parametrize("seed", range(200))
def test_generated_drop_duplicates_as_before(aarch64, seed, monkeypatch):
    rng = random.Random(seed)
    lines = []
    for _n in range(rng.randint(1, 30)):
        calls = rng.sample(["open", "creat", "openat", "unlinkat", "renameat", "rename"],
                           rng.randint(1, 3))
        lines.append("-a always,exit -F arch=b64 -S %s -k k%d" % (",".join(calls), rng.randrange(3)))
        if rng.random() < 0.1:
            lines.append(rng.choice(["", "# comment", "-w /etc/passwd -p wa", "-a bogus"]))
    _drop_both(lines, aarch64, monkeypatch)


def test_large_plans_equal_the_pairwise_planner(target):
    """2,000 syscall rules, every 50th changed: many rules move (they may
    overlap the changed ones); the same plan as the pairwise code."""
    calls = ("openat", "creat", "unlink", "rename", "chmod", "chown")

    def rules(changed):
        return [R.parse_line("-a always,exit -F arch=b64 -S %s -F dir=/srv/d%05d -F key=k%d%s"
                             % (calls[i % len(calls)], i, i % 7, "-new" if i in changed else ""),
                             target) for i in range(2000)]
    before = rules(set())
    after = rules(set(range(25, 2000, 50)))
    planned = _assert_same(after, _as_live(before, target), target, set(r.line for r in before))
    assert planned.move and len(planned.delete) == 40


def test_plan_at_20000_rules(target):
    """20,000 rules, 1% changed: the plan touches exactly the changed rules.
    (Its time is measured by benchmarks/bench_planner.py, not asserted here.)"""
    calls = ("openat", "creat", "unlink", "rename", "chmod", "chown")

    def rules(changed):
        return [R.parse_line("-a always,exit -F arch=b64 -S %s -F auid=%d -F key=k%d%s"
                             % (calls[i % 3], i % 1000, i, "-new" if i in changed else ""), target)
                for i in range(20000)]
    before = rules(set())
    after = rules(set(range(50, 20000, 100)))
    live = _as_live(before, target)
    planned = R.plan(after, live, target, set(r.line for r in before))
    # the new rules are added where they do not change what the kernel does
    assert sorted(R.simulate(live, planned)) == sorted(r.line for r in after)
    assert len(planned.delete) == 200
