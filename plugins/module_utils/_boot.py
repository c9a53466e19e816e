# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel command-line parameters: the running kernel's, GRUB_CMDLINE_LINUX
in /etc/default/grub, grubby's entries and grub.cfg's linux lines. Pure: text
in, text or plans out.

/etc/default/grub is a shell fragment that grub-mkconfig sources, so the
value of GRUB_CMDLINE_LINUX is edited inside its quotes, word by word, and
every byte outside the words that change is kept.
"""

from __future__ import annotations

import collections
import re

VARIABLE = "GRUB_CMDLINE_LINUX"
_NAME = re.compile(r"[A-Za-z0-9_.-]+$")
# Characters that would need quoting in the kernel command line or in the shell.
_UNSAFE = re.compile(r"[\s\"'`$\\;&|<>()#]")
_ASSIGN = re.compile(r"^(?P<lead>\s*(?:export\s+)?)%s=(?P<rest>.*)$" % VARIABLE)

Word = collections.namedtuple("Word", "start end text")
Assignment = collections.namedtuple("Assignment", "index lead quote value suffix")
GrubEdit = collections.namedtuple("GrubEdit", "text changed value_before value_after")


class BootError(Exception):
    """A parameter or a boot configuration file the module cannot handle; says which and why."""


def validate(params):
    """{name: value} as the kernel command line gets them. A value of None
    or '' makes a bare flag (`nosmt`); booleans become 1 and 0."""
    result = collections.OrderedDict()
    for name, value in params.items():
        name = str(name)
        if not _NAME.match(name):
            raise BootError("invalid kernel parameter name %r: use letters, digits, '_', '-' and '.'" % name)
        if isinstance(value, bool):
            value = "1" if value else "0"
        value = "" if value is None else str(value)
        if _UNSAFE.search(value):
            raise BootError("invalid value %r for kernel parameter %s: spaces, quotes and shell "
                            "characters are not supported" % (value, name))
        result[name] = value
    return result


def render(name, value):
    return "%s=%s" % (name, value) if value else name


def _word_name_value(word):
    name, sep, value = word.partition("=")
    value = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return name, value if sep else ""


def split_words(text, shell_escapes=False):
    """Words of a command line with their spans. Double quotes group blanks
    into a word (`a="b c"`); with ``shell_escapes`` a backslash escapes the
    next character, as inside a double-quoted shell string, where the
    kernel's quotes are written \"."""
    words = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start, quoted = i, False
        while i < n and (quoted or not text[i].isspace()):
            if shell_escapes and text[i] == "\\":
                # \" in a double-quoted shell string is a quote for the kernel
                quoted = not quoted if text[i + 1:i + 2] == '"' else quoted
                i += 2
                continue
            if text[i] == '"':
                quoted = not quoted
            i += 1
        i = min(i, n)
        words.append(Word(start, i, text[start:i]))
    return words


def parse_cmdline(text):
    """[(name, value)] of a kernel command line such as /proc/cmdline; what
    follows `--` belongs to init and is left out."""
    args = []
    for word in split_words(text):
        if word.text == "--":
            break
        name, value = _word_name_value(word.text.replace('\\"', '"'))
        args.append((name, value))
    return args


def effective(args):
    """{name: value}: a parameter given twice counts with its last value."""
    return dict(args)


def differing(args, wanted):
    """{name: value} of ``wanted`` that ``args`` ([(name, value)]) lacks or
    sets to something else."""
    have = effective(args)
    return collections.OrderedDict((k, v) for k, v in wanted.items() if have.get(k) != v)


def current_values(args, wanted):
    """{name: value or None} of the wanted names in ``args``."""
    have = effective(args)
    return dict((name, have.get(name)) for name in wanted)


def _closing(rest, quote):
    """Index of the quote that closes a value starting after ``quote``."""
    i = 0
    while i < len(rest):
        if quote == '"' and rest[i] == "\\":
            i += 2
            continue
        if rest[i] == quote:
            return i
        i += 1
    return -1


