# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Units for kernel command-line parsing and GRUB_CMDLINE_LINUX editing."""

import pytest

from ansible_collections.immutable.audit.plugins.module_utils import _boot

AUDIT = _boot.validate({"audit": 1, "audit_backlog_limit": 8192})

DEBIAN_GRUB = """\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""

# Uncomment to disable graphical terminal (grub-pc only)
#GRUB_TERMINAL=console
"""


def test_validate():
    assert list(AUDIT.items()) == [("audit", "1"), ("audit_backlog_limit", "8192")]
    assert _boot.validate({"nosmt": None, "quiet": "", "audit": True}) == {"nosmt": "", "quiet": "", "audit": "1"}
    with pytest.raises(_boot.BootError, match=r"invalid value 'a b' for kernel parameter x"):
        _boot.validate({"x": "a b"})
    with pytest.raises(_boot.BootError, match=r"invalid value '\$HOME' for kernel parameter x"):
        _boot.validate({"x": "$HOME"})
    with pytest.raises(_boot.BootError, match="invalid kernel parameter name 'a=b'"):
        _boot.validate({"a=b": 1})


def test_parse_cmdline_quotes_and_init_args():
    text = 'BOOT_IMAGE=/vmlinuz ro  quiet dyndbg="file x.c +p" audit=0 audit=1 -- single audit=0\n'
    args = _boot.parse_cmdline(text)
    assert args == [("BOOT_IMAGE", "/vmlinuz"), ("ro", ""), ("quiet", ""), ("dyndbg", "file x.c +p"),
                    ("audit", "0"), ("audit", "1")]
    assert _boot.differing(args, AUDIT) == {"audit_backlog_limit": "8192"}
    assert _boot.current_values(args, AUDIT) == {"audit": "1", "audit_backlog_limit": None}


def test_debian_default_gets_both_params():
    edit = _boot.edit_default_grub(DEBIAN_GRUB, AUDIT)
    assert edit.changed == ["audit", "audit_backlog_limit"]
    assert edit.text == DEBIAN_GRUB.replace('GRUB_CMDLINE_LINUX=""',
                                            'GRUB_CMDLINE_LINUX="audit=1 audit_backlog_limit=8192"')
    assert (edit.value_before, edit.value_after) == ("", "audit=1 audit_backlog_limit=8192")
    again = _boot.edit_default_grub(edit.text, AUDIT)
    assert again.changed == [] and again.text == edit.text


@pytest.mark.parametrize("line, expected, changed", [
    # other params and odd spacing kept, value replaced in place, trailing comment kept
    ('GRUB_CMDLINE_LINUX="quiet  audit=0 splash"  # site\n',
     'GRUB_CMDLINE_LINUX="quiet  audit=1 splash audit_backlog_limit=8192"  # site\n',
     ["audit", "audit_backlog_limit"]),
    # single quotes stay single; kernel quotes inside are a word of their own
    ("GRUB_CMDLINE_LINUX='dyndbg=\"file a.c +p\" audit=1'\n",
     "GRUB_CMDLINE_LINUX='dyndbg=\"file a.c +p\" audit=1 audit_backlog_limit=8192'\n",
     ["audit_backlog_limit"]),
    # escaped kernel quotes in a double-quoted shell string, and a shell variable
    ('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX x=\\"audit=0 y\\" audit_backlog_limit=64"\n',
     'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX x=\\"audit=0 y\\" audit_backlog_limit=8192 audit=1"\n',
     ["audit_backlog_limit", "audit"]),
    # unquoted single word becomes double-quoted
    ("GRUB_CMDLINE_LINUX=quiet\n", 'GRUB_CMDLINE_LINUX="quiet audit=1 audit_backlog_limit=8192"\n',
     ["audit", "audit_backlog_limit"]),
    # export and indentation
    ('  export GRUB_CMDLINE_LINUX="ro"\n', '  export GRUB_CMDLINE_LINUX="ro audit=1 audit_backlog_limit=8192"\n',
     ["audit", "audit_backlog_limit"]),
    # the last word of a name counts: an earlier audit=0 is overridden already
    ('GRUB_CMDLINE_LINUX="audit=0 audit=1 audit_backlog_limit=8192"\n',
     'GRUB_CMDLINE_LINUX="audit=0 audit=1 audit_backlog_limit=8192"\n', []),
    ('GRUB_CMDLINE_LINUX="audit=1 audit=0 audit_backlog_limit=8192"\n',
     'GRUB_CMDLINE_LINUX="audit=1 audit=1 audit_backlog_limit=8192"\n', ["audit"]),
    # the same value spelled with kernel quotes is no change
    ('GRUB_CMDLINE_LINUX=\'audit="1" audit_backlog_limit=8192\'\n',
     'GRUB_CMDLINE_LINUX=\'audit="1" audit_backlog_limit=8192\'\n', []),
])
def test_edit_tricky_quoting(line, expected, changed):
    edit = _boot.edit_default_grub(line, AUDIT)
    assert edit.text == expected and edit.changed == changed


