"""The spec layer on its own: units, interpolation, env files, path resolution, secrets, loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.spec.envfile import parse_env_text
from dockyard.spec.errors import SpecError
from dockyard.spec.interpolate import InterpolationError, interpolate
from dockyard.spec.load import LoadedApp, load_paths
from dockyard.spec.models import App, DockerHost
from dockyard.spec.units import format_duration, parse_duration, parse_size

MI = 2**20

# --- units ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("10", 10.0),
        ("10s", 10.0),
        ("2h", 7200.0),
        ("1.5s", 1.5),
        ("1h2m3s", 3723.0),
        (5, 5.0),
        (0.25, 0.25),
    ],
)
def test_durations_parse_to_seconds(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10 seconds", "s", "1x", "-5", "10s5", True, None])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256Mi", 256 * MI),
        ("1g", 2**30),
        ("64k", 64 * 1024),
        ("512m", 512 * MI),
        ("1024", 1024),
        ("1.5Gi", int(1.5 * 2**30)),
        ("100MB", 100 * MI),
        (4096, 4096),
    ],
)
def test_sizes_parse_to_bytes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "64Zi", "-1", "1 2", True, -5])
def test_bad_sizes_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_durations_format_back() -> None:
    assert format_duration(90.0) == "90s"
    assert format_duration(0.5) == "500ms"


# --- interpolation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${VAR}", {"VAR": "x"}, "x"),
        ("$VAR", {"VAR": "x"}, "x"),
        ("a-$VAR-b", {"VAR": "x"}, "a-x-b"),
        ("${VAR}", {}, ""),
        ("${VAR:-default}", {}, "default"),
        ("${VAR:-default}", {"VAR": ""}, "default"),
        ("${VAR:-default}", {"VAR": "set"}, "set"),
        ("${VAR-default}", {}, "default"),
        ("${VAR-default}", {"VAR": ""}, ""),
        ("${VAR:-${OTHER}}", {"OTHER": "nested"}, "nested"),
        ("${VAR:+alt}", {"VAR": "set"}, "alt"),
        ("${VAR:+alt}", {}, ""),
        ("${VAR:?msg}", {"VAR": "set"}, "set"),
        ("$$", {}, "$"),
        ("$${VAR}", {"VAR": "x"}, "${VAR}"),
        ("cost: $$5", {}, "cost: $5"),
        ("5$", {}, "5$"),  # a $ that starts no variable is kept, as in Compose
        ("$1", {}, "$1"),
        ("${X:-${Y:-${Z:-d}}}", {}, "d"),
        ("no variables", {}, "no variables"),
    ],
)
def test_interpolation_follows_compose(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(text, env) == expected


@pytest.mark.parametrize("env", [{}, {"VAR": ""}])
def test_required_variable_carries_its_message(env: dict[str, str]) -> None:
    with pytest.raises(InterpolationError) as info:
        interpolate("${VAR:?set VAR to the database URL}", env)
    assert "VAR" in info.value.message
    assert "set VAR to the database URL" in info.value.message
    assert info.value.hint


@pytest.mark.parametrize("text", ["${", "${VAR", "${1}"])
def test_invalid_interpolation_is_refused(text: str) -> None:
    with pytest.raises(InterpolationError, match="invalid interpolation"):
        interpolate(text, {})


# --- env files -----------------------------------------------------------------------


def test_env_file_syntax() -> None:
    text = "\n".join(
        [
            "# a comment",
            "",
            "PLAIN=value",
            "export EXPORTED=yes",
            "SPACED = around ",
            "INLINE=value # a comment",
            "HASH=a#b",
            'DOUBLE="quoted # not a comment"',
            "SINGLE='single $VAR'",
            'ESCAPED="line1\\nline2"',
            "EMPTY=",
            "NOVALUE",
            "EQUALS=a=b",
        ]
    )

    values = parse_env_text(text, "test.env")

    assert values == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "SPACED": "around",
        "INLINE": "value",
        "HASH": "a#b",
        "DOUBLE": "quoted # not a comment",
        "SINGLE": "single $VAR",
        "ESCAPED": "line1\nline2",
        "EMPTY": "",
        "EQUALS": "a=b",
    }


def test_env_file_error_names_file_and_line() -> None:
    with pytest.raises(ValueError, match=r"test\.env:2: expected KEY=VALUE"):
        parse_env_text("A=1\n= no name\n", "test.env")


# --- loading -------------------------------------------------------------------------

HEAD = "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata:\n  name: shop\nspec:\n"


def _load_one(folder: Path, body: str, environ: dict[str, str] | None = None) -> LoadedApp:
    (folder / "app.yaml").write_text(HEAD + body, encoding="utf-8")
    result = load_paths([folder / "app.yaml"], environ=environ or {})
    assert len(result.apps) == 1
    return result.apps[0]


def test_env_entries_override_env_files(tmp_path: Path) -> None:
    (tmp_path / "web.env").write_text("A=from-file\nB=from-file\n")
    (tmp_path / "more.env").write_text("B=from-more\nC=from-more\n")

    loaded = _load_one(
        tmp_path,
        "  services:\n"
        "    - name: web\n"
        "      image: busybox\n"
        "      envFiles: [web.env, more.env]\n"
        "      env: [{name: A, value: from-entry}]\n",
    )

    assert dict(loaded.service_env("web")) == {
        "A": "from-entry",
        "B": "from-more",
        "C": "from-more",
    }


def test_process_env_overrides_dot_env_for_interpolation(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TAG=from-dotenv\nLOG_LEVEL=debug\n")

    loaded = _load_one(
        tmp_path,
        "  services:\n"
        "    - name: web\n"
        "      image: 'shop/web:${TAG}'\n"
        "      env: [{name: LOG_LEVEL, value: '${LOG_LEVEL:-info}'}]\n",
        environ={"TAG": "from-process"},
    )

    assert loaded.app.service("web").image == "shop/web:from-process"
    assert dict(loaded.service_env("web")) == {"LOG_LEVEL": "debug"}


def test_dot_env_is_not_service_env_unless_listed(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TAG=1\n")

    loaded = _load_one(tmp_path, "  services: [{name: web, image: busybox}]\n")

    assert loaded.service_env("web") == ()


def test_relative_paths_resolve_against_the_manifest_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "deploy"
    (folder / "web").mkdir(parents=True)
    (folder / "web" / "Dockerfile").write_text("FROM scratch\n")
    (folder / "web.env").write_text("A=1\n")
    (folder / "token").write_text("t0k3n")
    monkeypatch.chdir(tmp_path)  # the working directory must not matter

    loaded = _load_one(
        folder,
        "  services:\n"
        "    - name: web\n"
        "      image: web\n"
        "      build: {context: ./web}\n"
        "      envFiles: [web.env]\n"
        "      volumeMounts:\n"
        "        - {hostPath: ./config, mountPath: /etc/web}\n"
        "        - {hostPath: /var/log, mountPath: /logs}\n"
        "  secrets: [{name: tok, file: token}]\n",
    )

    web = loaded.app.service("web")
    assert web.build is not None
    assert web.build.context == str(folder.resolve() / "web")
    assert web.env_files == [str(folder.resolve() / "web.env")]
    assert [m.host_path for m in web.volume_mounts] == [
        str(folder.resolve() / "config"),
        "/var/log",
    ]
    assert loaded.app.spec.secrets[0].file == str(folder.resolve() / "token")
    assert loaded.base_dir == folder


def test_secrets_are_read_and_never_shown(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("file-secret-value")

    loaded = _load_one(
        tmp_path,
        "  services:\n"
        "    - name: web\n"
        "      image: busybox\n"
        "      secrets: [{name: from-file}, {name: from-env, mountPath: /etc/key, mode: '0440'}]\n"
        "  secrets:\n"
        "    - {name: from-file, file: token}\n"
        "    - {name: from-env, env: API_KEY}\n",
        environ={"API_KEY": "env-secret-value"},
    )

    assert loaded.secrets["from-file"].reveal() == b"file-secret-value"
    assert loaded.secrets["from-env"].reveal() == b"env-secret-value"
    mounts = {m.name: m for m in loaded.app.service("web").secrets}
    assert (mounts["from-file"].path, mounts["from-file"].mode) == ("/run/secrets/from-file", 0o400)
    assert (mounts["from-env"].path, mounts["from-env"].mode) == ("/etc/key", 0o440)
    # Secrets are not environment variables.
    assert loaded.service_env("web") == ()
    shown = repr(loaded) + str(loaded) + repr(loaded.secrets) + str(loaded.secrets["from-env"])
    assert "file-secret-value" not in shown
    assert "env-secret-value" not in shown


def test_spec_errors_never_show_secret_values(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("file-secret-value")
    (tmp_path / "app.yaml").write_text(
        HEAD + "  services:\n"
        "    - {name: web, image: busybox, replicas: -1, secrets: [{name: a}, {name: b}]}\n"
        "  secrets:\n"
        "    - {name: a, file: token}\n"
        "    - {name: b, env: API_KEY}\n",
        encoding="utf-8",
    )

    with pytest.raises(SpecError) as info:
        load_paths([tmp_path / "app.yaml"], environ={"API_KEY": "env-secret-value"})

    text = str(info.value) + repr(info.value) + repr(info.value.errors)
    assert "spec.services[web].replicas" in text
    assert "file-secret-value" not in text
    assert "env-secret-value" not in text


FULL_EXAMPLE = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata:
  name: shop
  labels: {team: web}
spec:
  placement:
    hostSelector: {matchLabels: {role: edge}}
  services:
    - name: web
      image: shop/web:1.4
      build:
        context: ./web
        dockerfile: Dockerfile
        target: runtime
        args: {VERSION: "1.4"}
      pullPolicy: IfNotPresent
      command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
      workingDir: /www
      user: "1000:1000"
      env:
        - {name: DATABASE_URL, value: "postgres://shop@db:5432/shop"}
        - {name: LOG_LEVEL, value: "${LOG_LEVEL:-info}"}
      envFiles: [.env]
      secrets:
        - {name: api-token, mountPath: /run/secrets/api-token}
      ports:
        - {target: 8080, published: 8080, hostIP: 127.0.0.1, protocol: tcp}
      volumeMounts:
        - {volume: uploads, mountPath: /srv/uploads}
        - {hostPath: ./config, mountPath: /etc/web, readOnly: true}
        - {tmpfs: {size: 64Mi}, mountPath: /tmp}
      networks:
        - {name: backend, aliases: [web]}
      healthcheck:
        test: ["CMD", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]
        interval: 10s
        timeout: 3s
        retries: 3
        startPeriod: 5s
      restart: unless-stopped
      restartWhenUnhealthy: true
      replicas: 1
      dependsOn:
        - {service: db, condition: healthy}
      resources: {cpus: 0.5, memory: 256Mi}
      update: {order: start-first, parallelism: 1, delay: 5s, monitor: 30s, failureAction: rollback}
      stopGracePeriod: 10s
      labels: {tier: frontend}
    - name: db
      image: postgres:16
      volumeMounts: [{volume: data, mountPath: /var/lib/postgresql/data}]
      networks: [{name: backend}]
      healthcheck: {test: [CMD-SHELL, pg_isready], interval: 2s}
  volumes:
    - name: uploads
    - name: data
  networks:
    - name: backend
  secrets:
    - name: api-token
      file: ./secrets/api-token
---
apiVersion: dockyard.dev/v1alpha1
kind: DockerHost
metadata:
  name: edge-17
  labels: {role: edge, site: lyon}
spec:
  url: tcp://10.0.0.17:2376
  tls: {caFile: ca.pem, certFile: cert.pem, keyFile: key.pem}
"""


