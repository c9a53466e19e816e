# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seal role on this machine, safely.

- invalid variables fail at argument validation or at the role's first assert;
- a --check --diff run with every path the role touches pointed into pytest's
  temporary directory shows the intended auditd.conf edit, units and seal,
  and changes nothing (auditd does not run here; systemd is not asked);
- the unit templates, rendered into the temporary directory, pass
  ``systemd-analyze verify`` (offline), and the service's ExecStart, run by
  hand with the sealing script copied the way the role copies it, seals a
  rotated log there; ``_seal.py verify`` run from that directory verifies it.
  Inode flags only ever go on files under tmp_path and are cleared afterwards.

Nothing here starts, reloads or signals auditd, runs systemctl or touches the
checkout. The role for real (timers, idempotence) runs on a VM.
"""

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _flags, _seal
from ansible_collections.immutable.audit.tests.unit.plugins.module_utils.test_seal import clear_flags

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
ROLE = os.path.join(ROOT, "roles", "seal")
UNITS = ["immutable-audit-seal@.service", "immutable-audit-seal.timer", "immutable-audit-seal-size.timer"]
LIB_FILES = ["_seal.py", "_flags.py", "_auditd_conf.py"]
SYSTEM_PYTHON = "/usr/bin/python3"


def _play(path, *extra, check=True):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0")
    args = [PLAYBOOK, "-i", "localhost,", "-c", "local"] + (["--check"] if check else [])
    return subprocess.run(
        args + ["-e", "ansible_python_interpreter=%s" % sys.executable, str(path)] + list(extra),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def _snapshot(root):
    """Every path under root with its type, mode, owner and content."""
    out = {}
    for directory, dirs, files in os.walk(str(root)):
        for path in [directory] + [os.path.join(directory, f) for f in files]:
            st = os.lstat(path)
            content = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as handle:
                    content = handle.read()
            out[os.path.relpath(path, str(root))] = (st.st_mode, st.st_uid, st.st_gid, content)
    return out


def _host(tmp_path):
    """A fake host under tmp_path/host: auditd.conf, a live log and one rotated log."""
    root = tmp_path / "host"
    log = root / "log"
    log.mkdir(parents=True)
    conf = root / "auditd.conf"
    conf.write_text("log_file = %s/audit.log\nmax_log_file_action = ROTATE\nnum_logs = 2\n" % log)
    (log / "audit.log.1").write_text(
        "type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=59 success=yes\n"
        "type=EXECVE msg=audit(1700000000.100:10): argc=1 a0=\"true\"\n"
        "type=SYSCALL msg=audit(1700000050.200:11): arch=c000003e syscall=59 success=yes\n")
    (log / "audit.log").write_text("type=SYSCALL msg=audit(1700000100.300:12): arch=c000003e syscall=59\n")
    units = root / "units"
    units.mkdir()
    return dict(root=root, conf=conf, log=log, units=units, lib=root / "lib", sealed=log / "sealed")


def test_invalid_input_fails_at_validation():
    proc = _play(os.path.join(ROOT, "tests", "roles", "seal", "tests_invalid_input.yml"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-20000:]
    assert "failed=0" in proc.stdout and "rescued=11" in proc.stdout, proc.stdout[-5000:]
    assert "argument 'seal_num_logs' is of type <class 'str'> and we were unable to convert to int" in out
    assert "seal_num_logs must be 2 or more" in out
    # no task beyond the checks ran
    assert "Install the sealing script" not in proc.stdout
    assert "Seal what auditd has rotated" not in proc.stdout


def _check_play(tmp_path, host):
    play = tmp_path / "play.yml"
    play.write_text(
        "- name: The seal role in check mode\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Run the role\n      ansible.builtin.include_role:\n        name: immutable.audit.seal\n"
        "      vars:\n"
        "        seal_lib_dir: %(lib)s\n        seal_sealed_dir: %(sealed)s\n"
        "        __seal_auditd_conf: %(conf)s\n        __seal_unit_dir: %(units)s\n"
        "    - name: Show the head\n      ansible.builtin.debug:\n        var: seal_head\n" % host)
    return _play(play, "--diff")


def test_check_mode_diff_touches_nothing(tmp_path):
    host = _host(tmp_path)
    # an existing sealed directory with the wrong mode: the role would fix it
    host["sealed"].mkdir(mode=0o755)
    os.chmod(str(host["sealed"]), 0o755)
    before = _snapshot(host["root"])
    proc = _check_play(tmp_path, host)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-20000:]
    # auditd.conf
    assert "-max_log_file_action = ROTATE" in out and "+max_log_file_action = KEEP_LOGS" in out
    assert "-num_logs = 2" in out and "+num_logs = 5" in out
    # the sealed directory's mode
    assert '-    "mode": "0755",' in out and '+    "mode": "0700",' in out
    # the units; the log directory comes from auditd.conf's log_file
    execstart = ("+ExecStart=/usr/bin/python3 %(lib)s/_seal.py seal --rotate %%i --min-size 8388608 "
                 "--sealed-dir %(sealed)s --auditd-conf %(conf)s --log-file %(log)s/audit.log --lock-wait 600"
                 % host)
    assert execstart in out
    # the sealed directory is inside the log directory: one writable tree
    assert "+ReadWritePaths=%(log)s\n" % host in out
    assert "+CapabilityBoundingSet=CAP_LINUX_IMMUTABLE CAP_KILL CAP_DAC_OVERRIDE" in out
    assert "+ProtectSystem=strict" in out
    assert "+OnCalendar=*:0/15" in out and "+Unit=immutable-audit-seal@always.service" in out
    assert "+OnBootSec=1min" in out and "+OnUnitActiveSec=1min" in out
    assert "+Unit=immutable-audit-seal@auto.service" in out
    for unit in UNITS:
        assert "changed: [localhost] => (item=%s)" % unit in out
    # the sealing script is copied, without a diff of its source
    assert "changed: [localhost] => (item=_seal.py)" in out
    assert "def segment_name" not in out
    # the seal: the rotated log would be sealed, no rotation (the live log is small)
    assert "+would seal %(log)s/audit.log.1" % host in out
    assert "++a %(sealed)s" % host in out
    assert '"seal_head": "%s"' % ("0" * 64) in out
    # systemd is not asked about units it cannot know yet
    assert "skipping: [localhost] => (item=immutable-audit-seal.timer)" in out
    assert "changed=" in out and "failed=0" in out
    assert _snapshot(host["root"]) == before
    assert os.listdir(str(host["units"])) == []
    assert not host["lib"].exists()


def test_check_mode_sealed_dir_beside_the_log_dir(tmp_path):
    """A sealed directory on the log directory's file system but outside it: the
    service gets their common parent writable (two ReadWritePaths= are two bind
    mounts, and the take's rename between them would be EXDEV)."""
    host = _host(tmp_path)
    host["sealed"] = host["root"] / "sealed"
    before = _snapshot(host["root"])
    proc = _check_play(tmp_path, host)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-20000:]
    assert "+ReadWritePaths=%(root)s\n" % host in out
    assert "+would seal %(log)s/audit.log.1" % host in out
    assert _snapshot(host["root"]) == before


