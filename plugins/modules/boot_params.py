#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: boot_params
short_description: Ensure kernel command-line parameters (such as audit=1) for the next boot
version_added: 0.1.0
description:
  - Puts the given kernel parameters into C(GRUB_CMDLINE_LINUX) of C(/etc/default/grub), which every
    boot entry (including recovery entries and kernels installed later) gets. Other parameters,
    the quoting style and every other byte of the file are kept; a parameter that is already there
    with another value has that value replaced in place (the last occurrence, the one the kernel uses).
  - Then updates the boot loader so that the next boot uses them. With C(grubby) (RHEL family) every
    installed kernel entry is checked with C(grubby --info=ALL) and, only if one lacks a parameter,
    C(grubby --update-kernel=ALL --args=...) is run. Otherwise C(update-grub) (or C(grub-mkconfig -o
    <grub_cfg>)) is run when the file changed or when the generated O(grub_cfg) still lacks a
    parameter. A missing tool is reported with RV(bootloader_updated=false) and a warning.
  - Reads the running kernel's command line and returns RV(reboot_required=true) when it lacks a
    wanted value. The module never reboots.
author:
  - immutable.audit developers (@immutable)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads C(grubby --info=ALL) and the files, reports what would change, writes and runs nothing else.
  diff_mode:
    support: full
    details:
      - The O(grub_file) before and after, and the C(grubby) arguments that would be added.
  platform:
    platforms: posix
    details:
      - Linux with GRUB 2 (Debian, Ubuntu, RHEL family). Other boot loaders are not handled.
