# -*- coding: utf-8 -*-
# Copyright: (c) 2026, immutable.audit developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A chroot converge with the roles' default variables: playbooks/harden.yml
through Ansible's chroot connection (community.general.chroot) converges a
debootstrap tree and leaves this machine's kernel alone, because the modules
find out for themselves that the kernel there is not the target's
(plugins/module_utils/_kernel_owner.py); no image-build variable is set.

The tree is Debian bookworm minbase with auditd, python3 and python3-apt,
made like scripts/vm/build-image.sh does it: ``debootstrap --foreign``, a
policy-rc.d that exits 101 put into the tree before any maintainer script
runs (the auditd package must never start a daemon here: it would talk to
this machine's kernel), then the second stage in the chroot. The pristine
tree is cached under .cache/image-build/<key> (key: suite, mirror, packages,
TREE_VERSION) and copied for every run; .debs are cached too.

community.general is not a dependency of the project and Galaxy is not
reachable: the PyPI package ``ansible`` (11.x pairs with ansible-core 2.18)
ships it. The wheel is fetched with ``pip download --no-deps`` into
.cache/pip-ansible (nothing is installed into the venv) and only
ansible_collections/community/general is extracted into
.cache/collections-extra, which is added to ANSIBLE_COLLECTIONS_PATH for this
test's ansible-playbook runs only.

Safety, even when the detection is wrong: the tree's auditctl is replaced by
a stub that records its arguments in the tree and exits 1 without doing
anything, so a module that decided wrongly fails the run (and the test)
before anything reaches the kernel; the tree has a policy-rc.d, so no
service starts. Before and after, ``auditctl -s`` (its settings, not the
counters), ``auditctl -l``, the host's /etc/audit/rules.d and
/etc/audit/auditd.conf must be identical. Only ``auditctl -s`` and ``-l`` are
run here (read only). Three converges: the first (no /proc in the tree: the
chroot connection mounts nothing), a second that must change nothing, and a
third with /proc mounted in the tree (then the detection sees a root that is
not PID 2's), which must change nothing either.

Needs root; skipped with the reason when debootstrap or chroot is missing.
"""

import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

import pytest

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
PLAYBOOK_BIN = os.path.join(VENV_BIN, "ansible-playbook")
CACHE = os.path.join(ROOT, ".cache")
BUILD_CACHE = os.path.join(CACHE, "image-build")
EXTRA_COLLECTIONS = os.path.join(CACHE, "collections-extra")
ANSIBLE_PYPI_VERSION = "11.13.0"   # ships community.general 10.x, for ansible-core 2.18

SUITE = "bookworm"
PACKAGES = ["auditd", "python3", "python3-apt"]
TREE_VERSION = "1"   # bump when the way the tree is made changes

STUB_CALLS = "/var/log/audit-stub.calls"
# The tree's auditctl and auditd would drive the build machine's kernel (auditd
# registers itself as the kernel's audit daemon and enables auditing): each is
# replaced by a stub that records the call and refuses, so that a wrong
# decision fails the run before anything reaches the kernel. (A service
# manager that starts auditd in a chroot bypasses policy-rc.d: found when the
# detection was broken on purpose without the auditd stub.)
STUB = """#!/bin/sh
echo "%%s $*" >> %s
echo "%%s stub: refused $*" >&2
exit 1
""" % STUB_CALLS
STUBBED = ("auditctl", "auditd")
RULES_FILE = "/etc/audit/rules.d/50-immutable-baseline.rules"
FINALIZE_FILE = "/etc/audit/rules.d/zz-immutable-finalize.rules"
GRUB_BEFORE = 'GRUB_CMDLINE_LINUX="quiet"\n'
# auditd.conf as the auditd role's default auditd_config leaves it
AUDITD_CONF = {
    "max_log_file_action": "KEEP_LOGS",
    "space_left_action": "EMAIL",
    "action_mail_acct": "root",
    "admin_space_left_action": "HALT",
    "disk_full_action": "HALT",
    "disk_error_action": "HALT",
}
# auditctl -s lines that are counters, not settings
STATUS_COUNTERS = ("lost", "backlog", "backlog_wait_time_actual")


# ---------------------------------------------------------------- helpers

def _run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(argv, check=kw.pop("check", False), **kw)


def _mirror():
    """The Debian mirror this machine uses (as scripts/vm/build-image.sh finds it)."""
    if os.environ.get("IMMUTABLE_AUDIT_VM_MIRROR"):
        return os.environ["IMMUTABLE_AUDIT_VM_MIRROR"]
    files = (sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
             + sorted(glob.glob("/etc/apt/sources.list.d/*.list")) + ["/etc/apt/sources.list"])
    for path in files:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if path.endswith(".sources"):
            for m in re.finditer(r"^URIs:(.*)$", text, re.M):
                for uri in m.group(1).split():
                    if re.search(r"/debian/?$", uri):
                        return uri
        else:
            for m in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian/?)\s", text, re.M):
                return m.group(1)
    return "http://deb.debian.org/debian"


def _mounts_under(path):
    path = os.path.realpath(path).rstrip("/") + "/"
    found = []
    with open("/proc/mounts") as f:
        for line in f:
            mnt = line.split()[1].encode().decode("unicode_escape")
            if (mnt + "/").startswith(path):
                found.append(mnt)
    return found


def _unmount_and_remove(path):
    """Unmount whatever is mounted below path (deepest first), then delete it."""
    for _attempt in range(2):
        for mnt in sorted(_mounts_under(path), key=len, reverse=True):
            if _run(["umount", mnt]).returncode != 0:
                _run(["umount", "-l", mnt])
    left = _mounts_under(path)
    assert not left, "still mounted, not removing %s: %s" % (path, left)
    if os.path.lexists(path):
        _run(["rm", "-rf", "--one-file-system", path])


def _kill_chroot_processes(root):
    root = os.path.realpath(root)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink("/proc/%s/root" % pid) == root:
                os.kill(int(pid), 9)
        except OSError:
            pass


def _host_audit_state():
    env = dict(os.environ, LANG="C", LC_ALL="C")
    status = _run(["auditctl", "-s"], env=env)
    rules = _run(["auditctl", "-l"], env=env)
    settings = {}
    for line in status.stdout.splitlines():
        name, _sep, value = line.partition(" ")
        if name not in STATUS_COUNTERS:
            settings[name] = value
    rules_d = "/etc/audit/rules.d"
    listing = {}
    if os.path.isdir(rules_d):
        for name in sorted(os.listdir(rules_d)):
            st = os.stat(os.path.join(rules_d, name))
            listing[name] = (st.st_size, st.st_mtime_ns)
    conf_hash = None
    if os.path.exists("/etc/audit/auditd.conf"):
        with open("/etc/audit/auditd.conf", "rb") as f:
            conf_hash = hashlib.sha256(f.read()).hexdigest()
    return {"status_rc": status.returncode, "status": settings,
            "rules_rc": rules.returncode, "rules": rules.stdout.splitlines(),
            "rules.d": listing, "auditd.conf": conf_hash}


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def prerequisites():
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap and the chroot connection)")
    for tool in ("debootstrap", "chroot"):
        if shutil.which(tool) is None:
            pytest.skip("'%s' not found: install the Debian package debootstrap "
                        "(scripts/bootstrap.sh does)" % tool)
    if shutil.which("auditctl") is None:
        pytest.skip("auditctl not found: cannot prove that the host kernel was not touched")


@pytest.fixture(scope="module")
def collections_extra():
    """.cache/collections-extra with community.general from the PyPI 'ansible' wheel."""
    target = os.path.join(EXTRA_COLLECTIONS, "ansible_collections", "community", "general")
    stamp = os.path.join(EXTRA_COLLECTIONS, ".from-ansible-%s" % ANSIBLE_PYPI_VERSION)
    if os.path.exists(stamp) and os.path.isdir(target):
        return EXTRA_COLLECTIONS
    wheels = os.path.join(CACHE, "pip-ansible")
    wheel = os.path.join(wheels, "ansible-%s-py3-none-any.whl" % ANSIBLE_PYPI_VERSION)
    if not os.path.exists(wheel):
        proc = _run([os.path.join(VENV_BIN, "pip"), "download", "--no-deps", "--only-binary=:all:",
                     "ansible==%s" % ANSIBLE_PYPI_VERSION, "-d", wheels], timeout=600)
        assert proc.returncode == 0 and os.path.exists(wheel), \
            "pip download of ansible==%s failed:\n%s" % (ANSIBLE_PYPI_VERSION, proc.stdout + proc.stderr)
    prefix = "ansible_collections/community/general/"
    tmp = tempfile.mkdtemp(prefix=".extract.", dir=CACHE)
    try:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp, [n for n in zf.namelist() if n.startswith(prefix)])
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(os.path.join(tmp, prefix), target)
        for old in glob.glob(os.path.join(EXTRA_COLLECTIONS, ".from-ansible-*")):
            os.remove(old)
        open(stamp, "w").close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return EXTRA_COLLECTIONS


@pytest.fixture(scope="module")
def pristine_tree(prerequisites):
    """The debootstrap tree, built once per key and cached."""
    mirror = _mirror()
    key = hashlib.sha256(json.dumps([TREE_VERSION, SUITE, mirror, PACKAGES]).encode()).hexdigest()[:16]
    out = os.path.join(BUILD_CACHE, "tree-" + key)
    debs = os.path.join(BUILD_CACHE, "debs")
    os.makedirs(debs, exist_ok=True)
    with open(os.path.join(BUILD_CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(out, ".complete")):
            return os.path.join(out, "rootfs")
        for stale in glob.glob(os.path.join(BUILD_CACHE, ".tmp.*")):
            _unmount_and_remove(stale)
        tmp = tempfile.mkdtemp(prefix=".tmp.", dir=BUILD_CACHE)
        rootfs = os.path.join(tmp, "rootfs")
        try:
            proc = _run(["debootstrap", "--foreign", "--variant=minbase", "--arch=amd64",
                         "--include=" + ",".join(PACKAGES), "--cache-dir=" + debs,
                         SUITE, rootfs, mirror], timeout=1200)
            assert proc.returncode == 0, "debootstrap stage 1 failed:\n" + (proc.stdout + proc.stderr)[-3000:]
            # Before any maintainer script runs: no service may start.
            os.makedirs(os.path.join(rootfs, "usr/sbin"), exist_ok=True)
            policy = os.path.join(rootfs, "usr/sbin/policy-rc.d")
            with open(policy, "w") as f:
                f.write("#!/bin/sh\n# test_image_build.py: nothing starts in this tree\nexit 101\n")
            os.chmod(policy, 0o755)
            os.makedirs(os.path.join(rootfs, "etc/dpkg/dpkg.cfg.d"), exist_ok=True)
            with open(os.path.join(rootfs, "etc/dpkg/dpkg.cfg.d/90unsafe-io"), "w") as f:
                f.write("force-unsafe-io\n")
            proc = _run(["chroot", rootfs, "/debootstrap/debootstrap", "--second-stage"], timeout=1200)
            assert proc.returncode == 0, "debootstrap stage 2 failed:\n" + (proc.stdout + proc.stderr)[-3000:]
            _kill_chroot_processes(rootfs)
            for mnt in sorted(_mounts_under(tmp), key=len, reverse=True):
                _run(["umount", mnt])
            assert not _mounts_under(tmp)
            assert os.path.exists(os.path.join(rootfs, "sbin/auditctl")) or \
                os.path.exists(os.path.join(rootfs, "usr/sbin/auditctl"))
            open(os.path.join(tmp, ".complete"), "w").close()
            for old in glob.glob(os.path.join(BUILD_CACHE, "tree-*")):
                _unmount_and_remove(old)
            os.rename(tmp, out)
        except BaseException:
            _kill_chroot_processes(rootfs)
            _unmount_and_remove(tmp)
            raise
    return os.path.join(out, "rootfs")


@pytest.fixture
def tree(pristine_tree):
    """A throwaway copy of the pristine tree, with a GRUB defaults file to edit."""
    work = tempfile.mkdtemp(prefix=".run.", dir=BUILD_CACHE)
    rootfs = os.path.join(work, "rootfs")
    try:
        proc = _run(["cp", "-a", "--reflink=auto", pristine_tree, rootfs])
        assert proc.returncode == 0, proc.stderr
        os.makedirs(os.path.join(rootfs, "etc/default"), exist_ok=True)
        with open(os.path.join(rootfs, "etc/default/grub"), "w") as f:
            f.write(GRUB_BEFORE)
        assert os.path.islink(os.path.join(rootfs, "sbin")), "expected a merged-/usr tree"
        for name in STUBBED:
            tool = os.path.join(rootfs, "usr/sbin", name)
            assert os.path.isfile(tool), tool
            with open(tool, "w") as f:
                f.write(STUB.replace("%s", name))
            os.chmod(tool, 0o755)
        yield work, rootfs
    finally:
        _kill_chroot_processes(rootfs)
        _unmount_and_remove(work)


# ---------------------------------------------------------------- the test

def _converge(work, rootfs, extra_collections):
    inventory = os.path.join(work, "inventory.ini")
    with open(inventory, "w") as f:
        # ansible_become=false: harden.yml has become: true, the tree has no
        # sudo and the chroot connection is root already.
        f.write("[image]\nimage ansible_host=%s ansible_connection=community.general.chroot "
                "ansible_become=false ansible_python_interpreter=/usr/bin/python3\n" % rootfs)
    rules_json = os.path.join(work, "baseline_rules.json")
    play = os.path.join(work, "play.yml")
    with open(play, "w") as f:
        f.write(
            "---\n"
            "- name: The fleet playbook\n"
            "  ansible.builtin.import_playbook: %s\n"
            "- name: Hand the computed rules to the test\n"
            "  hosts: image\n  gather_facts: false\n  tasks:\n"
            "    - name: Write baseline_rules on the controller\n"
            "      ansible.builtin.copy:\n"
            "        content: \"{{ baseline_rules | to_json }}\"\n"
            "        dest: %s\n        mode: \"0600\"\n"
            "      delegate_to: localhost\n"
            % (os.path.join(ROOT, "playbooks", "harden.yml"), rules_json))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(
                   [os.path.join(CACHE, "collections"), extra_collections]),
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    # The roles' default variables: no -e at all.
    proc = _run([PLAYBOOK_BIN, "-i", inventory, play],
                cwd=ROOT, env=env, timeout=900)
    rules = None
    if os.path.exists(rules_json):
        with open(rules_json) as f:
            rules = json.load(f)
    return proc, rules


def _read(rootfs, path):
    with open(os.path.join(rootfs, path.lstrip("/"))) as f:
        return f.read()


def _stub_calls(rootfs):
    """What the tree's stub auditctl and auditd were asked to do (nothing, if every module decided right)."""
    path = os.path.join(rootfs, STUB_CALLS.lstrip("/"))
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


def _recap(stdout):
    m = re.search(r"^image\s+:\s+(.*)$", stdout, re.M)
    assert m, stdout[-3000:]
    return dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1)))


