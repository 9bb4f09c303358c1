"""Compose service keys that set the container's host config: logging, ulimits, sysctls,
DNS, extra hosts, namespaces, device requests, and the primary network.

Each handler takes the importer, the service being translated and the key's value, and
writes manifest fields into `ctx.out` (camelCase), or reports why it cannot. A key whose
loss would change what the container is (another container's namespace) is an error,
never a warning: the stack would start and then misbehave.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .context import Importer, ServiceCtx

__all__ = [
    "SERVICE_KEYS",
    "attachment_options",
    "finish_links",
    "order_networks",
    "service_mac_address",
]


Handler = Callable[[Any, Any, Any], None]

# Kept by the service context until its networks are known (see service_mac_address).
MAC_KEY = "_macAddress"
PRIORITY_KEY = "_priority"
LINKS_KEY = "_links"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | int | float):
        return [_text(value)]
    return [_text(v) for v in value]


def _pairs(value: Any) -> dict[str, str]:
    """A mapping, or a list of `KEY=VALUE`."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): _text(v) for k, v in value.items()}
    out: dict[str, str] = {}
    for item in value:
        key, _, val = str(item).partition("=")
        out[key] = val
    return out


def _logging(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    path = f"{ctx.path}.logging"
    out: dict[str, Any] = {}
    for key, item in (value or {}).items():
        if key == "driver":
            out["driver"] = _text(item)
        elif key == "options":
            if item:
                out["options"] = _pairs(item)
        else:
            imp.unsupported(f"{path}.{key}", "not a logging option (driver, options)")
    if out:
        ctx.out["logging"] = out


def _ulimits(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    limits: list[dict[str, Any]] = []
    for name, item in (value or {}).items():
        path = f"{ctx.path}.ulimits.{name}"
        soft: Any
        hard: Any
        if isinstance(item, dict):
            soft, hard = item.get("soft"), item.get("hard")
        else:
            soft = hard = item
        try:
            limits.append({"name": str(name), "soft": int(soft), "hard": int(hard)})
        except (TypeError, ValueError):
            imp.error(path, f"{item!r} is not a limit", "write a number, or {soft: N, hard: M}")
    if limits:
        ctx.out["ulimits"] = limits


def _sysctls(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    sysctls = _pairs(value)
    if sysctls:
        ctx.out["sysctls"] = sysctls


def _shm_size(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    if value is not None:
        ctx.out["shmSize"] = value


def _list(target: str) -> Handler:
    def handler(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
        items = list(dict.fromkeys(_strings(value)))
        if items:
            ctx.out[target] = items

    return handler


def _extra_hosts(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    hosts: list[dict[str, str]] = []
    if isinstance(value, dict):  # host: ip, or host: [ip, ip]
        for name, ips in value.items():
            hosts.extend({"hostname": str(name), "ip": ip} for ip in _strings(ips))
    else:
        for index, item in enumerate(value or []):
            text = str(item)
            # `host=ip` (Compose's newer form, safe for IPv6) or `host:ip`.
            sep = "=" if "=" in text else ":"
            name, found, ip = text.partition(sep)
            if not found or not name or not ip:
                imp.error(
                    f"{ctx.path}.extra_hosts[{index}]",
                    f"{text!r} is not an extra host",
                    "write hostname=IP or hostname:IP",
                )
                continue
            hosts.append({"hostname": name, "ip": ip.strip("[]")})
    if hosts:
        ctx.out["extraHosts"] = hosts


def _flag(target: str) -> Handler:
    def handler(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
        if value:
            ctx.out[target] = True

    return handler


def _scalar(target: str) -> Handler:
    def handler(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
        if value is not None and value != "":
            ctx.out[target] = value if isinstance(value, int) else _text(value)

    return handler


def _namespace(key: str, target: str, modes: tuple[str, ...]) -> Handler:
    def handler(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
        mode = _text(value)
        path = f"{ctx.path}.{key}"
        if mode in modes:
            ctx.out[target] = mode
        elif mode.startswith(("service:", "container:")):
            imp.error(
                path,
                f"{key}: {mode} shares another container's {key.upper()} namespace, which "
                "dockyard does not do: it replaces each service's containers on its own, and "
                "the shared namespace would go with the other container",
                f"remove {key}, or run both processes in one service",
            )
        else:
            imp.error(path, f"{mode!r} is not a valid {key} mode", f"use {' or '.join(modes)}")

    return handler


def _mac_address(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    if value:
        ctx.out[MAC_KEY] = _text(value)


def _links(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    if value:
        ctx.out[LINKS_KEY] = _strings(value)


def finish_links(imp: Importer, ctx: ServiceCtx, services: dict[str, str]) -> None:
    """`links: [db, "db:database"]`: a link per entry, and (as Compose) db started first."""
    raw = ctx.out.pop(LINKS_KEY, None)
    links: list[dict[str, str]] = []
    for index, text in enumerate(raw or []):
        target, _, alias = text.partition(":")
        if target not in services:
            imp.error(
                f"{ctx.path}.links[{index}]",
                f"service {ctx.raw!r} links to undefined service {target!r}",
                "link to a service of this file (external_links are not carried)",
            )
            continue
        link = {"service": services[target]}
        if alias and alias != target:
            link["alias"] = alias
        elif target != services[target]:
            link["alias"] = target  # the Compose name resolves, as it did
        links.append(link)
        deps = ctx.out.setdefault("dependsOn", [])
        if not any(d["service"] == services[target] for d in deps):
            deps.append({"service": services[target]})
    if links:
        ctx.out["links"] = links


def _refused(key: str, reason: str, hint: str) -> Handler:
    """A key whose loss would leave a container that starts and then misbehaves."""

    def handler(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
        imp.error(f"{ctx.path}.{key}", reason, hint)

    return handler


def _storage_opt(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    options = _pairs(value)
    if options:
        ctx.out["storageOpt"] = options


def _gpus(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    # `gpus: all`, or a list of device requests with capabilities [gpu] implied.
    items = [{"count": "all"}] if value == "all" else list(value or [])
    requests = [
        _device_request(imp, f"{ctx.path}.gpus[{i}]", item, ("gpu",))
        for i, item in enumerate(items)
    ]
    ctx.out.setdefault("_deviceRequests", []).extend(r for r in requests if r is not None)


def device_requests(imp: Importer, path: str, value: Any) -> list[dict[str, Any]]:
    """`deploy.resources.reservations.devices` as the manifest's `resources.devices`."""
    requests = [
        _device_request(imp, f"{path}[{i}]", item, ()) for i, item in enumerate(value or [])
    ]
    return [r for r in requests if r is not None]


def _device_request(
    imp: Importer, path: str, item: Any, implied: tuple[str, ...]
) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        imp.error(path, f"{item!r} is not a device request", "write {capabilities: [gpu]}")
        return None
    out: dict[str, Any] = {}
    caps = list(dict.fromkeys([*implied, *_strings(item.get("capabilities"))]))
    for key, val in item.items():
        if key == "driver":
            out["driver"] = _text(val)
        elif key == "count":
            if val == "all" or val == -1:
                out["count"] = -1
            else:
                try:
                    out["count"] = int(val)
                except (TypeError, ValueError):
                    imp.error(f"{path}.count", f"{val!r} is not a count", "write a number or all")
        elif key == "device_ids":
            out["deviceIds"] = _strings(val)
        elif key == "options":
            out["options"] = _pairs(val)
        elif key != "capabilities":
            imp.unsupported(f"{path}.{key}", "not a device request option")
    if caps:
        out["capabilities"] = caps
    if "count" not in out and "deviceIds" not in out:
        out["count"] = -1  # as Compose: every matching device
    return out


def attachment_options(imp: Importer, path: str, key: str, item: Any, att: dict[str, Any]) -> bool:
    """One option of a service's network attachment; False when it is not one of these."""
    if key == "ipv6_address":
        att["ipv6Address"] = _text(item)
    elif key == "mac_address":
        att["macAddress"] = _text(item)
    elif key == "priority":
        att[PRIORITY_KEY] = int(item or 0)
    elif key == "gw_priority":
        if item:
            # Refused, not dropped: without it the container's default route would go out
            # through another network than under Compose.
            imp.error(
                f"{path}.{key}",
                "choosing the default gateway's network needs Docker Engine 28 (API 1.48) "
                "or later, which dockyard does not drive yet (engines before 28 ignore it and "
                "take the gateway from the primary network); the container would route "
                "through another network than under Compose",
                "remove gw_priority and give that network the highest priority: instead "
                "(the primary network provides the default gateway)",
            )
    elif key == "link_local_ips":
        imp.unsupported(f"{path}.{key}", "link-local addresses are not set")
    elif key == "driver_opts":
        imp.unsupported(f"{path}.{key}", "per-endpoint driver options are not set")
    else:
        return False
    return True


def order_networks(attachments: list[dict[str, Any]], raw_names: list[str]) -> None:
    """Compose's primary network is the one with the highest `priority`, then the first
    by name: put it first (the manifest's first network is the primary one)."""
    keyed = sorted(
        zip(attachments, raw_names, strict=True),
        key=lambda pair: (-int(pair[0].get(PRIORITY_KEY, 0)), pair[1]),
    )
    attachments[:] = [att for att, _ in keyed]
    for att in attachments:
        att.pop(PRIORITY_KEY, None)


def service_mac_address(imp: Importer, ctx: ServiceCtx, default_network: str) -> None:
    """A service-level `mac_address` is the primary network's, as Compose sets it."""
    mac = ctx.out.pop(MAC_KEY, None)
    if mac is None:
        return
    if ctx.out.get("networkMode"):
        imp.error(
            f"{ctx.path}.mac_address",
            f"a MAC address needs a network, and network_mode is {ctx.out['networkMode']}",
            "remove mac_address",
        )
        return
    nets = ctx.out.setdefault("networks", [])
    if not nets:
        nets.append({"name": default_network})
    primary = nets[0]
    if primary.get("macAddress") not in (None, mac):
        imp.error(
            f"{ctx.path}.mac_address",
            f"the service's MAC address {mac} differs from the one given for network "
            f"{primary['name']} ({primary['macAddress']})",
            "keep one of them",
        )
        return
    primary["macAddress"] = mac


SERVICE_KEYS: dict[str, Handler] = {
    "logging": _logging,
    "ulimits": _ulimits,
    "sysctls": _sysctls,
    "shm_size": _shm_size,
    "dns": _list("dns"),
    "dns_search": _list("dnsSearch"),
    "dns_opt": _list("dnsOptions"),
    "extra_hosts": _extra_hosts,
    "security_opt": _list("securityOpt"),
    "tty": _flag("tty"),
    "stdin_open": _flag("stdinOpen"),
    "pid": _namespace("pid", "pidMode", ("host",)),
    "ipc": _namespace("ipc", "ipcMode", ("host", "private", "shareable", "none")),
    "group_add": _list("groupAdd"),
    "oom_score_adj": _scalar("oomScoreAdj"),
    "cgroup_parent": _scalar("cgroupParent"),
    "domainname": _scalar("domainname"),
    "mac_address": _mac_address,
    "gpus": _gpus,
    "links": _links,
    "userns_mode": _namespace("userns_mode", "usernsMode", ("host",)),
    "uts": _namespace("uts", "utsMode", ("host",)),
    "cgroup": _namespace("cgroup", "cgroupnsMode", ("host", "private")),
    "device_cgroup_rules": _list("deviceCgroupRules"),
    "storage_opt": _storage_opt,
    "runtime": _scalar("runtime"),
    "volumes_from": _refused(
        "volumes_from",
        "mounting another container's volumes is not something dockyard does: it replaces "
        "each service's containers on their own, and anonymous volumes go with them",
        "declare named volumes and mount them in both services",
    ),
    "external_links": _refused(
        "external_links",
        "links to containers outside the app are not made: the name would not resolve",
        "attach the service to the other container's network (an external network) and "
        "use its name there",
    ),
}
