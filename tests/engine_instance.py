"""Test hosts: each extra dockerd is a machine of its own, sharing nothing with the client but
a unix socket, a veth pair (tcp with mutual TLS) and an OpenSSH server (ssh://).

A long-lived holder process (`unshare --net --mount --uts`) owns the machine's namespaces;
dockerd and sshd are started inside with `nsenter`, so a stop and start of the daemon comes
back on the same machine. Inside, `/run`, `/tmp`, `/root`, `/var/lib/dockyard`,
`/var/lib/docker`, the other test hosts' state and the checkout's folder are fresh tmpfs: no
file of the client reaches the engine by path. The machine has its own `docker0`, iptables,
loopback and `/etc/resolv.conf`, and no default route: it reaches only the host's end of its
veth pair. Nothing in the host's own network namespace is touched but that veth end.

Everything a machine owns is under `STATE_ROOT/<id>` (data root, exec root, pidfiles, logs,
keys) and `SHARE_ROOT/<id>` (the socket and the client's ssh files), and its containers are
in the cgroup `dockyard-test-hosts/<id>`; `destroy()` removes all of it, and
`sweep_dead_hosts()` (run at session start) removes what a killed test left."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker

from helpers import BASE_IMAGE, REPO_ROOT
from tls_certs import CA, issue

STATE_ROOT = Path("/var/lib/dockyard-test-hosts")
SHARE_ROOT = Path("/run/dockyard-test-hosts")
SLOTS = STATE_ROOT / ".slots"
# The ssh client side: `ssh` ignores $HOME (it reads the passwd entry's ~/.ssh), so the
# client's configuration comes from a wrapper first in PATH that passes `-F` to the real
# OpenSSH client; the config includes every live test host's block (`ssh_client_env()`).
SSH_CLIENT = SHARE_ROOT / ".ssh-client"
# 10.250.0.0/16, one /30 per machine: host end .1, machine end .2 (slot k: 10.250.k/64.(k%64)*4).
# Docker's default pools (172.17-31/16, 192.168/16) and the main engine's networks are elsewhere.
NET_PREFIX = "10.250"
SLOT_COUNT = 256 * 64
TLS_PORT = 2376
CGROUP_PARENT = "dockyard-test-hosts"


@dataclass(frozen=True)
class ServerTLS:
    """The daemon's side of mutual TLS: it trusts clients signed by `ca`. The certificate
    must name the machine's address (`PrivateEngine.address`); or pass a `CA` to
    `PrivateEngine(tls=...)` and it issues its own."""

    ca: Path
    cert: Path
    key: Path


def ssh_client_env() -> dict[str, str]:
    """Environment for a client that reaches test hosts by `ssh://root@ADDRESS` (docker-py's
    `use_ssh_client=True` runs `ssh` from PATH): use with `monkeypatch.setenv`."""
    return {"PATH": f"{SSH_CLIENT}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


def _ensure_ssh_client() -> None:
    SSH_CLIENT.mkdir(parents=True, exist_ok=True)
    ssh = shutil.which("ssh", path="/usr/bin:/bin:/usr/local/bin") or "/usr/bin/ssh"
    _write_atomic(SSH_CLIENT / "config", f"Include {SHARE_ROOT}/*/ssh_config\n")
    _write_atomic(SSH_CLIENT / "ssh", f'#!/bin/sh\nexec {ssh} -F {SSH_CLIENT}/config "$@"\n', 0o755)


def _start_time(pid: int) -> str | None:
    """When `pid` started (None if it is gone or a zombie): a pid alone can be reused."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def _alive(owner: dict[str, object]) -> bool:
    pid = owner.get("pid")
    return isinstance(pid, int) and _start_time(pid) == owner.get("start")


def _write_json(path: Path, pid: int, **extra: str) -> None:
    """A process's pid with its start time (a pid alone can be reused)."""
    path.write_text(json.dumps({"pid": pid, "start": _start_time(pid), **extra}))


