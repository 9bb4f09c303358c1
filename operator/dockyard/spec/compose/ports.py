"""A service's ports (short and long syntax, ranges) and expose."""

from __future__ import annotations

import re
from typing import Any

from ..models import EXPOSE_PATTERN
from .context import Importer, ServiceCtx
from .values import (
    port_range,
)


def on_ports(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    ports: list[dict[str, Any]] = ctx.out.setdefault("ports", [])
    for index, item in enumerate(value or []):
        path = f"{ctx.path}.ports[{index}]"
        try:
            ports.extend(_port(imp, path, item))
        except ValueError as exc:
            imp.error(path, str(exc), "write e.g. '8080:80', '127.0.0.1:8080:80/udp'")
    if not ports:
        del ctx.out["ports"]


def _port(imp: Importer, path: str, item: Any) -> list[dict[str, Any]]:
    if isinstance(item, bool):
        raise ValueError(f"invalid port {item!r}")
    if isinstance(item, int):
        return [{"target": item}]
    if isinstance(item, str):
        return _short_port(imp, path, item)
    if isinstance(item, dict):
        return _long_port(imp, path, item)
    raise ValueError(f"invalid port {item!r}")


def _short_port(imp: Importer, path: str, text: str) -> list[dict[str, Any]]:
    spec = text.strip()
    protocol = "tcp"
    if "/" in spec:
        spec, protocol = spec.rsplit("/", 1)
    host_ip: str | None = None
    if spec.startswith("["):
        end = spec.find("]")
        if end < 0 or spec[end + 1 : end + 2] != ":":
            raise ValueError(f"invalid port {text!r}")
        host_ip, spec = spec[1:end], spec[end + 2 :]
        parts = spec.split(":")
        if len(parts) == 1:
            parts = ["", parts[0]]
    else:
        parts = spec.split(":")
        if len(parts) == 3:
            host_ip, parts = parts[0] or None, parts[1:]
        elif len(parts) > 3:
            raise ValueError(f"invalid port {text!r} (write IPv6 host addresses in [])")
    if len(parts) == 1:
        published_raw, target_raw = "", parts[0]
    else:
        published_raw, target_raw = parts
    targets = port_range(target_raw, text)
    published = port_range(published_raw, text) if published_raw else []
    return _port_pairs(imp, path, targets, published, host_ip, protocol, text)


def _port_pairs(
    imp: Importer,
    path: str,
    targets: list[int],
    published: list[int],
    host_ip: str | None,
    protocol: str,
    text: str,
) -> list[dict[str, Any]]:
    if protocol not in ("tcp", "udp", "sctp"):
        raise ValueError(f"unknown protocol {protocol!r} in {text!r}")
    if published and len(published) != len(targets):
        if len(targets) == 1:
            imp.unsupported(
                path,
                f"a host port range for one container port ({text}); dockyard publishes "
                f"the first, {published[0]}",
            )
            published = published[:1]
        else:
            raise ValueError(f"port ranges of different sizes in {text!r}")
    result: list[dict[str, Any]] = []
    for i, target in enumerate(targets):
        port: dict[str, Any] = {"target": target}
        if published:
            port["published"] = published[i]
        if host_ip:
            port["hostIP"] = host_ip
        if protocol != "tcp":
            port["protocol"] = protocol
        result.append(port)
    return result


def _long_port(imp: Importer, path: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    if "target" not in item:
        raise ValueError("a port needs target:")
    targets = port_range(str(item["target"]), str(item))
    pub = item.get("published")
    published = port_range(str(pub), str(item)) if pub not in (None, "") else []
    for key in item:
        if key in ("target", "published", "host_ip", "protocol"):
            continue
        if key == "mode":
            if item[key] != "host":
                imp.note(
                    f"{path}.mode",
                    "ingress is Swarm's routing mesh; dockyard publishes on the host",
                )
        else:
            imp.unsupported(f"{path}.{key}", "port metadata dockyard does not keep")
    return _port_pairs(
        imp,
        path,
        targets,
        published,
        str(item["host_ip"]) if item.get("host_ip") else None,
        str(item.get("protocol") or "tcp"),
        str(item),
    )


def on_expose(imp: Importer, ctx: ServiceCtx, value: Any) -> None:
    # As Compose: the ports are exposed on the container (docker ps lists them), not published.
    items: list[str] = []
    for index, item in enumerate(value or []):
        text = str(item)
        if not re.match(EXPOSE_PATTERN, text):
            imp.error(
                f"{ctx.path}.expose[{index}]",
                f"{text!r} is not a port",
                "write 80 or 8000-8010/udp",
            )
            continue
        items.append(text)
    if items:
        ctx.out["expose"] = list(dict.fromkeys(items))
