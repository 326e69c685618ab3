"""Cross-resource checks: the rules one document cannot judge on its own.

The models (pydantic) check each document's shape; these checks read the whole project: the
shared key namespace, references between resources, cycles, destination bindings, and the
operator values pydantic lets through (`gt: "abc"`, `before: not-a-date`, `{parent: p}` outside
a funnel). Every problem is collected — none stops the others — and each diagnostic points at
the offending node in its file.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Iterator

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from engagectl.config.models import (
    AllCondition,
    AllPredicates,
    AnyCondition,
    AnyPredicates,
    Audience,
    AudienceCondition,
    BoundResource,
    ComputedTrait,
    Destination,
    DestinationBinding,
    EventCondition,
    FunnelStep,
    Journey,
    NotCondition,
    NotPredicate,
    OperatorFields,
    ParentRef,
    SqlTrait,
    TraitCondition,
    TraitRef,
)
from engagectl.diagnostics import Diagnostic

if TYPE_CHECKING:
    from engagectl.config.loader import Project

Path = tuple[Any, ...]

WAREHOUSE_BACKENDS = ("duckdb", "postgresql")  # engagectl.warehouse adapters
STATE_BACKENDS = ("sqlite", "postgresql")  # engagectl.state stores
MAX_KEY_LENGTH = 255  # models.KEY_PATTERN: a letter and up to 254 more
# Operators that order values: they compare numbers or dates, never arbitrary text.
_ORDERING_OPERATORS = ("gt", "gte", "lt", "lte")
_DATE_OPERATORS = ("before", "after")


# --------------------------------------------------------------------------------------------
# Walking condition trees with the path of every node in its document
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A node of a condition or predicate tree and where it was written."""

    model: Any
    path: Path
    in_funnel_child: bool  # inside a `then` / `then_not` (where `{parent: p}` is allowed)


def walk_condition(condition: Any, path: Path, in_funnel_child: bool = False) -> Iterator[Node]:
    """Every node of a condition tree (all/any/not, event, trait, audience) and its predicates."""
    yield Node(condition, path, in_funnel_child)
    if isinstance(condition, (AllCondition, AnyCondition)):
        name = "all" if isinstance(condition, AllCondition) else "any"
        for index, child in enumerate(getattr(condition, name)):
            yield from walk_condition(child, path + (name, index), in_funnel_child)
    elif isinstance(condition, NotCondition):
        yield from walk_condition(condition.not_, path + ("not",), in_funnel_child)
    elif isinstance(condition, EventCondition):
        if condition.where is not None:
            yield from walk_predicate(condition.where, path + ("where",), in_funnel_child)
        for name in ("then", "then_not"):
            child = getattr(condition, name)
            if child is not None:
                yield from walk_funnel_step(child, path + (name,))


def walk_funnel_step(step: FunnelStep, path: Path) -> Iterator[Node]:
    yield Node(step, path, True)
    if step.where is not None:
        yield from walk_predicate(step.where, path + ("where",), True)


def walk_predicate(predicate: Any, path: Path, in_funnel_child: bool = False) -> Iterator[Node]:
    """Every node of a property-predicate tree (all/any/not and `{property|context: …}` leaves)."""
    yield Node(predicate, path, in_funnel_child)
    if isinstance(predicate, (AllPredicates, AnyPredicates)):
        name = "all" if isinstance(predicate, AllPredicates) else "any"
        for index, child in enumerate(getattr(predicate, name)):
            yield from walk_predicate(child, path + (name, index), in_funnel_child)
    elif isinstance(predicate, NotPredicate):
        yield from walk_predicate(predicate.not_, path + ("not",), in_funnel_child)


def resource_nodes(resource: Any) -> Iterator[Node]:
    """Every condition/predicate node of a resource, whatever its kind."""
    if isinstance(resource, Audience):
        yield from walk_condition(resource.where, ("where",))
    elif isinstance(resource, ComputedTrait):
        if resource.where is not None:
            yield from walk_predicate(resource.where, ("where",))
    elif isinstance(resource, Journey):
        yield from walk_condition(resource.entry, ("entry",))
        for index, step in enumerate(resource.steps):
            if step.where is not None:
                yield from walk_condition(step.where, ("steps", index, "where"))


