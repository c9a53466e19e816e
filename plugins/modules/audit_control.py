#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_control
short_description: Set and persist the kernel audit status, including lock mode (auditctl -e 2)
version_added: 0.1.0
description:
  - Manages the kernel audit settings C(auditctl -s) shows, live and at boot, with C(auditctl -e 2) (lock
    mode, after which the audit configuration cannot change until a reboot) as the main use.
  - Settings not given are not managed. Each given setting is applied to the running kernel (O(live)) and
    persisted (O(persist)) in a finalize rules file in O(rules_dir) that C(augenrules) loads last, with the
    C(-e) line last of all.
  - Live changes run in the order C(-b), C(-f), C(-r), C(--backlog_wait_time), C(--loginuid-immutable) and
    C(-e) last, because the kernel refuses every other change once C(-e 2) has locked it. Afterwards the
    module reads C(auditctl -s) again and fails if the kernel does not show the planned values, because
    auditctl can exit 0 without changing anything.
  - "Refuses, with nothing changed: to lock (O(enabled=2)) a kernel whose live rules differ from what the
    rules files load at boot (a locked kernel keeps them until a reboot; converge them first with
    M(immutable.audit.audit_rules), or set O(force_lock=true)); and to persist a setting that another rules
    file would override at boot. C(augenrules) keeps only the last C(-b), C(-f) and C(-e) line of all files
    (so a later C(-e 1) silently wins over C(-e 2)) and does not hoist an indented one (an indented C(-e 2)
    locks the kernel in the middle of the load). The module therefore fails when another file sorts after
    the finalize file under C(ls -v), when another file's line would override a persisted value, when
    another file has any C(-e) line that survives the merge, and when a broken line would stop the boot load
    before the finalize file's C(-e) line runs. The message names the file and the line."
  - On a locked kernel (C(enabled 2)) nothing live is attempted except O(loginuid_immutable=true), which a
    locked kernel still accepts. The finalize file is written (staged) and the task returns
    RV(reboot_required=true) and RV(pending), without failing unless O(strict=true).
author:
  - immutable.audit developers (@immutable)
options:
  enabled:
    description:
      - V(0) disables auditing, V(1) enables it, V(2) enables it and locks the configuration (rules and
        status) until the next reboot.
      - Locking a running kernel requires its rules to match the rules files (see O(force_lock)).
    type: int
    choices: [0, 1, 2]
  failure:
    description:
      - What the kernel does on a critical audit error (backlog full, lost records), C(auditctl -f).
      - V(0) silent, V(1) log a message (printk), V(2) panic the machine.
    type: int
    choices: [0, 1, 2]
  backlog_limit:
    description:
      - Maximum number of audit records queued in the kernel for auditd, C(auditctl -b). 0 means no limit.
      - This applies once the rules load; the queue before that is sized by the C(audit_backlog_limit=)
        kernel parameter.
    type: int
  rate_limit:
    description:
      - Maximum audit messages per second, C(auditctl -r); 0 means no limit.
    type: int
  backlog_wait_time:
    description:
      - How long a task waits for room in a full backlog, C(auditctl --backlog_wait_time), in kernel ticks
        (jiffies); the default is 60 seconds, which is V(15000) at C(HZ=250) and V(60000) at C(HZ=1000).
      - The kernel refuses values above ten times its default (600 seconds, V(150000) at C(HZ=250)); the
        module accepts 0 to V(600000) (the limit at C(HZ=1000)) and fails with auditctl's error if the
        running kernel refuses the value. Values up to V(60000) are accepted by every kernel.
      - With O(live=false) the value is not tried on a kernel. A persisted value the kernel refuses stops the
        boot load of the rules before the C(-e) line runs, so keep it within the kernel's limit.
    type: int
  loginuid_immutable:
    description:
      - V(true) makes the login uid immutable once set (C(auditctl --loginuid-immutable)), so no process can
        change its audit uid. The kernel locks that setting too, and a locked kernel still accepts it.
      - V(false) removes the line from the finalize file. No command clears it on a running kernel, so if the
        kernel has it set, the task reports RV(reboot_required=true) (and fails with O(strict=true)).
    type: bool
  path:
    description:
      - The finalize rules file this module owns. It holds only control lines; any other line in it makes the
        task fail rather than be dropped.
      - It must be a C(.rules) file directly in O(rules_dir) and sort after every other file there under
        C(ls -v). The default C(zz-immutable-finalize.rules) sorts after numbered names such as
        C(99-finalize.rules) and after C(audit.rules), which Debian and RHEL ship in C(rules.d).
      - Settings persisted in it by earlier runs stay unless given with another value. With no setting left
        the file is removed. To stop persisting a setting, edit or remove the file (for example with
        M(ansible.builtin.file)).
      - Default is C(zz-immutable-finalize.rules) in O(rules_dir).
    type: path
  rules_dir:
    description:
      - The directory C(augenrules) reads (C(*.rules) files, concatenated in C(ls -v) order).
    type: path
    default: /etc/audit/rules.d
  persist:
    description:
      - Write the given settings to O(path) so that they are applied at every boot.
    type: bool
    default: true
  force_lock:
    description:
      - Lock a running kernel (O(enabled=2)) even though its rules differ from what the rules files load at
        boot. The difference is returned in RV(drift) and warned about.
    type: bool
    default: false
  strict:
    description:
      - Fail, with nothing changed, when a setting can only change at the next reboot (a locked kernel, or
        O(loginuid_immutable=false) on a kernel that has it set) instead of staging it and returning
        RV(reboot_required=true). For pipelines that must not leave changes pending.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - immutable.audit.live
  - immutable.audit.live.shared_kernel
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The finalize file before and after, and the managed settings of C(auditctl -s) before and after.
  platform:
    platforms: posix
    details:
      - Linux with the audit userspace (C(auditctl), C(ausyscall)).
