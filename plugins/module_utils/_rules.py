# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit rules: parse, validate, canonicalise, render and plan. No I/O.

Everything the target contributes (its syscall tables, user and group names,
which watch paths are directories) comes in through a ``Target`` object, so
the same code runs in unit tests on recorded tables and in the modules on the
host's real ones (module_utils/_auditctl.py builds it).

The canonical form of a rule is exactly the line ``auditctl -l`` prints for
it (AUDIT-SEMANTICS.md section 1): desired rules, rules files and the kernel
listing are all compared in that form.
"""

from __future__ import annotations

import collections
import re

from ansible_collections.immutable.audit.plugins.module_utils._audit_tables import (
    ERRNO_ALIASES, ERRNOS, FILETYPES, FSTYPES, MSGTYPES,
)

# Filter lists in the order the kernel lists them.
LISTS = ("user", "task", "exit", "exclude", "filesystem")
ACTIONS = ("never", "always")
# Searched in this order, like libaudit: the first operator found wins, even
# when a later one stands further left in the text.
OPERATORS = ("!=", ">=", "<=", "&=", "=", ">", "<", "&")
MAX_FIELDS = 64          # AUDIT_MAX_FIELDS, the key counts as one field
MAX_KEY_LEN = 256        # AUDIT_MAX_KEY_LEN, all keys joined by \x01
KEY_SEP = "\x01"
ALL = None               # syscall mask "all"

_UID_FIELDS = ("uid", "euid", "suid", "fsuid", "auid", "obj_uid", "sessionid")
_GID_FIELDS = ("gid", "egid", "sgid", "fsgid", "obj_gid")
_INT_FIELDS = ("pid", "ppid", "pers", "devmajor", "devminor", "success", "saddr_fam")
_ARG_FIELDS = ("a0", "a1", "a2", "a3")
_STR_FIELDS = ("subj_user", "subj_role", "subj_type", "subj_sen", "subj_clr",
               "obj_user", "obj_role", "obj_type", "obj_lev_low", "obj_lev_high")
_PATH_FIELDS = ("path", "dir", "exe")
_OTHER_FIELDS = ("arch", "msgtype", "exit", "inode", "perm", "filetype", "fstype")
FIELD_NAMES = frozenset(_UID_FIELDS + _GID_FIELDS + _INT_FIELDS + _ARG_FIELDS
                        + _STR_FIELDS + _PATH_FIELDS + _OTHER_FIELDS)
FIELD_ALIASES = {"loginuid": "auid"}

# Which fields each filter list accepts, as libaudit 3.0.9 and the kernel
# decided when every field was tried on every list (tests/unit/data).
_EXIT_ONLY = frozenset(("ppid", "obj_user", "obj_role", "obj_type", "obj_lev_low",
                        "obj_lev_high", "devmajor", "devminor", "inode", "exit",
                        "success", "path", "perm", "dir", "filetype"))
_EXCLUDE_OK = frozenset(("pid", "uid", "gid", "auid", "msgtype", "subj_user",
                         "subj_role", "subj_type", "subj_sen", "subj_clr", "exe"))


def _field_allowed(name, lst):
    """Return None if field ``name`` may be used on list ``lst``, else why not."""
    if lst == "filesystem":
        return None if name == "fstype" else "only fstype can be used with the filesystem list"
    if name == "fstype":
        return "fstype can only be used with the filesystem list"
    if lst == "exclude":
        return None if name in _EXCLUDE_OK else (
            "only msgtype, uid, gid, auid, pid, exe and subj_* fields can be used with the exclude list")
    if name == "msgtype" and lst not in ("user",):
        return "msgtype can only be used with the exclude or user list"
    if name in _EXIT_ONLY and lst != "exit":
        return "%s can only be used with the exit list" % name
    if name == "sessionid" and lst == "task":
        return "sessionid cannot be used with the task list"
    return None


# Interfield comparisons (-C): the kernel stores one code per unordered pair
# and auditctl -l prints the pair in this fixed order.
_COMPARE_PAIRS = (
    ("uid", "obj_uid"), ("gid", "obj_gid"), ("euid", "obj_uid"), ("egid", "obj_gid"),
    ("auid", "obj_uid"), ("suid", "obj_uid"), ("sgid", "obj_gid"), ("fsuid", "obj_uid"),
    ("fsgid", "obj_gid"), ("uid", "auid"), ("uid", "euid"), ("uid", "fsuid"),
    ("uid", "suid"), ("auid", "fsuid"), ("auid", "suid"), ("auid", "euid"),
    ("euid", "suid"), ("euid", "fsuid"), ("suid", "fsuid"), ("gid", "egid"),
    ("gid", "fsgid"), ("gid", "sgid"), ("egid", "fsgid"), ("egid", "sgid"),
    ("sgid", "fsgid"),
)
_COMPARE = {frozenset(p): p for p in _COMPARE_PAIRS}

_ARCH_ALIASES = {
    "b64": "b64", "b32": "b32",
    "x86_64": "b64", "aarch64": "b64", "ppc64": "b64", "ppc64le": "b64", "s390x": "b64",
    "i386": "b32", "i486": "b32", "i586": "b32", "i686": "b32", "arm": "b32",
    "armeb": "b32", "ppc": "b32", "s390": "b32",
}

_MSGTYPE_BY_NAME = dict((v, k) for k, v in MSGTYPES.items())
_ERRNO_BY_NAME = dict((v, k) for k, v in ERRNOS.items())
_ERRNO_BY_NAME.update(ERRNO_ALIASES)

# Control lines of a rules file: option -> takes a numeric value.
CONTROL_OPTIONS = {
    "-D": False, "-b": True, "-f": True, "-e": True, "-r": True,
    "--backlog_wait_time": True, "--loginuid-immutable": False, "-c": False, "-i": False,
}
_RULE_OPTS_WITH_ARG = frozenset("aAdSFCwWkp")


class RuleError(Exception):
    """A rule or rules file line that auditctl would reject or mangle."""

    def __init__(self, message, text=None, source=None, lineno=None):
        self.problem = message
        self.text = text
        self.source = source
        self.lineno = lineno
        super(RuleError, self).__init__(self.describe())

    def describe(self):
        where = ""
        if self.source is not None:
            where = "%s:%s: " % (self.source, self.lineno) if self.lineno else "%s: " % self.source
        elif self.lineno:
            where = "rule %s: " % self.lineno
        rule = " in rule '%s'" % self.text if self.text is not None else ""
        return "%s%s%s" % (where, self.problem, rule)

    def located(self, text=None, source=None, lineno=None):
        """The same error with the rule text and its location filled in."""
        return RuleError(self.problem,
                         self.text if self.text is not None else text,
                         self.source if self.source is not None else source,
                         self.lineno if self.lineno is not None else lineno)


class Target(object):
    """What the canonical form depends on, taken from the target host.

    ``syscalls`` maps "b64"/"b32" to {name: number} (from ausyscall --dump);
    ``native`` is the arch auditctl assumes when a rule names none. ``user``
    and ``group`` resolve names to ids (None if unknown); ``is_dir`` tells
    whether a ``-w`` path is a directory (auditctl stats it to choose).
    ``tables`` names each arch's ausyscall table ({"b64": "aarch64", ...}),
    for messages. ``absent`` maps an arch the kernel runs no programs of to
    why ({"b32": "CONFIG_COMPAT is not set ..."}): its table may still be
    there, since such a kernel accepts and lists rules for it, but desired
    rules for it are pointless (drop_absent_syscalls leaves them out).
    """

    def __init__(self, syscalls, native="b64", user=None, group=None, is_dir=None,
                 tables=None, absent=None, known_anywhere=None):
        self.syscalls = syscalls
        self.native = native
        self.tables = dict(tables or {})
        self.absent = dict(absent or {})
        self._user = user or (lambda name: None)
        self._group = group or (lambda name: None)
        self._is_dir = is_dir or (lambda path: False)
        # Whether some architecture's table (any ausyscall knows) has a name:
        # a name no table has is a typo, refused whatever missing_syscall says.
        self._known_anywhere = known_anywhere or (
            lambda name: any(name in table for table in syscalls.values()))
        self._names = dict(
            (arch, dict((num, name) for name, num in table.items()))
            for arch, table in syscalls.items())

    def user(self, name):
        return self._user(name)

    def group(self, name):
        return self._group(name)

    def is_dir(self, path):
        return self._is_dir(path)

    def syscall_number(self, arch, name):
        return self.syscalls.get(arch or self.native, {}).get(name)

    def syscall_name(self, arch, number):
        return self._names.get(arch or self.native, {}).get(number)

    def known_anywhere(self, name):
        return self._known_anywhere(name)

    def has_abi(self, arch):
        """Whether the kernel runs programs of ``arch`` (None: the native one)."""
        arch = arch or self.native
        return arch in self.syscalls and arch not in self.absent

    def arch_label(self, arch):
        """"b64 (aarch64)": the arch as rules write it, with its syscall table."""
        arch = arch or self.native
        table = self.tables.get(arch)
        return "%s (%s)" % (arch, table) if table else arch


class Field(object):
    """One field of a rule, its value already in the kernel's stored form."""

    __slots__ = ("name", "op", "value")

    def __init__(self, name, op, value):
        self.name = name
        self.op = op
        self.value = value

    def __eq__(self, other):
        return (self.name, self.op, self.value) == (other.name, other.op, other.value)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.name, self.op, self.value))

    def __repr__(self):
        return "Field(%r, %r, %r)" % (self.name, self.op, self.value)


