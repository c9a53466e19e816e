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
