"""Where a `trait: k` in a condition reads its value (docs/architecture.md "Trait names in conditions").

Order: an audience, computed-trait or journey-step key of the project → `computed_values`;
`sqlkey.column` for a SQL trait's column → that column of the SQL trait's JSON object in
`computed_values`; otherwise the identify trait `k` in `profile_traits`. Each table is pivoted once
per query (one row per profile, one column per trait read), however many conditions read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from engagectl.compile.dialects import DialectForms

IDENTIFY_TRAITS = "identify_traits"
COMPUTED_TRAITS = "computed_traits"


@dataclass(frozen=True)
class TraitSource:
    """One trait as stored: the table it lives in, its key there, and a path inside the JSON value."""

    table: str  # "profile_traits" or "computed_values"
    key: str
    path: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        where = "identify trait" if self.table == "profile_traits" else "computed value"
        column = f" → {'.'.join(self.path)}" if self.path else ""
        return f"{where} {self.key}{column}"


def resolve_trait(name: str, project=None) -> TraitSource:
    """The stored source of `trait: name`, following the documented resolution order."""
    if project is not None:
        if name in computed_keys(project):
            return TraitSource("computed_values", name)
        sql_key, dot, column = name.partition(".")
        if dot and project.get("sql_trait", sql_key) is not None:
            return TraitSource("computed_values", sql_key, tuple(column.split(".")))
    return TraitSource("profile_traits", name)


def computed_keys(project) -> set[str]:
    """Keys whose values the compute run snapshots in `computed_values`."""
    keys = {r.key for r in project.of_kind("audience")} | {r.key for r in project.of_kind("computed_trait")}
    for journey in project.of_kind("journey"):
        keys.update(journey.step_audience_key(step) for step in journey.steps)
    return keys


@dataclass
class TraitColumns:
    """The trait reads of one query: one pivot column per distinct stored key."""

    schema: str
    forms: DialectForms
    _columns: dict[tuple[str, str], str] = field(default_factory=dict)

    def value(self, source: TraitSource) -> exp.Expression:
        """The trait's value as text (NULL when the profile has none)."""
        pivot = IDENTIFY_TRAITS if source.table == "profile_traits" else COMPUTED_TRAITS
        slot = (source.table, source.key)
        if slot not in self._columns:
            self._columns[slot] = f"t_{len(self._columns)}"
        column = exp.column(self._columns[slot], table=pivot, quoted=True)
        return self.forms.json_text(column, list(source.path))

    @property
    def tables(self) -> list[str]:
        used = {table for table, _ in self._columns}
        return [name for table, name in (("profile_traits", IDENTIFY_TRAITS), ("computed_values", COMPUTED_TRAITS))
                if table in used]

    def pivot(self, pivot_name: str) -> exp.Select:
        """`SELECT profile_id, MAX(CASE WHEN key = 'k' THEN value END) AS t_0, … GROUP BY profile_id`."""
        table, key_column = (("profile_traits", "key") if pivot_name == IDENTIFY_TRAITS
                             else ("computed_values", "computation_key"))
        slots = [(key, column) for (source_table, key), column in self._columns.items() if source_table == table]
        key_ref = exp.column(key_column, quoted=True)
        # MAX over text: Postgres' json type has no ordering, and there is one row per key anyway
        columns = [
            exp.alias_(
                exp.Max(this=exp.Case(ifs=[exp.If(this=exp.EQ(this=key_ref.copy(), expression=exp.Literal.string(key)),
                                                  true=exp.cast(exp.column("value", quoted=True), exp.DataType.build("TEXT")))])),
                column, quoted=True)
            for key, column in slots
        ]
        source = exp.table_(table, db=self.schema, quoted=True)
        if table == "profile_traits" and len(slots) == 1:
            # (profile_id, key) is unique there: one key needs no pivot
            key, column = slots[0]
            return (exp.select(exp.column("profile_id", quoted=True),
                               exp.alias_(exp.cast(exp.column("value", quoted=True), exp.DataType.build("TEXT")), column, quoted=True))
                    .from_(source).where(exp.EQ(this=key_ref, expression=exp.Literal.string(key))))
        return (
            exp.select(exp.column("profile_id", quoted=True), *columns)
            .from_(source)
            .where(exp.In(this=key_ref.copy(), expressions=[exp.Literal.string(key) for key, _ in slots]))
            .group_by(exp.column("profile_id", quoted=True))
        )