notes:
  - Needs root (E(CAP_AUDIT_CONTROL)). The kernel audit subsystem is not namespaced. From a chroot or container
    C(auditctl) would change (and lock) the machine underneath, which is why O(live=auto) writes only the file
    there and runs neither C(auditctl -s) nor C(auditctl -l).
  - The boot settings take effect when C(augenrules --load) runs (C(auditd.service) on Debian 12, C(audit-rules.service)
    with audit 4).
seealso:
  - module: immutable.audit.audit_rules
    description: Converge the rules before locking them.
  - name: auditctl(8)
    description: The options this module runs.
    link: https://man7.org/linux/man-pages/man8/auditctl.8.html
"""

EXAMPLES = r"""
- name: Converge the rules first
  immutable.audit.audit_rules:
    path: /etc/audit/rules.d/30-identity.rules
    rules:
      - -w /etc/passwd -p wa -k identity

- name: Lock the audit configuration, now and at every boot
  immutable.audit.audit_control:
    enabled: 2
    failure: 1
    backlog_limit: 8192
    loginuid_immutable: true
  register: lock

- name: Tell the operator when only a reboot applies the change
  ansible.builtin.debug:
    msg: "Reboot needed for {{ lock.pending | list | join(', ') }}"
  when: lock.reboot_required

- name: Fail a pipeline instead of staging changes on a locked kernel
  immutable.audit.audit_control:
    backlog_limit: 16384
    strict: true

- name: Persist the lock in an image (in a chroot live=auto does this by itself)
  immutable.audit.audit_control:
    enabled: 2
    live: false

- name: Drift audit of the status and the finalize file
  immutable.audit.audit_control:
    enabled: 2
    failure: 1
  check_mode: true
  diff: true
"""

RETURN = r"""
path:
  description: The finalize rules file.
  returned: always
  type: str
  sample: /etc/audit/rules.d/zz-immutable-finalize.rules
status:
  description: C(auditctl -s) before the task, as a dictionary. Empty with O(live=false).
  returned: always
  type: dict
  sample:
    enabled: 1
    failure: 1
    pid: 612
    rate_limit: 0
    backlog_limit: 64
    lost: 0
    backlog: 0
    backlog_wait_time: 15000
    backlog_wait_time_actual: 0
    loginuid_immutable: 0
    loginuid_immutable_locked: false
status_after:
  description:
    - C(auditctl -s) read again after the changes; in check mode, the status predicted. Empty with O(live=false).
  returned: always
  type: dict
  sample:
    enabled: 2
    failure: 1
    backlog_limit: 8192
    loginuid_immutable: 1
    loginuid_immutable_locked: true
locked:
  description: Whether the kernel is locked (C(enabled 2)) after the task; null with O(live=false).
  returned: always
  type: bool
  sample: true
