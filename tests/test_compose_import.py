"""Compose import (issue 5): the corpus of real Compose files, and focused unit tests.

No Docker needed. The corpus lives in `../shared/compose-corpus/` beside the repository (or
wherever DOCKYARD_COMPOSE_CORPUS points); its expectations below were written by reading the
Compose files, not the importer's output.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from dockyard.spec.compose import (
    ComposeImport,
    import_compose,
    is_compose_document,
    load_compose_yaml,
    to_dns_label,
)
from dockyard.spec.errors import FieldError, SpecError
from dockyard.spec.interpolate import interpolate_tree
from dockyard.spec.load import load_text
from dockyard.spec.models import App, Service
from dockyard.spec.validate import validate_app

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(
    os.environ.get("DOCKYARD_COMPOSE_CORPUS") or REPO_ROOT.parent / "shared" / "compose-corpus"
)
CORPUS_FILES = sorted(CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []
needs_corpus = pytest.mark.skipif(
    not CORPUS_FILES,
    reason=f"Compose corpus not found at {CORPUS} (copy shared/ beside the clone or set "
    "DOCKYARD_COMPOSE_CORPUS)",
)
HOME = "/home/tester"


# ---------------------------------------------------------------------------------------------
# Helpers


def to_model(result: ComposeImport) -> App:
    """Validate as `dockyard apply` would, minus file resolution: interpolate, model, checks."""
    errors: list[FieldError] = []
    doc = dict(result.app)
    doc["spec"] = interpolate_tree(doc["spec"], {}, "spec", errors)
    assert errors == []
    app = App.model_validate(doc)
    assert validate_app(app) == []
    return app


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def imp(tmp_path: Path, text: str, **kwargs: Any) -> ComposeImport:
    file = write(tmp_path, "compose.yaml", text)
    kwargs.setdefault("environ", {"HOME": HOME})
    return import_compose([file], **kwargs)


def svc(tmp_path: Path, text: str, name: str = "web", **kwargs: Any) -> Service:
    return to_model(imp(tmp_path, text, **kwargs)).service(name)


def paths(result: ComposeImport) -> set[str]:
    return {w.path for w in result.warnings}


# ---------------------------------------------------------------------------------------------
# The corpus: every file imports into a valid App, or fails naming the key


# Files that cannot import as they are, and the key the error must name.
EXPECTED_FAILURES = {"plex.yaml": "services.plex.volumes[0]"}


@needs_corpus
@pytest.mark.parametrize("file", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_file_imports_or_names_the_problem(file: Path) -> None:
    if file.name in EXPECTED_FAILURES:
        with pytest.raises(SpecError) as info:
            import_compose([file], environ={"HOME": HOME})
        assert EXPECTED_FAILURES[file.name] in str(info.value)
        return
    result = import_compose([file], environ={"HOME": HOME})
    app = to_model(result)
    # Every Compose service is there, under its Compose name.
    raw = yaml.safe_load(file.read_text())
    assert [s.name for s in app.spec.services] == list(raw["services"])
    # The YAML it writes is the same document, with a header comment.
    text = result.to_yaml()
    assert text.startswith("# Imported from Compose")
    assert yaml.safe_load(text) == result.app
    for warning in result.warnings:
        assert warning.path in text


@dataclass
class Svc:
    """What a service must mean after import. Unset fields are not checked."""

    image: str | None = None
    build: tuple[str, str | None] | None = None  # (context, target)
    build_args: dict[str, str] | None = None
    command: list[str] | None = None
    ports: list[tuple[int | None, int]] | None = None  # (published, target)
    # mountPath -> (kind, source, readOnly); source is a volume name or a host path.
    mounts: dict[str, tuple[str, str | None, bool]] | None = None
    networks: list[str] | None = None
    network_mode: str | None = None
    env: dict[str, str] | None = None
    secrets: list[str] | None = None
    health: dict[str, Any] | None = None
    restart: str = "no"
    depends: dict[str, str] = field(default_factory=dict)
    hostname: str | None = None
    stop_signal: str | None = None
    memory: int | None = None


@dataclass
class Case:
    services: dict[str, Svc]
    volumes: set[str] = field(default_factory=set)
    networks: set[str] = field(default_factory=set)
    secrets: dict[str, str] = field(default_factory=dict)  # name -> file
    warnings: set[str] = field(default_factory=set)
    environ: dict[str, str] = field(default_factory=dict)
    app_name: str | None = None


MYSQL_HEALTH = {
    "test": [
        "CMD-SHELL",
        'mysqladmin ping -h 127.0.0.1 --password="$(cat /run/secrets/db-password)" --silent',
    ],
    "interval": 3.0,
    "retries": 5,
    "start_period": 30.0,
}
MARIADB_CMD = ["--default-authentication-plugin=mysql_native_password"]
MARIADB_ENV = {"MYSQL_DATABASE": "example", "MYSQL_ROOT_PASSWORD_FILE": "/run/secrets/db-password"}
DB_DATA = {"/var/lib/mysql": ("volume", "db-data", False)}
PASSWORD_FILE = {"db-password": "db/password.txt"}

CASES: dict[str, Case] = {
    "angular.yaml": Case(
        {
            "web": Svc(
                build=("angular", "builder"),
                ports=[(4200, 4200)],
                mounts={
                    "/project": ("bind", "angular", False),
                    "/project/node_modules": ("anonymous", None, False),
                },
            )
        }
    ),
    "aspnet-mssql.yaml": Case(
        {
            "web": Svc(build=("app/aspnetapp", None), ports=[(80, 80)]),
            "db": Svc(
                image="mcr.microsoft.com/azure-sql-edge:1.0.4",
                env={"ACCEPT_EULA": "Y", "SA_PASSWORD": "example_123"},
                restart="always",
                health={
                    "test": [
                        "CMD-SHELL",
                        "/opt/mssql-tools/bin/sqlcmd -S localhost -U sa -P example_123 "
                        "-Q 'SELECT 1' || exit 1",
                    ],
                    "interval": 10.0,
                    "retries": 10,
                    "start_period": 10.0,
                    "timeout": 3.0,
                },
            ),
        }
    ),
    "fastapi.yaml": Case(
        {"api": Svc(build=(".", "builder"), env={"PORT": "8000"}, ports=[(8000, 8000)])},
    ),
    "flask-redis.yaml": Case(
        {
            "redis": Svc(image="redislabs/redismod", ports=[(6379, 6379)]),
            "web": Svc(
                build=(".", "builder"),
                stop_signal="SIGINT",
                ports=[(8000, 8000)],
                mounts={"/code": ("bind", ".", False)},
                depends={"redis": "started"},
            ),
        }
    ),
    "minecraft.yaml": Case(
        {
            "minecraft": Svc(
                image="itzg/minecraft-server",
                ports=[(25565, 25565)],
                env={"EULA": "TRUE"},
                memory=int(1.5 * 1024**3),
                mounts={"/data": ("bind", f"{HOME}/minecraft_data", False)},
            )
        }
    ),
    "nextcloud-postgres.yaml": Case(
        {
            "nc": Svc(
                image="nextcloud:apache",
                env={
                    "POSTGRES_HOST": "db",
                    "POSTGRES_PASSWORD": "nextcloud",
                    "POSTGRES_DB": "nextcloud",
                    "POSTGRES_USER": "nextcloud",
                },
                ports=[(80, 80)],
                restart="always",
                mounts={"/var/www/html": ("volume", "nc_data", False)},
            ),
            "db": Svc(
                image="postgres:alpine",
                env={
                    "POSTGRES_PASSWORD": "nextcloud",
                    "POSTGRES_DB": "nextcloud",
                    "POSTGRES_USER": "nextcloud",
                },
                restart="always",
                ports=[],
                mounts={"/var/lib/postgresql/data": ("volume", "db_data", False)},
            ),
        },
        volumes={"db_data", "nc_data"},
    ),
    "nginx-aspnet-mysql.yaml": Case(
        {
            "backend": Svc(
                build=("backend", None),
                restart="always",
                secrets=["db-password"],
                depends={"db": "healthy"},
                env={"ASPNETCORE_URLS": "http://+:8000"},
            ),
            "db": Svc(
                image="mariadb:10-focal",
                command=MARIADB_CMD,
                restart="always",
                health=MYSQL_HEALTH,
                secrets=["db-password"],
                mounts=DB_DATA,
                env=MARIADB_ENV,
            ),
            "proxy": Svc(build=("proxy", None), ports=[(80, 80)], depends={"backend": "started"}),
        },
        volumes={"db-data"},
        secrets=PASSWORD_FILE,
    ),
    "nginx-flask-mongo.yaml": Case(
        {
            "web": Svc(
                image="nginx",
                mounts={"/tmp/nginx.conf": ("bind", "nginx/nginx.conf", False)},
                env={"FLASK_SERVER_ADDR": "backend:9091"},
                command=[
                    "/bin/bash",
                    "-c",
                    "envsubst < /tmp/nginx.conf > /etc/nginx/conf.d/default.conf "
                    "&& nginx -g 'daemon off;'",
                ],
                ports=[(80, 80)],
                depends={"backend": "started"},
            ),
            "backend": Svc(
                build=("flask", "builder"),
                stop_signal="SIGINT",
                env={"FLASK_SERVER_PORT": "9091"},
                mounts={"/src": ("bind", "flask", False)},
                depends={"mongo": "started"},
            ),
            "mongo": Svc(image="mongo", ports=[], mounts={}),
        }
    ),
    "nginx-flask-mysql.yaml": Case(
        {
            "db": Svc(
                image="mariadb:10-focal",
                command=MARIADB_CMD,
                restart="always",
                health=MYSQL_HEALTH,
                secrets=["db-password"],
                mounts=DB_DATA,
                networks=["backnet"],
                env=MARIADB_ENV,
                ports=[],
            ),
            "backend": Svc(
                build=("backend", "builder"),
                restart="always",
                secrets=["db-password"],
                ports=[(8000, 8000)],
                networks=["backnet", "frontnet"],
                depends={"db": "healthy"},
            ),
            "proxy": Svc(
                build=("proxy", None),
                restart="always",
                ports=[(80, 80)],
                depends={"backend": "started"},
                networks=["frontnet"],
            ),
        },
        volumes={"db-data"},
        networks={"backnet", "frontnet"},
        secrets=PASSWORD_FILE,
    ),
    "nginx-golang-mysql.yaml": Case(
        {
            "backend": Svc(
                build=("backend", "builder"), secrets=["db-password"], depends={"db": "healthy"}
            ),
            "db": Svc(
                image="mariadb:10-focal",
                command=MARIADB_CMD,
                restart="always",
                health=MYSQL_HEALTH,
                secrets=["db-password"],
                mounts=DB_DATA,
                env=MARIADB_ENV,
            ),
            "proxy": Svc(
                image="nginx",
                mounts={
                    "/etc/nginx/conf.d/default.conf": ("bind", "proxy/nginx.conf", True),
                },
                ports=[(80, 80)],
                depends={"backend": "started"},
            ),
        },
        volumes={"db-data"},
        secrets=PASSWORD_FILE,
    ),
    "nginx-nodejs-redis.yaml": Case(
        {
            "redis": Svc(image="redislabs/redismod", ports=[(6379, 6379)]),
            "web1": Svc(
                restart="on-failure", build=("web", None), hostname="web1", ports=[(81, 5000)]
            ),
            "web2": Svc(
                restart="on-failure", build=("web", None), hostname="web2", ports=[(82, 5000)]
            ),
            "nginx": Svc(
                build=("nginx", None),
                ports=[(80, 80)],
                depends={"web1": "started", "web2": "started"},
            ),
        }
    ),
    "nginx-wsgi-flask.yaml": Case(
        {
            "nginx-proxy": Svc(
                build=("nginx", None),
                restart="always",
                mounts={"/tmp/default.conf": ("bind", "nginx/default.conf", False)},
                env={"FLASK_SERVER_ADDR": "flask-app:8000"},
                ports=[(80, 80)],
                depends={"flask-app": "started"},
                health={
                    "test": [
                        "CMD-SHELL",
                        "curl --silent --fail localhost:80/health-check || exit 1",
                    ],
                    "interval": 10.0,
                    "timeout": 10.0,
                    "retries": 3,
                },
                command=["/app/start.sh"],
            ),
            "flask-app": Svc(
                build=("flask", None),
                restart="always",
                ports=[(8000, 8000)],
                health={
                    "test": [
                        "CMD-SHELL",
                        "curl --silent --fail localhost:8000/flask-health-check || exit 1",
                    ],
                    "interval": 10.0,
                    "timeout": 10.0,
                    "retries": 3,
                },
                command=["gunicorn", "-w", "3", "-t", "60", "-b", "0.0.0.0:8000", "app:app"],
            ),
        }
    ),
    "plex.yaml": Case(
        {
            "plex": Svc(
                image="linuxserver/plex",
                network_mode="host",
                env={"VERSION": "docker"},
                restart="always",
                mounts={"/media/": ("bind", "/srv/media", False)},
                ports=[],
            )
        },
        environ={"PLEX_MEDIA_PATH": "/srv/media"},
    ),
    "postgresql-pgadmin.yaml": Case(
        {
            "postgres": Svc(
                image="postgres:latest",
                env={"POSTGRES_USER": "shop", "POSTGRES_PASSWORD": "pw1", "POSTGRES_DB": "shop"},
                ports=[(5432, 5432)],
                restart="always",
            ),
            "pgadmin": Svc(
                image="dpage/pgadmin4:latest",
                env={"PGADMIN_DEFAULT_EMAIL": "a@example.org", "PGADMIN_DEFAULT_PASSWORD": "pw2"},
                ports=[(5050, 80)],
                restart="always",
            ),
        },
        environ={
            "POSTGRES_USER": "shop",
            "POSTGRES_PW": "pw1",
            "POSTGRES_DB": "shop",
            "PGADMIN_MAIL": "a@example.org",
            "PGADMIN_PW": "pw2",
        },
    ),
    "react-express-mysql.yaml": Case(
        {
            "backend": Svc(
                build=("backend", "development"),
                build_args={"NODE_ENV": "development"},
                command=["npm", "run", "start-watch"],
                env={
                    "DATABASE_DB": "example",
                    "DATABASE_USER": "root",
                    "DATABASE_PASSWORD": "/run/secrets/db-password",
                    "DATABASE_HOST": "db",
                    "NODE_ENV": "development",
                },
                ports=[(80, 80), (9229, 9229), (9230, 9230)],
                secrets=["db-password"],
                mounts={
                    "/code/src": ("bind", "backend/src", True),
                    "/code/package.json": ("bind", "backend/package.json", False),
                    "/code/package-lock.json": ("bind", "backend/package-lock.json", False),
                    "/opt/app/node_modules": ("volume", "back-notused", False),
                },
                networks=["private", "public"],  # Compose's primary network first: by name
                depends={"db": "started"},
            ),
            "db": Svc(
                image="mariadb:10.6.4-focal",
                command=MARIADB_CMD,
                restart="always",
                secrets=["db-password"],
                mounts=DB_DATA,
                networks=["private"],
                env=MARIADB_ENV,
            ),
            "frontend": Svc(
                build=("frontend", "development"),
                ports=[(3000, 3000)],
                mounts={
                    "/code/src": ("bind", "frontend/src", False),
                    "/code/node_modules": ("anonymous", None, False),
                },
                networks=["public"],
                depends={"backend": "started"},
            ),
        },
        volumes={"back-notused", "db-data"},
        networks={"public", "private"},
        secrets=PASSWORD_FILE,
    ),
    "react-java-mysql.yaml": Case(
        {
            "backend": Svc(
                build=("backend", None),
                restart="always",
                secrets=["db-password"],
                env={"MYSQL_HOST": "db"},
                networks=["react-spring", "spring-mysql"],
                depends={"db": "healthy"},
            ),
            "db": Svc(
                image="mariadb:10.6.4-focal",
                env=MARIADB_ENV,
                restart="always",
                health={
                    "test": ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1", "--silent"],
                    "interval": 3.0,
                    "retries": 5,
                    "start_period": 30.0,
                },
                secrets=["db-password"],
                mounts=DB_DATA,
                networks=["spring-mysql"],
            ),
            "frontend": Svc(
                build=("frontend", "development"),
                ports=[(3000, 3000)],
                mounts={
                    "/code/src": ("bind", "frontend/src", False),
                    "/project/node_modules": ("anonymous", None, False),
                },
                networks=["react-spring"],
                depends={"backend": "started"},
            ),
        },
        volumes={"db-data"},
        networks={"react-spring", "spring-mysql"},
        secrets=PASSWORD_FILE,
    ),
    "react-rust-postgres.yaml": Case(
        {
            "frontend": Svc(
                build=("frontend", "development"),
                networks=["client-side"],
                ports=[(3000, 3000)],
                mounts={"/code/src": ("bind", "frontend/src", True)},
            ),
            "backend": Svc(
                build=("backend", "development"),
                env={
                    "ADDRESS": "0.0.0.0:8000",
                    "RUST_LOG": "debug",
                    "PG_DBNAME": "postgres",
                    "PG_HOST": "db",
                    "PG_USER": "postgres",
                    "PG_PASSWORD": "mysecretpassword",
                },
                networks=["client-side", "server-side"],
                mounts={
                    "/code/src": ("bind", "backend/src", False),
                    "/code/target": ("volume", "backend-cache", False),
                },
                depends={"db": "started"},
            ),
            "db": Svc(
                image="postgres:12-alpine",
                restart="always",
                env={"POSTGRES_PASSWORD": "mysecretpassword"},
                networks=["server-side"],
                ports=[(5432, 5432)],
                mounts={"/var/lib/postgresql/data": ("volume", "db-data", False)},
            ),
        },
        volumes={"backend-cache", "db-data"},
        networks={"client-side", "server-side"},
        app_name="react-rust-postgres",
    ),
    "spring-postgres.yaml": Case(
        {
            "backend": Svc(
                build=("backend", None),
                ports=[(8080, 8080)],
                env={"POSTGRES_DB": "example"},
                networks=["spring-postgres"],
            ),
            "db": Svc(
                image="postgres",
                restart="always",
                secrets=["db-password"],
                mounts={"/var/lib/postgresql/data": ("volume", "db-data", False)},
                networks=["spring-postgres"],
                env={
                    "POSTGRES_DB": "example",
                    "POSTGRES_PASSWORD_FILE": "/run/secrets/db-password",
                },
            ),
        },
        volumes={"db-data"},
        networks={"spring-postgres"},
        secrets=PASSWORD_FILE,
    ),
    "wasmedge-mysql-nginx.yaml": Case(
        {
            "frontend": Svc(
                image="nginx:alpine",
                ports=[(8090, 80)],
                mounts={"/usr/share/nginx/html": ("bind", "frontend", False)},
            ),
            "backend": Svc(
                image="demo-microservice",
                build=("backend", None),
                ports=[(8080, 8080)],
                env={
                    "DATABASE_URL": "mysql://root:whalehello@db:3306/mysql",
                    "RUST_BACKTRACE": "full",
                },
                restart="unless-stopped",
            ),
            "db": Svc(image="mariadb:10.9", env={"MYSQL_ROOT_PASSWORD": "whalehello"}),
        },
        warnings={"services.backend.platform"},  # runtime is carried
    ),
}


def _mount(m: Any) -> tuple[str, str | None, bool]:
    if m.kind == "volume":
        return ("volume", m.volume, m.read_only)
    if m.kind == "bind":
        return ("bind", str(PurePosixPath(m.host_path)), m.read_only)
    return (m.kind, None, m.read_only)


def check_service(got: Service, want: Svc) -> None:
    if want.image is not None:
        assert got.image == want.image
    if want.build is not None:
        assert got.build is not None
        assert PurePosixPath(got.build.context) == PurePosixPath(want.build[0])
        assert got.build.target == want.build[1]
    if want.build_args is not None:
        assert got.build is not None and got.build.args == want.build_args
    if want.command is not None:
        assert got.command == want.command
    if want.ports is not None:
        assert [(p.published, p.target) for p in got.ports] == want.ports
        assert all(p.protocol == "tcp" and p.host_ip is None for p in got.ports)
    if want.mounts is not None:
        expected = {
            k: (kind, src if kind != "bind" else str(PurePosixPath(src or "")), ro)
            for k, (kind, src, ro) in want.mounts.items()
        }
        assert {m.mount_path: _mount(m) for m in got.volume_mounts} == expected
    if want.networks is not None:
        assert [n.name for n in got.networks] == want.networks
    assert got.network_mode == want.network_mode
    if want.env is not None:
        assert {e.name: e.value for e in got.env} == want.env
    if want.secrets is not None:
        assert [s.name for s in got.secrets] == want.secrets
        assert all(s.path == f"/run/secrets/{s.name}" for s in got.secrets)
    if want.health is not None:
        assert got.healthcheck is not None
        assert got.healthcheck.model_dump(exclude_defaults=True) == want.health
    else:
        assert got.healthcheck is None
    assert got.restart == want.restart
    assert {d.service: d.condition for d in got.depends_on} == want.depends
    if want.hostname is not None:
        assert got.hostname == want.hostname
    assert got.stop_signal == want.stop_signal
    if want.memory is not None:
        assert got.resources is not None and got.resources.memory == want.memory


@needs_corpus
@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_meaning_survives(name: str) -> None:
    case = CASES[name]
    file = CORPUS / name
    if not file.is_file():
        pytest.skip(f"{name} is not in the corpus at {CORPUS}")
    result = import_compose([file], environ={"HOME": HOME, **case.environ})
    app = to_model(result)
    assert [s.name for s in app.spec.services] == list(case.services)
    for service_name, want in case.services.items():
        check_service(app.service(service_name), want)
    assert {v.name for v in app.spec.volumes} == case.volumes
    assert all(not v.external for v in app.spec.volumes)
    assert {n.name for n in app.spec.networks} == case.networks
    assert {s.name: s.file for s in app.spec.secrets} == case.secrets
    assert paths(result) == case.warnings
    if case.app_name is not None:
        assert app.name == case.app_name
    else:
        assert app.name == to_dns_label(CORPUS.name)


def test_expectations_cover_enough_of_the_corpus() -> None:
    assert len(CASES) >= 12


@needs_corpus
def test_strict_rejects_corpus_files_with_unsupported_keys() -> None:
    with pytest.raises(SpecError) as info:
        import_compose([CORPUS / "wasmedge-mysql-nginx.yaml"], environ={}, strict=True)
    assert "services.backend.platform" in str(info.value)
    # A file with no unsupported key passes strict mode.
    import_compose([CORPUS / "nginx-flask-mysql.yaml"], environ={}, strict=True)


# ---------------------------------------------------------------------------------------------
# Recognition, YAML, names


def test_is_compose_document() -> None:
    assert is_compose_document({"services": {"web": {"image": "x"}}})
    assert is_compose_document({"name": "x", "services": {}})
    assert not is_compose_document({"apiVersion": "dockyard.dev/v1alpha1", "kind": "App"})
    assert not is_compose_document({"services": {}, "kind": "App"})
    assert not is_compose_document({"services": ["web"]})
    assert not is_compose_document(["services"])
    assert not is_compose_document(None)


def test_yaml_is_read_as_compose_reads_it() -> None:
    doc = load_compose_yaml("a: 22:22\nb: no\nc: on\nd: 2024-01-01\ne: 0440\nf: 1.5\ng: true\n")
    assert doc == {
        "a": "22:22",
        "b": "no",
        "c": "on",
        "d": "2024-01-01",
        "e": 0o440,
        "f": 1.5,
        "g": True,
    }


def test_unquoted_port_and_restart_no(tmp_path: Path) -> None:
    s = svc(tmp_path, "services:\n  web:\n    image: x\n    restart: no\n    ports: [22:22]\n")
    assert s.restart == "no"
    assert [(p.published, p.target) for p in s.ports] == [(22, 22)]


@pytest.mark.parametrize(
    ("raw", "label"),
    [("web_app", "web-app"), ("Web.App", "web-app"), ("db-data", "db-data"), ("_x_", "x")],
)
def test_to_dns_label(raw: str, label: str) -> None:
    assert to_dns_label(raw) == label


def test_compose_names_are_kept_and_secret_names_converted(tmp_path: Path) -> None:
    result = imp(
        tmp_path,
        """
        services:
          web_app:
            image: x
            depends_on: {db_server: {condition: service_healthy}}
            networks: [back_end]
            volumes: [app_data:/data]
            secrets: [api_key]
          db_server:
            image: y
            healthcheck: {test: [CMD, "true"]}
        networks: {back_end: {}}
        volumes: {app_data: {}}
        secrets: {api_key: {file: ./key.txt}}
        """,
    )
    app = to_model(result)
    # Services, volumes and networks keep their Compose names (so do the engine objects).
    web = app.service("web_app")
    assert web.depends_on[0].service == "db_server"
    assert web.depends_on[0].condition == "healthy"
    assert web.networks[0].name == "back_end"
    assert web.volume_mounts[0].volume == "app_data"
    # A secret is renamed (DNS-1123) but keeps its Compose path.
    assert web.secrets[0].name == "api-key"
    assert web.secrets[0].path == "/run/secrets/api_key"
    db = app.service("db_server")
    assert db.networks == []
    assert {n.path for n in result.notes if "renamed" in n.message} == {"secrets.api_key"}
    assert result.warnings == []


def test_names_that_collide_after_conversion_fail(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="would both become 'api-key'"):
        imp(
            tmp_path,
            "services:\n  web: {image: x}\n"
            "secrets:\n  api_key: {file: ./a}\n  api-key: {file: ./b}\n",
        )


def test_project_name_sources(tmp_path: Path) -> None:
    folder = tmp_path / "My_Project.v2"
    folder.mkdir()
    file = write(folder, "compose.yaml", "services:\n  web: {image: x}\n")
    assert import_compose([file], environ={}).name == "my-projectv2"
    assert import_compose([file], environ={"COMPOSE_PROJECT_NAME": "env_name"}).name == "env-name"
    assert import_compose([file], environ={}, project_name="Given").name == "given"
    file.write_text("name: Shop_Front\nservices:\n  web: {image: x}\n")
    assert import_compose([file], environ={}).name == "shop-front"


# ---------------------------------------------------------------------------------------------
# Several files, extends, profiles


def test_override_merge_of_two_files(tmp_path: Path) -> None:
    base = write(
        tmp_path,
        "compose.yaml",
        """
        services:
          web:
            image: web:1
            command: ["httpd", "-f"]
            environment: {A: "1", B: "2"}
            labels: [tier=front]
            ports: ["8080:80"]
            volumes: ["data:/data", "./conf:/etc/web:ro"]
            healthcheck: {test: [CMD, a], interval: 5s, retries: 2}
            depends_on: [db]
          db: {image: db:1}
        volumes: {data: {}}
        """,
    )
    override = write(
        tmp_path,
        "compose.override.yaml",
        """
        services:
          web:
            image: web:2
            command: ["httpd", "-v"]
            environment: ["B=3", "C=4"]
            labels: {owner: me}
            ports: ["8443:443", "8080:80"]
            volumes: ["other:/data"]
            healthcheck: {test: [CMD, b]}
            depends_on: {db: {condition: service_healthy}}
          worker: {image: worker:1}
        volumes: {other: {}}
        """,
    )
    app = to_model(import_compose([base, override], environ={}))
    web = app.service("web")
    assert web.image == "web:2"
    assert web.command == ["httpd", "-v"]  # replaced, not appended
    assert {e.name: e.value for e in web.env} == {"A": "1", "B": "3", "C": "4"}
    assert web.labels == {"tier": "front", "owner": "me"}
    assert [(p.published, p.target) for p in web.ports] == [(8080, 80), (8443, 443)]
    mounts = {m.mount_path: (m.volume, m.host_path) for m in web.volume_mounts}
    assert mounts == {"/data": ("other", None), "/etc/web": (None, "./conf")}
    assert web.healthcheck is not None
    assert web.healthcheck.test == ["CMD", "b"] and web.healthcheck.interval == 5.0
    assert web.depends_on[0].condition == "healthy"
    assert [s.name for s in app.spec.services] == ["web", "db", "worker"]
    assert {v.name for v in app.spec.volumes} == {"data", "other"}


def test_reset_and_override_tags(tmp_path: Path) -> None:
    base = write(
        tmp_path,
        "compose.yaml",
        "services:\n  web:\n    image: x\n    ports: ['80:80']\n    environment: {A: '1'}\n",
    )
    over = write(
        tmp_path,
        "over.yaml",
        "services:\n  web:\n    ports: !override ['81:81']\n    environment: !reset {}\n",
    )
    web = to_model(import_compose([base, over], environ={})).service("web")
    assert [(p.published, p.target) for p in web.ports] == [(81, 81)]
    assert web.env == []


def test_extends_same_file_and_other_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "common/base.yaml",
        """
        services:
          base:
            image: base:1
            build: {context: ./app, target: prod}
            env_file: [./common.env]
            volumes: ["./static:/static:ro"]
            environment: {LEVEL: info}
        """,
    )
    result = imp(
        tmp_path,
        """
        services:
          tmpl:
            image: tmpl:1
            restart: always
            environment: {A: "1"}
          web:
            extends: tmpl
            environment: {B: "2"}
          api:
            extends: {file: common/base.yaml, service: base}
            environment: {LEVEL: debug}
        """,
    )
    app = to_model(result)
    web = app.service("web")
    assert web.image == "tmpl:1" and web.restart == "always"
    assert {e.name: e.value for e in web.env} == {"A": "1", "B": "2"}
    api = app.service("api")
    assert api.image == "base:1"
    # Paths of the extended service are relative to its own file's folder.
    assert api.build is not None
    assert PurePosixPath(api.build.context) == PurePosixPath("common/app")
    assert api.build.target == "prod"
    assert [PurePosixPath(p) for p in api.env_files] == [PurePosixPath("common/common.env")]
    assert api.volume_mounts[0].host_path is not None
    assert PurePosixPath(api.volume_mounts[0].host_path) == PurePosixPath("common/static")
    assert api.volume_mounts[0].read_only
    assert {e.name: e.value for e in api.env} == {"LEVEL": "debug"}


def test_extends_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"services\.web\.extends\.service"):
        imp(tmp_path, "services:\n  web: {extends: nope, image: x}\n")
    with pytest.raises(SpecError, match="loops back"):
        imp(tmp_path, "services:\n  a: {extends: b, image: x}\n  b: {extends: a}\n")


PROFILES = """
services:
  web: {image: web}
  debug: {image: debug, profiles: [debug]}
  tools: {image: tools, profiles: [tools, ops]}