def operand_references(node: Node) -> Iterator[tuple[str, Any, Path]]:
    """`{parent: p}` and `{trait: k}` values of an operator node: (kind, ref, path of the ref)."""
    if not isinstance(node.model, OperatorFields):
        return
    operator = node.model.operator
    value = node.model.value
    if isinstance(value, ParentRef):
        yield "parent", value, node.path + (operator, "parent")
    elif isinstance(value, TraitRef):
        yield "trait", value, node.path + (operator, "trait")


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamespaceEntry:
    """One key of the shared audience/trait/journey-step namespace and where it is declared."""

    key: str
    what: str  # e.g. "audience high_value_users", "journey onboarding step added_card"
    address: str
    path: Path


class ProjectChecker:
    """Runs every cross-resource check over one project and collects the diagnostics."""

    def __init__(self, project: "Project"):
        self.project = project
        self.diagnostics: list[Diagnostic] = []
        self.namespace: dict[str, NamespaceEntry] = {}
        self.destinations = {r.key: r for r in project.of_kind("destination")}
        self.sql_traits = {r.key for r in project.of_kind("sql_trait")}
        self.audience_keys = {r.key for r in project.of_kind("audience")}
        self.journeys = {r.key: r for r in project.of_kind("journey")}

    # -- helpers ---------------------------------------------------------------------------

    def report(self, address: str, path: Path, message: str) -> None:
        """An error at the node `path` of the resource at `address`, prefixed with the resource."""
        document = self.project.documents.get(address)
        location = document.location(path) if document else self.project.locations.get(address)
        resource = self.project.resources[address]
        prefix = f"{resource.kind} {resource.key}: "  # type: ignore[attr-defined]
        self.diagnostics.append(Diagnostic(
            prefix + message,
            file=location.file if location else None,
            line=location.line if location else None,
            column=location.column if location else None,
        ))

    def place(self, address: str, path: Path) -> str:
        """`file:line` of a node, for messages that name a second place."""
        document = self.project.documents.get(address)
        location = document.location(path) if document else self.project.locations.get(address)
        return f"{location.file}:{location.line}" if location else address

    def report_settings(self, path: Path, message: str) -> None:
        """An error at a value of engage.yaml."""
        document = self.project.settings_document
        location = document.location(path) if document else None
        self.diagnostics.append(Diagnostic(
            message,
            file=location.file if location else "engage.yaml",
            line=location.line if location else None,
            column=location.column if location else None,
        ))

    # -- 0. engage.yaml ----------------------------------------------------------------------

    def check_settings(self) -> None:
        settings = self.project.settings
        seen: set[str] = set()
        for index, source in enumerate(settings.sources):
            if source.key in seen:
                self.report_settings(("sources", index, "key"), f"source `{source.key}` is declared twice")
            seen.add(source.key)
        backend = url_backend(settings.warehouse)
        if backend is not None and backend not in WAREHOUSE_BACKENDS:
            self.report_settings(("warehouse",), f"unsupported warehouse `{backend}`: use duckdb:///path or "
                                                 "postgresql+psycopg://…")
        backend = url_backend(settings.state)
        if backend is None and "://" not in settings.state and "${" not in settings.state:
            self.report_settings(("state",), "the state is not a database URL: use sqlite:///path or "
                                             "postgresql+psycopg://…")
        elif backend is not None and backend not in STATE_BACKENDS:
            self.report_settings(("state",), f"unsupported state `{backend}`: use sqlite:///path or "
                                             "postgresql+psycopg://…")

    # -- 1. one namespace for audience, trait and journey-step keys ------------------------

    def check_namespace(self) -> None:
        for address, resource in self.project.resources.items():
            kind = resource.kind  # type: ignore[attr-defined]
            if kind == "destination":
                continue
            self.claim(NamespaceEntry(resource.key, f"{kind} {resource.key}", address, ("key",)))
            if isinstance(resource, Journey):
                for index, step in enumerate(resource.steps):
                    step_key = resource.step_audience_key(step)
                    if len(step_key) > MAX_KEY_LENGTH:
                        self.report(address, ("steps", index, "key"),
                                    f"step audience key `{step_key}` is longer than {MAX_KEY_LENGTH} characters; "
                                    "shorten the journey or step key")
                    self.claim(NamespaceEntry(step_key, f"journey {resource.key} step {step.key}", address,
                                              ("steps", index, "key")))

    def claim(self, entry: NamespaceEntry) -> None:
        first = self.namespace.get(entry.key)
        if first is None:
            self.namespace[entry.key] = entry
            return
        self.report(entry.address, entry.path,
                    f"key `{entry.key}` of {entry.what} is already used by {first.what} "
                    f"({self.place(first.address, first.path)}); audience, trait and journey-step keys "
                    "share one namespace")

    # -- 2. references ---------------------------------------------------------------------

    def check_references(self) -> None:
        for address, resource in self.project.resources.items():
            for node in resource_nodes(resource):
                model = node.model
                if isinstance(model, AudienceCondition):
                    self.check_audience_reference(address, model.audience, node.path + ("audience",))
                elif isinstance(model, TraitCondition):
                    self.check_trait_reference(address, model.trait, node.path + ("trait",))
                for kind, ref, path in operand_references(node):
                    if kind == "trait":
                        self.check_trait_reference(address, ref.trait, path)
                    elif not node.in_funnel_child:
                        self.report(address, path,
                                    f"`{{parent: {ref.parent}}}` reads the funnel's parent event, so it can "
                                    "only be used inside a `then` or `then_not` step")
                if isinstance(model, OperatorFields):
                    self.check_operator_value(address, node)
            for list_path, bindings in self.binding_lists(resource):
                self.check_bindings(address, list_path, bindings)
            if isinstance(resource, Destination):
                self.check_destination(address, resource)
            if isinstance(resource, SqlTrait):
                self.check_sql_trait(address, resource)

    def audience_targets(self) -> set[str]:
        """Keys an `audience:` node may name: audiences, journeys (entered) and journey steps."""
        steps = {j.step_audience_key(s) for j in self.journeys.values() for s in j.steps}
        return self.audience_keys | set(self.journeys) | steps

    def check_audience_reference(self, address: str, key: str, path: Path) -> None:
        if key in self.audience_targets():
            return
        other = self.namespace.get(key)
        if other is not None:
            self.report(address, path, f"`{key}` is the {other.what}, not an audience; read it with "
                                       f"`trait: {key}`")
            return
        self.report(address, path, f"unknown audience `{key}`" + _suggestion(key, self.audience_targets()))

    def check_trait_reference(self, address: str, key: str, path: Path) -> None:
        # A plain name may be an identify trait, which only the events know: only a
        # `sqlkey.column` reference can be checked against the files.
        if "." not in key:
            return
        sql_key = key.split(".", 1)[0]
        if sql_key not in self.sql_traits:
            self.report(address, path,
                        f"trait `{key}`: no sql_trait `{sql_key}` (a dotted trait name reads a column of a "
                        "SQL trait: <sql_trait key>.<column>)" + _suggestion(sql_key, self.sql_traits))

    def binding_lists(self, resource: Any) -> Iterator[tuple[Path, list]]:
        """Each `destinations:` list of a resource (a journey has one per step)."""
        if isinstance(resource, BoundResource):
            yield ("destinations",), resource.destinations
        if isinstance(resource, Journey):
            for index, step in enumerate(resource.steps):
                yield ("steps", index, "destinations"), step.destinations

    def check_bindings(self, address: str, list_path: Path, bindings: list) -> None:
        seen: set[str] = set()
        for index, binding in enumerate(bindings):
            if isinstance(binding, DestinationBinding):
                key, path = binding.to, list_path + (index, "to")
            else:
                key, path = binding, list_path + (index,)
            if key in seen:
                self.report(address, path, f"destination `{key}` is bound twice; bind it once (long form for options)")
                continue
            seen.add(key)
            self.check_binding(address, path, key)

    def check_binding(self, address: str, path: Path, key: str) -> None:
        destination = self.destinations.get(key)
        if destination is None:
            self.report(address, path, f"unknown destination `{key}`" + _suggestion(key, set(self.destinations)))
            return
        if destination.sources:
            self.report(address, path,
                        f"destination `{key}` forwards the raw events of source(s) {', '.join(destination.sources)} "
                        "and cannot also receive audiences or traits; create a separate destination for engage "
                        f"output, e.g. kind: destination key: {key}_engage provider: {destination.provider}")

    def check_destination(self, address: str, destination: Destination) -> None:
        providers = available_provider_names()
        if providers is not None and destination.provider not in providers:
            self.report(address, ("provider",),
                        f"unknown provider `{destination.provider}` (providers: {', '.join(sorted(providers))})")
        sources = {s.key for s in self.project.settings.sources}
        for index, source in enumerate(destination.sources):
            if source not in sources:
                known = ", ".join(sorted(sources)) if sources else "none are declared"
                self.report(address, ("sources", index),
                            f"unknown source `{source}`: sources are declared in engage.yaml ({known})")

    def check_sql_trait(self, address: str, trait: SqlTrait) -> None:
        """The columns Segment's contract asks for, when the query can be read without running it.

        A query with Jinja (`{{ var('x') }}`) or `select *` is only judged when it runs.
        """
        if "{{" in trait.sql or "{%" in trait.sql:
            return
        try:
            query = sqlglot.parse_one(trait.sql, read=warehouse_dialect(self.project.settings.warehouse))
        except SqlglotError as exc:
            self.report(address, ("sql",), f"cannot parse its sql: {_sql_error(exc)}")
            return
        if not isinstance(query, exp.Query):
            self.report(address, ("sql",), f"its sql must be a query (SELECT …), not {query.key.upper()}")
            return
        columns = [name.lower() for name in query.named_selects]
        if "*" in columns or any(not name for name in columns):
            return
        if trait.identifier not in columns:
            self.report(address, ("sql",), f"its query must return a `{trait.identifier}` column (identifier: "
                                           f"{trait.identifier}); it returns {', '.join(columns)}")
        elif len([c for c in columns if c != trait.identifier]) == 0:
            self.report(address, ("sql",), f"its query must return at least one trait column besides "
                                           f"`{trait.identifier}`")

    # -- 3. operator values pydantic lets through -------------------------------------------

    def check_operator_value(self, address: str, node: Node) -> None:
        model: OperatorFields = node.model
        operator, value = model.operator, model.value
        path = node.path + (operator,)
        if isinstance(value, (ParentRef, TraitRef)):
            return
        if operator in _ORDERING_OPERATORS:
            if isinstance(value, bool) or (isinstance(value, str) and parse_iso_datetime(value) is None):
                hint = ("write the number without quotes" if _is_number(value)
                        else "for text use eq, one_of, contains, starts_with or ends_with")
                self.report(address, path, f"`{operator}` compares numbers or dates, not {value!r} ({hint})")
        elif operator in _DATE_OPERATORS:
            if parse_iso_datetime(value) is None:
                self.report(address, path,
                            f"`{operator}` needs an ISO-8601 date or timestamp (2026-01-31 or "
                            f"2026-01-31T12:00:00Z), not {value!r}")
        elif operator in ("one_of", "none_of") and not value:
            self.report(address, path, f"`{operator}` needs at least one value")

    # -- 4. cycles ---------------------------------------------------------------------------

    def check_cycles(self) -> None:
        graph = self.dependency_graph()
        reported: set[tuple[str, ...]] = set()
        state: dict[str, str] = {}  # node -> "visiting" | "done"
        stack: list[str] = []

        # Iterative depth-first search: a chain of thousands of audiences must not hit
        # Python's recursion limit.
        for root in graph:
            if root in state:
                continue
            state[root] = "visiting"
            stack.append(root)
            frames = [iter(graph.get(root, []))]
            while frames:
                edge = next(frames[-1], None)
                if edge is None:
                    frames.pop()
                    state[stack.pop()] = "done"
                    continue
                target = edge[0]
                if state.get(target) == "visiting":
                    cycle = stack[stack.index(target):]
                    canonical = _canonical_cycle(cycle)
                    if canonical not in reported:
                        reported.add(canonical)
                        self.report_cycle(cycle, graph)
                elif target not in state:
                    state[target] = "visiting"
                    stack.append(target)
                    frames.append(iter(graph.get(target, [])))

    def report_cycle(self, cycle: list[str], graph: dict[str, list[tuple[str, str, Path]]]) -> None:
        first, second = cycle[0], (cycle[1] if len(cycle) > 1 else cycle[0])
        address, path = next((a, p) for target, a, p in graph[first] if target == second)
        self.report(address, path, "reference cycle: " + " -> ".join(cycle + [cycle[0]])
                    + " (an audience or trait cannot depend on itself)")

    def dependency_graph(self) -> dict[str, list[tuple[str, str, Path]]]:
        """node -> [(node it reads, address of the reference, path of the reference)].

        Nodes are namespace keys; a journey's entry is the node `<journey>` and each step the
        node `<journey>__<step>`, which also reads the step before it (steps stack).
        """
        graph: dict[str, list[tuple[str, str, Path]]] = {}
        for address, resource in self.project.resources.items():
            if isinstance(resource, (Audience, ComputedTrait, SqlTrait)):
                graph.setdefault(resource.key, []).extend(
                    self.edges(address, resource_nodes(resource)))
            elif isinstance(resource, Journey):
                graph.setdefault(resource.key, []).extend(
                    self.edges(address, walk_condition(resource.entry, ("entry",))))
                previous = resource.key
                for index, step in enumerate(resource.steps):
                    node = resource.step_audience_key(step)
                    edges = graph.setdefault(node, [])
                    edges.append((previous, address, ("steps", index, "key")))
                    if step.where is not None:
                        edges.extend(self.edges(address, walk_condition(step.where, ("steps", index, "where"))))
                    previous = node
        return graph

    def edges(self, address: str, nodes: Iterator[Node]) -> Iterator[tuple[str, str, Path]]:
        for node in nodes:
            model = node.model
            if isinstance(model, AudienceCondition):
                yield from self.edge(address, model.audience, node.path + ("audience",))
            elif isinstance(model, TraitCondition):
                yield from self.edge(address, model.trait, node.path + ("trait",))
            for kind, ref, path in operand_references(node):
                if kind == "trait":
                    yield from self.edge(address, ref.trait, path)

    def edge(self, address: str, key: str, path: Path) -> Iterator[tuple[str, str, Path]]:
        target = key.split(".", 1)[0] if "." in key else key
        if target in self.namespace:
            yield target, address, path

    def run(self) -> list[Diagnostic]:
        self.check_settings()
        self.check_namespace()
        self.check_references()
        self.check_cycles()
        return self.diagnostics


