"""Whole-app checks that one field alone cannot make: references, cycles, port clashes."""

from __future__ import annotations

from collections.abc import Iterable

from . import naming
from .addresses import check_addresses
from .errors import FieldError
from .imageref import HINT as IMAGE_HINT
from .imageref import reference_problem
from .models import App, Service

DEFAULT_NETWORK = "default"


def validate_app(app: App) -> list[FieldError]:
    errors: list[FieldError] = []
    spec = app.spec
    svc_names = _unique((s.name for s in spec.services), "spec.services", "service", errors)
    vol_names = _unique((v.name for v in spec.volumes), "spec.volumes", "volume", errors)
    net_names = _unique((n.name for n in spec.networks), "spec.networks", "network", errors)
    sec_names = _unique((s.name for s in spec.secrets), "spec.secrets", "secret", errors)

    for svc in spec.services:
        base = f"spec.services[{svc.name}]"
        _check_references(svc, base, svc_names, vol_names, net_names, sec_names, errors)
        _check_service(svc, base, errors)
    _check_cycles(app, errors)
    _check_ports(app, errors)
    _check_waves(app, errors)
    _check_registries(app, sec_names, errors)
    _check_engine_names(app, errors)
    errors.extend(check_addresses(app))
    return errors


def unique_apps(apps: Iterable[tuple[App, str]]) -> list[FieldError]:
    """Apps loaded together (each with its source): one name, and one prefix of engine
    names (its project), each."""
    errors: list[FieldError] = []
    seen: dict[str, str] = {}
    projects: dict[str, str] = {}  # the prefix of engine names -> the app using it
    for app, source in apps:
        if app.name in seen:
            errors.append(
                FieldError(
                    "metadata.name",
                    f"app {app.name!r} is defined twice (also in {seen[app.name]})",
                    "give each App its own metadata.name",
                    source,
                )
            )
        elif projects.get(app.project, app.name) != app.name:
            errors.append(
                FieldError(
                    "spec.project",
                    f"apps {projects[app.project]!r} and {app.name!r} would both name their "
                    f"containers, networks and volumes {app.project}-… / {app.project}_…",
                    "give each App its own spec.project (default: its metadata.name)",
                    source,
                )
            )
        seen[app.name] = source
        projects.setdefault(app.project, app.name)
    return errors


def _check_engine_names(app: App, errors: list[FieldError]) -> None:
    # Two volumes (or networks) of an app must not end up as one engine object.
    for kind, items in (("volumes", app.spec.volumes), ("networks", app.spec.networks)):
        seen: dict[str, str] = {}
        for item in items:
            engine = naming.resource_name(app.project, item.name, item.engine_name, item.external)
            if engine in seen:
                errors.append(
                    FieldError(
                        f"spec.{kind}[{item.name}].engineName",
                        f"{item.name!r} and {seen[engine]!r} would both be {engine!r}"
                        " on the engine",
                        "give each its own engineName",
                    )
                )
            seen.setdefault(engine, item.name)


def _check_registries(app: App, secrets: set[str], errors: list[FieldError]) -> None:
    _unique((r.server for r in app.spec.registries), "spec.registries", "registry", errors)
    for reg in app.spec.registries:
        if reg.password_secret not in secrets:
            errors.append(
                FieldError(
                    f"spec.registries[{reg.server}].passwordSecret",
                    f"no secret named {reg.password_secret!r} in spec.secrets",
                    f"declare it: spec.secrets: [{{name: {reg.password_secret}, file: …}}]",
                )
            )


def _unique(names: Iterable[str], path: str, what: str, errors: list[FieldError]) -> set[str]:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            errors.append(
                FieldError(
                    f"{path}[{name}]",
                    f"duplicate {what} name {name!r}",
                    f"each {what} in an app needs its own name",
                )
            )
        seen.add(name)
    return seen


def _check_references(
    svc: Service,
    base: str,
    services: set[str],
    volumes: set[str],
    networks: set[str],
    secrets: set[str],
    errors: list[FieldError],
) -> None:
    for dep in svc.depends_on:
        if dep.service == svc.name:
            errors.append(
                FieldError(f"{base}.dependsOn[{dep.service}]", "a service cannot depend on itself")
            )
        elif dep.service not in services:
            errors.append(
                FieldError(
                    f"{base}.dependsOn[{dep.service}]",
                    f"no service named {dep.service!r} in this app",
                    f"services are: {', '.join(sorted(services)) or 'none'}",
                )
            )
    for link in svc.links:
        if link.service not in services or link.service == svc.name:
            errors.append(
                FieldError(
                    f"{base}.links[{link.service}]",
                    f"no other service named {link.service!r} in this app",
                    f"services are: {', '.join(sorted(services)) or 'none'}",
                )
            )
        elif not any(d.service == link.service for d in svc.depends_on):
            errors.append(
                FieldError(
                    f"{base}.links[{link.service}]",
                    f"a link needs {link.service!r} started first",
                    f"add dependsOn: [{{service: {link.service}}}]",
                )
            )
    for mount in svc.volume_mounts:
        if mount.volume is not None and mount.volume not in volumes:
            errors.append(
                FieldError(
                    f"{base}.volumeMounts[{mount.mount_path}].volume",
                    f"no volume named {mount.volume!r} in spec.volumes",
                    f"declare it: spec.volumes: [{{name: {mount.volume}}}]",
                )
            )
    for net in svc.networks:
        if net.name not in networks and net.name != DEFAULT_NETWORK:
            errors.append(
                FieldError(
                    f"{base}.networks[{net.name}]",
                    f"no network named {net.name!r} in spec.networks",
                    f"declare it: spec.networks: [{{name: {net.name}}}]",
                )
            )
    for sec in svc.secrets:
        if sec.name not in secrets:
            errors.append(
                FieldError(
                    f"{base}.secrets[{sec.name}]",
                    f"no secret named {sec.name!r} in spec.secrets",
                    f"declare it: spec.secrets: [{{name: {sec.name}, file: ./{sec.name}}}]",
                )
            )
    paths = [m.mount_path for m in svc.volume_mounts] + [s.path for s in svc.secrets]
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            errors.append(
                FieldError(
                    f"{base}.volumeMounts[{path}]",
                    f"two mounts at {path}",
                    "each mountPath can be used once",
                )
            )
        seen.add(path)


