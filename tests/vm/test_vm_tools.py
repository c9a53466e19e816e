"""Unit tests of scripts/vm/vm.py's pure parts: no QEMU, nothing boots."""
import importlib.util
import json
import os
import socket
from pathlib import Path

import pytest

VM_PY = Path(__file__).resolve().parents[2] / "scripts" / "vm" / "vm.py"
_spec = importlib.util.spec_from_file_location("immutable_audit_vm", VM_PY)
vm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vm)


@pytest.fixture
def image(tmp_path):
    d = tmp_path / "images" / "abc"
    d.mkdir(parents=True)
    for f in ("base.qcow2", "vmlinuz", "initrd.img", "id_ed25519"):
        (d / f).write_text("x")
    (d / "image.json").write_text(json.dumps({"key": "abc", "user": "root"}))
    (tmp_path / "current").symlink_to("images/abc")
    return vm.load_image(tmp_path / "current")


@pytest.fixture
def store(tmp_path):
    return vm.Store(tmp_path / "instances")


def _state(name, port, identity="/k/id_ed25519"):
    return {"instance": name, "port": port, "identity_file": identity, "user": "root"}


# --- command lines ---------------------------------------------------------

def test_kernel_cmdline_has_root_console_and_audit():
    args = vm.kernel_cmdline().split()
    for a in ("root=/dev/vda", "console=ttyS0", "audit=1", "audit_backlog_limit=8192", "rw"):
        assert a in args
    assert vm.kernel_cmdline(["quiet"]).endswith(" quiet")


def test_qemu_argv(image, tmp_path):
    d = tmp_path / "instances" / "g1"
    argv = vm.qemu_argv("g1", d, image, 40022, memory=768, smp=1)
    assert argv[0] == "qemu-system-x86_64"
    assert "-no-reboot" not in argv  # guests must survive reboots

    def opt(flag):
        return argv[argv.index(flag) + 1]

    assert opt("-accel") == "tcg,tb-size=256"
    assert opt("-m") == "768"
    assert opt("-smp") == "1"
    assert opt("-display") == "none"
    assert opt("-serial") == f"file:{d / 'console.log'}"
    assert opt("-pidfile") == str(d / "qemu.pid")
    assert "-daemonize" in argv
    assert opt("-kernel") == image["kernel"] and os.path.isabs(opt("-kernel"))
    assert opt("-initrd") == image["initrd"]
    assert opt("-append") == vm.kernel_cmdline()
    assert "hostfwd=tcp:127.0.0.1:40022-:22" in opt("-netdev")
    assert opt("-drive").startswith(f"file={d / 'disk.qcow2'},if=virtio,format=qcow2")
    # relative to the instance dir (QEMU's cwd): no 108-byte sun_path limit
    assert opt("-qmp") == "unix:qmp.sock,server=on,wait=off"


def test_overlay_argv_needs_absolute_backing_file():
    argv = vm.overlay_argv("/abs/base.qcow2", "/s/disk.qcow2")
    assert argv == ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                    "-b", "/abs/base.qcow2", "/s/disk.qcow2"]
    with pytest.raises(vm.VMError, match="absolute"):
        vm.overlay_argv("base.qcow2", "/s/disk.qcow2")


def test_ssh_argv():
    argv = vm.ssh_argv("/k/id", 40022, ["auditctl", "-s"])
    assert argv[:5] == ["ssh", "-i", "/k/id", "-p", "40022"]
    assert "BatchMode=yes" in argv and "StrictHostKeyChecking=no" in argv
    assert argv[-4:] == ["root@127.0.0.1", "--", "auditctl", "-s"]
    assert vm.ssh_argv("/k/id", 1)[-1] == "root@127.0.0.1"


def test_molecule_config_shape():
    cfg = vm.molecule_config(dict(_state("g1", "40022"), pid=5, argv=[]))
    assert cfg == {"instance": "g1", "address": "127.0.0.1", "port": 40022,
                   "user": "root", "identity_file": "/k/id_ed25519"}


# --- names, paths, images --------------------------------------------------

