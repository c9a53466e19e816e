#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: auditd_service
short_description: Restart or reload auditd the way every platform family allows
version_added: 0.1.0
description:
  - Restarts or reloads the audit daemon on RHEL 8, 9 and 10, Fedora, Debian and Ubuntu with one task.
  - RHEL-family and Ubuntu units set C(RefuseManualStop=yes), so C(systemctl restart auditd) is refused there,
    and on RHEL 9 with audit 3.1.5 or later the C(service) command may be missing. With systemd as PID 1 the
    module does what upstream's own restart script does. It stops the running auditd with
    C(auditctl --signal stop) (audit 3.1 and later; older versions such as Debian 12's 3.0.9 get C(SIGTERM) to
    the daemon's pid), waits until that process has exited, then runs C(systemctl start auditd.service).
    Where the unit does not refuse a manual stop (Debian 12) it runs C(systemctl restart auditd.service).
  - Without systemd as PID 1 it runs C(service auditd restart), else C(/etc/init.d/auditd restart).
  - A reload makes auditd re-read C(auditd.conf) (C(auditctl --signal reload), or C(SIGHUP) to the daemon
    before audit 3.1). It does not load rules; that is M(immutable.audit.audit_rules)' job.
  - When auditd does not run, both states start it.
  - After a restart the module checks that an auditd process runs again and fails if none does.
author:
  - immutable.audit developers (@immutable)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - immutable.audit.live
  - immutable.audit.live.shared_kernel
attributes:
  check_mode:
    support: full
    details:
      - Reads the target as a real run would and returns the commands in RV(commands), running none of them.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details:
      - Linux with the audit userspace. systemd, or a SysV C(service) command or C(/etc/init.d/auditd).
options:
  state:
    description:
      - V(restarted) stops and starts auditd (a new process, with every C(auditd.conf) key applied).
      - V(reloaded) makes the running auditd re-read C(auditd.conf); keys a reload does not apply are listed in
        M(immutable.audit.auditd_config)'s RV(immutable.audit.auditd_config#module:restart_keys).
    type: str
    required: true
    choices: [restarted, reloaded]
  timeout:
    description:
      - Seconds to wait for the old auditd to exit after the stop, and for the new one to run after the start.
    type: int
    default: 30
notes:
  - On audit 4.x (RHEL 10, Fedora 40 and later) rules are loaded by the separate C(audit-rules.service), so a
    restart of auditd does not reload them; on audit 3.x C(auditd.service) runs C(augenrules --load) after the
    start (RV(start_loads_rules)). The rules in the kernel stay loaded while auditd restarts either way.
  - Every command runs with an argument list, C(LANG=C) and no shell.
seealso:
  - module: immutable.audit.auditd_config
  - module: ansible.builtin.service
"""

EXAMPLES = r"""
- name: Restart auditd when a changed key needs it
  immutable.audit.auditd_service:
    state: restarted
  when: auditd_conf.restart_required

- name: Make auditd re-read auditd.conf
  immutable.audit.auditd_service:
    state: reloaded

- name: Show how auditd would be restarted here
  immutable.audit.auditd_service:
    state: restarted
  check_mode: true
  register: plan
"""

RETURN = r"""
method:
  description:
    - How auditd was (or would be) restarted or reloaded. V(signal-stop-start) (stop with C(auditctl --signal stop)
      or C(SIGTERM), wait, C(systemctl start)), V(systemctl-restart), V(start) (it did not run), V(service),
      V(initscript) or V(signal-reload). V(null) when nothing was done (RV(live_skipped)).
  returned: always
  type: str
  sample: signal-stop-start
commands:
  description: The steps in the order they ran (or would run, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/usr/sbin/auditctl --signal stop, wait until pid 812 has exited, /usr/bin/systemctl start auditd.service]
pid_before:
  description: The pid of auditd before the task, V(null) when it did not run.
  returned: always
  type: int
  sample: 812
pid:
  description: The pid of auditd after the task (V(null) in check mode and when RV(live_skipped)).
  returned: always
  type: int
  sample: 4211
version:
  description: The audit userspace version C(auditctl -v) reports, V(null) when unknown.
  returned: always
  type: str
  sample: 3.1.5
systemd:
  description: Whether systemd is PID 1 (C(/run/systemd/system) exists).
  returned: always
  type: bool
refuse_manual_stop:
  description: The unit's C(RefuseManualStop), V(null) without systemd or when it cannot be read.
  returned: always
  type: bool
start_loads_rules:
  description:
    - Whether starting C(auditd.service) loads the rules (an C(ExecStartPost) running C(augenrules) or
      C(auditctl -R)). V(false) on audit 4.x, where C(audit-rules.service) does; V(null) without systemd.
  returned: always
  type: bool
live_skipped:
  description:
    - The environment detected (V(chroot), V(container), V(sandbox), V(no-proc), V(unknown)) when O(live=auto)
      left auditd alone because the system is not the target's; V(null) otherwise.
  returned: always
  type: str
  sample: chroot
"""

import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.audit.plugins.module_utils import _kernel_owner, _service
from ansible_collections.immutable.audit.plugins.module_utils._errors import Failure

C_ENV = {"LANG": "C", "LC_ALL": "C"}
SBIN = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]


class System(object):
    """The target: what it is, its auditd, and the one place this module runs
    commands or signals a process (tests replace it)."""

    run_dir = "/run/systemd/system"
    # audit 4.1 moved the PIDFile of its unit to /run/audit/auditd.pid
    pid_files = ("/run/auditd.pid", "/run/audit/auditd.pid", "/var/run/auditd.pid")
    proc = "/proc"
    init_script = _service.INIT_SCRIPT

    def __init__(self, module):
        self.module = module

    def command(self, argv, check=True):
        rc, out, err = self.module.run_command(argv, environ_update=C_ENV, expand_user_and_vars=False)
        if check and rc != 0:
            raise Failure("%s failed (rc=%s): %s" % (" ".join(argv), rc, (err or out).strip()),
                          rc=rc, stdout=out, stderr=err)
        return rc, out, err

    def which(self, name):
        return self.module.get_bin_path(name, opt_dirs=SBIN)

    def describe(self):
        """-> (Host, start_loads_rules)."""
        auditctl, systemctl = self.which("auditctl"), self.which("systemctl")
        systemd = os.path.isdir(self.run_dir)
        version = None
        if auditctl:
            version = _service.parse_version(self.command([auditctl, "-v"], check=False)[1])
        props = {}
        if systemd and systemctl:
            rc, out, _err = self.command(
                [systemctl, "show", _service.UNIT, "-p", "RefuseManualStop,ExecStartPost"], check=False)
            props = _service.parse_show(out) if rc == 0 else {}
        host = _service.Host(
            systemd=systemd, refuse_manual_stop=_service.refuses_manual_stop(props), version=version,
            pid=self.pid(auditctl), auditctl=auditctl, systemctl=systemctl, service=self.which("service"),
            initscript=self.init_script if os.path.isfile(self.init_script) else None)
        return host, (_service.start_loads_rules(props) if systemd else None)

    def pid(self, auditctl=None):
        """auditd's pid: the one the kernel reports (auditctl -s), else the pid file's; None when it does not run."""
        candidates = []
        if auditctl:
            rc, out, _err = self.command([auditctl, "-s"], check=False)
            for line in out.splitlines() if rc == 0 else []:
                key, _sep, value = line.partition(" ")
                if key == "pid" and value.strip().isdigit():
                    candidates.append(int(value.strip()))
        for path in self.pid_files:
            try:
                with open(path) as handle:
                    text = handle.read(64).strip()
            except (IOError, OSError):
                continue
            if text.isdigit():
                candidates.append(int(text))
        for pid in candidates:
            if pid and self.alive(pid):
                return pid
        return None

    def alive(self, pid):
        """Whether pid is a running auditd (not a zombie, not a reused pid)."""
        try:
            with open(os.path.join(self.proc, str(pid), "stat")) as handle:
                stat = handle.read(512)
        except (IOError, OSError):
            return False
        name = stat[stat.find("(") + 1:stat.rfind(")")]
        state = stat[stat.rfind(")") + 2:stat.rfind(")") + 3]
        return name == "auditd" and state not in ("Z", "X")

    def signal(self, pid, name):
        os.kill(pid, getattr(signal, "SIG" + name))

    def sleep(self, seconds):
        time.sleep(seconds)

    def now(self):
        return time.monotonic()


def _wait(system, timeout, done):
    deadline = system.now() + timeout
    while True:
        value = done()
        if value or system.now() >= deadline:
            return value
        system.sleep(0.2)


def apply(system, steps, timeout):
    """Run the steps in order; a Failure names what had already run."""
    ran = []
    for step, text in zip(steps, _service.describe(steps)):
        try:
            if step.kind == "run":
                system.command(step.argv)
            elif step.kind == "signal":
                try:
                    system.signal(step.pid, step.signal)
                except OSError as exc:
                    raise Failure("kill -%s %d: %s" % (step.signal, step.pid, exc.strerror))
            elif not _wait(system, timeout, lambda pid=step.pid: not system.alive(pid)):
                raise Failure("auditd (pid %d) still runs %d s after it was told to stop" % (step.pid, timeout))
        except Failure as exc:
            already = ("; already done: %s" % "; ".join(ran)) if ran else "; nothing had been done before"
            raise Failure("%s%s" % (exc, already), commands=ran, **exc.details)
        ran.append(text)
    return ran


def run(module, system):
    params = module.params
    decision = _kernel_owner.resolve(module, "restart the audit daemon")
    result = dict(changed=False, method=None, commands=[], pid_before=None, pid=None, version=None,
                  systemd=None, refuse_manual_stop=None, start_loads_rules=None, live_skipped=decision.skipped)
    if not decision.act:
        return result
    if params["timeout"] < 1:
        raise Failure("timeout must be 1 or more seconds, not %d; nothing was run" % params["timeout"])
    host, loads_rules = system.describe()
    method, steps = _service.plan(params["state"], host)
    result.update(
        changed=True, method=method, commands=_service.describe(steps), pid_before=host.pid,
        version=_service.version_text(host.version) if host.version else None, systemd=host.systemd,
        refuse_manual_stop=host.refuse_manual_stop if host.systemd else None, start_loads_rules=loads_rules)
    if module.check_mode:
        return result
    result["commands"] = apply(system, steps, params["timeout"])
    pid = _wait(system, params["timeout"], lambda: system.pid(host.auditctl))
    if not pid:
        raise Failure("%s ran, but no auditd process runs afterwards; see 'journalctl -u auditd' or auditd's "
                      "messages in syslog" % "; ".join(result["commands"]), commands=result["commands"])
    result["pid"] = pid
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=list(_service.STATES)),
            timeout=dict(type="int", default=30),
            **_kernel_owner.LIVE_ARGUMENT_SPEC
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module, System(module))
    except Failure as exc:
        module.fail_json(msg=str(exc), **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