def test_last_assignment_is_edited_and_missing_one_is_appended():
    text = 'GRUB_CMDLINE_LINUX="a"\nGRUB_CMDLINE_LINUX="b"'
    assert _boot.edit_default_grub(text, {"audit": "1"}).text == 'GRUB_CMDLINE_LINUX="a"\nGRUB_CMDLINE_LINUX="b audit=1"'
    assert _boot.edit_default_grub("GRUB_TIMEOUT=5", {"audit": "1"}).text == \
        'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="audit=1"\n'
    assert _boot.edit_default_grub("", {}).changed == []


@pytest.mark.parametrize("text, message", [
    ('GRUB_CMDLINE_LINUX="quiet\n  splash"\n', "has no closing \""),
    ("GRUB_CMDLINE_LINUX=$(cat /x)\n", "not a plain word or quoted string"),
    ('GRUB_CMDLINE_LINUX="a" b\n', "text after its value that is not a comment"),
])
def test_refuses_what_it_cannot_edit_safely(text, message):
    with pytest.raises(_boot.BootError, match=message):
        _boot.edit_default_grub(text, AUDIT)


GRUBBY_INFO = """\
index=0
kernel="/boot/vmlinuz-5.14.0-362.el9.x86_64"
args="ro crashkernel=1G-4G:192M rhgb quiet audit=1"
root="/dev/mapper/rhel-root"
initrd="/boot/initramfs-5.14.0-362.el9.x86_64.img"
title="Red Hat Enterprise Linux (5.14.0-362.el9.x86_64) 9.3 (Plow)"
id="abc-5.14.0-362.el9.x86_64"
index=1
kernel="/boot/vmlinuz-0-rescue-abc"
args="ro crashkernel=1G-4G:192M rhgb quiet audit=1 audit_backlog_limit=8192"
index=2
non linux entry
"""


def test_grubby_entries():
    entries = _boot.grubby_entries(GRUBBY_INFO)
    assert [e["kernel"] for e in entries] == ["/boot/vmlinuz-5.14.0-362.el9.x86_64", "/boot/vmlinuz-0-rescue-abc"]
    assert _boot.differing(entries[0]["args"], AUDIT) == {"audit_backlog_limit": "8192"}
    assert _boot.differing(entries[1]["args"], AUDIT) == {}


def test_grub_cfg_args_and_dropins():
    cfg = ("menuentry 'Debian' {\n\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=x ro audit=1 quiet\n"
           "\tinitrd\t/boot/initrd.img\n}\n\tlinux /vmlinuz\n")
    assert _boot.grub_cfg_args(cfg) == [[("root", "UUID=x"), ("ro", ""), ("audit", "1"), ("quiet", "")], []]
    assert _boot.assigns_elsewhere('GRUB_CMDLINE_LINUX="console=ttyS0"\n')
    assert not _boot.assigns_elsewhere('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX console=ttyS0"\n')
    assert not _boot.assigns_elsewhere('GRUB_CMDLINE_LINUX_DEFAULT="console=ttyS0"\n')
