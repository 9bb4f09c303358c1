"""Reading a Compose file's YAML as Compose (go-yaml v3) does, `!reset` and `!override`
included."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from ..yamldoc import gc_paused, no_duplicates, yaml_error

# libyaml's parser when installed (several times faster than PyYAML's own); the scalars are
# still resolved by the Python resolver below, so the values are the same either way.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def is_compose_document(doc: object) -> bool:
    """True for a Compose file's content: a `services:` mapping and no apiVersion or kind."""
    if not isinstance(doc, dict):
        return False
    if "apiVersion" in doc or "kind" in doc:
        return False
    return isinstance(doc.get("services"), dict)


class Reset:
    """`!reset`: the attribute is removed when merging."""

    def __repr__(self) -> str:
        return "!reset"


@dataclass(frozen=True)
class Override:
    """`!override value`: the attribute replaces, rather than merges with, the earlier one."""

    value: Any


RESET = Reset()


class _ComposeLoader(_Base):  # type: ignore[valid-type,misc]
    """PyYAML with YAML 1.2 core scalars, as Compose (go-yaml v3) reads them.

    YAML 1.1 would turn `22:22` into 1342 (base 60), `no`/`on` into booleans and `2024-01-01`
    into a date; Compose keeps all of those as strings.
    """


_IMPLICIT_TAGS = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}
_ComposeLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag not in _IMPLICIT_TAGS]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_reset(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    return RESET


def _construct_override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    value: Any
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return Override(value)


_ComposeLoader.add_constructor("!reset", _construct_reset)
_ComposeLoader.add_constructor("!override", _construct_override)


def load_compose_yaml(text: str, source: str = "") -> Any:
    """Parse one Compose file's text the way Compose does (see `_ComposeLoader`); a key
    twice in one mapping is an error, as in Compose."""
    loader = _ComposeLoader(text)
    try:
        with gc_paused():
            node = loader.get_single_node()
            if node is None:
                return None
            no_duplicates(node)
            return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, source, "(root)") from None
    finally:
        loader.dispose()
