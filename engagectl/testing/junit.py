"""JUnit XML for CI: one <testsuite> per test file, one <testcase> per test.

A failed test has one <failure> whose message is its first failed expectation and whose text
lists them all; a test that could not run has an <error>. CI systems (GitLab, Jenkins, GitHub
actions that read JUnit) show these as failed and errored tests.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import OrderedDict

from engagectl.testing.results import TestReport, TestResult


def junit_xml(report: TestReport, suite_name: str = "engagectl") -> str:
    """The report as a JUnit XML document (UTF-8 text with an XML declaration)."""
    by_file: OrderedDict[str, list[TestResult]] = OrderedDict()
    for result in report.results:
        by_file.setdefault(result.file, []).append(result)
    root = ET.Element("testsuites", _counts(report.results, name=suite_name))
    for file, results in by_file.items():
        suite = ET.SubElement(root, "testsuite", _counts(results, name=file, file=file))
        for result in results:
            case = ET.SubElement(suite, "testcase", {
                "name": result.name,
                "classname": _classname(file),
                "file": file,
                "line": str(result.line),
                "time": "0",
            })
            if result.status == "passed":
                continue
            tag = "error" if result.status == "error" else "failure"
            first = result.failures[0] if result.failures else None
            element = ET.SubElement(case, tag, {
                "message": f"{first.expectation}: {first.message}" if first else result.status,
                "type": "ExpectationFailed" if tag == "failure" else "TestError",
            })
            element.text = _details(result)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _counts(results: list[TestResult], **attributes: str) -> dict[str, str]:
    return {
        **attributes,
        "tests": str(len(results)),
        "failures": str(sum(1 for r in results if r.status == "failed")),
        "errors": str(sum(1 for r in results if r.status == "error")),
        "skipped": "0",
        "time": "0",
    }


def _classname(file: str) -> str:
    """JUnit consumers group by class name: the test file, dotted, without its suffix."""
    stem = file.rsplit(".", 1)[0] if file.endswith((".yaml", ".yml")) else file
    return stem.replace("/", ".").replace("\\", ".")


def _details(result: TestResult) -> str:
    lines = []
    for failure in result.failures:
        lines.append(f"{failure.expectation}: {failure.message}")
        if failure.evidence:
            lines.append(json.dumps(failure.evidence, indent=2, sort_keys=True, default=str))
    return "\n".join(lines)
