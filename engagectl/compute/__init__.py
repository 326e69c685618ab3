"""A run: order the computations, stage each snapshot, diff it into the change log, store it.

Public surface: `run_computations` (traits → audiences → journeys), `RunResult` and
`ComputationResult`; `pipeline.run_pipeline` (ingest → identity → computations) and
`impact.estimate_impact` (what a plan would change) live in their own modules.
"""

from engagectl.compute.errors import ComputationError, SqlTraitError
from engagectl.compute.run import RunResult, run_computations
from engagectl.compute.snapshot import ComputationResult

__all__ = ["ComputationError", "ComputationResult", "RunResult", "SqlTraitError", "run_computations"]
