"""Compose keys that set the container (logging, ulimits, sysctls, DNS, namespaces, static
addresses, device requests...): carried into the manifest and the create body, or refused
before anything is created; and a container made before these fields keeps its hash."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dockyard.engine.container_body import container_body
from dockyard.plan.desired import desired_app
from dockyard.spec.compose import import_compose
from dockyard.spec.errors import SpecError
from dockyard.spec.load import load_text
from dockyard.state.desired import (
    ContainerConfig,
    DesiredNetwork,
    HealthSpec,
    MountSpec,
    NetworkRef,
    PortSpec,
)


def imp(tmp_path: Path, text: str) -> dict[str, Any]:
    path = tmp_path / "compose.yaml"
    path.write_text(textwrap.dedent(text))
    return import_compose([path], environ={}, project_name="shop").app


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(SpecError) as info:
        imp(tmp_path, text)
    return str(info.value)


def service(app: dict[str, Any], name: str = "web") -> dict[str, Any]:
    return next(s for s in app["spec"]["services"] if s["name"] == name)


KEYS = """
services:
  web:
    image: shop/web:1
    logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    sysctls: [net.core.somaxconn=1024]
    shm_size: 128m
    dns: 10.0.0.2
    dns_search: [shop.internal]
    dns_opt: [ndots:2]
    extra_hosts: ["db.local:10.0.0.5", "v6.local=::1"]
    security_opt: [no-new-privileges:true]
    tty: true
    stdin_open: true
    pid: host
    ipc: shareable
    group_add: ["100", audio]
    oom_score_adj: 500
    cgroup_parent: /shop
    domainname: shop.internal
    mac_address: 02:42:ac:1c:05:0a
    cpu_shares: 512
    cpuset: 0-1
    cpu_quota: 50000
    cpu_period: 100000
    memswap_limit: -1
    mem_swappiness: 10
    oom_kill_disable: true
    userns_mode: host
    cgroup: private
    device_cgroup_rules: ["c 1:3 mr"]
    storage_opt: {size: 1G}
    runtime: runc
    networks:
      zeta: {ipv4_address: 172.28.5.10, priority: 10}
      alpha:
    deploy:
      resources:
        reservations:
          devices: [{capabilities: [gpu], count: 1, driver: nvidia}]
networks:
  zeta:
    ipam: {config: [{subnet: 172.28.5.0/24, gateway: 172.28.5.1, ip_range: 172.28.5.0/25}]}
  alpha: {}
