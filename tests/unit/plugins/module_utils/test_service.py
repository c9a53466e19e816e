# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restart/reload planner on the recorded platforms (tests/unit/data/platforms), without I/O."""

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _service
from ansible_collections.immutable.audit.plugins.module_utils._auditctl import parse_status
from ansible_collections.immutable.audit.plugins.module_utils._errors import Failure
from ansible_collections.immutable.audit.tests.unit.platforms import NAMES, load


def host_of(platform, **changes):
    """The Host the module would describe from the recorded outputs."""
    props = _service.parse_show(platform["systemctl_show"])
    commands = platform["commands"]
    host = _service.Host(
        systemd=platform["systemd"], refuse_manual_stop=_service.refuses_manual_stop(props),
        version=_service.parse_version(platform["auditctl_v"]), pid=parse_status(platform["auditctl_s"])["pid"],
        auditctl=commands["auditctl"], systemctl=commands["systemctl"], service=commands["service"],
        initscript=_service.INIT_SCRIPT if platform["initscript"] else None)
    return host._replace(**changes)


@pytest.mark.parametrize("name", NAMES)
def test_recorded_outputs_parse(name):
    platform = load(name)
    props = _service.parse_show(platform["systemctl_show"])
    expected = platform["expected"]
    assert _service.refuses_manual_stop(props) is expected["refuse_manual_stop"]
    assert _service.start_loads_rules(props) is expected["start_loads_rules"]
    version = _service.parse_version(platform["auditctl_v"])
    assert _service.version_text(version) == platform["auditctl_v"].split()[-1]


@pytest.mark.parametrize("name", NAMES)
def test_restart_plan_per_platform(name):
    platform = load(name)
    method, steps = _service.plan("restarted", host_of(platform))
    assert method == platform["expected"]["restart"]
    assert _service.describe(steps) == platform["expected"]["restart_commands"]


@pytest.mark.parametrize("name", NAMES)
def test_reload_plan_per_platform(name):
    platform = load(name)
    method, steps = _service.plan("reloaded", host_of(platform))
    assert method == "signal-reload"
    assert _service.describe(steps) == platform["expected"]["reload_commands"]


def test_rhel9_without_service_command_never_needs_it():
    steps = _service.plan("restarted", host_of(load("rhel9")))[1]
    assert all(step.argv is None or "service" not in step.argv[0] for step in steps)
    # stop first, wait for that very pid, start last
    assert [s.kind for s in steps] == ["run", "wait_gone", "run"]
    assert steps[1].pid == 812


def test_debian12_stop_without_signal_option_is_sigterm_to_the_pid():
    """3.0.9's auditctl has no --signal: with a refusing unit (Ubuntu 22.04, audit 3.0.7,
    is such a host) the stop is SIGTERM to auditd's pid."""
    host = host_of(load("debian12"), refuse_manual_stop=True)
    method, steps = _service.plan("restarted", host)
    assert method == "signal-stop-start"
    assert _service.describe(steps) == ["kill -TERM 612", "wait until pid 612 has exited",
                                        "/usr/bin/systemctl start auditd.service"]


def test_unknown_refuse_manual_stop_takes_the_way_that_works_on_every_unit():
    host = host_of(load("debian12"), refuse_manual_stop=None)
    assert _service.plan("restarted", host)[0] == "signal-stop-start"


@pytest.mark.parametrize("state", ["restarted", "reloaded"])
def test_not_running_is_started(state):
    method, steps = _service.plan(state, host_of(load("rhel10"), pid=None))
    assert method == "start"
    assert _service.describe(steps) == ["/usr/bin/systemctl start auditd.service"]


@pytest.mark.parametrize("service, initscript, pid, expected", [
    ("/usr/sbin/service", None, 612, ["/usr/sbin/service auditd restart"]),
    (None, _service.INIT_SCRIPT, 612, ["/etc/init.d/auditd restart"]),
    ("/usr/sbin/service", _service.INIT_SCRIPT, None, ["/usr/sbin/service auditd start"]),
])
def test_without_systemd_the_init_script_restarts(service, initscript, pid, expected):
    host = host_of(load("debian12"), systemd=False, service=service, initscript=initscript, pid=pid)
    assert _service.describe(_service.plan("restarted", host)[1]) == expected


def test_without_systemd_and_without_init_script_fails_naming_both():
    host = host_of(load("rhel9"), systemd=False, service=None, initscript=None)
    with pytest.raises(Failure) as info:
        _service.plan("restarted", host)
    assert "service command" in str(info.value) and "/etc/init.d/auditd" in str(info.value)


def test_systemd_without_systemctl_fails():
    with pytest.raises(Failure, match="systemctl was not found"):
        _service.plan("restarted", host_of(load("rhel9"), systemctl=None))


def test_reload_without_auditctl_is_sighup():
    host = host_of(load("rhel9"), auditctl=None)
    assert _service.describe(_service.plan("reloaded", host)[1]) == ["kill -HUP 812"]


@pytest.mark.parametrize("text, expected", [
    ("auditctl version 3.1.5\n", (3, 1, 5)), ("auditctl version 4.0\n", (4, 0)), ("", None), ("garbage", None),
])
def test_parse_version(text, expected):
    assert _service.parse_version(text) == expected


@pytest.mark.parametrize("version, expected", [((3, 0, 9), False), ((3, 0, 7), False), ((3, 1), True),
                                               ((3, 1, 2), True), ((4, 0, 3), True), (None, False)])
def test_signal_option_since_3_1(version, expected):
    assert _service.has_signal_option(version) is expected


def test_no_properties_shown_means_unknown():
    assert _service.refuses_manual_stop({}) is None
    assert _service.start_loads_rules({}) is None


def test_bad_state():
    with pytest.raises(Failure, match="state must be one of"):
        _service.plan("stopped", host_of(load("rhel9")))
