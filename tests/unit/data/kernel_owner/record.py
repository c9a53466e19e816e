# -*- coding: utf-8 -*-
# Copyright: immutable.audit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Records what plugins/module_utils/_kernel_owner.py reads in one environment.

    python3 record.py PATH_TO/_kernel_owner.py NAME "how it was made" > NAME.json

Runs the real detect() with a Probe that logs every call and its answer, so
tests/unit/plugins/module_utils/test_kernel_owner.py can replay the layout
(a replayed detect() that asks anything not recorded fails the test). Works
with a bare python3 (inside a chroot or container there is no Ansible): the
two imports _kernel_owner needs are then stood in for by the same names.
"""

import importlib.util
import json
import sys
import types


def _shim():
    """Stand-ins for the two Ansible imports when Ansible is not installed."""
    try:
        import ansible.module_utils.parsing.convert_bool  # noqa: F401 pylint: disable=unused-import
        import ansible_collections.immutable.audit.plugins.module_utils._errors  # noqa: F401
        return
    except ImportError:
        pass
    names = ["ansible", "ansible.module_utils", "ansible.module_utils.parsing",
             "ansible.module_utils.parsing.convert_bool", "ansible_collections",
             "ansible_collections.immutable", "ansible_collections.immutable.audit",
             "ansible_collections.immutable.audit.plugins",
             "ansible_collections.immutable.audit.plugins.module_utils",
             "ansible_collections.immutable.audit.plugins.module_utils._errors"]
    for name in names:
        sys.modules[name] = types.ModuleType(name)
    convert = sys.modules["ansible.module_utils.parsing.convert_bool"]
    convert.BOOLEANS_TRUE = frozenset(("y", "yes", "on", "1", "true", "t", 1, 1.0, True))
    convert.BOOLEANS_FALSE = frozenset(("n", "no", "off", "0", "false", "f", 0, 0.0, False))

    class Failure(Exception):
        pass
    sys.modules["ansible_collections.immutable.audit.plugins.module_utils._errors"].Failure = Failure


def main(argv):
    path, name, how = argv[1], argv[2], argv[3]
    _shim()
    spec = importlib.util.spec_from_file_location("_kernel_owner", path)
    owner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(owner)
    calls = []
    real = owner.Probe()

    class Recording(object):
        def __getattr__(self, method):
            def call(*args):
                answer = getattr(real, method)(*args)
                calls.append([method, list(args), list(answer) if isinstance(answer, tuple) else answer])
                return answer
            return call

    env = owner.detect(Recording())
    head = json.dumps({"name": name, "how": how,
                       "detected": {"own": env.own, "kind": env.kind, "reason": env.reason}}, sort_keys=True)
    # One call a line, so that a re-recording diffs readably.
    sys.stdout.write(head[:-1] + ', "calls": [\n' + ",\n".join(json.dumps(c) for c in calls) + "\n]}\n")


if __name__ == "__main__":
    main(sys.argv)
