"""Image references are checked when the spec is loaded, before any Docker call.

The grammar is distribution/reference's (what the engine and Compose parse with). An
invalid reference used to be found only when pulling, after other services had been
created and started.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from docker import DockerClient
from typer.testing import CliRunner

from dockyard.cli.main import app as cli
from dockyard.spec.compose import import_compose
from dockyard.spec.errors import SpecError
from dockyard.spec.imageref import reference_problem
from dockyard.spec.load import load_paths
from helpers import BASE_IMAGE


@pytest.mark.parametrize(
    "ref",
    [
        "busybox",
        "dockyard.local/busybox:latest",
        "localhost:5000/team/app:1.2",
        "[::1]:5000/app:1",
        "ghcr.io/org/img:v1.2-rc_1@sha256:" + "0" * 64,
        "web_app",
        "a__b.c-d---e",
        "Registry.Example.com/app",  # capitals are allowed in the registry part
        "app:" + "t" * 128,
    ],
)
def test_valid_references_pass(ref: str) -> None:
    assert reference_problem(ref) is None


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("apache/airflow:|version|", "tag '|version|' may only hold"),
        ("shop/web:", "the tag after ':' is empty"),
        ("Shop/Web:1", "must be lowercase"),
        ("UPPER", "must be lowercase"),
        ("a___b", "is not [registry[:port]/]path"),
        ("a//b", "is not [registry[:port]/]path"),
        ("app-", "is not [registry[:port]/]path"),
        ("app@sha256:abc", "digest 'sha256:abc' is not algorithm:hex"),
        ("app:" + "t" * 129, "at most 128"),
        (" app", "spaces around it"),
        ("", "empty"),
    ],
)
def test_invalid_references_say_why(ref: str, fragment: str) -> None:
    problem = reference_problem(ref)
    assert problem is not None and fragment in problem


def test_manifest_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata:\n  name: shop\nspec:\n"
        "  services:\n    - {name: web, image: 'apache/airflow:|version|'}\n"
    )

    with pytest.raises(SpecError) as info:
        load_paths([tmp_path / "app.yaml"], environ={})

    (error,) = info.value.errors
    assert error.path == "spec.services[web].image"
    assert "|version|" in error.message and "apache/airflow:2.9.3" in error.hint


def test_compose_file_names_the_compose_path(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: 'apache/airflow:${AIRFLOW_VERSION:-|version|}'\n"
    )

    with pytest.raises(SpecError) as info:
        import_compose([tmp_path / "compose.yaml"], environ={})

    (error,) = info.value.errors
    assert error.path == "services.web.image"
    assert error.source.endswith("compose.yaml")


@pytest.mark.engine
def test_apply_with_one_invalid_image_creates_nothing(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        textwrap.dedent(
            f"""\
            name: {app_name}
            services:
              db:
                image: {BASE_IMAGE}
                pull_policy: never
                command: ["sleep", "3600"]
                volumes: ["data:/data"]
                networks: [back]
              web:
                image: {BASE_IMAGE}
                pull_policy: never
                command: ["sleep", "3600"]
                networks: [back]
                depends_on: [db]
              scheduler:
                image: "apache/airflow:|version|"
                pull_policy: never
                networks: [back]
            volumes:
              data: {{}}
            networks:
              back: {{}}
            """
        )
    )

    result = CliRunner().invoke(cli, ["apply", "-f", str(compose)])

    assert result.exit_code != 0
    assert "services.scheduler.image" in result.output
    assert "|version|" in result.output
    label = {"label": f"dev.dockyard.app={app_name}"}
    assert docker_client.containers.list(all=True, filters=label) == []
    assert docker_client.networks.list(filters=label) == []
    assert docker_client.volumes.list(filters=label) == []
    named = [c.name for c in docker_client.containers.list(all=True) if app_name in c.name]
    assert named == []
    assert [n.name for n in docker_client.networks.list() if app_name in n.name] == []