def find_assignment(lines):
    """The last `GRUB_CMDLINE_LINUX=` line (the one the shell keeps), or None."""
    found = None
    for index, line in enumerate(lines):
        match = _ASSIGN.match(line)
        if not match:
            continue
        lead, rest = match.group("lead"), match.group("rest")
        if rest[:1] in ('"', "'"):
            quote = rest[0]
            end = _closing(rest[1:], quote)
            if end < 0:
                raise BootError("%s on line %d has no closing %s (a value over several lines is "
                                "not supported)" % (VARIABLE, index + 1, quote))
            value, suffix = rest[1:end + 1], rest[end + 2:]
        else:
            word = re.match(r"[^\s;#]*", rest).group(0)
            if "\\" in word or "$(" in word or "`" in word:
                raise BootError("%s on line %d is not a plain word or quoted string" % (VARIABLE, index + 1))
            quote, value, suffix = "", word, rest[len(word):]
        if suffix.strip() and not suffix.strip().startswith(("#", ";")):
            raise BootError("%s on line %d has text after its value that is not a comment: %r"
                            % (VARIABLE, index + 1, suffix))
        found = Assignment(index, lead, quote, value, suffix)
    return found


def edit_value(value, wanted, shell_escapes):
    """``value`` (the words inside the quotes) with ``wanted`` applied.

    The kernel takes the last word of a name, so only that word is looked
    at: if its value differs it is replaced in place; a missing name is
    appended. Every other byte is kept. Returns (new value, changed names).
    """
    last = {}
    for word in split_words(value, shell_escapes):
        name, current = _word_name_value(word.text)
        if name in wanted:
            last[name] = (word, current)
    changes = sorted((last[name][0] for name in wanted if name in last and last[name][1] != wanted[name]),
                     key=lambda word: word.start)
    pieces, pos, changed = [], 0, []
    for word in changes:
        name = _word_name_value(word.text)[0]
        pieces.append(value[pos:word.start] + render(name, wanted[name]))
        pos = word.end
        changed.append(name)
    pieces.append(value[pos:])
    new = "".join(pieces)
    missing = [name for name in wanted if name not in last]
    if missing:
        tail = " ".join(render(name, wanted[name]) for name in missing)
        new = (new.rstrip() + " " + tail) if new.strip() else tail
        changed.extend(missing)
    return new, changed


def edit_default_grub(text, wanted):
    """/etc/default/grub with ``wanted`` in GRUB_CMDLINE_LINUX. Without an
    assignment, one is appended. Returns GrubEdit(text, changed names,
    value before (None if absent), value after)."""
    lines = text.split("\n")
    found = find_assignment(lines)
    if found is None:
        value = " ".join(render(name, wanted[name]) for name in wanted)
        if not wanted:
            return GrubEdit(text, [], None, None)
        body = text if not text or text.endswith("\n") else text + "\n"
        return GrubEdit(body + '%s="%s"\n' % (VARIABLE, value), list(wanted), None, value)
    new_value, changed = edit_value(found.value, wanted, found.quote == '"')
    if not changed:
        return GrubEdit(text, [], found.value, found.value)
    quote = found.quote or '"'
    lines[found.index] = "%s%s=%s%s%s%s" % (found.lead, VARIABLE, quote, new_value, quote, found.suffix)
    return GrubEdit("\n".join(lines), changed, found.value, new_value)


def grubby_entries(text):
    """[{'kernel': path, 'args': [(name, value)]}] from `grubby --info=ALL`
    (entries without a kernel, such as other operating systems, left out)."""
    entries, entry = [], None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if key == "index":
            entry = {"kernel": None, "args": []}
            entries.append(entry)
        elif entry is not None and key == "kernel":
            entry["kernel"] = value
        elif entry is not None and key == "args":
            entry["args"] = parse_cmdline(value)
    return [e for e in entries if e["kernel"]]


def grub_cfg_args(text):
    """[[(name, value)]] of the `linux` lines of a generated grub.cfg (the
    kernel path word left out)."""
    result = []
    for line in text.splitlines():
        words = line.split(None, 2)
        if len(words) >= 2 and words[0] in ("linux", "linux16", "linuxefi"):
            result.append(parse_cmdline(words[2] if len(words) > 2 else ""))
    return result


def assigns_elsewhere(text):
    """True if a drop-in (/etc/default/grub.d/*.cfg) sets GRUB_CMDLINE_LINUX
    without keeping the value it had (`$GRUB_CMDLINE_LINUX`)."""
    for line in text.split("\n"):
        match = _ASSIGN.match(line)
        if match and VARIABLE not in match.group("rest"):
            return True
    return False
