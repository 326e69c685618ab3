"""Errors a run can meet; each message names the computation and says what to change."""

from __future__ import annotations

from engagectl.diagnostics import EngageError


class ComputationError(EngageError):
    """A computation could not be run; the run is rolled back and the previous snapshot stays."""


class SqlTraitError(ComputationError):
    """A SQL trait's query broke Segment's contract (identifier column, nulls, duplicates) or failed."""