class Rule(object):
    """A rule as the kernel holds it, plus where it was written."""

    __slots__ = ("list", "action", "prepend", "fields", "syscalls", "keys", "line",
                 "source", "lineno", "text", "_sig")

    def __init__(self, lst, action, fields, syscalls, keys, target, prepend=False,
                 source=None, lineno=None, text=None):
        self.list = lst
        self.action = action
        self.prepend = prepend
        self.fields = tuple(fields)
        self.syscalls = syscalls
        self.keys = tuple(keys)
        self.source = source
        self.lineno = lineno
        self.text = text
        self.line = _render(self, target)
        self._sig = None

    # Two rules are the same kernel rule exactly when they list the same.
    def __eq__(self, other):
        return isinstance(other, Rule) and self.line == other.line

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.line)

    def __repr__(self):
        return "Rule(%r)" % self.line

    @property
    def arch(self):
        for f in self.fields:
            if f.name == "arch":
                return f.value
        return None

    def is_watch(self):
        return _is_watch(self)

    def add_args(self, prepend=None):
        """auditctl arguments that add exactly this rule (no shell, no splitting).

        ``prepend`` overrides where it goes (-A front, -a end of its list).
        """
        front = self.prepend if prepend is None else prepend
        return [("-A" if front else "-a"), "%s,%s" % (self.action, self.list)] + self._body_args()

    def delete_args(self):
        """auditctl arguments that delete exactly this rule."""
        return ["-d", "%s,%s" % (self.action, self.list)] + self._body_args()

    def _body_args(self):
        args = []
        arch = self.arch
        for f in self.fields:
            if f.name == "arch":
                args += ["-F", "arch%s%s" % (f.op, f.value)]
        if self.list == "exit":
            args += ["-S", _syscall_arg(self.syscalls)]
        for f in self.fields:
            if f.name == "arch":
                continue
            if f.name == "field_compare":
                args += ["-C", "%s%s%s" % (f.value[0], f.op, f.value[1])]
            else:
                args += ["-F", "%s%s%s" % (f.name, f.op, _value_text(f, arch))]
        for key in self.keys:
            args += ["-F", "key=" + key]
        return args


def _syscall_arg(syscalls):
    return "all" if syscalls is ALL else ",".join(str(n) for n in syscalls)


class Control(object):
    """A control line of a rules file (-D, -b, -f, -e, -r, ...)."""

    __slots__ = ("option", "value", "source", "lineno", "text")

    def __init__(self, option, value=None, source=None, lineno=None, text=None):
        self.option = option
        self.value = value
        self.source = source
        self.lineno = lineno
        self.text = text

    @property
    def line(self):
        return self.option if self.value is None else "%s %s" % (self.option, self.value)

    def __repr__(self):
        return "Control(%r)" % self.line


class Deletion(object):
    """A -d or -W line: it removes a rule while the file loads."""

    __slots__ = ("rule", "source", "lineno", "text")

    def __init__(self, rule, source=None, lineno=None, text=None):
        self.rule = rule
        self.source = source
        self.lineno = lineno
        self.text = text

    @property
    def line(self):
        return self.text


# ---------------------------------------------------------------- tokenising

def tokenize(text):
    """Split one rules-file line like auditctl -R: on spaces only.

    ``\\ `` is a literal space inside a token and ``\\\\`` a backslash; a tab
    is an ordinary character (which is why tabs break rules).
    """
    if "\\" not in text:
        return [t for t in text.split(" ") if t]
    tokens = []
    cur = []
    i = 0
    n = len(text)
    started = False
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in (" ", "\\"):
            cur.append(text[i + 1])
            started = True
            i += 2
            continue
        if c == " ":
            if started:
                tokens.append("".join(cur))
                cur = []
                started = False
        else:
            cur.append(c)
            started = True
        i += 1
    if started:
        tokens.append("".join(cur))
    return tokens


