#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_rules
short_description: Apply an ordered set of Linux audit rules to the kernel and persist it
version_added: 0.1.0
description:
  - Manages one rules file under C(/etc/audit/rules.d) and the rules running in the kernel, and
    proves that the two agree.
  - Every rule is validated and put in the exact form C(auditctl -l) prints (syscall names from the
    host's own table, users and groups resolved, errno and message type names), so the desired
    rules, the file and the kernel listing are compared line by line.
  - All rules are validated before anything changes; a bad rule fails the task with the rule, its
    position and the cause, and nothing on disk or in the kernel is touched.
  - Live changes are a diff, not a reload. Rules that are already loaded stay loaded; new rules are
    added before obsolete ones are deleted, so audit coverage never drops while the task runs. A
    rule that must move to honour the order is first covered by a temporary twin (the same rule
    with the extra key C(immutable-audit-moving)). C(augenrules --load) by contrast deletes every
    rule first (about 12 ms per rule in the kernel).
  - Order matters to the kernel (the first matching rule decides, so a C(never) rule only works
    above the rules it suppresses). The desired list is ordered; rules whose order cannot change
    what the kernel does may sit in either order live, so changing one rule does not force the
    rules after it to be reloaded. Those are rules that can never match the same event (different
    arch, disjoint syscalls, different auid, ...) and path watches on different files (the kernel
    keeps them per inode and checks them after the syscall rules). See docs/rule-order.md.
  - After a live change the module lists the kernel rules again and fails if the listing is not
    exactly the planned one, because auditctl exits 0 for changes the kernel refused.
  - On a locked kernel (C(enabled 2)) the file is written, nothing live is attempted, and the task
    returns RV(reboot_required=true) with the pending difference instead of failing.
  - The file is written only after the kernel accepted the rules, so a rule the kernel refuses never
    reaches the file that loads at boot (where C(auditctl -R) would stop at it).
author:
  - immutable.audit developers (@immutable)
attributes:
  check_mode:
    support: full
    description: Reports exactly the changes a real run would make, including the predicted kernel listing.
  diff_mode:
    support: full
    description: Shows the rules file and the kernel listing before and after.
  platform:
    support: full
    platforms: posix
    description: Linux with the kernel audit subsystem and the audit userspace (auditctl, ausyscall).
options:
  rules:
    description:
      - The ordered rules, one rules-file line each, as you would write them in a rules file
        (C(-w ...), C(-a always,exit ...), C(-A ...)).
      - Comments and blank lines are allowed and dropped. Control lines (C(-e), C(-f), C(-b), C(-D), ...) are
        refused; use M(immutable.audit.audit_control).
      - With O(state=absent) and no O(rules), every rule of the file at O(path) is removed.
    type: list
    elements: str
    default: []
  path:
    description:
      - The rules file this task owns. Its content is replaced by O(rules) in canonical form.
    type: path
    default: /etc/audit/rules.d/50-immutable.rules
  state:
    description:
      - V(present) makes the rules live and persisted.
      - V(absent) deletes the file and removes its rules (and O(rules)) from the kernel.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - Make the kernel hold exactly what the rules files in the directory of O(path) declare, in
        augenrules order, deleting live rules that no file declares.
      - V(false) only adds and removes this task's own rules and leaves other live rules alone.
    type: bool
    default: false
  missing_path:
    description:
      - What to do with a watch whose directory does not exist on this host (the kernel refuses
        such a rule, and at boot C(auditctl -R) would stop at it).
      - V(fail) fails the task naming the rule and the path, with nothing changed.
      - V(skip) leaves the rule out of the file and the kernel on this host and warns; it is listed
        in RV(skipped_rules).
    type: str
    choices: [fail, skip]
    default: fail
  missing_syscall:
    description:
      - What to do with a syscall (C(-S)) that the host's syscall table for the rule's arch does not
        have, such as C(open), C(creat) or C(chown) on aarch64 (which only has C(openat),
        C(fchownat), ...). The table is the target's own (C(ausyscall --dump) for its machine type).
      - V(skip) drops those syscalls from the rule and warns, naming the rule, the arch and the
        syscalls. A rule left with no syscall is left out (without C(-S) it would match every
        syscall), and so is a rule that dropping made equal to another one. A rule with
        C(-F arch=b32) on a kernel that runs no 32-bit programs (x86_64 without ia32 emulation,
        aarch64 without C(CONFIG_COMPAT), ppc64le) is left out too. All are listed in
        RV(dropped_syscalls); rules left out also in RV(skipped_rules).
      - V(fail) fails the task naming every such rule and its missing syscalls, with nothing changed.
      - A syscall name that no architecture's table has (a typo such as C(settimeofdya)) is never dropped,
        whatever this option says; the task fails naming it, with nothing changed.
    type: str
    choices: [fail, skip]
    default: skip
  mode:
    description: Permissions of the rules file.
    type: raw
    default: '0640'
extends_documentation_fragment:
  - immutable.audit.live
  - immutable.audit.live.shared_kernel
notes:
  - Lines are split on spaces exactly as C(auditctl -R) does; write a space inside a value as C(\ ).
  - Needs the audit userspace (C(auditctl), C(ausyscall)) on the target.
seealso:
  - module: immutable.audit.audit_info
  - module: immutable.audit.audit_control
"""

EXAMPLES = r"""
- name: Watch identity files and time changes
  immutable.audit.audit_rules:
    path: /etc/audit/rules.d/30-identity.rules
    rules:
      - -w /etc/passwd -p wa -k identity
      - -w /etc/group -p wa -k identity
      - -a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change

- name: Suppress a noisy event above the rules it would otherwise hit
  immutable.audit.audit_rules:
    path: /etc/audit/rules.d/10-filters.rules
    rules:
      - -a never,exit -F arch=b64 -S adjtimex -F auid=unset -F uid=_chrony
      - -a always,exit -F arch=b64 -S adjtimex -k time-change

- name: Make the kernel hold exactly what rules.d declares (drop hand-loaded rules)
  immutable.audit.audit_rules:
    path: /etc/audit/rules.d/30-identity.rules
    rules:
      - -w /etc/passwd -p wa -k identity
    exclusive: true

- name: Build an image (in a chroot the default live=auto writes the file only; false says so everywhere)
  immutable.audit.audit_rules:
    path: /etc/audit/rules.d/30-identity.rules
    rules:
      - -w /etc/shadow -p wa -k identity
    live: false

- name: Remove a rule set from disk and kernel
  immutable.audit.audit_rules:
    path: /etc/audit/rules.d/30-identity.rules
    state: absent
"""

RETURN = r"""
rules:
  description: The desired rules in canonical (C(auditctl -l)) form, in the order the kernel lists them.
  returned: always
  type: list
  elements: str
  sample: ["-w /etc/passwd -p wa -k identity", "-a always,exit -F arch=b64 -S adjtimex,settimeofday -F key=time"]
added:
  description: Rules added to the kernel (or that would be, in check mode). Empty on a locked kernel.
  returned: always
  type: list
  elements: str
removed:
  description: Rules deleted from the kernel (or that would be). Empty on a locked kernel.
  returned: always
  type: list
  elements: str
moved:
  description: Rules deleted and added again to restore the desired order (each covered by a twin meanwhile).
  returned: always
  type: list
  elements: str
live_drift:
  description: How the kernel differed from the desired rules before the task ran.
  returned: always
  type: dict
  contains:
    missing:
      description: Desired rules the kernel did not hold.
      type: list
      elements: str
    extra:
      description: Rules the kernel held that this task removes (its own obsolete rules, or any undeclared rule with O(exclusive)).
      type: list
      elements: str
    out_of_order:
      description: Live rules in an order that changes what the kernel does; they are moved (see docs/rule-order.md).
      type: list
      elements: str
locked:
  description: Whether the kernel audit configuration is locked (C(enabled 2)).
  returned: always
  type: bool
reboot_required:
  description: True when the kernel is locked and differs from the desired rules; the file holds them and a reboot loads them.
  returned: always
  type: bool
pending:
  description: On a locked kernel, the rules a reboot will add and remove.
  returned: always
  type: dict
  contains:
    add:
      description: Rules a reboot will add.
      type: list
      elements: str
    remove:
      description: Rules a reboot will remove.
      type: list
      elements: str
live_skipped:
  description:
    - Why the kernel was left alone although O(live=auto) - the detected environment (V(chroot),
      V(container), V(sandbox), V(no-proc), V(unknown)) - or V(null) when the kernel was compared and changed.
  returned: always
  type: str
  sample: chroot
file_changed:
  description: Whether the rules file was (or would be) written or removed.
  returned: always
  type: bool
path:
  description: The rules file.
  returned: always
  type: str
skipped_rules:
  description:
    - Rules left out on this host - because a directory they watch does not exist (O(missing_path=skip)),
      or because none of their syscalls exists for their arch or the kernel has no ABI for it
      (O(missing_syscall=skip)).
  returned: always
  type: list
  elements: dict
  contains:
    rule:
      description: The rule as given.
      type: str
    missing:
      description: The directory that does not exist (left out for a missing path).
      type: str
    missing_syscalls:
      description: The syscalls the host's table lacks (left out for missing syscalls).
      type: list
      elements: str
    arch:
      description: The arch of the rule (V(b64), V(b32); V(null) when the rule names none, which is the native V(b64)).
      type: str
    reason:
      description: Why the rule is left out (left out for missing syscalls).
      type: str
dropped_syscalls:
  description:
    - Every rule that names a syscall the host's table for its arch lacks, or an arch the kernel has no
      ABI for (O(missing_syscall=skip)), with what became of it.
  returned: always
  type: list
  elements: dict
  sample:
    - rule: -a always,exit -F arch=b64 -S open,truncate,ftruncate,creat,openat -F exit=-EACCES -F key=access
      position: 12
      arch: b64
      table: aarch64
      missing_syscalls: [open, creat]
      no_abi: false
      kept: -a always,exit -F arch=b64 -S truncate,ftruncate,openat -F exit=-EACCES -F key=access
      reason: "syscalls open, creat are not in the syscall table of arch b64 (aarch64); kept as '...'"
  contains:
    rule:
      description: The rule as given.
      type: str
    position:
      description: Its position in O(rules) (1-based).
      type: int
    arch:
      description: The arch of the rule (V(b64), V(b32); V(null) when the rule names none).
      type: str
    table:
      description: The ausyscall table of that arch on this host (V(x86_64), V(i386), V(aarch64), V(arm), ...), V(null) when there is none.
      type: str
    missing_syscalls:
      description: The syscall names the table lacks.
      type: list
      elements: str
    no_abi:
      description: True when the kernel has no ABI for the arch (C(-F arch=b32) without 32-bit support).
      type: bool
    kept:
      description: The rule as applied, without the missing syscalls; V(null) when the rule is left out.
      type: str
    reason:
      description: What was missing and what became of the rule, as in the warning.
      type: str
warnings_boot:
  description: Problems in the other rules files of the directory that would bite at boot (from the augenrules merge view).
  returned: always
  type: list
  elements: dict
"""

import os
import select

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.audit.plugins.module_utils._errors import Failure
from ansible_collections.immutable.audit.plugins.module_utils import _files, _kernel_owner, _rules
from ansible_collections.immutable.audit.plugins.module_utils._auditctl import (
    AuditError, Auditctl,
)

HEADER = (
    "Managed by immutable.audit.audit_rules: edits here are overwritten.",
    "One rule per line in the form auditctl -l prints.",
)


def _fit_syscalls(module, target):
    """The desired lines fitted to the target's syscall tables (missing_syscall)."""
    params = module.params
    lines, gaps = _rules.drop_absent_syscalls(params["rules"], target)
    if gaps and params["missing_syscall"] == "fail":
        raise Failure("%d rule%s name%s what this host's kernel does not have: %s. Nothing was "
                      "changed; use missing_syscall: skip to drop such syscalls per rule"
                      % (len(gaps), "s" if len(gaps) > 1 else "", "" if len(gaps) > 1 else "s",
                         "; ".join("rule %d '%s': %s" % (g.lineno, g.text, g.describe(target))
                                   for g in gaps)),
                      rule=gaps[0].text, position=gaps[0].lineno,
                      dropped_syscalls=[g.as_dict(target) for g in gaps])
    return lines, gaps


def _desired(module, target):
    params = module.params
    lines, gaps = _fit_syscalls(module, target)
    rules = _rules.parse_rules(lines, target)
    skipped = []
    for gap in gaps:
        module.warn("rule %d '%s': %s" % (gap.lineno, gap.text, gap.describe(target)))
        if gap.kept is None:
            skipped.append({"rule": gap.text, "missing_syscalls": list(gap.missing),
                            "arch": gap.arch, "reason": gap.describe(target)})
    kept = []
    for rule in rules:
        missing = _rules.missing_path(rule, target)
        if missing is None:
            kept.append(rule)
        elif params["missing_path"] == "skip":
            skipped.append({"rule": rule.text, "missing": missing})
            module.warn("skipped rule %d '%s': directory %s does not exist on this host"
                        % (rule.lineno, rule.text, missing))
        else:
            raise _rules.RuleError(
                "directory %s does not exist on this host, so the kernel would refuse the watch "
                "(use missing_path: skip to leave such rules out on hosts that lack the path)"
                % missing, rule.text, None, rule.lineno)
    return kept, skipped, [g.as_dict(target) for g in gaps]


def _boot_view(path, new_text, target):
    """The augenrules merge of the rules directory with our file as planned."""
    files = [(p, t) for p, t in _files.read_rules_d(os.path.dirname(path)) if p != path]
    if new_text is not None:
        files.append((path, new_text))
        files.sort(key=lambda f: _files.version_key(os.path.basename(f[0])))
    return _files.merge(files, target)


def _apply_live(ctl, target, desired, managed, planned, stop=None):
    """Run the plan; on a batch failure, finish change by change for a precise error."""
    try:
        ctl.change_many(planned.arg_lists(), stop=stop)
    except AuditError as exc:
        if exc.cmd is None:
            raise  # stopped on purpose, not refused
        again = _rules.plan(desired, ctl.rules(target), target, managed)
        for args in again.arg_lists():
            ctl.change(args)


def run(module, ctl):
    params = module.params
    # Before any auditctl command: is the kernel the target's?
    live = _kernel_owner.resolve(module, "change the audit rules")
    path = params["path"]
    present = params["state"] == "present"
    target = ctl.target()
    desired, skipped, dropped = _desired(module, target) if present else ([], [], [])
    old_text = _files.read_text(path)
    new_text = _rules.render_file(desired, HEADER) if present else None
    # The rules this task managed before: what its file held.
    if old_text == new_text:
        old_rules = desired
    else:
        old_rules = _rules.parse_text(old_text, target, path, strict=False).rules if old_text else []

    merged = _boot_view(path, new_text, target)
    # Problems in our file, or caused by it (a duplicate in another file stops
    # the boot load just the same), fail the task; the rest are warnings.
    ours = [p for p in merged.problems
            if p["file"] == path or (p["kind"] == "duplicate" and path in p["message"])]
    if ours:
        raise Failure("the rules file %s would not load cleanly at boot: %s"
                      % (path, "; ".join("%s:%s: %s" % (p["file"], p["lineno"], p["message"])
                                         for p in ours)), problems=ours)
    others = [p for p in merged.problems if p not in ours]

    if params["exclusive"]:
        desired_plan, managed = merged.rules, None
    else:
        desired_plan = desired
        managed = set(r.line for r in old_rules)
        if not present:
            managed.update(r.line for r in _rules.parse_rules(
                _rules.drop_absent_syscalls(params["rules"], target)[0], target))

    status = ctl.status() if live.act else {}
    locked = status.get("enabled") == 2
    live_before = ctl.rules(target) if live.act else []
    planned = _rules.plan(desired_plan, live_before, target, managed)
    wanted_order = [r.line for r in _rules.effective_order(desired_plan)]
    drift = _rules.drift(desired_plan, live_before, target, managed)
    predicted = _rules.simulate(live_before, planned)

    file_changed = old_text != new_text
    live_changes = bool(planned) and live.act
    result = dict(
        changed=file_changed or (live_changes and not locked),
        path=path,
        rules=wanted_order if params["exclusive"] else [r.line for r in _rules.effective_order(desired)],
        added=[], removed=[], moved=[],
        live_drift=drift, locked=locked, reboot_required=False,
        pending={"add": [], "remove": []},
        file_changed=file_changed, skipped_rules=skipped, dropped_syscalls=dropped,
        warnings_boot=others,
        live_skipped=live.skipped,
    )
    if locked and live_changes:
        result["reboot_required"] = True
        result["pending"] = {"add": [r.line for r in planned.added],
                             "remove": [r.line for r in planned.removed]}
    elif live_changes:
        result["added"] = [r.line for r in planned.added]
        result["removed"] = [r.line for r in planned.removed]
        result["moved"] = [r.line for r in planned.move]
    if module._diff:
        listing_before = "\n".join(r.line for r in live_before)
        result["diff"] = [
            {"before_header": path, "after_header": path,
             "before": old_text or "", "after": new_text or ""},
            {"before_header": "kernel (auditctl -l)", "after_header": "kernel (auditctl -l)",
             "before": listing_before + "\n" if listing_before else "",
             "after": ("\n".join(predicted) + "\n" if predicted else "")
             if not locked else (listing_before + "\n" if listing_before else "")},
        ]

    if not module.check_mode:
        _converge(module, ctl, target, result, dict(
            path=path, present=present, new_text=new_text, file_changed=file_changed,
            live=live_changes and not locked, desired=desired_plan, managed=managed,
            planned=planned, live_before=live_before, predicted=predicted))
    return result


def _listed(ctl):
    return [line for line in ctl.listing().splitlines() if line and line != "No rules"]


def _converge(module, ctl, target, result, job):
    """Kernel and file change together, or the task says exactly how they differ.

    The new file is staged first (complete and fsynced in its directory), so
    a full or read-only disk fails the task before the kernel is touched;
    then the kernel is changed and verified; then the file is put in place.
    Anything that fails after the first live change puts the kernel back as
    the task found it (the same no-gap planner, in reverse)."""
    path, present = job["path"], job["present"]
    staged = None
    if job["file_changed"] and present:
        try:
            staged = _files.stage(path, job["new_text"], mode=int(str(module.params["mode"]), 8))
        except _files.FileError as exc:
            raise Failure("%s; nothing was changed (the kernel was not touched)" % exc, path=path)
    parent = os.getppid()
    try:
        if job["live"]:
            _apply_live(ctl, target, job["desired"], job["managed"], job["planned"],
                        stop=lambda: _orphaned(parent))
            # Listed lines are canonical already: compare them as text.
            after = _listed(ctl)
            if after != job["predicted"]:
                raise _Mismatch("the kernel listing after applying is not the planned one (a change was "
                                "refused without an error)", expected=job["predicted"], actual=after)
        if staged is not None:
            staged.commit()
        elif job["file_changed"]:
            _files.remove(path)
    except (AuditError, _files.FileError, _Mismatch) as exc:
        if staged is not None:
            staged.discard()
        if not job["live"]:
            raise Failure("%s; the kernel was not touched" % exc, path=path)
        raise _restored(ctl, target, job, exc)


class _Mismatch(Failure):
    pass


def _orphaned(parent, fd=1):
    """Why to stop between batches: nobody will see the result. Either the
    process that started the module is gone, or the module's output pipe has
    no reader any more (a killed controller closes the SSH channel; sshd sends
    no signal to a session without a terminal, so the module would go on)."""
    if os.getppid() != parent:
        return "the process that ran this module (pid %d) is gone, so nobody would see the result" % parent
    if _output_closed(fd):
        return "the controller's connection is closed (nobody reads this module's output)"
    return None


def _output_closed(fd):
    """True when ``fd`` is a pipe or socket whose other end is closed."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLERR | select.POLLHUP)
        return any(events & (select.POLLERR | select.POLLHUP) for _fd, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _restored(ctl, target, job, cause):
    """The Failure for ``cause`` after putting the kernel back as found."""
    before = job["live_before"]
    wanted = [r.line for r in before]
    details = dict(cause.details()) if isinstance(cause, AuditError) else dict(getattr(cause, "details", {}))
    try:
        back = _rules.plan(before, ctl.rules(target), target, None)
        _apply_live(ctl, target, before, None, back)
        now = _listed(ctl)
        problem = None if now == wanted else "the listing is not the one found"
    except AuditError as exc:
        problem = str(exc)
        try:
            now = _listed(ctl)
        except AuditError:
            now = None
    file_state = ("the rules file %s is unchanged" % job["path"]) if job["file_changed"] else \
        "the rules file %s was already as wanted" % job["path"]
    if problem is None:
        return Failure("%s. The kernel was put back to the %d rules it held before the task and %s: nothing is "
                       "left changed, though the kernel's rules changed while the task ran."
                       % (cause, len(wanted), file_state), changed=True, live_restored=True,
                       live_rules=now, **details)
    return Failure("%s. Putting the kernel back failed too (%s): the kernel now holds 'live_rules', which "
                   "differs from what the task found ('live_rules_before') and %s ('file_rules' lists what "
                   "loads at boot). Fix the cause and run the task again." % (cause, problem, file_state),
                   changed=True, live_restored=False, live_rules=now, live_rules_before=wanted,
                   file_rules=_file_rules(job["path"], target), **details)


def _file_rules(path, target):
    try:
        text = _files.read_text(path)
    except _files.FileError:
        return None
    return [r.line for r in _rules.parse_text(text, target, path, strict=False).rules] if text else []


def main():
    module = AnsibleModule(
        argument_spec=dict(
            rules=dict(type="list", elements="str", default=[]),
            path=dict(type="path", default="/etc/audit/rules.d/50-immutable.rules"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            exclusive=dict(type="bool", default=False),
            missing_path=dict(type="str", choices=["fail", "skip"], default="fail"),
            missing_syscall=dict(type="str", choices=["fail", "skip"], default="skip"),
            mode=dict(type="raw", default="0640"),
            **_kernel_owner.LIVE_ARGUMENT_SPEC
        ),
        supports_check_mode=True,
    )
    ctl = Auditctl(module.run_command,
                   auditctl=module.get_bin_path("auditctl", required=True),
                   ausyscall=module.get_bin_path("ausyscall", required=True))
    try:
        result = run(module, ctl)
    except _rules.RuleError as exc:
        module.fail_json(msg="invalid rule: %s; nothing was changed" % exc,
                         rule=exc.text, position=exc.lineno)
    except Failure as exc:
        module.fail_json(msg=str(exc), **exc.details)
    except (AuditError, _files.FileError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
