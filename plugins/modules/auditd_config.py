#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: auditd_config
short_description: Set keys of auditd.conf, validated, and reload auditd with SIGHUP
version_added: 0.1.0
description:
  - Sets the given keys of C(/etc/audit/auditd.conf) and leaves the rest of the file as it is (comments,
    blank lines, order and every other key stay byte for byte). A line is rewritten only if its value
    must change; keys the file lacks are appended at the end.
  - Every key and value is checked against what auditd 3.0.9 accepts before anything is written. An
    unknown key fails with the list of valid keys; a bad value fails naming the key, the value and what
    is accepted. Values are compared as auditd reads them (keywords in any case, numbers without
    leading zeros), so C(rotate) and C(ROTATE) are the same value and cause no change.
  - The file is written atomically with mode C(0640), owner and group C(root) (auditd refuses a file
    that root does not own or that is world writable); a wrong mode or owner alone is fixed as well.
  - When the file changed and auditd runs, the module sends auditd C(SIGHUP), which is how auditd
    reloads its configuration (C(service auditd reload) does the same; RHEL units refuse C(systemctl
    restart auditd)). The module never restarts auditd. Keys a reload does not apply are returned in
    RV(restart_keys) with RV(restart_required=true) so that a handler can restart auditd.
author:
  - immutable.audit developers (@immutable)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - immutable.audit.live.shared_kernel
attributes:
  check_mode:
    support: full
    details:
      - Reports the same changes, keys and RV(reloaded) a real run would, and writes and signals nothing.
  diff_mode:
    support: full
    details:
      - The whole file before and after.
  platform:
    platforms: posix
    details:
      - Linux with the audit userspace 3.0.x. The file is edited on any POSIX host; the reload needs a
        running auditd.
options:
  settings:
    description:
      - The keys to set, one C(key=value) pair each. Keys are those of auditd.conf(5) for audit 3.0.x, for example
        C(max_log_file) (MB), C(max_log_file_action), C(num_logs) (0 to 999), C(space_left) (MB or a
        percentage such as C(25%)), C(space_left_action), C(admin_space_left), C(admin_space_left_action),
        C(disk_full_action), C(disk_error_action), C(action_mail_acct), C(flush), C(freq), C(log_format),
        C(log_group), C(q_depth), C(overflow_action), C(end_of_event_timeout).
      - Yes/no keys take C(true)/C(false) or C(yes)/C(no). The C(*_action) keys that run a script take
        C(exec /absolute/path).
      - The deprecated keys C(dispatcher) and C(disp_qos) are refused (auditd 3.0 ignores them).
      - An empty dict changes nothing but the file's mode and owner.
    type: dict
    required: true
  path:
    description:
      - The auditd configuration file. It is created if missing (its directory must exist).
    type: path
    default: /etc/audit/auditd.conf
  reload:
    description:
      - Send auditd C(SIGHUP) when the file changed and auditd runs.
      - V(auto) does so only when the running system is the target's own. In a chroot, a container or a
        build sandbox the kernel's audit daemon (the pid C(auditctl -s) reports) belongs to the machine
        underneath, so V(auto) edits the file only, warns, and returns the environment in RV(live_skipped);
        no C(auditctl) command runs and no process is looked up or signalled.
      - V(true) reloads, and fails naming the detected environment where the system is not the target's,
        unless O(allow_shared_kernel=true).
      - V(false) edits the file only, wherever the task runs (image builds).
    type: raw
    default: auto
notes:
  - auditd is found through the pid C(auditctl -s) reports (when C(auditctl) is installed) or
    C(/var/run/auditd.pid), and the process must be named C(auditd).
  - "What a SIGHUP does not apply in auditd 3.0.9 (so a restart is needed): C(local_events), C(tcp_listen_port),
    C(tcp_listen_queue), C(transport), C(enable_krb5), C(krb5_principal), C(krb5_key_file),
    C(end_of_event_timeout), and a smaller C(q_depth) (a reload only grows the queue). Every other key
    is applied by the reload."
  - The module does not check that the C(log_group), the C(exec) scripts or the C(plugin_dir) exist;
    auditd checks those when it loads the file.
seealso:
  - module: immutable.audit.audit_info
  - module: immutable.audit.chattr
"""

EXAMPLES = r"""
- name: Keep every log and warn before the disk fills (CIS)
  immutable.audit.auditd_config:
    settings:
      max_log_file: 32
      max_log_file_action: keep_logs
      space_left: 25%
      space_left_action: email
      action_mail_acct: root
      admin_space_left: 5%
      admin_space_left_action: single
      disk_full_action: halt
      disk_error_action: halt
  register: auditd_conf
  notify: Restart auditd

- name: Run a script when space runs low
  immutable.audit.auditd_config:
    settings:
      space_left_action: exec /usr/local/sbin/audit-archive

- name: Edit the file of an image being built, without signalling anything
  immutable.audit.auditd_config:
    path: /mnt/image/etc/audit/auditd.conf
    settings:
      log_format: enriched
      write_logs: true
    reload: false
