"""Running a module's main() in-process, the one harness every module test uses.

AnsibleModule.exit_json/fail_json become exceptions carrying the result, so a
test gets ("exit" or "fail", result) back; warn() is recorded.
"""
import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.immutable.audit.plugins.module_utils import _kernel_owner

HOST = _kernel_owner.Environment(True, "host", None, {"recorded": "a test's own host"})


class _Exit(Exception):
    pass


class _Fail(Exception):
    pass


class ModuleRunner(object):
    def __init__(self, monkeypatch):
        self._monkeypatch = monkeypatch
        self.warnings = []
        monkeypatch.setattr(basic.AnsibleModule, "exit_json", self._exit)
        monkeypatch.setattr(basic.AnsibleModule, "fail_json", self._fail)
        monkeypatch.setattr(basic.AnsibleModule, "warn", lambda module, msg: self.warnings.append(msg))

    @staticmethod
    def _exit(module, **kwargs):
        raise _Exit(kwargs)

    @staticmethod
    def _fail(module, **kwargs):
        raise _Fail(kwargs)

    def run(self, main, args, check=False, diff=False):
        """-> ("exit" | "fail", result dict)"""
        del self.warnings[:]
        args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        self._monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
        with pytest.raises((_Exit, _Fail)) as info:
            main()
        return ("exit" if info.type is _Exit else "fail"), info.value.args[0]


@pytest.fixture
def module_runner(monkeypatch):
    return ModuleRunner(monkeypatch)


@pytest.fixture(autouse=True)
def own_kernel(monkeypatch):
    """Every module test runs on a host whose kernel is its own, whatever
    machine runs the tests; test_whose_kernel.py sets other environments."""
    monkeypatch.setattr(_kernel_owner, "detect", lambda probe=None: HOST)
