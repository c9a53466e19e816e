#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: audit_info
short_description: Report the kernel audit state, the persisted rules and how they differ
version_added: 0.1.0
description:
  - Reads the Linux audit state of a host and returns it for reports and drift audits. It never changes
    anything and always returns C(changed=false).
  - It returns the kernel status (C(auditctl -s)), including whether the kernel is locked (C(enabled 2)); the
    live rules (C(auditctl -l)); the rules persisted in O(rules_dir) as C(augenrules) would load them at boot;
    and the drift between live and persisted rules, all compared in the kernel's canonical listing form.
  - It also returns the problems of the rules files that would fail or surprise at boot (a missing final
    newline, CRLF line ends, tabs, invalid lines, indented control lines, an overridden C(-e), duplicate
    rules), the C(-e) value the boot would end with, whether auditd is the kernel's audit daemon, the audit
    userspace version and the audit boot parameters on the kernel command line.
  - Rules files are canonicalised with this host's own syscall tables (C(ausyscall --dump)), user and group
    names, so they compare line by line with the kernel listing.
author:
  - immutable.audit developers (@immutable)
options:
  rules_dir:
    description:
      - The directory whose C(*.rules) files C(augenrules) concatenates, in C(ls -v) order, into the rules
        loaded at boot. Files with other names are ignored, as C(augenrules) does.
      - A directory that does not exist gives no persisted rules and a warning.
    type: path
    default: /etc/audit/rules.d
  cmdline_path:
    description:
      - The file holding the kernel command line. Only tests need to change it.
    type: path
    default: /proc/cmdline
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - immutable.audit.live
  - immutable.audit.live.shared_kernel
attributes:
  check_mode:
    support: full
    details:
      - The module only reads, so check mode returns exactly what a normal run returns.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details:
      - Linux with the audit userspace installed (C(auditctl), C(ausyscall)).
requirements:
  - The audit userspace (package C(auditd) on Debian and Ubuntu, C(audit) on RHEL, Fedora and SUSE).
notes:
  - Needs root (C(become=true)) to query the kernel with C(auditctl).
  - The drift compares the rules of the files as they would be listed after a complete load. Problems that
    stop C(auditctl -R) part way at boot (an invalid line, a duplicate rule) are reported in RV(problems) and
    taken into account by RV(boot_lock), not by RV(drift).
seealso:
  - module: immutable.audit.audit_rules
    description: Apply an ordered rule set to the rules files and the live kernel.
  - module: immutable.audit.audit_control
    description: Set the kernel audit status and the lock (C(-e 2)).
"""

EXAMPLES = r"""
- name: Read the audit state
  immutable.audit.audit_info:
  become: true
  register: audit

- name: Fail when the live rules differ from the persisted ones
  ansible.builtin.assert:
    that: audit.drift.in_sync
    fail_msg: >-
      missing {{ audit.drift.missing }}, extra {{ audit.drift.extra }},
      out of order {{ audit.drift.out_of_order }}

- name: Fail when the next boot would not lock the audit configuration
  ansible.builtin.assert:
    that: audit.boot_lock == 2
    fail_msg: "the rules in {{ audit.rules_dir }} do not end the boot with -e 2"

- name: Show the problems of the rules files
  ansible.builtin.debug:
    msg: "{{ item.file }}:{{ item.lineno }}: {{ item.message }}"
  loop: "{{ audit.problems }}"

- name: Report whether auditd receives the events and the kernel is locked
  ansible.builtin.debug:
    msg: "auditd running: {{ audit.auditd.running }}, locked: {{ audit.status.locked }}"
"""

RETURN = r"""
rules_dir:
  description: The rules directory that was read (O(rules_dir)).
  returned: always
  type: str
  sample: /etc/audit/rules.d
status:
  description:
    - Every field C(auditctl -s) prints; numbers are integers. Fields depend on the kernel and the audit
      version; those in the sample are Debian 12's.
    - C(loginuid_immutable) is split into the number and C(loginuid_immutable_locked).
  returned: always
  type: dict
  contains:
    enabled:
      description: 0 disabled, 1 enabled, 2 enabled and locked (only a reboot changes rules or status).
      type: int
      sample: 1
    locked:
      description: Whether the kernel is locked, that is RV(status.enabled) is 2.
      type: bool
      sample: false
    pid:
      description: Process the kernel sends events to, 0 if none.
      type: int
      sample: 612
  sample:
    enabled: 1
    failure: 1
    pid: 612
    rate_limit: 0
    backlog_limit: 8192
    lost: 0
    backlog: 0
    backlog_wait_time: 60000
    backlog_wait_time_actual: 0
    loginuid_immutable: 0
    loginuid_immutable_locked: false
    locked: false
