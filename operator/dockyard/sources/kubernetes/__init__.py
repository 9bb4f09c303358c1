"""Kubernetes as a source: `App` and `DockerHost` custom resources, read by a kopf operator.

The only package that imports kopf. kopf handlers feed dockyard's level-based
Controller (kopf alone is edge-triggered): every change to an App, a DockerHost or a
referenced Secret makes the source emit a new snapshot of everything it knows, and the
controller's status listeners write `.status` back.
"""

from __future__ import annotations

from .options import OperatorOptions

__all__ = ["OperatorOptions"]
