# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: drift_report
type: aggregate
short_description: Fleet drift report (JSON, JUnit XML, HTML) from a check-mode run
description:
  - Collects the result of every task on every host of any playbook and, when the run ends, writes three
    files into O(output_dir).
  - C(drift.json) holds every host, its status and its findings (the schema is in docs/drift-report.md).
  - C(drift.xml) is JUnit XML with one test case per host and category, so a CI system shows drift as test
    failures.
  - C(drift.html) is one self-contained page for people (no external resources, readable without JavaScript).
  - A finding is something a task found different from what it declares. The results of this collection's
    modules are read field by field (C(live_drift) of M(immutable.audit.audit_rules), C(drift) of
    M(immutable.audit.audit_info), status and lock of M(immutable.audit.audit_control), changed keys of
    M(immutable.audit.auditd_config), pending parameters of M(immutable.audit.boot_params), flags of
    M(immutable.audit.chattr)); M(ansible.builtin.file), M(ansible.builtin.copy) and M(ansible.builtin.template)
    report mode and owner as C(permissions); any other task that reports a change in check mode is a finding
    of category C(other), with its diff when run with C(--diff).
  - Run the playbook with C(--check --diff). A change a task reports outside check mode was made, not found,
    and is no finding (except what the module says the running system still lacks, such as a pending reboot).
  - A host is C(compliant) when none of its tasks found anything and none failed; a host where a task failed
    (and no rescue or C(ignore_errors) took over) is C(failed), a host that could not be reached is
    C(unreachable); neither is ever compliant. A failure the play went past is a finding.
  - Tag a task V(control:<id>) or give it the task variable C(drift_controls) (a list) to attach control ids
    (for example CIS V(6.2.3.1)) to its findings.
  - Enable it in C(ansible.cfg) with C(callbacks_enabled = immutable.audit.drift_report) or with
    E(ANSIBLE_CALLBACKS_ENABLED=immutable.audit.drift_report).
version_added: 1.0.0
author:
  - immutable.audit developers (@immutable)
requirements:
  - enable in configuration (C(callbacks_enabled))
options:
  output_dir:
    description:
      - Directory the report files are written to; created if missing. Each file is replaced atomically.
      - A relative path is relative to the working directory of C(ansible-playbook) (in C(ansible.cfg), to
        the directory of that file).
    type: path
    default: ./drift-report
    env:
      - name: IMMUTABLE_AUDIT_DRIFT_DIR
    ini:
      - section: callback_drift_report
        key: output_dir
  fail_on_drift:
    description:
      - Make C(ansible-playbook) exit with status 2 when any host is not compliant, for CI gates.
      - Ansible computes its exit status from failed and unreachable hosts only and ignores exceptions raised
        by callbacks (it shows them as warnings). With this option the callback, after writing the report at
        the end of the last playbook, ends the process with C(SystemExit(2)), which Ansible does not catch.
      - When a host failed or was unreachable, Ansible exits non-zero by itself (2 or 4) and keeps its own
        status.
      - Callbacks listed after this one in C(callbacks_enabled) do not receive the final statistics when the
        run is failed this way; list this callback last.
    type: bool
    default: false
    env:
      - name: IMMUTABLE_AUDIT_DRIFT_FAIL
    ini:
      - section: callback_drift_report
        key: fail_on_drift
notes:
  - The report covers every host the run touched; with several playbooks on one command line it is rewritten
    after each playbook and holds all of them.
  - Findings come from the results as Ansible passes them to callbacks; a task with C(no_log) hides its result
    and yields a finding without detail.
  - Usage, the category of each module's result fields and the drift.json schema field by field are in
    C(docs/drift-report.md) of this collection.
