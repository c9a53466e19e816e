# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Units for the rules.d merge view (augenrules semantics) and atomic writes."""

import os
import stat

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _files as F
from ansible_collections.immutable.audit.plugins.module_utils._rules import Control, Rule

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "data")


def texts(merged):
    return [m.text for m in merged.lines]


def kinds(merged):
    return [p["kind"] for p in merged.problems]


# ---------------------------------------------------------------- ordering

def test_version_key_orders_like_ls_v():
    names = ["10-base.rules", "9-early.rules", "99-finalize.rules", "30-stig.rules",
             "100-last.rules", "30-ospp.rules", "2-a.rules"]
    assert sorted(names, key=F.version_key) == [
        "2-a.rules", "9-early.rules", "10-base.rules", "30-ospp.rules", "30-stig.rules",
        "99-finalize.rules", "100-last.rules"]
    # plain sort gets it wrong, which is why version_key exists
    assert sorted(["10-a", "9-a"]) == ["10-a", "9-a"]
    assert sorted(["10-a", "9-a"], key=F.version_key) == ["9-a", "10-a"]


def test_read_rules_d_order_and_suffix(tmp_path):
    (tmp_path / "10-base.rules").write_text("-w /etc/b -p wa\n")
    (tmp_path / "9-early.rules").write_text("-w /etc/a -p wa\n")
    (tmp_path / "50-x.rules.bak").write_text("-w /etc/bak -p wa\n")
    (tmp_path / "README").write_text("not rules\n")
    (tmp_path / "60-y.rules~").write_text("-w /etc/tilde -p wa\n")
    (tmp_path / "70-dir.rules").mkdir()
    files = F.read_rules_d(str(tmp_path))
    assert files == [(str(tmp_path / "9-early.rules"), "-w /etc/a -p wa\n"),
                     (str(tmp_path / "10-base.rules"), "-w /etc/b -p wa\n")]


def test_read_rules_d_missing_directory(tmp_path):
    assert F.read_rules_d(str(tmp_path / "nope")) == []


def test_merge_keeps_file_order(target):
    merged = F.merge([("/r/9-a.rules", "-w /etc/a -p wa\n"),
                      ("/r/10-b.rules", "-w /etc/b -p wa\n")], target)
    assert texts(merged) == ["-w /etc/a -p wa", "-w /etc/b -p wa"]
    assert [(m.source, m.lineno) for m in merged.lines] == [("/r/9-a.rules", 1), ("/r/10-b.rules", 1)]
    assert merged.problems == []
    assert merged.lines[0].as_dict() == {"line": "-w /etc/a -p wa", "file": "/r/9-a.rules", "lineno": 1}


# ------------------------------------------------------------------ hoisting

def test_merge_hoists_controls_and_e_last(target):
    files = [
        ("/r/10-base.rules", "## base\n-D\n-b 8192\n-f 1\n\n-w /etc/a -p wa\n"),
        ("/r/20-x.rules", "-e 2\n-w /etc/b -p wa\n-b 320\n"),
        ("/r/30-y.rules", "# comment\n-w /etc/c -p wa\n--backlog_wait_time 60000\n"),
    ]
    merged = F.merge(files, target)
    assert texts(merged) == ["-D", "-b 320", "-f 1", "-w /etc/a -p wa", "-w /etc/b -p wa",
                             "-w /etc/c -p wa", "--backlog_wait_time 60000", "-e 2"]
    assert merged.control("-b") == "320"
    assert merged.control("-e") == "2"
    assert merged.control("-r") is None
    assert [r.line for r in merged.rules] == ["-w /etc/a -p wa", "-w /etc/b -p wa", "-w /etc/c -p wa"]
    assert all(isinstance(c, Control) for c in merged.controls)
    assert merged.problems == []


def test_merge_last_e_wins(target):
    files = [("/r/10-a.rules", "-e 2\n-w /etc/a -p wa\n"),
             ("/r/99-z.rules", "-e 1\n")]
    merged = F.merge(files, target)
    assert texts(merged) == ["-w /etc/a -p wa", "-e 1"]
    assert merged.control("-e") == "1"
    assert kinds(merged) == ["e_overridden"]
    prob = merged.problems[0]
    assert (prob["file"], prob["lineno"], prob["line"]) == ("/r/10-a.rules", 1, "-e 2")
    assert "'-e 1' in /r/99-z.rules:1" in prob["message"]


def test_merge_indented_control_not_hoisted(target):
    files = [("/r/10-a.rules", "-w /etc/a -p wa\n  -e 2\n-w /etc/b -p wa\n  # indented comment\n")]
    merged = F.merge(files, target)
    assert texts(merged) == ["-w /etc/a -p wa", "  -e 2", "-w /etc/b -p wa"]
    assert kinds(merged) == ["indented_control"]
    prob = merged.problems[0]
    assert (prob["file"], prob["lineno"], prob["line"]) == ("/r/10-a.rules", 2, "  -e 2")
    assert "locks the kernel" in prob["message"]


def test_merge_indented_b_is_reported_without_lock_warning(target):
    merged = F.merge([("/r/1.rules", " -b 100\n-w /etc/a -p wa\n")], target)
    assert texts(merged) == [" -b 100", "-w /etc/a -p wa"]
    assert kinds(merged) == ["indented_control"]
    assert "locks" not in merged.problems[0]["message"]


# --------------------------------------------------------------- boot problems

