"""What a test run produces: one `TestResult` per test, with the failed expectations and evidence.

Results are data; `engagectl.views.testing` renders them for people, as JSON and as JUnit XML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "error"]


@dataclass
class ExpectationFailure:
    """One expectation that did not hold.

    `expectation` names it the way it is written (`members.high_value_users[email:bob@example.com]`),
    `evidence` carries what decided it: the profile and, for memberships, the explained condition tree.
    """

    expectation: str
    message: str
    evidence: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"expectation": self.expectation, "message": self.message, "evidence": self.evidence}


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    name: str
    file: str
    line: int
    status: Status
    engine: str = "duckdb"
    failures: list[ExpectationFailure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "status": self.status,
            "failures": [f.to_json() for f in self.failures],
        }


@dataclass
class TestReport:
    """Every result of one `engagectl test`, in the order the tests were written."""

    __test__ = False  # not a pytest test class

    results: list[TestResult] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.count("passed"),
            "failed": self.count("failed"),
            "errors": self.count("error"),
            "tests": [r.to_json() for r in self.results],
        }
