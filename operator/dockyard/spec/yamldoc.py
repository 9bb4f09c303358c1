"""YAML documents as dockyard reads them: a duplicate key in a mapping is an error (as in
Compose), and each document keeps its node tree so an error can name its line."""

from __future__ import annotations

import contextlib
import gc
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import FieldError, SpecError

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# One step of a rendered field path: `name`, `name[item]` or `[item]`.
_STEP = re.compile(r"([^.\[\]]*)((?:\[[^\]]*\])*)")


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key: str, line: int, first: int) -> None:
        super().__init__(f"duplicate key {key!r} (first at line {first})")
        self.key, self.line, self.first = key, line, first


def yaml_error(exc: yaml.YAMLError, source: str, whole: str = "document") -> SpecError:
    """A YAML text that does not parse, as the error a user reads: its line and what to
    do (`whole`: what to name when the parser gave no position)."""
    if isinstance(exc, DuplicateKey):
        fix = "a mapping holds each key once: remove or merge one of them"
        return SpecError([FieldError(f"line {exc.line}", str(exc), fix, source, exc.line)])
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else whole
    problem = f"not valid YAML: {getattr(exc, 'problem', exc)}"
    return SpecError([FieldError(where, problem, "", source)])


@dataclass(frozen=True)
class Document:
    """One document's data. Its node tree (for line numbers) is not kept: a folder of
    10,000 DockerHosts would hold over 400,000 nodes, most of a load's memory. It is
    composed again from the text only when an error needs its line."""

    data: Any
    text: str = field(repr=False)
    index: int = 0  # among the text's non-empty documents

    @property
    def node(self) -> yaml.Node | None:
        return _nodes(self.text)[self.index]

    def line_of(self, path: str) -> int | None:
        """The line (1-based) of a rendered field path such as
        `spec.services[web].ports[0].published`, or of the nearest part of it that exists."""
        node: yaml.Node | None = self.node
        best = node.start_mark.line + 1 if node is not None else None
        for name, items in _steps(path):
            if name:
                node = _value(node, name)
                if node is None:
                    return best
                best = node.start_mark.line + 1
            for item in items:
                node = _item(node, item)
                if node is None:
                    return best
                best = node.start_mark.line + 1
        return best


def parse_documents(text: str) -> list[Document]:
    """Every non-empty document of `text`. yaml.YAMLError (DuplicateKey included) when the
    text is not valid YAML."""
    loader = _Loader(text)
    docs: list[Document] = []
    # Everything parsed here survives it: a collection mid-way finds no garbage, only
    # walks a heap that grows with the text (half the time of a 10,000-host folder).
    with gc_paused():
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                no_duplicates(node)
                data = loader.construct_document(node)
                if data is not None:
                    docs.append(Document(data, text, len(docs)))
        finally:
            loader.dispose()
    return docs


_pause_lock = threading.Lock()
_pauses = 0
_was_enabled = True


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while inside (nestable, from any thread)."""
    global _pauses, _was_enabled
    with _pause_lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


def _nodes(text: str) -> list[yaml.Node | None]:
    """The node tree of each non-empty document of `text` (as parse_documents counts them)."""
    loader = _Loader(text)
    found: list[yaml.Node | None] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None and loader.construct_document(node) is not None:
                found.append(node)
    finally:
        loader.dispose()
    return found


def no_duplicates(node: yaml.Node) -> None:
    """DuplicateKey at the second of two equal keys in one mapping of the tree."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        raise DuplicateKey(str(key.value), line, seen[key.value])
                    seen[key.value] = line
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def _steps(path: str) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for part in _split(path):
        match = _STEP.fullmatch(part)
        if match is None:
            break
        name, brackets = match.groups()
        steps.append((name, re.findall(r"\[([^\]]*)\]", brackets)))
    return steps


def _split(path: str) -> list[str]:
    """`a.b[x.y].c` -> [`a`, `b[x.y]`, `c`]: dots inside brackets (image tags) stay."""
    parts, depth, current = [], 0, ""
    for ch in path:
        if ch == "." and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        current += ch
    parts.append(current)
    return [p for p in parts if p]


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            found: yaml.Node = v
            return found
    return None


def _item(node: yaml.Node | None, item: str) -> yaml.Node | None:
    """A list item by index, or the item one of whose scalar fields is `item` (named lists:
    `services[web]`, `volumeMounts[/etc/app]`)."""
    if isinstance(node, yaml.MappingNode):
        return _value(node, item)
    if not isinstance(node, yaml.SequenceNode):
        return None
    children: list[yaml.Node] = node.value
    if item.isdigit() and int(item) < len(children):
        return children[int(item)]
    for child in children:
        if isinstance(child, yaml.MappingNode) and any(
            isinstance(v, yaml.ScalarNode) and v.value == item for _, v in child.value
        ):
            return child
        if isinstance(child, yaml.ScalarNode) and child.value == item:
            return child
    return None
