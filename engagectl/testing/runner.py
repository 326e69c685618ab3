"""Running tests: each in its own throw-away warehouse, on the definitions as they are on disk.

Nothing is read from or written to the project's warehouse, state or destinations: a test builds
its world from its fixtures, runs the computations, checks its expectations and throws the world
away (even when something raises), so running twice gives the same result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from engagectl.config.loader import Project, load_project
from engagectl.diagnostics import Diagnostic, DiagnosticsError, EngageError
from engagectl.testing.expectations import check_expectations, computed_sizes
from engagectl.testing.fixtures import run_fixture
from engagectl.testing.parser import TestCase, find_enclosing_project_dir, load_test_files
from engagectl.testing.results import ExpectationFailure, TestReport, TestResult
from engagectl.testing.sandbox import throwaway_warehouse


def run_test_files(
    paths: Iterable[str | os.PathLike],
    engine: str = "duckdb",
    *,
    project: Project | None = None,
    postgres_url: str | None = None,
) -> list[TestResult]:
    """Parse and run every test in `paths` (malformed files raise DiagnosticsError first)."""
    cases = load_test_files(paths)
    return run_cases(cases, engine, project=project, postgres_url=postgres_url).results


def run_cases(
    cases: list[TestCase],
    engine: str = "duckdb",
    *,
    project: Project | None = None,
    postgres_url: str | None = None,
) -> TestReport:
    """Run parsed tests; tests without `project:` use `project` (or the engage.yaml above them)."""
    report = TestReport()
    projects: dict[Path, Project] = {}
    for case in cases:
        definitions = case.project or project or _enclosing_project(case, projects)
        report.results.append(run_case(case, definitions, engine, postgres_url=postgres_url))
    return report


def _enclosing_project(case: TestCase, cache: dict[Path, Project]) -> Project:
    directory = find_enclosing_project_dir(case.directory)
    if directory is None:
        raise DiagnosticsError([Diagnostic(
            "this test has no `project:` and no engage.yaml was found above it: add `project: {resources: [...]}` "
            "or run it inside a project", file=case.file, line=case.line, column=1)])
    if directory not in cache:
        cache[directory] = load_project(directory)
    return cache[directory]


def run_case(
    case: TestCase, project: Project, engine: str = "duckdb", *, postgres_url: str | None = None
) -> TestResult:
    """One test in a fresh warehouse: passed, failed (with every failed expectation) or error."""
    result = TestResult(name=case.name, file=case.file, line=case.line, status="passed", engine=engine)
    if case.spec.expect.error is not None:
        return _run_expecting_error(case, project, engine, postgres_url, result)
    try:
        with throwaway_warehouse(engine, postgres_url) as warehouse:
            run = run_fixture(case, project, warehouse)
            result.failures = check_expectations(run, case.spec.expect)
            if run.rejected_events:
                for failure in result.failures:
                    failure.evidence = {**(failure.evidence or {}), "rejected_events": run.rejected_events}
    except Exception as exc:  # the test could not run: report it as an error, keep running the others
        result.status = "error"
        result.failures = [ExpectationFailure("run", _error_message(exc), None)]
        return result
    if result.failures:
        result.status = "failed"
    return result


def _run_expecting_error(case: TestCase, project: Project, engine: str, postgres_url: str | None,
                         result: TestResult) -> TestResult:
    """`expect: {error: …}`: passed when the run fails with that text in its message, failed otherwise."""
    wanted = case.spec.expect.error
    try:
        with throwaway_warehouse(engine, postgres_url) as warehouse:
            run = run_fixture(case, project, warehouse)
            evidence = _succeeded_run_evidence(run)
    except Exception as exc:  # the failure this test is about, or a different one
        message = _error_message(exc)
        if wanted not in message:
            result.status = "failed"
            result.failures = [ExpectationFailure(
                "error", f"the run failed, but its message does not contain {wanted!r}", {"error": message})]
        return result
    result.status = "failed"
    result.failures = [ExpectationFailure(
        "error", f"the run succeeded; expected it to fail with an error containing {wanted!r}", evidence)]
    return result


def _succeeded_run_evidence(run) -> dict:
    """What the unexpectedly successful run computed: the size of every computation."""
    evidence: dict = {"sizes": computed_sizes(run)}
    if run.rejected_events:
        evidence["rejected_events"] = run.rejected_events
    return evidence


def _error_message(exc: Exception) -> str:
    if isinstance(exc, DiagnosticsError):
        return "; ".join(str(d) for d in exc.diagnostics)
    if isinstance(exc, EngageError):
        return str(exc)
    if isinstance(exc, ImportError):
        return f"engagectl cannot run tests here: {exc}"
    return f"{type(exc).__name__}: {exc}"