file_changed:
  description: Whether the finalize file was (or in check mode would be) written or removed.
  returned: always
  type: bool
  sample: true
live_skipped:
  description:
    - The environment detected (V(chroot), V(container), V(sandbox), V(no-proc), V(unknown)) when O(live=auto)
      left the kernel alone because it is not the target's; V(null) otherwise.
  returned: always
  type: str
  sample: chroot
live_changes:
  description: The auditctl commands run (in check mode, that would run), in order; C(-e) is always last.
  returned: always
  type: list
  elements: str
  sample: ["auditctl -b 8192", "auditctl --loginuid-immutable", "auditctl -e 2"]
reboot_required:
  description: Whether some setting differs from the running kernel and only a reboot can apply it.
  returned: always
  type: bool
  sample: false
pending:
  description:
    - Per setting that only a reboot can apply, its value now, the value wanted, and the value the rules files
      set at boot (null when they do not set it).
  returned: always
  type: dict
  sample:
    backlog_limit:
      current: 64
      wanted: 8192
      after_reboot: 8192
drift:
  description:
    - When the task would lock a running kernel, the difference between the rules the rules files load at boot
      and the kernel's rules (canonical C(auditctl -l) lines); null when no lock was attempted.
  returned: always
  type: dict
  contains:
    missing:
      description: Rules the files load that the kernel lacks.
      type: list
      elements: str
    extra:
      description: Rules in the kernel that no file loads.
      type: list
      elements: str
    out_of_order:
      description: Rules in both, but in another order.
      type: list
      elements: str
  sample:
    missing: []
    extra: []
    out_of_order: []
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.audit.plugins.module_utils._errors import Failure
from ansible_collections.immutable.audit.plugins.module_utils import _control, _kernel_owner
from ansible_collections.immutable.audit.plugins.module_utils._auditctl import AuditError, Auditctl
from ansible_collections.immutable.audit.plugins.module_utils._files import (
    FileError, read_rules_d, remove, stage,
)
from ansible_collections.immutable.audit.plugins.module_utils._rules import RuleError

SETTINGS = [setting for setting, _option in _control.OPTIONS]


def _command(args):
    return " ".join(["auditctl"] + args)


def run(module, ctl, result):
    params = module.params
    # Before any auditctl command: is the kernel the target's?
    decision = _kernel_owner.resolve(module, "change the audit status")
    live = decision.act
    result["live_skipped"] = decision.skipped
    rules_dir = params["rules_dir"]
    path = params["path"] or os.path.join(rules_dir, _control.FINALIZE_NAME)
    wanted = dict((s, params[s]) for s in SETTINGS)
    result["path"] = path

    target = ctl.target()
    files = read_rules_d(rules_dir)
    status = ctl.status() if live else {}
    result["status"] = result["status_after"] = status
    # The listing is only compared when the task is about to lock the kernel.
    live_rules = ctl.rules(target) if _control.locks_live(wanted, status, live) else None
    plan = _control.plan(wanted, files, path, rules_dir, target, status=status, live_rules=live_rules,
                         persist=params["persist"], live=live, force_lock=params["force_lock"],
                         strict=params["strict"])
    for warning in plan.warnings:
        module.warn(warning)
    result.update(
        changed=plan.file_changed or bool(plan.live),
        file_changed=plan.file_changed,
        live_changes=[_command(args) for args in plan.live],
        reboot_required=plan.reboot_required,
        pending=plan.pending,
        drift=plan.drift,
        status_after=dict(status, **plan.expected) if live else {},
    )
    if not module.check_mode:
        # Settings first, so the kernel vets every value before it reaches
        # the file (at boot a refused line stops the load before -e); then
        # the file, so a lock is persisted before it is applied; -e last.
        settings = [args for args in plan.live if args[0] != "-e"]
        lock = [args for args in plan.live if args[0] == "-e"]
        # The file is staged before the first setting changes, so a full or
        # read-only disk fails the task with nothing changed.
        staged = None
        if plan.file_changed and plan.content is not None:
            try:
                staged = stage(path, plan.content)
            except FileError as exc:
                raise Failure("%s. Nothing was changed." % exc)
        done = []
        try:
            for args in settings:
                ctl.run([ctl.auditctl] + args)
                done.append(args)
            if staged is not None:
                staged.commit()
            elif plan.file_changed:
                remove(path)
        except (FileError, AuditError) as exc:
            if staged is not None:
                staged.discard()
            raise _put_back(ctl, status, done, exc, changed=bool(done))
        done_text = ["ran " + _command(args) for args in done]
        if plan.file_changed:
            done_text.append(("removed " if plan.content is None else "wrote ") + path)
        try:
            for args in lock:
                ctl.run([ctl.auditctl] + args)
                done_text.append("ran " + _command(args))
            if live:
                result["status_after"] = ctl.status()
        except AuditError as exc:
            raise Failure("%s. %s" % (exc, _done(done_text)), changed=True, **exc.details())
        missing = _control.unmet(plan, result["status_after"])
        if missing:
            raise Failure(
                "the kernel does not show what was planned: %s (auditctl exits 0 for some changes the kernel "
                "refused; only auditctl -s tells). %s" % ("; ".join(missing), _done(done_text)), changed=True)
    if module._diff:
        managed = [s for s in SETTINGS if params[s] is not None]
        result["diff"] = [
            dict(before_header=path, after_header=path,
                 before=plan.current_text or "", after=plan.content or ""),
            dict(before_header="kernel (auditctl -s)", after_header="kernel (auditctl -s)",
                 before=_control.status_text(status, managed),
                 after=_control.status_text(result["status_after"], managed)),
        ]