def _getopt(tokens):
    """Pair options with their arguments the way getopt_long does for auditctl."""
    opts = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--"):
            name, eq, val = tok.partition("=")
            if name not in CONTROL_OPTIONS and name not in ("--signal", "--reset-lost"):
                raise RuleError("unknown option %s" % name)
            if CONTROL_OPTIONS.get(name):
                if not eq:
                    i += 1
                    if i >= len(tokens):
                        raise RuleError("option %s needs a value" % name)
                    val = tokens[i]
                opts.append((name, val))
            else:
                opts.append((name, None))
        elif tok.startswith("-") and len(tok) >= 2:
            letter = tok[1]
            if letter in _RULE_OPTS_WITH_ARG or letter in "befr":
                if len(tok) > 2:
                    opts.append(("-" + letter, tok[2:]))
                else:
                    i += 1
                    if i >= len(tokens):
                        raise RuleError("option -%s needs a value" % letter)
                    opts.append(("-" + letter, tokens[i]))
            elif letter in "Dcil" and len(tok) == 2:
                opts.append((tok, None))
            else:
                raise RuleError("unknown option %s" % tok)
        else:
            raise RuleError("'%s' is not an option (auditctl splits on spaces only; "
                            "escape a space in a value as '\\ ')" % tok)
        i += 1
    return opts


# ------------------------------------------------------------ value parsing

def _c_strtol(text):
    """C's strtol/strtoul with base 0 on the whole string, or None."""
    m = re.match(r"^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$", text)
    if not m:
        return None
    sign, digits = m.groups()
    if digits[:2].lower() == "0x":
        val = int(digits, 16)
    elif digits.startswith("0") and len(digits) > 1:
        val = int(digits, 8)
    else:
        val = int(digits)
    return -val if sign == "-" else val


def _u32(val):
    return val & 0xFFFFFFFF


def _s32(val):
    val = _u32(val)
    return val - 0x100000000 if val >= 0x80000000 else val


def _parse_value(name, op, raw, target, lst):
    if name in _UID_FIELDS:
        if raw == "unset":
            return _u32(-1)
        num = _c_strtol(raw)
        if num is None:
            num = target.user(raw)
            if num is None:
                raise RuleError("unknown user '%s' for field %s" % (raw, name))
        return _u32(num)
    if name in _GID_FIELDS:
        num = _c_strtol(raw)
        if num is None:
            num = target.group(raw)
            if num is None:
                raise RuleError("unknown group '%s' for field %s" % (raw, name))
        return _u32(num)
    if name in _INT_FIELDS or name in _ARG_FIELDS or name == "inode":
        num = _c_strtol(raw)
        if num is None:
            raise RuleError("field %s needs a number, not '%s'" % (name, raw))
        return _u32(num)
    if name == "exit":
        num = _c_strtol(raw)
        if num is None:
            neg = raw.startswith("-")
            num = _ERRNO_BY_NAME.get(raw[1:] if neg else raw)
            if num is None:
                raise RuleError("exit value '%s' is neither a number nor an errno name" % raw)
            num = -num if neg else num
        return _u32(num)
    if name == "msgtype":
        num = _c_strtol(raw)
        if num is None:
            num = _MSGTYPE_BY_NAME.get(raw.upper())
            if num is None:
                raise RuleError("unknown message type '%s'" % raw)
        return _u32(num)
    if name == "arch":
        arch = _ARCH_ALIASES.get(raw)
        if arch is None:
            raise RuleError("unknown arch '%s' (use b64 or b32)" % raw)
        if op not in ("=", "!="):
            raise RuleError("arch only takes = or !=")
        if arch not in target.syscalls:
            why = target.absent.get(arch)
            raise RuleError("arch %s is not supported on this host%s"
                            % (raw, " (%s)" % why if why else ""))
        return arch
    if name == "perm":
        return _perm_bits(raw)
    if name == "filetype":
        if raw in FILETYPES:
            return FILETYPES[raw]
        num = _c_strtol(raw)
        if num is None:
            raise RuleError("unknown file type '%s' (one of %s)" % (raw, ", ".join(sorted(FILETYPES))))
        return _u32(num)
    if name == "fstype":
        if raw not in FSTYPES:
            raise RuleError("unknown fstype '%s' (one of %s)" % (raw, ", ".join(sorted(FSTYPES))))
        return raw
    if name in _PATH_FIELDS:
        _check_path(raw, name)
        return raw
    if name in _STR_FIELDS:
        if op not in ("=", "!="):
            raise RuleError("field %s only takes = or !=" % name)
        return raw
    raise RuleError("unknown field '%s'" % name)  # pragma: no cover - guarded by caller


def _perm_bits(raw):
    if not raw or len(raw) > 4:
        raise RuleError("permission '%s' must be 1 to 4 of the letters r, w, x, a" % raw)
    perms = set()
    for ch in raw.lower():
        if ch not in "rwxa":
            raise RuleError("permission letter '%s' is not one of r, w, x, a" % ch)
        perms.add(ch)
    return "".join(ch for ch in "rwxa" if ch in perms)


def _check_path(path, what):
    if not path.startswith("/"):
        raise RuleError("%s '%s' must be an absolute path" % (what, path))
    if len(path) >= 4096:
        raise RuleError("%s is longer than PATH_MAX" % what)
    if len(path.rstrip("/").rsplit("/", 1)[-1]) > 255:
        raise RuleError("the last component of %s '%s' is longer than NAME_MAX" % (what, path))
    if "*" in path or "?" in path:
        raise RuleError("%s '%s' contains a wildcard, which audit does not support" % (what, path))


def _split_pair(pair):
    for op in OPERATORS:
        pos = pair.find(op)
        if pos > 0:
            return pair[:pos], op, pair[pos + len(op):]
    raise RuleError("'%s' is not of the form field<op>value" % pair)


# --------------------------------------------------------------- rendering

def _value_text(field, arch):
    name, val = field.name, field.value
    if name in ("arch", "fstype", "perm") or name in _PATH_FIELDS or name in _STR_FIELDS:
        return val
    if name == "msgtype":
        return MSGTYPES.get(val, str(_s32(val)))
    if name == "exit":
        sval = _s32(val)
        if sval < 0 and -sval in ERRNOS:
            return "-" + ERRNOS[-sval]
        return str(sval)
    if name in _ARG_FIELDS:
        return "0x%X" % val
    if name == "inode":
        return str(val)
    return str(_s32(val))


def _is_watch(rule):
    if rule.list != "exit" or rule.syscalls is not ALL:
        return False
    names = [f.name for f in rule.fields]
    return "perm" in names and all(n in ("path", "dir", "perm") for n in names)


def _render(rule, target):
    if _is_watch(rule):
        out = []
        for f in rule.fields:
            out.append(("-w " + f.value) if f.name in ("path", "dir") else (" -p " + f.value))
        return "".join(out) + "".join(" -k " + k for k in rule.keys)
    arch = rule.arch
    out = ["-a %s,%s" % (rule.action, rule.list)]
    for f in rule.fields:
        if f.name == "arch":
            out.append(" -F arch%s%s" % (f.op, f.value))
    if rule.list == "exit":
        if rule.syscalls is ALL:
            out.append(" -S all")
        else:
            names = [target.syscall_name(arch, n) or str(n) for n in rule.syscalls]
            out.append(" -S " + ",".join(names))
    for f in rule.fields:
        if f.name == "arch":
            continue
        if f.name == "field_compare":
            out.append(" -C %s%s%s" % (f.value[0], f.op, f.value[1]))
        else:
            out.append(" -F %s%s%s" % (f.name, f.op, _value_text(f, arch)))
    out.extend(" -F key=" + k for k in rule.keys)
    return "".join(out)


