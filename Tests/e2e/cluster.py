"""A test cluster of Linux network namespaces on one bridge, for Tests/e2e/test_cluster.py.

Every host is a network namespace `<prefix><name>` with one veth pair: `<prefix><name>h` on a
bridge `<prefix>br` that the cluster creates, `<prefix><name>n` inside the namespace with an
address of 10.231.0.0/24. The root namespace gets no address on the bridge and no namespace has
a route out (no default route), so nothing the cluster runs can reach anything but its own hosts.
The prefix is `slw<pid % 10000, 4 digits>`, so two runs on one machine never share a name; interface names
stay within Linux's 15 characters.

Quirks of this sandbox (gVisor) and of `ip netns` in general:
- `lo` is down in a new namespace and must be brought up (servers also listen on 127.0.0.1).
- `ip netns exec NS CMD` execs CMD in place, so the Popen pid is the process itself and
  `kill -9` of it is a real crash of that process.
- A socket keeps the namespace it was created in: `Host.connect()` creates one on a short-lived
  thread that has joined the namespace (setns(2) applies per thread), so the test process itself
  can be a client inside a namespace without moving.

Teardown (also when the test fails): every process the cluster started, then every process still
inside a namespace, then the namespaces (their veths go with them) and the bridge. A run killed
before its teardown leaves a state file under STATE_DIR naming its prefix and pid; `preclean()`
removes whatever such a dead run left.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

STATE_DIR = Path("/run/slipway-cluster")
SUBNET = "10.231.0"
CLONE_NEWNET = 0x40000000


class ClusterUnavailable(Exception):
    """`ip netns` cannot be used here (not root, no iproute2, no namespace support)."""


def _ip(*args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *map(str, args)], capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(map(str, args))} failed: {proc.stderr.strip()}")
    return proc


def check_available() -> None:
    if os.geteuid() != 0:
        raise ClusterUnavailable("the cluster test needs root (ip netns)")
    if shutil.which("ip") is None:
        raise ClusterUnavailable("`ip` (iproute2) is not installed")
    probe = f"slwprobe{os.getpid() % 10000}"
    proc = _ip("netns", "add", probe, check=False)
    if proc.returncode != 0:
        raise ClusterUnavailable(f"`ip netns add` does not work here: {proc.stderr.strip()}")
    _ip("netns", "del", probe, check=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_prefix(prefix: str) -> None:
    """Kills every process in the prefix's namespaces, deletes the namespaces and the bridge."""
    names = [line.split()[0] for line in _ip("netns", "list", check=False).stdout.splitlines() if line.strip()]
    for ns in names:
        if not ns.startswith(prefix):
            continue
        for pid in _ip("netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _ip("netns", "del", ns, check=False)
    links = _ip("-o", "link", "show", check=False).stdout
    for name in re.findall(r"^\d+: ([^:@]+)[:@]", links, re.M):
        if name.startswith(prefix):
            _ip("link", "del", name, check=False)


def preclean() -> None:
    """Removes what runs that died before their teardown left behind (their pid is gone)."""
    if not STATE_DIR.is_dir():
        return
    for state in STATE_DIR.iterdir():
        try:
            pid = int(state.read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid and _pid_alive(pid) and pid != os.getpid():
            continue
        _remove_prefix(state.name)
        state.unlink(missing_ok=True)


_libc = ctypes.CDLL(None, use_errno=True)


def in_namespace(ns: str, fn):
    """Runs `fn()` on a fresh thread that has joined network namespace `ns`; returns its result."""
    out: dict = {}

    def run():
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({ns}): {os.strerror(err)}")
        finally:
            os.close(fd)
        out["value"] = fn()

    def guarded():
        try:
            run()
        except BaseException as e:  # re-raised on the caller's thread
            out["error"] = e

    thread = threading.Thread(target=guarded, name=f"setns-{ns}")
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


class Process:
    """A process started inside a host's namespace; output goes to `log`."""

    def __init__(self, name: str, proc: subprocess.Popen, log: Path):
        self.name = name
        self.proc = proc
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, no clean-up."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, grace: float = 10) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"


class Host:
    def __init__(self, cluster: "Cluster", name: str, address: str):
        self.cluster = cluster
        self.name = name
        self.ns = cluster.prefix + name
        self.address = address

    def argv(self, args) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *map(str, args)]

    def run(self, args, *, env=None, input=None, check=True, timeout=180) -> subprocess.CompletedProcess:
        """`run_in(ns, cmd)`: runs a command to completion inside this host."""
        proc = subprocess.run(self.argv(args), env=env, input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"[{self.name}] {' '.join(map(str, args))} -> exit {proc.returncode}\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def start(self, name: str, args, *, env=None, cwd=None) -> Process:
        return self.cluster.start(self, name, args, env=env, cwd=cwd)

    def connect(self, address: str, port: int, timeout: float = 30) -> socket.socket:
        """A TCP connection made from inside this host."""
        return in_namespace(self.ns, lambda: socket.create_connection((address, port), timeout=timeout))

    def listen(self, port: int = 0) -> socket.socket:
        """A listening TCP socket on this host's address."""
        def make():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.address, port))
            s.listen(128)
            return s
        return in_namespace(self.ns, make)

    def wait_port(self, port: int, timeout: float = 60, proc: Process | None = None) -> None:
        """Polls until this host accepts TCP connections on `port` (from inside its namespace)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and not proc.running():
                raise AssertionError(f"{proc.name} exited with {proc.proc.returncode} before listening\n{proc.output()[-4000:]}")
            try:
                self.connect(self.address, port, timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{self.name} did not listen on {self.address}:{port} within {timeout}s")


class Cluster:
    """Namespaces on a private bridge; `add_host` in order, `teardown` at the end."""

    def __init__(self, log_dir: Path, prefix: str | None = None):
        self.prefix = prefix or f"slw{os.getpid() % 10000:04d}"  # fixed width: no prefix is a prefix of another
        self.bridge = self.prefix + "br"
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.hosts: dict[str, Host] = {}
        self.processes: list[Process] = []
        _remove_prefix(self.prefix)  # our own leftovers, should a previous run with our pid have died
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        (STATE_DIR / self.prefix).write_text(str(os.getpid()))
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("link", "set", self.bridge, "up")

    def add_host(self, name: str) -> Host:
        assert len(self.prefix + name) + 1 <= 15, f"interface name for {name} would exceed 15 characters"
        host = Host(self, name, f"{SUBNET}.{len(self.hosts) + 2}")
        outside, inside = self.prefix + name + "h", self.prefix + name + "n"
        _ip("netns", "add", host.ns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", host.ns)
        _ip("link", "set", outside, "master", self.bridge)
        _ip("link", "set", outside, "up")
        for args in (["link", "set", "lo", "up"], ["addr", "add", f"{host.address}/24", "dev", inside],
                     ["link", "set", inside, "up"]):
            _ip("-n", host.ns, *args)
        self.hosts[name] = host
        return host

    def start(self, host: Host, name: str, args, *, env=None, cwd=None) -> Process:
        log = self.log_dir / f"{name}.log"
        with open(log, "ab") as out:
            out.write(f"=== [{host.ns}] {' '.join(map(str, args))} ===\n".encode())
            out.flush()
            proc = subprocess.Popen(host.argv(args), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        process = Process(name, proc, log)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} (exit {p.proc.poll()}) -----\n{p.output()[-6000:]}" for p in self.processes)

    def teardown(self) -> None:
        for process in reversed(self.processes):
            try:
                process.stop(grace=5)
            except Exception:
                process.kill()
        _remove_prefix(self.prefix)
        (STATE_DIR / self.prefix).unlink(missing_ok=True)
