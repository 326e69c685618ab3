"""Golden SQL: the compiled form of specs/golden/definitions.yaml for every dialect.

`python -m engagectl.compile.golden` rewrites specs/golden/<key>.<dialect>.sql; the tests compare
the compiler's current output with those files, so any change in generated SQL shows up in review.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml
from pydantic import TypeAdapter

from engagectl.compile.compiler import Compiler, to_sql
from engagectl.compile.dialects import SUPPORTED_DIALECTS
from engagectl.config.loader import Project
from engagectl.config.models import ProjectSettings, ResourceModel

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "specs" / "golden"
REGENERATE = "python -m engagectl.compile.golden"


def golden_sql(directory: Path = GOLDEN_DIR) -> dict[str, str]:
    """File name → the SQL the compiler produces now, for every definition and dialect."""
    definitions = yaml.safe_load((directory / "definitions.yaml").read_text(encoding="utf-8"))
    adapter = TypeAdapter(ResourceModel)
    resources = [adapter.validate_python(item) for item in definitions["resources"]]
    project = Project(directory=directory, settings=ProjectSettings(),
                      resources={resource.address: resource for resource in resources})
    as_of = datetime.fromisoformat(definitions["as_of"].replace("Z", "+00:00")).astimezone(timezone.utc)
    files = {}
    for dialect in SUPPORTED_DIALECTS:
        compiler = Compiler(dialect, definitions.get("schema", "engage"), as_of, project)
        for resource in resources:
            files[f"{resource.key}.{dialect}.sql"] = to_sql(compiler.compile_key(resource.key), dialect, pretty=True) + "\n"
    return files


def write_golden(directory: Path = GOLDEN_DIR) -> list[str]:
    written = []
    for name, sql in golden_sql(directory).items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != sql:
            path.write_text(sql, encoding="utf-8")
            written.append(name)
    return written


if __name__ == "__main__":
    changed = write_golden()
    sys.stdout.write(f"{len(changed)} golden file(s) rewritten in {GOLDEN_DIR}\n")