def test_the_full_manifest_example_loads(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text("FROM scratch AS runtime\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "api-token").write_text("tok")
    (tmp_path / ".env").write_text("# shared\nLOG_LEVEL=warn\nREGION=eu\n")
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("pem")
    (tmp_path / "shop.yaml").write_text(FULL_EXAMPLE, encoding="utf-8")

    result = load_paths([tmp_path / "shop.yaml"], environ={})

    [loaded] = result.apps
    [host] = result.hosts
    app = loaded.app
    assert isinstance(app, App) and isinstance(host, DockerHost)
    web = app.service("web")
    assert web.pull_policy == "IfNotPresent"
    assert web.user == "1000:1000"
    assert web.ports[0].host_ip == "127.0.0.1"
    assert [m.kind for m in web.volume_mounts] == ["volume", "bind", "tmpfs"]
    assert web.volume_mounts[2].tmpfs is not None
    assert web.volume_mounts[2].tmpfs.size == 64 * MI
    assert web.healthcheck is not None
    assert (web.healthcheck.interval, web.healthcheck.start_period) == (10.0, 5.0)
    assert web.resources is not None and web.resources.memory == 256 * MI
    assert web.stop_grace_period == 10.0
    assert web.depends_on[0].condition == "healthy"
    # Accepted now, honoured by later features (controller, rollouts, many hosts).
    assert web.restart_when_unhealthy is True
    assert web.update is not None and web.update.order == "start-first"
    assert app.spec.placement is not None
    assert app.spec.placement.host_selector is not None
    assert app.spec.placement.host_selector.match_labels == {"role": "edge"}
    # `.env` feeds both interpolation and, because it is listed in envFiles, the service.
    assert dict(loaded.service_env("web")) == {
        "LOG_LEVEL": "warn",
        "REGION": "eu",
        "DATABASE_URL": "postgres://shop@db:5432/shop",
    }
    assert loaded.secrets["api-token"].reveal() == b"tok"
    assert host.metadata.name == "edge-17"
    assert host.spec.url == "tcp://10.0.0.17:2376"
    assert host.spec.tls is not None
    assert host.spec.tls.ca_file == str(tmp_path.resolve() / "ca.pem")


def test_a_file_can_hold_several_apps_and_hosts(tmp_path: Path) -> None:
    docs = [
        HEAD + "  services: [{name: web, image: busybox}]\n",
        HEAD.replace("shop", "blog") + "  services: [{name: web, image: busybox}]\n",
        "apiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\nmetadata: {name: local}\n"
        "spec: {url: 'unix:///var/run/docker.sock'}\n",
        "apiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\nmetadata: {name: edge}\n"
        "spec: {agent: {id: edge-17}}\n",
    ]
    (tmp_path / "all.yaml").write_text("---\n".join(docs), encoding="utf-8")

    result = load_paths([tmp_path / "all.yaml"], environ={})

    assert [a.name for a in result.apps] == ["shop", "blog"]
    assert [h.metadata.name for h in result.hosts] == ["local", "edge"]
    assert result.hosts[1].spec.agent is not None
    assert result.hosts[1].spec.agent.id == "edge-17"


def test_a_folder_loads_every_manifest_in_it(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(HEAD + "  services: [{name: web, image: busybox}]\n")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "b.yml").write_text(
        HEAD.replace("shop", "blog") + "  services: [{name: web, image: busybox}]\n"
    )

    result = load_paths([tmp_path], environ={})

    assert sorted(a.name for a in result.apps) == ["blog", "shop"]


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    loaded = _load_one(tmp_path, "  services: [{name: web, image: busybox}]\n")

    web = loaded.app.service("web")
    assert web.replicas == 1
    assert web.restart == "no"
    assert web.pull_policy == "IfNotPresent"
    assert web.network_mode is None and web.networks == []
    assert web.restart_when_unhealthy is False
    assert web.update is None and web.placement is None


def test_kubernetes_metadata_is_tolerated(tmp_path: Path) -> None:
    loaded = _load_one(
        tmp_path,
        "  services: [{name: web, image: busybox}]\n",
    )
    text = (
        "apiVersion: dockyard.dev/v1alpha1\nkind: App\n"
        "metadata: {name: shop, uid: abc, resourceVersion: '7', generation: 3}\n"
        "spec: {services: [{name: web, image: busybox}]}\n"
    )
    (tmp_path / "app.yaml").write_text(text)

    [from_k8s] = load_paths([tmp_path / "app.yaml"], environ={}).apps

    assert from_k8s.app.metadata.generation == 3
    assert from_k8s.app.spec == loaded.app.spec


def test_yaml_octal_mode_is_read_as_octal(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("x")

    loaded = _load_one(
        tmp_path,
        "  services:\n"
        "    - {name: web, image: busybox, secrets: [{name: t, mode: 0440}]}\n"
        "  secrets: [{name: t, file: token}]\n",
    )

    assert loaded.app.service("web").secrets[0].mode == 0o440


def test_interpolated_numbers_are_validated_as_numbers(tmp_path: Path) -> None:
    loaded = _load_one(
        tmp_path,
        "  services:\n"
        "    - name: web\n"
        "      image: busybox\n"
        "      replicas: '${REPLICAS:-2}'\n"
        "      stopGracePeriod: '${GRACE:-1m}'\n",
        environ={"REPLICAS": "3"},
    )

    web = loaded.app.service("web")
    assert (web.replicas, web.stop_grace_period) == (3, 60.0)


def test_start_first_with_a_published_port_runs_stop_first_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata: {name: shop}\nspec:\n"
        "  services:\n"
        "    - name: web\n      image: busybox\n"
        "      ports: [{target: 80, published: 8080}]\n"
        "      update: {order: start-first}\n"
        "    - name: api\n      image: busybox\n"
        "      ports: [{target: 80}]\n"
        "      update: {order: start-first}\n"
    )
    result = load_paths([tmp_path / "app.yaml"], environ={})
    [warning] = result.warnings
    assert "spec.services[web].update.order" in warning and "8080" in warning
    assert "stop-first is used" in warning
    from dockyard.plan.desired import desired_app

    desired = desired_app(result.apps[0], {})
    assert desired.updates["web"].order == "stop-first"
    assert desired.updates["api"].order == "start-first"  # no host port: both can run


def test_an_app_dumped_as_a_revision_stores_it_validates_again() -> None:
    """A rollback reads back the App a revision stored whole (defaults included): a file or
    Kubernetes secret with the default timeout is no `timeout` on a non-command secret."""
    app = App.model_validate(
        {
            "apiVersion": "dockyard.dev/v1alpha1",
            "kind": "App",
            "metadata": {"name": "shop"},
            "spec": {
                "services": [{"name": "web", "image": "x", "secrets": [{"name": "a"}]}],
                "secrets": [
                    {"name": "a", "file": "a.txt"},
                    {"name": "b", "kubernetesSecret": {"name": "creds", "key": "k"}},
                ],
            },
        }
    )
    stored = app.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert App.model_validate(stored) == app
    stored["spec"]["secrets"][0]["timeout"] = 5.0  # a real mistake is still refused
    with pytest.raises(ValueError, match="timeout and refresh are for command secrets"):
        App.model_validate(stored)