"""


def test_profiles(tmp_path: Path) -> None:
    def names(**kwargs: Any) -> list[str]:
        return [s.name for s in to_model(imp(tmp_path, PROFILES, **kwargs)).spec.services]

    assert names() == ["web"]
    assert names(profiles=["debug"]) == ["web", "debug"]
    assert names(profiles=["ops"]) == ["web", "tools"]
    assert names(environ={"COMPOSE_PROFILES": "debug,tools"}) == ["web", "debug", "tools"]
    assert "services.debug" in {n.path for n in imp(tmp_path, PROFILES).notes}


def test_dependency_on_a_disabled_profile_fails(tmp_path: Path) -> None:
    text = "services:\n  web: {image: w, depends_on: [db]}\n  db: {image: d, profiles: [db]}\n"
    with pytest.raises(SpecError, match=r"services\.web\.depends_on\.db"):
        imp(tmp_path, text)
    assert [s.name for s in to_model(imp(tmp_path, text, profiles=["db"])).spec.services] == [
        "web",
        "db",
    ]


# ---------------------------------------------------------------------------------------------
# Interpolation


def test_dollar_dollar_escaping_survives_a_load(tmp_path: Path) -> None:
    result = imp(
        tmp_path,
        """
        services:
          web:
            image: x
            command: sh -c 'echo $$HOME and ${GREETING}'
            environment: {PRICE: "$$5"}
        """,
        environ={"GREETING": "hi"},
    )
    web = result.app["spec"]["services"][0]
    # The manifest is interpolated again when loaded: literal dollars are written `$$`.
    assert web["command"] == ["sh", "-c", "echo $$HOME and hi"]
    loaded = load_text(result.to_yaml(), "app.yaml", tmp_path, environ={"HOME": "/nope"})
    svc_model = loaded.apps[0].app.service("web")
    assert svc_model.command == ["sh", "-c", "echo $HOME and hi"]
    assert loaded.apps[0].service_env("web") == (("PRICE", "$5"),)


def test_dotenv_env_files_and_process_environment(tmp_path: Path) -> None:
    write(tmp_path, ".env", "TAG=from-dotenv\nPORT=8080\n")
    write(tmp_path, "prod.env", "TAG=from-env-file\n")
    write(tmp_path, "extra.env", "PORT=9090\n")
    text = "services:\n  web:\n    image: 'web:${TAG}'\n    ports: ['${PORT:-80}:80']\n"

    web = svc(tmp_path, text, environ={})
    assert web.image == "web:from-dotenv" and web.ports[0].published == 8080
    # --env-file replaces .env (as in Compose); later files win.
    env_files = [tmp_path / "prod.env", tmp_path / "extra.env"]
    web = svc(tmp_path, text, environ={}, env_files=env_files)
    assert web.image == "web:from-env-file" and web.ports[0].published == 9090
    # The process environment wins over both.
    web = svc(tmp_path, text, environ={"TAG": "shell"})
    assert web.image == "web:shell"


def test_required_variable_and_bad_env_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        imp(tmp_path, "services:\n  web:\n    image: ${IMAGE:?set the image}\n", environ={})
    assert "services.web.image" in str(info.value) and "IMAGE" in str(info.value)
    with pytest.raises(SpecError, match="--env-file"):
        imp(tmp_path, "services: {}\n", env_files=[tmp_path / "missing.env"])


def test_unset_variable_is_noted(tmp_path: Path) -> None:
    # (`x:${TAG}` would give `x:`, an invalid image reference, refused on its own.)
    result = imp(tmp_path, "services:\n  web:\n    image: 'x${SUFFIX}'\n", environ={})
    assert to_model(result).service("web").image == "x"
    assert any("SUFFIX" in n.message for n in result.notes)


# ---------------------------------------------------------------------------------------------
# Ports, volumes, environment


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("8080", [{"target": 8080}]),
        (8080, [{"target": 8080}]),
        ("8080:80", [{"target": 80, "published": 8080}]),
        ("127.0.0.1:8080:80", [{"target": 80, "published": 8080, "hostIP": "127.0.0.1"}]),
        ("127.0.0.1::80", [{"target": 80, "hostIP": "127.0.0.1"}]),
        ("[::1]:8080:80", [{"target": 80, "published": 8080, "hostIP": "::1"}]),
        ("8080:80/udp", [{"target": 80, "published": 8080, "protocol": "udp"}]),
        (
            "8000-8001:80-81",
            [{"target": 80, "published": 8000}, {"target": 81, "published": 8001}],
        ),
        ("3000-3001", [{"target": 3000}, {"target": 3001}]),
        (
            {"target": 80, "published": "8080", "host_ip": "127.0.0.1", "protocol": "udp"},
            [{"target": 80, "published": 8080, "hostIP": "127.0.0.1", "protocol": "udp"}],
        ),
        ({"target": 80, "mode": "host"}, [{"target": 80}]),
    ],
)
def test_ports(tmp_path: Path, port: Any, expected: list[dict[str, Any]]) -> None:
    doc = {"services": {"web": {"image": "x", "ports": [port]}}}
    result = imp(tmp_path, yaml.safe_dump(doc))
    assert result.app["spec"]["services"][0]["ports"] == expected
    assert result.warnings == []
    to_model(result)


@pytest.mark.parametrize("port", ["80:80:80:80", "abc", "8000-8002:80-81", "8080:80/icmp"])
def test_bad_ports(tmp_path: Path, port: str) -> None:
    doc = {"services": {"web": {"image": "x", "ports": [port]}}}
    with pytest.raises(SpecError, match=r"services\.web\.ports\[0\]"):
        imp(tmp_path, yaml.safe_dump(doc))


def test_volumes_short_and_long(tmp_path: Path) -> None:
    web = svc(
        tmp_path,
        """
        services:
          web:
            image: x
            volumes:
              - data:/data
              - data2:/ro-data:ro
              - ./rel:/rel
              - /abs:/abs:rw
              - ~/home:/home-dir
              - /anon
              - type: volume
                source: data
                target: /long-data
                read_only: true
              - type: bind
                source: ./conf
                target: /etc/conf
              - type: tmpfs
                target: /tmp
                tmpfs: {size: 64m, mode: 01777}
              - type: volume
                target: /long-anon
            tmpfs: ["/run:size=1m"]
        volumes: {data: {}, data2: {}}
        """,
    )
    got = {
        m.mount_path: (m.kind, m.volume or m.host_path, m.read_only, m.tmpfs)
        for m in web.volume_mounts
    }
    assert got["/data"] == ("volume", "data", False, None)
    assert got["/ro-data"] == ("volume", "data2", True, None)
    assert got["/rel"] == ("bind", "./rel", False, None)
    assert got["/abs"] == ("bind", "/abs", False, None)
    assert got["/home-dir"] == ("bind", f"{HOME}/home", False, None)
    assert got["/anon"][0] == "anonymous"
    assert got["/long-data"] == ("volume", "data", True, None)
    assert got["/etc/conf"] == ("bind", "./conf", False, None)
    assert got["/tmp"][0] == "tmpfs"
    tmpfs = got["/tmp"][3]
    assert tmpfs is not None and tmpfs.size == 64 * 2**20 and tmpfs.mode == 0o1777
    assert got["/long-anon"][0] == "anonymous"
    run = got["/run"][3]
    assert run is not None and run.size == 2**20


def test_undefined_volume_network_secret_service(tmp_path: Path) -> None:
    for body, where in [
        ("volumes: [nope:/data]", "services.web.volumes[0]"),
        ("networks: [nope]", "services.web.networks.nope"),
        ("secrets: [nope]", "services.web.secrets[0]"),
        ("depends_on: [nope]", "services.web.depends_on.nope"),
    ]:
        with pytest.raises(SpecError) as info:
            imp(tmp_path, f"services:\n  web:\n    image: x\n    {body}\n")
        assert where in str(info.value)


def test_environment_list_and_mapping(tmp_path: Path) -> None:
    text = """
    services:
      a:
        image: x
        environment: ["A=1", "B=", "C=x=y", "FROM_SHELL", "UNSET"]
      b:
        image: x
        environment: {A: 1, B: "", C: true, FROM_SHELL: null, UNSET: }
    """
    result = imp(tmp_path, text, environ={"FROM_SHELL": "shell"})
    app = to_model(result)
    assert {e.name: e.value for e in app.service("a").env} == {
        "A": "1",
        "B": "",
        "C": "x=y",
        "FROM_SHELL": "shell",
    }
    assert {e.name: e.value for e in app.service("b").env} == {
        "A": "1",
        "B": "",
        "C": "true",
        "FROM_SHELL": "shell",
    }
    assert "services.a.environment.UNSET" in {n.path for n in result.notes}


def test_env_file_forms(tmp_path: Path) -> None:
    write(tmp_path, "a.env", "A=1\n")
    web = svc(
        tmp_path,
        """
        services:
          web:
            image: x
            env_file:
              - a.env
              - path: ./b.env
                required: false
        """,
    )
    assert web.env_files == ["a.env"]
    web = svc(tmp_path, "services:\n  web: {image: x, env_file: a.env}\n")
    assert web.env_files == ["a.env"]


# ---------------------------------------------------------------------------------------------
# Healthchecks, commands, deploy, secrets and the rest


@pytest.mark.parametrize(
    ("healthcheck", "expected"),
    [
        (
            {"test": ["CMD", "wget", "-q", "http://x/"]},
            {"test": ["CMD", "wget", "-q", "http://x/"]},
        ),
        (
            {"test": ["CMD-SHELL", "curl -f x || exit 1"]},
            {"test": ["CMD-SHELL", "curl -f x || exit 1"]},
        ),
        ({"test": "curl -f x"}, {"test": ["CMD-SHELL", "curl -f x"]}),
        ({"test": ["NONE"]}, {"disable": True}),
        ({"disable": True}, {"disable": True}),
        (
            {
                "test": ["CMD", "true"],
                "interval": "1m30s",
                "timeout": "100ms",
                "start_period": "1.5s",
                "retries": 3,
            },
            {
                "test": ["CMD", "true"],
                "interval": 90.0,
                "timeout": 0.1,
                "start_period": 1.5,
                "retries": 3,
            },
        ),
    ],
)
def test_healthcheck_forms(
    tmp_path: Path, healthcheck: dict[str, Any], expected: dict[str, Any]
) -> None:
    doc = {"services": {"web": {"image": "x", "healthcheck": healthcheck}}}
    web = svc(tmp_path, yaml.safe_dump(doc))
    assert web.healthcheck is not None
    assert web.healthcheck.model_dump(exclude_defaults=True) == expected


def test_command_and_entrypoint(tmp_path: Path) -> None:
    web = svc(
        tmp_path,
        """
        services:
          web:
            image: x
            command: echo "hello world" 'a b' c\\ d
            entrypoint: ["/bin/sh", "-c"]
        """,
    )
    assert web.command == ["echo", "hello world", "a b", "c d"]
    assert web.entrypoint == ["/bin/sh", "-c"]


def test_build_forms(tmp_path: Path) -> None:
    web = svc(
        tmp_path,
        """
        services:
          web:
            build:
              context: ./app
              dockerfile: Dockerfile.prod
              target: runtime
              args: ["VERSION=1.4", "FROM_SHELL", "MISSING"]
          api:
            build:
              context: api
              args: {N: 3}
        """,
        environ={"FROM_SHELL": "yes"},
    )
    assert web.build is not None
    assert (web.build.context, web.build.dockerfile, web.build.target) == (
        "./app",
        "Dockerfile.prod",
        "runtime",
    )
    assert web.build.args == {"VERSION": "1.4", "FROM_SHELL": "yes"}
    api = svc(tmp_path, "services:\n  api: {build: {context: api, args: {N: 3}}}\n", name="api")
    assert api.build is not None and api.build.args == {"N": "3"}


def test_deploy(tmp_path: Path) -> None:
    result = imp(
        tmp_path,
        """
        services:
          web:
            image: x
            deploy:
              replicas: 3
              resources:
                limits: {cpus: "0.50", memory: 512m, pids: 100}
                reservations: {memory: 128M}
              restart_policy: {condition: on-failure, max_attempts: 3}
              update_config:
                parallelism: 2
                delay: 10s
                order: start-first
                failure_action: pause
                monitor: 30s
                max_failure_ratio: 0.25
          other:
            image: y
            restart: unless-stopped
            deploy: {restart_policy: {condition: any}}
          legacy:
            image: z
            mem_limit: 1gb
            cpus: 2
            scale: 2
        """,
    )
    app = to_model(result)
    web = app.service("web")
    assert web.replicas == 3
    assert web.resources is not None
    assert web.resources.cpus == 0.5 and web.resources.memory == 512 * 2**20
    assert web.resources.pids == 100 and web.resources.memory_reservation == 128 * 2**20
    assert web.restart == "on-failure:3"
    assert web.update is not None
    assert (web.update.parallelism, web.update.delay, web.update.order) == (2, 10.0, "start-first")
    assert (web.update.failure_action, web.update.monitor) == ("pause", 30.0)
    assert web.update.max_failure_ratio == 0.25
    assert app.service("other").restart == "unless-stopped"  # restart: wins over deploy
    legacy = app.service("legacy")
    assert legacy.resources is not None
    assert legacy.resources.memory == 2**30 and legacy.resources.cpus == 2.0
    assert legacy.replicas == 2
    assert result.warnings == []


@pytest.mark.parametrize(
    ("condition", "restart"),
    [("none", "no"), ("any", "always"), ("on-failure", "on-failure")],
)
def test_deploy_restart_policy(tmp_path: Path, condition: str, restart: str) -> None:
    doc = {
        "services": {"web": {"image": "x", "deploy": {"restart_policy": {"condition": condition}}}}
    }
    assert svc(tmp_path, yaml.safe_dump(doc)).restart == restart


def test_secrets(tmp_path: Path) -> None:
    app = to_model(
        imp(
            tmp_path,
            """
            services:
              web:
                image: x
                secrets:
                  - token
                  - source: other
                    target: renamed
                  - source: from_env
                    target: /etc/app/key
                    uid: "1000"
                    gid: "1000"
                    mode: 0440
            secrets:
              token: {file: ./secrets/token.txt}
              other: {file: ./secrets/other.txt}
              from_env: {environment: API_KEY}
            """,
        )
    )
    mounts = {s.path: (s.name, s.uid, s.gid, s.mode) for s in app.service("web").secrets}
    assert mounts == {
        "/run/secrets/token": ("token", None, None, 0o400),
        "/run/secrets/renamed": ("other", None, None, 0o400),
        "/etc/app/key": ("from-env", 1000, 1000, 0o440),
    }
    assert {s.name: (s.file, s.env) for s in app.spec.secrets} == {
        "token": ("./secrets/token.txt", None),
        "other": ("./secrets/other.txt", None),
        "from-env": (None, "API_KEY"),
    }


def test_external_secret_fails(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"secrets\.token"):
        imp(tmp_path, "services: {}\nsecrets:\n  token: {external: true}\n")


def test_networks_and_resources(tmp_path: Path) -> None:
    result = imp(
        tmp_path,
        """
        services:
          web:
            image: x
            networks:
              front:
                aliases: [www]
                ipv4_address: 172.28.0.10
              back:
          host:
            image: x
            network_mode: host
        networks:
          front:
            driver: bridge
            internal: false
            labels: [a=b]
            ipam: {config: [{subnet: 172.28.0.0/16}]}
          back: {internal: true}
          shared: {external: true}
          custom: {external: true, name: the-real-net}
        volumes:
          data: {driver: local, driver_opts: {type: none, o: bind, device: /srv}}
          ext: {external: true}
          named: {name: my-data}
        """,
    )
    app = to_model(result)
    web = app.service("web")
    assert [(n.name, n.aliases, n.ipv4_address) for n in web.networks] == [
        ("back", [], None),  # the primary network: Compose takes the first by name
        ("front", ["www"], "172.28.0.10"),
    ]
    assert app.service("host").network_mode == "host"
    nets = {n.name: n for n in app.spec.networks}
    assert nets["front"].labels == {"a": "b"} and nets["back"].internal
    assert nets["shared"].external and nets["the-real-net"].external
    vols = {v.name: v for v in app.spec.volumes}
    assert vols["data"].driver_opts == {"type": "none", "o": "bind", "device": "/srv"}
    assert vols["ext"].external
    assert vols["named"].engine_name == "my-data"  # `name:` is the engine name, as in Compose
    assert paths(result) == set()


def test_misc_service_keys(tmp_path: Path) -> None:
    web = svc(
        tmp_path,
        """
        services:
          web:
            image: x
            pull_policy: missing
            working_dir: /srv
            user: 1000
            hostname: web-host
            labels: {a: b}
            cap_add: [NET_ADMIN]
            cap_drop: [ALL]
            devices: ["/dev/fuse", "/dev/snd:/dev/snd:rw", {source: /dev/a, target: /dev/b}]
            read_only: true
            init: true
            privileged: false
            stop_grace_period: 1m30s
            stop_signal: SIGINT
        """,
    )
    assert web.pull_policy == "IfNotPresent"
    assert (web.working_dir, web.user, web.hostname) == ("/srv", "1000", "web-host")
    assert web.labels == {"a": "b"}
    assert (web.cap_add, web.cap_drop) == (["NET_ADMIN"], ["ALL"])
    assert [(d.host_path, d.container_path, d.permissions) for d in web.devices] == [
        ("/dev/fuse", None, "rwm"),
        ("/dev/snd", "/dev/snd", "rw"),
        ("/dev/a", "/dev/b", "rwm"),
    ]
    assert web.read_only and web.init and not web.privileged
    assert web.stop_grace_period == 90.0 and web.stop_signal == "SIGINT"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("always", "Always"),
        ("if_not_present", "IfNotPresent"),
        ("never", "Never"),
        ("build", "Never"),
    ],
)
def test_pull_policy(tmp_path: Path, policy: str, expected: str) -> None:
    doc = {"services": {"web": {"image": "x", "build": ".", "pull_policy": policy}}}
    assert svc(tmp_path, yaml.safe_dump(doc)).pull_policy == expected


# ---------------------------------------------------------------------------------------------
# Unsupported keys, strict mode, errors


UNSUPPORTED = """
version: "3.9"
x-common: &common {image: x}
services:
  web:
    <<: *common
    expose: [80]
    ports:
      - {target: 80, published: 8080, app_protocol: http}
    deploy:
      placement: {constraints: [node.role==manager]}
      resources: {reservations: {generic_resources: [{discrete_resource_spec: {kind: gpu}}]}}
    healthcheck: {test: [CMD, "true"], start_interval: 1s}
    totally_new_key: 1
  db: {image: y}
