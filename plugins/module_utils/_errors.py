# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failure every module turns into its one fail_json."""

from __future__ import annotations


class Failure(Exception):
    """A failure to report: the message names what failed and what had
    already changed; ``details`` are returned beside it."""

    def __init__(self, msg, **details):
        super(Failure, self).__init__(msg)
        self.details = details
