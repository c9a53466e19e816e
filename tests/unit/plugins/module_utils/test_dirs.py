# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DirProbe answers exactly as os.path.isdir on a real tree (files, dirs,
symlinks to each, broken links, missing parents, unnormalised paths), with
one system call per path at most and one listing per busy directory."""

import os

import pytest

from ansible_collections.immutable.audit.plugins.module_utils._dirs import LIST_AFTER, DirProbe


class Counting(object):
    def __init__(self, func):
        self.func = func
        self.calls = []

    def __call__(self, path):
        self.calls.append(path)
        return self.func(path)


@pytest.fixture
def tree(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    for i in range(3 * LIST_AFTER):
        (busy / ("f%d" % i)).write_text("")
    for i in range(3):
        (busy / ("d%d" % i)).mkdir()
    (busy / "to_dir").symlink_to(busy / "d0")
    (busy / "to_file").symlink_to(busy / "f0")
    (busy / "broken").symlink_to(tmp_path / "nowhere")
    (tmp_path / "quiet").mkdir()
    (tmp_path / "quiet" / "f").write_text("")
    return tmp_path


def _questions(root):
    busy = str(root / "busy")
    names = sorted(os.listdir(busy)) + ["missing", "f0/below"]
    paths = [os.path.join(busy, n) for n in names]
    paths += [str(root / "quiet" / "f"), str(root / "quiet"), str(root / "nodir" / "x"),
              busy + "/", busy + "/./d0", busy + "/../busy/d1", busy + "//d2", "/", "relative/d0"]
    return paths


def test_answers_as_isdir_for_every_kind_of_path(tree):
    probe = DirProbe()
    for path in _questions(tree) * 2:  # the second round comes from the cache
        assert probe.is_dir(path) == os.path.isdir(path), path


def test_one_call_per_path_and_one_listing_per_busy_directory(tree):
    isdir = Counting(os.path.isdir)
    listed = []

    def scandir(path):
        listed.append(path)
        return os.scandir(path)

    probe = DirProbe(isdir=isdir, scandir=scandir)
    busy = str(tree / "busy")
    files = [os.path.join(busy, "f%d" % i) for i in range(3 * LIST_AFTER)]
    for path in files * 3:
        assert probe.is_dir(path) is False
    assert listed == [busy]
    assert len(isdir.calls) == LIST_AFTER
    assert probe.is_dir(os.path.join(busy, "d1")) is True
    assert len(isdir.calls) == LIST_AFTER  # from the listing


def test_a_directory_that_cannot_be_listed_falls_back_to_isdir(tree):
    isdir = Counting(os.path.isdir)

    def scandir(path):
        raise PermissionError(13, "Permission denied", path)

    probe = DirProbe(isdir=isdir, scandir=scandir, list_after=0)
    busy = str(tree / "busy")
    assert probe.is_dir(os.path.join(busy, "d0")) is True
    assert probe.is_dir(os.path.join(busy, "f0")) is False
    assert len(isdir.calls) == 2
