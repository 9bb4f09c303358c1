"""Image references read as Docker reads them: registry, repository, tag, digest. Pure."""

from __future__ import annotations

DOCKER_HUB = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def registry_of(ref: str) -> str:
    """The registry an image reference points at: a first path part with a dot, a colon
    or `localhost` is a registry; anything else is on Docker Hub (`docker.io`)."""
    name = ref.partition("@")[0]
    first, sep, _ = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return DOCKER_HUB if first in _HUB_ALIASES else first
    return DOCKER_HUB


def same_registry(server: str, ref: str) -> bool:
    """Whether a `spec.registries` server is the registry `ref` comes from."""
    return (DOCKER_HUB if server in _HUB_ALIASES else server) == registry_of(ref)


def split_ref(ref: str) -> tuple[str, str]:
    """(repository, tag or digest) as the engine's pull takes them. `repo:tag@sha256:…`
    pulls by digest (the tag is only a note for the reader, as in Docker)."""
    name, _, digest = ref.partition("@")
    repo, tag = name, "latest"
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
    if digest:
        return repo, digest
    return repo, tag


def pinned(ref: str) -> bool:
    """Pinned by digest (`repo@sha256:…`, `repo:tag@sha256:…`): it names one image for good."""
    return "@sha256:" in ref
