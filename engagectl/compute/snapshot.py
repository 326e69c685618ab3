"""A computation's new snapshot against the stored one: the change log and `computed_values`.

Every computation produces a staged table `(profile_id, value)` — value as JSON text, one row
per profile that has a value (audience members carry `true`). Recording it is set-based SQL:

1. FULL OUTER JOIN the key's stored rows in `computed_values` and the new snapshot into a
   staged diff: entered / exited for audiences and journey steps, changed for traits (a
   profile that lost its value changes to null);
2. append the diff to `changes`;
3. rewrite the key's `computed_values` rows of the profiles in the diff — nothing else moves.

A key with no stored rows yet (a new computation) skips the diff: every row is a change, and
an audience's or trait's query is written straight into `computed_values`. A diff with no
rows (the daily case where nothing moved) writes nothing. Which keys have stored rows is
asked once per run, and a diff's counts and the snapshot's size come from one query: at
small scale the number of statements, not their work, is what a run costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlglot import exp

from engagectl.compute.sql import Staging, column, json_of, text, timestamp

if TYPE_CHECKING:
    from engagectl.warehouse.base import Warehouse

# Kinds whose values are memberships (entered/exited) rather than trait values (changed).
MEMBERSHIP_KINDS = ("audience", "journey_step")
TRUE = exp.Literal.string("true")
FALSE = exp.Literal.string("false")


@dataclass
class ComputationResult:
    """What one computation did in a run (one row of `run --json`'s `computations`)."""

    key: str
    kind: str
    size: int
    entered: int = 0
    exited: int = 0
    changed: int = 0

    def to_json(self) -> dict:
        return {"key": self.key, "kind": self.kind, "size": self.size, "entered": self.entered,
                "exited": self.exited, "changed": self.changed}


@dataclass
class RunContext:
    """What every computation of one run shares."""

    warehouse: "Warehouse"
    staging: Staging
    run_id: str
    as_of: datetime
    commit: str | None

    # Which keys have rows in `computed_values`, asked once for the run (`prefetch_stored`).
    stored_keys: set[str] = field(default_factory=set)
    asked_keys: frozenset[str] = frozenset()

    def table(self, name: str) -> exp.Table:
        return self.warehouse.table(name)

    def prefetch_stored(self, keys: list[str]) -> None:
        """Ask in one statement which of `keys` already have stored rows (each stops at its first row)."""
        if not keys:
            return
        branches = [
            exp.select(exp.Literal.string(key).as_("computation_key")).from_(
                exp.select(exp.Literal.number(1).as_("found")).from_(self.table("computed_values"))
                .where(column("computation_key").eq(exp.Literal.string(key))).limit(1).subquery(f"k{i}"))
            for i, key in enumerate(keys)
        ]
        query = branches[0]
        for branch in branches[1:]:
            query = exp.union(query, branch, distinct=False, copy=False)
        self.stored_keys = {row[0] for row in self.warehouse.fetchall(query)}
        self.asked_keys = frozenset(keys)

    def has_stored(self, key: str) -> bool:
        if key in self.asked_keys:
            return key in self.stored_keys
        return bool(self.warehouse.fetchall(
            exp.select(exp.Literal.number(1)).from_(self.table("computed_values"))
            .where(column("computation_key").eq(exp.Literal.string(key))).limit(1)
        ))

    def mark_stored(self, key: str) -> None:
        self.stored_keys.add(key)


def stored_snapshot(ctx: RunContext, key: str) -> exp.Select:
    """The key's current rows; a merge may have left two rows on one profile, so keep one."""
    return (
        exp.select(
            column("profile_id"),
            exp.func("MAX", text(column("value"))).as_("value"),
        )
        .from_(ctx.table("computed_values"))
        .where(column("computation_key").eq(exp.Literal.string(key)))
        .group_by(column("profile_id"))
    )


def _diff_query(ctx: RunContext, key: str, kind: str, new: exp.Table) -> exp.Select:
    new_id, old_id = column("profile_id", "n"), column("profile_id", "o")
    new_value, old_value = column("value", "n"), column("value", "o")
    if kind in MEMBERSHIP_KINDS:
        change = exp.Case().when(old_id.is_(exp.null()), exp.Literal.string("entered")).when(
            new_id.is_(exp.null()), exp.Literal.string("exited")).else_(exp.Literal.string("changed"))
        # Segment's payloads say `<audience_key>: true/false`; the log mirrors them.
        before = exp.Case().when(old_id.is_(exp.null()), FALSE).else_(old_value)
        after = exp.Case().when(new_id.is_(exp.null()), FALSE).else_(new_value)
    else:
        change, before, after = exp.Literal.string("changed"), old_value, new_value
    return (
        exp.select(
            exp.func("COALESCE", new_id, old_id).as_("profile_id"),
            change.as_("change"),
            before.as_("old_value"),
            after.as_("new_value"),
        )
        .from_(exp.alias_(new.copy(), "n"))
        .join(stored_snapshot(ctx, key).subquery("o"), on=new_id.eq(old_id), join_type="FULL OUTER")
        .where(exp.NullSafeNEQ(this=new_value, expression=old_value))
    )


def record_query(ctx: RunContext, key: str, kind: str, snapshot: exp.Select) -> ComputationResult:
    """Record the snapshot that `snapshot` (profile_id, value as JSON text) selects.

    A new key stores the query's rows directly and logs them from `computed_values`; otherwise
    the snapshot is staged once and diffed.
    """
    if not ctx.has_stored(key):
        _insert_values(ctx, key, kind, snapshot)
        stored = (exp.select(column("profile_id"), column("value"))
                  .from_(ctx.table("computed_values"))
                  .where(column("computation_key").eq(exp.Literal.string(key))))
        return _record_first_snapshot(ctx, key, kind, stored.subquery("s", copy=False), stored_already=True)
    new = ctx.staging.create(snapshot, "snap")
    result = record_snapshot(ctx, key, kind, new)
    ctx.staging.drop(new)
    return result


def record_snapshot(ctx: RunContext, key: str, kind: str, new: exp.Table) -> ComputationResult:
    """Diff `new` against the stored snapshot, log the changes and store `new` as current."""
    if not ctx.has_stored(key):
        return _record_first_snapshot(ctx, key, kind, new)
    diff = ctx.staging.create(_diff_query(ctx, key, kind, new), "diff")
    size, entered, exited, changed = (int(n or 0) for n in ctx.warehouse.fetchall(_summary_query(new, diff))[0])
    if entered or exited or changed:  # nothing moved: nothing to log or rewrite
        _append_changes(ctx, key, kind, exp.select("*").from_(diff.copy()))
        _rewrite_changed_values(ctx, key, kind, new, diff)
    ctx.staging.drop(diff)
    return ComputationResult(key=key, kind=kind, size=size, entered=entered, exited=exited, changed=changed)


def _summary_query(new: exp.Table, diff: exp.Table) -> exp.Select:
    """The snapshot's size and the diff's entered / exited / changed counts, in one statement."""

    def how_many(change: str) -> exp.Expression:
        return exp.func("COUNT", exp.Case().when(
            column("change").eq(exp.Literal.string(change)), exp.Literal.number(1)))

    size = exp.select(exp.func("COUNT", exp.Star())).from_(new.copy()).subquery()
    return exp.select(size, how_many("entered"), how_many("exited"), how_many("changed")).from_(diff.copy())


def _record_first_snapshot(ctx: RunContext, key: str, kind: str, new: exp.Expression,
                           stored_already: bool = False) -> ComputationResult:
    """Nothing stored for the key yet (a new computation): every row is a change, no diff needed.

    `new` is a table or an aliased subquery of (profile_id, value); `stored_already` says its
    rows are the key's `computed_values` rows (written straight from the query) rather than a
    staged snapshot still to store.
    """
    membership = kind in MEMBERSHIP_KINDS
    change = exp.Literal.string("entered" if membership else "changed")
    before = FALSE if membership else exp.cast(exp.null(), "TEXT")
    if not stored_already:
        _insert_values(ctx, key, kind, exp.select("*").from_(new.copy()))
    _append_changes(ctx, key, kind, exp.select(
        column("profile_id"), change.as_("change"), before.as_("old_value"), column("value").as_("new_value"),
    ).from_(new.copy()))
    size = int(ctx.warehouse.fetchall(
        exp.select(exp.func("COUNT", exp.Star())).from_(ctx.table("computed_values"))
        .where(column("computation_key").eq(exp.Literal.string(key)))
    )[0][0])
    if size:
        ctx.mark_stored(key)
    if membership:
        return ComputationResult(key=key, kind=kind, size=size, entered=size)
    return ComputationResult(key=key, kind=kind, size=size, changed=size)


def _append_changes(ctx: RunContext, key: str, kind: str, diff: exp.Select) -> None:
    """Append `diff` (profile_id, change, old_value, new_value) to the change log."""
    key_literal = exp.Literal.string(key)
    # Deterministic: a key changes at most once per profile in a run.
    change_id = exp.func("CONCAT", exp.Literal.string(f"{ctx.run_id}:{key}:"), column("profile_id", "d"))
    select = exp.select(
        change_id,
        exp.Literal.string(ctx.run_id),
        timestamp(ctx.as_of),
        column("profile_id", "d"),
        key_literal,
        exp.Literal.string(kind),
        column("change", "d"),
        json_of(column("old_value", "d"), ctx.warehouse.dialect),
        json_of(column("new_value", "d"), ctx.warehouse.dialect),
        exp.Literal.string(ctx.commit) if ctx.commit else exp.cast(exp.null(), "TEXT"),
    ).from_(diff.subquery("d"))
    columns = ["change_id", "run_id", "as_of", "profile_id", "computation_key", "computation_kind",
               "change", "old_value", "new_value", "commit"]
    ctx.warehouse.execute(_insert(ctx.table("changes"), columns, select))


def _rewrite_changed_values(ctx: RunContext, key: str, kind: str, new: exp.Table, diff: exp.Table) -> None:
    """Replace the rows of the profiles in the diff; unchanged rows (and their updated_at) stay.

    A daily run where little changed so writes little.
    """
    changed_profiles = exp.select(column("profile_id")).from_(diff.copy())
    ctx.warehouse.execute(exp.delete(
        ctx.table("computed_values"),
        where=exp.and_(column("computation_key").eq(exp.Literal.string(key)),
                       column("profile_id").isin(query=changed_profiles.copy())),
    ))
    _insert_values(ctx, key, kind, exp.select("*").from_(new.copy())
                   .where(column("profile_id").isin(query=changed_profiles)))


def _insert_values(ctx: RunContext, key: str, kind: str, rows: exp.Select) -> None:
    """Store `rows` (profile_id, value) as the key's current values, set now."""
    select = exp.select(
        exp.Literal.string(key), exp.Literal.string(kind), column("profile_id", "r"),
        json_of(column("value", "r"), ctx.warehouse.dialect), timestamp(ctx.as_of),
    ).from_(rows.subquery("r", copy=False), copy=False)
    columns = ["computation_key", "kind", "profile_id", "value", "updated_at"]
    ctx.warehouse.execute(_insert(ctx.table("computed_values"), columns, select))


def _insert(table: exp.Table, columns: list[str], select: exp.Select) -> exp.Insert:
    return exp.insert(select, table, columns=[exp.to_identifier(c, quoted=True) for c in columns])


def membership_snapshot(members: exp.Select) -> exp.Select:
    """An audience's snapshot from its members query: one row per profile, value `true`."""
    # copy=False: the compiled query is ours; deep copies of it cost more than small runs' SQL.
    return (
        exp.select(column("profile_id", "m"), TRUE.as_("value"))
        .from_(members.subquery("m", copy=False), copy=False)
        .where(column("profile_id", "m").is_(exp.null()).not_(), copy=False)
        .group_by(column("profile_id", "m"), copy=False)
    )
