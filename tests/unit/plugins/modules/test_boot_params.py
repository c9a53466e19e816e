# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""boot_params end to end on temporary files, with grubby, update-grub and
grub-mkconfig replaced by a fake runner (nothing runs on this machine)."""


import pytest

from ansible.module_utils import basic
from ansible_collections.immutable.audit.plugins.modules import boot_params

GRUB = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0"\n'
CMDLINE = "BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro console=ttyS0 quiet\n"
CFG = "menuentry 'Debian' {\n\tlinux\t/boot/vmlinuz root=/dev/vda1 ro console=ttyS0 %s quiet\n}\n"
INFO = 'index=0\nkernel="/boot/vmlinuz-5.14"\nargs="ro %s"\nindex=1\nkernel="/boot/vmlinuz-rescue"\nargs="ro %s"\n'


class Runner(object):
    """Installed tools and the commands run; grubby answers from ``info``."""

    def __init__(self):
        self.tools = {}
        self.calls = []
        self.info = INFO % ("", "")
        self.rc = 0

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return self.tools.get(name)

    def run_command(self, args, **kwargs):
        assert kwargs["expand_user_and_vars"] is False and kwargs["environ_update"]["LANG"] == "C"
        self.calls.append(list(args))
        if args[-1] == "--info=ALL":
            return 0, self.info, ""
        return self.rc, "", "boom" if self.rc else ""


@pytest.fixture
def env(tmp_path, monkeypatch, module_runner):
    runner = Runner()
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False, opt_dirs=None: runner.get_bin_path(name))
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, args, **kw: runner.run_command(args, **kw))

    (tmp_path / "default").mkdir()
    grub = tmp_path / "default" / "grub"
    grub.write_text(GRUB)
    grub.chmod(0o644)
    (tmp_path / "cmdline").write_text(CMDLINE)
    base = dict(grub_file=str(grub), grub_cfg=str(tmp_path / "grub.cfg"), proc_cmdline=str(tmp_path / "cmdline"))

    def call(args=None, check=False, diff=False):
        args = dict(base, **(args or {}))
        args.update(_ansible_check_mode=check, _ansible_diff=diff)
        return module_runner.run(boot_params.main, args, check=check, diff=diff)
    call.runner, call.warnings, call.grub, call.tmp = runner, module_runner.warnings, grub, tmp_path
    return call


def test_debian_check_apply_again(env):
    env.runner.tools = {"update-grub": "/usr/sbin/update-grub"}
    kind, res = env(check=True, diff=True)
    assert kind == "exit" and res["changed"] is True
    assert env.runner.calls == [] and env.grub.read_text() == GRUB
    assert res["changed_params"] == ["audit", "audit_backlog_limit"]
    assert res["bootloader"] == "update-grub" and res["bootloader_updated"] is True
    assert res["reboot_required"] is True
    assert res["current"] == {"audit": None, "audit_backlog_limit": None}
    assert res["pending"] == {"audit": "1", "audit_backlog_limit": "8192"}
    assert 'GRUB_CMDLINE_LINUX="console=ttyS0 audit=1 audit_backlog_limit=8192"' in res["diff"][0]["after"]

    kind, res = env()
    assert res["changed"] is True and env.runner.calls == [["/usr/sbin/update-grub"]]
    assert env.grub.read_text() == GRUB.replace('"console=ttyS0"', '"console=ttyS0 audit=1 audit_backlog_limit=8192"')
    assert oct(env.grub.stat().st_mode & 0o777) == "0o644"
    assert res["cmdline_linux"] == "console=ttyS0 audit=1 audit_backlog_limit=8192"

    # update-grub regenerated grub.cfg; the running kernel still lacks the params
    (env.tmp / "grub.cfg").write_text(CFG % "audit=1 audit_backlog_limit=8192")
    for check in (False, True):
        kind, res = env(check=check)
        assert res["changed"] is False and res["bootloader_updated"] is False
        assert res["reboot_required"] is True
    assert len(env.runner.calls) == 1

    # after the reboot
    (env.tmp / "cmdline").write_text(CMDLINE.replace("quiet", "audit=1 audit_backlog_limit=8192 quiet"))
    kind, res = env()
    assert res["reboot_required"] is False and res["pending"] == {}
    assert res["current"] == {"audit": "1", "audit_backlog_limit": "8192"}


def test_stale_grub_cfg_is_regenerated_with_grub_mkconfig(env):
    env.grub.write_text(GRUB.replace('"console=ttyS0"', '"audit=1 audit_backlog_limit=8192"'))
    (env.tmp / "grub.cfg").write_text(CFG % "")
    env.runner.tools = {"grub-mkconfig": "/usr/sbin/grub-mkconfig", "grubby": "/usr/sbin/grubby"}
    kind, res = env(dict(bootloader="grub-mkconfig"))
    assert res["changed"] is True and res["grub_file_changed"] is False
    assert env.runner.calls == [["/usr/sbin/grub-mkconfig", "-o", str(env.tmp / "grub.cfg")]]


def test_missing_tool_warns(env):
    kind, res = env()
    assert res["changed"] is True and res["grub_file_changed"] is True
    assert res["bootloader"] == "grub-mkconfig" and res["bootloader_updated"] is False
    assert env.warnings == ["grub-mkconfig is not installed: the boot loader was not updated; the next "
                            "boot uses the parameters only after it is"]


def test_grubby_only_when_an_entry_lacks_a_param(env):
    env.runner.tools = {"grubby": "/usr/sbin/grubby", "update-grub": "/usr/sbin/update-grub"}
    env.runner.info = INFO % ("audit=1", "audit=0 audit_backlog_limit=8192")
    kind, res = env(check=True, diff=True)
    assert res["changed"] is True and res["bootloader"] == "grubby"
    assert env.runner.calls == [["/usr/sbin/grubby", "--info=ALL"]]
    assert res["diff"][1]["after"] == "grubby --update-kernel=ALL --args=audit_backlog_limit=8192 audit=1\n"
    kind, res = env()
    assert env.runner.calls[-1] == ["/usr/sbin/grubby", "--update-kernel=ALL",
                                    "--args=audit_backlog_limit=8192 audit=1"]
    env.runner.calls = []
    env.runner.info = INFO % ("audit=1 audit_backlog_limit=8192", "audit=1 audit_backlog_limit=8192")
    kind, res = env()
    assert res["changed"] is False and env.runner.calls == [["/usr/sbin/grubby", "--info=ALL"]]


def test_bootloader_none_edits_only(env):
    env.runner.tools = {"grubby": "/usr/sbin/grubby", "update-grub": "/usr/sbin/update-grub"}
    kind, res = env(dict(bootloader="none"))
    assert res["changed"] is True and res["bootloader"] == "none" and res["bootloader_updated"] is False
    assert env.runner.calls == [] and env.warnings == []


def test_failing_tool_says_file_was_written(env):
    env.runner.tools = {"update-grub": "/usr/sbin/update-grub"}
    env.runner.rc = 1
    kind, res = env()
    assert kind == "fail"
    assert res["msg"] == "/usr/sbin/update-grub failed (rc=1): boom; %s was already written" % env.grub


def test_invalid_params_and_missing_file(env):
    kind, res = env(dict(params={"audit": "1 2"}))
    assert kind == "fail" and res["msg"].endswith("are not supported; nothing was changed")
    env.grub.unlink()
    kind, res = env(dict(bootloader="none"))
    assert res["changed"] is False and res["cmdline_linux"] is None
    assert env.warnings == ["%s does not exist: the parameters are not persisted there" % env.grub]


def test_dropin_overriding_warns(env):
    (env.tmp / "default" / "grub.d").mkdir()
    (env.tmp / "default" / "grub.d" / "50-cloudimg.cfg").write_text('GRUB_CMDLINE_LINUX="console=ttyS0"\n')
    kind, res = env(dict(bootloader="none"))
    assert env.warnings == ["%s sets GRUB_CMDLINE_LINUX after %s and may drop the parameters"
                            % (env.tmp / "default" / "grub.d" / "50-cloudimg.cfg", env.grub)]
