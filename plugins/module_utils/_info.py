# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit_info report, built from what the module read. No I/O.

The module hands in the raw inputs (``auditctl -s`` parsed by
_auditctl.parse_status, the ``auditctl -l`` text, the rules.d files, the
kernel command line, the comm name of the kernel's audit daemon pid) and
gets back the whole report, so every decision is tested without a kernel.
"""

from __future__ import annotations

from ansible_collections.immutable.audit.plugins.module_utils._files import merge
from ansible_collections.immutable.audit.plugins.module_utils._rules import (
    Control, Deletion, Rule, parse_listing,
    drift as rules_drift,
)

# The boot parameters of the kernel's audit subsystem the report names.
CMDLINE_KEYS = ("audit", "audit_backlog_limit")
# enabled value of a locked kernel: nothing but a reboot changes rules or status.
LOCKED = 2
# What the kernel's isspace() accepts between parameters.
_SPACE = " \t\n\v\f\r"
# merge() problems at which ``auditctl -R`` stops loading (AUDIT-SEMANTICS 4).
_STOPS_LOAD = ("invalid", "duplicate")


def cmdline_params(text):
    """{name: value} of a kernel command line, as the kernel reads it.

    Ports lib/cmdline.c next_arg(): whitespace separates parameters except
    inside double quotes, one pair of quotes around the whole parameter or
    its value is dropped. Names compare with '-' and '_' as equal
    (parameqn), so they are reported with '_'. Each occurrence calls the
    kernel's handler again, so the last one wins. ``--`` ends the kernel's
    parameters: what follows belongs to init. A parameter without '=' has
    the value None.
    """
    params = {}
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in _SPACE:
            pos += 1
        if pos == end:
            return params
        quoted = in_quote = text[pos] == '"'
        start = pos = pos + 1 if quoted else pos
        equals = None
        while pos < end and (in_quote or text[pos] not in _SPACE):
            # like the kernel, a leading '=' does not start a value
            if equals is None and text[pos] == "=" and pos > start:
                equals = pos
            if text[pos] == '"':
                in_quote = not in_quote
            pos += 1
        stop = pos
        value = None
        if equals is not None:
            value_start = equals + 1
            if text[value_start:value_start + 1] == '"':
                value_start += 1
                if stop > value_start and text[stop - 1] == '"':
                    stop -= 1
                    quoted = False      # the kernel drops one closing quote only
            if quoted and stop > value_start and text[stop - 1] == '"':
                stop -= 1
            value = text[value_start:stop]
            name = text[start:equals]
        else:
            if quoted and stop > start and text[stop - 1] == '"':
                stop -= 1
            name = text[start:stop]
            if name == "--":
                return params
        params[name.replace("-", "_")] = value


def kernel_cmdline(text):
    """The audit boot parameters of ``text``, None where not given."""
    params = cmdline_params(text)
    return dict((key, params.get(key)) for key in CMDLINE_KEYS)


def auditd_state(status, comm):
    """{running, pid} of auditd.

    The kernel's status pid is the process it sends events to (0: none, so
    events only reach the kernel log). ``comm`` is /proc/<pid>/comm of that
    pid (None if it does not exist): auditd counts as running only when the
    registered process really is auditd, not another audit consumer.
    """
    pid = status.get("pid") or 0
    running = pid > 0 and (comm or "").strip() == "auditd"
    return {"running": running, "pid": pid if running else None}


def boot_lock(merged):
    """The enabled value (0, 1, 2) the boot load ends with, or None.

    Walks the lines in load order like ``auditctl -R``: it stops at the first
    invalid or duplicate line unless a ``-c`` or ``-i`` line came first, so an
    ``-e`` after that point is never applied; once a line sets 2 the kernel
    refuses every later ``-e``.
    """
    stops = set((p["file"], p["lineno"]) for p in merged.problems if p["kind"] in _STOPS_LOAD)
    keep_going = False
    value = None
    for line in merged.lines:
        entry = line.entry
        if not keep_going and (line.source, line.lineno) in stops:
            break
        if isinstance(entry, Control):
            if entry.option in ("-c", "-i"):
                keep_going = True
            elif entry.option == "-e" and value != LOCKED:
                value = int(entry.value)
    return value


def persisted_kernel_rules(merged):
    """The rules the kernel holds after loading ``merged``, in load order.

    Applies the loaded -D and -d/-W lines and keeps a rule once (a second
    copy fails to load and is reported as a problem).
    """
    loaded = {}
    for line in merged.lines:
        entry = line.entry
        if isinstance(entry, Rule):
            loaded.setdefault(entry.line, entry)
        elif isinstance(entry, Deletion):
            loaded.pop(entry.rule.line, None)
        elif isinstance(entry, Control) and entry.option == "-D":
            loaded.clear()
    return list(loaded.values())


def drift(persisted, live, target):
    """missing/extra/out_of_order between the persisted and live rules."""
    result = rules_drift(persisted, live, target)
    result["in_sync"] = not (result["missing"] or result["extra"] or result["out_of_order"])
    return result


def report(status, listing, files, cmdline, auditd_comm, version, target):
    """The whole audit_info report.

    ``status``: parse_status(auditctl -s), or None when the running kernel is
    not the target's (then ``listing`` and ``cmdline`` are None too and the
    live fields are None); ``listing``: auditctl -l text;
    ``files``: read_rules_d(); ``cmdline``: /proc/cmdline text;
    ``auditd_comm``: /proc/<status pid>/comm or None; ``version``: auditctl -v
    version; ``target``: the host's Target (canonical form of file rules).
    """
    merged = merge(files, target)
    if status is None:
        # The kernel here is not the target's (a chroot, a container): only the
        # files are the target's, the running kernel and its command line are not.
        live_rules = live = None
        status = {"locked": None}
    else:
        live_rules = parse_listing(listing, target)
        live = [rule.line for rule in live_rules]
        status = dict(status, locked=status.get("enabled") == LOCKED)
    persisted = [dict(line=m.entry.line, file=m.source, lineno=m.lineno)
                 for m in merged.lines if isinstance(m.entry, Rule)]
    controls = [dict(line=m.entry.line, option=m.entry.option, value=m.entry.value,
                     file=m.source, lineno=m.lineno)
                for m in merged.lines if isinstance(m.entry, Control)]
    return {
        "status": status,
        "locked": status["locked"],
        "live_rules": live,
        "persisted_rules": persisted,
        "persisted_controls": controls,
        "boot_lock": boot_lock(merged),
        "drift": None if live_rules is None else drift(persisted_kernel_rules(merged), live_rules, target),
        "problems": merged.problems,
        "auditd": {"running": None, "pid": None} if live_rules is None else auditd_state(status, auditd_comm),
        "version": version,
        "kernel_cmdline": None if cmdline is None else kernel_cmdline(cmdline),
    }