def _render(tmp_path, host, out_dir, **more):
    """Render the unit templates with the role's defaults into out_dir (a real run that writes only there)."""
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps(dict(
        seal_lib_dir=str(host["lib"]), seal_sealed_dir=str(host["sealed"]), seal_max_size=10 ** 12,
        __seal_auditd_conf=str(host["conf"]), __seal_log_file="%s/audit.log" % host["log"],
        __seal_rw_paths=[str(host["log"])], __seal_python=SYSTEM_PYTHON, **more)))
    play = tmp_path / "render.yml"
    play.write_text(
        "- name: Render the seal units\n  hosts: all\n  gather_facts: false\n"
        "  vars_files: [%(defaults)s]\n"
        "  tasks:\n"
        "    - name: Render\n      ansible.builtin.template:\n"
        "        src: %(templates)s/{{ item }}.j2\n        dest: %(out)s/{{ item }}\n        mode: \"0644\"\n"
        "      loop: %(units)s\n"
        % dict(defaults=os.path.join(ROLE, "defaults", "main.yml"), templates=os.path.join(ROLE, "templates"),
               out=out_dir, units=json.dumps(UNITS)))
    # extra vars outrank the defaults loaded as vars_files
    proc = _play(play, "-e", "@%s" % overrides, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_allow_volatile_reaches_the_service_command(tmp_path):
    host = _host(tmp_path)
    units = tmp_path / "rendered"
    units.mkdir()
    _render(tmp_path, host, str(units), seal_allow_volatile=True)
    argv = shlex.split(_unit_value(str(units / "immutable-audit-seal@.service"), "ExecStart"))
    assert "--allow-volatile" in argv and argv[-2:] == ["--lock-wait", "600"]


def _unit_value(path, key):
    with open(path) as handle:
        for line in handle:
            if line.startswith(key + "="):
                return line.rstrip("\n").split("=", 1)[1]
    raise AssertionError("%s has no %s=" % (path, key))


def _can_flag(tmp_path):
    probe = tmp_path / "probe"
    probe.write_text("x")
    try:
        _seal.SealIO().add_flags(str(probe), _flags.APPEND)
        _seal.SealIO().remove_flags(str(probe), _flags.APPEND)
    except (_flags.FlagsError, OSError) as exc:
        return str(exc)
    finally:
        probe.unlink()
    return None


def test_units_verify_and_the_service_command_seals(tmp_path):
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip("needs %s, as the unit does" % SYSTEM_PYTHON)
    host = _host(tmp_path)
    units = tmp_path / "rendered"
    units.mkdir()
    _render(tmp_path, host, str(units))

    analyze = shutil.which("systemd-analyze")
    if analyze:
        # verify loads units by name; an instance name makes it load the template
        os.symlink("immutable-audit-seal@.service", str(units / "immutable-audit-seal@auto.service"))
        os.symlink("immutable-audit-seal@.service", str(units / "immutable-audit-seal@always.service"))
        host["lib"].mkdir()  # the script's directory
        for name in ["immutable-audit-seal@auto.service", "immutable-audit-seal@always.service",
                     "immutable-audit-seal.timer", "immutable-audit-seal-size.timer"]:
            proc = subprocess.run([analyze, "verify", str(units / name)], capture_output=True, text=True,
                                  timeout=120, check=False)
            assert proc.returncode == 0 and proc.stderr.strip() == "", (name, proc.stdout, proc.stderr)
    else:
        host["lib"].mkdir()

    reason = _can_flag(tmp_path)
    if reason:
        pytest.skip("cannot set inode flags here: %s" % reason)
    # install the script as the role does: the three files side by side
    for name in LIB_FILES:
        shutil.copy(os.path.join(ROOT, "plugins", "module_utils", name), str(host["lib"] / name))
    execstart = _unit_value(str(units / "immutable-audit-seal@.service"), "ExecStart")
    argv = [arg.replace("%i", "auto") for arg in shlex.split(execstart)]
    assert argv[:3] == [SYSTEM_PYTHON, str(host["lib"] / "_seal.py"), "seal"]
    assert argv[-2:] == ["--lock-wait", "600"]
    assert "--min-size" in argv and argv[argv.index("--min-size") + 1] == "1000000000000"
    try:
        # rotate auto with a tiny live log and a huge --min-size: auditd is never signalled
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                              cwd=str(tmp_path), env={"PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json.loads(proc.stdout)
        assert result["rotated"] is False
        assert [s["name"] for s in result["sealed"]] == ["audit-1700000000-1700000050-10-11.log"]
        assert not (host["log"] / "audit.log.1").exists()
        assert (host["log"] / "audit.log").exists()
        head = result["head"]

        verify = [SYSTEM_PYTHON, str(host["lib"] / "_seal.py"), "verify", "--sealed-dir", str(host["sealed"]),
                  "--expected-head", head]
        proc = subprocess.run(verify, capture_output=True, text=True, timeout=120, check=False,
                              cwd=str(tmp_path), env={"PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        checked = json.loads(proc.stdout)
        assert checked["ok"] is True and checked["segments"] == 1
        assert [f for f in checked["findings"] if f["severity"] == "error"] == []

        # a second run of the same command has nothing to do
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                              cwd=str(tmp_path), env={"PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        again = json.loads(proc.stdout)
        assert again["changed"] is False and again["head"] == head
    finally:
        clear_flags(str(tmp_path))
