# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift findings from task results, and the drift report in JSON, JUnit XML and HTML.

Controller-side and pure: no Ansible objects, no I/O. The ``drift_report``
callback hands every task result here as plain data (task name, module name,
result dictionary, whether the task ran in check mode, its controls) and
writes the texts this module renders. See docs/drift-report.md.
"""

from __future__ import annotations

import difflib
import html
import json
import re
import shlex
import xml.etree.ElementTree as ET

SCHEMA_VERSION = 1

LIVE_RULES = "live rules"
PERSISTED_RULES = "persisted rules"
RULE_ORDER = "rule order"
LOCK = "lock"
STATUS_SETTINGS = "status settings"
AUDITD_CONF = "auditd.conf"
BOOT_PARAMETERS = "boot parameters"
PERMISSIONS = "permissions"
FLAGS = "flags"
SEALED_LOGS = "sealed logs"
OTHER = "other"

CATEGORIES = (LIVE_RULES, PERSISTED_RULES, RULE_ORDER, LOCK, STATUS_SETTINGS, AUDITD_CONF,
              BOOT_PARAMETERS, PERMISSIONS, FLAGS, SEALED_LOGS, OTHER)

COMPLIANT = "compliant"
DRIFTED = "drifted"
FAILED = "failed"
UNREACHABLE = "unreachable"
STATUSES = (COMPLIANT, DRIFTED, FAILED, UNREACHABLE)

JUNIT_SUITE = "immutable.audit.drift"
CONTROLS_VAR = "drift_controls"
CONTROL_TAG = "control:"

_OURS = ("", "immutable.audit.")
_BUILTIN = ("", "ansible.builtin.", "ansible.legacy.")
# auditctl -s fields that move on their own: never drift.
_VOLATILE_STATUS = frozenset(("pid", "lost", "backlog", "backlog_wait_time_actual", "locked"))
_LOOP_KEYS = frozenset(("ansible_loop_var", "_ansible_item_result", "_ansible_item_label"))
_PERMISSION_KEYS = ("mode", "owner", "group", "seuser", "serole", "setype", "selevel")
_FLAG_KEYS = ("attributes", "attr")
_DEFAULT_CATEGORY = {
    "audit_rules": LIVE_RULES, "audit_info": LIVE_RULES, "audit_control": LOCK,
    "auditd_config": AUDITD_CONF, "boot_params": BOOT_PARAMETERS, "chattr": FLAGS,
    "audit_seal": SEALED_LOGS,
}
# Characters XML 1.0 cannot carry (terminal escapes in command output, for example).
_XML_INVALID = re.compile(u"[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --------------------------------------------------------------------------- findings

def finding(category, task, module, message, expected=(), actual=(), diff="", controls=()):
    """One finding, the unit of drift.json's ``findings`` lists."""
    if category not in CATEGORIES:
        raise ValueError("unknown drift category %r" % (category,))
    return {
        "category": category,
        "task": _text(task),
        "module": _text(module),
        "expected": [_text(x) for x in expected],
        "actual": [_text(x) for x in actual],
        "diff": _text(diff),
        "controls": list(controls),
        "message": _text(message),
    }


def short_name(module):
    """(collection prefix, short name) of a module name, FQCN or not."""
    module = module or ""
    if "." in module:
        prefix, _dot, name = module.rpartition(".")
        return prefix + ".", name
    return "", module


def is_module(module, name, prefixes):
    prefix, short = short_name(module)
    return short == name and prefix in prefixes


def controls_of(task_vars=None, tags=()):
    """Control ids of a task: its ``drift_controls`` var (a list or a comma separated string) and
    its tags of the form ``control:<id>``, in that order, without duplicates.

    A value that is still a Jinja2 template (it was never rendered) is ignored."""
    found = []
    value = (task_vars or {}).get(CONTROLS_VAR)
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, (str, int, float)) and not isinstance(item, bool):
                found.append(str(item).strip())
    for tag in tags or ():
        if isinstance(tag, str) and tag.startswith(CONTROL_TAG):
            found.append(tag[len(CONTROL_TAG):].strip())
    seen = set()
    result = []
    for control in found:
        if control and "{{" not in control and control not in seen:
            seen.add(control)
            result.append(control)
    return result


def diff_text(diff):
    """A task result's ``diff`` (a dict or a list of dicts, as modules return it) as unified diff text."""
    if not diff:
        return ""
    parts = diff if isinstance(diff, list) else [diff]
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part if part.endswith("\n") else part + "\n")
            continue
        if not isinstance(part, dict):
            continue
        if "prepared" in part:
            prepared = _text(part["prepared"])
            out.append(prepared if prepared.endswith("\n") else prepared + "\n")
        if "before" not in part and "after" not in part:
            continue
        before, after = _diff_side(part.get("before")), _diff_side(part.get("after"))
        if before == after:
            continue
        lines = difflib.unified_diff(
            before.splitlines(True), after.splitlines(True),
            fromfile=_text(part.get("before_header") or "before"),
            tofile=_text(part.get("after_header") or "after"))
        for line in lines:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def task_findings(task, module, result, check_mode=True, controls=()):
    """The findings of one task result.

    ``task`` is the task name, ``module`` the module (action) name as the task resolved it,
    ``result`` the result dictionary, ``check_mode`` whether the task ran in check mode.
    A change a task reports outside check mode was made, not found: it is drift only where
    the module says the running system still differs (a locked kernel, a pending reboot,
    a restart auditd needs) and for modules that only report (audit_info, audit_seal).
    Loop results are examined item by item.
    """
    if not isinstance(result, dict):
        return []
    items = result.get("results")
    if _is_loop(items):
        found = []
        for item in items:
            if item.get("skipped"):
                continue
            label = item.get("_ansible_item_label", item.get("item"))
            name = "%s (item=%s)" % (task, _short(label)) if label is not None else task
            found.extend(task_findings(name, module, item, check_mode, controls))
        return found
    if result.get("skipped"):
        return []
    for name, prefixes, handler in _HANDLERS:
        if is_module(module, name, prefixes):
            found = handler(task, module, result, check_mode, list(controls))
            if found is not None:
                return found
            break
    return _generic(task, module, result, check_mode, list(controls))


