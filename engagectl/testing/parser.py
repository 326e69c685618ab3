"""Reading test files: YAML documents → `TestCase`s, with `file:line:col` errors like definitions.

A malformed test is refused before anything runs, with every problem at once: YAML syntax,
unknown or missing fields (pydantic, located with `yaml_nodes`), inline definitions (validated
with the resource models and the project checks), and unreadable or invalid `events_file`s.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from engagectl.config.loader import PROJECT_FILE, Project, parse_resource, pydantic_diagnostics
from engagectl.config.models import ProjectSettings
from engagectl.config.yaml_nodes import Document, Location, parse_documents
from engagectl.diagnostics import Diagnostic, DiagnosticsError
from engagectl.testing.model import TestDocument, parse_as_of

TEST_FILE_SUFFIXES = (".yaml", ".yml")


@dataclass
class TestCase:
    """One test ready to run: its document, where it was written, and its fixture events."""

    __test__ = False  # not a pytest test class

    spec: TestDocument
    file: str  # as shown to users
    line: int
    directory: Path  # the test file's folder: `events_file` paths are relative to it
    events: list[dict[str, Any]] = field(default_factory=list)
    project: Project | None = None  # inline definitions; None: the project's own

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def as_of(self) -> datetime:
        return parse_as_of(self.spec.as_of)


def discover_test_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named directly, and every *.yaml / *.yml below folders named (sorted, no repeats)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in TEST_FILE_SUFFIXES and p.is_file()
                                and not any(part.startswith(".") for part in p.relative_to(path).parts)))
        else:
            found.append(path)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def project_test_files(project: Project) -> list[Path]:
    """The files matched by the project's `tests:` globs (engage.yaml), sorted."""
    matched = {p for pattern in project.settings.tests for p in project.directory.glob(pattern) if p.is_file()}
    return sorted(matched)


def load_test_files(paths: Iterable[str | os.PathLike], shown_relative_to: Path | None = None) -> list[TestCase]:
    """Parse every test in `paths`; raises DiagnosticsError with every problem found."""
    cases: list[TestCase] = []
    diagnostics: list[Diagnostic] = []
    for path in paths:
        file_cases, file_diagnostics = parse_test_file(Path(path), _shown(Path(path), shown_relative_to))
        cases.extend(file_cases)
        diagnostics.extend(file_diagnostics)
    if diagnostics:
        raise DiagnosticsError(diagnostics)
    return cases


def _shown(path: Path, relative_to: Path | None) -> str:
    base = (relative_to or Path.cwd()).resolve()
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)


def parse_test_file(path: Path, shown: str | None = None) -> tuple[list[TestCase], list[Diagnostic]]:
    """The tests of one file, or the diagnostics that keep them from running."""
    shown = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Diagnostic(f"cannot read test file: {exc}", file=shown)]
    documents, diagnostics = parse_documents(text, shown)
    cases: list[TestCase] = []
    for document in documents:
        case, errors = parse_test_document(document, path.parent)
        diagnostics.extend(errors)
        if case is not None:
            cases.append(case)
    return cases, diagnostics


def parse_test_document(document: Document, directory: Path) -> tuple[TestCase | None, list[Diagnostic]]:
    """One YAML document → one TestCase (with its inline project and events loaded)."""
    start = document.location()
    if not isinstance(document.data, dict):
        return None, [Diagnostic("a test is a mapping with `name`, `as_of` and `expect`",
                                 file=start.file, line=start.line, column=start.column)]
    try:
        spec = TestDocument.model_validate(document.data)
    except ValidationError as exc:
        name = document.data.get("name")
        prefix = f"test {name!r}: " if isinstance(name, str) else ""
        return None, pydantic_diagnostics(exc, document, prefix)
    case = TestCase(spec=spec, file=document.file, line=start.line, directory=directory)
    diagnostics: list[Diagnostic] = []
    if spec.project is not None:
        case.project, project_errors = _inline_project(document, directory)
        diagnostics.extend(project_errors)
    events, event_errors = _fixture_events(spec, document, directory)
    case.events = events
    diagnostics.extend(event_errors)
    return (None if diagnostics else case), diagnostics


def sub_document(document: Document, prefix: tuple) -> Document:
    """The part of a document at `prefix`, keeping the original lines and columns."""
    data: Any = document.data
    for element in prefix:
        data = data[element]
    size = len(prefix)
    positions: dict[tuple, tuple[int, int]] = {}
    for path, position in document.positions.items():
        if path[:size] == prefix:
            positions[path[size:]] = position
        elif path[:1] == ("__key__",) and path[1:size + 1] == prefix:
            positions[("__key__",) + path[size + 1:]] = position
    return Document(file=document.file, data=data, positions=positions)


def _inline_project(document: Document, directory: Path) -> tuple[Project | None, list[Diagnostic]]:
    """`project:` → a Project in memory, validated exactly like one read from disk."""
    from engagectl.config.validate import check_project

    raw = document.data["project"]
    diagnostics: list[Diagnostic] = []
    settings_document = sub_document(document, ("project", "settings")) if "settings" in raw else None
    try:
        settings = ProjectSettings.model_validate(raw.get("settings") or {})
    except ValidationError as exc:
        return None, pydantic_diagnostics(exc, settings_document or document, "project.settings: ")
    project = Project(directory=directory, settings=settings)
    for index in range(len(raw.get("resources") or [])):
        resource_document = sub_document(document, ("project", "resources", index))
        resource, errors = parse_resource(resource_document)
        diagnostics.extend(errors)
        if resource is None:
            continue
        location = resource_document.location()
        if resource.address in project.resources:
            first = project.locations[resource.address]
            diagnostics.append(Diagnostic(f"{resource.address} is defined twice (first at {first.file}:{first.line})",
                                          file=location.file, line=location.line, column=location.column))
            continue
        project.resources[resource.address] = resource
        project.locations[resource.address] = location
        project.documents[resource.address] = resource_document
    if not diagnostics:
        diagnostics.extend(d for d in check_project(project) if d.severity == "error")
    return (None if diagnostics else project), diagnostics


def _fixture_events(spec: TestDocument, document: Document, directory: Path) -> tuple[list[dict], list[Diagnostic]]:
    """Inline events first, then each `events_file` (JSONL, relative to the test file)."""
    events = list(spec.events)
    diagnostics: list[Diagnostic] = []
    for index, name in enumerate(spec.events_files):
        where = document.location(("events_file", index) if isinstance(spec.events_file, list) else ("events_file",))
        path = Path(name) if Path(name).is_absolute() else directory / name
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            diagnostics.append(Diagnostic(f"cannot read events_file {name!r}: {exc.strerror or exc}",
                                          file=where.file, line=where.line, column=where.column))
            continue
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError as exc:
                diagnostics.append(Diagnostic(f"invalid JSON: {exc.msg}", file=_events_file_shown(where, name),
                                              line=number, column=exc.colno))
                continue
            if not isinstance(message, dict):
                diagnostics.append(Diagnostic("each line is one Segment-spec message (a JSON object)",
                                              file=_events_file_shown(where, name), line=number, column=1))
                continue
            events.append(message)
    return events, diagnostics


def _events_file_shown(where: Location, name: str) -> str:
    """An events file as users see it: next to the test file that names it."""
    return str(Path(where.file).parent / name) if not Path(name).is_absolute() else name


def find_enclosing_project_dir(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding an engage.yaml."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None
