"""Waves across hosts: a rolling change with `update.hosts` reaches its canaries first,
then `parallelism` hosts at a time, and halts when too many hosts failed. Grouping and the
halting rule are pure; `converge_waves` drives them with a function per host."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from dockyard.apply.rollout import RolloutOutcome
from dockyard.plan.desired import DesiredApp
from dockyard.spec.models import HostWaves

from .planning import HostPlan
from .status import AppStatus

log = logging.getLogger("dockyard.controller")


def group(
    todo: Sequence[str], rolling: Sequence[str], canary: Sequence[str], parallelism: int
) -> list[list[str]]:
    """Hosts in the order they converge: canaries, then the rest by name `parallelism` at
    a time (0: all at once). Hosts not rolling go with the first wave."""
    rolled = [h for h in todo if h in rolling]
    others = [h for h in todo if h not in rolling]
    first = [h for name in canary for h in rolled if h == name]
    rest = sorted(h for h in rolled if h not in first)
    size = parallelism or len(rest) or 1
    groups = [first] if first else []
    groups += [rest[i : i + size] for i in range(0, len(rest), size)]
    if not groups:
        groups = [[]]
    groups[0] = [*others, *groups[0]]
    return groups


def failed_host(outcome: RolloutOutcome) -> bool:
    """A rolling host counts as failed when its rollout stopped or did not apply."""
    return bool(outcome.failed or outcome.action or not outcome.applied)


def halt_message(
    failed: Sequence[str], rolling: int, max_failure_ratio: float, left: Sequence[str]
) -> str | None:
    """Why the wave halts now (None: it goes on): more than `max_failure_ratio` of the
    rolling hosts failed. `failed` says `host: why` per failed host; `left` the hosts
    not reached yet."""
    if not failed or len(failed) / rolling <= max_failure_ratio:
        return None
    return (
        f"rollout wave halted after {len(failed)} of {rolling} host(s) failed "
        f"({'; '.join(failed)})" + (f"; {', '.join(left)} keep(s) the old revision" if left else "")
    )


async def converge_waves(
    app: str,
    todo: Sequence[str],
    rolling: Sequence[str],
    waves: HostWaves | None,
    converge: Callable[[str], Awaitable[RolloutOutcome]],
    on_wave: Callable[[str], None],
) -> list[RolloutOutcome]:
    """Converge the hosts in `todo` (outcomes in that order): all at once, or in waves when
    `waves` is set and at least two hosts roll. `on_wave` hears "wave i/n: hosts"."""
    if waves is None or len(rolling) < 2:
        return list(await asyncio.gather(*(converge(h) for h in todo)))
    outcomes: dict[str, RolloutOutcome] = {}
    groups = group(todo, rolling, waves.canary, waves.parallelism)
    failed: list[str] = []
    for number, hosts in enumerate(groups):
        on_wave(f"wave {number + 1}/{len(groups)}: {', '.join(h for h in hosts if h in rolling)}")
        done = await asyncio.gather(*(converge(h) for h in hosts))
        for host, outcome in zip(hosts, done, strict=True):
            outcomes[host] = outcome
            if host in rolling and failed_host(outcome):
                failed.append(f"{host}: {outcome.message() or 'not applied'}")
        left = [h for g in groups[number + 1 :] for h in g]
        message = halt_message(failed, len(rolling), waves.max_failure_ratio, left)
        if message is not None:
            log.warning("app %s: %s", app, message)
            for host in left:
                outcomes[host] = RolloutOutcome(action="halt", halted=message)
            for outcome in outcomes.values():
                outcome.halted = message
            break
    return [outcomes[h] for h in todo]


async def run_plans(
    status: AppStatus,
    app: DesiredApp,
    todo: Sequence[HostPlan],
    revision: int | None,
    converge: Callable[[HostPlan], Awaitable[RolloutOutcome]],
    notify: Callable[[str], None],
) -> list[RolloutOutcome]:
    """Run the plans that have work (outcomes in their order), in waves when a rolling
    change asks for them; Progressing says how far it got (`notify` hears each change)."""
    by_host = {p.host.name: p for p in todo}
    total = sum(p.plan.size for p in todo)
    rolling = [h for h, p in by_host.items() if p.plan.rollout is not None]
    reason = "RollingUpdate" if rolling else "Applying"
    status.set_condition("Progressing", "True", reason, f"{total} operation(s)")
    if revision is not None:
        status.rollout = {"revision": revision, "phase": "rolling-out"}
    notify(app.name)

    def on_wave(message: str) -> None:
        status.set_condition("Progressing", "True", "RollingUpdate", message)
        notify(app.name)

    host_waves = next((u.hosts for u in app.updates.values() if u.hosts), None)
    return await converge_waves(
        app.name, list(by_host), rolling, host_waves, lambda h: converge(by_host[h]), on_wave
    )
