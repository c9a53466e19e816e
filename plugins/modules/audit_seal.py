#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_seal
short_description: Seal finished audit logs (immutable files, hash-chained manifest) and verify the seal
version_added: 0.1.0
description:
  - With O(state=sealed), rotates auditd (E(SIGUSR1)) when asked to, moves every rotated log
    (C(audit.log.1) and up) out of auditd's rotation chain into O(sealed_dir) under a name that carries the
    time range and kernel serials of its events (C(audit-<first epoch>-<last epoch>-<first serial>-<last
    serial>.log)), appends its size and sha256 to a hash-chained manifest, and makes the file immutable
    (V(i)). O(sealed_dir) and the manifest are kept append-only (V(a)).
  - Flags never go on the live log, the log directory or a file still in the rotation chain, where they
    stop auditd's logging.
  - Every step can be interrupted; the next run completes or repairs an interrupted seal from the state it
    finds and never loses or seals a log twice. The states are described in C(docs/sealing.md) of the
    collection and in the C(_seal) module_utils.
  - With O(state=verified), reads only. Recomputes the manifest's hash chain, checks each sealed file's
    presence, size, sha256 and V(i) flag, the V(a) flag of the directory and the manifest, the kernel serials
    between consecutive logs, and that the chain extends O(expected_head). Fails when a finding has severity
    V(error).
author:
  - immutable.audit developers (@immutable)
options:
  state:
    description:
      - V(sealed) seals what auditd has rotated (and prunes with O(prune)); V(verified) checks the seal and
        changes nothing.
    type: str
    choices: [sealed, verified]
    default: sealed
  log_file:
    description:
      - auditd's live log. Default C(log_file) of O(auditd_conf), else C(/var/log/audit/audit.log).
    type: path
  auditd_conf:
    description:
      - auditd.conf that names C(log_file) and C(num_logs). If it does not exist auditd's defaults apply.
    type: path
    default: /etc/audit/auditd.conf
  sealed_dir:
    description:
      - Where sealed logs go. It must not be the log directory or contain it; a subdirectory of the log
        directory is fine, auditd only renames C(audit.log) and C(audit.log.<N>).
      - Created (mode 0700) if missing. Keeps a C(.staging) subdirectory (no flags) for logs in transit.
      - It must survive a reboot and hold inode flags. With O(state=sealed) (check mode too) the module fails,
        changing nothing, when O(sealed_dir) or, if it does not exist yet, its nearest existing parent is on
        a volatile filesystem (C(tmpfs), C(ramfs), C(devtmpfs), or an overlay whose upper layer is on one of
        them) unless O(allow_volatile=true), or on a filesystem where E(FS_IOC_GETFLAGS) is not supported
        (C(nfs), C(vfat), C(/proc), C(/sys)). The message names the directory, the filesystem type and the
        mount point. See RV(storage).
    type: path
    default: /var/log/audit/sealed
  allow_volatile:
    description:
      - Seal into a O(sealed_dir) on a volatile filesystem (C(tmpfs), C(ramfs), C(devtmpfs), an overlay over
        one), whose sealed logs are gone at the next reboot, with a warning and a V(volatile_storage) entry
        in RV(findings) instead of failing. For tests, or a directory that is copied elsewhere before a reboot.
      - A filesystem that cannot hold inode flags is refused all the same.
    type: bool
    default: false
  manifest:
    description:
      - The hash-chained manifest (JSON lines). Default C(MANIFEST.jsonl) in O(sealed_dir).
    type: path
  rotate:
    description:
      - V(auto) sends auditd E(SIGUSR1) only when the live log holds at least O(rotate_min_size) bytes, so
        that a second run right after the first has nothing to rotate or seal and reports unchanged.
      - V(always) rotates on every run (a timer that seals everything up to now); V(never) seals only what
        auditd rotated by itself.
      - Rotation needs C(num_logs) of 2 or more, otherwise auditd keeps no rotated file.
      - Rotating signals the running auditd, so it follows O(live). Where the system is not the target's
        (a chroot, a container) V(auto) and V(always) seal only what is already rotated.
    type: str
    choices: [auto, always, never]
    default: auto
  rotate_min_size:
    description:
      - Bytes the live log must hold for O(rotate=auto) to rotate.
    type: int
    default: 1048576
  rotate_timeout:
    description:
      - Seconds to wait for auditd to rename the live log to C(audit.log.1) after the signal.
    type: float
    default: 10
  lock_wait:
    description:
      - Seconds to wait when another seal holds the lock (the C(immutable.audit.seal) role's timers seal with
        the same lock), before failing with C(another seal is running).
    type: float
    default: 60
  expected_head:
    description:
      - With O(state=verified), the chain head recorded last time (RV(head)). The manifest must still hold a
        record with this hash, otherwise it was rewritten or cut short, even if it is consistent in itself.
    type: str
  expected_segments:
    description:
      - With O(state=verified) and O(expected_head), the names of the sealed logs the controller saw at that
        head (RV(sealed_logs) of that verification). When the head is not found, the finding names those that
        the manifest no longer holds as sealed or pruned, which is what a consistent rewrite took away.
    type: list
    elements: str
    default: []
  prune:
    description:
      - Names of sealed logs to remove, with O(state=sealed). A C(prune) record naming them and
        O(prune_reason) is appended to the manifest first, so verification still passes and the removal
        stays visible. Already pruned names are skipped; unknown names are an error.
      - The directory's V(a) flag is lifted only while the files are removed.
    type: list
    elements: str
    default: []
  prune_reason:
    description:
      - Why the logs in O(prune) are removed; stored in the prune record. Required with O(prune).
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - immutable.audit.live
  - immutable.audit.live.shared_kernel
