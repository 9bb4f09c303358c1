"""A small model of a Docker engine that runs a Plan without Docker, checking every step.

`simulate(plan, observed)` applies the operations the way the executor would and
returns the engine's new state. It refuses what a real engine refuses (a second
container with a taken name, removing a network that still has containers, an
image that is not there) and what dockyard promises never to do (touch an
unlabelled container, remove a named volume unasked, remove a running container
without stopping it). Each refusal is a `SimError`, an AssertionError naming the
operation.

Operations run in plan order, or in a random order the dependencies allow (pass
`rng`), or with stops and removals as late as the dependencies allow
(`teardown_last`): the executor runs every ready operation at once, so a plan is
only right if it is right in every such order.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from dockyard.plan.operations import Kind, Operation, Plan
from dockyard.spec import naming
from dockyard.state.desired import ContainerConfig
from dockyard.state.observed import (
    ObservedContainer,
    ObservedNetwork,
    ObservedState,
    ObservedVolume,
    normalize_image_ref,
)

_IDS = itertools.count(1)

# Network modes Docker reports as the container's one network.
_MODES = ("bridge", "host", "none")


class SimError(AssertionError):
    """The engine (or dockyard's promises) would refuse this operation."""


@dataclass(frozen=True)
class SimState(ObservedState):
    # What the engine knows and the observed state leaves out: each container's
    # config, by engine id (published ports, mounts). Unknown ids have neither.
    configs: Mapping[str, ContainerConfig] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    state: SimState
    done: tuple[Operation, ...]
    failed: tuple[Operation, ...]
    skipped: tuple[Operation, ...]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


def new_id(prefix: str = "c") -> str:
    return f"sim-{prefix}{next(_IDS):06d}"


def simulate(
    plan: Plan,
    observed: ObservedState,
    *,
    health: str = "healthy",
    stop_exit_code: int = 0,
    remove_volumes: bool = False,
    rng: random.Random | None = None,
    teardown_last: bool = False,
) -> SimState:
    """The engine's state after running `plan` against `observed`."""
    return run(
        plan,
        observed,
        health=health,
        stop_exit_code=stop_exit_code,
        remove_volumes=remove_volumes,
        rng=rng,
        teardown_last=teardown_last,
    ).state


def run(
    plan: Plan,
    observed: ObservedState,
    *,
    health: str = "healthy",
    stop_exit_code: int = 0,
    remove_volumes: bool = False,
    rng: random.Random | None = None,
    teardown_last: bool = False,
) -> Outcome:
    """Like `simulate`, also saying which operations failed (as at apply) or were skipped.

    `health` is what a started container with a healthcheck reports at first
    ("healthy" or "starting"); a wait-healthy ends once it is healthy.
    """
    check_order(plan)
    engine = _Engine(observed, health, stop_exit_code, remove_volumes)
    done: list[Operation] = []
    failed: list[Operation] = []
    skipped: list[Operation] = []
    bad: set[str] = set()
    for op in _execution_order(plan, rng, teardown_last):
        if any(d in bad for d in op.deps):
            skipped.append(op)
            bad.add(op.id)
        elif engine.apply(op):
            done.append(op)
        else:
            failed.append(op)
            bad.add(op.id)
    return Outcome(engine.state(), tuple(done), tuple(failed), tuple(skipped))


def check_order(plan: Plan) -> None:
    """Every dependency names an operation listed earlier in the plan; ids are unique."""
    seen: set[str] = set()
    for op in plan.operations:
        if op.id in seen:
            raise SimError(f"{op.id}: listed twice")
        for dep in op.deps:
            if dep not in seen:
                raise SimError(f"{op.id}: depends on {dep}, which is not listed before it")
        seen.add(op.id)


_TEARDOWN = (Kind.STOP_CONTAINER, Kind.REMOVE_CONTAINER, Kind.REMOVE_NETWORK, Kind.REMOVE_VOLUME)


def _execution_order(plan: Plan, rng: random.Random | None, teardown_last: bool) -> list[Operation]:
    if rng is None and not teardown_last:
        return list(plan.operations)
    pending = list(plan.operations)
    finished: set[str] = set()
    order: list[Operation] = []
    while pending:
        ready = [op for op in pending if all(d in finished for d in op.deps)]
        if teardown_last:
            ready = [op for op in ready if op.kind not in _TEARDOWN] or ready
        op = rng.choice(ready) if rng else ready[0]
        pending.remove(op)
        finished.add(op.id)
        order.append(op)
    return order


def _healthchecked(config: ContainerConfig | None) -> bool:
    hc = config.healthcheck if config else None
    return hc is not None and hc.test != ("NONE",)


def _published(config: ContainerConfig | None) -> set[tuple[str, int, str]]:
    if config is None:
        return set()
    return {
        (p.host_ip or "0.0.0.0", p.published, p.protocol)
        for p in config.ports
        if p.published is not None
    }


class _Engine:
    def __init__(
        self, observed: ObservedState, health: str, stop_exit_code: int, remove_volumes: bool
    ) -> None:
        self.containers = {c.name: c for c in observed.containers}
        self.networks = {n.name: n for n in observed.networks}
        self.volumes = {v.name: v for v in observed.volumes}
        self.images = set(observed.images)
        self.configs = dict(observed.configs) if isinstance(observed, SimState) else {}
        self.health = health
        self.stop_exit_code = stop_exit_code
        self.remove_volumes = remove_volumes

    def state(self) -> SimState:
        return SimState(
            containers=tuple(self.containers.values()),
            networks=tuple(self.networks.values()),
            volumes=tuple(self.volumes.values()),
            images=frozenset(self.images),
            configs={
                c.id: self.configs[c.id] for c in self.containers.values() if c.id in self.configs
            },
        )

    # --- lookups -----------------------------------------------------------------------

    def _container(self, op: Operation, ref: str | None = None) -> ObservedContainer:
        ref = ref or op.ref or op.target
        for c in self.containers.values():
            if ref in (c.id, c.name):
                if not c.managed and c.composed_for(op.app):
                    return c  # Compose's container of the project: taken over
                if not c.managed:
                    raise SimError(f"{op.id}: {c.name} has no dockyard labels; never touch it")
                if c.app != op.app:
                    raise SimError(f"{op.id}: {c.name} belongs to app {c.app}, not {op.app}")
                return c
        raise SimError(f"{op.id}: no container {ref}")

    def _has_image(self, ref: str) -> bool:
        return normalize_image_ref(ref) in self.images or ref in self.images

    def _attached(self, network: str) -> list[str]:
        return sorted(c.name for c in self.containers.values() if network in c.networks)

    def _mounting(self, volume: str) -> list[str]:
        return sorted(
            c.name
            for c in self.containers.values()
            if any(
                m.kind == "volume" and m.source == volume
                for m in (self.configs[c.id].mounts if c.id in self.configs else ())
            )
        )

    # --- operations --------------------------------------------------------------------

    def apply(self, op: Operation) -> bool:
        """Run one operation: True when it succeeded, False when it failed as at apply."""
        handler = getattr(self, "_" + op.kind.value.replace("-", "_"))
        result: bool | None = handler(op)
        return result is not False

    def _create_network(self, op: Operation) -> None:
        net = op.network
        if net is None or net.external:
            raise SimError(f"{op.id}: needs a non-external network")
        if net.name in self.networks:
            raise SimError(f"{op.id}: network {net.name} already exists")
        labels = dict(net.labels)
        labels.update(naming.owner_labels(net.app))
        labels[naming.CONFIG_HASH] = net.config_hash
        self.networks[net.name] = ObservedNetwork(id=new_id("n"), name=net.name, labels=labels)

    def _remove_network(self, op: Operation) -> None:
        ref = op.ref or op.target
        net = next((n for n in self.networks.values() if ref in (n.id, n.name)), None)
        if net is None:
            raise SimError(f"{op.id}: no network {ref}")
        if not net.owned_by(op.app):
            raise SimError(f"{op.id}: network {net.name} is not the app's to remove")
        attached = self._attached(net.name)
        if attached:
            raise SimError(f"{op.id}: network {net.name} still has containers: {attached}")
        del self.networks[net.name]

    def _create_volume(self, op: Operation) -> None:
        vol = op.volume
        if vol is None or vol.external:
            raise SimError(f"{op.id}: needs a non-external volume")
        if vol.name in self.volumes:
            raise SimError(f"{op.id}: volume {vol.name} already exists")
        labels = dict(vol.labels)
        labels.update(naming.owner_labels(vol.app))
        self.volumes[vol.name] = ObservedVolume(name=vol.name, labels=labels)

    def _remove_volume(self, op: Operation) -> None:
        if not self.remove_volumes:
            raise SimError(f"{op.id}: removes a named volume though nobody asked for that")
        name = op.ref or op.target
        vol = self.volumes.get(name)
        if vol is None:
            raise SimError(f"{op.id}: no volume {name}")
        if not vol.owned_by(op.app):
            raise SimError(f"{op.id}: volume {name} is not the app's to remove")
        users = self._mounting(name)
        if users:
            raise SimError(f"{op.id}: volume {name} is in use by {users}")
        del self.volumes[name]

    def _pull_image(self, op: Operation) -> None:
        self.images.add(normalize_image_ref(op.image or op.target))

    def _build_image(self, op: Operation) -> None:
        if op.build is None:
            raise SimError(f"{op.id}: needs a build")
        self.images.add(normalize_image_ref(op.build.tag))
        if op.build.also_tag:
            self.images.add(normalize_image_ref(op.build.also_tag))

    def _missing_image(self, op: Operation) -> bool:
        return False  # the executor fails it: pullPolicy Never and no image

    def _create_container(self, op: Operation) -> None:
        d = op.container
        if d is None:
            raise SimError(f"{op.id}: needs a desired container")
        if d.name in self.containers:
            raise SimError(f"{op.id}: a container named {d.name} already exists")
        if not self._has_image(d.config.image):
            raise SimError(f"{op.id}: no image {d.config.image} on the engine")
        for m in d.config.mounts:
            if m.kind == "volume" and m.source not in self.volumes:
                # Docker would make an unlabelled volume that dockyard could never own.
                raise SimError(f"{op.id}: volume {m.source} does not exist")
        if d.config.network_mode is not None:
            if d.config.network_mode not in _MODES:
                raise SimError(f"{op.id}: unknown network mode {d.config.network_mode}")
            networks: tuple[str, ...] = (d.config.network_mode,)
        elif d.config.networks:
            first = d.config.networks[0].name
            if first not in self.networks:
                raise SimError(f"{op.id}: network {first} does not exist")
            networks = (first,)
        else:
            networks = ()
        cid = new_id()
        self.containers[d.name] = ObservedContainer(
            id=cid,
            name=d.name,
            state="created",
            labels=d.labels,
            image=d.config.image,
            networks=networks,
        )
        self.configs[cid] = d.config

    def _connect_network(self, op: Operation) -> None:
        c = self._container(op)
        network = op.image or ""
        if network not in self.networks:
            raise SimError(f"{op.id}: network {network} does not exist")
        if network in c.networks:
            raise SimError(f"{op.id}: {c.name} is already connected to {network}")
        self.containers[c.name] = replace(c, networks=tuple(sorted((*c.networks, network))))

    def _start_container(self, op: Operation) -> None:
        c = self._container(op)
        if c.state not in ("created", "exited"):
            raise SimError(f"{op.id}: cannot start {c.name} in state {c.state}")
        for net in c.networks:
            if net not in _MODES and net not in self.networks:
                raise SimError(f"{op.id}: {c.name} is on network {net}, which is gone")
        config = self.configs.get(c.id)
        ports = _published(config)
        for other in self.containers.values():
            if other.name == c.name or not other.running:
                continue
            clash = ports & _published(self.configs.get(other.id))
            if clash:
                raise SimError(
                    f"{op.id}: host port {sorted(clash)} is still published by {other.name}"
                )
        self.containers[c.name] = replace(
            c,
            state="running",
            exit_code=None,
            health=self.health if _healthchecked(config) else None,
        )

    def _stop_container(self, op: Operation) -> None:
        c = self._container(op)
        if c.running:
            self.containers[c.name] = replace(
                c, state="exited", exit_code=self.stop_exit_code, health=None
            )

    def _remove_container(self, op: Operation) -> None:
        c = self._container(op)
        if c.running:
            raise SimError(f"{op.id}: removes {c.name} while it runs, without stopping it first")
        del self.containers[c.name]
        self.configs.pop(c.id, None)

    def _wait_healthy(self, op: Operation) -> bool:
        c = self._container(op)
        if c.state != "running" or c.health is None or c.health == "unhealthy":
            return False
        self.containers[c.name] = replace(c, health="healthy")
        return True

    def _wait_completed(self, op: Operation) -> bool:
        c = self._container(op)
        if c.running:
            # The wait ends when the run ends; the model's runs all succeed.
            self.containers[c.name] = replace(c, state="exited", exit_code=0, health=None)
            return True
        return c.state == "exited" and c.exit_code == 0

    def _rename_container(self, op: Operation) -> None:
        c = self._container(op)
        new = op.rename_to or ""
        if not new or new in self.containers:
            raise SimError(f"{op.id}: cannot rename {c.name} to {new!r}: the name is taken")
        del self.containers[c.name]
        self.containers[new] = replace(c, name=new)

    def _monitor_container(self, op: Operation) -> bool:
        c = self._container(op)
        if c.state != "running" or c.health == "unhealthy":
            return False
        if c.health is not None:
            self.containers[c.name] = replace(c, health="healthy")
        return True


def with_containers(state: ObservedState, *containers: ObservedContainer) -> SimState:
    """`state` plus the given containers (replacing ones of the same name)."""
    configs = dict(state.configs) if isinstance(state, SimState) else {}
    names = {c.name for c in containers}
    kept = tuple(c for c in state.containers if c.name not in names)
    return SimState(
        containers=kept + containers,
        networks=state.networks,
        volumes=state.volumes,
        images=state.images,
        configs={k: v for k, v in configs.items() if k in {c.id for c in kept + containers}},
    )


def configs_of(state: ObservedState) -> Mapping[str, ContainerConfig]:
    return state.configs if isinstance(state, SimState) else {}
