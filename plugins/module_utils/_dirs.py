# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which watched paths are directories, with as few system calls as possible.

A watch is written ``-w PATH`` but the kernel lists it as ``-F dir=`` when
PATH is a directory, so every watch the module parses (the desired rules,
its old file, the kernel listing, the boot view) asks whether its path is a
directory. With thousands of watches loaded, each such ``stat`` costs the
kernel's audit filtering of that system call against the watches of the
path's directory: 200 us a stat with 5,000 watches on this project's 2-CPU
machine, and 25,000 of them were most of a 1%-changed run of 5,000 watches
(docs/benchmarks.md). So each answer is kept for the run, and a directory
asked about many times is listed once instead (one ``scandir``).
"""

from __future__ import annotations

import os

# Questions about one directory's entries answered by stat before it is
# listed: a directory holding one or two watched paths is never listed
# (listing a large spool directory for one watch would cost more than the
# stat); /etc, with the baseline's dozen watches, is listed once.
LIST_AFTER = 2


class DirProbe(object):
    """``is_dir(path)`` as ``os.path.isdir`` answers it, cached for one run."""

    def __init__(self, isdir=os.path.isdir, scandir=os.scandir, list_after=LIST_AFTER):
        self._isdir = isdir
        self._scandir = scandir
        self._list_after = list_after
        self._known = {}
        self._asked = {}
        self._listed = {}

    def is_dir(self, path):
        known = self._known.get(path)
        if known is not None:
            return known
        answer = self._answer(path)
        self._known[path] = answer
        return answer

    def _answer(self, path):
        parent, name = os.path.split(path)
        # Only a plain absolute path is looked up in its parent's listing:
        # "/", "a/b", "/a/", "/a/./b" and "/a/../b" go to isdir as written.
        if not parent or not name or not path.startswith("/") or os.path.normpath(path) != path:
            return self._isdir(path)
        if parent not in self._listed:
            asked = self._asked.get(parent, 0) + 1
            self._asked[parent] = asked
            if asked <= self._list_after:
                return self._isdir(path)
            self._listed[parent] = self._list(parent)
        dirs = self._listed[parent]
        return self._isdir(path) if dirs is None else name in dirs

    def _list(self, parent):
        """The names of ``parent``'s entries that are directories (symlinks
        followed, as isdir does), or None when it cannot be listed."""
        try:
            with self._scandir(parent) as entries:
                return set(e.name for e in entries if _entry_is_dir(e))
        except OSError:
            return None


def _entry_is_dir(entry):
    try:
        return entry.is_dir()
    except OSError:
        return False
