"""Every example in examples/ is a valid manifest (or Compose file): `dockyard validate` passes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dockyard.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
runner = CliRunner()


def _examples() -> list[Path]:
    found = [p for p in sorted(EXAMPLES.iterdir()) if p.is_dir()]
    found += sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("*.yml"))
    return found


def test_examples_are_found():
    names = {p.name for p in _examples()}
    assert {"hello", "compose", "gitops"} <= names


@pytest.mark.parametrize("example", _examples(), ids=lambda p: p.name)
def test_example_validates(example: Path):
    result = runner.invoke(app, ["validate", "-f", str(example)])
    assert result.exit_code == 0, result.output
    assert "is valid" in result.output


def test_compose_example_validates_as_a_file():
    result = runner.invoke(app, ["validate", "-f", str(EXAMPLES / "compose" / "compose.yaml")])
    assert result.exit_code == 0, result.output
    assert "App compose-demo is valid" in result.output
