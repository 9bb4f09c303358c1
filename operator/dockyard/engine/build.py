"""Content-addressed build tags: the same inputs give the same tag, so nothing is rebuilt."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

from dockyard.spec.models import Build


def context_digest(build: Build) -> str:
    """A hash of everything a build reads: files in the context (minus .dockerignore),
    the Dockerfile, the target and the build args."""
    from docker.utils.build import exclude_paths  # the SDK: only for a service with build:

    root = Path(build.context)
    patterns: list[str] = []
    ignore = root / ".dockerignore"
    if ignore.is_file():
        patterns = [
            line.strip()
            for line in ignore.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    digest = hashlib.sha256()
    digest.update(f"dockerfile={build.dockerfile}\0target={build.target or ''}\0".encode())
    for key, value in sorted(build.args.items()):
        digest.update(f"arg {key}={value}\0".encode())
    dockerfile = root / build.dockerfile
    digest.update(b"dockerfile-content\0" + dockerfile.read_bytes() + b"\0")
    for rel in sorted(exclude_paths(str(root), patterns, dockerfile=build.dockerfile)):
        path = root / rel
        st = path.lstat()
        digest.update(f"{rel}\0{st.st_mode & 0o777}\0".encode())
        if path.is_symlink():
            digest.update(os.readlink(path).encode())
        elif path.is_file():
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def build_tag(app: str, service: str, image: str | None, digest: str) -> str:
    """`<repository>:dy-<hash>`: the user's repository if `image:` names one."""
    repo = f"dockyard.local/{app}-{service}"
    if image:
        name = image.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        repo = name.rsplit(":", 1)[0] if ":" in last else name
    return f"{repo}:dy-{digest[:16]}"


_ARG = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def from_images(context: str, dockerfile: str, args: Mapping[str, str]) -> list[str]:
    """The images a build starts from (its `FROM` lines), build args filled in; earlier
    stages, `scratch` and names left with an unknown `$VAR` are not images to fetch."""
    try:
        text = (Path(context) / dockerfile).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    defaults: dict[str, str] = {}
    stages: set[str] = set()
    found: list[str] = []
    for raw in text.replace("\\\n", " ").splitlines():
        words = raw.split()
        if not words:
            continue
        keyword = words[0].upper()
        if keyword == "ARG" and len(words) > 1 and not found:  # ARGs before FROM apply to it
            name, _, value = words[1].partition("=")
            defaults[name] = value
        if keyword != "FROM":
            continue
        rest = [w for w in words[1:] if not w.startswith("--")]
        if not rest:
            continue
        image = _expand(rest[0], {**defaults, **args})
        if len(rest) >= 3 and rest[1].upper() == "AS":
            stages.add(rest[2].lower())
        if image.lower() in stages or image == "scratch" or "$" in image:
            continue
        if image not in found:
            found.append(image)
    return found


def _expand(word: str, values: Mapping[str, str]) -> str:
    return _ARG.sub(lambda m: values.get(m.group(1) or m.group(2), "$?"), word)
