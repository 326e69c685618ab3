"""JUnit XML as a CI server reads it: suites per file, one testcase per test, failures and errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from engagectl.testing import ExpectationFailure, TestReport, TestResult, junit_xml


def test_junit_xml_counts_names_and_failure_messages():
    report = TestReport([
        TestResult("bob is high value", "tests/audiences.yaml", 1, "passed"),
        TestResult("amy is not", "tests/audiences.yaml", 12, "failed", failures=[
            ExpectationFailure("non_members.high_value_users[email:amy@example.com]",
                               "email:amy@example.com is a member of high_value_users",
                               {"profile": {"external_ids": {"email": ["amy@example.com"]}}}),
        ]),
        TestResult("revenue <sum> & co", "tests/traits.yaml", 3, "error",
                   failures=[ExpectationFailure("run", "sql_trait support: cannot parse its sql")]),
    ])
    root = ET.fromstring(junit_xml(report))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures"), s.get("errors")) for s in suites] == [
        ("tests/audiences.yaml", "2", "1", "0"), ("tests/traits.yaml", "1", "0", "1")]
    cases = root.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == ["bob is high value", "amy is not", "revenue <sum> & co"]
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    failure = cases[1].find("failure")
    assert failure.get("message") == ("non_members.high_value_users[email:amy@example.com]: "
                                      "email:amy@example.com is a member of high_value_users")
    assert "amy@example.com" in failure.text
    assert cases[2].find("error").get("message") == "run: sql_trait support: cannot parse its sql"
    assert cases[1].get("classname") == "tests.audiences"
