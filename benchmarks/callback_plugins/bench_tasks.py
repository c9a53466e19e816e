# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Timing callback of the benchmarks (bench_audit_rules.py, bench_harden.py):
every task result with its host, status, whether it changed or really ran,
the seconds since its task (or handler) started, and the module's result;
written as a JSON list to $BENCH_TASKS_OUT when the playbook ends. Enabled
only by the benchmarks (ANSIBLE_CALLBACK_PLUGINS=benchmarks/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=bench_tasks)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bench_tasks
type: aggregate
short_description: Per-task timings for the collection's benchmarks
description:
  - Writes every task result (host, task, status, changed, ran, seconds, result) to the file named by the
    environment variable E(BENCH_TASKS_OUT) when the playbook ends.
requirements:
  - enabled only by the benchmarks
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_tasks"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._start = None
        self._out = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start = time.monotonic()

    def v2_playbook_on_handler_task_start(self, task):
        self._start = time.monotonic()

    def _done(self, result, status):
        res = result._result
        if status == "ok" and res.get("changed"):
            status = "changed"
        # "changed" from the raw result: Ansible shows a result whose "skipped"
        # key is truthy as skipped and leaves its change out of the recap.
        self._out.append({"host": result._host.get_name(), "task": result._task.get_name(),
                          "status": status, "changed": bool(res.get("changed")),
                          "ran": status != "skipped" or "skip_reason" not in res,
                          "seconds": time.monotonic() - self._start, "result": res})

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._done(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["BENCH_TASKS_OUT"], "w") as handle:
            json.dump(self._out, handle)