configs:
  app: {external: true}
"""


def test_unsupported_keys_are_listed(tmp_path: Path) -> None:
    result = imp(tmp_path, UNSUPPORTED)
    assert paths(result) == {
        "services.web.ports[0].app_protocol",
        "services.web.deploy.placement",
        "services.web.deploy.resources.reservations.generic_resources",
        "services.web.healthcheck.start_interval",
        "services.web.totally_new_key",
        "configs.app.external",
    }
    assert all(w.reason for w in result.warnings)
    notes = {n.path for n in result.notes}
    assert {"version", "x-common"} <= notes
    assert result.app["spec"]["services"][0]["expose"] == ["80"]
    text = result.to_yaml()
    header = text.split("apiVersion:")[0]
    for warning in result.warnings:
        assert warning.path in header
    to_model(result)


def test_strict_raises_listing_every_unsupported_key(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        imp(tmp_path, UNSUPPORTED, strict=True)
    assert len(info.value.errors) == 6
    assert "services.web.deploy.placement" in str(info.value)
    # expose is carried (exposed on the container, not published): strict passes.
    imp(tmp_path, "services:\n  web: {image: x, expose: [80]}\n", strict=True)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("services:\n  web: [\n", "line"),
        (
            "services:\n  web: {image: x, networks: [a], network_mode: host}\nnetworks: {a: {}}\n",
            "services.web.network_mode",
        ),
        ("services:\n  web: {command: ls}\n", "services.web"),
        ("services:\n  web: {image: x, command: 'echo \"oops'}\n", "services.web.command"),
        ("apiVersion: dockyard.dev/v1alpha1\nkind: App\n", "apiVersion"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(SpecError) as info:
        imp(tmp_path, text)
    assert where in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read Compose file"):
        import_compose([tmp_path / "nope.yaml"], environ={})


# ---------------------------------------------------------------------------------------------
# The written manifest loads, with its files in place


def test_written_manifest_loads(tmp_path: Path) -> None:
    write(tmp_path, "app/Dockerfile", "FROM scratch\n")
    write(tmp_path, "db/password.txt", "s3cret\n")
    write(tmp_path, "web.env", "MODE=prod\n")
    result = imp(
        tmp_path,
        """
        name: shop
        services:
          web_app:
            build: {context: ./app, target: runtime}
            env_file: web.env
            environment: [LEVEL=info]
            ports: ["127.0.0.1:8081:8080"]
            volumes: ["./app:/srv:ro", "uploads:/uploads"]
            secrets: [db_password]
            depends_on: {db: {condition: service_healthy}}
            networks: [back_end]
          db:
            image: db:1
            healthcheck: {test: "pg_isready", interval: 2s}
            networks: [back_end]
        volumes: {uploads: {}}
        networks: {back_end: {}}
        secrets: {db_password: {file: db/password.txt}}
        """,
    )
    out = tmp_path / "app.yaml"
    out.write_text(result.to_yaml())
    loaded = load_text(out.read_text(), str(out), tmp_path, environ={}).apps[0]
    assert loaded.name == "shop"
    web = loaded.app.service("web_app")
    assert web.build is not None and web.build.target == "runtime"
    assert dict(loaded.service_env("web_app")) == {"MODE": "prod", "LEVEL": "info"}
    assert loaded.secrets["db-password"].reveal() == b"s3cret\n"
    assert web.secrets[0].path == "/run/secrets/db_password"


def test_example_compose_file_imports_cleanly() -> None:
    example = REPO_ROOT / "examples" / "compose" / "compose.yaml"
    result = import_compose([example], environ={}, strict=True)
    app = to_model(result)
    assert {s.name for s in app.spec.services} == {"web", "worker"}
    assert all(s.image == "dockyard.local/busybox:latest" for s in app.spec.services)
    assert all(s.pull_policy == "Never" for s in app.spec.services)
    assert app.service("worker").depends_on[0].condition == "healthy"
    assert app.service("web").ports[0].host_ip == "127.0.0.1"