"""


def test_host_config_keys_are_carried_into_the_manifest(tmp_path: Path) -> None:
    web = service(imp(tmp_path, KEYS))
    assert web["logging"] == {
        "driver": "json-file",
        "options": {"max-size": "10m", "max-file": "3"},
    }
    assert web["ulimits"] == [
        {"name": "nofile", "soft": 1024, "hard": 2048},
        {"name": "nproc", "soft": 512, "hard": 512},
    ]
    assert web["sysctls"] == {"net.core.somaxconn": "1024"}
    assert web["runtime"] == "runc"
    assert web["shmSize"] == "128m"
    assert (web["dns"], web["dnsSearch"], web["dnsOptions"]) == (
        ["10.0.0.2"],
        ["shop.internal"],
        ["ndots:2"],
    )
    assert web["extraHosts"] == [
        {"hostname": "db.local", "ip": "10.0.0.5"},
        {"hostname": "v6.local", "ip": "::1"},
    ]
    assert web["securityOpt"] == ["no-new-privileges:true"]
    assert web["tty"] and web["stdinOpen"]
    assert (web["pidMode"], web["ipcMode"]) == ("host", "shareable")
    assert web["groupAdd"] == ["100", "audio"]
    assert (web["oomScoreAdj"], web["cgroupParent"]) == (500, "/shop")
    assert web["resources"]["devices"] == [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
    ]


def test_primary_network_is_composes_by_priority_then_name(tmp_path: Path) -> None:
    app = imp(tmp_path, KEYS)
    nets = service(app)["networks"]
    # zeta has the higher priority, so it is primary, and gets the service's MAC address.
    assert [n["name"] for n in nets] == ["zeta", "alpha"]
    assert nets[0]["macAddress"] == "02:42:ac:1c:05:0a"
    no_priority = KEYS.replace(", priority: 10", "")
    assert [n["name"] for n in service(imp(tmp_path, no_priority))["networks"]] == ["alpha", "zeta"]
    zeta = next(n for n in app["spec"]["networks"] if n["name"] == "zeta")
    assert zeta["ipam"] == {
        "config": [{"subnet": "172.28.5.0/24", "gateway": "172.28.5.1", "ipRange": "172.28.5.0/25"}]
    }


def test_the_create_body_carries_every_key(tmp_path: Path) -> None:
    loaded = load_text(yaml_of(imp(tmp_path, KEYS)), "app.yaml", tmp_path, environ={}).apps[0]
    desired = desired_app(loaded, {})
    (d,) = desired.containers
    body = container_body(d.config, d.labels, [])
    host = body["HostConfig"]
    assert host["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-file": "3", "max-size": "10m"},
    }
    assert host["Ulimits"] == [
        {"Name": "nofile", "Soft": 1024, "Hard": 2048},
        {"Name": "nproc", "Soft": 512, "Hard": 512},
    ]
    assert host["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert host["ShmSize"] == 128 * 1024 * 1024
    assert (host["Dns"], host["DnsSearch"], host["DnsOptions"]) == (
        ["10.0.0.2"],
        ["shop.internal"],
        ["ndots:2"],
    )
    assert host["ExtraHosts"] == ["db.local:10.0.0.5", "v6.local:::1"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert (body["Tty"], body["OpenStdin"], body["Domainname"]) == (True, True, "shop.internal")
    assert (host["PidMode"], host["IpcMode"]) == ("host", "shareable")
    assert host["GroupAdd"] == ["100", "audio"]
    assert (host["OomScoreAdj"], host["CgroupParent"]) == (500, "/shop")
    assert (host["CpuShares"], host["CpusetCpus"], host["CpuQuota"], host["CpuPeriod"]) == (
        512,
        "0-1",
        50000,
        100000,
    )
    assert (host["MemorySwap"], host["MemorySwappiness"], host["OomKillDisable"]) == (-1, 10, True)
    assert (host["UsernsMode"], host["CgroupnsMode"]) == ("host", "private")
    assert host["DeviceCgroupRules"] == ["c 1:3 mr"] and host["StorageOpt"] == {"size": "1G"}
    assert host["DeviceRequests"] == [
        {
            "Driver": "nvidia",
            "Count": 1,
            "DeviceIDs": [],
            "Capabilities": [["gpu"]],
            "Options": {},
        }
    ]
    assert host["NetworkMode"] == "shop_zeta"
    endpoint = body["NetworkingConfig"]["EndpointsConfig"]["shop_zeta"]
    assert endpoint["IPAMConfig"] == {"IPv4Address": "172.28.5.10"}
    assert body["MacAddress"] == endpoint["MacAddress"] == "02:42:ac:1c:05:0a"
    zeta = next(n for n in desired.networks if n.name == "shop_zeta")
    assert zeta.ipam is not None and zeta.ipam.pools[0].gateway == "172.28.5.1"


def yaml_of(app: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(app, sort_keys=False)


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        (
            "services:\n  vpn: {image: x}\n  web: {image: x, network_mode: 'service:vpn'}\n",
            "services.web.network_mode",
            "namespace",
        ),
        (
            "services:\n  web: {image: x, network_mode: 'container:abc'}\n",
            "network_mode",
            "namespace",
        ),
        ("services:\n  db: {image: x}\n  web: {image: x, pid: 'service:db'}\n", "pid", "PID"),
        ("services:\n  db: {image: x}\n  web: {image: x, ipc: 'container:db'}\n", "ipc", "IPC"),
        ("services:\n  web: {image: x, ipc: shared}\n", "services.web.ipc", "not a valid ipc mode"),
        (
            "services:\n  web: {image: x, networks: {a: {ipv4_address: 10.1.0.5}}}\n"
            "networks: {a: {}}\n",
            "spec.services[web].networks[a].ipv4Address",
            "needs a subnet",
        ),
        (
            "services:\n  web:\n    image: x\n    networks: {a: {ipv4_address: 10.2.0.5}}\n"
            "networks: {a: {ipam: {config: [{subnet: 10.1.0.0/16}]}}}\n",
            "ipv4Address",
            "10.1.0.0/16",
        ),
        (
            "services:\n  web: {image: x}\n"
            "networks: {a: {ipam: {config: [{gateway: 10.1.0.1}]}}}\n",
            "networks.a.ipam.config[0]",
            "needs a subnet",
        ),
        (
            "services:\n  web: {image: x, extra_hosts: [nocolon]}\n",
            "services.web.extra_hosts[0]",
            "hostname=IP",
        ),
        (
            "services:\n  web: {image: x, ulimits: {nofile: {soft: 10, hard: 5}}}\n",
            "ulimits",
            "soft limit",
        ),
        ("services:\n  web: {image: x, uts: host, hostname: h}\n", "utsMode", "UTS namespace"),
        (
            "services:\n  web: {image: x, networks: {a: {gw_priority: 10}}}\nnetworks: {a: {}}\n",
            "services.web.networks.a.gw_priority",
            "API 1.48",
        ),
    ],
)
def test_what_cannot_be_carried_is_refused_before_anything_runs(
    tmp_path: Path, text: str, path: str, reason: str
) -> None:
    message = refused(tmp_path, text)
    assert path in message and reason in message


# ---------------------------------------------------------------------------------------------
# Upgrading never replaces a container: the hash of a config that uses none of the new
# fields is what the release before them computed (pinned from that release's code).


def _config() -> ContainerConfig:
    return ContainerConfig(
        image="shop/web:1.4",
        command=("httpd", "-f"),
        entrypoint=None,
        env=(("LOG_LEVEL", "info"),),
        working_dir="/srv",
        user="1000",
        hostname=None,
        labels=(("tier", "frontend"),),
        ports=(PortSpec(8080, "tcp", 8080, None),),
        mounts=(
            MountSpec("bind", "/etc/web", "/abs/conf", True, manifest_path="conf"),
            MountSpec("volume", "/data", "shop_data"),
        ),
        networks=(
            NetworkRef("shop_default", ("web",)),
            NetworkRef("shop_back", ("web",), "172.28.0.5"),
        ),
        network_mode=None,
        healthcheck=HealthSpec(("CMD", "true"), 1.0, None, 3, None),
        restart="always",
        cpus=0.5,
        memory=1 << 28,
        memory_reservation=None,
        pids=None,
        stop_grace_period=3.0,
        stop_signal="SIGINT",
        init=True,
        cap_add=("NET_ADMIN",),
        cap_drop=(),
        devices=(("/dev/fuse", "/dev/fuse", "rwm"),),
        read_only=False,
        privileged=False,
    )


def test_hash_of_a_config_without_the_new_fields_is_unchanged() -> None:
    config = _config()
    assert config.hash() == "f8dfdb0aa258eccf3519"
    assert replace(config, inputs=(("secret:a", "abc"),)).hash() == "25bb08888b6b243db744"
    assert "ulimits" not in config.summary() and "mac_address" not in config.summary()
    net = DesiredNetwork("shop", "shop_back", "bridge", True, False, (("a", "b"),))
    assert net.config_hash == "2556dccc5c0836a66417"


def test_a_new_field_changes_the_hash() -> None:
    config = _config()
    seen = {config.hash()}
    for change in (
        {"ulimits": (("nofile", 1024, 2048),)},
        {"log_options": (("max-size", "10m"),)},
        {"tty": True},
        {"shm_size": 1 << 27},
        {"networks": (NetworkRef("shop_default", ("web",), mac_address="02:42:ac:11:00:02"),)},
    ):
        seen.add(replace(config, **change).hash())  # type: ignore[arg-type]
    assert len(seen) == 6


def test_configs_from_file_content_and_environment(tmp_path: Path) -> None:
    app = imp(
        tmp_path,
        """
        services:
          web:
            image: x
            configs:
              - app_conf
              - {source: inline, target: /etc/inline.txt, mode: 0440}
              - {source: greeting, target: greeting.txt, uid: "100"}
        configs:
          app_conf: {file: ./app.conf}
          inline: {content: "port $$PORT"}
          greeting: {environment: GREETING}
        secrets:
          inline: {content: not a config}
        """,
    )
    web = service(app)
    assert web["volumeMounts"] == [
        {"hostPath": "./app.conf", "mountPath": "/app_conf", "readOnly": True}
    ]
    assert web["secrets"] == [
        {"name": "config-inline", "mountPath": "/etc/inline.txt", "mode": 0o440},
        {"name": "greeting", "mountPath": "/greeting.txt", "mode": 0o444, "uid": 100},
    ]
    assert app["spec"]["secrets"] == [
        {"name": "inline", "content": "not a config"},
        {"name": "config-inline", "content": "port $$PORT"},  # `$$`: written for the loader
        {"name": "greeting", "env": "GREETING"},
    ]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("services:\n  web: {image: x, configs: [nope]}\n", "services.web.configs[0]"),
        ("services:\n  web: {image: x}\nconfigs: {c: {file: a, content: b}}\n", "configs.c"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, path: str) -> None:
    assert path in refused(tmp_path, text)


def test_links_become_links_and_dependencies(tmp_path: Path) -> None:
    app = imp(
        tmp_path,
        """
        services:
          db: {image: x}
          cache_1: {image: x}
          web: {image: x, links: ["db:database", db, cache_1]}
        """,
    )
    web = service(app)
    assert web["links"] == [
        {"service": "db", "alias": "database"},
        {"service": "db"},
        {"service": "cache_1"},
    ]
    assert web["dependsOn"] == [{"service": "db"}, {"service": "cache_1"}]
    loaded = load_text(yaml_of(app), "app.yaml", tmp_path, environ={}).apps[0]
    (d,) = [c for c in desired_app(loaded, {}).containers if c.service == "web"]
    assert d.config.links == ("shop-db-1:database", "shop-db-1:db", "shop-cache_1-1:cache_1")
    endpoint = container_body(d.config, d.labels, [])["NetworkingConfig"]["EndpointsConfig"]
    assert endpoint["shop_default"]["Links"] == list(d.config.links)
    assert "links to undefined service 'nope'" in refused(
        tmp_path, "services:\n  web: {image: x, links: [nope]}\n"
    )


def test_include_adds_the_included_projects_with_their_own_paths(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "pw.txt").write_text("pw")
    (tmp_path / "db" / "compose.yaml").write_text(
        textwrap.dedent(
            """\
            include: [cache.yaml]
            services:
              db:
                image: y
                volumes: ["./data:/data", "dbdata:/var/lib"]
                secrets: [pw]
            volumes: {dbdata: {}}
            secrets: {pw: {file: ./pw.txt}}
            """
        )
    )
    (tmp_path / "db" / "cache.yaml").write_text("services:\n  cache: {image: z}\n")
    app = imp(
        tmp_path,
        """
        include:
          - db/compose.yaml
        services:
          web: {image: x, depends_on: [db, cache]}
        """,
    )
    assert [s["name"] for s in app["spec"]["services"]] == ["cache", "db", "web"]
    assert service(app, "db")["volumeMounts"][0]["hostPath"] == "./db/data"
    assert app["spec"]["secrets"] == [{"name": "pw", "file": "./db/pw.txt"}]
    assert app["spec"]["volumes"] == [{"name": "dbdata"}]


@pytest.mark.parametrize(
    ("included", "message"),
    [
        ("services:\n  web: {image: other}\n", "defined both in compose.yaml and in the included"),
        ("include: [compose.yaml]\nservices: {}\n", "includes itself"),
    ],
)
def test_include_conflicts_and_cycles_are_refused(
    tmp_path: Path, included: str, message: str
) -> None:
    (tmp_path / "inc.yaml").write_text(included.replace("compose.yaml", "inc.yaml"))
    text = "include: [inc.yaml]\nservices:\n  web: {image: x}\n"
    assert message in refused(tmp_path, text)
    assert "does not exist" in refused(tmp_path, "include: [nope.yaml]\nservices: {}\n")


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("volumes_from", "[db]", "another container's volumes"),
        ("external_links", "[redis_1]", "outside the app"),
    ],
)
def test_keys_that_would_leave_a_misbehaving_container_are_refused(
    tmp_path: Path, key: str, value: str, reason: str
) -> None:
    message = refused(
        tmp_path, f"services:\n  db: {{image: x}}\n  web: {{image: x, {key}: {value}}}\n"
    )
    assert f"services.web.{key}" in message and reason in message


def test_mount_options_propagation_selinux_and_nocopy(tmp_path: Path) -> None:
    app = imp(
        tmp_path,
        """
        services:
          web:
            image: x
            volumes:
              - ./conf:/etc/app:ro,z
              - data:/data:nocopy
              - {type: bind, source: /srv, target: /srv, bind: {propagation: rslave, selinux: Z}}
              - {type: volume, source: data, target: /more, volume: {nocopy: true}}
        volumes: {data: {}}
        """,
    )
    mounts = service(app)["volumeMounts"]
    assert mounts[0]["selinux"] == "z" and mounts[0]["readOnly"]
    assert mounts[1]["noCopy"] and mounts[3]["noCopy"]
    assert (mounts[2]["propagation"], mounts[2]["selinux"]) == ("rslave", "Z")
    loaded = load_text(yaml_of(app), "app.yaml", tmp_path, environ={}).apps[0]
    (d,) = desired_app(loaded, {}).containers
    body = container_body(d.config, d.labels, [])
    binds = body["HostConfig"]["Binds"]
    assert binds[0].endswith(":/etc/app:ro,z") and binds[1] == "/srv:/srv:Z,rslave"
    volumes = [m for m in body["HostConfig"]["Mounts"] if m["Type"] == "volume"]
    assert all(m["VolumeOptions"] == {"NoCopy": True} for m in volumes)


def test_the_quick_asdict_of_a_config_is_asdict() -> None:
    from dataclasses import asdict

    from dockyard.state.desired import plain

    config = replace(
        _config(),
        ulimits=(("nofile", 1024, 2048),),
        networks=(NetworkRef("shop_default", ("web",), mac_address="02:42:ac:11:00:02"),),
        inputs=(("secret:a", "abc"),),
    )
    assert plain(config) == asdict(config)
    assert type(plain(config)["networks"]) is tuple
    net = DesiredNetwork("shop", "shop_back", "bridge", True, False, (("a", "b"),))
    assert plain(net) == asdict(net)
