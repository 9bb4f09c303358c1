"""Images on one engine: pull (with registry auth), inspect (ids, digests, env), build."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import docker.errors
import requests.exceptions

from dockyard.spec import naming
from dockyard.state.refs import registry_of, split_ref

from .errors import EngineError, EngineUnavailable
from .pull_progress import PullProgress
from .registry import PullAuth, docker_config_auth, pull_error

if TYPE_CHECKING:
    from .client import Engine

Progress = Callable[[str], None]


def pull(
    engine: Engine,
    ref: str,
    progress: Progress | None = None,
    auth: PullAuth | None = None,
    context: str = "",
) -> None:
    """Pull `ref` (a tag, a digest, or `repo:tag@sha256:…`) with `auth`, else with the
    Docker config file's credentials for its registry. `context` (e.g. "service web")
    is named in errors. A failure is a PullError that says what to do."""
    repo, tag = split_ref(ref)
    if auth is None:
        auth = docker_config_auth(registry_of(ref))
    # An explicit (possibly empty) auth: the SDK would otherwise fall back to the
    # credentials it read when the client was made, which may be stale.
    auth_config = auth.config() if auth is not None else {}
    try:
        stream = engine.api.pull(repo, tag=tag, stream=True, decode=True, auth_config=auth_config)
        seen = PullProgress()
        for event in stream:
            if "error" in event:
                raise pull_error(ref, auth, str(event["error"]), context)
            line = seen.feed(event)
            if progress and line:
                progress(line)
    except docker.errors.APIError as exc:
        raise pull_error(ref, auth, str(exc.explanation or exc), context) from None
    except requests.exceptions.Timeout:
        raise EngineError(
            f"pull {ref}: engine {engine.name} did not answer within {engine._timeout}s"
        ) from None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise EngineUnavailable(engine._unreachable(exc)) from None


def image_id(engine: Engine, ref: str) -> str | None:
    """The id of the image `ref` names on this engine, None when it has none."""
    try:
        data = engine.api.inspect_image(ref)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise EngineError(f"inspect image {ref}: {exc.explanation or exc}") from None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise EngineUnavailable(engine._unreachable(exc)) from None
    return str(data.get("Id") or "") or None


def refresh_image(
    engine: Engine, ref: str, auth: PullAuth | None = None, context: str = ""
) -> tuple[str | None, str | None]:
    """Pull `ref` again (pullPolicy Always): (image id before, image id after). The two
    differ when the tag moved to a new digest in its registry."""
    before = engine.image_id(ref)
    engine.pull(ref, auth=auth, context=context)
    return before, engine.image_id(ref)


def remote_digest(engine: Engine, ref: str, auth: PullAuth | None = None) -> str:
    """The digest the registry serves for `ref` now, asked without pulling."""
    if auth is None:
        auth = docker_config_auth(registry_of(ref))
    try:
        data = engine.api.inspect_distribution(
            ref, auth_config=auth.config() if auth is not None else {}
        )
    except docker.errors.APIError as exc:
        raise pull_error(ref, auth, str(exc.explanation or exc)) from None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise EngineUnavailable(engine._unreachable(exc)) from None
    return str((data.get("Descriptor") or {}).get("digest") or "")


def local_digests(engine: Engine, ref: str) -> frozenset[str]:
    """The registry digests (`sha256:…`) the local image of `ref` is known by."""
    try:
        data = engine.api.inspect_image(ref)
    except docker.errors.NotFound:
        return frozenset()
    except docker.errors.APIError as exc:
        raise EngineError(f"inspect image {ref}: {exc.explanation or exc}") from None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise EngineUnavailable(engine._unreachable(exc)) from None
    return frozenset(
        str(d).partition("@")[2] for d in data.get("RepoDigests") or [] if "@" in str(d)
    )


def build(engine: Engine, app: str, spec: Any, progress: Progress | None = None) -> None:
    """Build `spec` (a plan BuildSpec) and tag it with its content tag (and `image:`)."""
    labels = naming.owner_labels(app)
    labels[naming.BUILD_HASH] = spec.tag.rsplit(":", 1)[-1]
    stream = engine._call(
        f"build {spec.tag}",
        lambda: engine.api.build(
            path=spec.context,
            dockerfile=spec.dockerfile,
            target=spec.target,
            buildargs=dict(spec.args),
            tag=spec.tag,
            rm=True,
            forcerm=True,
            decode=True,
            labels=labels,
        ),
    )
    tail: list[str] = []
    for event in _stream(engine, f"build {spec.tag}", stream):
        if "error" in event:
            detail = "\n".join(tail[-5:])
            raise EngineError(f"build of {spec.tag} failed: {event['error'].strip()}\n{detail}")
        text = str(event.get("stream", "")).strip()
        if text:
            tail.append(text)
            if progress:
                progress(text)
    if spec.also_tag:
        repo, _, tag = spec.also_tag.rpartition(":")
        if not repo or "/" in tag:
            repo, tag = spec.also_tag, "latest"
        engine._call(
            f"tag {spec.also_tag}", lambda: engine.api.tag(spec.tag, repo, tag, force=True)
        )


def _stream(engine: Engine, what: str, stream: Any) -> Any:
    try:
        yield from stream
    except docker.errors.APIError as exc:
        raise EngineError(f"{what}: {exc.explanation or exc}") from None
    except requests.exceptions.RequestException as exc:
        raise EngineUnavailable(engine._unreachable(exc)) from None


def image_env(engine: Engine, image: str) -> frozenset[str]:
    if image not in engine._image_env:
        try:
            data = engine.api.inspect_image(image)
        except docker.errors.DockerException:
            return frozenset()
        engine._image_env[image] = frozenset((data.get("Config") or {}).get("Env") or [])
    return engine._image_env[image]