def _is_loop(items):
    """Whether ``results`` holds a loop's item results (chattr returns its own ``results``)."""
    return (isinstance(items, list) and bool(items) and all(isinstance(i, dict) for i in items)
            and all(_LOOP_KEYS.intersection(i) for i in items))


def failure_finding(task, module, result, how, controls=()):
    """A failure the play went past (errors ignored, or a rescue ran): the check did not pass."""
    _prefix, short = short_name(module)
    category = _DEFAULT_CATEGORY.get(short, OTHER) if _prefix in _OURS else OTHER
    return finding(category, task, module, "task failed (%s): %s" % (how, result_message(result)),
                   diff=diff_text(result.get("diff")) if isinstance(result, dict) else "",
                   controls=controls)


def result_message(result):
    """The message of a failed or unreachable result, one line where possible."""
    if not isinstance(result, dict):
        return _text(result)
    for key in ("msg", "message", "reason", "stderr", "module_stderr", "exception"):
        value = result.get(key)
        if value:
            return _text(value).strip()
    items = result.get("results")
    if _is_loop(items):
        msgs = [result_message(i) for i in items if isinstance(i, dict) and i.get("failed")]
        if msgs:
            return "; ".join(msgs)
    return "no message"


# --- our modules

def _audit_rules(task, module, result, check_mode, controls):
    locked = bool(result.get("locked"))
    drift = result.get("live_drift") or {}
    diffs = _diff_parts(result.get("diff"))
    found = []
    if check_mode or locked:
        missing, extra = _lines(drift.get("missing")), _lines(drift.get("extra"))
        if not check_mode and not (missing or extra):
            pending = result.get("pending") or {}
            missing, extra = _lines(pending.get("add")), _lines(pending.get("remove"))
        if missing or extra:
            parts = []
            if missing:
                parts.append("%d rule%s missing from the kernel" % (len(missing), _s(missing)))
            if extra:
                parts.append("%d rule%s in the kernel that the baseline removes" % (len(extra), _s(extra)))
            message = ", ".join(parts)
            if result.get("reboot_required"):
                message += " (kernel locked: the next boot loads the rules file)"
            found.append(finding(LIVE_RULES, task, module, message, missing, extra,
                                 diff_text(diffs[1:2]), controls))
        moved = _lines(drift.get("out_of_order"))
        if moved:
            wanted = [r for r in _lines(result.get("rules")) if r in moved]
            found.append(finding(
                RULE_ORDER, task, module,
                "%d rule%s in an order that changes what the kernel does (see docs/rule-order.md)"
                % (len(moved), _s(moved)),
                wanted or moved, moved, "" if (missing or extra) else diff_text(diffs[1:2]), controls))
    if check_mode and result.get("file_changed"):
        before, after = _side_lines(diffs[:1])
        found.append(finding(
            PERSISTED_RULES, task, module,
            "rules file %s differs from the baseline" % result.get("path", ""),
            [x for x in after if x not in before], [x for x in before if x not in after],
            diff_text(diffs[:1]), controls))
    if check_mode and result.get("changed") and not found:
        found.append(finding(OTHER, task, module, "audit_rules reports a change",
                             diff=diff_text(diffs), controls=controls))
    return found


def _audit_info(task, module, result, check_mode, controls):
    drift = result.get("drift") or {}
    found = []
    if isinstance(drift, dict) and drift.get("in_sync") is False:
        missing, extra = _lines(drift.get("missing")), _lines(drift.get("extra"))
        if missing or extra:
            found.append(finding(
                LIVE_RULES, task, module,
                "live rules differ from the rules files: %d missing from the kernel, %d no file holds"
                % (len(missing), len(extra)), missing, extra, "", controls))
        moved = _lines(drift.get("out_of_order"))
        if moved:
            found.append(finding(
                RULE_ORDER, task, module,
                "%d rule%s live in an order that changes what the kernel does" % (len(moved), _s(moved)),
                moved, moved, "", controls))
        if not found:
            found.append(finding(LIVE_RULES, task, module, "live rules are not in sync with the rules files",
                                 controls=controls))
    for problem in result.get("problems") or []:
        if not isinstance(problem, dict):
            continue
        where = "%s:%s" % (problem.get("file", "?"), problem.get("lineno", "?"))
        found.append(finding(
            PERSISTED_RULES, task, module,
            "%s (%s)" % (problem.get("message") or problem.get("kind", "problem"), problem.get("kind", "")),
            [], [where + ": " + _text(problem.get("line", ""))] if problem.get("line") else [where],
            "", controls))
    return found


