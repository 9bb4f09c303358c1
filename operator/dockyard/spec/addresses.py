"""Static addresses checked before any Docker call: an `ipv4Address` needs a network whose
`ipam` declares a subnet that holds it (else the engine refuses to start the container)."""

from __future__ import annotations

import ipaddress

from .errors import FieldError
from .models import App, AppNetwork

DEFAULT_NETWORK = "default"


def check_addresses(app: App) -> list[FieldError]:
    errors: list[FieldError] = []
    nets = {n.name: n for n in app.spec.networks}
    for net in app.spec.networks:
        _check_pools(net, errors)
    for svc in app.spec.services:
        for att in svc.networks:
            base = f"spec.services[{svc.name}].networks[{att.name}]"
            for field, value, version in (
                ("ipv4Address", att.ipv4_address, 4),
                ("ipv6Address", att.ipv6_address, 6),
            ):
                if value is not None:
                    _check_address(f"{base}.{field}", value, version, nets.get(att.name), errors)
    return errors


def _check_pools(net: AppNetwork, errors: list[FieldError]) -> None:
    for index, pool in enumerate(net.ipam.config if net.ipam else []):
        path = f"spec.networks[{net.name}].ipam.config[{index}]"
        try:
            subnet = ipaddress.ip_network(pool.subnet, strict=False)
        except ValueError:
            errors.append(
                FieldError(
                    f"{path}.subnet", f"{pool.subnet!r} is not a subnet", "e.g. 172.28.0.0/16"
                )
            )
            continue
        for field, value in (("gateway", pool.gateway), ("ipRange", pool.ip_range)):
            if value is None:
                continue
            try:
                inside = (
                    ipaddress.ip_network(value, strict=False).subnet_of(subnet)  # type: ignore[arg-type]
                    if "/" in value
                    else ipaddress.ip_address(value) in subnet
                )
            except (ValueError, TypeError):
                inside = False
            if not inside:
                errors.append(
                    FieldError(f"{path}.{field}", f"{value!r} is not inside subnet {pool.subnet}")
                )


def _check_address(
    path: str, value: str, version: int, net: AppNetwork | None, errors: list[FieldError]
) -> None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        errors.append(FieldError(path, f"{value!r} is not an IP address"))
        return
    if address.version != version:
        errors.append(FieldError(path, f"{value} is not an IPv{version} address"))
        return
    if net is None and path.split("networks[", 1)[1].startswith(f"{DEFAULT_NETWORK}]"):
        errors.append(
            FieldError(
                path,
                "the default network has no subnet of yours, so a static address cannot be "
                "given on it",
                f"declare it: spec.networks: [{{name: {DEFAULT_NETWORK}, ipam: {{config: "
                f"[{{subnet: {_around(address)}}}]}}}}]",
            )
        )
    if net is None or net.external:
        return  # undeclared: reported as such; an external one's subnets are its owner's
    subnets = []
    for pool in net.ipam.config if net.ipam else []:
        try:
            subnets.append(ipaddress.ip_network(pool.subnet, strict=False))
        except ValueError:
            continue
    if not any(address in s for s in subnets):
        declared = ", ".join(str(s) for s in subnets) or "none"
        errors.append(
            FieldError(
                path,
                f"a static address needs a subnet of network {net.name} that holds it "
                f"(subnets declared: {declared}); without one the engine refuses to start "
                "the container",
                f"declare it: spec.networks: [{{name: {net.name}, ipam: {{config: "
                f"[{{subnet: {_around(address)}}}]}}}}]",
            )
        )


def _around(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