"""

RETURN = r"""
changed_keys:
  description: Keys whose line was rewritten or appended (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [max_log_file_action, space_left_action]
added_keys:
  description: The keys of RV(changed_keys) that the file did not have and that were appended.
  returned: always
  type: list
  elements: str
file_changed:
  description: Whether the file was (or would be) written, for its content or its mode and owner.
  returned: always
  type: bool
running:
  description: Whether auditd runs on the host.
  returned: always
  type: bool
live_skipped:
  description:
    - The environment detected (V(chroot), V(container), V(sandbox), V(no-proc), V(unknown)) when
      O(reload=auto) left the running auditd alone because the system is not the target's; V(null) otherwise.
  returned: always
  type: str
  sample: chroot
reloaded:
  description: Whether auditd was sent C(SIGHUP) (or would be, in check mode).
  returned: always
  type: bool
restart_required:
  description: True when auditd runs and a changed key needs a restart to take effect (see RV(restart_keys)).
  returned: always
  type: bool
restart_keys:
  description: The changed keys that a reload does not apply.
  returned: always
  type: list
  elements: str
  sample: [tcp_listen_port]
settings:
  description: Every key of the file after the task, as written (a repeated key gives its last value, as in auditd).
  returned: always
  type: dict
  sample: {log_file: /var/log/audit/audit.log, max_log_file_action: KEEP_LOGS}
path:
  description: The configuration file.
  returned: always
  type: str
"""

import os
import signal

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.immutable.audit.plugins.module_utils._errors import Failure
from ansible_collections.immutable.audit.plugins.module_utils import _auditd_conf as _conf
from ansible_collections.immutable.audit.plugins.module_utils import _files, _kernel_owner
from ansible_collections.immutable.audit.plugins.module_utils._auditctl import AuditError, Auditctl

MODE = 0o640


class Daemon(object):
    """The running auditd: found by pid, reloaded by SIGHUP. The one place
    this module looks at or signals a process (tests replace it)."""

    pid_file = "/var/run/auditd.pid"
    proc = "/proc"

    def __init__(self, module):
        self.module = module

    def pid(self):
        """auditd's pid, or None when it does not run."""
        candidates = []
        auditctl = self.module.get_bin_path("auditctl")
        if auditctl:
            try:
                candidates.append(Auditctl(self.module.run_command, auditctl=auditctl).status().get("pid"))
            except AuditError:
                pass
        text = _files.read_text(self.pid_file)
        if text and text.strip().isdigit():
            candidates.append(int(text.strip()))
        for pid in candidates:
            if pid and self._comm(pid) == "auditd":
                return pid
        return None

    def _comm(self, pid):
        try:
            text = _files.read_text(os.path.join(self.proc, str(pid), "comm"))
        except _files.FileError:
            return None
        return text.strip() if text else None

    def reload(self, pid):
        os.kill(pid, signal.SIGHUP)


def run(module, daemon):
    params = module.params
    # Before auditctl -s or any signal: is the running auditd the target's?
    live = _kernel_owner.resolve(module, "reload the audit daemon", option="reload")
    path = params["path"]
    wanted = _conf.validate(params["settings"])
    old_text = _files.read_text(path)
    lines = _conf.parse(old_text or "", path)
    for key in _conf.unknown_keys(lines):
        module.warn("%s has the key %r, which auditd 3.0 does not know: auditd refuses to load the file"
                    % (path, key))
    planned = _conf.edit(lines, wanted)
    before = _conf.lower_keys(_conf.settings(lines))
    after = _conf.settings(_conf.parse(planned.text, path))
    _conf.check_consistency(_conf.lower_keys(after), set(planned.changed_keys))

    if old_text is None:
        file_changed = bool(planned.text)
    else:
        file_changed = _files.needs_write(path, planned.text, MODE, 0, 0)
    pid = daemon.pid() if live.act else None
    reload = bool(live.act and file_changed and pid)
    restart = _conf.restart_keys(before, wanted, planned.changed_keys)
    result = dict(
        changed=file_changed, path=path,
        changed_keys=planned.changed_keys, added_keys=planned.added_keys,
        file_changed=file_changed, running=pid is not None, reloaded=reload,
        restart_required=bool(restart and pid), restart_keys=restart, settings=after,
        live_skipped=live.skipped,
    )
    if module._diff:
        result["diff"] = dict(before_header=path, after_header=path,
                              before=old_text or "", after=planned.text)

    if not module.check_mode:
        if file_changed:
            _files.atomic_write(path, planned.text, mode=MODE, uid=0, gid=0)
        if reload:
            try:
                daemon.reload(pid)
            except OSError as exc:
                raise Failure("%s was written, but auditd (pid %d) could not be sent SIGHUP: %s; "
                              "reload it with 'service auditd reload'" % (path, pid, exc.strerror))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            settings=dict(type="dict", required=True),
            path=dict(type="path", default="/etc/audit/auditd.conf"),
            reload=dict(type="raw", default="auto"),
            allow_shared_kernel=_kernel_owner.LIVE_ARGUMENT_SPEC["allow_shared_kernel"],
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module, Daemon(module))
    except _conf.AuditdConfError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    except (Failure, _files.FileError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