def _audit_control(task, module, result, check_mode, controls):
    found = []
    before, after = result.get("status") or {}, result.get("status_after") or {}
    if check_mode:
        keys = [k for k in after if k in before and k not in _VOLATILE_STATUS and before[k] != after[k]]
        if "enabled" in keys:
            found.append(finding(
                LOCK, task, module, "kernel audit lock: enabled is %s, the baseline wants %s"
                % (before["enabled"], after["enabled"]),
                ["enabled %s" % after["enabled"]], ["enabled %s" % before["enabled"]], "", controls))
        settings = [k for k in keys if k != "enabled"]
        if settings:
            found.append(finding(
                STATUS_SETTINGS, task, module, "kernel audit status differs: %s" % ", ".join(settings),
                ["%s %s" % (k, after[k]) for k in settings], ["%s %s" % (k, before[k]) for k in settings],
                diff_text(_diff_parts(result.get("diff"))[1:2]), controls))
        if not keys and any("auditctl -e" in c for c in _lines(result.get("live_changes"))):
            found.append(finding(LOCK, task, module, "kernel audit lock would change",
                                 ["; ".join(_lines(result.get("live_changes")))], [], "", controls))
        if result.get("file_changed"):
            diffs = _diff_parts(result.get("diff"))
            old, new = _side_lines(diffs[:1])
            added, removed = [x for x in new if x not in old], [x for x in old if x not in new]
            lock = [x for x in added + removed if x.split()[:1] == ["-e"]]
            path = result.get("path", "")
            if lock or not (added or removed):
                found.append(finding(
                    LOCK, task, module, "finalize file %s differs from the baseline" % path,
                    [x for x in added if x in lock], [x for x in removed if x in lock],
                    diff_text(diffs[:1]), controls))
            if [x for x in added + removed if x not in lock]:
                found.append(finding(
                    STATUS_SETTINGS, task, module, "finalize file %s differs from the baseline" % path,
                    [x for x in added if x not in lock], [x for x in removed if x not in lock],
                    "" if lock else diff_text(diffs[:1]), controls))
        drift = result.get("drift") or {}
        if isinstance(drift, dict):
            missing, extra = _lines(drift.get("missing")), _lines(drift.get("extra"))
            if missing or extra:
                found.append(finding(
                    LIVE_RULES, task, module,
                    "the kernel's rules differ from the rules files the lock would freeze",
                    missing, extra, "", controls))
            moved = _lines(drift.get("out_of_order"))
            if moved:
                found.append(finding(RULE_ORDER, task, module,
                                     "rules live in another order than the rules files load them",
                                     moved, moved, "", controls))
    pending = result.get("pending") or {}
    if isinstance(pending, dict) and pending:
        names = sorted(pending)
        found.append(finding(
            STATUS_SETTINGS, task, module,
            "only a reboot applies: %s" % ", ".join(
                "%s (after reboot: %s)" % (k, _pending_value(pending[k], "after_reboot")) for k in names),
            ["%s %s" % (k, _pending_value(pending[k], "wanted")) for k in names],
            ["%s %s" % (k, _pending_value(pending[k], "current")) for k in names], "", controls))
    return found


def _auditd_config(task, module, result, check_mode, controls):
    found = []
    keys = _lines(result.get("changed_keys"))
    settings = result.get("settings") or {}
    diffs = _diff_parts(result.get("diff"))
    if check_mode and (result.get("file_changed") or result.get("changed")):
        old = _conf_values(diffs[0].get("before") if diffs else None)
        added = set(_lines(result.get("added_keys")))
        expected = ["%s = %s" % (k, settings[k]) for k in keys if k in settings]
        actual = []
        for key in keys:
            if key in added:
                actual.append("%s (absent)" % key)
            elif key in old:
                actual.append("%s = %s" % (key, old[key]))
        message = ("%d key%s of %s differ: %s" % (len(keys), _s(keys), result.get("path", "auditd.conf"),
                                                  ", ".join(keys))
                   if keys else "%s differs (mode or owner)" % result.get("path", "auditd.conf"))
        found.append(finding(AUDITD_CONF, task, module, message, expected, actual, diff_text(diffs), controls))
    if result.get("restart_required"):
        restart = _lines(result.get("restart_keys"))
        found.append(finding(
            AUDITD_CONF, task, module,
            "auditd needs a restart to apply: %s" % ", ".join(restart),
            ["%s = %s" % (k, settings.get(k)) for k in restart], [], "", controls))
    return found


