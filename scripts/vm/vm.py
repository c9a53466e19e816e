"""Throwaway QEMU guests for tests that lock the kernel's audit state or reboot.

A guest boots the image that scripts/vm/build-image.sh made (a Debian 12 root
filesystem on /dev/vda, kernel and initrd given to QEMU directly) on its own
qcow2 overlay, under TCG, with SSH forwarded from a free port on 127.0.0.1.
Everything about an instance lives in one state directory,
``$IMMUTABLE_AUDIT_VM_CACHE/instances/NAME/`` (default ``.cache/vm``)::

    instance.json  what was started: pid, port, image, command line
    disk.qcow2     the overlay (the base image is never written)
    console.log    the guest's serial console
    qemu.pid       written by QEMU
    qmp.sock       QMP monitor

Usage::

    vm.py start NAME [--image DIR] [--memory MB] [--replace] [--fast] [--json]
    vm.py wait NAME... [--timeout SECONDS]
    vm.py ssh NAME [--] CMD...
    vm.py stop NAME...
    vm.py stop-all
    vm.py list [--json]
    vm.py config NAME...        molecule instance config (JSON list)

Python 3 standard library only; importable (tests/vm/test_vm_tools.py).
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QEMU = "qemu-system-x86_64"
QEMU_IMG = "qemu-img"
DEFAULT_MEMORY_MB = 384
DEFAULT_SMP = 1
DEFAULT_WAIT_TIMEOUT = 300.0
KERNEL_ARGS = ("root=/dev/vda", "console=ttyS0", "audit=1", "audit_backlog_limit=8192", "rw")
USER = "root"
ADDRESS = "127.0.0.1"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# Inside the state directory; never valid instance names (leading dot).
LOGS_DIR = ".logs"
SNAPSHOTS_DIR = ".snapshots"
SNAPSHOT_FORMAT = 1
SSH_OPTIONS = (
    "-o", "BatchMode=yes",
    "-o", "IdentitiesOnly=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=10",
)


class VMError(Exception):
    """A guest could not be started, reached or stopped; the message says why."""


# --------------------------------------------------------------------------
# Paths and names (pure)


def cache_dir(environ: dict | None = None) -> Path:
    environ = os.environ if environ is None else environ
    value = environ.get("IMMUTABLE_AUDIT_VM_CACHE")
    return Path(value).resolve() if value else REPO / ".cache" / "vm"


def default_state_root(environ: dict | None = None) -> Path:
    return cache_dir(environ) / "instances"


def default_image_dir(environ: dict | None = None) -> Path:
    return cache_dir(environ) / "current"


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise VMError(
            f"invalid instance name {name!r}: use letters, digits, '.', '_' and '-' "
            "(at most 63, not starting with a punctuation mark)"
        )
    return name


def load_image(image_dir: str | os.PathLike) -> dict:
    """The image's files as absolute paths, from the image.json build-image.sh writes."""
    d = Path(image_dir)
    meta_path = d / "image.json"
    if not meta_path.is_file():
        raise VMError(
            f"no image at {d} (missing image.json): run scripts/vm/build-image.sh first"
        )
    meta = json.loads(meta_path.read_text())
    d = d.resolve()  # follow the 'current' symlink: overlays need the real path
    image = {
        "dir": str(d),
        "key": meta.get("key", ""),
        "base": str(d / meta.get("base", "base.qcow2")),
        "kernel": str(d / meta.get("kernel", "vmlinuz")),
        "initrd": str(d / meta.get("initrd", "initrd.img")),
        "identity_file": str(d / meta.get("identity_file", "id_ed25519")),
        "user": meta.get("user", USER),
    }
    for key in ("base", "kernel", "initrd", "identity_file"):
        if not Path(image[key]).is_file():
            raise VMError(f"image {d} is incomplete: {image[key]} is missing; rebuild it")
    return image


# --------------------------------------------------------------------------
# Command lines (pure)


