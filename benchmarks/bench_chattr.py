# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: append-only (+a) on a tree of 10,000 files, side by side.

    sudo .venv/bin/python benchmarks/bench_chattr.py [--files 10000] [--rounds 5]

On a throwaway tree under /var/tmp or /tmp (whichever is ext4), each
measured --rounds times (median shown), with the flags cleared between
runs that apply:

1. chattr -R +a and lsattr -R, the command-line reference;
2. immutable.audit.chattr's own work: chattr.run() in this process (walk,
   open, ioctl, close; no Ansible), and the module as a process of its own
   (python plugins/modules/chattr.py ARGS.json: python start-up, argument
   parsing and exit_json of one result per changed path included);
3. the module through ansible-playbook (connection local), apply and again
   (nothing to change), next to a playbook with one ansible.builtin.ping
   task, ansible-playbook's fixed cost;
4. ansible.builtin.file recurse: true, attributes: '+a', and again. It runs
   lsattr and chattr per file, so it is first timed once on a subset; if
   the whole tree would take longer than --file-budget seconds it is not
   run on the tree but extrapolated linearly, and the output says so.

Not a test: needs root, sets +a only inside the tree it creates, and always
clears the flags (chattr -R -i -a) and deletes the tree.
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
# scripts/bootstrap.sh links the checkout in here as immutable.audit
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")
sys.path.insert(0, COLLECTIONS)

# pylint: disable=wrong-import-position
from ansible_collections.immutable.audit.plugins.module_utils import _flags  # noqa: E402
from ansible_collections.immutable.audit.plugins.modules import chattr  # noqa: E402

PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - {task}
"""
CHATTR_TASK = "immutable.audit.chattr: {{path: '{path}', flags: a, recurse: true}}"
FILE_TASK = "ansible.builtin.file: {{path: '{path}', state: directory, recurse: true, attributes: '+a'}}"
PING_TASK = "ansible.builtin.ping:"


def ext4_tmp():
    """The first of /var/tmp, /tmp that is on ext4 (the flags under test are ext4's)."""
    with open("/proc/self/mountinfo") as f:
        mounts = _flags.parse_mountinfo(f.read())
    for candidate in ("/var/tmp", "/tmp"):
        mount = _flags.find_mount(mounts, os.path.realpath(candidate))
        if mount is not None and mount.fstype == "ext4":
            return candidate, mount
    sys.exit("neither /var/tmp nor /tmp is on ext4")


def make_tree(base, files, per_dir=100):
    """files regular files in directories of per_dir; returns the directory count."""
    dirs = 0
    for n in range(files):
        if n % per_dir == 0:
            current = os.path.join(base, "d%04d" % (n // per_dir))
            os.mkdir(current)
            dirs += 1
        with open(os.path.join(current, "f%05d.log" % n), "w") as f:
            f.write("x\n")
    return dirs


def run(argv, **kw):
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


def clear(path):
    run(["chattr", "-R", "-a", path])


def count_append(path):
    """Inodes under path (included) with a, read with lsattr, not with the code under test."""
    out = subprocess.run(["lsattr", "-R", "-d", path], check=True, capture_output=True, text=True).stdout
    out += subprocess.run(["lsattr", "-R", path], check=True, capture_output=True, text=True).stdout
    seen = set()
    for line in out.splitlines():
        parts = line.split(" ", 1)
        if len(parts) == 2 and len(parts[0]) == 22 and parts[0][5] == "a":
            seen.add(parts[1])
    return len(seen)


def playbook(workdir, name, task, interpreter):
    path = os.path.join(workdir, name + ".yml")
    with open(path, "w") as f:
        f.write(PLAYBOOK.format(task=task))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
            "-e", "ansible_python_interpreter=" + interpreter, path]
    return lambda: run(argv, env=env, cwd=ROOT)


class _Module(object):
    """Just enough of AnsibleModule for chattr.run(): no argument parsing, no exit_json."""

    check_mode = False
    _diff = False

    def __init__(self, path):
        self.params = dict(path=[path], flags=["a"], state="present", recurse=True, follow=False,
                           allow_audit_log=False, auditd_conf="/etc/audit/auditd.conf")

    def warn(self, msg):
        print("warning:", msg)


def in_process(tree):
    """chattr.run() in this process: the module's own work without Ansible."""
    result = dict(changed=False, results=[], examined=0, changed_count=0, skipped_count=0)
    start = time.perf_counter()
    chattr.run(_Module(tree), _flags.FlagsIO(), result, dict(before=[], after=[]))
    return time.perf_counter() - start


def module_process(work, tree):
    """The module as a process of its own (python chattr.py ARGS.json), as
    the target runs it minus the AnsiballZ wrapper and the connection."""
    argfile = os.path.join(work, "args.json")
    with open(argfile, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": {"path": [tree], "flags": ["a"], "recurse": True}}, f)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    return lambda: run([sys.executable, os.path.join(ROOT, "plugins", "modules", "chattr.py"), argfile], env=env)


def median_of(rounds, measure, reset=None):
    """Median seconds of `rounds` calls; reset() (untimed) before each."""
    times = []
    for _round in range(rounds):
        if reset:
            reset()
        times.append(measure())
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3, help="runs per measurement, the median is shown (default 3)")
    parser.add_argument("--file-subset", type=int, default=1000,
                        help="files for the first ansible.builtin.file measurement (default 1000)")
    parser.add_argument("--file-budget", type=float, default=600,
                        help="seconds the full ansible.builtin.file run may take, else extrapolate (default 600)")
    parser.add_argument("--interpreter", default="/usr/bin/python3",
                        help="target python for ansible-playbook (default /usr/bin/python3)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: +a needs CAP_LINUX_IMMUTABLE")

    parent, mount = ext4_tmp()
    work = tempfile.mkdtemp(prefix="bench-chattr.", dir=parent)
    try:
        tree = os.path.join(work, "tree")
        os.mkdir(tree)
        dirs = make_tree(tree, args.files)
        inodes = args.files + dirs + 1
        subset = os.path.join(work, "subset")
        os.mkdir(subset)
        subset_dirs = make_tree(subset, args.file_subset)
        subset_inodes = args.file_subset + subset_dirs + 1

        def row(what, seconds, note=""):
            print("| %-54s | %8.3f | %s |" % (what, seconds, note), flush=True)

        def reset():
            clear(tree)

        def applied():
            # checked with lsattr, not with the code under test
            assert count_append(tree) == inodes

        print("tree: %d files in %d directories (%d inodes with the root) under %s (%s on %s); median of %d runs"
              % (args.files, dirs, inodes, tree, mount.fstype, mount.source, args.rounds))
        print()
        print("| %-54s | %8s | %s |" % ("what", "seconds", "note"))
        print("|%s|%s|%s|" % ("-" * 56, "-" * 10, "-" * 6))

        chattr_r = median_of(args.rounds, lambda: run(["chattr", "-R", "+a", tree]), reset)
        applied()
        row("chattr -R +a", chattr_r)
        row("lsattr -R", median_of(args.rounds, lambda: run(["lsattr", "-R", tree])))

        inproc = median_of(args.rounds, lambda: in_process(tree), reset)
        row("chattr.run() in process: +a", inproc, "walk, open, ioctl, close; no Ansible")
        applied()
        row("chattr.run() in process: again (unchanged)", median_of(args.rounds, lambda: in_process(tree)))

        proc = module_process(work, tree)
        module_s = median_of(args.rounds, proc, reset)
        applied()
        row("module process (python chattr.py args.json): +a", module_s, "python start-up, exit_json with a result per changed path")
        module_again = median_of(args.rounds, proc)
        row("module process: again (unchanged)", module_again)

        # Interleaved, so that a change in the machine's load hits the
        # fixed cost (ping) and the module's runs alike.
        ping = playbook(work, "ping", PING_TASK, args.interpreter)
        chattr_pb = playbook(work, "chattr", CHATTR_TASK.format(path=tree), args.interpreter)
        pings, applies, agains = [], [], []
        for _round in range(args.rounds):
            reset()
            pings.append(ping())
            applies.append(chattr_pb())
            applied()
            agains.append(chattr_pb())
        base, apply_s, again_s = (statistics.median(x) for x in (pings, applies, agains))
        row("ansible-playbook, one ansible.builtin.ping task", base, "fixed cost of a playbook run")
        row("immutable.audit.chattr recurse +a (playbook)", apply_s,
            "minus ping: %.3f s" % statistics.median(a - p for a, p in zip(applies, pings)))
        row("immutable.audit.chattr again, unchanged (playbook)", again_s,
            "minus ping: %.3f s" % statistics.median(a - p for a, p in zip(agains, pings)))
        reset()

        # ansible.builtin.file runs lsattr and chattr per file: the subset
        # first, then the whole tree only if it fits in the budget.
        file_subset = playbook(work, "file-subset", FILE_TASK.format(path=subset), args.interpreter)
        sub_apply = file_subset()
        assert count_append(subset) == subset_inodes
        sub_again = file_subset()
        clear(subset)
        scale = float(inodes) / subset_inodes
        estimate = base + (sub_apply - base) * scale
        if estimate <= args.file_budget:
            file_tree = playbook(work, "file-tree", FILE_TASK.format(path=tree), args.interpreter)
            file_apply = file_tree()
            applied()
            file_again = file_tree()
            reset()
            note = "one run, all %d inodes" % inodes
        else:
            file_apply = estimate
            file_again = base + (sub_again - base) * scale
            note = ("EXTRAPOLATED from %d inodes (%.1f s, %.1f s) x %.1f: the full run would exceed %d s"
                    % (subset_inodes, sub_apply, sub_again, scale, args.file_budget))
        row("ansible.builtin.file recurse, attributes +a (playbook)", file_apply, note)
        row("ansible.builtin.file again, unchanged (playbook)", file_again, note)

        print()
        print("module process / chattr -R:                     %6.1fx  (target: at most 3x)" % (module_s / chattr_r))
        print("chattr.run() in process / chattr -R:            %6.1fx" % (inproc / chattr_r))
        print("playbook minus ping / chattr -R:                %6.1fx" % ((apply_s - base) / chattr_r))
        print("ansible.builtin.file / chattr module, playbook: %6.1fx  (target: at least 20x)" % (file_apply / apply_s))
        print("  same, second runs:                            %6.1fx" % (file_again / again_s))
        print()
        print("machine: nproc %d, kernel %s %s, python %s, %s on %s, load average at the end %.2f %.2f %.2f" % (
            (os.cpu_count(), platform.release(), platform.machine(), platform.python_version(),
             mount.fstype, mount.mount_point) + os.getloadavg()))
    finally:
        # Never leave an append-only file behind: clear, then delete.
        subprocess.run(["chattr", "-R", "-i", "-a", work], check=False, stderr=subprocess.DEVNULL)
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