@pytest.mark.parametrize("name", ["guest", "smoke-guest", "lock_1.a", "A" * 63])
def test_valid_names(name):
    assert vm.check_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", ".hidden", "a/b", "../x", "a b", "A" * 64, "logs/x"])
def test_invalid_names(name):
    with pytest.raises(vm.VMError, match="invalid instance name"):
        vm.check_name(name)


def test_cache_dir_override(tmp_path):
    assert vm.cache_dir({"IMMUTABLE_AUDIT_VM_CACHE": str(tmp_path)}) == tmp_path.resolve()
    assert vm.cache_dir({}) == vm.REPO / ".cache" / "vm"
    assert vm.default_state_root({"IMMUTABLE_AUDIT_VM_CACHE": str(tmp_path)}) == tmp_path / "instances"


def test_load_image_resolves_symlink(image, tmp_path):
    real = (tmp_path / "images" / "abc").resolve()
    assert image["dir"] == str(real)
    assert image["base"] == str(real / "base.qcow2")
    assert image["identity_file"] == str(real / "id_ed25519")


def test_load_image_missing_or_incomplete(tmp_path):
    with pytest.raises(vm.VMError, match="build-image.sh"):
        vm.load_image(tmp_path / "nothing")
    d = tmp_path / "half"
    d.mkdir()
    (d / "image.json").write_text("{}")
    with pytest.raises(vm.VMError, match="incomplete"):
        vm.load_image(d)


# --- ports -----------------------------------------------------------------

def test_pick_port_skips_claimed_ports():
    candidates = iter([40001, 40002, 40003])
    assert vm.pick_port({40001, 40002}, probe=lambda: next(candidates)) == 40003


def test_pick_port_gives_up():
    with pytest.raises(vm.VMError, match="no free port"):
        vm.pick_port({40001}, attempts=3, probe=lambda: 40001)


def test_pick_port_real_probe_is_free():
    port = vm.pick_port()
    assert 0 < port < 65536
    assert vm.port_is_free(port)


def test_port_is_free_false_when_bound():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert not vm.port_is_free(s.getsockname()[1])


# --- processes (fake /proc) ------------------------------------------------

