"""Networks on one engine: create (with IPAM and dockyard's labels) and remove."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.spec import naming
from dockyard.state.desired import DesiredNetwork

if TYPE_CHECKING:
    from .client import Engine


def create_network(engine: Engine, net: DesiredNetwork) -> None:
    labels = dict(net.labels)
    labels.update(naming.owner_labels(net.app, net.project))
    labels[naming.CONFIG_HASH] = net.config_hash
    engine._call(
        f"create network {net.name}",
        lambda: engine.api.create_network(
            net.name,
            driver=net.driver,
            options=dict(net.driver_opts) or None,
            ipam=ipam_body(net),
            internal=net.internal,
            labels=labels,
            enable_ipv6=net.enable_ipv6,
            check_duplicate=True,
        ),
    )


def remove_network(engine: Engine, ref: str) -> None:
    engine._call(f"remove network {ref}", lambda: engine.api.remove_network(ref), gone_ok=True)


def ipam_body(net: DesiredNetwork) -> dict[str, Any] | None:
    if net.ipam is None:
        return None
    pools = []
    for p in net.ipam.pools:
        pool: dict[str, Any] = {"Subnet": p.subnet}
        if p.gateway:
            pool["Gateway"] = p.gateway
        if p.ip_range:
            pool["IPRange"] = p.ip_range
        if p.aux_addresses:
            pool["AuxiliaryAddresses"] = dict(p.aux_addresses)
        pools.append(pool)
    return {
        "Driver": net.ipam.driver or "default",
        "Config": pools,
        "Options": dict(net.ipam.options),
    }