def kernel_cmdline(extra: tuple | list = ()) -> str:
    return " ".join((*KERNEL_ARGS, *extra))


def overlay_argv(base: str, disk: str, qemu_img: str = QEMU_IMG) -> list[str]:
    if not os.path.isabs(base):
        raise VMError(f"backing file must be an absolute path, got {base!r}")
    return [qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, disk]


def qemu_argv(
    name: str,
    inst_dir: str | os.PathLike,
    image: dict,
    port: int,
    memory: int = DEFAULT_MEMORY_MB,
    smp: int = DEFAULT_SMP,
    qemu: str = QEMU,
    extra_kernel_args: tuple | list = (),
) -> list[str]:
    """The QEMU command line of one guest. Never -no-reboot: guests reboot."""
    d = Path(inst_dir)
    argv = [
        qemu,
        "-name", name,
        "-nodefaults", "-no-user-config",
        "-accel", "tcg,tb-size=256",
        "-m", str(int(memory)),
        "-smp", str(int(smp)),
        "-display", "none",
        "-serial", f"file:{d / 'console.log'}",
        "-pidfile", str(d / "qemu.pid"),
        "-daemonize",
        "-drive", f"file={d / 'disk.qcow2'},if=virtio,format=qcow2,cache=unsafe,discard=unmap",
        "-netdev", f"user,id=net0,hostfwd=tcp:{ADDRESS}:{int(port)}-:22",
        "-device", "virtio-net-pci,netdev=net0",
        "-device", "virtio-rng-pci",
        "-kernel", image["kernel"],
        "-initrd", image["initrd"],
        "-append", kernel_cmdline(extra_kernel_args),
    ]
    # Relative to QEMU's working directory, the instance dir (see _launch):
    # a unix socket path is limited to 108 bytes, state paths are not.
    argv += ["-qmp", "unix:qmp.sock,server=on,wait=off"]
    return argv


def ssh_argv(identity_file: str, port: int, command: list[str] | tuple = (), user: str = USER,
             ssh: str = "ssh") -> list[str]:
    argv = [ssh, "-i", identity_file, "-p", str(int(port)), *SSH_OPTIONS, f"{user}@{ADDRESS}"]
    if command:
        argv += ["--", *command]
    return argv


def molecule_config(state: dict) -> dict:
    """One entry of molecule's instance_config.yml."""
    return {
        "instance": state["instance"],
        "address": ADDRESS,
        "port": int(state["port"]),
        "user": state.get("user", USER),
        "identity_file": state["identity_file"],
    }


# --------------------------------------------------------------------------
# Ports


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((ADDRESS, port))
        except OSError:
            return False
    return True


def pick_port(exclude: set | frozenset = frozenset(), attempts: int = 50, probe=None) -> int:
    """A port on 127.0.0.1 that is free now and not claimed by another instance.

    probe() returns a candidate port (default: what the kernel hands out for
    bind(0)); candidates in exclude are skipped.
    """
    def kernel_probe() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((ADDRESS, 0))
            return s.getsockname()[1]

    probe = probe or kernel_probe
    for _attempt in range(attempts):
        port = probe()
        if port not in exclude:
            return port
    raise VMError(f"no free port on {ADDRESS} after {attempts} attempts")


# --------------------------------------------------------------------------
# Processes


def read_pid(path: str | os.PathLike) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def pid_alive(pid: int | None, proc: str = "/proc") -> bool:
    """True if pid runs (a zombie counts as gone)."""
    if not pid:
        return False
    try:
        stat = Path(proc, str(pid), "stat").read_text()
    except OSError:
        return False
    # the state letter follows the parenthesised command name
    state = stat.rpartition(")")[2].split()
    return bool(state) and state[0] not in ("Z", "X")