def test_harden_with_default_variables_converges_a_chroot_without_touching_the_host_kernel(tree, collections_extra):
    work, rootfs = tree
    before = _host_audit_state()
    assert before["status_rc"] == 0 and before["rules_rc"] == 0, before

    first, rules = _converge(work, rootfs, collections_extra)
    after_first = _host_audit_state()
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-6000:]
    recap = _recap(first.stdout)
    assert recap["failed"] == 0 and recap["unreachable"] == 0 and recap["changed"] > 0, recap
    # Decided by the modules, said by the roles.
    assert "Image build (the kernel here is not the target's: no-proc, detected by " \
        "immutable.audit.auditd_config): files only" in first.stdout, first.stdout[-6000:]
    assert "Image build (the kernel here is not the target's: no-proc, detected by " \
        "immutable.audit.audit_rules): the rules and the lock are written to disk only" in first.stdout
    assert _stub_calls(rootfs) == []

    # The rules file in the tree: a header, then the computed rules in order,
    # less those on a path the tree lacks (missing_path: skip; the module
    # checks the paths inside the chroot, so the tree decides, not the host).
    assert rules, "baseline_rules was not handed over"
    text = _read(rootfs, RULES_FILE)
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    left_out = [r for r in rules if r not in body]
    assert body == [r for r in rules if r not in left_out]
    for rule in left_out:
        m = re.search(r"^-w (\S+)|-F (?:path|dir)=(\S+)", rule)
        assert m, rule
        path = m.group(1) or m.group(2)
        assert not os.path.exists(os.path.join(rootfs, path.lstrip("/"))), rule
    assert len(body) > 50, len(body)
    assert "-w /etc/sudoers -p wa -k scope" in rules                      # cis, the default profile
    assert any(" -F arch=b32 " in r for r in rules)
    assert not any(r.startswith("-e") or r.startswith("-D") for r in rules)
    # privileged commands: the tree's setuid files, found by find in the chroot
    privileged = [re.search(r" -F path=(\S+) ", r).group(1) for r in rules if r.endswith("key=privileged")
                  and " -F path=" in r]
    assert "/usr/bin/passwd" in privileged, privileged
    for path in privileged:
        st = os.lstat(os.path.join(rootfs, path.lstrip("/")))
        assert st.st_mode & 0o6000, path
    # The finalize file: the lock, loaded last by augenrules at the image's boot.
    finalize = [line for line in _read(rootfs, FINALIZE_FILE).splitlines()
                if line and not line.startswith("#")]
    assert finalize == ["-e 2"], finalize
    # auditd.conf and the GRUB defaults, edited in the tree.
    conf = {}
    for line in _read(rootfs, "/etc/audit/auditd.conf").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            conf[k.strip()] = v.strip()
    for k, v in AUDITD_CONF.items():
        assert conf.get(k, "").upper() == v.upper(), (k, conf.get(k))
    assert _read(rootfs, "/etc/default/grub") == 'GRUB_CMDLINE_LINUX="quiet audit=1 audit_backlog_limit=8192"\n'
    # auditd enabled for the image's boot (the package's own enablement, kept).
    assert os.path.lexists(os.path.join(rootfs, "etc/systemd/system/multi-user.target.wants/auditd.service"))

    # A second run of the tree changes nothing. The files are compared too:
    # audit_rules returns a list named 'skipped' (the rules left out), which
    # Ansible takes for a skipped task whose change the recap does not count.
    edited = [RULES_FILE, FINALIZE_FILE, "/etc/audit/auditd.conf", "/etc/default/grub"]

    def _snapshot():
        out = {}
        for path in edited:
            st = os.stat(os.path.join(rootfs, path.lstrip("/")))
            out[path] = (st.st_mtime_ns, st.st_ino, _read(rootfs, path))
        return out

    files_before = _snapshot()
    second, _output = _converge(work, rootfs, collections_extra)
    assert second.returncode == 0, (second.stdout + second.stderr)[-6000:]
    recap2 = _recap(second.stdout)
    assert recap2["failed"] == 0 and recap2["changed"] == 0, (recap2, second.stdout[-6000:])
    assert _snapshot() == files_before

    # With /proc mounted in the tree the chroot is told by its root (not PID
    # 2's), and again nothing changes and nothing live is attempted.
    proc_dir = os.path.join(rootfs, "proc")
    assert _run(["mount", "-t", "proc", "proc", proc_dir]).returncode == 0
    try:
        third, _output = _converge(work, rootfs, collections_extra)
    finally:
        _run(["umount", proc_dir])
    assert third.returncode == 0, (third.stdout + third.stderr)[-6000:]
    recap3 = _recap(third.stdout)
    assert recap3["failed"] == 0 and recap3["changed"] == 0, (recap3, third.stdout[-6000:])
    assert "Image build (the kernel here is not the target's: chroot, detected by " \
        "immutable.audit.audit_rules)" in third.stdout, third.stdout[-6000:]
    assert _snapshot() == files_before
    assert _stub_calls(rootfs) == []

    # This machine's kernel and audit files were not touched.
    after = _host_audit_state()
    assert after_first == before, (before, after_first)
    assert after == before, (before, after)
    assert RULES_FILE.rsplit("/", 1)[1] not in after["rules.d"]
    assert FINALIZE_FILE.rsplit("/", 1)[1] not in after["rules.d"]
    # nothing left running in the tree
    root = os.path.realpath(rootfs)
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink("/proc/%s/root" % pid) == root:
                leftovers.append(pid)
        except OSError:
            pass
    assert not leftovers, leftovers


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
