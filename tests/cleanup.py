"""Removing what a test left on an engine: by label, and everything of one App."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import docker.errors
from docker import DockerClient

from dockyard.engine.secrets import SecretStore
from helpers import APP_LABEL

HISTORY_LABEL = "dev.dockyard.history"


def remove_all(objects: Iterable[Any], remove: Callable[[Any], None]) -> None:
    """Call ``remove`` on each object, ignoring ones already gone."""
    for obj in objects:
        try:
            remove(obj)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            warnings.warn(f"cleanup: could not remove {obj!r}: {exc}", stacklevel=2)


def remove_labelled(client: DockerClient, label: str) -> None:
    """Remove containers, then networks, volumes and images matching ``label``.

    ``label`` is a Docker label filter: ``key`` or ``key=value``.
    """
    filters = {"label": label}
    remove_all(
        client.containers.list(all=True, filters=filters),
        lambda c: c.remove(force=True, v=True),
    )
    remove_all(client.networks.list(filters=filters), lambda n: n.remove())
    remove_all(client.volumes.list(filters=filters), lambda v: v.remove(force=True))
    remove_all(
        client.images.list(filters=filters),
        lambda i: client.images.remove(i.id, force=True),
    )


def remove_app(client: DockerClient, name: str) -> None:
    """Everything of App ``name`` on the engine of ``client``, and its secret files here."""
    remove_labelled(client, f"{APP_LABEL}={name}")
    # The app's revision history (engine/records.py) is kept apart from its objects; its
    # helper containers too, when a test killed a writer.
    remove_labelled(client, f"{HISTORY_LABEL}-helper={name}")
    remove_labelled(client, f"{HISTORY_LABEL}={name}")
    # Secret files dockyard wrote for the app's containers on the host's tmpfs.
    SecretStore().forget_app(name)
