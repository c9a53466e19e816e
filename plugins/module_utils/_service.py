# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restart or reload auditd the way each platform family allows: plan. No I/O.

The auditd_service module describes the target (Host) from what it reads
(``/run/systemd/system``, ``systemctl show auditd -p RefuseManualStop,ExecStartPost``,
``auditctl -v``, auditd's pid, whether ``service`` or ``/etc/init.d/auditd``
exist); this module decides the ordered steps:

- RHEL family and Ubuntu units say ``RefuseManualStop=yes``, so ``systemctl
  stop/restart auditd`` is refused. Upstream's own restart
  (``/usr/libexec/initscripts/legacy-actions/auditd/restart``, run by
  ``service auditd restart``) stops auditd with ``auditctl --signal stop``
  and then runs ``systemctl start auditd.service``. This does the same without
  needing ``service`` (RHEL 9 with audit >= 3.1.5 no longer pulls in
  ``initscripts-service``), and waits until the old daemon is gone before the
  start (``systemctl start`` on a unit still active is a no-op).
- ``auditctl --signal`` exists from audit 3.1 on; before that (Debian 12 has
  3.0.9) the daemon's pid gets SIGTERM (stop) or SIGHUP (reload) directly,
  which is what ``auditctl --signal`` sends.
- Debian 12 patches RefuseManualStop out: ``systemctl restart auditd`` works
  there and is what systemd expects.
- Without systemd as PID 1: ``service auditd restart``, else
  ``/etc/init.d/auditd restart``.
"""

from __future__ import annotations

import collections
import re

from ansible_collections.immutable.audit.plugins.module_utils._errors import Failure

UNIT = "auditd.service"
INIT_SCRIPT = "/etc/init.d/auditd"
SIGNAL_SINCE = (3, 1)
STATES = ("restarted", "reloaded")

Host = collections.namedtuple(
    "Host", "systemd refuse_manual_stop version pid auditctl systemctl service initscript")
Host.__doc__ = """What the plan needs to know about the target.

systemd: systemd is PID 1 (/run/systemd/system exists). refuse_manual_stop:
True/False from `systemctl show`, None when unknown (treated as refusing, the
way that works on every unit). version: audit userspace version tuple from
`auditctl -v`, or None. pid: the running auditd's pid, or None. auditctl,
systemctl, service: paths of the commands, None when missing. initscript: the
path of /etc/init.d/auditd when it exists, else None."""

Step = collections.namedtuple("Step", "kind argv pid signal")
Step.__doc__ = """One thing to do, in order. kind: "run" (argv), "signal" (send
signal, a name such as "TERM", to pid) or "wait_gone" (wait until pid has exited)."""


def run(argv):
    return Step("run", list(argv), None, None)


def send(pid, signame):
    return Step("signal", None, pid, signame)


def wait_gone(pid):
    return Step("wait_gone", None, pid, None)


def parse_show(text):
    """`systemctl show -p A,B` output -> {property: value} (the first '=' splits)."""
    props = {}
    for line in (text or "").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def refuses_manual_stop(props):
    """True/False from the RefuseManualStop property, None when it was not shown."""
    value = props.get("RefuseManualStop")
    if value is None:
        return None
    return value.lower() in ("yes", "true", "1", "on")


def start_loads_rules(props):
    """Whether starting auditd.service runs augenrules or auditctl -R (an
    ExecStartPost line; audit 4.x moved that into audit-rules.service).
    None when systemctl showed no properties at all."""
    if not props:
        return None
    return bool(re.search(r"argv\[\]=\S*/(augenrules|auditctl)\b", props.get("ExecStartPost", "")))


def parse_version(text):
    """`auditctl -v` ("auditctl version 3.1.5") -> (3, 1, 5); None when unreadable."""
    match = re.search(r"version\s+(\d+(?:\.\d+)*)", text or "")
    if not match:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def has_signal_option(version):
    return version is not None and tuple(version[:2]) >= SIGNAL_SINCE


def version_text(version):
    return ".".join(str(part) for part in version) if version else "unknown"


def _stop(host):
    """Stop the running daemon without systemctl: auditctl --signal stop, else SIGTERM."""
    if host.auditctl and has_signal_option(host.version):
        first = run([host.auditctl, "--signal", "stop"])
    else:
        first = send(host.pid, "TERM")
    return [first, wait_gone(host.pid)]


def _sysv(host, action):
    if host.service:
        return [run([host.service, "auditd", action])]
    if host.initscript:
        return [run([host.initscript, action])]
    raise Failure("systemd is not PID 1 here and neither the service command nor %s exists, so there is "
                  "no way to %s auditd; nothing was run" % (INIT_SCRIPT, action))


def _need_systemctl(host):
    if not host.systemctl:
        raise Failure("systemd is PID 1 (/run/systemd/system exists) but systemctl was not found in PATH, "
                      "/usr/bin or /bin; nothing was run")


def plan(state, host):
    """-> (method, [Step]): how auditd is restarted or reloaded on ``host``.

    method names the way chosen, for the result and for people:
    systemctl-restart, signal-stop-start, start, service, initscript,
    signal-reload."""
    if state not in STATES:
        raise Failure("state must be one of %s, not %r" % (", ".join(STATES), state))
    if state == "reloaded" and host.pid:
        if host.auditctl and has_signal_option(host.version):
            return "signal-reload", [run([host.auditctl, "--signal", "reload"])]
        return "signal-reload", [send(host.pid, "HUP")]
    # restarted, or reloaded with no daemon running: (re)start it.
    action = "restart" if state == "restarted" else "start"
    if not host.systemd:
        if not host.pid:
            action = "start"
        steps = _sysv(host, action)
        return ("service" if host.service else "initscript"), steps
    _need_systemctl(host)
    start = run([host.systemctl, "start", UNIT])
    if not host.pid:
        return "start", [start]
    if host.refuse_manual_stop is False:
        return "systemctl-restart", [run([host.systemctl, "restart", UNIT])]
    return "signal-stop-start", _stop(host) + [start]


def describe(steps):
    """The steps as text, one per step, for the result (`commands`)."""
    out = []
    for step in steps:
        if step.kind == "run":
            out.append(" ".join(step.argv))
        elif step.kind == "signal":
            out.append("kill -%s %d" % (step.signal, step.pid))
        else:
            out.append("wait until pid %d has exited" % step.pid)
    return out
