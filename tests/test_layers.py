"""The house rules of the code (docs/architecture.md), checked on every run: packages
import only the layers below them, the Docker SDK, kopf and aiomqtt stay in their
corners, one place runs plans, and no module or class grows past what a newcomer can
read."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "operator" / "dockyard"

# package -> the dockyard packages it may import (docs/architecture.md, the layer table).
LAYERS: dict[str, set[str]] = {
    "spec": set(),
    "state": {"spec"},
    "engine": {"spec", "state"},
    "plan": {"spec", "state"},
    "apply": {"spec", "state", "engine", "plan"},
    "fleet": {"spec", "state", "engine", "plan", "apply"},
    "controller": {"spec", "state", "engine", "plan", "apply", "fleet"},
    "sources": {"spec", "state", "engine", "plan", "apply", "fleet", "controller"},
    "cli": {"spec", "state", "engine", "plan", "apply", "fleet", "controller", "sources"},
}
# Modules at the top of the package that need nothing of dockyard, usable by every layer.
BASE = {"retry", "lazy"}
# Third-party parts only one corner may import.
CORNERS = {"docker": "engine/", "kopf": "sources/kubernetes/", "aiomqtt": "sources/mqtt/"}
MAX_MODULE_LINES = 700
MAX_CLASS_LINES = 400


def modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def imported(path: Path, tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Absolute names of every module `path` imports (lazy and TYPE_CHECKING ones too)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                here = parts if path.name == "__init__.py" else parts[:-1]
                base = here[: len(here) - node.level + 1]
                yield ".".join([*base, *([node.module] if node.module else [])]), node.lineno
            else:
                yield node.module or "", node.lineno


def test_packages_import_only_the_layers_below_them() -> None:
    wrong = []
    for path, tree in modules():
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) == 1:
            if rel.stem in BASE:
                names = [n for n, _ in imported(path, tree) if n.startswith("dockyard.")]
                assert not names, f"{rel} is a base module: it imports {names}"
            continue  # dockyard/__init__.py and __main__.py start the CLI
        package = rel.parts[0]
        assert package in LAYERS, f"{rel}: package {package} is not in the layer table"
        for name, line in imported(path, tree):
            if not name.startswith("dockyard."):
                continue
            target = name.split(".")[1]
            if target != package and target not in LAYERS[package] | BASE:
                wrong.append(f"{rel}:{line}: {package} imports {name}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_third_party_parts_stay_in_their_corner() -> None:
    wrong = []
    for path, tree in modules():
        rel = str(path.relative_to(PACKAGE))
        for name, line in imported(path, tree):
            top = name.split(".")[0]
            if top in CORNERS and not rel.startswith(CORNERS[top]):
                wrong.append(f"{rel}:{line}: imports {name} (only {CORNERS[top]} may)")
    assert not wrong, "\n".join(wrong)


def test_one_place_runs_plans() -> None:
    """Every convergence (apply, delete, rollback, fleet, controller, operator, agent)
    goes through apply/converge.py, the one place that builds an Executor."""
    builders = []
    for path, tree in modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Executor"
            ):
                builders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert builders and all(b.startswith("apply/converge.py:") for b in builders), builders


def test_modules_and_classes_stay_readable() -> None:
    big = []
    for path, tree in modules():
        rel = path.relative_to(PACKAGE)
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            big.append(f"{rel}: {lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    big.append(f"{rel}: class {node.name} {size} lines (at most 400)")
    assert not big, "\n".join(big)