locked:
  description:
    - Whether the kernel audit configuration is locked (C(enabled 2)); the same as RV(status.locked).
    - Null when the running kernel was not read (RV(live_skipped)).
  returned: always
  type: bool
  sample: false
live_rules:
  description:
    - The kernel's rules in the order it lists them, exactly as C(auditctl -l) prints them.
    - Null when the running kernel was not read (RV(live_skipped)).
  returned: always
  type: list
  elements: str
  sample:
    - "-w /etc/passwd -p wa -k identity"
    - "-a always,exit -F arch=b64 -S adjtimex,settimeofday -F key=time-change"
persisted_rules:
  description:
    - The rules of the files in O(rules_dir) in the order C(augenrules) loads them, each in the kernel's
      canonical listing form, with the file and line it comes from.
    - A rule written twice is listed twice (the second copy is also in RV(problems)).
  returned: always
  type: list
  elements: dict
  contains:
    line:
      description: The rule as C(auditctl -l) would list it.
      type: str
      sample: "-w /etc/passwd -p wa -k identity"
    file:
      description: The rules file.
      type: str
      sample: /etc/audit/rules.d/50-identity.rules
    lineno:
      description: Line number in the file, from 1.
      type: int
      sample: 3
persisted_controls:
  description:
    - The control lines (C(-D), C(-b), C(-f), C(-e), C(-r), C(--backlog_wait_time), ...) that C(augenrules)
      keeps, in load order. C(augenrules) keeps only the last C(-D), C(-b), C(-f) and C(-e), moves the first
      three to the start and C(-e) to the end; an indented one stays where it is (see RV(problems)).
  returned: always
  type: list
  elements: dict
  contains:
    line:
      description: The control line, normalised (option and value).
      type: str
      sample: "-e 2"
    option:
      description: The option.
      type: str
      sample: "-e"
    value:
      description: Its value, or null for an option without one (C(-D)).
      type: str
      sample: "2"
    file:
      description: The rules file.
      type: str
      sample: /etc/audit/rules.d/99-finalize.rules
    lineno:
      description: Line number in the file, from 1.
      type: int
      sample: 1
boot_lock:
  description:
    - The C(enabled) value (0, 1 or 2) the rules load at boot ends with, or null if no C(-e) line is applied.
    - An invalid line or a duplicate rule stops C(auditctl -R) before the C(-e) line at the end, unless a
      C(-c) or C(-i) line comes first; once a line sets 2, the kernel refuses every later C(-e).
  returned: always
  type: int
  sample: 2
drift:
  description:
    - How the live rules differ from the persisted ones, compared as canonical lines in kernel order.
    - Null when the running kernel was not read (RV(live_skipped)).
  returned: always
  type: dict
  contains:
    missing:
      description: Persisted rules the kernel does not hold.
      type: list
      elements: str
      sample: ["-w /etc/shadow -p wa -k identity"]
    extra:
      description: Live rules no rules file holds.
      type: list
      elements: str
      sample: ["-w /tmp/x -p wa -k debug"]
    out_of_order:
      description:
        - Rules both hold in an order that changes what the kernel does (the rules that would have to
          move). Order matters where the first matching rule decides; a different order of rules that can
          never compete (for example watches on different files) is not drift. See docs/rule-order.md.
      type: list
      elements: str
      sample: []
    in_sync:
      description: True when nothing is missing, extra or out of order.
      type: bool
      sample: false
problems:
  description: What in the rules files would fail or surprise when C(augenrules) loads them at boot.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: One of V(no_final_newline), V(invalid), V(indented_control), V(e_overridden), V(duplicate).
      type: str
      sample: no_final_newline
    message:
      description: What happens at boot and why.
      type: str
      sample: >-
        /etc/audit/rules.d/10-base.rules has no final newline: augenrules glues its last line to the
        first line of /etc/audit/rules.d/20-identity.rules
    file:
      description: The rules file.
      type: str
      sample: /etc/audit/rules.d/10-base.rules
    lineno:
      description: Line number in the file, from 1.
      type: int
      sample: 4
    line:
      description: The line as C(augenrules) would emit it (a glued line in full).
      type: str
      sample: "-f 1-w /etc/passwd -p wa -k identity"