options:
  params:
    description:
      - The parameters, one C(name=value) pair each. A value of V(null) or an empty string makes a bare flag;
        V(true) and V(false) become C(1) and C(0).
      - Values with blanks, quotes or shell characters are refused.
    type: dict
    default: {audit: 1, audit_backlog_limit: 8192}
  bootloader:
    description:
      - How the boot loader is updated.
      - V(auto) uses C(grubby) when installed, otherwise C(update-grub) or C(grub-mkconfig). In a chroot, a
        container or a build sandbox (where the running kernel is not the target's) V(auto) only edits
        O(grub_file), warns, and returns the environment in RV(live_skipped); name the tool to run it there.
      - V(grub-mkconfig) skips C(grubby) and uses C(update-grub) (a wrapper of C(grub-mkconfig)) or
        C(grub-mkconfig -o) O(grub_cfg).
      - V(none) only edits O(grub_file) (image builds, chroots without a mounted C(/boot)).
    type: str
    choices: [auto, grubby, grub-mkconfig, none]
    default: auto
  grub_file:
    description: The GRUB defaults file that holds C(GRUB_CMDLINE_LINUX). It is not created when missing.
    type: path
    default: /etc/default/grub
  grub_cfg:
    description: The generated GRUB configuration that C(grub-mkconfig) writes and that the module reads to see whether it is up to date.
    type: path
    default: /boot/grub/grub.cfg
  proc_cmdline:
    description: Where the running kernel's command line is read.
    type: path
    default: /proc/cmdline
notes:
  - Drop-ins in C(/etc/default/grub.d/*.cfg) are read after O(grub_file); the module warns when one sets
    C(GRUB_CMDLINE_LINUX) without keeping the earlier value.
  - In a virtual machine booted with an external kernel (QEMU C(-kernel)), the command line comes from
    the hypervisor and the boot loader's configuration has no effect.
seealso:
  - module: immutable.audit.audit_control
"""

EXAMPLES = r"""
- name: Audit processes that start before auditd, with a backlog that survives boot
  immutable.audit.boot_params:
    params:
      audit: 1
      audit_backlog_limit: 8192
  register: boot

- name: Reboot when the running kernel lacks them
  ansible.builtin.reboot:
  when: boot.reboot_required

- name: Edit the file only, for an image build
  immutable.audit.boot_params:
    grub_file: /mnt/image/etc/default/grub
    bootloader: none
"""

RETURN = r"""
changed_params:
  description: Parameters written to O(grub_file) (or that would be).
  returned: always
  type: list
  elements: str
  sample: [audit_backlog_limit]
grub_file_changed:
  description: Whether O(grub_file) was (or would be) changed.
  returned: always
  type: bool
bootloader:
  description: The tool used to update the boot loader (C(grubby), C(update-grub), C(grub-mkconfig)), or C(none).
  returned: always
  type: str
bootloader_updated:
  description: Whether the boot loader was (or would be) updated by this task.
  returned: always
  type: bool
cmdline_linux:
  description: The value of C(GRUB_CMDLINE_LINUX) after the task (null when O(grub_file) does not exist).
  returned: always
  type: str
current:
  description: The wanted parameters as the running kernel has them (null for a missing one).
  returned: always
  type: dict
  sample: {audit: "1", audit_backlog_limit: null}
pending:
  description: The parameters whose value the next boot changes (the running kernel lacks or differs).
  returned: always
  type: dict
  sample: {audit_backlog_limit: "8192"}
reboot_required:
  description: True when the running kernel's command line lacks a wanted value.
  returned: always
  type: bool
live_skipped:
  description:
    - The environment detected (V(chroot), V(container), V(sandbox), V(no-proc), V(unknown)) when the running
      kernel is not the target's; then its command line is not compared (RV(current) all null, RV(pending)
      empty) and O(bootloader=auto) edits only O(grub_file). V(null) on the target itself.
  returned: always
  type: str
  sample: chroot
"""

import collections
import glob
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.audit.plugins.module_utils._errors import Failure
from ansible_collections.immutable.audit.plugins.module_utils import _boot
from ansible_collections.immutable.audit.plugins.module_utils import _files, _kernel_owner

C_ENV = {"LANG": "C", "LC_ALL": "C"}


def _run(module, args, check=True):
    rc, out, err = module.run_command(args, environ_update=C_ENV, expand_user_and_vars=False)
    if check and rc != 0:
        raise Failure("%s failed (rc=%s): %s" % (" ".join(args), rc, (err or out).strip()))
    return out


def _tool(module):
    """(name, argv prefix) of the boot loader tool, or (name, None) if missing."""
    choice = module.params["bootloader"]
    if choice == "none":
        return "none", None
    grubby = module.get_bin_path("grubby")
    if choice == "grubby" or (choice == "auto" and grubby):
        return "grubby", [grubby] if grubby else None
    update = module.get_bin_path("update-grub")
    if update:
        return "update-grub", [update]
    mkconfig = module.get_bin_path("grub-mkconfig")
    return "grub-mkconfig", [mkconfig, "-o", module.params["grub_cfg"]] if mkconfig else None


def _grub_cfg_stale(path, wanted):
    """True if the generated grub.cfg has a linux line lacking a wanted value;
    None if it cannot be read (then only a changed file triggers an update)."""
    try:
        text = _files.read_text(path)
    except _files.FileError:
        return None
    if text is None:
        return None
    return any(_boot.differing(args, wanted) for args in _boot.grub_cfg_args(text))


def run(module):
    params = module.params
    wanted = _boot.validate(params["params"])
    grub_file = params["grub_file"]

    old_text = _files.read_text(grub_file)
    if old_text is None:
        edit = _boot.GrubEdit(None, [], None, None)
        module.warn("%s does not exist: the parameters are not persisted there" % grub_file)
    else:
        edit = _boot.edit_default_grub(old_text, wanted)
    for dropin in sorted(glob.glob(os.path.join(os.path.dirname(grub_file), "grub.d", "*.cfg"))):
        if _boot.assigns_elsewhere(_files.read_text(dropin) or ""):
            module.warn("%s sets GRUB_CMDLINE_LINUX after %s and may drop the parameters"
                        % (dropin, grub_file))
    file_changed = bool(edit.changed)

    # The running kernel (its command line, its boot loader) is the target's
    # only on the target itself, not in a chroot or container on another machine.
    env = _kernel_owner.detect()
    skipped = None if env.own else env.kind
    if skipped and params["bootloader"] == "auto":
        module.warn("%s: the boot loader was not updated and the running kernel's command line (the machine "
                    "underneath's) was not compared; only %s was edited (name the bootloader to run it here)"
                    % (env.reason[0].upper() + env.reason[1:], grub_file))
        tool, argv = "none", None
    else:
        tool, argv = _tool(module)
    command = None
    grubby_before = grubby_after = ""
    if tool != "none" and argv is None:
        module.warn("%s is not installed: the boot loader was not updated; the next boot uses the "
                    "parameters only after it is" % tool)
    elif tool == "grubby":
        entries = _boot.grubby_entries(_run(module, argv + ["--info=ALL"]))
        lacking = collections.OrderedDict()
        for entry in entries:
            lacking.update(_boot.differing(entry["args"], wanted))
        if lacking:
            args = " ".join(_boot.render(name, value) for name, value in lacking.items())
            command = argv + ["--update-kernel=ALL", "--args=%s" % args]
            grubby_before = "".join("%s: %s\n" % (e["kernel"], " ".join(_boot.render(n, v) for n, v in e["args"]))
                                    for e in entries)
            grubby_after = "grubby --update-kernel=ALL --args=%s\n" % args
    elif tool != "none" and (file_changed or _grub_cfg_stale(params["grub_cfg"], wanted)):
        command = argv

    if skipped:
        running, pending = [], collections.OrderedDict()
    else:
        running = _boot.parse_cmdline(_files.read_text(params["proc_cmdline"]) or "")
        pending = _boot.differing(running, wanted)
    result = dict(
        changed=file_changed or command is not None,
        changed_params=edit.changed, grub_file_changed=file_changed,
        bootloader=tool, bootloader_updated=command is not None,
        cmdline_linux=edit.value_after, current=_boot.current_values(running, wanted),
        pending=dict(pending), reboot_required=bool(pending), live_skipped=skipped,
    )
    if module._diff:
        result["diff"] = [dict(before_header=grub_file, after_header=grub_file,
                               before=old_text or "", after=edit.text or "")]
        if grubby_after:
            result["diff"].append(dict(before_header="grubby --info=ALL", after_header="grubby",
                                       before=grubby_before, after=grubby_after))

    if not module.check_mode:
        if file_changed:
            mode = os.stat(grub_file).st_mode & 0o7777
            _files.atomic_write(grub_file, edit.text, mode=mode)
        if command:
            try:
                _run(module, command)
            except Failure as exc:
                raise Failure("%s%s" % (exc, "; %s was already written" % grub_file if file_changed else ""))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            params=dict(type="dict", default={"audit": 1, "audit_backlog_limit": 8192}),
            bootloader=dict(type="str", choices=["auto", "grubby", "grub-mkconfig", "none"], default="auto"),
            grub_file=dict(type="path", default="/etc/default/grub"),
            grub_cfg=dict(type="path", default="/boot/grub/grub.cfg"),
            proc_cmdline=dict(type="path", default="/proc/cmdline"),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except _boot.BootError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    except (Failure, _files.FileError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