def _put_back(ctl, status, done, cause, changed):
    """The Failure for ``cause`` once the settings already changed are put back."""
    details = cause.details() if isinstance(cause, AuditError) else {}
    if not done:
        return Failure("%s. Nothing was changed." % cause, **details)
    back, stuck = _control.reverse(done, status)
    try:
        for args in back:
            ctl.run([ctl.auditctl] + args)
    except AuditError as exc:
        return Failure("%s. Putting the settings back failed too (%s); changed: %s. auditctl -s shows the kernel now."
                       % (cause, exc, "; ".join(_command(a) for a in done)), changed=changed, live_restored=False,
                       **details)
    kept = " (%s stays set until the reboot)" % ", ".join(stuck) if stuck else ""
    return Failure("%s. The settings the task had changed were put back (%s)%s; the file is unchanged."
                   % (cause, "; ".join(_command(a) for a in back) or "nothing to undo", kept),
                   changed=changed, live_restored=not stuck, **details)


def _done(done):
    return "Already done: %s." % "; ".join(done) if done else "Nothing was changed."


def main():
    module = AnsibleModule(
        argument_spec=dict(
            enabled=dict(type="int", choices=[0, 1, 2]),
            failure=dict(type="int", choices=[0, 1, 2]),
            backlog_limit=dict(type="int"),
            rate_limit=dict(type="int"),
            backlog_wait_time=dict(type="int"),
            loginuid_immutable=dict(type="bool"),
            path=dict(type="path"),
            rules_dir=dict(type="path", default="/etc/audit/rules.d"),
            persist=dict(type="bool", default=True),
            force_lock=dict(type="bool", default=False),
            strict=dict(type="bool", default=False),
            **_kernel_owner.LIVE_ARGUMENT_SPEC
        ),
        supports_check_mode=True,
    )
    ctl = Auditctl(module.run_command,
                   auditctl=module.get_bin_path("auditctl", required=True, opt_dirs=["/sbin", "/usr/sbin"]),
                   ausyscall=module.get_bin_path("ausyscall", required=True, opt_dirs=["/sbin", "/usr/sbin"]))
    result = dict(changed=False, path=module.params["path"], status={}, status_after={}, locked=None,
                  file_changed=False, live_changes=[], reboot_required=False, pending={}, drift=None,
                  live_skipped=None)
    try:
        run(module, ctl, result)
    except (_control.ControlError, Failure) as exc:
        # What the failure says changed, not what the plan would have changed.
        result["changed"] = False
        result.update(exc.details)
        _finish(result)
        module.fail_json(msg=str(exc), **result)
    except (RuleError, FileError, AuditError) as exc:
        result["changed"] = False
        _finish(result)
        module.fail_json(msg="%s. Nothing was changed." % exc, **result)
    _finish(result)
    module.exit_json(**result)


def _finish(result):
    enabled = result["status_after"].get("enabled")
    result["locked"] = None if enabled is None else enabled == _control.LOCKED


if __name__ == "__main__":
    main()
