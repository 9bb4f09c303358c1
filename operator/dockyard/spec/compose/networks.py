"""Networks: top-level definitions (ipam included), and a service's networks and network_mode."""

from __future__ import annotations

from typing import Any

from . import hostconfig
from .context import Importer, ServiceCtx
from .names import resource_name
from .values import (
    camel,
    label_map,
    scalar,
)


def network_definition(imp: Importer, raw: str, net: dict[str, Any]) -> dict[str, Any]:
    path = f"networks.{raw}"
    out: dict[str, Any] = {"name": imp.net_names[raw]}
    external = net.get("external")
    if isinstance(external, dict):
        if external.get("name"):
            net = {**net, "name": external["name"]}
        external = True
    for key, value in net.items():
        if key == "external":
            if external:
                out["external"] = True
        elif key == "driver":
            out["driver"] = str(value)
        elif key == "internal":
            out["internal"] = bool(value)
        elif key == "labels":
            out["labels"] = label_map(value)
        elif key == "name":
            pass
        elif key == "driver_opts":
            if value:
                out["driverOpts"] = {str(k): scalar(v) for k, v in value.items()}
        elif key == "enable_ipv6":
            if value:
                out["enableIpv6"] = True
        elif key == "ipam":
            ipam = _ipam(imp, f"{path}.ipam", value or {})
            if ipam:
                out["ipam"] = ipam
        elif key == "attachable":
            imp.note(f"{path}.{key}", "a Swarm setting; standalone containers can attach")
        elif key.startswith("x-"):
            imp.note(f"{path}.{key}", "extension field, ignored")
        else:
            imp.unsupported(
                f"{path}.{key}", "no equivalent for this network option (Docker's default used)"
            )
    resource_name(imp, path, raw, net.get("name"), bool(external), out, imp.net_names)
    return out


def _ipam(imp: Importer, path: str, value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "driver":
            out["driver"] = str(item)
        elif key == "options":
            if item:
                out["options"] = {str(k): scalar(v) for k, v in item.items()}
        elif key == "config":
            pools = []
            for index, pool in enumerate(item or []):
                entry: dict[str, Any] = {}
                for pkey, pval in (pool or {}).items():
                    if pkey in ("subnet", "gateway", "ip_range"):
                        entry[camel(pkey)] = str(pval)
                    elif pkey == "aux_addresses":
                        entry["auxAddresses"] = {str(k): str(v) for k, v in pval.items()}
                    else:
                        imp.unsupported(f"{path}.config[{index}].{pkey}", "no such option")
                if "subnet" not in entry:
                    imp.error(
                        f"{path}.config[{index}]",
                        "an address pool needs a subnet",
                        "write e.g. subnet: 172.28.0.0/16",
                    )
                    continue
                pools.append(entry)
            if pools:
                out["config"] = pools
        else:
            imp.unsupported(f"{path}.{key}", "no such ipam option")
    return out


def on_networks(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    attachments: list[dict[str, Any]] = []
    raw_names: list[str] = []
    for net, config in (value or {}).items():
        path = f"{ctx.path}.networks.{net}"
        if net not in imp.net_names:
            imp.error(
                path,
                f"service {ctx.raw!r} refers to undefined network {net!r}",
                f"declare it under the top-level networks: ({net}: {{}})",
            )
            continue
        att: dict[str, Any] = {"name": imp.net_names[net]}
        for key, item in (config or {}).items():
            if key == "aliases":
                att["aliases"] = [str(a) for a in item or []]
            elif key == "ipv4_address":
                att["ipv4Address"] = str(item)
            elif not hostconfig.attachment_options(imp, path, key, item, att):
                imp.unsupported(f"{path}.{key}", "no equivalent for this network option")
        attachments.append(att)
        raw_names.append(net)
    hostconfig.order_networks(attachments, raw_names)
    if attachments:
        ctx.out["networks"] = attachments


def on_network_mode(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    mode = str(value)
    if mode in ("host", "none", "bridge"):
        ctx.out["networkMode"] = mode
        if mode == "bridge":
            imp.note(
                f"{ctx.path}.network_mode",
                "bridge is Docker's default network: no name resolution between services",
            )
    elif mode.startswith(("service:", "container:")):
        imp.error(
            f"{ctx.path}.network_mode",
            f"{mode}: sharing another container's network namespace is not something "
            "dockyard does: it replaces each service's containers on their own, and the "
            "namespace would go with the other container",
            "attach both services to one network (they reach each other by name), "
            "or run both processes in one service",
        )
    else:
        imp.error(
            f"{ctx.path}.network_mode",
            f"{mode!r} is not a network mode dockyard knows",
            "use host, none or bridge, or attach the service to networks:",
        )