# ----------------------------------------------------------------- parsing

def parse_line(text, target, source=None, lineno=None):
    """Parse one rules-file line into a Rule, Control, Deletion, or None.

    None means a blank or comment line. Raises RuleError naming the line and
    the problem for anything auditctl would reject, or accept but not as
    written (tabs, carriage returns, inline comments, -S on a watch, ...).
    """
    try:
        return _parse_line(text, target, source, lineno)
    except RuleError as exc:
        raise exc.located(text.rstrip("\n"), source, lineno)


def _parse_line(text, target, source, lineno):
    raw = text.rstrip("\n")
    if "\r" in raw:
        raise RuleError("carriage return (CRLF line end): auditctl would keep it inside the last value")
    stripped = raw.lstrip(" ")
    if not stripped or stripped.startswith("#"):
        return None
    if "\t" in raw:
        raise RuleError("tab character: auditctl splits on spaces only, so the rule would break")
    tokens = tokenize(raw)
    if "#" in tokens[1:] or any(t.startswith("#") for t in tokens[1:]):
        raise RuleError("inline comment: auditctl only accepts comments on their own line")
    opts = _getopt(tokens)
    first = opts[0][0]
    if first in CONTROL_OPTIONS or first == "-l":
        return _parse_control(opts, source, lineno, raw)
    return _parse_rule(opts, target, source, lineno, raw)


def _parse_control(opts, source, lineno, raw):
    option, value = opts[0]
    if option == "-l":
        raise RuleError("-l lists rules; it does not belong in a rules file")
    rest = opts[1:]
    if option == "-D" and rest and rest[0][0] == "-k" and len(rest) == 1:
        raise RuleError("'-D -k KEY' deletes every rule whose key contains KEY as a substring; "
                        "remove rules one by one instead")
    if rest:
        raise RuleError("a control line takes one option, found %d" % len(opts))
    if CONTROL_OPTIONS[option]:
        if value is None or _c_strtol(value) is None or _c_strtol(value) < 0:
            raise RuleError("%s needs a non-negative number, not '%s'" % (option, value))
        if option in ("-e", "-f") and value not in ("0", "1", "2"):
            raise RuleError("%s must be 0, 1 or 2, not '%s'" % (option, value))
    return Control(option, value, source, lineno, raw)


def _parse_rule(opts, target, source, lineno, raw):
    lst = action = None
    prepend = deleting = watch = False
    fields = []
    keys = []
    syscall_args = []
    for opt, arg in opts:
        if opt in ("-a", "-A", "-d"):
            if lst is not None:
                raise RuleError("only one -a, -A, -d or -w per rule")
            lst, action = _list_action(arg)
            prepend = opt == "-A"
            deleting = opt == "-d"
        elif opt in ("-w", "-W"):
            if lst is not None:
                raise RuleError("-w cannot be combined with -a/-A/-d")
            path = arg
            _check_path(path, "watch path")
            if len(path) > 2:
                path = path.rstrip("/") or "/"
            lst, action, watch, deleting = "exit", "always", True, opt == "-W"
            # auditctl adds the path and an "all" perm together; -p later
            # changes that perm field in place.
            fields.append(Field("dir" if target.is_dir(path) else "path", "=", path))
            fields.append(Field("perm", "=", "rwxa"))
        elif lst is None:
            raise RuleError("%s must come after -a, -A, -d or -w" % opt)
        elif opt == "-p":
            perm = Field("perm", "=", _perm_bits(arg))
            at = [i for i, f in enumerate(fields) if f.name == "perm"]
            if at:
                fields[at[0]] = perm
            else:
                fields.append(perm)
        elif opt == "-S":
            if watch:
                raise RuleError("-S on a watch: auditctl silently drops it; use "
                                "-a always,exit -F arch=... -S ... -F path=... instead")
            if lst != "exit":
                raise RuleError("syscalls (-S) can only be used with the exit list")
            syscall_args.append(arg)
        elif opt == "-F":
            name, op, value = _split_pair(arg)
            if name == "key":
                if op != "=":
                    raise RuleError("key only takes =")
                keys.append(value)
                continue
            name = FIELD_ALIASES.get(name, name)
            if name not in FIELD_NAMES:
                raise RuleError("unknown field '%s'" % name)
            why = _field_allowed(name, lst)
            if why:
                raise RuleError(why)
            if name == "arch" and syscall_args:
                raise RuleError("-F arch must come before -S (auditctl refuses it after)")
            fields.append(Field(name, op, _parse_value(name, op, value, target, lst)))
        elif opt == "-C":
            fields.append(_parse_compare(arg))
        elif opt == "-k":
            keys.append(arg)
        else:
            raise RuleError("%s cannot be part of a rule" % opt)
    return _finish_rule(lst, action, prepend, deleting, fields, keys, syscall_args,
                        target, source, lineno, raw)


def _list_action(arg):
    parts = arg.split(",")
    if len(parts) != 2:
        raise RuleError("'%s' must be list,action (for example always,exit)" % arg)
    a, b = parts
    if a in ACTIONS and b in LISTS:
        return b, a
    if b in ACTIONS and a in LISTS:
        return a, b
    if "possible" in parts:
        raise RuleError("the action 'possible' is deprecated and ignored by auditctl")
    if "entry" in parts:
        raise RuleError("the entry list is no longer supported by the kernel; use exit")
    raise RuleError("'%s' is not a list,action pair (lists: %s; actions: never, always)"
                    % (arg, ", ".join(LISTS)))


def _parse_compare(arg):
    for op in ("!=", "="):
        if op in arg:
            left, right = arg.split(op, 1)
            left = FIELD_ALIASES.get(left, left)
            right = FIELD_ALIASES.get(right, right)
            pair = _COMPARE.get(frozenset((left, right)))
            if pair is None or left == right:
                raise RuleError("-C %s compares fields the kernel cannot compare" % arg)
            return Field("field_compare", op, pair)
    raise RuleError("-C '%s' must be field=field or field!=field" % arg)


