"""The JSON Schema in specs/schema/: generated from the models, and true to the examples."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import jsonschema
import pytest

from engagectl.config.loader import load_settings, resource_files
from engagectl.config.schema import REGENERATE_COMMAND, render, schemas, write_schemas
from engagectl.config.yaml_nodes import parse_documents

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "specs" / "schema"


def example_files() -> list[Path]:
    """engage.yaml and every resource file of each example project (test files have no schema here)."""
    files = []
    for settings_file in sorted((REPO / "examples").rglob("engage.yaml")):
        root = settings_file.parent
        settings, _, _ = load_settings(root, root)
        files += [settings_file] + resource_files(root, settings.tests if settings else ())
    return files


EXAMPLE_FILES = example_files()
SCHEMA_COMMENT = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


@functools.lru_cache(maxsize=None)
def generated() -> dict[str, dict]:
    return schemas()


@functools.lru_cache(maxsize=None)
def validator(path: Path) -> jsonschema.Draft202012Validator:
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def documents(path: Path) -> list:
    # the project's own YAML reading (dates stay text), as engagectl reads the files
    parsed, errors = parse_documents(path.read_text(encoding="utf-8"), str(path))
    assert errors == []
    return [document.data for document in parsed]


@pytest.mark.parametrize("name", sorted(generated()))
def test_checked_in_schema_is_current(name):
    checked_in = SCHEMA_DIR / name
    assert checked_in.is_file(), f"specs/schema/{name} is missing: run `{REGENERATE_COMMAND}`"
    assert checked_in.read_text(encoding="utf-8") == render(generated()[name]), (
        f"specs/schema/{name} is stale: run `{REGENERATE_COMMAND}`")


def test_write_schemas_writes_every_file(tmp_path):
    written = write_schemas(tmp_path)
    assert sorted(p.name for p in written) == [
        "audience.schema.json", "computed_trait.schema.json", "destination.schema.json",
        "engage.schema.json", "journey.schema.json", "resource.schema.json", "sql_trait.schema.json",
    ]


def test_the_resource_schema_tells_kinds_apart_and_refuses_unknown_fields():
    resource = validator(SCHEMA_DIR / "resource.schema.json")
    audience = {"kind": "audience", "key": "a", "where": {"event": "X", "within": "7d"}}
    assert resource.is_valid(audience)
    assert resource.is_valid({"kind": "computed_trait", "key": "t", "event": "X", "value": "count"})
    assert not resource.is_valid({**audience, "where": {"event": "X", "withn": "7d"}})
    assert not resource.is_valid({**audience, "kind": "segment"})
    assert not resource.is_valid({**audience, "key": "Bad-Key"})
    assert not resource.is_valid({"kind": "audience", "key": "a"})


def test_every_example_file_points_its_editor_at_a_schema():
    assert EXAMPLE_FILES, "no example YAML files found"
    for path in EXAMPLE_FILES:
        first_line = path.read_text(encoding="utf-8").splitlines()[0]
        match = SCHEMA_COMMENT.match(first_line)
        assert match, f"{path.relative_to(REPO)} must start with `# yaml-language-server: $schema=...`"
        target = (path.parent / match.group(1)).resolve()
        assert target.parent == SCHEMA_DIR and target.is_file(), f"{path.relative_to(REPO)}: {match.group(1)}"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(REPO / "examples")))
def test_every_example_document_validates_against_its_schema(path):
    named = SCHEMA_COMMENT.match(path.read_text(encoding="utf-8").splitlines()[0]).group(1)
    own = validator((path.parent / named).resolve())
    any_file = validator(SCHEMA_DIR / ("engage.schema.json" if path.name == "engage.yaml" else "resource.schema.json"))
    for document in documents(path):
        for schema in (own, any_file):
            errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in schema.iter_errors(document)]
            assert errors == []


def test_the_schema_asks_for_exactly_one_operator():
    audience = validator(SCHEMA_DIR / "audience.schema.json")

    def valid(where: dict) -> bool:
        return audience.is_valid({"kind": "audience", "key": "a", "where": where})

    assert valid({"trait": "plan", "one_of": ["pro"]})
    assert not valid({"trait": "plan"})
    assert not valid({"trait": "plan", "eq": "pro", "neq": "free"})
    assert valid({"event": "X", "where": {"property": "revenue", "gt": 100}, "count": {"gte": 3}})
    assert not valid({"event": "X", "where": {"eq": 1, "gt": 100}})
    assert not valid({"event": "X", "count": {"gte": 3, "lt": 5}})


def test_the_module_entry_rewrites_the_schemas(tmp_path):
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "engagectl.config.schema", str(tmp_path)], check=True,
                   capture_output=True)
    written = (tmp_path / "resource.schema.json").read_text(encoding="utf-8")
    assert written == render(generated()["resource.schema.json"])