def _slot_addresses(slot: int) -> tuple[str, str]:
    third, fourth = divmod(slot, 64)
    return f"{NET_PREFIX}.{third}.{fourth * 4 + 1}", f"{NET_PREFIX}.{third}.{fourth * 4 + 2}"


def _claim_slot(host_id: str) -> int:
    SLOTS.mkdir(parents=True, exist_ok=True)
    used = subprocess.run(
        ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    for _ in range(200):
        slot = secrets.randbelow(SLOT_COUNT - 1) + 1
        if f" {_slot_addresses(slot)[0]}/" in used:
            continue
        try:
            fd = os.open(SLOTS / str(slot), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        os.write(fd, host_id.encode())
        os.close(fd)
        return slot
    raise RuntimeError(f"no free test-host address in {NET_PREFIX}.0.0/16")


def _hidden_checkout() -> Path:
    """The folder holding the checkout (and `shared/` beside it), unless that would hide
    something the machine needs (the binaries, the test hosts' state): then the checkout."""
    parent = REPO_ROOT.parent
    needed = [STATE_ROOT, SHARE_ROOT]
    for tool in ("docker", "dockerd", "containerd", "runc", "sshd", "nsenter"):
        found = shutil.which(tool, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")
        if found:
            needed.append(Path(found).resolve())
    if parent == Path("/") or any(p.is_relative_to(parent) for p in needed):
        return REPO_ROOT
    return parent


# Runs as the holder, in its fresh namespaces: makes the machine's own view, then waits.
HOLDER_SCRIPT = r"""
set -eu
state=$1; share=$2; checkout=$3; disk_mb=$4; name=$5
mount --make-rprivate /
# (where /etc/resolv.conf really is: a link into /run must still work once /run is new)
resolv=$(readlink -f /etc/resolv.conf)
# The machine's own /run (no main engine socket, no system containerd) keeping its share.
mount --bind "$share" "$state/share"
mount -t tmpfs -o mode=755 dyhost-run /run
mkdir -p "$share" /run/sshd /run/lock
mount --bind "$state/share" "$share"
umount "$state/share"
# The other test hosts' state is not this machine's business either.
mkdir /run/.state
mount --bind "$state" /run/.state
mount -t tmpfs -o mode=755 dyhost-state "$(dirname "$state")"
mkdir -p "$state"
mount --bind /run/.state "$state"
umount /run/.state
rmdir /run/.state
for d in /tmp /root /var/lib/dockyard /var/lib/docker; do
    mkdir -p "$d"
    mount -t tmpfs -o mode=755 dyhost-hidden "$d"
done
chmod 1777 /tmp
# A checkout under one of those (a clone in /tmp) is hidden already: no mount point in them.
case "$checkout/" in
    /tmp/*|/root/*|/run/*|/var/lib/dockyard/*|/var/lib/docker/*) ;;
    *) mkdir -p "$checkout" && mount -t tmpfs -o mode=755 dyhost-hidden "$checkout" ;;
esac
if [ "$disk_mb" != 0 ]; then
    mount -t tmpfs -o "size=${disk_mb}m,mode=711" dyhost-disk "$state/data"
fi
case $resolv in /run/*) mkdir -p "$(dirname "$resolv")" && touch "$resolv" ;; esac
mount --bind "$state/resolv.conf" "$resolv"
hostname "$name" 2>/dev/null || echo "$name" > /proc/sys/kernel/hostname
ip link set lo up
echo ready > "$state/ready"
exec sleep infinity
"""


def _procs_in(netns: str | None, cgroup_dirs: Sequence[Path]) -> set[int]:
    """Live processes in the network namespace `netns` or in the cgroups (zombies skipped)."""
    found: set[int] = set()
    if netns:
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(proc / "ns" / "net") == netns:
                        found.add(int(proc.name))
    for root in cgroup_dirs:
        for procs in root.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in procs.read_text().split())
    found.discard(os.getpid())
    live = set()
    for pid in found:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                live.add(pid)
    return live


def _cgroup_dirs(host_id: str) -> list[Path]:
    base = Path("/sys/fs/cgroup")
    dirs = [base / CGROUP_PARENT / host_id, *base.glob(f"*/{CGROUP_PARENT}/{host_id}")]
    return [d for d in dirs if d.is_dir()]


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _teardown(state: Path) -> None:
    """Kill every process of the machine (its namespace, its containers' cgroups, its
    daemon), which takes the namespaces, bridges and veth pair with them; then remove its
    folders. The namespace is trusted only while its holder is the recorded process: a
    freed namespace's number can be reused by another."""
    host_id = state.name
    holder = _read_json(state / "holder.json")
    netns = holder.get("netns") if _alive(holder) else None
    daemon = _read_json(state / "dockerd.json")
    for _ in range(100):
        victims = _procs_in(netns if isinstance(netns, str) else None, _cgroup_dirs(host_id))
        if _alive(daemon) and isinstance(daemon.get("pid"), int):
            victims.add(int(daemon["pid"]))  # type: ignore[call-overload]
        if not victims:
            break
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    for root in _cgroup_dirs(host_id):
        for d in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if d.is_dir():
                with contextlib.suppress(OSError):
                    d.rmdir()
        with contextlib.suppress(OSError):
            root.rmdir()
    with contextlib.suppress(OSError, ValueError):
        slot = int((state / "slot").read_text())
        subprocess.run(["ip", "link", "delete", f"dyh{slot}"], capture_output=True, check=False)
        (SLOTS / str(slot)).unlink(missing_ok=True)
    shutil.rmtree(SHARE_ROOT / host_id, ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)


def sweep_dead_hosts() -> list[str]:
    """Remove the test hosts whose creating process is gone (a killed or crashed run)."""
    swept = []
    for state in sorted(STATE_ROOT.glob("*")) if STATE_ROOT.is_dir() else []:
        if state == SLOTS or not state.is_dir():
            continue
        owner = _read_json(state / "owner.json")
        if not owner and time.time() - state.stat().st_mtime < 60:
            continue  # being made right now: its owner file comes next
        if not _alive(owner):
            _teardown(state)
            swept.append(state.name)
    if SLOTS.is_dir():
        for slot in SLOTS.iterdir():
            with contextlib.suppress(OSError):
                if not (STATE_ROOT / slot.read_text().strip()).exists():
                    slot.unlink()
    return swept


_LIVE: list[PrivateEngine] = []


@atexit.register
def _destroy_live() -> None:
    for engine in list(_LIVE):
        with contextlib.suppress(Exception):
            engine.destroy()


class PrivateEngine:
    """A dockerd on a machine of its own (see the module's docstring).

    - `url`: `unix://SHARE_ROOT/<id>/docker.sock`, what the tests set up and clean up with;
    - `tcp_url`: `tcp://ADDRESS:2376` with `--tlsverify` when `tls` is given (a `ServerTLS`,
      whose certificate must name `address`, or a `CA`, from which the engine issues its own),
      else None; `port` is 2376 then;
    - `ssh_url`: `ssh://root@ADDRESS`, a real sshd inside; the client needs
      `ssh_client_env()` in its environment (key, known_hosts, `BatchMode`);
    - `address` (the machine's end of the veth pair), `host_address` (the client's end);
    - `disk_mb`: the data root is a tmpfs of that size (a disk that fills up).
    """

    def __init__(
        self, tls: ServerTLS | CA | None = None, *, disk_mb: int = 0, prefix: str = "eng"
    ) -> None:
        self.id = f"{prefix}-{secrets.token_hex(3)}"
        self.dir = STATE_ROOT / self.id  # data root, exec root, pidfiles, logs, keys
        self.share = SHARE_ROOT / self.id  # what the client reaches: socket, ssh files
        self.dir.mkdir(parents=True)
        self.share.mkdir(parents=True)
        _write_json(self.dir / "owner.json", os.getpid())
        _LIVE.append(self)
        self.slot = _claim_slot(self.id)
        (self.dir / "slot").write_text(str(self.slot))
        self.host_address, self.address = _slot_addresses(self.slot)
        self.veth = f"dyh{self.slot}"
        self.sock = self.share / "docker.sock"
        self.url = f"unix://{self.sock}"
        self.disk_mb = disk_mb
        (self.dir / "tls").mkdir()
        if isinstance(tls, CA):
            pair = issue(tls, self.dir / "tls", "server", server=True, ips=[self.address])
            tls = ServerTLS(tls.cert, pair.cert, pair.key)
        if tls is not None:
            # The machine sees none of the client's files: its TLS material is its own copy.
            tls = ServerTLS(
                *(
                    Path(shutil.copy(f, self.dir / "tls" / f"daemon-{f.name}"))
                    for f in tls.__dict__.values()
                )
            )
        self.tls = tls
        self.port = TLS_PORT if tls is not None else None
        self.tcp_url = f"tcp://{self.address}:{TLS_PORT}" if tls is not None else None
        self.ssh_url = f"ssh://root@{self.address}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.holder: subprocess.Popen[bytes] | None = None
        self.sshd: subprocess.Popen[bytes] | None = None

    # ---- the machine ------------------------------------------------------------------

    def _boot(self, timeout: float) -> None:
        for sub in ("data", "exec", "share", "tls"):
            (self.dir / sub).mkdir(exist_ok=True)
        # Queries go to the machine's own address, where nothing answers: no DNS traffic
        # leaves the machine, and a lookup fails fast.
        (self.dir / "resolv.conf").write_text(
            f"nameserver {self.address}\noptions timeout:1 attempts:1\n"
        )
        (self.dir / "holder.sh").write_text(HOLDER_SCRIPT)
        log = open(self.dir / "holder.log", "ab")  # noqa: SIM115 - the holder's for life
        self.holder = subprocess.Popen(
            [
                *("unshare", "--net", "--mount", "--uts", "--propagation", "private", "--"),
                *("sh", str(self.dir / "holder.sh"), str(self.dir), str(self.share)),
                *(str(_hidden_checkout()), str(self.disk_mb), self.id),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not (self.dir / "ready").exists():
            if self.holder.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"test host {self.id}: holder failed: {self._tail('holder.log')}"
                )
            time.sleep(0.02)
        pid = self.holder.pid
        netns = os.readlink(f"/proc/{pid}/ns/net")
        _write_json(self.dir / "holder.json", pid, netns=netns)
        ip = ["ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0"]
        subprocess.run([*ip, "netns", str(pid)], check=True, capture_output=True)
        for args in (
            ["addr", "add", f"{self.host_address}/30", "dev", self.veth],
            ["link", "set", self.veth, "up"],
        ):
            subprocess.run(["ip", *args], check=True, capture_output=True)
        for args in (
            ["addr", "add", f"{self.address}/30", "dev", "eth0"],
            ["link", "set", "eth0", "up"],
        ):
            self.run_inside(["ip", *args])
        self._start_sshd()

    def _start_sshd(self) -> None:
        d, share = self.dir, self.share
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        subprocess.run([*keygen, "-f", str(d / "ssh_host_key")], check=True)
        subprocess.run([*keygen, "-f", str(share / "id_ed25519")], check=True)
        shutil.copy(share / "id_ed25519.pub", d / "authorized_keys")
        host_pub = (d / "ssh_host_key.pub").read_text().split()
        (share / "known_hosts").write_text(f"{self.address} {host_pub[0]} {host_pub[1]}\n")
        (d / "sshd_config").write_text(
            f"ListenAddress {self.address}:22\n"
            f"HostKey {d / 'ssh_host_key'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
            f"PidFile {d / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nUseDNS no\n"
            "AllowAgentForwarding no\nX11Forwarding no\nPrintMotd no\n"
        )
        _ensure_ssh_client()
        (share / "ssh_config").write_text(
            f"Host {self.address}\n"
            "  User root\n"
            f"  IdentityFile {share / 'id_ed25519'}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {share / 'known_hosts'}\n"
            "  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n"
            "  ConnectTimeout 5\n"
        )
        log = open(d / "sshd.log", "ab")  # noqa: SIM115 - sshd's for life
        self.sshd = subprocess.Popen(
            self._inside(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")]),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s, contextlib.suppress(OSError):
                s.settimeout(1)
                s.connect((self.address, 22))
                return
            if self.sshd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"test host {self.id}: sshd: {self._tail('sshd.log')}")
            time.sleep(0.05)

    def _inside(self, argv: Sequence[str]) -> list[str]:
        if self.holder is None:
            raise RuntimeError(f"test host {self.id} is not started")
        return ["nsenter", "-t", str(self.holder.pid), "-n", "-m", "-u", "--", *argv]

    def run_inside(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 60, input: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on the machine (its network, its files): `wget` a port a container
        published there, `cat` a file on its own disk."""
        return subprocess.run(
            self._inside(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def _tail(self, name: str) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / name).read_text()[-2000:]
        return "(no log)"

    # ---- the daemon -------------------------------------------------------------------

    def _listen_args(self) -> list[str]:
        args = ["-H", "unix:///run/docker.sock", "-H", self.url]
        if self.tls is not None:
            args += ["-H", str(self.tcp_url), "--tlsverify"]
            args += ["--tlscacert", str(self.tls.ca), "--tlscert", str(self.tls.cert)]
            args += ["--tlskey", str(self.tls.key)]
        return args

    def start(self, timeout: float = 60.0) -> None:
        """Start the daemon (and, the first time, the machine)."""
        if self.holder is None:
            self._boot(timeout)
        log = open(self.dir / "dockerd.log", "ab")  # noqa: SIM115 - kept open for its life
        self.proc = subprocess.Popen(
            self._inside(
                [
                    "dockerd",
                    "--data-root",
                    str(self.dir / "data"),
                    "--exec-root",
                    str(self.dir / "exec"),
                    "--pidfile",
                    str(self.dir / "dockerd.pid"),
                    # Its containers' cgroups, so that a sweep finds them after a kill -9.
                    "--cgroup-parent",
                    f"/{CGROUP_PARENT}/{self.id}",
                    *self._listen_args(),
                ]
            ),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        _write_json(self.dir / "dockerd.json", self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                api = docker.APIClient(base_url=self.url, timeout=2)
                try:
                    api.ping()
                finally:
                    api.close()
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError(self._tail("dockerd.log")) from None
                time.sleep(0.1)
        raise RuntimeError(f"test host {self.id}: dockerd did not start; see dockerd.log")

    def load_base_image(self) -> None:
        """The base image, saved from the main engine and loaded over this one's socket."""
        save = subprocess.Popen(["docker", "save", BASE_IMAGE], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "-H", self.url, "load", "-q"],
            stdin=save.stdout,
            check=True,
            capture_output=True,
        )
        save.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the daemon; the machine (and sshd) stay, and `start()` comes back on it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def destroy(self) -> None:
        """Remove everything: containers, daemon, sshd, the machine, its folders."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                client = docker.APIClient(base_url=self.url, timeout=10)
                for c in client.containers(all=True, quiet=True):
                    client.remove_container(c["Id"], force=True, v=True)
                client.close()
        self.stop()
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.kill()  # (the teardown would too, but only while the holder lives)
        _teardown(self.dir)
        for proc in (self.sshd, self.holder):  # killed by the teardown: reap them
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)
        with contextlib.suppress(ValueError):
            _LIVE.remove(self)


@contextlib.contextmanager
def private_engines(*names: str) -> Iterator[dict[str, PrivateEngine]]:
    """Several test hosts, each with the base image, destroyed afterwards."""
    started: dict[str, PrivateEngine] = {}
    try:
        for name in names:
            engine = PrivateEngine()
            started[name] = engine
            engine.start()
            engine.load_base_image()
        yield started
    finally:
        for engine in started.values():
            engine.destroy()
