"""Config drift: how a container's real config differs from what its labels claim.

Catches a container recreated by hand with dockyard's labels copied onto it. The
comparison (`drift`) is a function of the engine's inspect data and the desired
container; only the image's own environment may need one more engine call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dockyard.state.desired import DesiredContainer

from .container_body import container_body
from .delivery import copied

if TYPE_CHECKING:
    from .client import Engine

_KEPT_AS_SENT = (
    "LogConfig",
    "Ulimits",
    "Sysctls",
    "ShmSize",
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "ExtraHosts",
    "SecurityOpt",
    "IpcMode",
    "GroupAdd",
    "OomScoreAdj",
    "CpuShares",
    "CpusetCpus",
    "DeviceCgroupRules",
)


def config_drift(engine: Engine, container_id: str, d: DesiredContainer) -> str | None:
    """Why container `container_id` differs from `d`, or None (one inspect call)."""
    data = engine._call(
        f"inspect {container_id}", lambda: engine.api.inspect_container(container_id)
    )
    return drift(data, d, engine.copies_files, engine.image_env)


def drift(
    data: Mapping[str, Any],
    d: DesiredContainer,
    copies_files: bool,
    image_env: Callable[[str], frozenset[str]],
) -> str | None:
    """Why the container the engine describes as `data` (its inspect) differs from `d`,
    or None. `image_env`: the environment an image sets itself (allowed extra)."""
    cfg, host = data.get("Config") or {}, data.get("HostConfig") or {}
    want = container_body(d.config, d.labels, [], copies_files)
    if cfg.get("Image") != want["Image"]:
        return f"image is {cfg.get('Image')}, not {want['Image']}"
    for key in ("Cmd", "Entrypoint"):
        if key in want and cfg.get(key) != want[key]:
            return f"{key.lower()} was changed outside dockyard"
    # Only what dockyard set: the image fills in WorkingDir/User/Cmd when the spec is silent.
    for key in ("WorkingDir", "User"):
        if key in want and (cfg.get(key) or "") != want[key]:
            return f"{key} was changed outside dockyard"
    actual_env = set(cfg.get("Env") or [])
    wanted_env = set(want["Env"])
    if not wanted_env <= actual_env:
        missing = sorted(e.split("=", 1)[0] for e in wanted_env - actual_env)
        return f"environment differs ({', '.join(missing)})"
    extra = actual_env - wanted_env - image_env(str(cfg.get("Image")))
    if extra:
        return f"environment differs ({', '.join(sorted(e.split('=', 1)[0] for e in extra))})"
    want_host = want["HostConfig"]
    if _port_set(host.get("PortBindings")) != _port_set(want_host.get("PortBindings")):
        return "published ports were changed outside dockyard"
    mounted = {m.get("Destination") for m in data.get("Mounts") or []}
    mounts = d.config.mounts
    if copies_files:  # copied in, not mounted
        mounts = tuple(m for m in mounts if not copied(m))
    missing_mounts = {m.target for m in mounts} - mounted
    if missing_mounts:
        return f"mounts were changed outside dockyard ({', '.join(sorted(missing_mounts))})"
    for key in ("RestartPolicy", "Memory", "NanoCpus", "ReadonlyRootfs", "Privileged"):
        if key in want_host and host.get(key) != want_host[key]:
            if (
                key == "RestartPolicy"
                and host.get(key, {}).get("Name") == want_host[key]["Name"]
                and int(host[key].get("MaximumRetryCount") or 0)
                == int(want_host[key].get("MaximumRetryCount") or 0)
            ):
                continue
            return f"{key} was changed outside dockyard"
    # Compose's host settings, where the engine shows back exactly what it was given
    # (ones a kernel may drop with a warning, such as swappiness, are left out).
    for key in _KEPT_AS_SENT:
        if key in want_host and host.get(key) != want_host[key]:
            return f"{key} was changed outside dockyard"
    for key in ("Tty", "OpenStdin"):
        if key in want and cfg.get(key) != want[key]:
            return f"{key} was changed outside dockyard"
    return None


def _port_set(bindings: Any) -> set[tuple[str, str, str]]:
    return {
        (key, b.get("HostIp") or "", b.get("HostPort") or "")
        for key, binds in (bindings or {}).items()
        for b in binds or []
    }
