"""The canonicaliser against this machine's real kernel.

Every rule of the real rule sets (../shared/corpus and the auditd package's
examples) is loaded as written, one at a time, and the line ``auditctl -l``
prints for it must be exactly the line _rules produced. Only ordinary rules
are added, each deleted again right away; a fixture deletes anything left
over, even when a test fails. Control lines (-e, -f, -b, -D, ...) are never
sent to the kernel.
"""
import glob
import os
import subprocess

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _rules
from ansible_collections.immutable.audit.plugins.module_utils._auditctl import Auditctl

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = sorted(glob.glob(os.path.join(ROOT, "..", "shared", "corpus", "*.rules"))) + sorted(
    glob.glob("/usr/share/doc/auditd/examples/rules/*.rules"))

pytestmark = pytest.mark.kernel


def _run(args):
    proc = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, LANG="C"), check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _listing():
    rc, out, _err = _run(["auditctl", "-l"])
    assert rc == 0
    return [line for line in out.splitlines() if line and line != "No rules"]


@pytest.fixture(scope="module")
def kernel():
    if os.geteuid() != 0 or _run(["auditctl", "-s"])[0] != 0:
        pytest.skip("needs root and a kernel with audit")
    status = _run(["auditctl", "-s"])[1]
    if "enabled 2" in status:
        pytest.skip("kernel audit is locked")
    before = _listing()
    yield before
    # Delete whatever this module added and is still loaded.
    target = Auditctl(_ansible_like_run).target()
    for rule in _rules.parse_listing("\n".join(_listing()), target):
        if rule.line not in before:
            _run(["auditctl"] + rule.delete_args())
    assert _listing() == before


def _ansible_like_run(args, environ_update=None, expand_user_and_vars=False):
    return _run(args)


def test_canonical_form_matches_kernel(kernel, capsys):
    ctl = Auditctl(_ansible_like_run)
    target = ctl.target()
    checked = agreed = 0
    rejected_by_kernel = []
    refused_by_us = []
    disagreements = []
    for path in CORPUS:
        name = os.path.basename(path)
        with open(path) as handle:
            lines = handle.read().split("\n")
        for lineno, text in enumerate(lines, 1):
            stripped = text.strip(" ")
            if not stripped or stripped.startswith("#"):
                continue
            tokens = _rules.tokenize(text)
            if tokens[0] not in ("-a", "-A", "-w"):
                continue  # control lines and deletions never go to the kernel here
            rc, out, err = _run(["auditctl"] + tokens)
            message = (err or out).strip().splitlines()
            if rc != 0 or any("rror" in m for m in message):
                rejected_by_kernel.append("%s:%d: %s -> %s" % (name, lineno, text, " / ".join(message)))
                continue
            added = [line for line in _listing() if line not in kernel]
            try:
                assert len(added) == 1, added
                checked += 1
                try:
                    rule = _rules.parse_line(text, target, name, lineno)
                except _rules.RuleError as exc:
                    refused_by_us.append("%s -> %s" % (exc, added[0]))
                    continue
                if rule.line == added[0]:
                    agreed += 1
                else:
                    disagreements.append("%s:%d: ours %r, kernel %r" % (name, lineno, rule.line, added[0]))
                # Deleting with our own arguments must remove exactly it.
                live = _rules.parse_listing(added[0], target)[0]
                drc, _o, derr = _run(["auditctl"] + live.delete_args())
                assert drc == 0 and "rror" not in derr, (live.delete_args(), derr)
                assert _listing() == kernel
            finally:
                for line in _listing():
                    if line not in kernel:
                        _run(["auditctl"] + _rules.parse_listing(line, target)[0].delete_args())
    with capsys.disabled():
        print("\nkernel agreement: %d rules loaded and checked, %d agree (%.1f%%)"
              % (checked, agreed, 100.0 * agreed / max(checked, 1)))
        print("rejected by the kernel (%d):" % len(rejected_by_kernel))
        for line in rejected_by_kernel:
            print("  " + line)
        print("loadable but refused by our validator (%d):" % len(refused_by_us))
        for line in refused_by_us:
            print("  " + line)
        print("disagreements (%d):" % len(disagreements))
        for line in disagreements:
            print("  " + line)
    assert checked > 300
    assert not disagreements
    assert agreed >= 0.95 * checked
