"""The planner: canonical specs and hashes, the diff, the `Plan` object, plan files, key rules."""

from engagectl.plan.apply import ApplyResult, apply_plan
from engagectl.plan.canonical import canonical_spec, spec_hash
from engagectl.plan.model import AttributeDiff, Plan, ResourceChange, RetiredKey
from engagectl.plan.planfile import InvalidPlanFile, read_plan_file, write_plan_file
from engagectl.plan.planner import make_plan, plan_project, reuse_diagnostics

__all__ = [
    "ApplyResult", "AttributeDiff", "InvalidPlanFile", "Plan", "ResourceChange", "RetiredKey", "apply_plan",
    "canonical_spec", "make_plan", "plan_project", "read_plan_file", "reuse_diagnostics", "spec_hash", "write_plan_file",
]