def check_project(project: "Project") -> list[Diagnostic]:
    """Every cross-resource problem in the project, each located at its node."""
    return ProjectChecker(project).run()


@dataclass
class ValidationReport:
    """What `engagectl validate` found: every diagnostic, and how many resources were read."""

    diagnostics: list[Diagnostic]
    resources: int

    @property
    def valid(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def to_json(self) -> dict:
        return {
            "valid": self.valid,
            "diagnostics": [d.to_json() for d in self.diagnostics],
            "resources": self.resources,
        }


def validate_project(directory: Any = None) -> ValidationReport:
    """Read a project (no warehouse, no state) and report every problem in it."""
    from engagectl.config.loader import read_project
    from engagectl.diagnostics import DiagnosticsError

    try:
        project = read_project(directory)
    except DiagnosticsError as exc:  # no engage.yaml: nothing to read
        return ValidationReport(list(exc.diagnostics), 0)
    return ValidationReport(list(project.diagnostics), len(project.resources))


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def available_provider_names() -> set[str] | None:
    """Names of the installed providers, or None while no provider registry exists to ask."""
    try:
        from providers.registry import available_providers  # type: ignore[import-not-found]
    except ImportError:
        return None
    except Exception:  # a broken provider package must not hide every other diagnostic
        return None
    try:
        return {str(name) for name in available_providers()}
    except Exception:
        return None


def url_backend(url: str) -> str | None:
    """`duckdb`, `postgresql`, … of a database URL; None when it is not known before run time."""
    if "://" not in url or "${" in url.split("://", 1)[0]:
        return None
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def warehouse_dialect(url: str) -> str | None:
    """The sqlglot dialect of a warehouse URL (`duckdb:///…`, `postgresql+psycopg://…`)."""
    return {"duckdb": "duckdb", "postgresql": "postgres"}.get(url_backend(url) or "")


def _sql_error(exc: Exception) -> str:
    """sqlglot's first error without token reprs or terminal underlining."""
    errors = getattr(exc, "errors", None)
    if not errors:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    first = errors[0]
    description = re.sub(r"<Token token_type: [^>]*?text: (.*?), line: .*?>", r"`\1`", str(first.get("description")))
    return f"{description} (line {first.get('line')}, column {first.get('col')} of the query)"


def parse_iso_datetime(value: Any) -> datetime | date | None:
    """An ISO-8601 date or timestamp (`Z` allowed), or None when `value` is not one."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        return datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text)
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool)


def _suggestion(key: str, candidates: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(candidates), n=1, cutoff=0.7)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _canonical_cycle(cycle: list[str]) -> tuple[str, ...]:
    """The same cycle found from another node reads the same: rotate to its smallest node."""
    start = cycle.index(min(cycle))
    return tuple(cycle[start:] + cycle[:start])