def _boot_params(task, module, result, check_mode, controls):
    found = []
    pending = result.get("pending") or {}
    current = result.get("current") or {}
    if result.get("reboot_required") or pending:
        names = sorted(pending)
        found.append(finding(
            BOOT_PARAMETERS, task, module,
            "the running kernel's command line lacks: %s" % (" ".join(
                "%s=%s" % (k, pending[k]) for k in names) or "wanted parameters"),
            ["%s=%s" % (k, pending[k]) for k in names],
            ["%s=%s" % (k, current[k]) if current.get(k) is not None else "%s (absent)" % k for k in names],
            "", controls))
    if check_mode and (result.get("grub_file_changed") or result.get("bootloader_updated")):
        params = _lines(result.get("changed_params"))
        # Same forms as above: name=value as the edited GRUB_CMDLINE_LINUX has it (expected), and
        # as the GRUB defaults file has it now, or "name (absent)" (actual; needs the diff).
        after = _cmdline_values(result.get("cmdline_linux"))
        diffs = _diff_parts(result.get("diff"))
        before = _grub_cmdline(diffs[0].get("before")) if diffs else None
        found.append(finding(
            BOOT_PARAMETERS, task, module,
            "boot loader configuration differs: %s" % (", ".join(params) or "boot loader not updated"),
            [_param(k, after.get(k)) if k in after else k for k in params],
            [] if before is None else [_param(k, before[k]) if k in before else "%s (absent)" % k
                                       for k in params],
            diff_text(result.get("diff")), controls))
    return found


def _param(name, value):
    return name if value is None else "%s=%s" % (name, value)


def _cmdline_values(text):
    """name -> value (None for a bare flag) of a kernel command line; the last occurrence wins."""
    values = {}
    for word in _text(text).split():
        name, eq, value = word.partition("=")
        values[name] = value if eq else None
    return values


def _grub_cmdline(text):
    """The parameters of the last GRUB_CMDLINE_LINUX= assignment of a GRUB defaults file, or {}."""
    value = None
    for line in _text(text).splitlines():
        match = re.match(r"\s*(?:export\s+)?GRUB_CMDLINE_LINUX=(.*)$", line)
        if match:
            raw = match.group(1).strip()
            try:
                value = " ".join(shlex.split(raw, comments=True))
            except ValueError:
                value = raw.strip("\"'")
    return _cmdline_values(value) if value is not None else {}


def _chattr(task, module, result, check_mode, controls):
    if not check_mode:
        return []
    paths = [r for r in result.get("results") or [] if isinstance(r, dict) and r.get("changed")]
    if not paths and not result.get("changed"):
        return []
    count = result.get("changed_count", len(paths))
    return [finding(
        FLAGS, task, module, "file flags differ on %s path%s" % (count, "" if count == 1 else "s"),
        ["%s %s" % (r.get("after", ""), r.get("path", "")) for r in paths],
        ["%s %s" % (r.get("before", ""), r.get("path", "")) for r in paths],
        diff_text(result.get("diff")), controls)]


def _audit_seal(task, module, result, check_mode, controls):
    found = []
    for key in ("findings", "problems", "mismatches", "tampered", "failures"):
        entries = result.get(key)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict):
                text = _seal_message(entry)
                expected = _lines([entry.get("expected")]) if entry.get("expected") is not None else []
                actual = _lines([entry.get("actual")]) if entry.get("actual") is not None else []
            else:
                text, expected, actual = _text(entry), [], []
            found.append(finding(SEALED_LOGS, task, module, text, expected, actual, "", controls))
    for key in ("verified", "valid", "intact"):
        if result.get(key) is False and not found:
            found.append(finding(SEALED_LOGS, task, module, "sealed logs do not verify (%s: false)" % key,
                                 controls=controls))
    if not found and check_mode and result.get("changed"):
        found.append(finding(SEALED_LOGS, task, module, "sealed logs would change",
                             diff=diff_text(result.get("diff")), controls=controls))
    return found


def _seal_message(entry):
    """One line for a finding of audit_seal's verification that names its cause (the kind) and the sealed
    log it is about: "missing: audit-....log is missing (sealed in manifest line 3)", "serial_gap
    (warning): ...", "head_not_found: ... [audit-....log]" when the message does not name the segment."""
    text = _text(entry.get("message")) or " ".join(
        "%s=%s" % (k, entry[k]) for k in sorted(entry) if not isinstance(entry[k], (dict, list)))
    kind, segment = _text(entry.get("kind")), _text(entry.get("segment"))
    if kind and not text.startswith(kind):
        label = kind + (" (%s)" % entry["severity"] if entry.get("severity") not in (None, "error") else "")
        text = "%s: %s" % (label, text)
    if segment and segment not in text:
        text = "%s [%s]" % (text, segment)
    return text


# --- ansible.builtin

