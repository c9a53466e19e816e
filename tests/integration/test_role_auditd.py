# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The auditd role on this machine, safely: argument validation (the role
fails before its first task) and an image-build run in check mode against
temporary files. Nothing is installed, started, signalled or written; the
real system is only read (package state, /proc)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")


def _play(path, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [PLAYBOOK, "-i", "localhost,", "-c", "local", "--check",
         "-e", "ansible_python_interpreter=%s" % sys.executable, path] + list(extra),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_invalid_input_fails_at_argument_validation():
    proc = _play(os.path.join(ROOT, "tests", "roles", "auditd", "tests_invalid_input.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed=0" in proc.stdout and "rescued=5" in proc.stdout
    assert "argument 'auditd_allow_reboot' is of type <class 'str'> and we were unable to convert to bool" \
        in proc.stdout
    # no task of the role ran
    assert "Install the audit userspace" not in proc.stdout


def test_image_build_check_mode_touches_nothing(tmp_path):
    conf = tmp_path / "auditd.conf"
    conf.write_text("max_log_file_action = ROTATE\nspace_left = 75\nadmin_space_left = 50\n")
    grub = tmp_path / "grub"
    grub.write_text('GRUB_CMDLINE_LINUX="quiet"\n')
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("ro quiet\n")
    play = tmp_path / "play.yml"
    play.write_text(
        "- name: Image build in check mode\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Run the role\n      ansible.builtin.include_role:\n        name: immutable.audit.auditd\n"
        "      vars:\n        auditd_image_build: true\n"
        "        __auditd_conf_path: %s\n        __auditd_grub_file: %s\n        __auditd_proc_cmdline: %s\n"
        "    - name: Show the fact\n      ansible.builtin.debug:\n        var: auditd_reboot_required\n"
        % (conf, grub, cmdline))
    before = (conf.read_text(), grub.read_text())
    proc = _play(str(play), "--diff")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Image build (auditd_image_build is true): files only" in proc.stdout
    assert '+GRUB_CMDLINE_LINUX="quiet audit=1 audit_backlog_limit=8192"' in proc.stdout
    assert "+max_log_file_action = KEEP_LOGS" in proc.stdout
    assert '"auditd_reboot_required": false' in proc.stdout
    assert (conf.read_text(), grub.read_text()) == before
