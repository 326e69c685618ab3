"""`engagectl test` from the command line: exit codes, the human report, --json, --junit-xml."""

from __future__ import annotations

import json
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from engagectl.cli import main

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"

PROJECT = {
    "engage.yaml": "space: spa_test\n",
    "audiences/buyers.yaml": """\
        kind: audience
        key: buyers
        where: {event: Order Completed, within: 30d, count: {gte: 2}}
        """,
    "audiences/pro.yaml": """\
        kind: audience
        key: pro_plan
        where: {trait: plan, eq: pro}
        """,
    "tests/buyers.yaml": """\
        name: bob buys twice, amy once
        as_of: "2024-06-01T00:00:00Z"
        events:
          - {type: identify, userId: bob, traits: {email: bob@example.com, plan: pro}, timestamp: "2024-05-01T00:00:00Z"}
          - {type: identify, userId: amy, traits: {email: amy@example.com, plan: free}, timestamp: "2024-05-01T00:00:00Z"}
          - {type: track, event: Order Completed, userId: bob, timestamp: "2024-05-20T00:00:00Z"}
          - {type: track, event: Order Completed, userId: bob, timestamp: "2024-05-25T00:00:00Z"}
          - {type: track, event: Order Completed, userId: amy, timestamp: "2024-05-25T00:00:00Z"}
        expect:
          members: {buyers: ["email:bob@example.com"]}
          non_members: {buyers: ["email:amy@example.com"]}
        ---
        name: plans
        as_of: "2024-06-01T00:00:00Z"
        events:
          - {type: identify, userId: bob, traits: {plan: pro}, timestamp: "2024-05-01T00:00:00Z"}
        expect:
          members: {pro_plan: ["user_id:bob"]}
        """,
}


def make_project(root: Path) -> Path:
    for name, text in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_all_pass_exits_0_with_one_line_per_test(tmp_path):
    root = make_project(tmp_path)
    result = run("-C", str(root), "test")
    assert result.exit_code == 0, result.output
    assert "✓ bob buys twice, amy once" in result.output
    assert "✓ plans" in result.output
    assert "2 passed, 0 failed, 0 errors" in result.output
    assert sorted(p.name for p in root.iterdir()) == ["audiences", "engage.yaml", "tests"]  # no .engage/


def test_a_broken_definition_exits_1_and_says_why(tmp_path):
    root = make_project(tmp_path)
    buyers = root / "audiences" / "buyers.yaml"
    buyers.write_text(buyers.read_text().replace("gte: 2", "gte: 3"), encoding="utf-8")
    result = run("-C", str(root), "test", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["passed"], report["failed"], report["errors"]) == (1, 1, 0)
    failed = report["tests"][0]
    assert (failed["name"], failed["file"], failed["line"], failed["status"]) == (
        "bob buys twice, amy once", str(Path("tests") / "buyers.yaml"), 1, "failed")
    [failure] = failed["failures"]
    assert failure["expectation"] == "members.buyers[email:bob@example.com]"
    assert failure["message"] == "email:bob@example.com is not a member of buyers"
    assert failure["evidence"]["profile"]["external_ids"] == {"email": ["bob@example.com"], "user_id": ["bob"]}
    assert "explanation" in failure["evidence"]

    human = run("-C", str(root), "test")
    assert human.exit_code == 1
    assert "✗ bob buys twice, amy once" in human.output
    assert "members.buyers[email:bob@example.com]: email:bob@example.com is not a member of buyers" in human.output


def test_junit_xml_is_written_for_ci(tmp_path):
    root = make_project(tmp_path)
    pro = root / "audiences" / "pro.yaml"
    pro.write_text(pro.read_text().replace("eq: pro", "eq: enterprise"), encoding="utf-8")
    report_file = tmp_path / "out" / "junit.xml"
    report_file.parent.mkdir()
    result = run("-C", str(root), "test", "--junit-xml", str(report_file))
    assert result.exit_code == 1
    suite = ET.parse(report_file).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["bob buys twice, amy once"].find("failure") is None
    assert cases["plans"].find("failure").get("message") == (
        "members.pro_plan[user_id:bob]: user_id:bob is not a member of pro_plan")


def test_select_runs_only_the_tests_touching_a_key(tmp_path):
    root = make_project(tmp_path)
    result = run("-C", str(root), "test", "--select", "pro_plan", "--json")
    assert result.exit_code == 0
    assert [t["name"] for t in json.loads(result.stdout)["tests"]] == ["plans"]


def test_a_malformed_test_file_is_refused_with_its_location(tmp_path):
    root = make_project(tmp_path)
    (root / "tests" / "bad.yaml").write_text(
        'name: typo\nas_of: "2024-06-01T00:00:00Z"\nexpect:\n  sizez: {buyers: 1}\n', encoding="utf-8")
    result = run("-C", str(root), "test", str(root / "tests" / "bad.yaml"))
    assert result.exit_code == 1
    assert "bad.yaml:4:3: test 'typo': unknown field `sizez` in `expect`" in result.stderr


def test_the_example_project_ships_passing_tests(tmp_path):
    shop = shutil.copytree(SHOP, tmp_path / "shop", ignore=shutil.ignore_patterns(".engage"))
    result = run("-C", str(shop), "test", "--json")
    report = json.loads(result.stdout)
    failures = [(t["name"], t["failures"]) for t in report["tests"] if t["status"] != "passed"]
    assert (result.exit_code, failures) == (0, [])
    assert report["passed"] >= 5
