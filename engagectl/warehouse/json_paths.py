"""Reading a JSON document's values, built as sqlglot expressions for every engine.

`JSONExtractScalar` / `JSONExtract` render as `->>` / `->` on DuckDB and as
`JSON_EXTRACT_PATH_TEXT` / `JSON_EXTRACT_PATH` on Postgres, both of which read the `JSON` type
the layout's document columns have.
"""

from __future__ import annotations

from sqlglot import exp


def json_path(*keys: str) -> exp.JSONPath:
    return exp.JSONPath(expressions=[exp.JSONPathRoot(), *[exp.JSONPathKey(this=k) for k in keys]])


def json_text(document: exp.Expression, *keys: str) -> exp.Expression:
    """The value at `keys` as text (NULL when missing or JSON null)."""
    return exp.JSONExtractScalar(this=document, expression=json_path(*keys))


def json_value(document: exp.Expression, *keys: str) -> exp.Expression:
    """The value at `keys` as JSON."""
    return exp.JSONExtract(this=document, expression=json_path(*keys))
