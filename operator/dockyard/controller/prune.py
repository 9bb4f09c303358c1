"""Pruning: an app this controller owns that its source no longer has is removed from
every host, but never on a read that means nothing (its source not read yet, or broken)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dockyard.plan.planner import plan_delete

from . import execute
from .hosts import Host

log = logging.getLogger("dockyard.controller")


async def remove_everywhere(
    name: str, hosts: Sequence[Host], concurrency: int, volumes: bool = False
) -> bool:
    """Remove the app's containers and networks (its named volumes only with `volumes`)
    from every host that answers; True when every host is clean (a dark declared host is
    not)."""
    complete = True
    for host in hosts:
        if host.dark:
            complete = complete and not host.declared
            continue
        plan = plan_delete(name, host.cache.state, volumes=volumes)
        if not plan.operations:
            continue
        log.info(
            "app %s was removed from its source: removing its containers on %s", name, host.name
        )
        result = await execute.delete(host, name, plan, concurrency=concurrency)
        await host.cache.relist()
        complete = complete and result.ok
    return complete
