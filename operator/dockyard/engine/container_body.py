"""The Engine API's create-container body for one desired container: the one place that
says how each field of a ContainerConfig reaches Docker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.state.desired import ContainerConfig

from .delivery import copied

_NS = 1_000_000_000


def container_body(
    config: ContainerConfig,
    labels: Mapping[str, str],
    binds: list[str],
    copies_files: bool = False,
) -> dict[str, Any]:
    """The Engine API's create-container body for one container of a service.
    `copies_files`: files from the manifest's folder are copied in, not bind-mounted."""
    host: dict[str, Any] = {}
    body: dict[str, Any] = {
        "Image": config.image,
        "Labels": dict(labels),
        "Env": [f"{k}={v}" for k, v in config.env],
        "HostConfig": host,
    }
    if config.command is not None:
        body["Cmd"] = list(config.command)
    if config.entrypoint is not None:
        body["Entrypoint"] = list(config.entrypoint)
    for key, value in (
        ("WorkingDir", config.working_dir),
        ("User", config.user),
        ("Hostname", config.hostname),
        ("StopSignal", config.stop_signal),
    ):
        if value:
            body[key] = value
    if config.stop_grace_period is not None:
        body["StopTimeout"] = max(0, round(config.stop_grace_period))
    if config.healthcheck is not None:
        hc = config.healthcheck
        health: dict[str, Any] = {}
        if hc.test:
            health["Test"] = list(hc.test)
        for key, seconds in (
            ("Interval", hc.interval),
            ("Timeout", hc.timeout),
            ("StartPeriod", hc.start_period),
        ):
            if seconds is not None:
                health[key] = int(seconds * _NS)
        if hc.retries is not None:
            health["Retries"] = hc.retries
        body["Healthcheck"] = health

    if config.ports:
        exposed: dict[str, dict[str, Any]] = {}
        bindings: dict[str, list[dict[str, str]]] = {}
        for p in config.ports:
            key = f"{p.target}/{p.protocol}"
            exposed[key] = {}
            bindings.setdefault(key, []).append(
                {"HostIp": p.host_ip or "", "HostPort": str(p.published or "")}
            )
        body["ExposedPorts"] = exposed
        host["PortBindings"] = bindings
    for key in config.expose:
        body.setdefault("ExposedPorts", {})[key] = {}

    mounts: list[dict[str, Any]] = []
    for m in config.mounts:
        if m.kind == "volume":
            mounts.append(
                {"Type": "volume", "Source": m.source, "Target": m.target, "ReadOnly": m.read_only}
            )
        elif m.kind == "anonymous":
            mounts.append({"Type": "volume", "Target": m.target, "ReadOnly": m.read_only})
        if m.nocopy and m.kind in ("volume", "anonymous"):
            mounts[-1]["VolumeOptions"] = {"NoCopy": True}
        elif m.kind == "tmpfs":
            opts: dict[str, Any] = {}
            if m.tmpfs_size is not None:
                opts["SizeBytes"] = m.tmpfs_size
            if m.mode is not None:
                opts["Mode"] = m.mode
            mounts.append(
                {"Type": "tmpfs", "Target": m.target, "ReadOnly": m.read_only, "TmpfsOptions": opts}
            )
        elif m.kind == "bind" and not (copies_files and copied(m)):
            options = ",".join((*(("ro",) if m.read_only else ()), *m.bind_options))
            binds.append(f"{m.source}:{m.target}" + (f":{options}" if options else ""))
    if mounts:
        host["Mounts"] = mounts
    if binds:
        host["Binds"] = binds

    name, _, count = config.restart.partition(":")
    policy: dict[str, Any] = {"Name": name}
    if name == "on-failure" and count:
        policy["MaximumRetryCount"] = int(count)
    host["RestartPolicy"] = policy

    if config.network_mode is not None:
        host["NetworkMode"] = config.network_mode
    elif config.networks:
        first = config.networks[0]
        host["NetworkMode"] = first.name
        endpoint: dict[str, Any] = {"Aliases": list(first.aliases)}
        ipam = {
            k: v
            for k, v in (("IPv4Address", first.ipv4_address), ("IPv6Address", first.ipv6_address))
            if v
        }
        if ipam:
            endpoint["IPAMConfig"] = ipam
        if config.links:
            endpoint["Links"] = list(config.links)
        if first.mac_address:
            # Engines before API 1.44 read the primary network's MAC from the config.
            body["MacAddress"] = first.mac_address
            endpoint["MacAddress"] = first.mac_address
        body["NetworkingConfig"] = {"EndpointsConfig": {first.name: endpoint}}

    if config.cpus is not None:
        host["NanoCpus"] = int(config.cpus * _NS)
    if config.memory is not None:
        host["Memory"] = config.memory
    if config.memory_reservation is not None:
        host["MemoryReservation"] = config.memory_reservation
    if config.pids is not None:
        host["PidsLimit"] = config.pids
    if config.init is not None:
        host["Init"] = config.init
    if config.cap_add:
        host["CapAdd"] = list(config.cap_add)
    if config.cap_drop:
        host["CapDrop"] = list(config.cap_drop)
    if config.devices:
        host["Devices"] = [
            {"PathOnHost": h, "PathInContainer": c, "CgroupPermissions": p}
            for h, c, p in config.devices
        ]
    if config.read_only:
        host["ReadonlyRootfs"] = True
    if config.privileged:
        host["Privileged"] = True
    _compose_keys(config, body, host)
    return body