def _finish_rule(lst, action, prepend, deleting, fields, keys, syscall_args, target,
                 source, lineno, raw):
    arch = None
    for f in fields:
        if f.name == "arch":
            arch = f.value
    syscalls = ALL
    if lst == "exit" and syscall_args:
        syscalls = _resolve_syscalls(syscall_args, arch, target)
    names = [f.name for f in fields]
    count = len(fields) + (1 if keys else 0)
    if count > MAX_FIELDS:
        raise RuleError("too many fields (%d, the kernel allows %d including the key)"
                        % (count, MAX_FIELDS))
    for key in keys:
        if KEY_SEP in key:
            raise RuleError("key '%s' contains the \\x01 separator" % key)
        if not key:
            raise RuleError("empty key")
    if len(KEY_SEP.join(keys)) > MAX_KEY_LEN:
        raise RuleError("keys are %d characters long, the kernel allows %d"
                        % (len(KEY_SEP.join(keys)), MAX_KEY_LEN))
    if keys and lst == "exclude":
        raise RuleError("rules on the exclude list cannot have a key")
    if lst == "filesystem" and "fstype" not in names:
        raise RuleError("a filesystem list rule needs -F fstype=")
    rule = Rule(lst, action, fields, syscalls, keys, target, prepend=prepend,
                source=source, lineno=lineno, text=raw)
    if action == "never" and rule.is_watch():
        raise RuleError("a never rule with only path and perm fields is listed by auditctl "
                        "as an always watch (-w); add -F arch= or another field")
    if deleting:
        return Deletion(rule, source, lineno, raw)
    return rule


def _resolve_syscalls(args, arch, target):
    numbers = set()
    for arg in args:
        for name in arg.split(","):
            if name == "all":
                return ALL
            num = _c_strtol(name)
            if num is None:
                num = target.syscall_number(arch, name)
                if num is None:
                    raise RuleError("syscall '%s' does not exist for arch %s on this host"
                                    % (name, arch or target.native + " (no arch given)"))
            if not 0 <= num < 2048:
                raise RuleError("syscall number %s is out of range" % name)
            numbers.add(num)
    return tuple(sorted(numbers))


class SyscallGap(object):
    """A desired rule that names what the target's kernel does not have.

    ``missing`` are the syscall names absent from the table of the rule's
    arch, ``no_abi`` is true when the kernel has no ABI for that arch at all
    (``-F arch=b32`` without 32-bit support). ``kept`` is the rule with the
    missing names dropped, or None when the rule is left out: no syscall
    left (an exit rule without -S would match every syscall), no ABI, or
    ``duplicate`` (the position of an equal rule) once the names are dropped.
    """

    __slots__ = ("lineno", "text", "arch", "missing", "no_abi", "kept", "duplicate")

    def __init__(self, lineno, text, arch, missing, no_abi, kept):
        self.lineno = lineno
        self.text = text
        self.arch = arch
        self.missing = missing
        self.no_abi = no_abi
        self.kept = kept
        self.duplicate = None

    def describe(self, target):
        label = target.arch_label(self.arch)
        if self.no_abi:
            why = target.absent.get(self.arch)
            problem = "this kernel has no arch %s ABI%s" % (self.arch, " (%s)" % why if why else "")
        else:
            problem = "syscall%s %s %s not in the syscall table of arch %s" % (
                "s" if len(self.missing) > 1 else "", ", ".join(self.missing),
                "are" if len(self.missing) > 1 else "is", label)
        if self.kept is not None:
            return "%s; kept as '%s'" % (problem, self.kept)
        if self.duplicate is not None:
            return "%s; what is left duplicates rule %d, so the rule is left out" % (
                problem, self.duplicate)
        if self.no_abi:
            return "%s, so the rule is left out" % problem
        return "%s and no other syscall is left, so the rule is left out" % problem

    def as_dict(self, target):
        return {"rule": self.text, "position": self.lineno, "arch": self.arch,
                "table": target.tables.get(self.arch or target.native),
                "missing_syscalls": list(self.missing), "no_abi": self.no_abi,
                "kept": self.kept, "reason": self.describe(target)}


def _quote(token):
    return token.replace("\\", "\\\\").replace(" ", "\\ ")


def _syscall_gap(text, target, lineno):
    """The SyscallGap of one rules line, or None (also for lines the parser
    will refuse anyway: it names their problem better)."""
    raw = text.rstrip("\n")
    stripped = raw.lstrip(" ")
    if not stripped or stripped.startswith("#") or "\r" in raw or "\t" in raw:
        return None
    try:
        opts = _getopt(tokenize(raw))
    except RuleError:
        return None
    if not opts or opts[0][0] not in ("-a", "-A"):
        return None
    try:
        if _list_action(opts[0][1] or "")[0] != "exit":
            return None
    except RuleError:
        return None
    arch = None
    for opt, arg in opts:
        if opt == "-F" and arg is not None:
            try:
                name, _op, value = _split_pair(arg)
            except RuleError:
                return None
            if name == "arch":
                arch = _ARCH_ALIASES.get(value)
                if arch is None:
                    return None
    if not target.has_abi(arch):
        return SyscallGap(lineno, raw, arch, [], True, None)
    table = target.syscalls[arch or target.native]
    missing = []
    kept_opts = []
    left = False
    for opt, arg in opts:
        if opt != "-S":
            kept_opts.append((opt, arg))
            continue
        names = arg.split(",")
        if "all" in names:
            return None
        present = [n for n in names if n in table or _c_strtol(n) is not None]
        missing.extend(n for n in names if n not in present and n not in missing)
        if present:
            left = True
            kept_opts.append((opt, ",".join(present)))
    if not missing:
        return None
    unknown = [n for n in missing if not target.known_anywhere(n)]
    if unknown:
        raise RuleError("unknown syscall%s %s: no architecture's syscall table has %s (a typo?)"
                        % ("s" if len(unknown) > 1 else "", ", ".join(unknown),
                           "them" if len(unknown) > 1 else "it"), raw, None, lineno)
    kept = None
    if left:
        kept = " ".join(_quote(t) for opt, arg in kept_opts
                        for t in ((opt,) if arg is None else (opt, arg)))
    return SyscallGap(lineno, raw, arch, missing, False, kept)


def drop_absent_syscalls(lines, target):
    """Fit desired rules to the target's syscall tables. -> (lines, gaps)

    A syscall name the table of a rule's arch lacks (``open`` on aarch64,
    which only has ``openat``) is dropped from the rule; a rule left with no
    syscall, a rule for an arch the kernel has no ABI for, and a rule that
    dropping made equal to another rule are replaced by an empty line, so
    positions stay those of ``lines``. ``gaps`` lists a SyscallGap for every
    rule touched. Lines the parser refuses are returned unchanged.
    """
    out = list(lines)
    gaps = []
    for pos, text in enumerate(lines, 1):
        gap = _syscall_gap(text, target, pos)
        if gap is None:
            continue
        gaps.append(gap)
        out[pos - 1] = gap.kept if gap.kept is not None else ""
    if any(g.kept is not None for g in gaps):
        _drop_duplicates(out, gaps, target)
    return out, gaps