def _file_like(task, module, result, check_mode, controls):
    if not check_mode or not result.get("changed"):
        return []
    path = _text(result.get("dest") or result.get("path") or "")
    perms, flags, rest = {}, {}, []
    content = False
    for part in _diff_parts(result.get("diff")):
        b, a = part.get("before"), part.get("after")
        if isinstance(b, dict) or isinstance(a, dict):
            b, a = b if isinstance(b, dict) else {}, a if isinstance(a, dict) else {}
            path = _text(a.get("path") or b.get("path") or path)
            for key in sorted(set(a) | set(b)):
                if key == "path" or _norm(key, a.get(key)) == _norm(key, b.get(key)):
                    continue
                target = perms if key in _PERMISSION_KEYS else flags if key in _FLAG_KEYS else None
                if target is not None:
                    target[key] = (b.get(key), a.get(key))
                else:
                    rest.append(key)
        elif b is not None or a is not None:
            content = True
            path = path or _text(part.get("after_header") or part.get("before_header") or "")
    if not (perms or flags or rest or content):
        args = (result.get("invocation") or {}).get("module_args") or {}
        for key in _PERMISSION_KEYS:
            want, have = args.get(key), result.get(key)
            if want is not None and have is not None and _norm(key, want) != _norm(key, have):
                perms[key] = (have, want)
    found = []
    if perms:
        found.append(finding(
            PERMISSIONS, task, module, "%s: %s differ%s" % (path, ", ".join(sorted(perms)), "s" if len(perms) == 1 else ""),
            ["%s %s %s" % (path, k, _norm(k, v[1])) for k, v in sorted(perms.items())],
            ["%s %s %s" % (path, k, _norm(k, v[0])) for k, v in sorted(perms.items())],
            "" if content else diff_text(result.get("diff")), controls))
    if flags:
        found.append(finding(
            FLAGS, task, module, "%s: attributes differ" % path,
            ["%s %s" % (path, v[1]) for v in flags.values()], ["%s %s" % (path, v[0]) for v in flags.values()],
            "", controls))
    if content or rest or not found:
        what = "content differs" if content else ("%s differ%s" % (", ".join(rest), "s" if len(rest) == 1 else "")
                                                  if rest else "would change")
        found.append(finding(OTHER, task, module, "%s: %s" % (path or task, what),
                             diff=diff_text(result.get("diff")), controls=controls))
    return found


def _generic(task, module, result, check_mode, controls):
    if not check_mode or not result.get("changed"):
        return []
    message = result.get("msg") if isinstance(result.get("msg"), str) else ""
    return [finding(OTHER, task, module, message or "would change", diff=diff_text(result.get("diff")),
                    controls=controls)]


_HANDLERS = (
    ("audit_rules", _OURS, _audit_rules),
    ("audit_info", _OURS, _audit_info),
    ("audit_control", _OURS, _audit_control),
    ("auditd_config", _OURS, _auditd_config),
    ("boot_params", _OURS, _boot_params),
    ("chattr", _OURS, _chattr),
    ("audit_seal", _OURS, _audit_seal),
    ("file", _BUILTIN, _file_like),
    ("copy", _BUILTIN, _file_like),
    ("template", _BUILTIN, _file_like),
)


# --------------------------------------------------------------------------- report

def host_entry(findings=(), errors=(), unreachable=False, failed=False, tasks=0):
    """One host of drift.json. A failed or unreachable host is never compliant."""
    findings = list(findings)
    if unreachable:
        status = UNREACHABLE
    elif failed:
        status = FAILED
    elif findings:
        status = DRIFTED
    else:
        status = COMPLIANT
    return {
        "compliant": status == COMPLIANT,
        "status": status,
        "findings": findings,
        "errors": [_text(e) for e in errors],
        "tasks": tasks,
    }


def summary(hosts):
    """Counts over the hosts of a report."""
    counts = dict((s, 0) for s in STATUSES)
    by_category = dict((c, 0) for c in CATEGORIES)
    drifting = dict((c, 0) for c in CATEGORIES)
    total = 0
    for entry in hosts.values():
        counts[entry["status"]] += 1
        seen = set()
        for item in entry["findings"]:
            total += 1
            by_category[item["category"]] += 1
            seen.add(item["category"])
        for category in seen:
            drifting[category] += 1
    result = {"hosts": len(hosts)}
    result.update(counts)
    result.update(findings=total, by_category=by_category, hosts_by_category=drifting,
                  ok=counts[COMPLIANT] == len(hosts))
    return result


def report(hosts, generated, playbooks=(), check_mode=None):
    """The drift.json document (a dict)."""
    playbooks = [_text(p) for p in playbooks]
    hosts = dict((name, hosts[name]) for name in sorted(hosts))
    return {
        "schema_version": SCHEMA_VERSION,
        "generated": generated,
        "playbook": playbooks[0] if playbooks else None,
        "playbooks": playbooks,
        "check_mode": check_mode,
        "hosts": hosts,
        "summary": summary(hosts),
        "categories": list(CATEGORIES),
    }


def to_json(doc):
    return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def summary_line(doc):
    s = doc["summary"]
    return ("drift report: %d host%s: %d compliant, %d drifted, %d failed, %d unreachable; %d finding%s"
            % (s["hosts"], "" if s["hosts"] == 1 else "s", s[COMPLIANT], s[DRIFTED], s[FAILED], s[UNREACHABLE],
               s["findings"], "" if s["findings"] == 1 else "s"))


def ordered_hosts(doc):
    """Host names worst first: unreachable, failed, drifted (most findings first), compliant."""
    rank = {UNREACHABLE: 0, FAILED: 1, DRIFTED: 2, COMPLIANT: 3}
    hosts = doc["hosts"]
    return sorted(hosts, key=lambda h: (rank[hosts[h]["status"]], -len(hosts[h]["findings"]), h))


