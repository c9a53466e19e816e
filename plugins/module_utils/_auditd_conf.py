# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""auditd.conf: a lossless line parser and where auditd writes its logs.

parse() keeps every line (comments, blanks, order, spelling) so that a
module editing the file can change one entry and write the rest back
byte for byte; settings() is the dict view for reading.
"""

import collections
import os
import re

DEFAULT_LOG_FILE = "/var/log/audit/audit.log"
# auditd's own default: below 2, logs are not rotated by number.
DEFAULT_NUM_LOGS = 0
DEFAULT_Q_DEPTH = 2000

# text: the line as written, without its newline; key and value are None
# for blank and comment lines.
Line = collections.namedtuple("Line", "text key value")
LogPaths = collections.namedtuple("LogPaths", "log_file log_dir chain")


class AuditdConfError(Exception):
    """auditd.conf cannot be read or makes no sense; the message says where."""


def parse(text, source="auditd.conf"):
    """Lines of auditd.conf text, in order.

    auditd reads `key = value`; a line whose first non-blank character is
    `#` is a comment. `key=value` without spaces is accepted here although
    auditd wants the spaces: reading more than auditd would only makes the
    log-file guard stricter.
    """
    lines = []
    for number, text_line in enumerate(text.splitlines(), 1):
        stripped = text_line.strip()
        if not stripped or stripped.startswith("#"):
            lines.append(Line(text_line, None, None))
            continue
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if not sep or not key or re.search(r"\s", key):
            raise AuditdConfError("%s line %d: expected `key = value`, got %r" % (source, number, text_line))
        lines.append(Line(text_line, key, value.strip()))
    return lines


def settings(lines):
    """{key: value}; a repeated key keeps its last value, as auditd does."""
    return dict((line.key, line.value) for line in lines if line.key is not None)


def log_paths(conf, listdir=os.listdir):
    """Where auditd writes and rotates, from settings(); listdir lists the
    log directory (tests pass a fake).

    The chain is log_file and log_file.1 .. log_file.N with N = num_logs
    (auditd keeps N-1 rotated files; one more is harmless for a guard),
    plus every existing log_file.<digits>, which `keep_logs` and an earlier,
    larger num_logs leave behind.
    """
    log_file = conf.get("log_file") or DEFAULT_LOG_FILE
    if not os.path.isabs(log_file):
        raise AuditdConfError("log_file must be an absolute path, got %r" % log_file)
    raw = conf.get("num_logs", str(DEFAULT_NUM_LOGS))
    try:
        num_logs = int(raw)
    except ValueError:
        raise AuditdConfError("num_logs must be a number, got %r" % raw)
    log_dir, base = os.path.split(log_file)
    try:
        names = listdir(log_dir)
    except OSError:
        # No log directory yet: nothing rotated exists.
        names = []
    rotated = re.compile(re.escape(base) + r"\.[0-9]+$")
    chain = [log_file] + ["%s.%d" % (log_file, n) for n in range(1, num_logs + 1)]
    extra = set(os.path.join(log_dir, n) for n in names if rotated.match(n)) - set(chain)
    chain += sorted(extra, key=lambda p: int(p.rsplit(".", 1)[1]))
    return LogPaths(log_file, log_dir, chain)


def read_settings(conf_path):
    """settings() of the auditd.conf at conf_path; {} (auditd's defaults)
    if the file does not exist, as when auditd is not installed."""
    try:
        with open(conf_path) as f:
            return settings(parse(f.read(), conf_path))
    except FileNotFoundError:
        return {}
    except (IOError, OSError) as exc:
        raise AuditdConfError("cannot read %s: %s" % (conf_path, exc))


# ---------------------------------------------------------------------------
# Managing keys: validation against auditd 3.0.9, and a minimal edit plan.
#
# The keys and value syntax are those of auditd 3.0.9's keyword table and
# parsers (Debian 12's /sbin/auditd and auditd.conf(5)). auditd reads a line
# as whitespace-separated tokens `key = value [option]`: the spaces around
# `=` are required, a value is one token, only the *_action keys take an
# option (`exec /path`), and a line of 159 characters or more is skipped.

MAX_LINE = 158
YES_NO = ("yes", "no")
_ACTIONS_SPACE = ("IGNORE", "SYSLOG", "ROTATE", "EMAIL", "EXEC", "SUSPEND", "SINGLE", "HALT")
_NUMBER = re.compile(r"[0-9]+$")
_TOKEN = re.compile(r"\S+$")


def _kw(kind, choices=None, low=0, high=None):
    return {"kind": kind, "choices": choices, "low": low, "high": high}


KEYS = collections.OrderedDict([
    ("local_events", _kw("yesno")),
    ("write_logs", _kw("yesno")),
    ("log_file", _kw("logfile")),
    ("log_format", _kw("enum", ("RAW", "ENRICHED"))),
    ("log_group", _kw("token")),
    ("priority_boost", _kw("number")),
    ("flush", _kw("enum", ("NONE", "INCREMENTAL", "INCREMENTAL_ASYNC", "DATA", "SYNC"))),
    ("freq", _kw("number")),
    ("num_logs", _kw("number", high=999)),
    ("name_format", _kw("enum", ("NONE", "HOSTNAME", "FQD", "NUMERIC", "USER"))),
    ("name", _kw("token")),
    ("max_log_file", _kw("number")),
    ("max_log_file_action", _kw("enum", ("IGNORE", "SYSLOG", "SUSPEND", "ROTATE", "KEEP_LOGS"))),
    ("verify_email", _kw("yesno")),
    ("action_mail_acct", _kw("token")),
    ("space_left", _kw("space")),
    ("space_left_action", _kw("action", _ACTIONS_SPACE)),
    ("admin_space_left", _kw("space")),
    ("admin_space_left_action", _kw("action", _ACTIONS_SPACE)),
    ("disk_full_action", _kw("action", ("IGNORE", "SYSLOG", "ROTATE", "EXEC", "SUSPEND", "SINGLE", "HALT"))),
    ("disk_error_action", _kw("action", ("IGNORE", "SYSLOG", "EXEC", "SUSPEND", "SINGLE", "HALT"))),
    ("tcp_listen_port", _kw("number", low=1, high=65535)),
    ("tcp_listen_queue", _kw("number")),
    ("tcp_max_per_addr", _kw("number", low=1, high=1024)),
    ("use_libwrap", _kw("yesno")),
    ("tcp_client_ports", _kw("ports")),
    ("tcp_client_max_idle", _kw("number")),
    ("transport", _kw("enum", ("TCP", "KRB5"))),
    ("enable_krb5", _kw("yesno")),
    ("krb5_principal", _kw("token")),
    ("krb5_key_file", _kw("path")),
    ("distribute_network", _kw("yesno")),
    ("q_depth", _kw("number", high=99999)),
    ("overflow_action", _kw("enum", ("IGNORE", "SYSLOG", "SUSPEND", "SINGLE", "HALT"))),
    ("max_restarts", _kw("number")),
    ("plugin_dir", _kw("path")),
    ("end_of_event_timeout", _kw("number")),
])

# Still in auditd 3.0.9's keyword table, but only logged as deprecated:
# valid in an existing file, refused as a setting to manage.
DEPRECATED = {
    "dispatcher": "plugins are configured in plugin_dir since audit 3.0",
    "disp_qos": "the dispatcher queue is set with q_depth and overflow_action since audit 3.0",
}

# What a SIGHUP does not apply (auditd 3.0.9 reconfigure(); auditd.conf(5)):
# local_events is read once at start; the TCP listener is set up at start
# (reconfigure stores the new port and queue with a FIXME and keeps
# listening on the old ones); Kerberos credentials and the transport are set
# up with the listener; end_of_event_timeout is handed to auparse at start.
# q_depth is special: a reload can only grow the queue (see restart_keys).
RESTART_KEYS = frozenset((
    "local_events", "tcp_listen_port", "tcp_listen_queue", "transport", "enable_krb5",
    "krb5_principal", "krb5_key_file", "end_of_event_timeout",
))

Edit = collections.namedtuple("Edit", "text changed_keys added_keys")


def _accepts(key):
    spec = KEYS[key]
    kind = spec["kind"]
    if kind == "yesno":
        return "yes or no"
    if kind == "enum":
        return "one of %s (any case)" % ", ".join(spec["choices"])
    if kind == "action":
        words = [c for c in spec["choices"] if c != "EXEC"]
        return "one of %s (any case), or EXEC /absolute/path/to/script" % ", ".join(words)
    if kind == "number":
        if spec["high"] is None:
            return "a whole number >= %d" % spec["low"]
        return "a whole number from %d to %d" % (spec["low"], spec["high"])
    if kind == "space":
        return "megabytes as a whole number, or a percentage of the log partition from 1% to 99%"
    if kind == "ports":
        return "a port 1-65535 or a range LOW-HIGH of such ports (no spaces)"
    if kind == "logfile":
        return "an absolute path to a file in a directory of at least 4 characters (like /var/log/audit/audit.log)"
    if kind == "path":
        return "an absolute path without spaces"
    return "one word without spaces"


def _number(text, low, high):
    if not _NUMBER.match(text):
        return None
    value = int(text)
    if value < low or (high is not None and value > high):
        return None
    return str(value)


def canonical(key, value):
    """The form auditd.conf gets for ``value`` of ``key`` (a documented key),
    or raise AuditdConfError naming the key, the value and what is accepted.

    Keywords are upper case, yes/no lower case, numbers without leading
    zeros; paths and names are kept as given (auditd compares them as
    text). ``value`` may be a bool (yes/no keys) or an int, as YAML gives.
    """
    spec = KEYS[key]
    kind = spec["kind"]
    if isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = str(value).strip()
    result = None
    if kind == "yesno":
        result = text.lower() if text.lower() in YES_NO else None
    elif kind == "enum":
        result = text.upper() if text.upper() in spec["choices"] else None
    elif kind == "action":
        word, _sep, rest = text.partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "EXEC" and "EXEC" in spec["choices"]:
            if rest.startswith("/") and _TOKEN.match(rest):
                result = "EXEC %s" % rest
        elif word in spec["choices"] and not rest:
            result = word
    elif kind == "number" and not isinstance(value, bool):
        result = _number(text, spec["low"], spec["high"])
    elif kind == "space" and not isinstance(value, bool):
        if text.endswith("%"):
            percent = _number(text[:-1], 1, 99)
            result = percent + "%" if percent else None
        else:
            result = _number(text, 0, None)
    elif kind == "ports":
        low, sep, high = text.partition("-")
        low, high = _number(low, 1, 65535), _number(high, 1, 65535) if sep else None
        if low and not sep:
            result = low
        elif low and high and int(low) <= int(high):
            result = "%s-%s" % (low, high)
    elif kind == "logfile":
        if os.path.isabs(text) and _TOKEN.match(text) and len(os.path.dirname(text)) >= 4 \
                and not text.endswith("/"):
            result = text
    elif kind == "path":
        result = text if os.path.isabs(text) and _TOKEN.match(text) else None
    elif kind == "token" and _TOKEN.match(text):
        result = text
    if result is None:
        raise AuditdConfError("invalid value %r for %s: expected %s" % (value, key, _accepts(key)))
    return result


def same_value(key, current, wanted):
    """True if the file's ``current`` value already means canonical ``wanted``."""
    try:
        return canonical(key, current) == wanted
    except AuditdConfError:
        return False


def validate(settings_wanted):
    """{key: canonical value} for the requested settings; refuses unknown and
    deprecated keys (listing the valid ones) and invalid values. Keys match
    case-insensitively, as auditd's do, and are returned in lower case."""
    result = collections.OrderedDict()
    for key in settings_wanted:
        name = str(key).lower()
        if name in DEPRECATED:
            raise AuditdConfError("%s is deprecated and ignored by auditd 3.0: %s"
                                  % (key, DEPRECATED[name]))
        if name not in KEYS:
            raise AuditdConfError("unknown auditd.conf key %r; valid keys: %s"
                                  % (key, ", ".join(KEYS)))
        if name in result:
            raise AuditdConfError("%s is given twice (keys are case-insensitive)" % name)
        value = settings_wanted[key]
        if value is None:
            raise AuditdConfError("no value for %s: expected %s" % (name, _accepts(name)))
        result[name] = canonical(name, value)
        if len("%s = %s" % (name, result[name])) > MAX_LINE:
            raise AuditdConfError("the line for %s would be longer than %d characters, which auditd "
                                  "skips" % (name, MAX_LINE))
    return result


def unknown_keys(lines):
    """Keys of an existing file that auditd 3.0.9 does not know (it refuses
    to load such a file)."""
    known = set(KEYS) | set(DEPRECATED)
    return [line.key for line in lines if line.key is not None and line.key.lower() not in known]


def _auditd_reads(line):
    """auditd splits on blanks and wants `=` as a token of its own."""
    tokens = line.text.split()
    return len(tokens) >= 3 and tokens[1] == "="


def edit(lines, wanted):
    """The file text with ``wanted`` ({key: canonical value}) applied.

    Lines that already hold a wanted value (in any spelling auditd reads the
    same) are kept byte for byte, as is every other line; a line that needs
    a new value keeps its indentation and key spelling and is written as
    `key = value` (the spaces auditd requires). A key set more than once is
    set on every line (auditd takes the last). Keys the file lacks are
    appended in the order given. Returns Edit(text, changed_keys, added_keys).
    """
    out, changed, seen = [], [], set()
    for line in lines:
        name = line.key.lower() if line.key is not None else None
        if name in wanted:
            seen.add(name)
            if not (same_value(name, line.value, wanted[name]) and _auditd_reads(line)):
                indent = line.text[:len(line.text) - len(line.text.lstrip())]
                out.append("%s%s = %s" % (indent, line.key, wanted[name]))
                if name not in changed:
                    changed.append(name)
                continue
        out.append(line.text)
    added = [key for key in wanted if key not in seen]
    out.extend("%s = %s" % (key, wanted[key]) for key in added)
    text = "\n".join(out) + "\n" if out else ""
    return Edit(text, changed + added, added)


def _mb(value):
    return None if value is None or value.endswith("%") else int(value)


def check_consistency(conf, touched):
    """Refuse combinations auditd's sanity check rejects at load, when the
    task touches one of the keys involved. ``conf``: settings() of the new
    file, lower-case keys, canonical or as written."""
    flush = (conf.get("flush") or "").upper()
    if touched & {"flush", "freq"} and flush in ("INCREMENTAL", "INCREMENTAL_ASYNC") \
            and conf.get("freq", "0").strip() in ("0", ""):
        raise AuditdConfError("flush = %s needs freq above 0 (auditd refuses to load freq = 0 with "
                              "incremental flushing)" % flush)
    space, admin = _mb(conf.get("space_left")), _mb(conf.get("admin_space_left"))
    if touched & {"space_left", "admin_space_left"} and space is not None and admin is not None \
            and space <= admin:
        raise AuditdConfError("space_left (%d MB) must be larger than admin_space_left (%d MB); auditd "
                              "refuses to load the file otherwise" % (space, admin))


def restart_keys(before, wanted, changed):
    """The keys in ``changed`` a SIGHUP does not apply. ``before``: the old
    file's settings in lower-case keys; ``wanted``: {key: canonical value}.
    A reload grows the dispatcher queue but cannot shrink it."""
    keys = [key for key in changed if key in RESTART_KEYS]
    if "q_depth" in changed:
        old = _number(before.get("q_depth", str(DEFAULT_Q_DEPTH)).strip(), 0, None)
        if old is None or int(wanted["q_depth"]) < int(old):
            keys.append("q_depth")
    return sorted(keys)


def lower_keys(conf):
    """settings() with lower-case keys (auditd matches keys case-insensitively)."""
    return dict((key.lower(), value) for key, value in conf.items())
