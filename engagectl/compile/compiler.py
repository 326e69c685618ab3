"""The compiler's public face: definitions in, sqlglot `Select`s out, for any supported dialect."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlglot
from sqlglot import exp

from engagectl.compile.audience import MembershipQuery
from engagectl.compile.computed import computed_trait_query
from engagectl.compile.dialects import forms_for
from engagectl.compile.operators import CompileError
from engagectl.config.models import Audience, ComputedTrait, Journey, SqlTrait

DEFAULT_SCHEMA = "engage"


def to_sql(expression: exp.Expression, dialect: str = "duckdb", pretty: bool = False) -> str:
    """Render an expression for one dialect."""
    return expression.sql(dialect=dialect, pretty=pretty)


class Compiler:
    """Compiles audiences, conditions and computed traits for one dialect, schema and as-of."""

    def __init__(self, dialect: str = "duckdb", schema: str = DEFAULT_SCHEMA,
                 as_of: datetime | None = None, project=None) -> None:
        self.dialect = dialect
        self.forms = forms_for(dialect)
        self.schema = schema
        as_of = as_of or datetime.now(timezone.utc)
        self.as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
        self.project = project

    def _builder(self) -> MembershipQuery:
        return MembershipQuery(self.forms, self.schema, self.as_of, self.project)

    def compile_audience(self, audience, include_anonymous: bool = False) -> exp.Select:
        """Members (one column `profile_id`) of an audience or of a bare condition tree."""
        if isinstance(audience, Audience):
            condition, include_anonymous = audience.where, audience.include_anonymous
        else:
            condition = audience
        builder = self._builder()
        where = builder.condition(condition)
        return builder.membership(condition, where, include_anonymous)

    def compile_computed_trait(self, trait: ComputedTrait) -> exp.Select:
        """`profile_id, value` for every profile with a value."""
        return computed_trait_query(trait, self._builder())

    def compile_key(self, key: str) -> exp.Expression:
        """The query of one computation of the project: an audience, a computed trait, a SQL
        trait or a journey step (`journey__step`)."""
        if self.project is None:
            raise CompileError("compiling by key needs a project")
        resource = self.project.get("audience", key)
        if resource is not None:
            return self.compile_audience(resource)
        resource = self.project.get("computed_trait", key)
        if resource is not None:
            return self.compile_computed_trait(resource)
        resource = self.project.get("sql_trait", key)
        if isinstance(resource, SqlTrait):
            return sqlglot.parse_one(resource.sql)
        journey_key, _, step_key = key.partition("__")
        journey = self.project.get("journey", journey_key)
        if isinstance(journey, Journey):
            if not step_key:
                return self.compile_audience(journey.entry, journey.include_anonymous)
            for step in journey.steps:
                if step.key == step_key and step.where is not None:
                    return self.compile_audience(step.where, journey.include_anonymous)
                if step.key == step_key:
                    raise CompileError(f"journey step {key} has no condition (`where`) to compile")
        raise CompileError(f"no audience, computed trait, SQL trait or journey step with key {key!r} in the project")
