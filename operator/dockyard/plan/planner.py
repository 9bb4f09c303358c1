"""The planner: (desired, observed) -> Plan. Pure: no I/O, no clock, no randomness."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

from dockyard.spec import naming
from dockyard.state.desired import DesiredContainer
from dockyard.state.observed import (
    ObservedContainer,
    ObservedNetwork,
    ObservedState,
    ObservedVolume,
)

from .builder import Builder, create_container, stop_op, topological
from .changes import config_changes, describe
from .desired import DesiredApp
from .images import image_moved
from .operations import Kind, Operation, Plan

_KEEPS_RUNNING = ("always", "unless-stopped")


def plan_app(
    desired: DesiredApp,
    observed: ObservedState,
    replace: Mapping[str, str] | None = None,
    restart: Mapping[str, str] | None = None,
    hold: Collection[str] = (),
    inputs_applied: Mapping[str, Mapping[str, str]] | None = None,
) -> Plan:
    """Operations that make the engine hold exactly what `desired` wants for its app.

    `replace` names containers (with a cause) whose real config was found to differ
    from their labels (changed out of band); `restart` names running containers the
    controller decided to restart (unhealthy, past their backoff); `hold` names
    containers to leave exactly as they are for now (a rollout replaces them batch by
    batch, or keeps an old one running beside its successor).
    """
    replace = replace or {}
    restart = restart or {}
    b = Builder(desired.name)
    app, project = desired.name, desired.engine_project
    by_name = {c.name: c for c in observed.containers}
    app_containers = [c for c in observed.app_containers(app) if c.name not in hold]

    # Networks: create what is missing; recreate one whose settings changed.
    net_ops: dict[str, str | None] = {}
    recreated_nets: set[str] = set()
    for net in desired.networks:
        obs = observed.network_named(net.name)
        if net.external:
            if obs is None:
                b.errors.append(
                    f"external network {net.name} does not exist: create it "
                    f"(docker network create {net.name}) or drop external: true"
                )
            net_ops[net.name] = None
            continue
        if obs is None:
            net_ops[net.name] = b.add(
                Kind.CREATE_NETWORK, net.name, "network does not exist", network=net
            )
        elif not obs.owned_by(app, project):
            b.errors.append(_conflict_with("network", net.name, obs, project))
            net_ops[net.name] = None
        elif obs.managed and obs.config_hash != net.config_hash:
            recreated_nets.add(net.name)
            net_ops[net.name] = None  # filled in after containers are removed
        else:
            # One adopted from Compose carries no settings hash of dockyard's: it is used as
            # it is (recreating it would take every container of the stack off it at once).
            net_ops[net.name] = None

    # Volumes: create what is missing; never remove or recreate one here.
    vol_ops: dict[str, str | None] = {}
    for vol in desired.volumes:
        obs_vol = observed.volume_named(vol.name)
        if vol.external:
            if obs_vol is None:
                b.errors.append(
                    f"external volume {vol.name} does not exist: create it "
                    f"(docker volume create {vol.name}) or drop external: true"
                )
            vol_ops[vol.name] = None
        elif obs_vol is None:
            vol_ops[vol.name] = b.add(
                Kind.CREATE_VOLUME, vol.name, "volume does not exist", volume=vol
            )
        elif not obs_vol.owned_by(app, project):
            b.errors.append(_conflict_with("volume", vol.name, obs_vol, project))
            vol_ops[vol.name] = None
        else:
            vol_ops[vol.name] = None

    # Containers: decide what each desired one needs.
    wanted = {d.name for d in desired.containers}
    actions: dict[str, tuple[str, str, ObservedContainer | None]] = {}
    for d in desired.containers:
        if d.name in hold:
            continue
        obs_c = by_name.get(d.name)
        decided = _container_action(d, obs_c, recreated_nets, b, observed, project)
        if decided is None and obs_c is not None and obs_c.app == d.app:
            if d.name in replace:
                decided = ("replace", replace[d.name])
            elif d.name in restart and obs_c.running:
                decided = ("restart", restart[d.name])
        if decided is None and obs_c is not None and obs_c.running and inputs_applied:
            seen = inputs_applied.get(d.name)
            if seen is not None:
                _deliver_inputs(b, d, obs_c, seen)
        if decided is not None:
            actions[d.name] = (decided[0], decided[1], obs_c)

    # Containers the app owns but no longer wants go first, freeing names and ports; so do
    # Compose's containers of the project for services the app does not have.
    removed_by_net: dict[str, list[str]] = {}
    composed = [c for c in observed.compose_containers(project) if c.name not in hold]
    for c in [*app_containers, *composed]:
        if c.name in wanted:
            continue
        stop = stop_op(b, c, "no longer wanted by the app") if c.running else None
        rm = b.add(
            Kind.REMOVE_CONTAINER,
            c.name,
            _unwanted_cause(project, c, wanted),
            [stop],
            ref=c.id,
            service=c.service,
        )
        for net_name in c.networks:
            removed_by_net.setdefault(net_name, []).append(rm)

    # Images needed by containers to be created, per container: services sharing an image
    # may differ in pullPolicy. One with Never may use what another service pulls.
    creating = [
        d for d in desired.containers if d.name in actions and actions[d.name][0] != "start"
    ]
    image_ops: dict[str, str | None] = {}
    providers: dict[str, str] = {}
    for d in creating:
        if d.pull_policy != "Never" or d.build is not None:
            image_ops[d.name] = op = _image_op(b, d, observed)
            if op:
                providers.setdefault(d.config.image, op)
    for d in creating:
        if d.name not in image_ops:
            image_ops[d.name] = providers.get(d.config.image) or _image_op(b, d, observed)

    order = _service_order(desired)
    start_ops: dict[str, str] = {}
    replaced_removals: dict[str, str] = {}
    # Compose's containers are taken over one at a time, each once the one before is up
    # (healthy, when it has a healthcheck): one service at a time is ever down.
    takeover_gate: str | None = None
    for service in order:
        for d in (c for c in desired.containers if c.service == service):
            if d.name not in actions:
                continue
            action, cause, obs_c = actions[d.name]
            image_dep = image_ops.get(d.name)
            remove_dep: str | None = None
            taking_over = action == "replace" and obs_c is not None and not obs_c.managed
            gate = takeover_gate if taking_over else None
            if action == "replace" and obs_c is not None:
                stop = stop_op(b, obs_c, cause, [image_dep, gate]) if obs_c.running else None
                remove_dep = b.add(
                    Kind.REMOVE_CONTAINER,
                    d.name,
                    cause,
                    [stop, image_dep, gate],
                    ref=obs_c.id,
                    service=d.service,
                )
                replaced_removals[d.name] = remove_dep
                for net_name in obs_c.networks:
                    removed_by_net.setdefault(net_name, []).append(remove_dep)
            if action == "restart" and obs_c is not None:
                b.add(
                    Kind.RESTART_CONTAINER,
                    d.name,
                    cause,
                    ref=obs_c.id,
                    service=d.service,
                    timeout=d.config.stop_grace_period,
                )
                continue
            if action in ("create", "replace"):
                create_cause = "no existing container" if action == "create" else cause
                create_cause += _adopting(d, observed, project)
                nets = d.config.networks
                first_net = net_ops.get(nets[0].name) if nets else None
                vol_deps = [
                    vol_ops.get(m.source or "") for m in d.config.mounts if m.kind == "volume"
                ]
                deps = [image_dep, remove_dep, first_net, *vol_deps]
                made = create_container(b, d, create_cause, deps, net_ops)
                start_deps: list[str | None] = list(made)
                start_cause = "new container"
            else:
                start_deps = []
                start_cause = cause
            waits = gates(b, desired, d.service, observed, start_ops)
            start_ops[d.name] = b.add(
                Kind.START_CONTAINER,
                d.name,
                start_cause,
                [*start_deps, *waits],
                ref=d.name,
                service=d.service,
                container=d,
            )
            if taking_over:
                takeover_gate = start_ops[d.name]
                if d.config.healthcheck is not None and d.config.healthcheck.test:
                    takeover_gate = b.add(
                        Kind.WAIT_HEALTHY,
                        d.name,
                        "Compose's containers are taken over one at a time, each once "
                        "the one before is healthy",
                        [start_ops[d.name]],
                        ref=d.name,
                        service=d.service,
                        timeout=health_timeout(d),
                    )

    # Networks the app no longer wants, or that must be recreated.
    wanted_nets = {n.name for n in desired.networks}
    for obs_net in observed.networks:
        if not obs_net.owned_by(app, project):
            continue
        if obs_net.name not in wanted_nets:
            b.add(
                Kind.REMOVE_NETWORK,
                obs_net.name,
                "network no longer wanted by the app",
                removed_by_net.get(obs_net.name, []),
                ref=obs_net.id,
            )
        elif obs_net.name in recreated_nets:
            desired_net = next(n for n in desired.networks if n.name == obs_net.name)
            rm = b.add(
                Kind.REMOVE_NETWORK,
                obs_net.name,
                "network settings changed",
                removed_by_net.get(obs_net.name, []),
                ref=obs_net.id,
            )
            create_net = b.add(
                Kind.CREATE_NETWORK,
                obs_net.name,
                "network settings changed",
                [rm],
                network=desired_net,
            )
            _rewire(b, obs_net.name, create_net)
    _free_ports_first(b)
    return b.plan()


def _deliver_inputs(
    b: Builder, d: DesiredContainer, obs: ObservedContainer, seen: Mapping[str, str]
) -> None:
    """Restart or signal a running container whose restart/signal input changed."""
    changed = [(i, action) for i, h, action in d.live_inputs if seen.get(i) != h]
    restarts = [i for i, action in changed if action == "restart"]
    if restarts:
        b.add(
            Kind.RESTART_CONTAINER,
            d.name,
            f"{_input_names(restarts)} changed (onChange: restart)",
            ref=obs.id,
            service=d.service,
            container=d,
            timeout=d.config.stop_grace_period,
        )
        return
    for sig in dict.fromkeys(a.split(":", 1)[1] for _, a in changed if a.startswith("signal:")):
        ids = [i for i, a in changed if a == f"signal:{sig}"]
        b.add(
            Kind.SIGNAL_CONTAINER,
            f"{d.name} {sig}",
            f"{_input_names(ids)} changed (onChange: signal:{sig})",
            ref=obs.id,
            service=d.service,
            container=d,
            signal=sig,
        )


def _input_names(ids: list[str]) -> str:
    out = []
    for i in ids:
        kind, _, name = i.partition(":")
        out.append(f"secret {name}" if kind == "secret" else f"file {name}")
    return ", ".join(out)


def changed_containers(desired: DesiredApp, observed: ObservedState) -> dict[str, str]:
    """Containers that exist, are healthy enough to keep, and must be replaced because
    what they run changed: name -> cause. What a rollout replaces batch by batch (a
    missing, dead or renamed container is repaired at once instead)."""
    scratch = Builder(desired.name)
    changed: dict[str, str] = {}
    for d in desired.containers:
        obs = observed.container_named(d.name)
        if obs is None or obs.state == "dead":
            continue
        decided = _container_action(d, obs, set(), scratch, observed, desired.engine_project)
        if decided is not None and decided[0] == "replace":
            changed[d.name] = decided[1]
    return changed


def _free_ports_first(b: Builder) -> None:
    # A host port is free only once the container holding it has stopped, and the observed
    # state does not say which ports an old container holds: a start that publishes ports
    # waits for every stop in the plan (a renamed service keeping its port, ports swapped).
    # A stop that itself waits for this start (a take-over, one container at a time) is
    # not waited for: its container's ports differ, or the two could not have run together.
    stops = [op for op in b.ops.values() if op.kind is Kind.STOP_CONTAINER]
    waiting: dict[str, list[str]] = {}
    for o in b.ops.values():
        for dep in o.deps:
            waiting.setdefault(dep, []).append(o.id)
    changed = False
    for op_id, op in list(b.ops.items()):
        if op.kind is not Kind.START_CONTAINER or op.container is None:
            continue
        if not any(p.published is not None for p in op.container.config.ports):
            continue
        after = _dependents(waiting, op_id)
        extra = tuple(
            s.id
            for s in stops
            if s.target != op.target and s.id not in op.deps and s.id not in after
        )
        if extra:
            b.ops[op_id] = replace(op, deps=(*op.deps, *extra))
            changed = True
    if changed:
        b.ops = topological(b.ops)


def _dependents(waiting: Mapping[str, list[str]], op_id: str) -> set[str]:
    """Every operation that waits, directly or not, for `op_id` (`waiting`: dep -> ops)."""
    found: set[str] = set()
    todo = [op_id]
    while todo:
        for o in waiting.get(todo.pop(), ()):
            if o not in found:
                found.add(o)
                todo.append(o)
    return found


def _container_action(
    d: DesiredContainer,
    obs: ObservedContainer | None,
    recreated_nets: set[str],
    b: Builder,
    observed: ObservedState | None = None,
    project: str | None = None,
) -> tuple[str, str] | None:
    project = project or d.app
    if obs is None:
        return ("create", "no existing container")
    if not obs.managed:
        if obs.composed_for(project) and obs.compose_service == d.service:
            # Labels are immutable: a Compose container cannot become dockyard's, so it is
            # replaced by dockyard's own (same name, same volumes), even when identical.
            return (
                "replace",
                f"take over Compose's container (project {project}, service {d.service})",
            )
        conflict = _compose_conflict(d, obs, project)
        b.errors.append(conflict or _conflict("container", d.name, False, None))
        return None
    if obs.app != d.app or obs.service != d.service:
        b.errors.append(_conflict("container", d.name, True, obs.app))
        return None
    if obs.config_hash != d.config_hash:
        changes = config_changes(obs.labels.get(naming.CONFIG), d.config.summary())
        if changes:
            return ("replace", f"config changed: {describe(changes)}")
        return ("replace", f"config changed ({obs.config_hash} -> {d.config_hash})")
    for net in d.config.networks:
        if net.name in recreated_nets:
            return ("replace", f"network {net.name} is recreated")
    if obs.state == "dead":
        return ("replace", "container is dead")
    if obs.state == "removing":
        # The engine still holds the name; its destroy event triggers the next plan.
        return None
    moved = image_moved(d, obs, observed) if observed is not None else None
    if moved is not None:
        return ("replace", moved)
    if obs.state == "created":
        return ("start", "container was created but not started")
    if obs.state == "exited" and d.config.restart in _KEEPS_RUNNING:
        return (
            "start",
            f"container is stopped (exit code {obs.exit_code}); restart: {d.config.restart}",
        )
    # running, restarting, paused; or a finished run of a restart: no/on-failure container.
    return None


def _adopting(d: DesiredContainer, observed: ObservedState, project: str) -> str:
    """What of Compose's a new container uses as it is, named in its cause: a volume's data
    and a network are kept, never recreated."""
    vols = [
        m.source
        for m in d.config.mounts
        if m.kind == "volume" and m.source and _adopted(observed.volume_named(m.source), project)
    ]
    nets = [n.name for n in d.config.networks if _adopted(observed.network_named(n.name), project)]
    parts = [f"volume {v}" for v in dict.fromkeys(vols)] + [f"network {n}" for n in nets]
    if not parts:
        return ""
    return f"; adopts Compose's {', '.join(parts)} (project {project}) as is"


def _adopted(obj: ObservedVolume | ObservedNetwork | None, project: str) -> bool:
    return obj is not None and obj.adopted_from == project


def _take_over_hint(project: str) -> str:
    # An app name is a DNS-1123 label; a Compose project may hold `_` (`my_stack`).
    hint = f"set spec.project: {project} in the app"
    return hint if "_" in project else f"{hint} (or name the app {project})"


def _conflict_with(
    what: str, name: str, obj: ObservedVolume | ObservedNetwork, project: str
) -> str:
    if obj.adopted_from is not None:
        return (
            f"{what} {name} belongs to Compose project {obj.adopted_from}, not {project}: "
            f"dockyard adopts only the app's own project; {_take_over_hint(obj.adopted_from)} "
            f"to take the project over, or give the {what} another name"
        )
    return _conflict(what, name, obj.managed, obj.app)


def _compose_conflict(d: DesiredContainer, obs: ObservedContainer, own: str) -> str | None:
    project, service = obs.compose_project, obs.compose_service
    if project is None:
        return None
    if project != own:
        return (
            f"container {d.name} belongs to Compose project {project}, not {own}: dockyard "
            f"takes over only the app's own project; {_take_over_hint(project)} to take it "
            f"over, or stop it (docker compose -p {project} down)"
        )
    if obs.compose_oneoff:
        return (
            f"container {d.name} was started by `docker compose run` for project {project}: "
            f"dockyard never takes those over; remove it (docker rm -f {d.name})"
        )
    return (
        f"container {d.name} is Compose's for service {service} of project {project}, not "
        f"for {d.service}: remove it (docker rm -f {d.name}) or rename the service"
    )


def _unwanted_cause(project: str, c: ObservedContainer, wanted: set[str]) -> str:
    if c.compose_project is not None:
        return (
            f"Compose's container of project {project} (service {c.compose_service}) that the app "
            f"does not want"
        )
    if c.service and c.replica:
        expected = naming.container_name(project, c.service, c.replica)
        if expected != c.name and expected in wanted:
            return f"renamed outside dockyard (it is replica {c.replica}, named {expected})"
        return f"service {c.service} no longer wants replica {c.replica}"
    return "no longer wanted by the app"


def _image_op(b: Builder, d: DesiredContainer, observed: ObservedState) -> str | None:
    image = d.config.image
    if d.build is not None:
        if observed.has_image(d.build.tag):
            return None
        return b.add(Kind.BUILD_IMAGE, image, "no image built from these inputs yet", build=d.build)
    if d.pull_policy == "Always":
        return b.add(Kind.PULL_IMAGE, image, "pullPolicy is Always", image=image, container=d)
    if observed.has_image(image):
        return None
    if d.pull_policy == "Never":
        return b.add(
            Kind.MISSING_IMAGE,
            image,
            "image is not present and pullPolicy is Never",
            image=image,
            container=d,  # whose service to name if no other engine has it either
        )
    return b.add(Kind.PULL_IMAGE, image, "image is not present", image=image, container=d)


def gates(
    b: Builder,
    desired: DesiredApp,
    service: str,
    observed: ObservedState,
    start_ops: dict[str, str],
) -> list[str | None]:
    """What must be true of the services this one depends on before it starts."""
    found: list[str | None] = []
    for dep_service, condition in desired.depends_on.get(service, ()):
        for dep in (c for c in desired.containers if c.service == dep_service):
            start = start_ops.get(dep.name)
            obs = observed.container_named(dep.name)
            if condition == "started":
                found.append(start)
            elif condition == "healthy":
                if start is None and obs is not None and obs.health == "healthy":
                    continue
                found.append(
                    b.add(
                        Kind.WAIT_HEALTHY,
                        dep.name,
                        f"{service} depends on {dep_service} being healthy",
                        [start],
                        ref=dep.name,
                        service=dep_service,
                        timeout=health_timeout(dep),
                    )
                )
            else:
                if (
                    start is None
                    and obs is not None
                    and obs.state == "exited"
                    and (obs.exit_code == 0)
                ):
                    continue
                found.append(
                    b.add(
                        Kind.WAIT_COMPLETED,
                        dep.name,
                        f"{service} depends on {dep_service} completing",
                        [start],
                        ref=dep.name,
                        service=dep_service,
                    )
                )
    return found


def health_timeout(d: DesiredContainer) -> float:
    # Long enough for the healthcheck to pass or fail by its own settings, as Docker runs it.
    hc = d.config.healthcheck
    interval = hc.interval if hc and hc.interval else 30.0
    timeout = hc.timeout if hc and hc.timeout else 30.0
    retries = hc.retries if hc and hc.retries else 3
    start = hc.start_period if hc and hc.start_period else 0.0
    return start + (interval + timeout) * (retries + 1) + 10.0


def _service_order(desired: DesiredApp) -> list[str]:
    """Services with their dependencies first (validation has ruled out cycles)."""
    services = list(dict.fromkeys(c.service for c in desired.containers))
    done: list[str] = []

    def visit(s: str) -> None:
        if s in done:
            return
        for dep, _ in desired.depends_on.get(s, ()):
            if dep in services:
                visit(dep)
        done.append(s)

    for s in services:
        visit(s)
    return done


def _rewire(b: Builder, network: str, create_net: str) -> None:
    # Containers created on a recreated network must wait for the new network.
    for op_id, op in list(b.ops.items()):
        attaches = (
            op.kind == Kind.CREATE_CONTAINER
            and op.container is not None
            and any(n.name == network for n in op.container.config.networks[:1])
        ) or (op.kind == Kind.CONNECT_NETWORK and op.image == network)
        if attaches and create_net not in op.deps:
            b.ops[op_id] = _with_dep(op, create_net)
    # Keep dependencies before dependents in the listing.
    b.ops = topological(b.ops)


def _with_dep(op: Operation, dep: str) -> Operation:
    return replace(op, deps=(*op.deps, dep))


def plan_delete(
    app: str, observed: ObservedState, volumes: bool = False, project: str | None = None
) -> Plan:
    """Remove everything the app owns; named volumes only when asked. `project`: the app's
    `spec.project` when known, else what its objects here record."""
    project = project or observed.project_of(app)
    b = Builder(app)
    removed_by_net: dict[str, list[str]] = {}
    all_removals: list[str] = []
    for c in observed.app_containers(app):
        stop = stop_op(b, c, "app is deleted") if c.running else None
        rm = b.add(
            Kind.REMOVE_CONTAINER, c.name, "app is deleted", [stop], ref=c.id, service=c.service
        )
        all_removals.append(rm)
        for net in c.networks:
            removed_by_net.setdefault(net, []).append(rm)
    # Volumes and networks adopted from Compose are the app's own too; a network that
    # Compose's containers still use (the project runs beside the app) is left to them.
    foreign_nets = {n for c in observed.containers if c.app != app for n in c.networks}
    for obs_net in observed.networks:
        if obs_net.owned_by(app, project) and not (
            obs_net.adopted_from and obs_net.name in foreign_nets
        ):
            b.add(
                Kind.REMOVE_NETWORK,
                obs_net.name,
                "app is deleted",
                removed_by_net.get(obs_net.name, []),
                ref=obs_net.id,
            )
    if volumes:
        for vol in observed.volumes:
            if vol.owned_by(app, project):
                b.add(
                    Kind.REMOVE_VOLUME,
                    vol.name,
                    "app is deleted with --volumes",
                    all_removals,
                    ref=vol.name,
                )
    return b.plan()


def _conflict(what: str, name: str, managed: bool, owner: str | None) -> str:
    if not managed:
        return (
            f"{what} {name} already exists and is not managed by dockyard (it has no "
            f"dev.dockyard labels): dockyard never touches it; rename or remove it yourself, "
            f"or rename the app"
        )
    return f"{what} {name} belongs to app {owner}: rename one of the apps so their names differ"