def finding_text(item):
    """A finding as plain text (JUnit failure bodies)."""
    lines = ["[%s] %s: %s" % (item["category"], item["task"], item["message"])]
    if item["module"]:
        lines.append("  module: %s" % item["module"])
    if item["controls"]:
        lines.append("  controls: %s" % ", ".join(item["controls"]))
    for label in ("expected", "actual"):
        if item[label]:
            lines.append("  %s:" % label)
            lines.extend("    " + x for x in item[label])
    if item["diff"]:
        lines.append("  diff:")
        lines.extend("    " + x for x in item["diff"].splitlines())
    return "\n".join(lines)


def to_junit(doc):
    """drift.xml: one testsuite, one test case per host and category; a failed or unreachable host is one
    test case in error."""
    root = ET.Element("testsuites", name=JUNIT_SUITE)
    suite = ET.SubElement(root, "testsuite", name=JUNIT_SUITE, timestamp=_xml(doc.get("generated") or ""))
    props = ET.SubElement(suite, "properties")
    for name, value in (("playbook", doc.get("playbook")), ("check_mode", doc.get("check_mode"))):
        ET.SubElement(props, "property", name=name, value=_xml("" if value is None else str(value)))
    tests = failures = errors = 0
    for host in sorted(doc["hosts"]):
        entry = doc["hosts"][host]
        if entry["status"] in (FAILED, UNREACHABLE):
            case = ET.SubElement(suite, "testcase", classname=JUNIT_SUITE, name="%s: %s" % (host, entry["status"]),
                                 time="0")
            body = list(entry["errors"]) + [finding_text(f) for f in entry["findings"]]
            error = ET.SubElement(case, "error", type=entry["status"],
                                  message=_xml("%s %s: %s" % (host, entry["status"],
                                                              (entry["errors"] or ["no message"])[0])[:1000]))
            error.text = _xml("\n\n".join(body))
            tests += 1
            errors += 1
            continue
        for category in CATEGORIES:
            items = [f for f in entry["findings"] if f["category"] == category]
            case = ET.SubElement(suite, "testcase", classname=JUNIT_SUITE, name=_xml("%s: %s" % (host, category)),
                                 time="0")
            tests += 1
            if items:
                failures += 1
                failure = ET.SubElement(case, "failure", type=category, message=_xml(
                    "%d finding%s: %s" % (len(items), _s(items), items[0]["message"])[:1000]))
                failure.text = _xml("\n\n".join(finding_text(f) for f in items))
    for element in (root, suite):
        element.set("tests", str(tests))
        element.set("failures", str(failures))
        element.set("errors", str(errors))
        element.set("time", "0")
    suite.set("skipped", "0")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------- HTML

_CSS = """
:root{--ok:#1a7f37;--drift:#b35900;--fail:#cf222e;--unr:#6e40c9;--fg:#1f2328;--mute:#59636e;--line:#d1d9e0;
--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--fg);margin:0;background:#fff}
header{padding:18px 28px;border-bottom:1px solid var(--line);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}
.meta{color:var(--mute);font-size:13px}
main{padding:16px 28px 40px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 16px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:120px;background:#fff}
.card .n{font-size:28px;font-weight:700;display:block}
.card.compliant .n{color:var(--ok)}.card.drifted .n{color:var(--drift)}
.card.failed .n{color:var(--fail)}.card.unreachable .n{color:var(--unr)}
.verdict{font-size:16px;font-weight:600;margin:4px 0 12px}
.verdict.ok{color:var(--ok)}.verdict.bad{color:var(--fail)}
table{border-collapse:collapse}
.cats td,.cats th{padding:3px 10px;border-bottom:1px solid var(--line);text-align:left}
.cats td.num{text-align:right}
.filters{display:flex;gap:12px;align-items:center;margin:16px 0;padding:10px 12px;background:var(--bg);
border:1px solid var(--line);border-radius:8px}
.filters input,.filters select{font:inherit;padding:4px 8px;border:1px solid var(--line);border-radius:6px}
.filters input{width:320px}
#shown{color:var(--mute)}
.host{border:1px solid var(--line);border-left-width:6px;border-radius:8px;margin:0 0 14px;padding:10px 14px}
.host.compliant{border-left-color:var(--ok)}.host.drifted{border-left-color:var(--drift)}
.host.failed{border-left-color:var(--fail)}.host.unreachable{border-left-color:var(--unr)}
.host h2{font-size:17px;margin:0;display:flex;gap:10px;align-items:baseline}
.badge{font-size:12px;font-weight:600;padding:1px 8px;border-radius:10px;color:#fff;text-transform:uppercase}
.badge.compliant{background:var(--ok)}.badge.drifted{background:var(--drift)}
.badge.failed{background:var(--fail)}.badge.unreachable{background:var(--unr)}
.count{color:var(--mute);font-size:13px;font-weight:400}
.errors{color:var(--fail);margin:8px 0;padding-left:18px}
table.findings{width:100%;margin-top:8px;table-layout:fixed}
table.findings th{text-align:left;font-size:12px;color:var(--mute);border-bottom:2px solid var(--line);padding:4px 6px}
table.findings td{vertical-align:top;border-bottom:1px solid var(--line);padding:6px;word-wrap:break-word}
th.c-cat{width:12%}th.c-task{width:22%}th.c-exp,th.c-act{width:26%}th.c-ctl{width:14%}
.cat{display:inline-block;font-size:12px;padding:1px 7px;border-radius:10px;background:#ddf4ff;color:#0550ae}
.msg{margin:2px 0 4px}
.mod{color:var(--mute);font-size:12px}
ul.lines{margin:0;padding:0;list-style:none;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
ul.lines li{white-space:pre-wrap;padding:1px 4px;border-radius:3px;margin-bottom:2px}
td.exp li{background:#dafbe1}td.act li{background:#ffebe9}
.none{color:var(--mute);font-style:italic}
details{margin-top:4px}summary{cursor:pointer;color:#0969da;font-size:12px}
pre.diff{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--bg);padding:8px;
border:1px solid var(--line);border-radius:6px;overflow:auto;max-height:420px;margin:4px 0;white-space:pre}
pre.diff .add{color:#116329;background:#dafbe1;display:block}pre.diff .del{color:#82071e;background:#ffebe9;display:block}
pre.diff .hunk{color:#8250df;display:block}
.ok-note{color:var(--ok);margin:6px 0 0}
[hidden]{display:none!important}
"""

