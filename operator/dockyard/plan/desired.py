"""From a loaded App to the objects it wants on an engine, each with its config hash.

The hash covers what the user declared (after interpolation and defaults that
dockyard itself applies), never what an image or the engine fills in, so a
re-apply of an unchanged spec compares equal and does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from dockyard.spec import naming
from dockyard.spec.load import LoadedApp
from dockyard.spec.models import App, AppNetwork, Service, UpdateStrategy
from dockyard.spec.validate import DEFAULT_NETWORK, published_ports
from dockyard.state.desired import (
    BuildSpec,
    ContainerConfig,
    DesiredContainer,
    DesiredNetwork,
    DesiredVolume,
    DeviceRequestSpec,
    HealthSpec,
    IpamPoolSpec,
    IpamSpec,
    MountSpec,
    NetworkRef,
    PortSpec,
)

from .images import registry_login


@dataclass(frozen=True)
class DesiredApp:
    name: str
    containers: tuple[DesiredContainer, ...]
    networks: tuple[DesiredNetwork, ...]
    volumes: tuple[DesiredVolume, ...]
    # service -> [(dependency service, condition)]
    depends_on: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    # service -> its `update` strategy; a change to a service without one replaces
    # all its containers at once (as Compose does).
    updates: Mapping[str, UpdateStrategy] = field(default_factory=dict)
    # The prefix of its engine names and the Compose project it takes over (`spec.project`);
    # None: the app's name.
    project: str | None = None

    @property
    def engine_project(self) -> str:
        return self.project or self.name


def desired_app(loaded: LoadedApp, build_tags: Mapping[str, str]) -> DesiredApp:
    """The whole desired state of one app. `build_tags` maps service -> content-hash tag."""
    app = loaded.app
    name, project = app.name, app.project
    networks = tuple(
        DesiredNetwork(
            app=name,
            name=naming.resource_name(project, net.name, net.engine_name, net.external),
            driver=net.driver,
            internal=net.internal,
            external=net.external,
            labels=tuple(sorted(net.labels.items())),
            driver_opts=tuple(sorted(net.driver_opts.items())),
            enable_ipv6=net.enable_ipv6,
            ipam=_ipam(net),
            project=project,
        )
        for net in app.spec.networks
    )
    if any(_uses_default_network(s) for s in app.spec.services) and not any(
        n.name == DEFAULT_NETWORK for n in app.spec.networks
    ):
        networks += (
            DesiredNetwork(
                app=name,
                name=naming.network_name(project, DEFAULT_NETWORK),
                driver="bridge",
                internal=False,
                external=False,
                project=project,
            ),
        )
    volumes = tuple(
        DesiredVolume(
            app=name,
            name=naming.resource_name(project, vol.name, vol.engine_name, vol.external),
            driver=vol.driver,
            driver_opts=tuple(sorted(vol.driver_opts.items())),
            external=vol.external,
            labels=tuple(sorted(vol.labels.items())),
            project=project,
        )
        for vol in app.spec.volumes
    )
    # Declared networks and volumes: manifest name -> engine name.
    net_names = {n.name: e.name for n, e in zip(app.spec.networks, networks, strict=False)}
    vol_names = {v.name: e.name for v, e in zip(app.spec.volumes, volumes, strict=False)}
    containers: list[DesiredContainer] = []
    for svc in app.spec.services:
        build = _build_spec(svc, build_tags.get(svc.name))
        image = build.tag if build else str(svc.image)
        config = _container_config(loaded, svc, image, net_names, vol_names)
        if svc.links:
            config = replace(config, links=_links(app, svc))
        recreate, live = _inputs(loaded, svc)
        if recreate:
            config = replace(config, inputs=recreate)
        config_hash = config.hash()
        for replica in range(1, svc.replicas + 1):
            containers.append(
                DesiredContainer(
                    app=name,
                    service=svc.name,
                    replica=replica,
                    name=svc.container_name or naming.container_name(project, svc.name, replica),
                    config=config,
                    config_hash=config_hash,
                    pull_policy=svc.pull_policy,
                    build=build,
                    restart_when_unhealthy=svc.restart_when_unhealthy,
                    registry=registry_login(app.spec.registries, image),
                    live_inputs=live,
                )
            )
    depends = {
        s.name: tuple((d.service, d.condition) for d in s.depends_on) for s in app.spec.services
    }
    return DesiredApp(
        name=name,
        containers=tuple(containers),
        networks=networks,
        volumes=volumes,
        depends_on=depends,
        updates={s.name: _strategy(s) for s in app.spec.services if s.update is not None},
        project=project if project != name else None,
    )


def _links(app: App, svc: Service) -> tuple[str, ...]:
    """Each linked service's containers, under the link's alias (Compose's own form)."""
    out: list[str] = []
    for link in svc.links:
        target = app.service(link.service)
        alias = link.alias or link.service
        for replica in range(1, target.replicas + 1):
            name = target.container_name or naming.container_name(app.project, target.name, replica)
            out.append(f"{name}:{alias}")
    return tuple(out)


def _ipam(net: AppNetwork) -> IpamSpec | None:
    if net.ipam is None:
        return None
    return IpamSpec(
        driver=net.ipam.driver,
        pools=tuple(
            IpamPoolSpec(p.subnet, p.gateway, p.ip_range, tuple(sorted(p.aux_addresses.items())))
            for p in net.ipam.config
        ),
        options=tuple(sorted(net.ipam.options.items())),
    )


def _inputs(
    loaded: LoadedApp, svc: Service
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, str], ...]]:
    """The service's content-addressed inputs: those whose change recreates the container
    (part of its config hash), and those acted on in place (restart, signal, ignore)."""
    items: list[tuple[str, str, str]] = []
    for sec in svc.secrets:
        items.append((f"secret:{sec.name}", loaded.input_hash(f"secret:{sec.name}"), sec.on_change))
    for m in svc.volume_mounts:
        if m.host_path is not None and m.on_change is not None:
            key = f"{svc.name}:{m.mount_path}"
            items.append((f"file:{m.mount_path}", loaded.input_hash(f"file:{key}"), m.on_change))
    recreate = tuple((i, h) for i, h, action in items if action == "recreate")
    live = tuple(x for x in items if x[2] != "recreate")
    return recreate, live