def _drop_duplicates(lines, gaps, target):
    """Leave out a reduced rule that equals another rule: one kept as
    written, wherever it stands, or a reduced one before it (the first such
    position is its ``duplicate``).

    Linear: only reduced rules are ever left out, so for each canonical line
    the first rule kept as written never changes, and the first rule still
    there only moves past the reduced ones left out.
    """
    canonical = {}           # position -> canonical line
    for pos, text in enumerate(lines, 1):
        try:
            entry = parse_line(text, target, None, pos)
        except RuleError:
            continue
        if isinstance(entry, Rule):
            canonical[pos] = entry.line
    reduced = set(g.lineno for g in gaps if g.kept is not None)
    positions = {}           # canonical line -> its positions, in order
    first_plain = {}         # canonical line -> first position kept as written
    for pos, line in canonical.items():
        positions.setdefault(line, []).append(pos)
        if pos not in reduced and line not in first_plain:
            first_plain[line] = pos
    start = dict((line, 0) for line in positions)   # first entry still there
    for gap in gaps:
        line = canonical.get(gap.lineno)
        if gap.kept is None or line is None:
            continue
        at = positions[line]
        i = start[line]
        while at[i] not in canonical:
            i += 1
        start[line] = i
        first = at[i]          # never after gap.lineno: that one is still there
        if first != gap.lineno:
            duplicate = first
        else:
            duplicate = first_plain.get(line)
        if duplicate is not None:
            gap.kept, gap.duplicate = None, duplicate
            lines[gap.lineno - 1] = ""
            del canonical[gap.lineno]


# ----------------------------------------------------- files and listings

class ParsedFile(object):
    """What one rules text holds, line by line, with the problems found."""

    def __init__(self):
        self.entries = []      # Rule, Control and Deletion objects in file order
        self.problems = []     # RuleError objects for lines that would fail or mislead

    @property
    def rules(self):
        return [e for e in self.entries if isinstance(e, Rule)]

    @property
    def controls(self):
        return [e for e in self.entries if isinstance(e, Control)]


def parse_text(text, target, source=None, strict=True):
    """Parse a rules file. strict: raise on the first bad line, else collect."""
    parsed = ParsedFile()
    for lineno, raw in enumerate(text.split("\n"), 1):
        try:
            entry = parse_line(raw, target, source, lineno)
        except RuleError as exc:
            if strict:
                raise
            parsed.problems.append(exc)
            continue
        if entry is not None:
            parsed.entries.append(entry)
    return parsed


def parse_rules(lines, target, source=None):
    """Parse the desired rules given as a list of lines; rejects control lines.

    Raises RuleError for the first bad rule, naming its position (1-based).
    """
    rules = []
    seen = {}
    for pos, text in enumerate(lines, 1):
        entry = parse_line(text, target, source, pos)
        if entry is None:
            continue
        if isinstance(entry, Control):
            raise RuleError("%s is a control line, not a rule; manage it with "
                            "immutable.audit.audit_control" % entry.option, text, source, pos)
        if isinstance(entry, Deletion):
            raise RuleError("a deletion (-d/-W) does not belong in a desired rule set",
                            text, source, pos)
        if entry.line in seen:
            raise RuleError("duplicate of rule %d (the kernel holds a rule once and "
                            "auditctl -R stops at the duplicate)" % seen[entry.line],
                            text, source, pos)
        seen[entry.line] = pos
        rules.append(entry)
    return rules


def parse_listing(text, target):
    """Parse ``auditctl -l`` output into Rules (their line is the listed text).

    Values may hold spaces (keys, paths), which the listing prints raw; a token
    that is no option is glued back onto the value before it. A watch line
    does not say whether it is a path or a directory watch; like ``auditctl
    -W``, ask the host (a trailing slash only comes from ``-F dir=``).
    """
    rules = []
    for raw in text.splitlines():
        raw = raw.rstrip()
        if not raw or raw == "No rules":
            continue
        tokens = []
        for tok in raw.split(" "):
            if len(tokens) >= 2 and not tok.startswith("-") and tokens[-2].startswith("-"):
                tokens[-1] += " " + tok
            else:
                tokens.append(tok)
        if raw.startswith(" -p "):
            tokens = _perm_first_watch(raw)
        if tokens[0] == "-w":
            tokens = _explicit_watch(tokens, target)
        escaped = " ".join(t.replace("\\", "\\\\").replace(" ", "\\ ") for t in tokens)
        try:
            rule = _parse_line(escaped, target, None, None)
        except RuleError as exc:
            raise RuleError("cannot parse the kernel listing: %s" % exc.problem, raw)
        if not isinstance(rule, Rule):
            raise RuleError("unexpected line in the kernel listing", raw)
        # Trust the kernel: its exact text is the rule's identity.
        rule.line = rule.text = raw
        rules.append(rule)
    return rules


def _perm_first_watch(raw):
    """Tokens of a watch listed with its perm first: ' -p wa-w /path -k key'.

    The kernel holds such rules (written with -F perm= before -F path=) and
    auditctl prints them glued together; rebuild the fields in stored order.
    """
    m = re.match(r"^ -p ([rwxa]+)(?:-w (.*?))?((?: -k .*)?)$", raw)
    if not m:
        raise RuleError("cannot parse the kernel listing", raw)
    perm, path, keys = m.groups()
    out = ["-a", "always,exit", "-F", "perm=" + perm]
    if path is not None:
        out += ["-F", "path=" + path]
    for key in keys.split(" -k ")[1:]:
        out += ["-F", "key=" + key]
    return out


def _explicit_watch(tokens, target):
    path = tokens[1]
    kind = "dir" if (path.endswith("/") and len(path) > 1) or target.is_dir(path) else "path"
    out = ["-a", "always,exit", "-F", "%s=%s" % (kind, path)]
    rest = tokens[2:]
    for opt, val in zip(rest[::2], rest[1::2]):
        out += ["-F", ("perm=" if opt == "-p" else "key=") + val]
    return out


def effective_order(rules):
    """The order the kernel lists ``rules`` in after loading them one by one.

    Lists come in kernel order; inside a list, -A rules go to the front.
    """
    front = dict((lst, []) for lst in LISTS)
    back = dict((lst, []) for lst in LISTS)
    for rule in rules:
        if rule.list in back:
            (front if rule.prepend else back)[rule.list].append(rule)
    ordered = []
    for lst in LISTS:
        # Each -A goes before all earlier ones: the last -A comes first.
        ordered.extend(reversed(front[lst]))
        ordered.extend(back[lst])
    return ordered


def render_file(rules, header):
    """The text of a managed rules file: header comment lines, then the rules.

    Rules are written in their canonical form so that the file, the desired
    list and the kernel listing compare line by line. Where the listed form
    cannot be loaded as it stands (a -A rule, values with spaces, a watch
    whose perm field comes first, a dir watch with a trailing slash that -w
    would strip), the explicit argument list is written.
    """
    lines = ["# " + h if h else "#" for h in header]
    for rule in rules:
        slash = rule.is_watch() and any(
            f.name == "dir" and len(f.value) > 1 and f.value.endswith("/") for f in rule.fields)
        if rule.prepend or slash or rule.line.startswith(" ") or " " in "".join(rule.add_args()[2:]):
            lines.append(" ".join(a.replace("\\", "\\\\").replace(" ", "\\ ")
                                  for a in rule.add_args()))
        else:
            lines.append(rule.line)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- planning