def _compose_keys(config: ContainerConfig, body: dict[str, Any], host: dict[str, Any]) -> None:
    """The settings that Compose services carry beyond the first release's set."""
    if config.tty:
        body["Tty"] = True
    if config.stdin_open:
        body["OpenStdin"] = True
    if config.domainname:
        body["Domainname"] = config.domainname
    if config.log_driver or config.log_options:
        host["LogConfig"] = {
            "Type": config.log_driver or "",
            "Config": dict(config.log_options),
        }
    if config.ulimits:
        host["Ulimits"] = [{"Name": n, "Soft": s, "Hard": h} for n, s, h in config.ulimits]
    if config.sysctls:
        host["Sysctls"] = dict(config.sysctls)
    if config.shm_size is not None:
        host["ShmSize"] = config.shm_size
    for key, values in (
        ("Dns", config.dns),
        ("DnsSearch", config.dns_search),
        ("DnsOptions", config.dns_options),
        ("SecurityOpt", config.security_opt),
        ("GroupAdd", config.group_add),
    ):
        if values:
            host[key] = list(values)
    if config.extra_hosts:
        host["ExtraHosts"] = [f"{name}:{ip}" for name, ip in config.extra_hosts]
    if config.pid_mode:
        host["PidMode"] = config.pid_mode
    if config.ipc_mode:
        host["IpcMode"] = config.ipc_mode
    if config.oom_score_adj is not None:
        host["OomScoreAdj"] = config.oom_score_adj
    if config.cgroup_parent:
        host["CgroupParent"] = config.cgroup_parent
    for key, value in (
        ("CpuShares", config.cpu_shares),
        ("CpuQuota", config.cpu_quota),
        ("CpuPeriod", config.cpu_period),
        ("CpusetCpus", config.cpuset),
        ("MemorySwap", config.memory_swap),
        ("MemorySwappiness", config.memory_swappiness),
        ("UsernsMode", config.userns_mode),
        ("UTSMode", config.uts_mode),
        ("CgroupnsMode", config.cgroupns_mode),
        ("Runtime", config.runtime),
    ):
        if value is not None:
            host[key] = value
    if config.oom_kill_disable:
        host["OomKillDisable"] = True
    if config.device_cgroup_rules:
        host["DeviceCgroupRules"] = list(config.device_cgroup_rules)
    if config.storage_opt:
        host["StorageOpt"] = dict(config.storage_opt)
    if config.device_requests:
        host["DeviceRequests"] = [
            {
                "Driver": r.driver,
                "Count": r.count,
                "DeviceIDs": list(r.device_ids),
                "Capabilities": [list(r.capabilities)] if r.capabilities else [],
                "Options": dict(r.options),
            }
            for r in config.device_requests
        ]