def _fake_proc(tmp_path, pid, argv, state="S"):
    p = tmp_path / "proc" / str(pid)
    p.mkdir(parents=True)
    (p / "stat").write_text(f"{pid} (qemu-system-x86) {state} 1 2 3\n")
    (p / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return str(tmp_path / "proc")


def test_read_pid(tmp_path):
    f = tmp_path / "qemu.pid"
    assert vm.read_pid(f) is None
    f.write_text("1234\n")
    assert vm.read_pid(f) == 1234
    for bad in ("", "abc", "-5", "0"):
        f.write_text(bad)
        assert vm.read_pid(f) is None


def test_pid_alive_treats_zombie_as_gone(tmp_path):
    proc = _fake_proc(tmp_path, 10, ["qemu-system-x86_64"], state="S")
    _fake_proc(tmp_path, 11, ["qemu-system-x86_64"], state="Z")
    assert vm.pid_alive(10, proc)
    assert not vm.pid_alive(11, proc)
    assert not vm.pid_alive(12, proc)
    assert not vm.pid_alive(None, proc)


def test_is_guest_process_checks_qemu_and_disk(tmp_path):
    inst = tmp_path / "instances" / "g1"
    proc = _fake_proc(tmp_path, 20, ["/usr/bin/qemu-system-x86_64", "-drive",
                                     f"file={inst / 'disk.qcow2'},if=virtio"])
    _fake_proc(tmp_path, 21, ["/usr/bin/qemu-system-x86_64", "-drive", "file=/other/disk.qcow2"])
    _fake_proc(tmp_path, 22, ["/usr/bin/python3", f"{inst / 'disk.qcow2'}"])
    assert vm.is_guest_process(20, inst, proc)
    assert not vm.is_guest_process(21, inst, proc)  # pid reused by another guest
    assert not vm.is_guest_process(22, inst, proc)  # not a QEMU
    assert vm.guest_pids_under(tmp_path / "instances", proc) == [20]


# --- state -----------------------------------------------------------------

def test_store_roundtrip_and_ports(store):
    for name, port in (("a", 40010), ("b", 40011)):
        store.dir(name).mkdir(parents=True)
        store.save(_state(name, port))
    (store.root / ".logs").mkdir()
    (store.root / "stray").mkdir()  # no instance.json: not an instance
    assert store.names() == ["a", "b"]
    assert store.load("a")["port"] == 40010
    assert store.claimed_ports() == {40010, 40011}
    assert not store.running("a")


def test_store_load_missing_and_corrupt(store):
    with pytest.raises(vm.VMError, match="no instance"):
        store.load("nope")
    store.dir("bad").mkdir(parents=True)
    (store.dir("bad") / "instance.json").write_text("{")
    with pytest.raises(vm.VMError, match="corrupt"):
        store.load("bad")


def test_remove_keeps_console_log(store):
    d = store.dir("g1")
    d.mkdir(parents=True)
    store.save(_state("g1", 40020))
    (d / "console.log").write_text("boot\n")
    (d / "disk.qcow2").write_text("x")
    store.remove("g1")
    assert not d.exists()
    assert (store.root / ".logs" / "g1.console.log").read_text() == "boot\n"


def test_stop_never_kills_a_pid_that_is_not_the_guest(store):
    d = store.dir("g1")
    d.mkdir(parents=True)
    store.save(_state("g1", 40021))
    (d / "qemu.pid").write_text(str(os.getpid()))  # this pytest: not a QEMU
    assert vm.stop(store, "g1") is False
    assert not d.exists()
    assert vm.stop(store, "g1") is False  # nothing there: still fine


def test_stop_all_on_empty_and_missing_state(store):
    assert vm.stop_all(store) == []
    assert vm.list_instances(store) == []


def test_console_tail(tmp_path):
    f = tmp_path / "console.log"
    assert vm.console_tail(f) == "(no console log)"
    f.write_bytes(b"".join(b"line %d\r\n" % i for i in range(100)))
    assert vm.console_tail(f, 3) == "line 97\nline 98\nline 99"


# --- CLI -------------------------------------------------------------------

def test_cli_list_json_empty(tmp_path, capsys):
    assert vm.main(["--state-dir", str(tmp_path / "s"), "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cli_start_without_image_fails_clearly(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(vm.shutil, "which", lambda tool: "/usr/bin/" + tool)
    rc = vm.main(["--state-dir", str(tmp_path / "s"), "start", "g1", "--image", str(tmp_path / "none")])
    assert rc == 1
    assert "run scripts/vm/build-image.sh first" in capsys.readouterr().err
    assert not (tmp_path / "s" / "g1").exists()


def test_cli_rejects_bad_name(tmp_path, capsys):
    assert vm.main(["--state-dir", str(tmp_path / "s"), "stop", "../etc"]) == 1
    assert "invalid instance name" in capsys.readouterr().err


def test_cli_config(store, capsys):
    store.dir("g1").mkdir(parents=True)
    store.save(_state("g1", 40030))
    assert vm.main(["--state-dir", str(store.root), "config", "g1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["port"] == 40030


# --- snapshots (no QEMU: keys, paths, pruning, the QMP client) --------------

def test_migration_uris_quote_paths():
    assert vm.incoming_uri("/c/state.zst") == "exec:zstd -dc /c/state.zst"
    assert vm.incoming_uri("/c d/s.zst") == "exec:zstd -dc '/c d/s.zst'"
    assert vm.outgoing_uri("/c/s.zst").startswith("exec:zstd -q -f ")
    assert vm.outgoing_uri("/c/s.zst").endswith(" -o /c/s.zst")


def test_snapshot_key_tracks_every_input(image):
    k = vm.snapshot_key(image, 384, 1, "QEMU 7.2")
    assert k == vm.snapshot_key(dict(image), 384, 1, "QEMU 7.2")
    assert k != vm.snapshot_key(image, 512, 1, "QEMU 7.2")
    assert k != vm.snapshot_key(image, 384, 2, "QEMU 7.2")
    assert k != vm.snapshot_key(image, 384, 1, "QEMU 8.0")
    assert k != vm.snapshot_key(dict(image, dir="/other"), 384, 1, "QEMU 7.2")


def test_load_snapshot_needs_disk_and_state(store):
    d = vm.snapshot_root(store) / "k1"
    d.mkdir(parents=True)
    assert vm.load_snapshot(store, "k1") is None
    (d / "snapshot.json").write_text('{"memory": 384}')
    (d / "disk.qcow2").write_text("x")
    assert vm.load_snapshot(store, "k1") is None  # no state.zst yet
    (d / "state.zst").write_text("x")
    snap = vm.load_snapshot(store, "k1")
    assert snap["key"] == "k1" and snap["memory"] == 384
    assert snap["disk"] == str(d / "disk.qcow2") and snap["state"] == str(d / "state.zst")


def test_prune_snapshots_keeps_current_and_temp(store):
    root = vm.snapshot_root(store)
    for k in ("old1", "old2", "cur", ".tmp.x.1"):
        (root / k).mkdir(parents=True)
    assert sorted(vm.prune_snapshots(store, keep="cur")) == ["old1", "old2"]
    assert sorted(p.name for p in root.iterdir()) == [".tmp.x.1", "cur"]


def test_stop_all_leaves_logs_and_snapshots_alone(store):
    (store.root / vm.LOGS_DIR).mkdir(parents=True)
    (store.root / vm.LOGS_DIR / "g.console.log").write_text("x")
    (vm.snapshot_root(store) / "k").mkdir(parents=True)
    (store.root / "notaguest").mkdir()
    assert vm.stop_all(store) == []
    assert (store.root / vm.LOGS_DIR / "g.console.log").exists()
    assert (vm.snapshot_root(store) / "k").exists()
    assert (store.root / "notaguest").exists()


def test_qmp_client_against_a_fake_monitor(tmp_path):
    import threading

    # deeper than a unix socket path may be: the client goes through /proc/self/fd
    deep = tmp_path / ("d" * 100) / ("e" * 100)
    deep.mkdir(parents=True)
    path = str(deep / "qmp.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cwd = os.getcwd()
    os.chdir(deep)
    try:
        srv.bind("qmp.sock")
    finally:
        os.chdir(cwd)
    srv.listen(1)
    seen = []

    def monitor():
        conn, _addr = srv.accept()
        f = conn.makefile("rwb")
        f.write(b'{"QMP": {"version": {}, "capabilities": []}}\n')
        f.flush()
        for line in f:
            msg = json.loads(line)
            seen.append(msg)
            if msg["execute"] == "query-migrate":
                f.write(b'{"event": "MIGRATION", "data": {}}\n')  # events are skipped
                f.write(b'{"return": {"status": "completed"}}\n')
            elif msg["execute"] == "bad":
                f.write(b'{"error": {"class": "GenericError", "desc": "nope"}}\n')
            else:
                f.write(b'{"return": {}}\n')
            f.flush()
        conn.close()

    t = threading.Thread(target=monitor, daemon=True)
    t.start()
    qmp = vm.QMP(path, timeout=5)
    assert qmp.execute("migrate", uri="exec:cat") == {}
    assert qmp.execute("query-migrate") == {"status": "completed"}
    with pytest.raises(vm.VMError, match="nope"):
        qmp.execute("bad")
    qmp.close()
    t.join(5)
    srv.close()
    assert seen[0] == {"execute": "qmp_capabilities"}
    assert seen[1] == {"execute": "migrate", "arguments": {"uri": "exec:cat"}}


def test_wait_running_polls_until_running(tmp_path):
    import threading

    path = tmp_path / "qmp.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)
    statuses = iter(["inmigrate", "inmigrate", "running"])

    def monitor():
        conn, _addr = srv.accept()
        f = conn.makefile("rwb")
        f.write(b'{"QMP": {}}\n')
        f.flush()
        for line in f:
            if json.loads(line)["execute"] == "query-status":
                f.write(json.dumps({"return": {"status": next(statuses)}}).encode() + b"\n")
            else:
                f.write(b'{"return": {}}\n')
            f.flush()
        conn.close()

    t = threading.Thread(target=monitor, daemon=True)
    t.start()
    assert vm.wait_running(path, timeout=10) is True
    t.join(5)
    srv.close()
    assert vm.wait_running(tmp_path / "absent.sock", timeout=0.3) is False