_JS = r"""
(function () {
  "use strict";
  var text = document.getElementById("filter-text");
  var cat = document.getElementById("filter-category");
  var shown = document.getElementById("shown");
  var hosts = Array.prototype.slice.call(document.querySelectorAll("section.host"));
  function params() {
    var out = {};
    var raw = (location.search || "").replace(/^\?/, "") + "&" + (location.hash || "").replace(/^#/, "");
    raw.split("&").forEach(function (pair) {
      if (!pair) { return; }
      var i = pair.indexOf("=");
      var key = i < 0 ? pair : pair.slice(0, i);
      var value = i < 0 ? "" : pair.slice(i + 1);
      try { out[decodeURIComponent(key)] = decodeURIComponent(value.replace(/\+/g, " ")); } catch (e) { }
    });
    return out;
  }
  function apply() {
    var needle = text.value.trim().toLowerCase();
    var wanted = cat.value;
    var visible = 0;
    hosts.forEach(function (host) {
      var rows = Array.prototype.slice.call(host.querySelectorAll("tr.finding"));
      var hostMatch = !needle || host.getAttribute("data-host").toLowerCase().indexOf(needle) >= 0 ||
        host.getAttribute("data-status").indexOf(needle) >= 0;
      var anyRow = false;
      rows.forEach(function (row) {
        var c = row.getAttribute("data-category");
        var ok = (!wanted || c === wanted) && (hostMatch || c.toLowerCase().indexOf(needle) >= 0 ||
          row.textContent.toLowerCase().indexOf(needle) >= 0);
        row.hidden = !ok;
        row.setAttribute("data-filtered", ok ? "shown" : "hidden");
        anyRow = anyRow || ok;
      });
      var show = wanted ? anyRow : (hostMatch || anyRow);
      host.hidden = !show;
      host.setAttribute("data-filtered", show ? "shown" : "hidden");
      if (show) { visible += 1; }
    });
    shown.textContent = "Showing " + visible + " of " + hosts.length + " hosts";
  }
  var p = params();
  if (p.filter) { text.value = p.filter; }
  if (p.category) { cat.value = p.category; }
  text.addEventListener("input", apply);
  cat.addEventListener("change", apply);
  document.getElementById("filters").hidden = false;
  document.documentElement.setAttribute("data-js", "ready");
  apply();
}());
"""


def to_html(doc):
    """drift.html: one self-contained page (inline CSS and JS, no external resource). Everything from the
    report is escaped; the page reads fully without JavaScript, which only adds the filters."""
    e = _esc
    s = doc["summary"]
    order = ordered_hosts(doc)
    out = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
           "<title>Drift report: %d/%d hosts compliant</title>" % (s[COMPLIANT], s["hosts"]),
           "<style>%s</style></head><body>" % _CSS,
           "<header><h1>Audit drift report</h1><div class=\"meta\">Generated %s &middot; playbook %s "
           "&middot; %s</div></header><main>" % (
               e(doc.get("generated") or ""), e(", ".join(doc.get("playbooks") or []) or "-"),
               "check mode" if doc.get("check_mode") else
               "<strong>not run in check mode</strong>: changes were applied, findings are what remains")]
    verdict = ("All %d hosts compliant" % s["hosts"]) if s["ok"] else (
        "%d of %d hosts not compliant" % (s["hosts"] - s[COMPLIANT], s["hosts"]))
    out.append('<section id="summary"><div class="verdict %s" id="verdict">%s</div><div class="cards">'
               % ("ok" if s["ok"] else "bad", e(verdict)))
    for key, label in (("hosts", "Hosts"), (COMPLIANT, "Compliant"), (DRIFTED, "Drifted"), (FAILED, "Failed"),
                       (UNREACHABLE, "Unreachable"), ("findings", "Findings")):
        out.append('<div class="card %s" id="count-%s"><span class="n">%d</span>%s</div>' % (key, key, s[key], label))
    out.append("</div>")
    cats = [c for c in CATEGORIES if s["by_category"][c]]
    if cats:
        out.append('<table class="cats"><thead><tr><th>Category</th><th>Findings</th><th>Hosts</th></tr></thead>'
                   "<tbody>")
        for c in cats:
            out.append('<tr data-category="%s"><td>%s</td><td class="num">%d</td><td class="num">%d</td></tr>'
                       % (e(c), e(c), s["by_category"][c], s["hosts_by_category"][c]))
        out.append("</tbody></table>")
    out.append("</section>")
    out.append('<form id="filters" class="filters" hidden onsubmit="return false">'
               '<label>Filter <input id="filter-text" type="search" placeholder="host, category or text"></label>'
               '<label>Category <select id="filter-category"><option value="">all categories</option>')
    for c in CATEGORIES:
        out.append('<option value="%s">%s</option>' % (e(c), e(c)))
    out.append('</select></label><span id="shown">Showing %d of %d hosts</span></form>' % (len(order), len(order)))
    out.append('<noscript><p class="meta">Filters need JavaScript; every host is shown below.</p></noscript>')
    out.append('<div id="hosts">')
    for host in order:
        out.append(_html_host(host, doc["hosts"][host]))
    out.append("</div></main><script>%s</script></body></html>\n" % _JS)
    return "".join(out)