def _strategy(svc: Service) -> UpdateStrategy:
    """The update strategy as it can run: start-first with a published host port cannot
    (two containers cannot bind one port), so it runs stop-first (load warned about it)."""
    assert svc.update is not None
    if svc.update.order == "start-first" and published_ports(svc):
        return svc.update.model_copy(update={"order": "stop-first"})
    return svc.update


def _uses_default_network(svc: Service) -> bool:
    """Attached to `<project>_default`: implicitly (no networks), or by naming `default`."""
    if svc.network_mode is not None:
        return False
    return not svc.networks or any(n.name == DEFAULT_NETWORK for n in svc.networks)


def _build_spec(svc: Service, tag: str | None) -> BuildSpec | None:
    if svc.build is None:
        return None
    if tag is None:
        raise ValueError(f"service {svc.name} has a build but no build tag was computed")
    return BuildSpec(
        context=svc.build.context,
        dockerfile=svc.build.dockerfile,
        target=svc.build.target,
        args=tuple(sorted(svc.build.args.items())),
        tag=tag,
        also_tag=svc.image,
    )


def _container_config(
    loaded: LoadedApp,
    svc: Service,
    image: str,
    net_names: Mapping[str, str],
    vol_names: Mapping[str, str],
) -> ContainerConfig:
    project = loaded.app.project  # the prefix of engine names
    labels = dict(svc.labels)
    labels.update(naming.owner_labels(loaded.app.name, project))
    labels[naming.SERVICE] = svc.name

    mounts: list[MountSpec] = []
    for m in svc.volume_mounts:
        if m.kind == "volume":
            vol = str(m.volume)
            source = vol_names.get(vol) or naming.volume_name(project, vol)
            mounts.append(MountSpec("volume", m.mount_path, source, m.read_only, nocopy=m.no_copy))
        elif m.kind == "bind":
            manifest_path = loaded.manifest_paths.get(f"{svc.name}:{m.mount_path}")
            mounts.append(
                MountSpec(
                    "bind",
                    m.mount_path,
                    m.host_path,
                    m.read_only,
                    manifest_path=manifest_path,
                    bind_options=tuple(o for o in (m.selinux, m.propagation) if o),
                )
            )
        elif m.kind == "tmpfs":
            tmpfs = m.tmpfs
            mounts.append(
                MountSpec(
                    "tmpfs",
                    m.mount_path,
                    None,
                    m.read_only,
                    tmpfs_size=tmpfs.size if tmpfs else None,
                    mode=tmpfs.mode if tmpfs else None,
                )
            )
        else:
            mounts.append(MountSpec("anonymous", m.mount_path, None, m.read_only, nocopy=m.no_copy))
    uid, gid = _numeric_user(svc.user)
    for sec in svc.secrets:
        mounts.append(
            MountSpec(
                "secret",
                sec.path,
                sec.name,
                True,
                mode=sec.mode,
                uid=sec.uid if sec.uid is not None else uid,
                gid=sec.gid if sec.gid is not None else gid,
            )
        )

    networks: list[NetworkRef] = []
    if svc.network_mode is None:
        attachments = svc.networks or []
        # A `containerName` resolves on the app's networks too, as the service name does.
        names = tuple(dict.fromkeys(n for n in (svc.name, svc.container_name) if n))
        if not attachments:
            networks.append(NetworkRef(naming.network_name(project, DEFAULT_NETWORK), names))
        for att in attachments:
            engine_name = net_names.get(att.name) or naming.network_name(project, att.name)
            aliases = tuple(dict.fromkeys([*names, *att.aliases]))
            networks.append(
                NetworkRef(
                    engine_name, aliases, att.ipv4_address, att.ipv6_address, att.mac_address
                )
            )

    health: HealthSpec | None = None
    hc = svc.healthcheck
    if hc is not None:
        if hc.disable:
            health = HealthSpec(("NONE",), None, None, None, None)
        else:
            test: tuple[str, ...]
            if hc.test is None:
                test = ()
            elif isinstance(hc.test, str):
                test = ("CMD-SHELL", hc.test)
            else:
                test = tuple(hc.test)
            health = HealthSpec(test, hc.interval, hc.timeout, hc.retries, hc.start_period)

    res = svc.resources
    return ContainerConfig(
        image=image,
        command=tuple(svc.command) if svc.command is not None else None,
        entrypoint=tuple(svc.entrypoint) if svc.entrypoint is not None else None,
        env=tuple(sorted(loaded.service_env(svc.name))),
        working_dir=svc.working_dir,
        user=svc.user,
        hostname=svc.hostname,
        labels=tuple(sorted(labels.items())),
        ports=tuple(PortSpec(p.target, p.protocol, p.published, p.host_ip) for p in svc.ports),
        mounts=tuple(mounts),
        networks=tuple(networks),
        network_mode=svc.network_mode,
        healthcheck=health,
        restart=svc.restart,
        cpus=res.cpus if res else None,
        memory=res.memory if res else None,
        memory_reservation=res.memory_reservation if res else None,
        pids=res.pids if res else None,
        stop_grace_period=svc.stop_grace_period,
        stop_signal=svc.stop_signal,
        init=svc.init,
        cap_add=tuple(svc.cap_add),
        cap_drop=tuple(svc.cap_drop),
        devices=tuple(
            (d.host_path, d.container_path or d.host_path, d.permissions) for d in svc.devices
        ),
        read_only=svc.read_only,
        privileged=svc.privileged,
        log_driver=svc.logging.driver if svc.logging else None,
        log_options=tuple(sorted(svc.logging.options.items())) if svc.logging else (),
        ulimits=tuple((u.name, u.soft, u.hard) for u in svc.ulimits),
        sysctls=tuple(sorted(svc.sysctls.items())),
        shm_size=svc.shm_size,
        dns=tuple(svc.dns),
        dns_search=tuple(svc.dns_search),
        expose=_expose(svc.expose),
        dns_options=tuple(svc.dns_options),
        extra_hosts=tuple((h.hostname, h.ip) for h in svc.extra_hosts),
        security_opt=tuple(svc.security_opt),
        tty=svc.tty,
        stdin_open=svc.stdin_open,
        pid_mode=svc.pid_mode,
        ipc_mode=svc.ipc_mode,
        group_add=tuple(svc.group_add),
        oom_score_adj=svc.oom_score_adj,
        cgroup_parent=svc.cgroup_parent,
        domainname=svc.domainname,
        device_requests=tuple(
            DeviceRequestSpec(
                driver=r.driver or "",
                count=r.count if r.count is not None else (0 if r.device_ids else -1),
                device_ids=tuple(r.device_ids),
                capabilities=tuple(r.capabilities),
                options=tuple(sorted(r.options.items())),
            )
            for r in (res.devices if res else [])
        ),
        cpu_shares=res.cpu_shares if res else None,
        cpu_quota=res.cpu_quota if res else None,
        cpu_period=res.cpu_period if res else None,
        cpuset=res.cpuset if res else None,
        memory_swap=res.memory_swap if res else None,
        memory_swappiness=res.memory_swappiness if res else None,
        oom_kill_disable=res.oom_kill_disable if res else False,
        userns_mode=svc.userns_mode,
        uts_mode=svc.uts_mode,
        cgroupns_mode=svc.cgroupns_mode,
        device_cgroup_rules=tuple(svc.device_cgroup_rules),
        storage_opt=tuple(sorted(svc.storage_opt.items())),
        runtime=svc.runtime,
    )


def _numeric_user(user: str | None) -> tuple[int | None, int | None]:
    if not user:
        return None, None
    name, _, group = user.partition(":")
    uid = int(name) if name.isdigit() else None
    gid = int(group) if group.isdigit() else uid
    return uid, gid


def fingerprint(desired: DesiredApp) -> str:
    """One short hash of everything the app wants on the engines: a revision's identity."""
    import hashlib
    import json

    body = {
        "containers": sorted((c.name, c.config_hash) for c in desired.containers),
        "networks": sorted((n.name, n.config_hash) for n in desired.networks),
        "volumes": sorted(v.name for v in desired.volumes),
    }
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:16]


def _expose(items: list[str]) -> tuple[str, ...]:
    # As Compose sends them: the engine keeps `5432` (no protocol) as written.
    return tuple(dict.fromkeys(items))
