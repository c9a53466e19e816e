# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared auditd restart handler runs once when both roles notify it.

tests/integration/restart_handler/play.yml has three plays (roles section,
include_role, import_role), each with two roles that depend on
immutable.audit.auditd_handlers exactly as the auditd and seal roles do and
notify its topic. The playbook runs with --check only: the handler's
immutable.audit.auditd_service then reads this machine (auditctl -v, auditctl
-s, systemctl show, all read-only) and reports the commands it would run,
running none. auditd here is neither started, stopped nor signalled.
"""

import glob
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
HERE = os.path.join(ROOT, "tests", "integration", "restart_handler")
TOPIC = "immutable.audit restart auditd"
HANDLER = "RUNNING HANDLER [immutable.audit.auditd_handlers : Restart auditd for the changed auditd.conf keys]"


def _play(restart_required):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(HERE, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [PLAYBOOK, "-i", "localhost,", "-c", "local", "--check", "-v",
         "-e", "ansible_python_interpreter=%s" % sys.executable,
         "-e", "restart_required=%s" % restart_required, "play.yml"],
        cwd=HERE, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _plays(stdout):
    return stdout.split("\nPLAY [")[1:]


def test_handler_runs_once_per_play_when_both_roles_notify():
    plays = _plays(_play("true"))
    assert len(plays) == 3
    for play in plays:
        assert play.count("TASK [notify_auditd : Report an auditd.conf change") == 1, play
        assert play.count("TASK [notify_seal : Report an auditd.conf change") == 1, play
        assert play.count(HANDLER) == 1, play
        handler = play.split(HANDLER, 1)[1]
        # check mode: the plan, as the module reports it
        assert '"method": "' in handler and '"commands": [' in handler, handler
        assert '"pid": null' in handler


def test_handler_skipped_without_restart_required():
    out = _play("false")
    for play in _plays(out):
        assert play.count(HANDLER) == 1
        assert "skipping: [localhost]" in play.split(HANDLER, 1)[1]
    assert '"method"' not in out


def _yaml(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return yaml.safe_load(handle)


def test_real_roles_notify_the_one_shared_handler():
    """The real roles are wired as the stand-ins: the dependency, the topic, no handler of their own."""
    for role in ("auditd", "seal"):
        deps = _yaml("roles", role, "meta", "main.yml")["dependencies"]
        assert {"role": "immutable.audit.auditd_handlers"} in deps
        tasks = _yaml("roles", role, "tasks", "main.yml")
        notifying = [t for t in tasks if t.get("notify")]
        assert [t["notify"] for t in notifying] == [TOPIC]
        assert "immutable.audit.auditd_config" in notifying[0]
        assert notifying[0]["register"] == "__%s_conf" % role  # what the handler reads
        assert not os.path.exists(os.path.join(ROOT, "roles", role, "handlers"))
    handlers = [h for path in glob.glob(os.path.join(ROOT, "roles", "*", "handlers", "*.yml"))
                for h in _yaml(path) or []]
    assert [h.get("listen") for h in handlers].count(TOPIC) == 1
    (handler,) = [h for h in handlers if h.get("listen") == TOPIC]
    assert handler["immutable.audit.auditd_service"] == {"state": "restarted"}