def test_merge_no_final_newline_glues(target):
    files = [("/r/10-a.rules", "-w /etc/a -p wa\n-w /etc/b -p wa"),
             ("/r/20-b.rules", "-w /etc/c -p wa\n-w /etc/d -p wa\n")]
    merged = F.merge(files, target)
    glued = "-w /etc/b -p wa-w /etc/c -p wa"
    assert texts(merged) == ["-w /etc/a -p wa", glued, "-w /etc/d -p wa"]
    assert "no_final_newline" in kinds(merged)
    prob = [p for p in merged.problems if p["kind"] == "no_final_newline"][0]
    assert "/r/10-a.rules" in prob["message"] and "/r/20-b.rules" in prob["message"]
    assert (prob["file"], prob["lineno"], prob["line"]) == ("/r/10-a.rules", 2, glued)
    # the glued line is broken too
    assert kinds(merged) == ["no_final_newline", "invalid"]


def test_merge_last_file_without_newline_is_fine(target):
    merged = F.merge([("/r/10-a.rules", "-w /etc/a -p wa\n"), ("/r/20-b.rules", "-w /etc/b -p wa")],
                     target)
    assert texts(merged) == ["-w /etc/a -p wa", "-w /etc/b -p wa"]
    assert merged.problems == []


@pytest.mark.parametrize("line, needle", [
    ("-w /etc/a -p wa -k x\r", "carriage return"),
    ("-w /etc/a\t-p wa", "tab character"),
    ("-a always,exit -F arch=b64 -S open -F bogus=1", "unknown field 'bogus'"),
])
def test_merge_reports_invalid(target, line, needle):
    merged = F.merge([("/r/10-a.rules", "-w /etc/ok -p wa\n" + line + "\n-w /etc/z -p wa\n")], target)
    assert kinds(merged) == ["invalid"]
    prob = merged.problems[0]
    assert (prob["file"], prob["lineno"], prob["line"]) == ("/r/10-a.rules", 2, line)
    assert needle in prob["message"] and "auditctl -R stops" in prob["message"]
    # the invalid line stays in place, with no entry
    assert texts(merged) == ["-w /etc/ok -p wa", line, "-w /etc/z -p wa"]
    assert merged.lines[1].entry is None
    assert [r.line for r in merged.rules] == ["-w /etc/ok -p wa", "-w /etc/z -p wa"]


def test_merge_reports_duplicates_across_files(target):
    files = [("/r/10-a.rules", "-w /etc/passwd -p wa -k identity\n"),
             ("/r/20-b.rules", "-w /etc/shadow -p wa\n"
                               "-a always,exit -F path=/etc/passwd -F perm=aw -k identity\n")]
    merged = F.merge(files, target)
    assert kinds(merged) == ["duplicate"]
    prob = merged.problems[0]
    assert (prob["file"], prob["lineno"]) == ("/r/20-b.rules", 2)
    assert "duplicate of /r/10-a.rules:1" in prob["message"]
    assert all(isinstance(r, Rule) for r in merged.rules) and len(merged.rules) == 3


def test_merge_skips_missing_files(target):
    merged = F.merge([("/r/10-a.rules", None), ("/r/20-b.rules", "")], target)
    assert merged.lines == [] and merged.problems == []


# ------------------------------------------------------------ atomic_write

def test_atomic_write_creates_and_is_idempotent(tmp_path):
    path = str(tmp_path / "audit.rules")
    assert F.atomic_write(path, "-w /etc/a -p wa\n", mode=0o640, uid=os.geteuid(),
                          gid=os.getegid()) is True
    with open(path) as handle:
        assert handle.read() == "-w /etc/a -p wa\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    before = os.stat(path)
    assert F.atomic_write(path, "-w /etc/a -p wa\n", mode=0o640, uid=os.geteuid(),
                          gid=os.getegid()) is False
    after = os.stat(path)
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    assert sorted(os.listdir(str(tmp_path))) == ["audit.rules"]


def test_atomic_write_replaces_changed_content(tmp_path):
    path = str(tmp_path / "audit.rules")
    F.atomic_write(path, "old\n", uid=os.geteuid(), gid=os.getegid())
    assert F.atomic_write(path, "new\n", uid=os.geteuid(), gid=os.getegid()) is True
    assert F.read_text(path) == "new\n"
    assert sorted(os.listdir(str(tmp_path))) == ["audit.rules"]


def test_atomic_write_fixes_mode_only(tmp_path):
    path = str(tmp_path / "audit.rules")
    F.atomic_write(path, "x\n", mode=0o644, uid=os.geteuid(), gid=os.getegid())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert F.atomic_write(path, "x\n", mode=0o600, uid=os.geteuid(), gid=os.getegid()) is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert F.read_text(path) == "x\n"


def test_atomic_write_missing_directory(tmp_path):
    with pytest.raises(F.FileError) as info:
        F.atomic_write(str(tmp_path / "nope" / "a.rules"), "x\n")
    assert str(tmp_path / "nope") in str(info.value)


def test_read_text_missing(tmp_path):
    assert F.read_text(str(tmp_path / "none")) is None


def test_remove(tmp_path):
    path = tmp_path / "a.rules"
    path.write_text("x\n")
    assert F.remove(str(path)) is True
    assert not path.exists()
    assert F.remove(str(path)) is False


def test_version_key_matches_recorded_ls_v():
    # tests/unit/data/ls_v_order.txt is `ls -1v` (coreutils 9.1, Debian 12)
    # of these names: suffixes compare last, letters before other characters.
    with open(os.path.join(DATA, "ls_v_order.txt")) as handle:
        recorded = handle.read().split()
    assert sorted(reversed(recorded), key=F.version_key) == recorded
    assert recorded.index("zzz.rules") < recorded.index("zz-immutable-finalize.rules") < recorded.index("_x.rules")
