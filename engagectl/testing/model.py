"""The test-file language: one YAML document per test (docs/architecture.md, "Test files").

Like the definitions, unknown fields are errors and every error names `file:line:col`; the
parser (`parser.py`) turns these models' validation errors into located diagnostics.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from pydantic import Field, field_validator, model_validator

from engagectl.config.models import Model

# Fixture tables become real tables, so their names must be plain SQL identifiers.
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_as_of(value: str) -> datetime:
    """An ISO-8601 timestamp; a naive one is UTC (the warehouse keeps timestamps in UTC)."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _timestamp(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parse_as_of(value)
        except ValueError as exc:
            raise ValueError(f"invalid timestamp {value!r}: write ISO-8601, e.g. 2024-06-01T00:00:00Z") from exc
    return value


def split_identifier(identifier: str) -> tuple[str, str]:
    """`email:bob@example.com` → (`email`, `bob@example.com`)."""
    id_type, _, id_value = identifier.partition(":")
    return id_type, id_value


class Approx(Model):
    """`{approx: 420.5, tolerance: 0.01}`: a number within an absolute tolerance.

    Without `tolerance`, numbers compare with a relative tolerance of 1e-9 (so that sums that
    differ only in floating-point rounding between engines still agree).
    """

    approx: float
    tolerance: float | None = Field(default=None, ge=0)


# An identifier written `type:value`, e.g. `email:bob@example.com` or `user_id:u1`.
Identifier = str


class ChangesExpectation(Model):
    """Entered/exited changes of a second run at `as_of` after a first run at `from`.

    For each key listed, the profiles that entered (exited) must be exactly those listed; an
    empty mapping (`exited: {}`) means no audience or journey step recorded that change at all.
    """

    from_: str = Field(alias="from")
    entered: dict[str, list[Identifier]] | None = None
    exited: dict[str, list[Identifier]] | None = None

    @field_validator("from_")
    @classmethod
    def _from_is_a_timestamp(cls, value: str) -> str:
        return _timestamp(value)

    @field_validator("entered", "exited")
    @classmethod
    def _identifiers(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for identifiers in (value or {}).values():
            _check_identifiers(identifiers)
        return value


def _check_identifiers(identifiers: list[str]) -> None:
    for identifier in identifiers:
        id_type, id_value = split_identifier(identifier)
        if not id_type or not id_value:
            raise ValueError(f"invalid identifier {identifier!r}: write type:value, e.g. email:bob@example.com")


class Expectations(Model):
    """`expect:` — every part is optional; a test with none only checks that the run succeeds.

    `error` turns the test around: the run must fail, with a message containing that text. A failed
    run leaves nothing else to check, so `error` stands alone.
    """

    error: str | None = Field(default=None, min_length=1)
    profiles: list[dict[str, list[str]]] | None = None
    profile_count: int | None = Field(default=None, ge=0)
    members: dict[str, list[Identifier]] = Field(default_factory=dict)
    non_members: dict[str, list[Identifier]] = Field(default_factory=dict)
    sizes: dict[str, int] = Field(default_factory=dict)
    traits: dict[Identifier, dict[str, Any]] = Field(default_factory=dict)
    changes: ChangesExpectation | None = None

    @field_validator("members", "non_members")
    @classmethod
    def _identifiers(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for identifiers in value.values():
            _check_identifiers(identifiers)
        return value

    @field_validator("traits")
    @classmethod
    def _trait_identifiers(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        _check_identifiers(list(value))
        for expected in value.values():
            for trait_value in expected.values():
                if isinstance(trait_value, dict) and "approx" in trait_value:
                    Approx.model_validate(trait_value)
        return value

    @model_validator(mode="after")
    def _error_stands_alone(self) -> "Expectations":
        if self.error is not None:
            others = sorted(name for name in self.model_fields_set if name != "error")
            if others:
                raise ValueError(f"`expect.error` cannot be combined with {', '.join(others)}: "
                                 f"a run that fails leaves nothing else to check")
        return self


class InlineProject(Model):
    """`project:` — definitions written inside the test instead of the project's own.

    `settings` are engage.yaml fields (merged over the defaults); `resources` are validated with
    the same models as resource files (see `parser.py`), so they stay plain data here.
    """

    settings: dict[str, Any] = Field(default_factory=dict)
    resources: list[dict[str, Any]] = Field(default_factory=list)


class TestDocument(Model):
    """One test, as written."""

    __test__ = False  # not a pytest test class

    name: str = Field(min_length=1)
    description: str | None = None
    as_of: str
    project: InlineProject | None = None
    select: list[str] | None = None
    events: list[dict[str, Any]] = Field(default_factory=list)
    events_file: str | list[str] | None = None
    tables: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    expect: Expectations = Field(default_factory=Expectations)

    @field_validator("as_of")
    @classmethod
    def _as_of_is_a_timestamp(cls, value: str) -> str:
        return _timestamp(value)

    @field_validator("tables")
    @classmethod
    def _table_names(cls, value: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        for name, rows in value.items():
            if not _TABLE_NAME.match(name):
                raise ValueError(f"invalid table name {name!r}: letters, digits and _, starting with a letter")
            if not rows:
                raise ValueError(f"table {name!r} has no rows: give at least one so its columns are known")
        return value

    @model_validator(mode="after")
    def _changes_before_as_of(self) -> "TestDocument":
        changes = self.expect.changes
        if changes is not None and parse_as_of(changes.from_) >= parse_as_of(self.as_of):
            raise ValueError("`expect.changes.from` must be before `as_of`")
        return self

    @property
    def events_files(self) -> list[str]:
        if self.events_file is None:
            return []
        return [self.events_file] if isinstance(self.events_file, str) else list(self.events_file)
