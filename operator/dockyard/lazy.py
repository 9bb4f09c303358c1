"""A package's public names, imported from their modules on first use.

    __getattr__, __dir__ = lazy.exports(__name__, globals(), {"Engine": "client", ...})

keeps `import dockyard.<package>` cheap (the CLI starts on it) while the package's
`__init__` still says what its public surface is. Imports nothing of dockyard.
"""

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def exports(
    package: str, namespace: dict[str, Any], where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`where`: public name -> the module of `package` that defines it."""

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        namespace[name] = value  # found once; later reads do not come here
        return value

    def dir_() -> list[str]:
        return sorted([*namespace, *where])

    return getattr_, dir_
