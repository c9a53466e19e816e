# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel audit status (enabled/lock, failure, backlog, rate, loginuid): plan. No I/O.

The audit_control module reads the kernel status (``auditctl -s``), the
rules.d files and, when it is about to lock, the kernel's rule listing; this
module decides what to write and which auditctl commands to run, and
refuses what would not work (AUDIT-SEMANTICS.md sections 5 and 6):

- the persisted settings live in one finalize file that must sort last under
  ``ls -v``, because augenrules keeps only the last -b/-f/-e of all files and
  a later ``-e 1`` silently beats an earlier ``-e 2``;
- a kernel is never locked while its rules differ from what rules.d loads at
  boot (after ``-e 2`` only a reboot can fix them);
- on a locked kernel every change but --loginuid-immutable is refused with
  EPERM, so changes are staged on disk and reported as pending a reboot.
"""

from __future__ import annotations

import os

from ansible_collections.immutable.audit.plugins.module_utils._files import (
    merge, version_key,
)
from ansible_collections.immutable.audit.plugins.module_utils._rules import (
    Control, RuleError, _c_strtol, parse_text,
    drift as rules_drift,
)

FINALIZE_NAME = "zz-immutable-finalize.rules"

# Setting -> auditctl option, in the order the live commands run and the file
# lists them. enabled comes last: after -e 2 the kernel refuses the others.
OPTIONS = (
    ("backlog_limit", "-b"),
    ("failure", "-f"),
    ("rate_limit", "-r"),
    ("backlog_wait_time", "--backlog_wait_time"),
    ("loginuid_immutable", "--loginuid-immutable"),
    ("enabled", "-e"),
)
OPTION = dict(OPTIONS)
SETTING = dict((option, setting) for setting, option in OPTIONS)
LOCKED = 2

_U32 = 2 ** 32 - 1
# The kernel refuses a backlog_wait_time above ten times its default of
# 60 * HZ ticks; HZ is at most 1000, so 600000 is the largest any kernel takes.
LIMITS = {
    "enabled": (0, 2),
    "failure": (0, 2),
    "backlog_limit": (0, _U32),
    "rate_limit": (0, _U32),
    "backlog_wait_time": (0, 600000),
}
# augenrules hoists these to the start of the load: a rules file that fails
# to load later on cannot stop them.
_HOISTED_FIRST = ("backlog_limit", "failure")
_SHOWN_DRIFT = 5

HEADER = (
    "Managed by immutable.audit.audit_control, which rewrites it: only control lines belong here.",
    "augenrules loads -b and -f first and the -e line last, keeping only the",
    "last of each from all files: this file sorts last under ls -v so its lines win.",
)


class ControlError(Exception):
    """A refusal: the message names the setting, file or line and what to do.

    ``details`` holds data the module returns beside the message (pending,
    drift)."""

    def __init__(self, message, **details):
        super(ControlError, self).__init__(message)
        self.details = details


class ControlPlan(object):
    """What to change, decided before anything is changed.

    ``content``: the finalize file's new text (None: no file); ``live``:
    auditctl argument lists in the order they must run, -e last;
    ``expected``: the ``auditctl -s`` values the kernel must show after them;
    ``pending``: setting -> {current, wanted, after_reboot} for what only a
    reboot can apply; ``drift``: rules.d against the kernel, when locking.
    """

    def __init__(self, current_text):
        self.current_text = current_text
        self.content = current_text
        self.live = []
        self.expected = {}
        self.pending = {}
        self.drift = None
        self.warnings = []

    @property
    def file_changed(self):
        return self.content != self.current_text

    @property
    def reboot_required(self):
        return bool(self.pending)


def validate(wanted):
    """The managed settings (the ones not None), checked; ControlError if out of range."""
    out = {}
    for setting, _option in OPTIONS:
        value = wanted.get(setting)
        if value is None:
            continue
        if setting == "loginuid_immutable":
            if not isinstance(value, bool):
                raise ControlError("loginuid_immutable must be true or false, not %r" % (value,))
        else:
            low, high = LIMITS[setting]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ControlError("%s must be an integer from %d to %d, not %r"
                                   % (setting, low, high, value))
        out[setting] = value
    return out


def locks_live(wanted, status, live):
    """True when the plan would run ``auditctl -e 2`` (the caller then reads the rule listing)."""
    return bool(live) and wanted.get("enabled") == LOCKED and status.get("enabled") != LOCKED


def render(settings):
    """The finalize file for ``settings`` (setting -> value), or None when it would be empty."""
    if not settings:
        return None
    lines = ["# " + line for line in HEADER]
    for setting, option in OPTIONS:
        if setting not in settings:
            continue
        lines.append(option if setting == "loginuid_immutable" else "%s %d" % (option, settings[setting]))
    return "\n".join(lines) + "\n"


def read_finalize(text, path, target):
    """The settings a finalize file persists; ControlError for any line this module would not write.

    The file belongs to this module, but a rule someone put there must not be
    dropped silently by the next rewrite.
    """
    if text is None:
        return {}
    try:
        parsed = parse_text(text, target, source=path)
    except RuleError as exc:
        raise ControlError("%s. %s holds only the control lines immutable.audit.audit_control writes; "
                           "remove that line or move it to another rules file, then retry" % (exc, path))
    settings = {}
    for entry in parsed.entries:
        setting = SETTING.get(entry.option) if isinstance(entry, Control) else None
        if setting is None:
            raise ControlError(
                "%s:%s: '%s' does not belong in the finalize file, which holds only the control lines "
                "immutable.audit.audit_control writes and is rewritten by it; move the line to another "
                "rules file (rules: immutable.audit.audit_rules), then retry" % (path, entry.lineno, entry.text))
        settings[setting] = True if setting == "loginuid_immutable" else _c_strtol(entry.value)
    return settings


def plan(wanted, files, path, rules_dir, target, status=None, live_rules=None,
         persist=True, live=True, force_lock=False, strict=False):
    """Decide the finalize file and the live commands; raise ControlError to refuse.

    ``wanted``: setting -> value (None: not managed). ``files``: the rules.d
    files as read_rules_d returns them (the finalize file included if it
    exists). ``status``: parsed ``auditctl -s`` (needed when ``live``).
    ``live_rules``: the kernel's rules, needed when locks_live() is true.
    """
    wanted = validate(wanted)
    if not (persist or live):
        raise ControlError("persist and live are both false, so nothing would be managed; "
                           "set at least one of them to true")
    _check_path(path, rules_dir)
    current_text = dict(files).get(path)
    result = ControlPlan(current_text)
    if persist:
        persisted = read_finalize(current_text, path, target)
        persisted.update(wanted)
        if persisted.get("loginuid_immutable") is False:
            del persisted["loginuid_immutable"]     # written as a line only when true
        result.content = render(persisted)
        boot_files = [(p, t) for p, t in files if p != path]
        if result.content is not None:
            boot_files.append((path, result.content))
        boot_files.sort(key=lambda item: version_key(os.path.basename(item[0])))
        merged = merge(boot_files, target)
        if result.content is not None:
            _check_sorts_last(boot_files, path)
            _check_effective(merged, persisted, path)
            _check_load_completes(merged, persisted, path)
        if wanted.get("loginuid_immutable") is False:
            _check_no_loginuid(merged)
    else:
        merged = merge(files, target)
    if live:
        _plan_live(result, wanted, status, merged, live_rules, target, force_lock)
        if strict and result.pending:
            # Nothing gets written, so a reboot loads what is on disk now,
            # not what this task would have staged.
            on_disk = merge(files, target)
            pending = dict((setting, dict(p, after_reboot=boot_value(on_disk, setting)))
                           for setting, p in result.pending.items())
            raise ControlError(
                "strict: %s; nothing was changed" % describe_pending(pending), pending=pending,
                reboot_required=any(p["after_reboot"] != p["current"] for p in pending.values()))
    return result


def _check_path(path, rules_dir):
    if not path.endswith(".rules") or os.path.dirname(os.path.normpath(path)) != os.path.normpath(rules_dir):
        raise ControlError("path %s must be a file ending in .rules directly in rules_dir %s: augenrules "
                           "reads no other file" % (path, rules_dir))


def _check_sorts_last(boot_files, path):
    names = [p for p, _text in boot_files]
    later = names[names.index(path) + 1:]
    if later:
        raise ControlError(
            "%s sorts after the finalize file %s under ls -v, so augenrules loads it later and its -e, -b "
            "and -f lines would override the finalize file's; rename it to sort earlier, or set path to a "
            "name that sorts after it" % (", ".join(later), path))


def _lines_of(merged, option):
    return [m for m in merged.lines if isinstance(m.entry, Control) and m.entry.option == option]


def _conflict(line, what, ours):
    why = ("it is indented, so augenrules does not hoist it and it runs in the middle of the load"
           if line.text != line.text.lstrip(" ") else "augenrules keeps it after the finalize file's line")
    return ControlError(
        "%s:%s: '%s' %s at boot (%s); remove or fix that line, then retry. Nothing was changed"
        % (line.source, line.lineno, line.text, what % ours, why))


def _check_effective(merged, persisted, path):
    """Each persisted setting must be the one the boot load ends with."""
    for setting, value in persisted.items():
        option = OPTION[setting]
        lines = _lines_of(merged, option)
        if setting == "enabled":
            # Ours must be the only -e and the last line: an -e anywhere else
            # (only an indented one survives the merge) enables or locks the
            # kernel before the rest of the rules have loaded.
            others = [m for m in lines if m.source != path]
            if others or lines[-1] is not merged.lines[-1]:
                line = others[0] if others else lines[-1]
                raise _conflict(line, "changes the audit state before the finalize file's '%s'",
                                "-e %d" % value)
        elif setting != "loginuid_immutable":
            last = lines[-1]
            if _c_strtol(last.entry.value) != value:
                raise _conflict(last, "overrides the finalize file's '%s'", "%s %d" % (option, value))


def _check_no_loginuid(merged):
    lines = _lines_of(merged, OPTION["loginuid_immutable"])
    if lines:
        raise ControlError(
            "%s:%s: '%s' makes loginuid immutable at boot, but loginuid_immutable is false; remove that "
            "line, then retry. Nothing was changed" % (lines[0].source, lines[0].lineno, lines[0].text))


def _check_load_completes(merged, persisted, path):
    """auditctl -R stops at the first failing line: nothing after it loads,
    including the finalize file's body and its -e line (only the hoisted -b
    and -f have run by then). A -c or -i line earlier makes it continue."""
    if all(setting in _HOISTED_FIRST for setting in persisted):
        return
    stoppers = dict(((p["file"], p["lineno"]), p) for p in merged.problems
                    if p["kind"] in ("invalid", "duplicate"))
    for line in merged.lines:
        if isinstance(line.entry, Control) and line.entry.option in ("-c", "-i"):
            return
        problem = stoppers.get((line.source, line.lineno))
        if problem is not None:
            raise ControlError(
                "%s:%s: %s. At boot the load stops there, so the lines of %s after it (the -e line "
                "included) would never run; fix that file first (immutable.audit.audit_rules). "
                "Nothing was changed" % (problem["file"], problem["lineno"], problem["message"], path))


def boot_value(merged, setting):
    """The value ``setting`` has after the boot load of ``merged`` (None: not set there)."""
    lines = _lines_of(merged, OPTION[setting])
    if setting == "loginuid_immutable":
        return bool(lines)
    return _c_strtol(lines[-1].entry.value) if lines else None


def current_value(setting, status):
    if setting == "loginuid_immutable":
        return status[setting] == 1
    return status[setting]


def _satisfied(setting, want, status):
    if setting == "loginuid_immutable" and want:
        # --loginuid-immutable sets the feature and locks it: a 1 that is
        # still unlocked could be reset and is not what was asked for.
        return status[setting] == 1 and status.get("loginuid_immutable_locked", True)
    return current_value(setting, status) == want


def _plan_live(result, wanted, status, merged, live_rules, target, force_lock):
    locked = status.get("enabled") == LOCKED
    for setting, option in OPTIONS:
        if setting not in wanted:
            continue
        want = wanted[setting]
        if setting not in status:
            raise ControlError("auditctl -s on this host does not report %s, so it cannot be managed "
                               "live; set live=false to only persist it" % setting)
        if _satisfied(setting, want, status):
            continue
        if setting == "loginuid_immutable":
            if not want:
                # No command clears it: only a boot without --loginuid-immutable.
                _pend(result, setting, want, status, merged)
                continue
            # The one change a locked kernel still accepts (section 6).
            result.live.append([option])
            result.expected.update(loginuid_immutable=1, loginuid_immutable_locked=True)
        elif locked:
            _pend(result, setting, want, status, merged)
        else:
            result.live.append([option, str(want)])
            result.expected[setting] = want
    if locks_live(wanted, status, True):
        _check_drift(result, merged, live_rules, target, force_lock)


def _pend(result, setting, want, status, merged):
    after = boot_value(merged, setting)
    result.pending[setting] = dict(current=current_value(setting, status), wanted=want, after_reboot=after)
    if after != want:
        result.warnings.append(
            "%s is %s and only a reboot can change it, but after a reboot it would be %s, not %s: "
            "persist it (persist=true) or fix the rules file that sets it"
            % (setting, current_value(setting, status), "unset" if after is None else after, want))


def _check_drift(result, merged, live_rules, target, force_lock):
    drift = rules_drift(merged.rules, live_rules, target)
    result.drift = drift
    if not any(drift.values()):
        return
    summary = describe_drift(drift)
    if not force_lock:
        raise ControlError(
            "refusing to lock the kernel (enabled 2): its rules differ from what the rules files load "
            "at boot (%s), and a locked kernel keeps them until a reboot. Converge the rules first "
            "(immutable.audit.audit_rules), or set force_lock=true to lock them as they are. Nothing "
            "was changed" % summary, drift=drift)
    result.warnings.append("force_lock: locking a kernel whose rules differ from the rules files (%s)" % summary)


def describe_drift(drift):
    parts = []
    for kind, label in (("missing", "missing in the kernel"), ("extra", "only in the kernel"),
                        ("out_of_order", "out of order")):
        lines = drift[kind]
        if lines:
            more = " and %d more" % (len(lines) - _SHOWN_DRIFT) if len(lines) > _SHOWN_DRIFT else ""
            parts.append("%d %s: %s%s" % (len(lines), label, "; ".join(lines[:_SHOWN_DRIFT]), more))
    return ", ".join(parts)


def describe_pending(pending):
    return "the kernel is locked or cannot change it live, so only a reboot applies %s" % "; ".join(
        "%s (now %s, wanted %s, after reboot %s)" % (
            s, p["current"], p["wanted"],
            "the kernel default (no rules file sets it)" if p["after_reboot"] is None else p["after_reboot"])
        for s, p in sorted(pending.items()))


def status_text(status, settings):
    """The managed part of ``auditctl -s`` as text, for diff mode."""
    lines = []
    for setting, _option in OPTIONS:
        if setting not in settings or setting not in status:
            continue
        value = status[setting]
        if setting == "loginuid_immutable":
            value = "%s %s" % (value, "locked" if status.get("loginuid_immutable_locked") else "unlocked")
        lines.append("%s %s" % (setting, value))
    return "".join(line + "\n" for line in lines)


def unmet(result, status_after):
    """Messages for each planned value the kernel does not show after the commands ran."""
    return ["%s is %s, not %s" % (key, status_after.get(key), value)
            for key, value in sorted(result.expected.items()) if status_after.get(key) != value]


def reverse(applied, status):
    """The auditctl arguments that put back the settings ``applied`` changed,
    from the values of ``status`` (auditctl -s before the task), last change
    first. -> (argument lists, names that cannot be put back): a set
    loginuid_immutable stays set until the reboot."""
    back, stuck = [], []
    for args in reversed(applied):
        setting = SETTING.get(args[0])
        if setting == "loginuid_immutable":
            stuck.append(setting)
        elif setting is not None and status.get(setting) is not None:
            back.append([args[0], str(status[setting])])
    return back, stuck
