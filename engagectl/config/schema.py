"""JSON Schema of the language, generated from the models, for editors and other tools.

`specs/schema/` holds one schema per resource kind (`audience.schema.json`, …), one for any
resource (`resource.schema.json`, discriminated by `kind`) and one for `engage.yaml`
(`engage.schema.json`). A resource file points its editor at one of them with a first line like
`# yaml-language-server: $schema=../specs/schema/audience.schema.json`.

The schemas are checked in; regenerate them after changing the models with

    python -m engagectl.config.schema

The models stay the authority: a schema cannot express every rule (exactly one operator, key
references, cycles), which is what `engagectl validate` adds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from engagectl.config.models import KIND_MODELS, RESOURCE_KINDS, ProjectSettings, ResourceModel

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# specs/schema/ at the top of the repository
DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "specs" / "schema"
REGENERATE_COMMAND = "python -m engagectl.config.schema"

_KIND_TITLES = {
    "audience": "engagectl audience",
    "computed_trait": "engagectl computed trait",
    "sql_trait": "engagectl SQL trait",
    "journey": "engagectl journey",
    "destination": "engagectl destination",
}


# Rules the models enforce in validators ("exactly one operator"), restated so that editors flag
# them too: a trait condition or property predicate is its target plus one operator.
_PROPERTY_COUNTS = {
    "TraitCondition": {"minProperties": 2, "maxProperties": 2},
    "PropertyPredicate": {
        "minProperties": 2,
        "maxProperties": 2,
        "oneOf": [{"required": ["property"]}, {"required": ["context"]}],
    },
    "Comparison": {"minProperties": 1, "maxProperties": 1},
    "AggregatePredicate": {"minProperties": 2, "maxProperties": 2},
}


class _LanguageSchema(GenerateJsonSchema):
    """pydantic's generator without a title on every field (the field name says it already)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _finish(schema: dict[str, Any], title: str, description: str) -> dict[str, Any]:
    """Add the dialect, a title and the forms the models accept before validation."""
    definitions = schema.get("$defs", {})
    for name, rules in _PROPERTY_COUNTS.items():
        if name in definitions:
            definitions[name].update(rules)
    computed_value = definitions.get("ComputedValue")
    if computed_value is not None:
        # `value: count` is accepted as a bare word (models.ComputedValue._bare_count)
        definitions["ComputedValue"] = {
            "anyOf": [{"const": "count"}, computed_value],
            "description": computed_value.get("description", ""),
        }
    body = {key: value for key, value in schema.items() if key not in ("title", "description")}
    return {"$schema": SCHEMA_DIALECT, "title": title, "description": description, **body}


def kind_schema(kind: str) -> dict[str, Any]:
    """The schema of one resource kind's document."""
    model = KIND_MODELS[kind]
    schema = model.model_json_schema(by_alias=True, schema_generator=_LanguageSchema)
    return _finish(schema, _KIND_TITLES[kind], f"A `kind: {kind}` document of an engagectl project.")


def resource_schema() -> dict[str, Any]:
    """The schema of any resource document, discriminated by `kind`."""
    schema = TypeAdapter(ResourceModel).json_schema(by_alias=True, schema_generator=_LanguageSchema)
    return _finish(schema, "engagectl resource",
                   f"Any resource document of an engagectl project; `kind` is one of {', '.join(RESOURCE_KINDS)}.")


def engage_schema() -> dict[str, Any]:
    """The schema of engage.yaml."""
    schema = ProjectSettings.model_json_schema(by_alias=True, schema_generator=_LanguageSchema)
    return _finish(schema, "engagectl project settings (engage.yaml)",
                   "Space, warehouse, state, sources and identity settings of an engagectl project.")


def schemas() -> dict[str, dict[str, Any]]:
    """Every schema by file name, as `write_schemas` writes them."""
    documents = {f"{kind}.schema.json": kind_schema(kind) for kind in RESOURCE_KINDS}
    documents["resource.schema.json"] = resource_schema()
    documents["engage.schema.json"] = engage_schema()
    return documents


def render(schema: dict[str, Any]) -> str:
    """The checked-in text of a schema: stable, indented, one trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(folder: str | Path = DEFAULT_FOLDER) -> list[Path]:
    """(Re)write every schema into `folder`; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = folder / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else DEFAULT_FOLDER
    for path in write_schemas(folder):
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
