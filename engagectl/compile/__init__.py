"""Condition trees and computed traits → sqlglot SQL for every supported dialect.

`Compiler(dialect, schema, as_of, project)` compiles; `explain(...)` evaluates each node of an
audience for one profile. Dialect differences live in `dialects.py`, operators in `operators.py`,
trait name resolution in `traits.py`.
"""

from engagectl.compile.compiler import DEFAULT_SCHEMA, Compiler, to_sql
from engagectl.compile.dialects import SUPPORTED_DIALECTS
from engagectl.compile.explain import ExplainedNode, Explanation, explain
from engagectl.compile.operators import CompileError
from engagectl.compile.preview import AudiencePreview, sample_members

__all__ = [
    "DEFAULT_SCHEMA",
    "SUPPORTED_DIALECTS",
    "AudiencePreview",
    "CompileError",
    "Compiler",
    "ExplainedNode",
    "Explanation",
    "explain",
    "sample_members",
    "to_sql",
]