def _signature(rule):
    """What decides whether two rules can ever match the same event."""
    if rule._sig is None:
        single = {}
        arch = None
        for f in rule.fields:
            if f.op != "=":
                continue
            if f.name == "arch":
                arch = f.value
            elif f.name in _UID_FIELDS or f.name in _GID_FIELDS or f.name in (
                    "pid", "ppid", "pers", "exe", "success", "exit", "msgtype") + _STR_FIELDS[:5]:
                single[f.name] = f.value
        rule._sig = (arch, None if rule.syscalls is ALL else frozenset(rule.syscalls), single)
    return rule._sig


def _watched_path(rule):
    for f in rule.fields:
        if f.name == "path":
            return f.value
    return None


def may_overlap(a, b):
    """False only when the kernel's choice between the two rules cannot
    depend on their order, so either order behaves the same.

    Rules on different lists never interact. A rule with a path field (every
    -w on a file) lives in the kernel's per-inode hash, not in the exit list:
    the kernel checks the exit list first, then each name of the event
    against the inode rules, and an inode rule that matches decides the state
    and key whatever the exit list said. So a path rule only competes with
    path rules on the same path (two hard links to one inode are the one case
    this cannot see). Other rules are independent when they name different
    arches, disjoint syscall sets, or different values of a field that one
    event has only once (auid, uid, exe, msgtype, ...). Directory watches stay
    in the exit list and cover everything below them, so they are ordered.
    """
    if a.list != b.list:
        return False
    path_a, path_b = _watched_path(a), _watched_path(b)
    if path_a is not None or path_b is not None:
        return path_a == path_b
    arch_a, sys_a, single_a = _signature(a)
    arch_b, sys_b, single_b = _signature(b)
    if arch_a and arch_b and arch_a != arch_b:
        return False
    if sys_a is not None and sys_b is not None and not (sys_a & sys_b):
        return False
    for name, value in single_a.items():
        if name in single_b and single_b[name] != value:
            return False
    return True


class Plan(object):
    """Kernel operations, in the order they must run.

    ``prepend``: rules added with -A (already in -A order: last first);
    ``twins``: temporary stand-ins added before a rule that has to move is
    deleted, so its events stay audited; ``move``: rules deleted and appended
    again because the desired order puts them after a new rule they overlap;
    ``append``: rules added with -a in order (new and moved ones);
    ``delete``: rules no longer wanted, deleted last.
    """

    def __init__(self):
        self.prepend = []
        self.twins = []
        self.move = []
        self.append = []
        self.delete = []

    @property
    def added(self):
        moved = set(r.line for r in self.move)
        return [r for r in list(reversed(self.prepend)) + self.append if r.line not in moved]

    @property
    def removed(self):
        return list(self.delete)

    def __bool__(self):
        return bool(self.prepend or self.append or self.delete or self.move)

    __nonzero__ = __bool__

    def operations(self):
        """(verb, rule) pairs: 'add' appends, 'prepend' adds with -A, 'delete' removes."""
        ops = [("prepend", r) for r in self.prepend]
        ops += [("add", t) for t in self.twins]
        ops += [("delete", r) for r in self.move]
        ops += [("add", r) for r in self.append]
        ops += [("delete", t) for t in self.twins]
        ops += [("delete", r) for r in self.delete]
        return ops

    def arg_lists(self):
        """The auditctl argument list of every operation, in order."""
        return [r.delete_args() if verb == "delete" else r.add_args(prepend=verb == "prepend")
                for verb, r in self.operations()]


def simulate(live, plan_):
    """The listing the kernel will show after ``plan_`` runs on ``live``.

    Used for the predicted "after" in check mode and to verify a real run:
    the listing afterwards must be exactly this.
    """
    lists = dict((lst, _Sequence()) for lst in LISTS)
    for rule in live:
        lists[rule.list].append(rule.line)
    for verb, rule in plan_.operations():
        seq = lists[rule.list]
        if verb == "prepend":
            seq.prepend(rule.line)
        elif verb == "add":
            seq.append(rule.line)
        else:
            seq.remove(rule.line)
    return [line for lst in LISTS for line in lists[lst].lines()]


class _Sequence(object):
    """A list of lines that only grows at its ends and loses first
    occurrences (what list.insert(0, x), append(x) and remove(x) do), each
    in constant time.

    Every element gets a slot number: prepends count down from 0, appends
    up, so the slots in order are the list. ``_slots`` holds the occupied
    slots of each line: the slot, or a deque of them in order when a line
    occurs more than once (as a list allows); the first occurrence is always
    the leftmost slot.
    """

    __slots__ = ("_line", "_slots", "_lo", "_hi")

    def __init__(self):
        self._line = {}                          # slot -> line
        self._slots = {}                         # line -> slot, or deque of slots
        self._lo = self._hi = 0                  # slots used: [_lo, _hi)

    def _file(self, line, slot, left):
        self._line[slot] = line
        slots = self._slots.get(line)
        if slots is None:
            self._slots[line] = slot
            return
        if not isinstance(slots, collections.deque):
            slots = self._slots[line] = collections.deque((slots,))
        if left:
            slots.appendleft(slot)
        else:
            slots.append(slot)

    def append(self, line):
        self._file(line, self._hi, False)
        self._hi += 1

    def prepend(self, line):
        self._lo -= 1
        self._file(line, self._lo, True)

    def remove(self, line):
        """Drop the first occurrence of ``line``, if there is one."""
        slots = self._slots.get(line)
        if slots is None:
            return
        if isinstance(slots, collections.deque):
            if not slots:
                return
            slot = slots.popleft()
        else:
            slot = slots
            del self._slots[line]
        del self._line[slot]

    def lines(self):
        return [self._line[i] for i in range(self._lo, self._hi) if i in self._line]


def missing_path(rule, target):
    """The directory whose absence makes the kernel refuse ``rule``, or None.

    A path watch needs its parent directory, a directory watch the directory
    itself; a watched file may be missing (it is watched from its parent).
    """
    for f in rule.fields:
        if f.name == "path" and f.op == "=":
            parent = f.value.rstrip("/").rsplit("/", 1)[0] or "/"
            if not target.is_dir(parent):
                return parent
        elif f.name == "dir" and f.op == "=" and not target.is_dir(f.value):
            return f.value
    return None


TWIN_KEY = "immutable-audit-moving"


def twin(rule, target):
    """A stand-in for ``rule`` that matches the same events but is another rule.

    The kernel refuses a second copy of a rule, so a rule that has to move is
    deleted and added again; its twin (the same rule with one more key) keeps
    its events audited meanwhile. None where the list takes no key.
    """
    if rule.list != "exit" or len(KEY_SEP.join(rule.keys + (TWIN_KEY,))) > MAX_KEY_LEN:
        return None
    return Rule(rule.list, rule.action, rule.fields, rule.syscalls, rule.keys + (TWIN_KEY,),
                target)


