# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of every module that changes the running kernel or signals auditd."""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  live:
    description:
      - Whether to act on the running system (the kernel's audit state, the running auditd) as well as on
        the files.
      - V(auto) acts only when the kernel that C(auditctl) reaches is the target's own. In a chroot, a
        container or a build sandbox the kernel audit subsystem is the machine underneath's (it is not
        namespaced), so V(auto) writes the files only, warns, and returns the detected environment in
        RV(live_skipped).
      - V(true) acts, and fails with the detected environment named when the kernel is not the target's,
        unless O(allow_shared_kernel=true).
      - V(false) writes the files only, wherever the task runs (image builds).
      - The detection reads C(/proc) (namespaces, the roots of PID 1 and PID 2, container markers); see
        the collection's docs/whose-kernel.md.
    type: raw
    default: auto
notes:
  - The decision whether the running kernel is the target's is made before anything runs. With O(live=auto)
    in a chroot or container no C(auditctl) command and no signal reaches the machine underneath.
"""

    # For modules whose live switch has another name (auditd_config's reload).
    SHARED_KERNEL = r"""
options:
  allow_shared_kernel:
    description:
      - With an explicit V(true) for the live switch, act on the kernel and auditd even where the detection says
        they belong to the machine underneath (a chroot or container). Never needed on a real host.
      - Only for the rare case of a deliberate change to the outer machine from inside a chroot.
    type: bool
    default: false
"""