def _check_waves(app: App, errors: list[FieldError]) -> None:
    """Host waves order the app's hosts: services that set them must agree."""
    waves = [(s.name, s.update.hosts) for s in app.spec.services if s.update and s.update.hosts]
    for name, other in waves[1:]:
        if other != waves[0][1]:
            errors.append(
                FieldError(
                    f"spec.services[{name}].update.hosts",
                    f"differs from spec.services[{waves[0][0]}].update.hosts: host waves "
                    "order the hosts of the whole app",
                    "write the same update.hosts on every service that sets it",
                )
            )


def app_warnings(app: App) -> list[str]:
    """What is valid but will not behave as written; said once, at load time."""
    warnings = []
    for svc in app.spec.services:
        if svc.update and svc.update.order == "start-first" and published_ports(svc):
            warnings.append(
                f"spec.services[{svc.name}].update.order: start-first cannot work with published "
                f"host port {published_ports(svc)[0]} (the new container cannot bind it while the "
                "old one holds it): stop-first is used. Drop `published` to let Docker pick "
                "a port per container, or write order: stop-first to silence this."
            )
    return warnings


def published_ports(svc: Service) -> list[int]:
    return [p.published for p in svc.ports if p.published is not None]


def _check_service(svc: Service, base: str, errors: list[FieldError]) -> None:
    if svc.container_name and svc.replicas > 1:
        errors.append(
            FieldError(
                f"{base}.containerName",
                f"one container name cannot be given to {svc.replicas} replicas",
                "remove containerName (containers are then <app>-<service>-<n>) or set replicas: 1",
            )
        )
    # Refused here, before any engine call: the engine would find it only when pulling,
    # after other services were created.
    problem = reference_problem(svc.image) if svc.image is not None else None
    if problem:
        errors.append(FieldError(f"{base}.image", problem, IMAGE_HINT))
    if svc.network_mode in ("host", "none") and svc.ports:
        errors.append(
            FieldError(
                f"{base}.ports",
                f"ports cannot be published with networkMode {svc.network_mode}",
                "remove ports (with host networking the service listens on the host directly)",
            )
        )
    if svc.uts_mode == "host" and (svc.hostname or svc.domainname):
        errors.append(
            FieldError(
                f"{base}.utsMode",
                "with the host's UTS namespace the container has the host's hostname and "
                "domain name (the engine would refuse to start it)",
                "remove hostname and domainname, or utsMode",
            )
        )
    names = [p.name for p in svc.secrets]
    if len(set(names)) != len(names):
        errors.append(FieldError(f"{base}.secrets", "the same secret is mounted twice"))
    if svc.resources and svc.resources.memory is not None and svc.resources.memory < 6 * 2**20:
        errors.append(
            FieldError(
                f"{base}.resources.memory",
                "Docker needs at least 6Mi of memory for a container",
                "write e.g. 64Mi",
            )
        )


def _check_cycles(app: App, errors: list[FieldError]) -> None:
    graph = {s.name: [d.service for d in s.depends_on] for s in app.spec.services}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    reported: set[frozenset[str]] = set()

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt not in graph or nxt == node:
                continue
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    errors.append(
                        FieldError(
                            f"spec.services[{node}].dependsOn[{nxt}]",
                            "dependency cycle: " + " -> ".join(cycle),
                            "remove one of these dependsOn entries",
                        )
                    )
            elif state.get(nxt) is None:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def _check_ports(app: App, errors: list[FieldError]) -> None:
    used: dict[tuple[str, int, str], str] = {}
    for svc in app.spec.services:
        for port in svc.ports:
            if port.published is None:
                continue
            path = f"spec.services[{svc.name}].ports[{port.target}]"
            if svc.replicas > 1:
                errors.append(
                    FieldError(
                        path,
                        f"host port {port.published} cannot be published by {svc.replicas} "
                        "replicas on one host",
                        "drop `published` so Docker picks a port per replica, or use replicas: 1",
                    )
                )
            ip = port.host_ip or "0.0.0.0"
            for other_ip in {ip, "0.0.0.0"} if ip != "0.0.0.0" else {ip}:
                key = (other_ip, port.published, port.protocol)
                if key in used:
                    errors.append(
                        FieldError(
                            path,
                            f"host port {port.published}/{port.protocol} is already published "
                            f"by {used[key]}",
                            "give each service its own published port",
                        )
                    )
                    break
            used[(ip, port.published, port.protocol)] = f"service {svc.name}"
