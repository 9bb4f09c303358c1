"""One service: each key to its translator, then what needs the whole service (configs,
links, restart, resources, container name, aliases)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..validate import DEFAULT_NETWORK
from . import configs, hostconfig
from .context import Importer, ServiceCtx
from .deploy import legacy_resource, on_deploy, on_healthcheck, on_restart, on_scale
from .names import is_object_name
from .networks import on_network_mode, on_networks
from .ports import on_expose, on_ports
from .secrets import on_secrets
from .service_keys import (
    list_key,
    on_build,
    on_command,
    on_depends_on,
    on_devices,
    on_entrypoint,
    on_env_file,
    on_environment,
    on_image,
    on_labels,
    on_profiles,
    on_pull_policy,
    passthrough_key,
    string_key,
)
from .values import (
    ordered,
)
from .volumes import on_tmpfs, on_volumes


def translate_service(imp: Importer, raw: str, svc: dict[str, Any]) -> dict[str, Any]:
    name = imp.svc_names[raw]
    path = f"services.{raw}"
    out: dict[str, Any] = {"name": name}
    ctx = ServiceCtx(raw, path, out)
    for key, value in svc.items():
        handler = _SERVICE_KEYS.get(key)
        if handler is not None:
            handler(imp, ctx, value)
        elif key in _UNSUPPORTED_SERVICE_KEYS:
            imp.unsupported(f"{path}.{key}", _UNSUPPORTED_SERVICE_KEYS[key])
        elif key.startswith("x-"):
            imp.note(f"{path}.{key}", "extension field, ignored as Compose does")
        else:
            imp.unsupported(f"{path}.{key}", "not a service key dockyard knows")
    _finish_service(imp, ctx, svc)
    return ordered(out, _SERVICE_ORDER)


def _finish_service(imp: Importer, ctx: ServiceCtx, svc: dict[str, Any]) -> None:
    out = ctx.out
    configs.service_configs(imp, ctx, imp.cfg_defs)
    hostconfig.finish_links(imp, ctx, imp.svc_names)
    if "restart" not in out and ctx.deploy_restart is not None:
        out["restart"] = ctx.deploy_restart
    elif "restart" in out and ctx.deploy_restart not in (None, out["restart"]):
        imp.note(
            f"{ctx.path}.deploy.restart_policy",
            f"restart: {out['restart']} is used; deploy.restart_policy would mean "
            f"{ctx.deploy_restart}",
        )
    resources = {**ctx.legacy_resources, **ctx.resources}
    gpus = out.pop("_deviceRequests", [])
    if gpus:
        resources["devices"] = [*resources.get("devices", []), *gpus]
    if resources:
        out["resources"] = ordered(
            resources,
            ["cpus", "memory", "memoryReservation", "pids", "devices"],  # then others
        )
    if ctx.replicas is not None:
        out["replicas"] = ctx.replicas
    if "networkMode" in out and "networks" in out:
        imp.error(
            f"{ctx.path}.network_mode",
            "network_mode and networks cannot be combined",
            "remove one of them",
        )
    if "image" not in out and "build" not in out:
        imp.error(ctx.path, "a service needs image or build", "add image: or build:")
    _container_name(imp, ctx, svc.get("container_name"))
    hostconfig.service_mac_address(imp, ctx, DEFAULT_NETWORK)
    extra = [ctx.raw] if ctx.raw != out["name"] else []
    if extra and "networkMode" not in out:
        # Keep the Compose names resolvable: other services may reach `web_app` by name.
        nets = out.setdefault("networks", [])
        if not nets:
            nets.append({"name": DEFAULT_NETWORK})
        for att in nets:
            aliases = att.setdefault("aliases", [])
            for index, alias in enumerate(extra):
                if alias not in aliases:
                    aliases.insert(index, alias)


def _container_name(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    # The container's name, as Compose names it; dockyard also makes it a DNS alias
    # on the service's networks (`DB_HOST=mysql` for a service with
    # `container_name: mysql` resolves either way).
    if value is None:
        return
    name = str(value)
    path = f"{ctx.path}.container_name"
    if not is_object_name(name):
        imp.error(path, f"{name!r} is not a container name", "use letters, digits, _ . -")
    elif int(ctx.out.get("replicas", 1)) > 1:
        imp.error(
            path,
            f"a container name cannot be given to {ctx.out['replicas']} replicas",
            "remove container_name or scale to 1, as Compose requires",
        )
    else:
        ctx.out["containerName"] = name


# service key handlers -----------------------------------------------------------------

_SERVICE_KEYS: dict[str, Callable[[Importer, ServiceCtx, Any], None]] = {
    "image": on_image,
    "container_name": lambda _imp, _ctx, _value: None,  # once replicas are known
    "build": on_build,
    "pull_policy": on_pull_policy,
    "command": on_command,
    "entrypoint": on_entrypoint,
    "working_dir": string_key("workingDir"),
    "user": string_key("user"),
    "hostname": string_key("hostname"),
    "environment": on_environment,
    "env_file": on_env_file,
    "secrets": on_secrets,
    "ports": on_ports,
    "expose": on_expose,
    "volumes": on_volumes,
    "tmpfs": on_tmpfs,
    "networks": on_networks,
    "network_mode": on_network_mode,
    "depends_on": on_depends_on,
    "healthcheck": on_healthcheck,
    "restart": on_restart,
    "deploy": on_deploy,
    "scale": on_scale,
    "mem_limit": legacy_resource("memory"),
    "mem_reservation": legacy_resource("memoryReservation"),
    "cpus": legacy_resource("cpus"),
    "pids_limit": legacy_resource("pids"),
    "cpu_shares": legacy_resource("cpuShares"),
    "cpu_quota": legacy_resource("cpuQuota"),
    "cpu_period": legacy_resource("cpuPeriod"),
    "cpuset": legacy_resource("cpuset"),
    "memswap_limit": legacy_resource("memorySwap"),
    "mem_swappiness": legacy_resource("memorySwappiness"),
    "oom_kill_disable": legacy_resource("oomKillDisable"),
    "labels": on_labels,
    "cap_add": list_key("capAdd"),
    "cap_drop": list_key("capDrop"),
    "devices": on_devices,
    "read_only": passthrough_key("readOnly"),
    "init": passthrough_key("init"),
    "privileged": passthrough_key("privileged"),
    "stop_grace_period": passthrough_key("stopGracePeriod"),
    "stop_signal": string_key("stopSignal"),
    "profiles": on_profiles,
    "configs": lambda _imp, ctx, value: ctx.out.__setitem__(configs.PENDING_KEY, value),
}

_SERVICE_KEYS.update(hostconfig.SERVICE_KEYS)

_SWARM = "a Swarm-only setting"
_UNSUPPORTED_SERVICE_KEYS: dict[str, str] = {
    "platform": "dockyard uses the engine's own platform",
    "attach": "no equivalent: dockyard never attaches to output",
    "isolation": "Windows-only setting",
    "cpu_count": "no equivalent: use deploy.resources.limits.cpus",
    "cpu_percent": "no equivalent: use deploy.resources.limits.cpus",
    "cpu_rt_runtime": "no equivalent",
    "cpu_rt_period": "no equivalent",
    "blkio_config": "no equivalent",
    "annotations": "no equivalent",
    "credential_spec": "Windows-only setting",
    "develop": "Compose watch is a development feature without an equivalent",
    "post_start": "lifecycle hooks are not supported",
    "pre_stop": "lifecycle hooks are not supported",
    "label_file": "no equivalent: write the labels in labels:",
    "models": "no equivalent",
    "provider": "no equivalent",
    "use_api_socket": "no equivalent",
    "net": "legacy network setting; use networks",
}

_SERVICE_ORDER = [
    "name",
    "image",
    "build",
    "pullPolicy",
    "command",
    "entrypoint",
    "workingDir",
    "user",
    "hostname",
    "containerName",
    "env",
    "envFiles",
    "secrets",
    "ports",
    "expose",
    "volumeMounts",
    "networks",
    "networkMode",
    "healthcheck",
    "restart",
    "replicas",
    "dependsOn",
    "resources",
    "update",
    "placement",
    "stopGracePeriod",
    "stopSignal",
    "init",
    "labels",
    "capAdd",
    "capDrop",
    "devices",
    "readOnly",
    "privileged",
    "logging",
    "ulimits",
    "sysctls",
    "shmSize",
    "dns",
    "dnsSearch",
    "dnsOptions",
    "extraHosts",
    "securityOpt",
    "tty",
    "stdinOpen",
    "pidMode",
    "ipcMode",
    "groupAdd",
    "oomScoreAdj",
    "cgroupParent",
    "domainname",
    "links",
    "usernsMode",
    "utsMode",
    "cgroupnsMode",
    "deviceCgroupRules",
    "storageOpt",
    "runtime",
]