def plan(desired, live, target, managed=None):
    """Operations that turn the ``live`` listing into the ``desired`` rules.

    ``desired``: parsed rules in file order (-A respected). ``live``: the
    kernel listing. ``managed``: lines of rules this call may delete (None:
    every live rule not desired is deleted, the exclusive mode).

    The kernel only appends (-a) or prepends (-A) and deletes by identity.
    Rules already live stay where they are unless the desired order needs
    them after a new rule they may overlap (see may_overlap); those move,
    covered by a twin while they do. New rules ahead of every kept rule are
    prepended. Unchanged rules in place are never deleted.
    """
    desired = effective_order(desired)
    result = Plan()
    wanted = set(r.line for r in desired)
    for lst in LISTS:
        want = [r for r in desired if r.list == lst]
        have = [r for r in live if r.list == lst]
        _plan_list(want, have, result, target)
    for rule in live:
        if rule.line not in wanted and (managed is None or rule.line in managed):
            result.delete.append(rule)
    return result


class _OverlapIndex(object):
    """Rules of one filter list, each with a number, searchable by may_overlap.

    ``highest(rule)`` is the highest number among the stored rules that
    ``may_overlap(rule, stored)`` is true for, or None: the same answer as
    comparing ``rule`` with every stored rule, in about one dict lookup per
    shape of stored rule (and per syscall of ``rule``) instead of one
    comparison per stored rule.

    may_overlap looks at three things. Rules with a path field only compete
    with rules on the same path: a dict by path. The others are compared
    through _signature, the arch, the syscall set and the single-valued
    fields, and differ only where both rules have a value. So the rules are
    grouped by shape (whether they have an arch, whether a syscall set, which
    single-valued fields); within a group, the rules a query may overlap are
    exactly those whose values equal the query's on the parts both have, one
    of them the syscall when both have sets (a rule is filed under each of
    its syscalls). Each group keeps one dict per such choice of parts, built
    on the first query that needs it and kept up to date by ``add``.
    """

    def __init__(self):
        self._paths = {}     # watched path -> highest number
        self._groups = {}    # (has arch, has syscalls, field names) -> _OverlapGroup

    def add(self, rule, number):
        path = _watched_path(rule)
        if path is not None:
            if path not in self._paths or self._paths[path] < number:
                self._paths[path] = number
            return
        sig = _signature(rule)
        shape = (sig[0] is not None, sig[1] is not None, frozenset(sig[2]))
        group = self._groups.get(shape)
        if group is None:
            group = self._groups[shape] = _OverlapGroup(*shape)
        group.add(sig, number)

    def highest(self, rule):
        path = _watched_path(rule)
        if path is not None:
            return self._paths.get(path)
        sig = _signature(rule)
        best = None
        for group in self._groups.values():
            found = group.highest(sig)
            if found is not None and (best is None or found > best):
                best = found
        return best


class _OverlapGroup(object):
    """The rules of one shape in an _OverlapIndex (see there)."""

    __slots__ = ("has_arch", "has_syscalls", "names", "members", "views")

    def __init__(self, has_arch, has_syscalls, names):
        self.has_arch = has_arch
        self.has_syscalls = has_syscalls
        self.names = names
        self.members = []        # (signature, number)
        self.views = {}          # (use arch, field names, use syscalls) -> {key: highest}

    @staticmethod
    def _file(view, spec, sig, number):
        use_arch, names, use_syscalls = spec
        key = ((sig[0],) if use_arch else ()) + tuple(sig[2][n] for n in names)
        for k in ([key + (s,) for s in sig[1]] if use_syscalls else [key]):
            if k not in view or view[k] < number:
                view[k] = number

    def add(self, sig, number):
        self.members.append((sig, number))
        for spec, view in self.views.items():
            self._file(view, spec, sig, number)

    def highest(self, sig):
        arch, syscalls, single = sig
        use_arch = arch is not None and self.has_arch
        names = tuple(sorted(n for n in single if n in self.names))
        use_syscalls = syscalls is not None and self.has_syscalls
        spec = (use_arch, names, use_syscalls)
        view = self.views.get(spec)
        if view is None:
            view = self.views[spec] = {}
            for member, number in self.members:
                self._file(view, spec, member, number)
        key = ((arch,) if use_arch else ()) + tuple(single[n] for n in names)
        if not use_syscalls:
            return view.get(key)
        best = None
        for s in syscalls:
            found = view.get(key + (s,))
            if found is not None and (best is None or found > best):
                best = found
        return best


def _plan_list(want, have, result, target):
    have_pos = dict((r.line, i) for i, r in enumerate(have))
    # New rules before the first rule that is already live are prepended.
    lead = 0
    while lead < len(want) and want[lead].line not in have_pos:
        lead += 1
    if lead < len(want):
        result.prepend.extend(reversed(want[:lead]))
        rest = want[lead:]
    else:
        rest = want          # nothing of this list is live yet: append in order
    appended = []            # rules that end up after every kept rule
    after = _OverlapIndex()  # appended[:indexed]: indexes grow only when asked
    indexed = 0
    kept = []                # (position in have, rule)
    kept_index = _OverlapIndex()   # kept[:kept_indexed], numbered by position
    kept_indexed = 0
    last_kept = -1           # the highest position kept so far
    for rule in rest:
        pos = have_pos.get(rule.line)
        if pos is None:
            appended.append(rule)
            continue
        # A rule stays unless it may overlap an appended rule or a kept rule
        # that sits after it in the kernel; while the order agrees there is
        # no such kept rule to look for.
        for new in appended[indexed:]:
            after.add(new, 0)
        indexed = len(appended)
        blocked = after.highest(rule) is not None
        if not blocked and last_kept > pos:
            for p, k in kept[kept_indexed:]:
                kept_index.add(k, p)
            kept_indexed = len(kept)
            clash = kept_index.highest(rule)
            blocked = clash is not None and clash > pos
        if blocked:
            appended.append(rule)
            result.move.append(have[pos])
            stand_in = twin(have[pos], target)
            if stand_in is not None:
                result.twins.append(stand_in)
        else:
            kept.append((pos, rule))
            last_kept = max(last_kept, pos)
    result.append.extend(appended)


def drift(desired, live, target, managed=None):
    """How ``live`` differs from ``desired``, in the planner's terms.

    missing: desired rules the kernel lacks; extra: live rules to delete
    (only those in ``managed``, unless it is None); out_of_order: live rules
    that would have to move because their order changes what the kernel does
    (an order difference between independent rules is no drift, see
    may_overlap). A rule desired twice counts once, as the kernel holds it once.
    """
    unique = []
    seen = set()
    for rule in desired:
        if rule.line not in seen:
            seen.add(rule.line)
            unique.append(rule)
    planned = plan(unique, live, target, managed)
    live_lines = set(r.line for r in live)
    return {"missing": [r.line for r in effective_order(unique) if r.line not in live_lines],
            "extra": [r.line for r in planned.delete],
            "out_of_order": [r.line for r in planned.move]}