def process_cmdline(pid: int, proc: str = "/proc") -> list[str]:
    try:
        raw = Path(proc, str(pid), "cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def is_guest_process(pid: int | None, inst_dir: str | os.PathLike, proc: str = "/proc") -> bool:
    """pid is a QEMU that runs the disk of inst_dir (guards against pid reuse)."""
    if not pid_alive(pid, proc):
        return False
    argv = process_cmdline(pid, proc)
    if not argv or "qemu" not in os.path.basename(argv[0]):
        return False
    disk = str(Path(inst_dir) / "disk.qcow2")
    return any(disk in a for a in argv)


def guest_pids_under(root: str | os.PathLike, proc: str = "/proc") -> list[int]:
    """QEMU processes whose command line references a path under root."""
    prefix = str(Path(root)) + os.sep
    pids = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        argv = process_cmdline(int(entry), proc)
        if argv and "qemu" in os.path.basename(argv[0]) and any(prefix in a for a in argv):
            if pid_alive(int(entry), proc):
                pids.append(int(entry))
    return sorted(pids)


def kill_and_wait(pid: int, term_timeout: float = 10.0, kill_timeout: float = 10.0) -> None:
    for sig, timeout in ((signal.SIGTERM, term_timeout), (signal.SIGKILL, kill_timeout)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)
    if pid_alive(pid):
        raise VMError(f"QEMU pid {pid} survived SIGKILL")


# --------------------------------------------------------------------------
# State


class Store:
    """The instances of one state directory."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else default_state_root()

    def dir(self, name: str) -> Path:
        return self.root / check_name(name)

    @contextlib.contextmanager
    def lock(self):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir()
            if p.is_dir() and NAME_RE.match(p.name) and (p / "instance.json").is_file()
        )

    def load(self, name: str) -> dict:
        path = self.dir(name) / "instance.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise VMError(f"no instance {name!r} in {self.root}") from None
        except ValueError as exc:
            raise VMError(f"{path} is corrupt: {exc}") from None

    def save(self, state: dict) -> None:
        d = self.dir(state["instance"])
        tmp = d / ".instance.json.tmp"
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, d / "instance.json")

    def pid(self, name: str) -> int | None:
        d = self.dir(name)
        return read_pid(d / "qemu.pid")

    def running(self, name: str) -> bool:
        d = self.dir(name)
        return is_guest_process(read_pid(d / "qemu.pid"), d)

    def claimed_ports(self) -> set[int]:
        ports = set()
        for name in self.names():
            with contextlib.suppress(VMError):
                port = self.load(name).get("port")
                if port:
                    ports.add(int(port))
        return ports

    def remove(self, name: str) -> None:
        """Delete an instance's files; its console log is kept under logs/."""
        d = self.dir(name)
        if not d.exists():
            return
        console = d / "console.log"
        if console.exists():
            logs = self.root / LOGS_DIR
            logs.mkdir(exist_ok=True)
            os.replace(console, logs / f"{name}.console.log")
        shutil.rmtree(d)


# --------------------------------------------------------------------------
# Operations


def console_tail(path: str | os.PathLike, lines: int = 25) -> str:
    try:
        data = Path(path).read_bytes()[-16384:]
    except OSError:
        return "(no console log)"
    text = data.decode(errors="replace").replace("\r", "")
    return "\n".join(text.splitlines()[-lines:])


def start(store: Store, name: str, image_dir: str | os.PathLike | None = None,
          memory: int = DEFAULT_MEMORY_MB, smp: int = DEFAULT_SMP, replace: bool = False,
          qemu: str = QEMU, qemu_img: str = QEMU_IMG, fast: bool = False) -> dict:
    """Start a guest on a fresh overlay; returns its state (not yet reachable: wait()).

    fast=True resumes a saved, booted guest of the same image and memory size
    (made once, on first use) instead of booting: SSH in seconds, not ~20 s.
    """
    for tool in (qemu, qemu_img) + (("zstd",) if fast else ()):
        if not shutil.which(tool):
            raise VMError(f"{tool} not found: run scripts/bootstrap.sh")
    image = load_image(image_dir or default_image_dir())
    snap = prepare_snapshot(store, image, memory, smp, qemu, qemu_img) if fast else None
    with store.lock():
        d = store.dir(name)
        if d.exists():
            if store.running(name):
                if not replace:
                    raise VMError(f"instance {name!r} is already running (stop it, or use --replace)")
                stop(store, name, locked=True)
            else:
                store.remove(name)
        return _launch(store, name, image, memory, smp, qemu, qemu_img, snap)


def _launch(store: Store, name: str, image: dict, memory: int, smp: int, qemu: str,
            qemu_img: str, snap: dict | None = None) -> dict:
    """Create the overlay and run QEMU (store locked, instance dir absent)."""
    d = store.dir(name)
    d.mkdir(parents=True)
    backing = snap["disk"] if snap else image["base"]
    try:
        subprocess.run(overlay_argv(backing, str(d / "disk.qcow2"), qemu_img),
                       check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        store.remove(name)
        raise VMError(f"qemu-img create failed: {exc.stderr.strip()}") from None
    exclude = store.claimed_ports()
    state = {
        "instance": name,
        "image": image["dir"],
        "identity_file": image["identity_file"],
        "user": image["user"],
        "memory": int(memory),
        "smp": int(smp),
        "snapshot": snap["key"] if snap else None,
        "clock_synced": not snap,
    }
    last_error = ""
    for _attempt in range(5):
        port = pick_port(exclude)
        exclude.add(port)
        argv = qemu_argv(name, d, image, port, memory, smp, qemu)
        if snap:
            argv += ["-incoming", incoming_uri(snap["state"])]
        state.update(port=port, argv=argv, started=time.time())
        store.save(state)
        with open(d / "qemu.err", "w") as err:
            rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                cwd=d, check=False).returncode
        last_error = (d / "qemu.err").read_text().strip()
        if rc == 0:
            break
        if "hostfwd" not in last_error and "host forwarding" not in last_error:
            store.remove(name)
            raise VMError(f"QEMU failed to start {name!r} (exit {rc}): {last_error}")
    else:
        store.remove(name)
        raise VMError(f"QEMU could not forward a port for {name!r}: {last_error}")
    pid = read_pid(d / "qemu.pid")
    if not is_guest_process(pid, d):
        tail = console_tail(d / "console.log")
        store.remove(name)
        raise VMError(f"QEMU for {name!r} exited right after starting: {last_error}\n{tail}")
    state["pid"] = pid
    store.save(state)
    return state


# --------------------------------------------------------------------------
# Snapshots: a booted guest saved once per (image, memory, smp, QEMU), resumed
# by clones with -incoming. Clones share machine-id, host keys, boot id and
# RNG state with the template: fine for throwaway test guests only.


def incoming_uri(state_file: str) -> str:
    return "exec:zstd -dc " + shlex.quote(str(state_file))


def outgoing_uri(state_file: str) -> str:
    return "exec:zstd -q -f -3 -o " + shlex.quote(str(state_file))


def qemu_version(qemu: str = QEMU) -> str:
    out = subprocess.run([qemu, "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].strip() if out else ""


def snapshot_key(image: dict, memory: int, smp: int, version: str) -> str:
    """Changes whenever anything that the saved guest depends on changes."""
    shape = qemu_argv("NAME", "/DIR", image, 1, memory, smp)
    blob = json.dumps([SNAPSHOT_FORMAT, image["dir"], image.get("key", ""), version, shape])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def snapshot_root(store: Store) -> Path:
    return store.root / SNAPSHOTS_DIR


def load_snapshot(store: Store, key: str) -> dict | None:
    d = snapshot_root(store) / key
    try:
        meta = json.loads((d / "snapshot.json").read_text())
    except (OSError, ValueError):
        return None
    meta.update(key=key, disk=str(d / "disk.qcow2"), state=str(d / "state.zst"))
    if not (Path(meta["disk"]).is_file() and Path(meta["state"]).is_file()):
        return None
    return meta


class QMP:
    """Just enough of the QEMU Machine Protocol for migrate."""

    def __init__(self, path: str, timeout: float = 30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        # connect through /proc/self/fd/N/: short whatever the directory's path
        dirfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_PATH)
        try:
            self.sock.connect(f"/proc/self/fd/{dirfd}/{os.path.basename(path)}")
        finally:
            os.close(dirfd)
        self.buf = b""
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise VMError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command: str, **arguments) -> dict:
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise VMError(f"QMP {command}: {reply['error'].get('desc', reply['error'])}")
            return reply.get("return", {})

    def close(self) -> None:
        self.sock.close()


def prepare_snapshot(store: Store, image: dict, memory: int = DEFAULT_MEMORY_MB,
                     smp: int = DEFAULT_SMP, qemu: str = QEMU, qemu_img: str = QEMU_IMG,
                     timeout: float = DEFAULT_WAIT_TIMEOUT) -> dict:
    """The saved booted guest for these parameters; boots and saves it if missing."""
    key = snapshot_key(image, memory, smp, qemu_version(qemu))
    root = snapshot_root(store)
    root.mkdir(parents=True, exist_ok=True)
    snap = load_snapshot(store, key)
    if snap:
        return snap
    with open(root / ".lock", "w") as lockfh:
        fcntl.flock(lockfh, fcntl.LOCK_EX)  # one template boot at a time
        snap = load_snapshot(store, key)
        if snap:
            return snap
        t0 = time.monotonic()
        tmp_store = Store(root / f".tmp.{key}.{os.getpid()}")
        tmp_store.root.mkdir(parents=True)
        try:
            with tmp_store.lock():
                state = _launch(tmp_store, "template", image, memory, smp, qemu, qemu_img)
            wait(tmp_store, "template", timeout)
            tdir = tmp_store.dir("template")
            # let the boot settle, and put what the guest wrote on its disk
            ssh_run(state, ["systemctl is-system-running --wait >/dev/null 2>&1; sync"], timeout=120)
            state_file = tmp_store.root / "state.zst"
            qmp = QMP(str(tdir / "qmp.sock"))
            try:
                # do not stop the guest first: a clone would then stay paused
                qmp.execute("migrate-set-parameters", **{"max-bandwidth": 8 << 30})
                qmp.execute("migrate", uri=outgoing_uri(str(state_file)))
                deadline = time.monotonic() + 300
                while True:
                    st = qmp.execute("query-migrate").get("status")
                    if st == "completed":
                        break
                    if st in ("failed", "cancelled") or time.monotonic() > deadline:
                        raise VMError(f"saving the booted guest failed (migration {st})")
                    time.sleep(0.2)
            finally:
                qmp.close()
            kill_and_wait(state["pid"])
            os.replace(tdir / "disk.qcow2", tmp_store.root / "disk.qcow2")
            os.chmod(tmp_store.root / "disk.qcow2", 0o444)
            shutil.rmtree(tdir)
            for f in (".lock",):
                with contextlib.suppress(FileNotFoundError):
                    (tmp_store.root / f).unlink()
            meta = {"image": image["dir"], "memory": int(memory), "smp": int(smp),
                    "created": time.time(), "seconds": round(time.monotonic() - t0, 1)}
            (tmp_store.root / "snapshot.json").write_text(json.dumps(meta, indent=2) + "\n")
            os.replace(tmp_store.root, root / key)
        finally:
            for pid in guest_pids_under(tmp_store.root) if tmp_store.root.exists() else []:
                kill_and_wait(pid)
            if tmp_store.root.exists():
                shutil.rmtree(tmp_store.root)
        prune_snapshots(store, keep=key)
    return load_snapshot(store, key)


def prune_snapshots(store: Store, keep: str) -> list[str]:
    """Remove saved guests of other inputs that no running guest depends on."""
    removed = []
    root = snapshot_root(store)
    in_use = set()
    for name in store.names():
        with contextlib.suppress(VMError):
            st = store.load(name)
            if st.get("snapshot") and store.running(name):
                in_use.add(st["snapshot"])
    for p in root.iterdir():
        if p.is_dir() and not p.name.startswith(".") and p.name != keep and p.name not in in_use:
            shutil.rmtree(p)
            removed.append(p.name)
    return removed


def ssh_run(state: dict, command: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    argv = ssh_argv(state["identity_file"], state["port"], command, state.get("user", USER))
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise VMError(f"{' '.join(command)!r} in the guest timed out after {timeout:.0f} s") from None


def wait_running(qmp_path: str | os.PathLike, timeout: float = 60.0) -> bool:
    """Wait until QEMU reports the guest running (a clone: its state loaded)."""
    deadline = time.monotonic() + timeout
    qmp = None
    try:
        while time.monotonic() < deadline:
            try:
                qmp = qmp or QMP(str(qmp_path), timeout=10)
                if qmp.execute("query-status").get("status") == "running":
                    return True
            except (OSError, VMError, ValueError):
                if qmp:
                    qmp.close()
                qmp = None
            time.sleep(0.1)
        return False
    finally:
        if qmp:
            qmp.close()


def ssh_login_ok(state: dict, timeout: float = 30.0) -> bool:
    argv = ssh_argv(state["identity_file"], state["port"], ["true"], state.get("user", USER))
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def wait(store: Store, name: str, timeout: float = DEFAULT_WAIT_TIMEOUT, interval: float = 1.0) -> float:
    """Wait until root can really log in over SSH; returns the seconds it took.

    The port forward accepts TCP as soon as QEMU runs, long before sshd does,
    so only a completed login counts.
    """
    state = store.load(name)
    d = store.dir(name)
    t0 = time.monotonic()
    deadline = t0 + timeout
    if state.get("snapshot") and not state.get("clock_synced", True):
        # A clone still loading its saved state drops the SYN that slirp
        # passes on for our first connection; the retransmits then cost ~7 s.
        wait_running(d / "qmp.sock", min(60.0, timeout))
    while True:
        if not store.running(name):
            hint = (f" while resuming saved guest {state['snapshot']} (delete "
                    f"{snapshot_root(store) / state['snapshot']} or start with --no-fast)"
                    if state.get("snapshot") else "")
            raise VMError(f"guest {name!r} is not running (QEMU exited){hint}; console:\n"
                          + console_tail(d / "console.log"))
        if ssh_login_ok(state, timeout=min(30.0, max(5.0, deadline - time.monotonic()))):
            if not state.get("clock_synced", True):
                # a resumed guest's clock is where the template's stopped
                ssh_run(state, [f"date -u -s @{time.time():.3f} >/dev/null"], timeout=30)
                state["clock_synced"] = True
                store.save(state)
            return time.monotonic() - t0
        if time.monotonic() >= deadline:
            raise VMError(f"no SSH login into {name!r} (port {state['port']}) after "
                          f"{timeout:.0f} s; console:\n" + console_tail(d / "console.log"))
        time.sleep(interval)


def stop(store: Store, name: str, locked: bool = False) -> bool:
    """Kill the guest by pid, wait for it to exit, remove its files. True if it ran."""
    ctx = contextlib.nullcontext() if locked else store.lock()
    with ctx:
        d = store.dir(name)
        if not d.exists():
            return False
        pid = read_pid(d / "qemu.pid")
        ran = is_guest_process(pid, d)
        if ran:
            kill_and_wait(pid)
        store.remove(name)
        return ran


def stop_all(store: Store) -> list[str]:
    """Stop every instance of the state directory, and any stray QEMU using it."""
    stopped = []
    with store.lock():
        if store.root.is_dir():
            for p in sorted(store.root.iterdir()):
                if p.is_dir() and NAME_RE.match(p.name) and any(
                        (p / f).exists() for f in ("instance.json", "qemu.pid", "disk.qcow2")):
                    if stop(store, p.name, locked=True):
                        stopped.append(p.name)
            for pid in guest_pids_under(store.root):
                kill_and_wait(pid)
                stopped.append(f"pid {pid}")
    return stopped


def list_instances(store: Store) -> list[dict]:
    rows = []
    for name in store.names():
        try:
            state = store.load(name)
        except VMError:
            continue
        pid = store.pid(name)
        rows.append({
            "instance": name,
            "running": store.running(name),
            "pid": pid,
            "port": state.get("port"),
            "memory": state.get("memory"),
            "uptime": round(time.time() - state["started"]) if state.get("started") else None,
            "image": state.get("image"),
        })
    return rows


# --------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vm.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--state-dir", help="instances directory (default: $IMMUTABLE_AUDIT_VM_CACHE/instances)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("start", help="start a guest on a fresh overlay")
    s.add_argument("name")
    s.add_argument("--image", help="image directory (default: the cache's 'current')")
    s.add_argument("--memory", type=int,
                   default=int(os.environ.get("IMMUTABLE_AUDIT_VM_MEMORY", DEFAULT_MEMORY_MB)),
                   help="MiB of guest RAM (default %(default)s)")
    s.add_argument("--smp", type=int, default=DEFAULT_SMP)
    s.add_argument("--replace", action="store_true", help="stop a running instance of that name first")
    s.add_argument("--fast", action=argparse.BooleanOptionalAction,
                   default=os.environ.get("IMMUTABLE_AUDIT_VM_FAST", "") not in ("", "0"),
                   help="resume a saved booted guest instead of booting (saved on first use; "
                        "default from IMMUTABLE_AUDIT_VM_FAST)")
    s.add_argument("--json", action="store_true", help="print the molecule instance config")

    w = sub.add_parser("wait", help="wait for a real SSH login")
    w.add_argument("names", nargs="+")
    w.add_argument("--timeout", type=float, default=DEFAULT_WAIT_TIMEOUT)

    x = sub.add_parser("ssh", help="run a command in the guest (or log in)")
    x.add_argument("name")
    x.add_argument("cmd", nargs=argparse.REMAINDER)

    t = sub.add_parser("stop", help="kill guests by pid and remove their overlays")
    t.add_argument("names", nargs="+")

    sub.add_parser("stop-all", help="stop every guest of the state directory")

    ls = sub.add_parser("list", help="list instances")
    ls.add_argument("--json", action="store_true")

    c = sub.add_parser("config", help="molecule instance config of instances, as JSON")
    c.add_argument("names", nargs="+")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    store = Store(args.state_dir)
    try:
        if args.command == "start":
            state = start(store, args.name, args.image, args.memory, args.smp, args.replace,
                          fast=args.fast)
            if args.json:
                print(json.dumps(molecule_config(state)))
            else:
                print(f"{args.name}: pid {state['pid']}, ssh -p {state['port']} root@{ADDRESS}")
        elif args.command == "wait":
            for name in args.names:
                took = wait(store, name, args.timeout)
                print(f"{name}: SSH login after {took:.1f} s")
        elif args.command == "ssh":
            state = store.load(args.name)
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            # like ssh itself: the words are joined and run by the guest's shell
            argv_ = ssh_argv(state["identity_file"], state["port"], cmd, state.get("user", USER))
            if not cmd:
                argv_.insert(1, "-t")
            return subprocess.call(argv_)
        elif args.command == "stop":
            for name in args.names:
                ran = stop(store, name)
                print(f"{name}: {'stopped' if ran else 'was not running'}")
        elif args.command == "stop-all":
            stopped = stop_all(store)
            print("stopped: " + (", ".join(stopped) if stopped else "nothing"))
        elif args.command == "list":
            rows = list_instances(store)
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                for r in rows:
                    print(f"{r['instance']:24} {'running' if r['running'] else 'dead':8} "
                          f"pid={r['pid']} port={r['port']} mem={r['memory']}M up={r['uptime']}s")
        elif args.command == "config":
            print(json.dumps([molecule_config(store.load(n)) for n in args.names]))
    except VMError as exc:
        print(f"vm.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