auditd:
  description: Whether auditd receives the kernel's audit events.
  returned: always
  type: dict
  contains:
    running:
      description:
        - True when the kernel's audit daemon (RV(status.pid)) is a process named C(auditd).
        - False when no process is registered (events go to the kernel log only) or another program holds
          the audit socket.
      type: bool
      sample: true
    pid:
      description: The pid of auditd, or null when it is not running.
      type: int
      sample: 612
live_skipped:
  description:
    - Why the running kernel was not read - the environment detected (V(chroot), V(container), V(sandbox),
      V(no-proc), V(unknown)) with O(live=auto), or V(disabled) with O(live=false) - or V(null) when it was. The kernel and
      its command line seen from a chroot or container belong to the machine underneath, not to the target.
  returned: always
  type: str
  sample: chroot
version:
  description: Version of the audit userspace (C(auditctl -v)); null when the running kernel was not read.
  returned: always
  type: str
  sample: 3.0.9
kernel_cmdline:
  description:
    - The audit boot parameters on the kernel command line, as the kernel reads them (quotes removed, the last
      occurrence wins, nothing after C(--)); null when not given.
  returned: always
  type: dict
  contains:
    audit:
      description: Value of C(audit=) (C(1) enables auditing from boot, before auditd starts).
      type: str
      sample: "1"
    audit_backlog_limit:
      description: Value of C(audit_backlog_limit=), the queue for events before auditd runs.
      type: str
      sample: "8192"
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.immutable.audit.plugins.module_utils._auditctl import (
    AuditError, Auditctl,
)
from ansible_collections.immutable.audit.plugins.module_utils._files import (
    FileError, read_rules_d, read_text,
)
from ansible_collections.immutable.audit.plugins.module_utils._errors import Failure
from ansible_collections.immutable.audit.plugins.module_utils._info import report
from ansible_collections.immutable.audit.plugins.module_utils import _kernel_owner
from ansible_collections.immutable.audit.plugins.module_utils._rules import RuleError

# Where the process names live; tests point it at a recorded tree.
_PROC = "/proc"
_PACKAGES = "the audit userspace (package auditd on Debian and Ubuntu, audit on RHEL, Fedora and SUSE)"


def _binary(module, name):
    # get_bin_path also searches /sbin and /usr/sbin, which a non-login PATH may lack.
    path = module.get_bin_path(name)
    if path is None:
        raise AuditError("%s was not found: install %s" % (name, _PACKAGES))
    return path


def _comm(pid):
    """The process name of ``pid``, or None if there is no such process."""
    if not pid:
        return None
    try:
        return read_text(os.path.join(_PROC, str(pid), "comm"))
    except FileError:
        # the process exited between auditctl -s and this read
        return None


def gather(module):
    params = module.params
    # Before any auditctl command: is the running kernel the target's?
    decision = _kernel_owner.resolve(module, "read the running kernel's audit state")
    ctl = Auditctl(module.run_command, _binary(module, "auditctl"), _binary(module, "ausyscall"))
    if not os.path.isdir(params["rules_dir"]):
        module.warn("rules_dir %s does not exist: no rules are persisted there" % params["rules_dir"])
    files = read_rules_d(params["rules_dir"])
    if not decision.act:
        result = report(None, None, files, None, None, None, ctl.target())
        result["live_skipped"] = decision.skipped or "disabled"
        return result
    status = ctl.status()
    cmdline = read_text(params["cmdline_path"])
    if cmdline is None:
        raise FileError("cannot read the kernel command line: %s does not exist" % params["cmdline_path"])
    result = report(status, ctl.listing(), files, cmdline, _comm(status.get("pid")), ctl.version(), ctl.target())
    result["live_skipped"] = None
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            rules_dir=dict(type="path", default="/etc/audit/rules.d"),
            cmdline_path=dict(type="path", default="/proc/cmdline"),
            **_kernel_owner.LIVE_ARGUMENT_SPEC
        ),
        supports_check_mode=True,
    )
    try:
        result = gather(module)
    except AuditError as exc:
        msg = str(exc)
        if os.geteuid() != 0 and exc.cmd:
            msg += " (auditctl needs root: run the task with become: true)"
        module.fail_json(msg=msg, **exc.details())
    except (FileError, RuleError) as exc:
        module.fail_json(msg=str(exc))
    except Failure as exc:
        module.fail_json(msg=str(exc), **exc.details)
    module.exit_json(changed=False, rules_dir=module.params["rules_dir"], **result)


if __name__ == "__main__":
    main()
