"""`engagectl test`: unit tests for definitions, run in throw-away warehouses.

A test file gives fixture events (and rows for SQL traits), an `as_of`, and what should come out:
members and non-members, trait values, sizes, profiles, entered/exited changes. The project's own
conformance scenarios (`specs/conformance/`) are written in the same format and run by the same
runner.
"""

from engagectl.testing.junit import junit_xml
from engagectl.testing.parser import TestCase, discover_test_files, load_test_files, project_test_files
from engagectl.testing.results import ExpectationFailure, TestReport, TestResult
from engagectl.testing.runner import run_case, run_cases, run_test_files
from engagectl.testing.sandbox import ENGINES, SandboxError

__all__ = [
    "ENGINES",
    "ExpectationFailure",
    "SandboxError",
    "TestCase",
    "TestReport",
    "TestResult",
    "discover_test_files",
    "junit_xml",
    "load_test_files",
    "project_test_files",
    "run_case",
    "run_cases",
    "run_test_files",
]
