"""Journeys (v1): an entry condition and stacked steps, each step an audience.

Progress is forward-only and lives in `journey_progress` (journey_key, step_key, profile_id,
joined_at = the as-of of the run that first saw the profile there). Two reserved step keys —
they cannot collide with a step's key, which starts with a letter — record the entry (step 0)
and the exit after `exit_after`.

To join step N a profile must have joined step N-1, have waited `wait` since, not have exited,
and meet step N's condition now. Step N's audience `<journey>__<step>` holds the profiles that
reached step N and meet its condition now — so a later step can count more profiles than an
earlier one (engage-faq.md). After an exit a profile leaves every step and never re-enters.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlglot import exp

from engagectl.compute.snapshot import ComputationResult, RunContext, membership_snapshot, record_snapshot
from engagectl.compute.sql import column, timestamp
from engagectl.config.models import Journey, duration_hours

ENTRY_STEP = "_entry"
EXIT_STEP = "_exit"
JOURNEY_KIND = "journey"
STEP_KIND = "journey_step"


def _progress_at(journey: Journey, step_key: str, alias: str) -> exp.Condition:
    return exp.and_(
        column("journey_key", alias).eq(exp.Literal.string(journey.key)),
        column("step_key", alias).eq(exp.Literal.string(step_key)),
    )


def _has_step(ctx: RunContext, journey: Journey, step_key: str, profile: exp.Column) -> exp.Exists:
    """EXISTS a progress row of this journey at `step_key` for `profile`."""
    return exp.Exists(this=(
        exp.select(exp.Literal.number(1))
        .from_(exp.alias_(ctx.table("journey_progress"), "x"))
        .where(_progress_at(journey, step_key, "x"))
        .where(column("profile_id", "x").eq(profile))
    ))


def _insert_progress(ctx: RunContext, select: exp.Select) -> None:
    columns = [exp.to_identifier(c, quoted=True) for c in ("journey_key", "step_key", "profile_id", "joined_at")]
    ctx.warehouse.execute(exp.insert(select, ctx.table("journey_progress"), columns=columns))


def _count_progress(ctx: RunContext, journey: Journey, step_key: str) -> int:
    query = (exp.select(exp.func("COUNT", exp.Star())).from_(exp.alias_(ctx.table("journey_progress"), "p"))
             .where(_progress_at(journey, step_key, "p")))
    return int(ctx.warehouse.fetchall(query)[0][0])


def run_journey(ctx: RunContext, compiler: Any, journey: Journey) -> list[ComputationResult]:
    """Advance every profile through the journey and record each step's audience."""
    progress = ctx.table("journey_progress")
    profile = column("profile_id", "p")
    not_exited = exp.not_(_has_step(ctx, journey, EXIT_STEP, profile))

    exited_before = _count_progress(ctx, journey, EXIT_STEP)
    if journey.exit_after is not None:
        # Entered at or before as_of - exit_after: leave every step now.
        deadline = ctx.as_of - timedelta(hours=duration_hours(journey.exit_after))
        _insert_progress(ctx, (
            exp.select(exp.Literal.string(journey.key), exp.Literal.string(EXIT_STEP), profile, timestamp(ctx.as_of))
            .from_(exp.alias_(progress.copy(), "p"))
            .where(_progress_at(journey, ENTRY_STEP, "p"))
            .where(column("joined_at", "p") <= timestamp(deadline))
            .where(not_exited)
        ))
    exited = _count_progress(ctx, journey, EXIT_STEP) - exited_before

    entered_before = _count_progress(ctx, journey, ENTRY_STEP)
    entry = ctx.staging.create(compiler.compile_audience(journey.entry, journey.include_anonymous), "entry")
    new_profile = column("profile_id", "e")
    _insert_progress(ctx, (
        exp.select(exp.Literal.string(journey.key), exp.Literal.string(ENTRY_STEP), new_profile, timestamp(ctx.as_of))
        .from_(exp.alias_(entry.copy(), "e"))
        .where(new_profile.is_(exp.null()).not_())
        # No re-entry: anyone with progress (even after an exit) has entered already.
        .where(exp.not_(exp.Exists(this=(
            exp.select(exp.Literal.number(1)).from_(exp.alias_(progress.copy(), "x"))
            .where(column("journey_key", "x").eq(exp.Literal.string(journey.key)))
            .where(column("profile_id", "x").eq(new_profile))
        ))))
        .group_by(new_profile)
    ))
    ctx.staging.drop(entry)
    entered = _count_progress(ctx, journey, ENTRY_STEP) - entered_before
    in_journey = _count_progress(ctx, journey, ENTRY_STEP) - _count_progress(ctx, journey, EXIT_STEP)
    results = [ComputationResult(key=journey.key, kind=JOURNEY_KIND, size=in_journey, entered=entered, exited=exited)]

    previous = ENTRY_STEP
    for step in journey.steps:
        holds = (ctx.staging.create(compiler.compile_audience(step.where, journey.include_anonymous), "step")
                 if step.where is not None else None)
        meets_condition = (
            exp.Exists(this=exp.select(exp.Literal.number(1)).from_(exp.alias_(holds.copy(), "c"))
                       .where(column("profile_id", "c").eq(profile)))
            if holds is not None else exp.true()
        )
        waited_since = ctx.as_of - timedelta(hours=duration_hours(step.wait)) if step.wait else ctx.as_of
        _insert_progress(ctx, (
            exp.select(exp.Literal.string(journey.key), exp.Literal.string(step.key), profile, timestamp(ctx.as_of))
            .from_(exp.alias_(progress.copy(), "p"))
            .where(_progress_at(journey, previous, "p"))
            .where(column("joined_at", "p") <= timestamp(waited_since))
            .where(meets_condition)
            .where(not_exited)
            .where(exp.not_(_has_step(ctx, journey, step.key, profile)))
        ))
        members = (
            exp.select(profile).from_(exp.alias_(progress.copy(), "p"))
            .where(_progress_at(journey, step.key, "p"))
            .where(meets_condition)
            .where(not_exited)
        )
        snapshot = ctx.staging.create(membership_snapshot(members), "stepsnap")
        results.append(record_snapshot(ctx, journey.step_audience_key(step), STEP_KIND, snapshot))
        ctx.staging.drop(snapshot)
        if holds is not None:
            ctx.staging.drop(holds)
        previous = step.key
    return results