"""

import datetime
import os
import tempfile

from ansible import constants as C
from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.immutable.audit.plugins.plugin_utils import _drift

EXIT_DRIFT = 2  # ansible-playbook's own status for "one or more hosts failed"


class CallbackModule(CallbackBase):
    """Collects task results per host; renders and writes the report at the end (see _drift)."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "immutable.audit.drift_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self._hosts = {}
        self._playbooks = []
        self.written = None

    # --- collection

    def _host(self, name):
        return self._hosts.setdefault(name, {"findings": [], "ignored": [], "errors": [], "unreachable": [],
                                             "tasks": 0})

    @staticmethod
    def _task_info(result):
        task = result._task
        fields = getattr(result, "_task_fields", None) or {}
        check_mode = fields.get("check_mode")
        if check_mode is None:
            check_mode = getattr(task, "check_mode", None)
        if check_mode is None:
            check_mode = bool(context.CLIARGS.get("check", False))
        module = getattr(task, "resolved_action", None) or getattr(task, "action", "") or ""
        name = task.get_name() if hasattr(task, "get_name") else str(task)
        try:
            task_vars = task.get_vars()
        except Exception:  # pylint: disable=broad-except
            task_vars = getattr(task, "vars", None) or {}
        controls = _drift.controls_of(task_vars, getattr(task, "tags", None) or ())
        return name, module, bool(check_mode), controls

    def _record(self, result):
        host = self._host(result._host.get_name())
        host["tasks"] += 1
        return host

    def v2_playbook_on_start(self, playbook):
        self._playbooks.append(getattr(playbook, "_file_name", None) or str(playbook))

    def v2_runner_on_ok(self, result):
        host = self._record(result)
        name, module, check_mode, controls = self._task_info(result)
        host["findings"].extend(_drift.task_findings(name, module, result._result, check_mode, controls))

    def v2_runner_on_failed(self, result, ignore_errors=False):
        host = self._record(result)
        name, module, check_mode, controls = self._task_info(result)
        # Items of a loop that succeeded still tell what they found.
        host["findings"].extend(_drift.task_findings(name, module, result._result, check_mode, controls))
        if ignore_errors:
            host["findings"].append(_drift.failure_finding(name, module, result._result, "errors ignored", controls))
        else:
            host["errors"].append((name, module, result._result, controls))

    def v2_runner_on_unreachable(self, result):
        host = self._record(result)
        name, module, _check, controls = self._task_info(result)
        host["unreachable"].append((name, module, result._result, controls))

    # --- report

    def build(self, stats=None):
        """The drift.json document from what was collected and the final statistics."""
        names = set(self._hosts)
        if stats is not None:
            names.update(getattr(stats, "processed", {}) or {})
        hosts = {}
        for name in names:
            seen = self._host(name)
            counts = stats.summarize(name) if stats is not None else {}
            if stats is not None:
                unreachable = counts.get("unreachable", 0) > 0
                failed = counts.get("failures", 0) > 0
            else:
                unreachable, failed = bool(seen["unreachable"]), bool(seen["errors"])
            findings = list(seen["findings"])
            errors = []
            for kind, records in (("unreachable", seen["unreachable"]), ("failed", seen["errors"])):
                for task, module, res, controls in records:
                    if unreachable or failed:
                        errors.append("%s: %s: %s" % (task, kind, _drift.result_message(res)))
                    else:  # the play went on: a rescue ran, or ignore_unreachable
                        findings.append(_drift.failure_finding(
                            task, module, res, "rescued" if kind == "failed" else "unreachable, ignored",
                            controls))
            hosts[name] = _drift.host_entry(findings, errors, unreachable, failed, seen["tasks"])
        generated = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
        return _drift.report(hosts, generated, self._playbooks, bool(context.CLIARGS.get("check", False)))

    def write(self, doc):
        directory = os.path.abspath(self.get_option("output_dir"))
        os.makedirs(directory, exist_ok=True)
        for name, text in (("drift.json", _drift.to_json(doc)), ("drift.xml", _drift.to_junit(doc)),
                           ("drift.html", _drift.to_html(doc))):
            _atomic_write(os.path.join(directory, name), text)
        self.written = directory
        return directory

    def v2_playbook_on_stats(self, stats):
        doc = self.build(stats)
        directory = self.write(doc)
        line = "%s -> %s" % (_drift.summary_line(doc), os.path.join(directory, "drift.html"))
        self._display.display(line, color=C.COLOR_OK if doc["summary"]["ok"] else C.COLOR_WARN)
        if not self.get_option("fail_on_drift") or doc["summary"]["ok"] or not self._last_playbook():
            return
        hosts = doc["hosts"]
        if any(h["status"] in (_drift.FAILED, _drift.UNREACHABLE) for h in hosts.values()):
            return  # ansible-playbook exits non-zero by itself
        drifted = sorted(h for h in hosts if hosts[h]["status"] == _drift.DRIFTED)
        self._display.error("drift_report: %d host%s drifted (%s); failing the run (fail_on_drift)"
                            % (len(drifted), "" if len(drifted) == 1 else "s", ", ".join(drifted)),
                            wrap_text=False)
        # The task queue manager catches Exception from callbacks and only warns; SystemExit passes through
        # it and through ansible-playbook's CLI handler, after the executor's cleanup (a finally block).
        raise SystemExit(EXIT_DRIFT)

    def _last_playbook(self):
        given = context.CLIARGS.get("args") or ()
        return not given or len(self._playbooks) >= len(given)


def _atomic_write(path, text):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
