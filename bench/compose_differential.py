"""Compose parity, container by container: the same file run by Compose v2 and by dockyard.

Run by hand (not part of pytest; tests/test_compose_differential.py runs a bounded subset);
see bench/README.md. For each file of the Compose corpus (../shared/compose-corpus), or the
files given:

1. a copy is written to a scratch folder, changed only where this machine needs it and
   the same for both tools: no registry (every image name is tagged on a local stand-in
   built from dockyard.local/busybox, `pull_policy: never`, `build:` replaced by the
   stand-in image), a process that keeps running (the stand-in's entrypoint sleeps; an
   explicit `entrypoint:` is replaced by it), healthchecks that pass (`test: true`, 1 s
   interval), free host ports instead of the published ones, and missing secret, config,
   env and bind-mount sources created empty;
2. `docker compose -p P up -d --no-build --pull never` (the Go binary), `docker inspect`
   of each container, `docker compose down -v`;
3. `dockyard apply -f` of the same copy under the same project name, `docker inspect`,
   `dockyard delete --volumes`;
4. each pair of containers (same name) is compared field by field on what a user notices.

Prints, per file and in total, the share of containers identical on every compared field
and of fields equal, and each difference. Everything it creates carries dev.dockyard.test
(labels on the stand-in images, services, networks and volumes) and is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import yaml

from dockyard.spec.compose import load_compose_yaml

BASE = "dockyard.local/busybox:latest"
STANDIN = "dockyard.local/compose-standin:latest"
TEST_LABEL = "dev.dockyard.test"
REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(
    os.environ.get("DOCKYARD_COMPOSE_CORPUS") or REPO.parent / "shared" / "compose-corpus"
)
DOCKYARD = Path(sys.executable).parent / "dockyard"
SLEEPER = ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait", "--"]
OWN_LABELS = ("com.docker.compose.", "dev.dockyard.")


def compose_binary() -> Path:
    import compose  # type: ignore[import-not-found]

    return Path(compose.__file__).parent / "docker-compose"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------
# Preparing a file


def _labelled(defs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, d in (defs or {}).items():
        d = dict(d or {})
        if not d.get("external"):
            labels = d.get("labels") or {}
            if isinstance(labels, list):
                labels = dict(str(x).partition("=")[::2] for x in labels)
            d["labels"] = {**labels, TEST_LABEL: "1"}
        out[name] = d
    return out


def _port(item: Any) -> Any:
    if isinstance(item, dict):
        return {**item, "published": str(free_port())} if item.get("published") else item
    text = str(item)
    parts = text.split(":")
    if len(parts) < 2:
        return item
    parts[-2] = str(free_port())
    return ":".join(parts)


def _touch(folder: Path, rel: str, directory: bool) -> None:
    if rel.startswith(("/", "~")) or "$" in rel:
        return
    path = folder / rel
    if path.exists():
        return
    if directory:
        path.mkdir(parents=True, exist_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("standin\n")


def prepare(source: Path, folder: Path, project: str) -> tuple[Path, set[str]]:
    """The copy both tools run, and the image names it needs."""
    doc = load_compose_yaml(source.read_text(encoding="utf-8"), str(source))
    doc["name"] = project
    images: set[str] = set()
    for svc in (doc.get("services") or {}).values():
        if svc.pop("build", None) is not None and not svc.get("image"):
            svc["image"] = STANDIN
        images.add(str(svc.get("image") or STANDIN))
        svc["pull_policy"] = "never"
        if "entrypoint" in svc:
            svc["entrypoint"] = SLEEPER
        health = svc.get("healthcheck")
        if isinstance(health, dict) and not health.get("disable"):
            svc["healthcheck"] = {**health, "test": ["CMD", "true"], "interval": "1s"}
        if svc.get("ports"):
            svc["ports"] = [_port(p) for p in svc["ports"]]
        labels = svc.get("labels") or {}
        if isinstance(labels, list):
            labels = dict(str(x).partition("=")[::2] for x in labels)
        svc["labels"] = {**labels, TEST_LABEL: "1"}
        env_files = svc.get("env_file")
        for item in [env_files] if isinstance(env_files, str | dict) else env_files or []:
            _touch(folder, str(item["path"] if isinstance(item, dict) else item), False)
        for vol in svc.get("volumes") or []:
            src = vol.split(":")[0] if isinstance(vol, str) and ":" in vol else None
            if isinstance(vol, dict) and vol.get("type") == "bind":
                src = str(vol.get("source") or "")
            if src and src.startswith("."):
                _touch(folder, src, True)
    for section in ("secrets", "configs"):
        for d in (doc.get(section) or {}).values():
            if isinstance(d, dict) and d.get("file"):
                _touch(folder, str(d["file"]), False)
    for section in ("volumes", "networks"):
        if doc.get(section):
            doc[section] = _labelled(doc[section])
    path = folder / "compose.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path, images


@contextmanager
def standin_images(client: docker.DockerClient, names: set[str]) -> Iterator[set[str]]:
    """Tag the stand-in under each name (never over an image that is not ours)."""
    folder = Path(tempfile.mkdtemp(prefix="standin-"))
    (folder / "Dockerfile").write_text(
        f"FROM {BASE}\nLABEL {TEST_LABEL}=1\nENTRYPOINT {json.dumps(SLEEPER)}\n"
    )
    client.images.build(path=str(folder), tag=STANDIN, pull=False, rm=True)
    shutil.rmtree(folder)
    tagged: set[str] = set()
    skipped: set[str] = set()
    try:
        for name in sorted(names - {STANDIN}):
            ref = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
            try:
                existing = client.images.get(ref)
            except docker.errors.ImageNotFound:
                client.images.get(STANDIN).tag(ref)
                tagged.add(ref)
                continue
            if (existing.labels or {}).get(TEST_LABEL) != "1":
                skipped.add(ref)
        yield skipped
    finally:
        for ref in [*tagged, STANDIN]:
            with suppress(docker.errors.APIError):
                client.images.remove(ref, noprune=ref != STANDIN)


# --------------------------------------------------------------------------------------------
# Running


def run(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["DOCKER_CONFIG"] = str(cwd)  # no plugins, no credentials
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def containers(client: docker.DockerClient, label: str) -> dict[str, dict[str, Any]]:
    found = client.containers.list(all=True, filters={"label": label})
    return {c.name: client.api.inspect_container(c.id) for c in found}


def cleanup(client: docker.DockerClient, project: str) -> None:
    app = app_of(project)
    labels = (
        f"com.docker.compose.project={project}",
        f"dev.dockyard.app={app}",
        f"dev.dockyard.history={app}",  # the revisions dockyard recorded
    )
    for label in labels:
        for c in client.containers.list(all=True, filters={"label": label}):
            c.remove(force=True)
        for n in client.networks.list(filters={"label": label}):
            n.remove()
        for v in client.volumes.list(filters={"label": label}):
            v.remove(force=True)


# --------------------------------------------------------------------------------------------
# Comparing


def _sorted(value: Any) -> Any:
    return sorted(value, key=json.dumps) if value else None


SECRETS = re.compile(r"^/run/secrets/")


ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")


def _source(mount: dict[str, Any]) -> Any:
    if mount.get("Type") != "volume":
        return mount.get("Source")
    name = mount.get("Name") or ""
    return "(anonymous)" if ANONYMOUS.match(name) else name  # a new id each time


def _strip(name: str) -> str:
    return name.lstrip("/")


def view(attrs: dict[str, Any]) -> dict[str, Any]:
    """What a user notices of a container, normalised where order carries no meaning."""
    cfg, host = attrs["Config"], attrs["HostConfig"]
    cid = attrs["Id"]
    nets = attrs["NetworkSettings"]["Networks"] or {}
    labels = {k: v for k, v in (cfg.get("Labels") or {}).items() if not k.startswith(OWN_LABELS)}
    mounts = _sorted(
        [
            m.get("Type"),
            # A secret is a file at its target in both; Compose binds the source file,
            # dockyard a copy from its secret store (docs/compose.md).
            None if SECRETS.match(m.get("Destination") or "") else _source(m),
            m.get("Destination"),
            m.get("RW"),
        ]
        for m in attrs.get("Mounts") or []
    )
    restart = dict(host.get("RestartPolicy") or {})
    if restart.get("Name") == "":
        restart["Name"] = "no"  # the engine's two spellings of one policy
    ports = {
        k: sorted((b.get("HostIp") or "", b.get("HostPort") or "") for b in v or [])
        for k, v in (host.get("PortBindings") or {}).items()
    }
    networks = {
        name: {
            # A set: Compose lists a name twice when container and service share it.
            "aliases": sorted(
                {a for a in (ep.get("Aliases") or []) if not cid.startswith(a) or len(a) < 12}
            ),
            "ipam": ep.get("IPAMConfig") or None,
        }
        for name, ep in nets.items()
    }
    return {
        "name": _strip(attrs["Name"]),
        "image": cfg.get("Image"),
        "labels": labels,
        "env": sorted(cfg.get("Env") or []),
        "cmd": cfg.get("Cmd"),
        "entrypoint": cfg.get("Entrypoint"),
        "user": cfg.get("User"),
        "working_dir": cfg.get("WorkingDir"),
        "domainname": cfg.get("Domainname"),
        "tty": cfg.get("Tty"),
        "stdin_open": cfg.get("OpenStdin"),
        "stop_signal": cfg.get("StopSignal"),
        "stop_timeout": cfg.get("StopTimeout"),
        "healthcheck": cfg.get("Healthcheck"),
        "exposed_ports": sorted(cfg.get("ExposedPorts") or {}),
        "mounts": mounts,
        "tmpfs": host.get("Tmpfs") or None,
        "ports": ports,
        "network_mode": host.get("NetworkMode"),
        "networks": networks,
        "restart": restart,
        "ulimits": _sorted(host.get("Ulimits")),
        "sysctls": host.get("Sysctls") or None,
        "log_config": host.get("LogConfig"),
        "cap_add": _sorted(host.get("CapAdd")),
        "cap_drop": _sorted(host.get("CapDrop")),
        "dns": host.get("Dns") or None,
        "dns_search": host.get("DnsSearch") or None,
        "dns_options": host.get("DnsOptions") or None,
        "extra_hosts": _sorted(host.get("ExtraHosts")),
        "shm_size": host.get("ShmSize"),
        "init": host.get("Init"),
        "pid_mode": host.get("PidMode"),
        "ipc_mode": host.get("IpcMode"),
        "privileged": host.get("Privileged"),
        "read_only": host.get("ReadonlyRootfs"),
        "security_opt": _sorted(host.get("SecurityOpt")),
        "group_add": _sorted(host.get("GroupAdd")),
        "devices": _sorted(host.get("Devices")),
        "device_requests": host.get("DeviceRequests") or None,
        "memory": host.get("Memory"),
        "memory_reservation": host.get("MemoryReservation"),
        "nano_cpus": host.get("NanoCpus"),
        "cpu_shares": host.get("CpuShares"),
        "pids_limit": host.get("PidsLimit") or None,
        "oom_score_adj": host.get("OomScoreAdj"),
        "cgroup_parent": host.get("CgroupParent"),
        "links": _sorted(host.get("Links")),
    }


@dataclass
class FileResult:
    file: str
    status: str = "compared"  # or why not
    containers: int = 0
    identical: int = 0
    fields: int = 0
    equal: int = 0
    differences: list[str] = field(default_factory=list)


def compare(
    result: FileResult, ours: dict[str, dict[str, Any]], theirs: dict[str, dict[str, Any]]
) -> None:
    for name in sorted(set(ours) | set(theirs)):
        result.containers += 1
        if name not in ours or name not in theirs:
            who = "dockyard" if name not in ours else "Compose"
            result.differences.append(f"{name}: no container from {who}")
            result.fields += 1
            continue
        a, b = view(theirs[name]), view(ours[name])
        same = True
        for key in a:
            result.fields += 1
            if a[key] == b[key]:
                result.equal += 1
            else:
                same = False
                result.differences.append(f"{name}.{key}: compose={a[key]!r} dockyard={b[key]!r}")
        result.identical += same


def app_of(project: str) -> str:
    """The app a Compose project runs as: `cdiff_x` is app `cdiff-x` (spec.project cdiff_x)."""
    return project.replace("_", "-")


def differential(
    client: docker.DockerClient, source: Path, scratch: Path, project: str | None = None
) -> FileResult:
    """`project`: the Compose project name (default cdiff-<file>)."""
    result = FileResult(source.name)
    project = project or "cdiff-" + re.sub(r"[^a-z0-9-]", "-", source.stem.lower())[:40]
    folder = scratch / project
    folder.mkdir(parents=True)
    path, images = prepare(source, folder, project)
    cleanup(client, project)
    with standin_images(client, images) as skipped:
        if skipped:
            result.status = f"skipped: image names taken by other images ({sorted(skipped)})"
            return result
        try:
            up = run(
                [str(compose_binary()), "-f", str(path), "-p", project, "up", "-d",
                 "--no-build", "--pull", "never"],
                folder,
            )  # fmt: skip
            theirs = containers(client, f"com.docker.compose.project={project}")
            run([str(compose_binary()), "-f", str(path), "-p", project, "down", "-v", "-t", "1"],
                folder)  # fmt: skip
            cleanup(client, project)
            if up.returncode != 0:
                result.status = f"Compose refused it: {up.stderr.strip().splitlines()[-1:]}"
                return result
            applied = run([str(DOCKYARD), "apply", "-q", "-f", str(path)], folder)
            ours = containers(client, f"dev.dockyard.app={app_of(project)}")
            run([str(DOCKYARD), "delete", "--volumes", app_of(project)], folder)
            if applied.returncode != 0 and not ours:
                tail = (applied.stdout + applied.stderr).strip().splitlines()[-3:]
                result.status = f"dockyard refused it: {tail}"
                return result
            compare(result, ours, theirs)
        finally:
            cleanup(client, project)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="Compose files (default: corpus)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    files = args.files or sorted(CORPUS.glob("*.yaml"))
    client = docker.from_env()
    results: list[FileResult] = []
    with tempfile.TemporaryDirectory(prefix="cdiff-") as scratch:
        for file in files:
            res = differential(client, file, Path(scratch))
            results.append(res)
            if not args.json:
                print(report_line(res), flush=True)
                for diff in res.differences:
                    print(f"    {diff}", flush=True)
    total = FileResult("total")
    for res in results:
        total.containers += res.containers
        total.identical += res.identical
        total.fields += res.fields
        total.equal += res.equal
    if args.json:
        print(json.dumps([r.__dict__ for r in [*results, total]], indent=1))
    else:
        compared = sum(r.status == "compared" for r in results)
        print(f"files compared: {compared} of {len(results)}")
        print(report_line(total))
    return 0


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def report_line(res: FileResult) -> str:
    if res.status != "compared":
        return f"{res.file}: {res.status}"
    return (
        f"{res.file}: containers identical {res.identical}/{res.containers} "
        f"({pct(res.identical, res.containers)}), fields equal {res.equal}/{res.fields} "
        f"({pct(res.equal, res.fields)})"
    )


if __name__ == "__main__":
    sys.exit(main())
