"""YAML documents as plain Python data plus the line and column of every node.

PyYAML's composer gives nodes with marks; we turn each document into dicts/lists/scalars and
keep a map from the path of each value (`("where", "all", 0, "event")`) to its position, so that
any later error (pydantic's or ours) can name `file:line:col`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from engagectl.diagnostics import Diagnostic

Path = tuple[Any, ...]


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class Document:
    """One YAML document of a file, as data, with the location of every node by path."""

    file: str
    data: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def location(self, path: Path = ()) -> Location:
        """The closest located node at or above `path` (pydantic paths may include union tags)."""
        resolved = resolve_path(self.data, path)
        while resolved not in self.positions and resolved:
            resolved = resolved[:-1]
        line, column = self.positions.get(resolved, (1, 1))
        return Location(self.file, line, column)

    def key_location(self, path: Path) -> Location:
        """Where the key of `path` is written (for 'unknown field' errors)."""
        resolved = resolve_path(self.data, path)
        key_pos = self.positions.get(("__key__",) + resolved)
        if key_pos:
            return Location(self.file, *key_pos)
        return self.location(path)


def resolve_path(data: Any, path: Path) -> Path:
    """The longest part of `path` that exists in the data.

    pydantic's error paths interleave union tags (`event`, `trait`, `audience`…) with real keys,
    and a tag may also be a key of the data; each element is either followed or skipped, keeping
    the reading that matches the most elements (ties prefer the later match).
    """

    def best(current: Any, index: int) -> tuple[Any, ...]:
        if index == len(path):
            return ()
        element = path[index]
        skipped = best(current, index + 1)
        child_key = _child_key(current, element)
        if child_key is _MISSING:
            return skipped
        followed = (child_key,) + best(current[child_key], index + 1)
        return followed if len(followed) > len(skipped) else skipped

    return best(data, 0)


_MISSING = object()


def _child_key(current: Any, element: Any) -> Any:
    if isinstance(current, dict):
        if element in current:
            return element
        # models alias Python-reserved words (`not` is the field `not_`)
        if isinstance(element, str) and element.endswith("_") and element[:-1] in current:
            return element[:-1]
    elif isinstance(current, list) and isinstance(element, int) and 0 <= element < len(current):
        return element
    return _MISSING


class _Loader(yaml.SafeLoader):
    """SafeLoader whose timestamps stay strings: durations and dates are the models' business."""


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same on libyaml's parser (when PyYAML has it): several times faster on large projects.

    Files it refuses are parsed again by `_Loader`, so error messages do not depend on libyaml.
    """


# YAML 1.1 reads `2024-01-01` as a date and `on`/`yes` as booleans; we keep dates as text so the
# canonical spec of a resource is what the user wrote.
_Loader.yaml_implicit_resolvers = _FastLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _to_data(loader: _Loader, node: yaml.Node, path: Path, positions: dict[Path, tuple[int, int]]) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                )
            if key in result:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            positions[("__key__",) + path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _to_data(loader, value_node, path + (key,), positions)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(loader, child, path + (index,), positions) for index, child in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_documents(text: str, file: str) -> tuple[list[Document], list[Diagnostic]]:
    """Every non-empty document of a YAML file; a syntax error becomes a located diagnostic."""
    if _FastLoader is not _Loader:
        documents, diagnostics = _parse_documents(text, file, _FastLoader)
        if not diagnostics:
            return documents, diagnostics
    return _parse_documents(text, file, _Loader)


def _parse_documents(text: str, file: str, loader_class: type) -> tuple[list[Document], list[Diagnostic]]:
    documents: list[Document] = []
    loader = loader_class(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            positions: dict[Path, tuple[int, int]] = {}
            data = _to_data(loader, node, (), positions)
            if data is None:
                continue
            documents.append(Document(file=file, data=data, positions=positions))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        return documents, [Diagnostic(f"invalid YAML: {problem}", file=file, line=line, column=column)]
    except yaml.YAMLError as exc:
        return documents, [Diagnostic(f"invalid YAML: {exc}", file=file)]
    finally:
        loader.dispose()
    return documents, []
