"""Loading a project from disk: engage.yaml plus every resource file, validated, located.

Every problem is collected (never just the first) and raised together as a DiagnosticsError, each
naming file, line and column. `read_project` keeps them on the Project instead of raising, for
commands that report on a broken project (`validate`, `plan`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from pydantic import TypeAdapter, ValidationError

from engagectl.config.messages import pydantic_diagnostics
from engagectl.config.models import RESOURCE_KINDS, ProjectSettings, Resource, ResourceModel
from engagectl.config.yaml_nodes import Document, Location, parse_documents
from engagectl.diagnostics import Diagnostic, DiagnosticsError

PROJECT_FILE = "engage.yaml"
_RESOURCE_ADAPTER: TypeAdapter = TypeAdapter(ResourceModel)
_SKIPPED_FOLDERS = {".engage", "node_modules", "__pycache__"}


@dataclass
class Project:
    """A project as read from disk: settings, resources by address, and where each was written."""

    directory: FsPath
    settings: ProjectSettings
    resources: dict[str, Resource] = field(default_factory=dict)
    locations: dict[str, Location] = field(default_factory=dict)
    documents: dict[str, Document] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    settings_document: Document | None = None  # engage.yaml as read, for locating its values

    def of_kind(self, kind: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.kind == kind]  # type: ignore[attr-defined]

    def get(self, kind: str, key: str) -> Resource | None:
        return self.resources.get(f"{kind}.{key}")

    def relative(self, path: str | os.PathLike) -> str:
        """A path as users see it in messages: relative to the project folder."""
        try:
            return str(FsPath(path).resolve().relative_to(self.directory.resolve()))
        except ValueError:
            return str(path)

    def resolve_path(self, path: str) -> FsPath:
        """A path from a setting, relative to the project folder unless absolute."""
        candidate = FsPath(path)
        return candidate if candidate.is_absolute() else self.directory / candidate


def find_project_dir(start: str | os.PathLike | None = None) -> FsPath:
    directory = FsPath(start or os.getcwd())
    if not (directory / PROJECT_FILE).is_file():
        raise DiagnosticsError(
            [Diagnostic(f"no {PROJECT_FILE} in {directory.resolve()}: run engagectl in a project folder or pass -C DIR")]
        )
    return directory


def resource_files(directory: FsPath, test_globs: list[str] | tuple[str, ...] = ()) -> list[FsPath]:
    """Every *.yaml / *.yml below the project, except engage.yaml, hidden folders and .engage/.

    Test files (the `tests:` globs of engage.yaml) are read by `engagectl test`, not here.
    """
    excluded = {p.resolve() for pattern in test_globs for p in directory.glob(pattern)}
    files: list[FsPath] = []
    for root, folders, names in os.walk(directory):
        folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in _SKIPPED_FOLDERS)
        for name in sorted(names):
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                path = FsPath(root) / name
                if (path.parent == directory and name == PROJECT_FILE) or path.resolve() in excluded:
                    continue
                files.append(path)
    return files


def load_settings(
    directory: FsPath, relative_to: FsPath
) -> tuple[ProjectSettings | None, Document | None, list[Diagnostic]]:
    path = directory / PROJECT_FILE
    shown = str(path.relative_to(relative_to)) if path.is_relative_to(relative_to) else str(path)
    documents, diagnostics = parse_documents(path.read_text(encoding="utf-8"), shown)
    if diagnostics:
        return None, None, diagnostics
    if not documents:
        return ProjectSettings(), None, []
    document = documents[0]
    if not isinstance(document.data, dict):
        return None, document, [Diagnostic(f"{PROJECT_FILE} must be a mapping", file=shown, line=1, column=1)]
    try:
        return ProjectSettings.model_validate(document.data), document, []
    except ValidationError as exc:
        return None, document, pydantic_diagnostics(exc, document)


def parse_resource(document: Document) -> tuple[Resource | None, list[Diagnostic]]:
    data = document.data
    location = document.location()
    if not isinstance(data, dict):
        return None, [Diagnostic("a resource document must be a mapping with a `kind`", file=location.file,
                                 line=location.line, column=location.column)]
    kind = data.get("kind")
    if kind is None:
        return None, [Diagnostic(f"missing `kind` (one of {', '.join(RESOURCE_KINDS)})", file=location.file,
                                 line=location.line, column=location.column)]
    if kind not in RESOURCE_KINDS:
        where = document.location(("kind",))
        return None, [Diagnostic(f"unknown kind `{kind}` (expected one of {', '.join(RESOURCE_KINDS)})",
                                 file=where.file, line=where.line, column=where.column)]
    try:
        resource = _RESOURCE_ADAPTER.validate_python(data)
    except ValidationError as exc:
        key = data.get("key")
        prefix = f"{kind} {key}: " if isinstance(key, str) else f"{kind}: "
        return None, pydantic_diagnostics(exc, document, prefix)
    return resource, []


def read_project(directory: str | os.PathLike | None = None, *, check: bool = True) -> Project:
    """Read a project and collect every problem in `Project.diagnostics`, without raising.

    Only a missing engage.yaml raises (there is no project to read). `check=False` skips the
    cross-resource checks (references, cycles, namespaces).
    """
    root = find_project_dir(directory)
    settings, settings_document, diagnostics = load_settings(root, root)
    project = Project(directory=root, settings=settings or ProjectSettings(), settings_document=settings_document)
    project.diagnostics.extend(diagnostics)
    for path in resource_files(root, project.settings.tests):
        shown = str(path.relative_to(root))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            project.diagnostics.append(Diagnostic(f"cannot read file: {exc}", file=shown))
            continue
        documents, parse_errors = parse_documents(text, shown)
        project.diagnostics.extend(parse_errors)
        for document in documents:
            resource, errors = parse_resource(document)
            project.diagnostics.extend(errors)
            if resource is None:
                continue
            address = resource.address
            location = document.location()
            if address in project.resources:
                first = project.locations[address]
                project.diagnostics.append(Diagnostic(
                    f"{address} is defined twice (first at {first.file}:{first.line})",
                    file=location.file, line=location.line, column=location.column))
                continue
            project.resources[address] = resource
            project.locations[address] = location
            project.documents[address] = document
    if check:
        from engagectl.config.validate import check_project

        project.diagnostics.extend(check_project(project))
    project.diagnostics.sort(key=_diagnostic_order)
    return project


def load_project(directory: str | os.PathLike | None = None, *, check: bool = True) -> Project:
    """Read and validate a project. Raises DiagnosticsError with every error found.

    `check=False` skips the cross-resource checks (references, cycles, namespaces) — only for
    tools that must read a broken project to report on it.
    """
    project = read_project(directory, check=check)
    if any(d.severity == "error" for d in project.diagnostics):
        raise DiagnosticsError(project.diagnostics)
    return project


def _diagnostic_order(d: Diagnostic) -> tuple:
    return (d.file or "", d.line or 0, d.column or 0, d.message)


def data_location(project: Project, address: str, path: tuple[Any, ...]) -> Location:
    """Where a value inside a resource was written (for checks made after loading)."""
    document = project.documents.get(address)
    if document is None:
        return project.locations.get(address, Location(PROJECT_FILE, 1, 1))
    return document.location(path)