attributes:
  check_mode:
    support: full
    details:
      - O(state=sealed) reports what would be rotated, sealed, repaired and flagged; auditd is not signalled.
  diff_mode:
    support: full
    details:
      - One line per log sealed (or that would be), per file flagged and per pruned log.
  platform:
    platforms: posix
    details:
      - Linux; the flags need a filesystem with V(a) and V(i) (ext4, xfs, btrfs). tmpfs has them but loses
        everything at a reboot, so it is refused unless O(allow_volatile=true).
notes:
  - Root can clear the flags. They stop accidents and unprivileged tampering; the manifest chain plus the head
    the controller keeps (O(expected_head)) is what detects a root that rewrites logs and manifest.
  - The on-host timer of the C(immutable.audit.seal) role runs the same code as a script; its
    C(--allow-volatile) is O(allow_volatile) (the role's C(seal_allow_volatile)).
  - The filesystem of O(sealed_dir) is the longest mount point of C(/proc/self/mountinfo) that is the directory
    (symlinks resolved) or one of its parents. On overlayfs V(a) and V(i) are enforced on the merged view only,
    so sealing there goes on with a V(weaker_protection) warning. An overlay whose upper layer is on C(tmpfs) in
    the same mount table (a live system, overlayroot) counts as volatile; an upper layer the table does not
    show (a container's root) is not judged. When the mount table cannot be read the volatility check is
    skipped with a V(storage_unknown) warning; the flags check still runs.
  - O(state=verified) only reads and does not check the filesystem.
seealso:
  - module: immutable.audit.chattr
"""

EXAMPLES = r"""
- name: Rotate if the log holds 1 MiB or more, seal everything rotated
  immutable.audit.audit_seal:
  register: seal

- name: Keep the chain head on the controller
  ansible.builtin.set_fact:
    seal_head: "{{ seal.head }}"

- name: Verify against the head recorded last time
  immutable.audit.audit_seal:
    state: verified
    expected_head: "{{ seal_head }}"

- name: Remove two old sealed logs, visibly
  immutable.audit.audit_seal:
    prune:
      - audit-1732450000-1732453600-4567-9999.log
      - audit-1732453600-1732460000-10000-15123.log
    prune_reason: retention 400 days (ticket SEC-42)
"""

RETURN = r"""
sealed:
  description: Logs sealed by this run (in check mode, empty; see RV(pending)).
  returned: always
  type: list
  elements: dict
  sample:
    - name: audit-1732450000-1732453600-4567-9999.log
      size: 8388608
      sha256: 5e9c...
      first: {time: "1732450000.123", serial: 4567}
      last: {time: "1732453600.991", serial: 9999}
pending:
  description: In check mode, the rotated and staged files a run would seal.
  returned: always
  type: list
  elements: str
repaired:
  description: Steps of interrupted earlier seals that this run completed.
  returned: always
  type: list
  elements: str
discarded:
  description: Empty rotated files removed instead of sealed.
  returned: always
  type: list
  elements: str
pruned:
  description: Logs removed by O(prune).
  returned: always
  type: list
  elements: str
flags_set:
  description: Paths that got V(a) (the directory, the manifest).
  returned: always
  type: list
  elements: str
live_skipped:
  description:
    - The environment detected (V(chroot), V(container), V(sandbox), V(no-proc), V(unknown)) when O(live=auto)
      did not signal auditd to rotate because the system is not the target's; V(null) otherwise.
  returned: always
  type: str
  sample: chroot
rotated:
  description: Whether auditd was (or, in check mode, would be) signalled to rotate.
  returned: always
  type: bool
head:
  description: Hash of the last manifest record (64 zeros when empty). Keep it to pass as O(expected_head).
  returned: always
  type: str
records:
  description: Number of manifest records.
  returned: always
  type: int
segments:
  description: Number of sealed logs the manifest says exist (O(state=verified)).
  returned: when state is verified
  type: int
sealed_logs:
  description:
    - The sealed logs the manifest says exist (sealed and not pruned), in chain order, each with C(name), C(size),
      C(sha256), C(first) and C(last) as recorded (O(state=verified)). This is what C(playbooks/seal_ship.yml)
      fetches.
  returned: when state is verified
  type: list
  elements: dict
pruned_logs:
  description: Names of sealed logs the manifest records as pruned (O(state=verified)).
  returned: when state is verified
  type: list
  elements: str
storage:
  description:
    - The filesystem of O(sealed_dir) (O(state=sealed)) - C(path), C(checked) (the directory looked at, symlinks
      resolved; its nearest existing parent when C(exists) is false), C(exists), C(mount_point), C(fstype),
      C(source), C(volatile), C(volatile_reason), C(flags) (whether E(FS_IOC_GETFLAGS) works there),
      C(flags_error), C(overlay_upper).
  returned: when state is sealed
  type: dict
  sample:
    path: /var/log/audit/sealed
    checked: /var/log/audit/sealed
    exists: true
    mount_point: /
    fstype: ext4
    source: /dev/vda1
    volatile: false
    volatile_reason: null
    flags: true
    flags_error: null
    overlay_upper: null
findings:
  description:
    - What verification found, each with C(kind) (missing, truncated, size_mismatch, digest_mismatch,
      flag_missing, chain_broken, head_not_found, serial_gap, unrecorded, pending, prune_unfinished, torn_tail,
      manifest_missing), C(severity) (error or warning), C(segment), C(record) (manifest line), C(message),
      and C(expected) and C(actual) (what the seal recorded and what is there now; null where the kind has none).
    - With O(state=sealed), warnings about O(sealed_dir) - V(volatile_storage) (allowed by O(allow_volatile)),
      V(weaker_protection) (overlayfs), V(storage_unknown) (the mount table cannot be read); each is also a
      warning of the task.
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.immutable.audit.plugins.module_utils import _kernel_owner, _seal
from ansible_collections.immutable.audit.plugins.module_utils._auditd_conf import AuditdConfError, read_settings
from ansible_collections.immutable.audit.plugins.module_utils._errors import Failure
from ansible_collections.immutable.audit.plugins.module_utils._flags import FlagsError

# Tests replace these two; nothing else here reaches auditd or the kernel.
SealIO = _seal.SealIO
signal_auditd = _seal.signal_auditd


def _diff(result):
    after = ["sealed %s %s\n" % (s["name"], s["sha256"]) for s in result["sealed"]]
    after += ["would seal %s\n" % p for p in result["pending"]]
    after += ["+a %s\n" % p for p in result["flags_set"]]
    after += ["pruned %s\n" % n for n in result["pruned"]]
    return dict(before="head %s (%d records)\n" % (result["head"], result["records"]), after="".join(after))


def run(module):
    params = module.params
    sealed_dir = params["sealed_dir"]
    manifest = params["manifest"] or os.path.join(sealed_dir, _seal.MANIFEST_NAME)
    io = SealIO()
    if params["state"] == "verified":
        result = _seal.verify(sealed_dir, manifest, params["expected_head"], io=io,
                              expected_segments=params["expected_segments"])
        result.update(changed=False, sealed=[], pending=[], repaired=[], discarded=[], pruned=[], flags_set=[],
                      rotated=False, live_skipped=None)
        return result
    if params["prune"] and not params["prune_reason"]:
        raise Failure("prune needs prune_reason: it is stored in the manifest beside the removed names")
    rotate, skipped = params["rotate"], None
    if rotate != "never":
        # Before any signal: is the running auditd the target's?
        decision = _kernel_owner.resolve(module, "signal the audit daemon to rotate its log")
        if not decision.act:
            rotate, skipped = "never", decision.skipped
    conf = read_settings(params["auditd_conf"])
    log_file = params["log_file"] or conf.get("log_file") or _seal.DEFAULT_LOG_FILE
    result = _seal.seal(sealed_dir, log_file, manifest, conf.get("num_logs"), rotate,
                        params["rotate_min_size"], params["prune"], params["prune_reason"], module.check_mode,
                        signal_fn=signal_auditd, io=io, timeout=params["rotate_timeout"],
                        lock_wait=params["lock_wait"], allow_volatile=params["allow_volatile"])
    for warning in result["findings"]:
        module.warn(warning["message"])
    result["live_skipped"] = skipped
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["sealed", "verified"], default="sealed"),
            log_file=dict(type="path"),
            auditd_conf=dict(type="path", default="/etc/audit/auditd.conf"),
            sealed_dir=dict(type="path", default=_seal.DEFAULT_SEALED_DIR),
            allow_volatile=dict(type="bool", default=False),
            manifest=dict(type="path"),
            rotate=dict(type="str", choices=["auto", "always", "never"], default="auto"),
            rotate_min_size=dict(type="int", default=_seal.DEFAULT_MIN_SIZE),
            rotate_timeout=dict(type="float", default=_seal.DEFAULT_TIMEOUT),
            lock_wait=dict(type="float", default=_seal.DEFAULT_LOCK_WAIT),
            expected_head=dict(type="str"),
            expected_segments=dict(type="list", elements="str", default=[]),
            prune=dict(type="list", elements="str", default=[]),
            prune_reason=dict(type="str"),
            **_kernel_owner.LIVE_ARGUMENT_SPEC
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (_seal.SealError, AuditdConfError, FlagsError, Failure) as exc:
        module.fail_json(msg=str(exc), **getattr(exc, "details", {}))
    if module._diff and module.params["state"] == "sealed":
        result["diff"] = _diff(result)
    if module.params["state"] == "verified" and not result["ok"]:
        errors = [f["message"] for f in result["findings"] if f["severity"] == "error"]
        module.fail_json(msg="the seal does not verify: %s" % "; ".join(errors), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
