"""`engagectl test`: run the project's test files (or those named) in throw-away warehouses."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from engagectl.cli.common import emit_json, handle_errors, pass_cli
from engagectl.diagnostics import Diagnostic, DiagnosticsError


def register(group: click.Group) -> None:
    group.add_command(test_command)


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", "select", multiple=True, metavar="KEY",
              help="Only tests touching KEY or what is built on it (repeat, or separate with commas).")
@click.option("--changed", is_flag=True, help="Only tests touching a definition changed since the last apply.")
@click.option("--engine", type=click.Choice(["duckdb", "postgres"]), default="duckdb", show_default=True,
              help="The engine of the throw-away warehouses.")
@click.option("--postgres-url", envvar="ENGAGE_TEST_POSTGRES_URL", metavar="URL",
              help="Postgres for --engine postgres (default: the project's warehouse when it is Postgres).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--junit-xml", "junit_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the results as JUnit XML.")
@pass_cli
@handle_errors
def test_command(cli, paths, select, changed, engine, postgres_url, as_json, junit_file) -> None:
    """Run test files: fixture events in, expected members, traits and changes out."""
    from engagectl.testing import discover_test_files, load_test_files, project_test_files, run_cases
    from engagectl.testing.selection import changed_tests, select_tests

    project = _project_if_any(cli.project_dir, needed=not paths or changed)
    if paths:
        files = discover_test_files(paths)
    else:
        files = project_test_files(project)
    missing = [f for f in files if not f.exists()]
    if missing:
        raise DiagnosticsError([Diagnostic(f"no such test file: {f}") for f in missing])
    cases = load_test_files(files, shown_relative_to=project.directory if project is not None else Path.cwd())
    if changed:
        cases = changed_tests(cases, project)
    keys = [k.strip() for value in select for k in value.split(",") if k.strip()]
    if keys:
        cases = select_tests(cases, keys, project)
    if engine == "postgres" and not postgres_url and project is not None:
        postgres_url = _project_postgres(project)
    report = run_cases(cases, engine, project=project, postgres_url=postgres_url)
    if junit_file:
        from engagectl.testing.junit import junit_xml

        Path(junit_file).write_text(junit_xml(report), encoding="utf-8")
    if as_json:
        emit_json(report.to_json())
    else:
        from engagectl.views.testing import render_report

        render_report(report)
    sys.exit(0 if report.ok else 1)


def _project_if_any(project_dir: str, needed: bool):
    """The project's definitions; optional when test files with inline definitions are named."""
    from engagectl.config.loader import PROJECT_FILE, load_project

    if not needed and not (Path(project_dir) / PROJECT_FILE).is_file():
        return None
    return load_project(project_dir)


def _project_postgres(project) -> str | None:
    from engagectl.config.env import resolve_env

    url = resolve_env(project.settings.warehouse)
    return url if url.startswith("postgresql") else None