def _html_host(host, entry):
    e = _esc
    status = entry["status"]
    categories = sorted(set(f["category"] for f in entry["findings"]))
    out = ['<section class="host %s" id="host-%s" data-host="%s" data-status="%s" data-categories="%s">'
           % (status, e(_anchor(host)), e(host), status, e(",".join(categories))),
           '<h2><span class="name">%s</span><span class="badge %s">%s</span><span class="count">%d finding%s</span>'
           "</h2>" % (e(host), status, status, len(entry["findings"]), _s(entry["findings"]))]
    if entry["errors"]:
        out.append('<ul class="errors">%s</ul>' % "".join("<li>%s</li>" % e(x) for x in entry["errors"]))
    if entry["findings"]:
        out.append('<table class="findings"><thead><tr><th class="c-cat">Category</th><th class="c-task">Task</th>'
                   '<th class="c-exp">Expected</th><th class="c-act">Actual</th><th class="c-ctl">Controls</th>'
                   "</tr></thead><tbody>")
        for item in entry["findings"]:
            out.append('<tr class="finding" data-category="%s"><td><span class="cat">%s</span></td>'
                       '<td><div class="msg">%s</div><div class="task">%s</div><div class="mod">%s</div>%s</td>'
                       '<td class="exp">%s</td><td class="act">%s</td><td>%s</td></tr>' % (
                           e(item["category"]), e(item["category"]), e(item["message"]), e(item["task"]),
                           e(item["module"]), _html_diff(item["diff"]), _html_lines(item["expected"]),
                           _html_lines(item["actual"]),
                           e(", ".join(item["controls"])) if item["controls"] else '<span class="none">-</span>'))
        out.append("</tbody></table>")
    elif status == COMPLIANT:
        tasks = entry.get("tasks", 0)
        out.append('<p class="ok-note">No drift in %d task result%s.</p>' % (tasks, "" if tasks == 1 else "s"))
    out.append("</section>")
    return "".join(out)


def _html_lines(lines):
    if not lines:
        return '<span class="none">-</span>'
    return '<ul class="lines">%s</ul>' % "".join("<li>%s</li>" % _esc(x) for x in lines)


def _html_diff(diff):
    if not diff:
        return ""
    out = []
    for line in diff.splitlines():
        cls = ("add" if line.startswith("+") and not line.startswith("+++") else
               "del" if line.startswith("-") and not line.startswith("---") else
               "hunk" if line.startswith("@@") else "")
        out.append('<span class="%s">%s</span>' % (cls, _esc(line)) if cls else _esc(line) + "\n")
    return '<details><summary>diff</summary><pre class="diff">%s</pre></details>' % "".join(out)


# --------------------------------------------------------------------------- helpers

def _text(value):
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _esc(value):
    return html.escape(_text(value), quote=True)


def _xml(value):
    return _XML_INVALID.sub(u"\ufffd", _text(value))


def _anchor(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _short(value):
    text = _text(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _s(items):
    return "" if len(items) == 1 else "s"


def _lines(value):
    if not value:
        return []
    if isinstance(value, (str, bytes)):
        return [_text(value)]
    return [_text(x) for x in value]


def _diff_parts(diff):
    if isinstance(diff, dict):
        return [diff]
    if isinstance(diff, list):
        return [d for d in diff if isinstance(d, dict)]
    return []


def _diff_side(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=4, sort_keys=True, default=str) + "\n"
    return _text(value)


def _side_lines(parts):
    """Lines (stripped, no blanks or comments) of the before and after side of a text diff."""
    if not parts:
        return [], []

    def lines(value):
        if not isinstance(value, str):
            return []
        return [x.strip() for x in value.splitlines() if x.strip() and not x.strip().startswith("#")]
    return lines(parts[0].get("before")), lines(parts[0].get("after"))


def _conf_values(text):
    values = {}
    if not isinstance(text, str):
        return values
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _eq, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def _pending_value(entry, key):
    if isinstance(entry, dict):
        return entry.get(key)
    return entry if key == "wanted" else None


def _norm(key, value):
    if key == "mode" and value is not None:
        if isinstance(value, int) and not isinstance(value, bool):
            return "%04o" % value
        text = str(value)
        if re.match(r"^0?[0-7]{3,4}$", text):
            return "%04o" % int(text, 8)
        return text
    return value
