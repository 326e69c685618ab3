"""Saved plans (`plan -out FILE`): the plan with everything `apply FILE` needs to apply it exactly.

The file holds the lineage and serial the plan was made against (or, against empty state, the
lineage its apply will record), the canonical specs to write, and the plan's hash; `apply FILE`
refuses it when the state moved on, so the same file can never be applied twice.
"""

from __future__ import annotations

import json
from pathlib import Path

from engagectl.diagnostics import EngageError
from engagectl.plan.model import FORMAT_VERSION, Plan

FILE_KIND = "engagectl-plan"


class InvalidPlanFile(EngageError):
    pass


def write_plan_file(plan: Plan, path: str | Path) -> None:
    document = {
        "kind": FILE_KIND,
        "format_version": FORMAT_VERSION,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "state_was_empty": plan.state_was_empty,
        "plan_hash": plan.hash,
        "plan": plan.to_dict(),
    }
    Path(path).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def read_plan_file(path: str | Path) -> Plan:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidPlanFile(f"cannot read plan file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InvalidPlanFile(f"{path} is not a plan file written by `engagectl plan -out` ({exc})") from exc
    if not isinstance(document, dict) or document.get("kind") != FILE_KIND:
        raise InvalidPlanFile(f"{path} is not a plan file written by `engagectl plan -out`")
    if document.get("format_version") != FORMAT_VERSION:
        raise InvalidPlanFile(f"{path} has plan format {document.get('format_version')!r}; "
                              f"this engagectl reads format {FORMAT_VERSION}: plan again")
    try:
        plan = Plan.from_dict(document["plan"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidPlanFile(f"{path} is damaged ({exc}): plan again") from exc
    if plan.hash != document.get("plan_hash"):
        raise InvalidPlanFile(f"{path} was edited after it was saved (its hash does not match): plan again")
    return plan
